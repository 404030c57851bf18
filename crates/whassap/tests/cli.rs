//! The `whassap` binary itself: account commands, `--help`, and `serve` with
//! a graceful SIGTERM shutdown.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn whassap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_whassap"));
    c.env_remove("WHASSAP_CONFIG")
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0");
    c
}

fn run(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let out = whassap()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn user_commands_manage_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ok, out) = run(&["user", "add", "Alice", "--password", "pw"], d);
    assert!(ok, "{out}");
    assert!(out.contains("created alice@localhost"), "{out}");
    let (ok, out) = run(&["user", "add", "alice", "--password", "pw"], d);
    assert!(!ok && out.contains("taken"), "{out}");
    let (ok, out) = run(&["user", "add", "whassap", "--password", "pw"], d);
    assert!(!ok && out.contains("reserved"), "{out}");
    let (ok, out) = run(&["user", "add", "bad name", "--password", "pw"], d);
    assert!(!ok && out.contains("invalid username"), "{out}");

    // The password can come from standard input.
    let mut child = whassap()
        .args(["user", "add", "bob", "--data-dir"])
        .arg(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin\n")
        .unwrap();
    assert!(child.wait().unwrap().success());

    let (ok, out) = run(&["user", "list"], d);
    assert!(ok);
    assert_eq!(
        out.lines()
            .filter(|l| !l.starts_with("warning:"))
            .collect::<Vec<_>>(),
        ["alice@localhost", "bob@localhost"]
    );
    let (ok, _) = run(&["user", "passwd", "alice", "--password", "new"], d);
    assert!(ok);
    let (ok, out) = run(&["user", "passwd", "carol", "--password", "x"], d);
    assert!(!ok && out.contains("no such user"), "{out}");
    let (ok, _) = run(&["user", "del", "bob"], d);
    assert!(ok);
    let (_, out) = run(&["user", "list"], d);
    assert!(
        out.lines().any(|l| l == "alice@localhost") && !out.contains("bob@"),
        "{out}"
    );
}

#[test]
fn help_explains_the_settings() {
    let out = whassap().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--domain",
        "--data-dir",
        "--c2s-listen",
        "--c2s-tls-listen",
        "--http-listen",
        "--tls-cert",
        "--allow-plaintext",
        "--xmpp-registration",
        "--pubsub-create",
        "--admin",
        "--config",
        "--session-queue-bytes",
        "--max-connections",
        "--max-connections-per-ip",
        "--s2s-listen",
        "--s2s-route",
        "--s2s-require-valid-certs",
        "--s2s-ca",
        "--s2s-timeout-secs",
        "--http-header-timeout-secs",
        "--http-body-timeout-secs",
        "--http-idle-timeout-secs",
        "--max-sessions-per-account",
        "--max-roster-items",
        "--max-pubsub-nodes-per-user",
    ] {
        assert!(help.contains(flag), "serve --help mentions {flag}");
    }
}

