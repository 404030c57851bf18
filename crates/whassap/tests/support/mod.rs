//! What the tests that run the built `whassap serve` share: starting it on
//! ephemeral ports, learning its addresses from its log, and killing it
//! when the test ends, however it ends.

// Each test file uses its own part of this.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A running `whassap serve`; killed when dropped.
pub struct Serving {
    /// The process.
    pub child: Child,
    /// The STARTTLS c2s listener, if it has one.
    pub c2s: Option<SocketAddr>,
    /// `http://ADDR` of the HTTP listener.
    pub http: String,
}

impl Serving {
    /// The c2s listener's address.
    pub fn c2s(&self) -> SocketAddr {
        self.c2s.expect("a c2s listener")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built binary, without the caller's configuration or credentials.
pub fn whassap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whassap"));
    for var in [
        "WHASSAP_CONFIG",
        "WHASSAP_URL",
        "WHASSAP_TOKEN",
        "WHASSAP_JID",
        "WHASSAP_PASSWORD",
    ] {
        c.env_remove(var);
    }
    c
}

/// `whassap serve` on ephemeral ports (HTTP on `http`, `127.0.0.1:0` for
/// any), STARTTLS c2s only, no federation, data in `dir`; add flags or
/// environment before passing it to [`start`].
pub fn serve_command(dir: &std::path::Path, http: &str) -> Command {
    let mut c = whassap();
    c.args([
        "serve",
        "--c2s-listen",
        "127.0.0.1:0",
        "--c2s-tls-listen",
        "",
        "--http-listen",
        http,
        "--s2s-listen",
        "",
        "--data-dir",
    ])
    .arg(dir);
    c
}

/// Spawn `serve` (a `whassap serve …` command whose listeners are on port
/// 0) and return once it runs, with the addresses it logged. Its log is
/// drained meanwhile, so that it never blocks writing it.
pub fn start(serve: &mut Command) -> Serving {
    let mut child = serve
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("whassap serve starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut c2s, mut http) = (None, None);
    let addr = |line: &str| {
        line.split("addr=")
            .nth(1)
            .map(|a| a.split_whitespace().next().unwrap().to_string())
    };
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("c2s listening (STARTTLS)") {
            c2s = addr(&line).map(|a| a.parse().expect("a c2s address"));
        }
        if line.contains("HTTP listening") {
            http = addr(&line);
        }
        if line.contains("whassap is running") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Serving {
        child,
        c2s,
        http: format!("http://{}", http.expect("HTTP address logged")),
    }
}
