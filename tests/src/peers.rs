//! Other XMPP servers as federation peers, started from Debian's packages
//! with a private configuration, data dir and address (never the system
//! service), and stopped by PID when dropped.
//!
//! Peers find Whassap the way they find any server: Prosody through its
//! resolver (libunbound, given a private hosts file), ejabberd through
//! Erlang's (an `inetrc` file); neither has static routes, so the Whassap
//! they talk to listens on port 5269 of its own loopback address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running Prosody.
pub struct Prosody {
    child: Child,
    dir: tempfile::TempDir,
    /// Its domain.
    pub domain: String,
    /// Its c2s listener (STARTTLS).
    pub c2s: SocketAddr,
    /// Its s2s listener.
    pub s2s: SocketAddr,
}

/// Is a program on the PATH?
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A self-signed certificate and key for `domain`, written to `dir`.
fn self_signed(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    let generated =
        rcgen::generate_simple_self_signed(vec![domain.to_string()]).expect("a certificate");
    let (cert, key) = (
        dir.join(format!("{domain}.crt")),
        dir.join(format!("{domain}.key")),
    );
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

impl Prosody {
    /// Start Prosody for `domain` on `ip`, resolving each `(domain, ip)` of
    /// `hosts` to that address.
    pub async fn start(domain: &str, ip: &str, hosts: &[(&str, &str)]) -> Prosody {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("data")).unwrap();
        let (cert, key) = self_signed(d, domain);
        let hosts_txt: String = hosts.iter().map(|(h, a)| format!("{a} {h}\n")).collect();
        std::fs::write(d.join("hosts"), hosts_txt).unwrap();
        let (c2s, s2s) = (crate::free_port(ip), crate::free_port(ip));
        let config = format!(
            r#"run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{d}/prosody.log" }} }}
interfaces = {{ "{ip}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
s2s_timeout = 10
authentication = "internal_hashed"
storage = "internal"
unbound = {{ hoststxt = "{d}/hosts"; resolvconf = false; forward = {{ "127.0.0.1" }} }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "pep"; "ping"; "offline"; "blocklist" }}
modules_disabled = {{ "posix" }}
VirtualHost "{domain}"
  ssl = {{ key = "{key}"; certificate = "{cert}" }}
"#,
            d = d.display(),
            key = key.display(),
            cert = cert.display(),
        );
        let cfg = d.join("prosody.cfg.lua");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(d.join("stdout.log")).unwrap();
        let child = Command::new("prosody")
            .arg("--config")
            .arg(&cfg)
            .arg("-F")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prosody starts");
        let c2s: SocketAddr = format!("{ip}:{c2s}").parse().unwrap();
        let s2s: SocketAddr = format!("{ip}:{s2s}").parse().unwrap();
        let p = Prosody {
            child,
            dir,
            domain: domain.to_string(),
            c2s,
            s2s,
        };
        p.wait_listening().await;
        p
    }

    async fn wait_listening(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect(self.s2s).await.is_ok()
                && tokio::net::TcpStream::connect(self.c2s).await.is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "Prosody did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Create an account.
    pub fn register(&self, user: &str, password: &str) {
        let out = Command::new("prosodyctl")
            .arg("--config")
            .arg(self.dir.path().join("prosody.cfg.lua"))
            .args(["register", user, &self.domain, password])
            .output()
            .expect("prosodyctl runs");
        assert!(
            out.status.success(),
            "prosodyctl register: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The end of its log (for failure messages).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("prosody.log")).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text[start..].to_string()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if std::env::var("WHASSAP_TEST_KEEP_PEER_LOG").is_ok() {
            eprintln!("{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A slixmpp user on a peer server, following a Whassap user's statuses
/// (`interop/slixmpp_federation.py`), driven line by line.
pub struct SlixmppFollower {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl SlixmppFollower {
    /// Log `jid` in at `addr` and subscribe to `whassap_user`'s microblog
    /// node; returns once the script says it is ready.
    pub async fn start(
        addr: SocketAddr,
        jid: &str,
        password: &str,
        whassap_user: &str,
    ) -> Result<SlixmppFollower, String> {
        use tokio::io::AsyncBufReadExt;
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/slixmpp_federation.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .args([
                &addr.ip().to_string(),
                &addr.port().to_string(),
                jid,
                password,
                whassap_user,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut f = SlixmppFollower {
            child,
            stdin,
            lines,
        };
        match f.answer().await.as_str() {
            "READY" => Ok(f),
            other => Err(other.to_string()),
        }
    }

    /// Send one command line.
    pub async fn say(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the script reads");
        self.stdin.flush().await.expect("flush");
    }

    /// The script's next line (within 30 s).
    pub async fn answer(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(30), self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => "FAIL the script ended".into(),
            Err(_) => "FAIL the script said nothing for 30 s".into(),
        }
    }
}

impl Drop for SlixmppFollower {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