#[test]
fn bench_is_a_subcommand() {
    let out = whassap().args(["bench", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for scenario in [
        "login",
        "idle",
        "chat",
        "pubsub-fanout",
        "pep-fanout",
        "report",
    ] {
        assert!(
            help.contains(scenario),
            "bench --help lists {scenario}: {help}"
        );
    }
    // A scenario against nothing fails with a message, not a panic.
    let out = whassap()
        .args([
            "bench",
            "login",
            "--addr",
            "127.0.0.1:9",
            "--users",
            "1",
            "--timeout-secs",
            "2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("logins=0") && text.contains("errors]"),
        "{text}"
    );
}

#[test]
fn bad_configuration_is_reported_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = whassap()
        .args([
            "serve",
            "--domain",
            "no spaces allowed",
            "--c2s-listen",
            "nowhere",
            "--log-format",
            "xml",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("domain") && err.contains("c2s_listen") && err.contains("log_format"),
        "{err}"
    );
}

/// A cluster needs a database every node shares: with SQLite, `serve
/// --cluster` stops at once and says why; so does a bad node name.
#[test]
fn a_cluster_on_sqlite_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = whassap()
        .args([
            "serve",
            "--cluster",
            "nats://127.0.0.1:4222",
            "--node-name",
            "not.a.subject",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster: the nodes of a cluster share one PostgreSQL database")
            && err.contains("SQLite belongs to one node")
            && err.contains("node_name: \"not.a.subject\""),
        "{err}"
    );
    assert!(
        !dir.path().join("whassap.db").exists(),
        "refused before opening anything"
    );
}

/// Kills the server if the test fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Log = std::io::Lines<BufReader<std::process::ChildStderr>>;

/// `whassap serve` on ephemeral ports with `extra` flags, once it runs:
/// the process, the rest of its log, and the HTTP address.
fn serve(dir: &std::path::Path, extra: &[&str]) -> (KillOnDrop, Log, String) {
    let (child, lines, addrs) = serve_at(dir, extra);
    let http = addrs
        .iter()
        .find(|(what, _)| what.contains("HTTP listening"))
        .map(|(_, a)| a.clone())
        .expect("HTTP address logged");
    (child, lines, http)
}

/// Like [`serve`], with every listener's address as logged: (log line, address).
fn serve_at(dir: &std::path::Path, extra: &[&str]) -> (KillOnDrop, Log, Vec<(String, String)>) {
    let defaults = [
        ("--c2s-listen", "127.0.0.1:0"),
        ("--c2s-tls-listen", "127.0.0.1:0"),
        ("--http-listen", "127.0.0.1:0"),
        ("--s2s-listen", ""),
    ];
    let mut child = whassap()
        .arg("serve")
        .args(
            defaults
                .iter()
                .filter(|(flag, _)| !extra.contains(flag))
                .flat_map(|(flag, value)| [*flag, *value]),
        )
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let child = KillOnDrop(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut addrs = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.split("addr=").nth(1) {
            addrs.push((
                line.clone(),
                a.split_whitespace().next().unwrap().to_string(),
            ));
        }
        if line.contains("whassap is running") {
            break;
        }
    }
    (child, lines, addrs)
}

#[test]
fn user_commands_print_the_domain_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, _log, _) = serve(d, &["--domain", "chat.example.test"]);
    let (ok, out) = run(&["user", "add", "alice", "--password", "pw"], d);
    assert!(ok, "{out}");
    assert!(out.contains("created alice@chat.example.test"), "{out}");
    drop(child);
    // Also once the server has stopped, and unless told otherwise.
    let (_, out) = run(&["user", "list"], d);
    assert!(out.lines().any(|l| l == "alice@chat.example.test"), "{out}");
    let (_, out) = run(&["user", "list", "--domain", "other.test"], d);
    assert!(out.lines().any(|l| l == "alice@other.test"), "{out}");
}

#[test]
fn serve_starts_answers_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, lines, http) = serve(dir.path(), &[]);
    let mut tcp = std::net::TcpStream::connect(&http).unwrap();
    use std::io::Write;
    tcp.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(
        dir.path().join("localhost.crt").exists(),
        "a certificate was generated"
    );

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("shutdown complete")),
        "{rest:?}"
    );
}

#[test]
fn s2s_list_shows_the_running_servers_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (child, _log, addrs) =
        serve_at(d, &["--s2s-listen", "127.0.0.1:0", "--domain", "here.test"]);
    let s2s = addrs
        .iter()
        .find(|(what, _)| what.contains("s2s listening"))
        .map(|(_, a)| a.clone())
        .expect("s2s address logged");
    // A peer that has opened a stream and not authenticated yet.
    use std::io::Write;
    let mut peer = std::net::TcpStream::connect(&s2s).unwrap();
    peer.write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='there.test' to='here.test' version='1.0'>").unwrap();
    let mut header = [0u8; 64];
    let _ = peer.read(&mut header).unwrap();
    let (ok, out) = run(&["s2s", "list"], d);
    assert!(ok, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("there.test"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..5], ["there.test", "in", "no", "none", "0"], "{out}");
    let (ok, out) = run(&["s2s", "list", "--json"], d);
    assert!(ok, "{out}");
    assert!(out.contains("\"domain\":\"there.test\""), "{out}");
    drop(child);
    // Nothing running: a clear error and a failure exit code.
    let (ok, out) = run(&["s2s", "list"], d);
    assert!(!ok);
    assert!(out.contains("is `whassap serve` running"), "{out}");
}
