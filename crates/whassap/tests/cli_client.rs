//! The XMPP client commands of SPEC §8 (`send`, `listen`, `status set`,
//! `status get`, `watch`) run as a user runs them: the built binary
//! against a real `whassap serve` over STARTTLS, their output, `--json`,
//! and every exit code (0 done, 2 usage, 3 wrong password, 4 nothing
//! listening, 5 self-signed certificate without `--insecure`, 6 refused).

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod support;

use support::{whassap, Serving};

/// A running `whassap serve` and its data dir.
struct Server {
    serving: Serving,
    dir: tempfile::TempDir,
}

/// `whassap serve` on `dir`, HTTP on `http` (port 0: any).
fn serve_on(dir: &std::path::Path, http: &str) -> Serving {
    support::start(&mut support::serve_command(dir, http))
}

fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let serving = serve_on(dir.path(), "127.0.0.1:0");
    let s = Server { serving, dir };
    for user in ["alice", "bob"] {
        let out = whassap()
            .args(["user", "add", user, "--password", "password", "--data-dir"])
            .arg(s.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    s
}

impl Server {
    /// `whassap ARGS` logged in as `user`, as the README shows: the
    /// credentials in the environment.
    fn client(&self, user: &str, args: &[&str]) -> std::process::Command {
        let mut c = whassap();
        c.env("WHASSAP_JID", format!("{user}@localhost"))
            .env("WHASSAP_PASSWORD", "password")
            .args(args)
            .args(["--server", &self.serving.c2s().to_string(), "--insecure"]);
        c
    }

    /// Run a command to its end, off the test's runtime.
    async fn run(&self, user: &str, args: &[&str]) -> Output {
        let mut c = self.client(user, args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// Start a long-running command (`listen`, `watch`) and wait until it
    /// says on stderr that it is ready.
    fn start(&self, user: &str, args: &[&str], ready: &str) -> Running {
        spawn_until(self.client(user, args), ready)
    }
}

/// Spawn a command that prints lines until killed, once it says on stderr
/// that it is ready.
fn spawn_until(mut c: std::process::Command, ready: &str) -> Running {
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in err.by_ref() {
        let line = line.unwrap();
        if line.contains(ready) {
            break;
        }
        assert!(!line.contains("whassap "), "{args:?} failed: {line}");
    }
    std::thread::spawn(move || for _ in err.map_while(Result::ok) {});
    let (tx, lines) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines }
}

/// A command printing lines until killed.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    async fn line(&mut self, what: &str) -> String {
        let lines = &self.lines;
        tokio::task::block_in_place(|| lines.recv_timeout(Duration::from_secs(10)))
            .unwrap_or_else(|_| panic!("no line with {what} within 10 s"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reaches_listen_as_text_and_json() {
    let s = serve();
    let mut listen = s.start("bob", &["listen"], "listening as bob@localhost/");
    let out = s.run("alice", &["send", "bob@localhost", "lunch?"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        listen.line("alice's message").await,
        "alice@localhost: lunch?"
    );
    drop(listen);

    let mut listen = s.start("bob", &["listen", "--json"], "listening as");
    let out = s
        .run("alice", &["send", "--json", "bob@localhost", "two\nlines"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sent["sent"], true);
    let m: serde_json::Value =
        serde_json::from_str(&listen.line("the JSON message").await).unwrap();
    assert!(
        m["from"].as_str().unwrap().starts_with("alice@localhost/"),
        "{m}"
    );
    assert_eq!(m["body"], "two\nlines");
    assert_eq!(m["type"], "chat");

    // 6: no such user; the server's condition is printed.
    let out = s.run("alice", &["send", "nobody@localhost", "hi"]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("service-unavailable"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_set_get_and_watch() {
    let s = serve();
    let mut watch = s.start("bob", &["watch", "alice"], "watching");

    let out = s.run("alice", &["status", "set", "at the pub"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    assert_eq!(id.len(), 26, "a status id: {id:?}");
    assert_eq!(
        watch.line("the new status").await,
        "alice@localhost: at the pub"
    );

    // The status is Whassap's: the REST API has it under the printed id.
    let r: serde_json::Value = reqwest::get(format!("{}/api/v1/statuses/{id}", s.serving.http))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["text"], "at the pub");
    assert_eq!(r["source"], "xmpp");

    let out = s.run("bob", &["status", "get", "alice"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "at the pub\n");
    let out = s.run("alice", &["status", "get", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["text"], "at the pub");
    assert_eq!(st["author"]["jid"], "alice@localhost");
    assert!(st["url"].as_str().unwrap().ends_with(&id), "{st}");

    // Bob has none.
    let out = s
        .run("alice", &["status", "get", "--json", "bob@localhost"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "null\n");

    // A status posted through the REST API reaches the watcher too.
    let post = reqwest::Client::new()
        .post(format!("{}/api/v1/statuses", s.serving.http))
        .basic_auth("alice", Some("password"))
        .json(&serde_json::json!({"text": "home now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 201);
    assert_eq!(
        watch.line("the REST status").await,
        "alice@localhost: home now"
    );

    // 6: the server refuses a status over 280 characters.
    let long = "x".repeat(281);
    let out = s.run("alice", &["status", "set", &long]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_have_their_exit_codes() {
    let s = serve();
    let c2s = s.serving.c2s().to_string();

    // 2: usage: no text; no JID.
    let out = s.run("alice", &["send", "bob@localhost"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = tokio::task::spawn_blocking(|| {
        whassap()
            .args(["status", "get", "--password", "x"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--jid"), "{}", text(&out.stderr));

    // 3: a wrong password.
    let out = tokio::task::spawn_blocking({
        let c2s = c2s.clone();
        move || {
            whassap()
                .args(["status", "get", "--insecure", "--server", &c2s])
                .args(["--jid", "alice@localhost", "--password", "wrong"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not-authorized"),
        "{}",
        text(&out.stderr)
    );

    // 4: nothing listening there.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let out = tokio::task::spawn_blocking(move || {
        whassap()
            .args(["send", "--server", &free, "--insecure"])
            .args(["--jid", "alice@localhost", "--password", "password"])
            .args(["bob@localhost", "hi"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));

    // 5: the server's self-signed certificate, without --insecure.
    let out = tokio::task::spawn_blocking(move || {
        whassap()
            .args(["status", "get", "--server", &c2s])
            .args(["--jid", "alice@localhost", "--password", "password"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--insecure"),
        "{}",
        text(&out.stderr)
    );
}

async fn post_status(http: &str, user: &str, text: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{http}/api/v1/statuses"))
        .basic_auth(user, Some("password"))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let status: serde_json::Value = r.json().await.unwrap();
    status["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firehose_prints_statuses_and_resumes_after_a_restart() {
    let mut s = serve();
    let http = s.serving.http.clone();
    let mut firehose = {
        let mut c = whassap();
        c.args(["firehose", "--url", &http]);
        spawn_until(c, "tailing")
    };
    let mut filtered = {
        let mut c = whassap();
        c.args(["firehose", "--json", "--users", "bob", "--url", &http]);
        spawn_until(c, "tailing")
    };
    let one = post_status(&http, "alice", "one").await;
    assert_eq!(firehose.line("the first status").await, "alice: one");

    // The server goes away and comes back on the same address; a status
    // posted before the stream is resumed is not missed.
    let addr = http.trim_start_matches("http://").to_string();
    s.serving.child.kill().unwrap();
    s.serving.child.wait().unwrap();
    s.serving = serve_on(s.dir.path(), &addr);
    post_status(&http, "alice", "two").await;
    post_status(&http, "bob", "three").await;
    assert_eq!(
        firehose.line("the status after the restart").await,
        "alice: two"
    );
    assert_eq!(firehose.line("the next one").await, "bob: three");

    // --users: only bob's, as JSON.
    let st: serde_json::Value = serde_json::from_str(&filtered.line("bob's status").await).unwrap();
    assert_eq!(st["text"], "three");
    assert_eq!(st["author"]["username"], "bob");

    // --after replays what followed a status.
    let mut replay = {
        let mut c = whassap();
        c.args(["firehose", "--after", &one, "--url", &http]);
        spawn_until(c, "tailing")
    };
    assert_eq!(replay.line("the replayed status").await, "alice: two");
    assert_eq!(replay.line("the next replayed").await, "bob: three");

    // 4: nothing listening; 2: not an HTTP URL.
    let out = tokio::task::spawn_blocking(|| {
        whassap()
            .args(["firehose", "--url", "http://127.0.0.1:9"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = tokio::task::spawn_blocking(|| {
        whassap()
            .args(["firehose", "--url", "ftp://x"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The README's shell snippet, run as it is with bash: the IM is sent, the
/// status set (its id printed), bob's status read, and `watch` prints bob's
/// next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_shell_snippet_works() {
    use std::os::unix::process::CommandExt;

    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## The client").expect("the client section")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a shell block");
    assert!(block.contains("whassap send") && block.contains("whassap watch"));

    let s = serve();
    let out = whassap()
        .args([
            "user",
            "passwd",
            "alice",
            "--password",
            "secret",
            "--data-dir",
        ])
        .arg(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    post_status(&s.serving.http, "bob", "busy").await;

    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_whassap"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = std::process::Command::new("bash");
    bash.args(["-euc", block])
        .env("PATH", path)
        .env("WHASSAP_SERVER", s.serving.c2s().to_string())
        .process_group(0);
    for var in ["WHASSAP_CONFIG", "WHASSAP_URL", "WHASSAP_TOKEN"] {
        bash.env_remove(var);
    }
    let mut run = spawn_until(bash, "watching");
    let id = run.line("the status id").await;
    assert_eq!(id.len(), 26, "a status id: {id:?}");
    assert_eq!(run.line("bob's status").await, "busy");
    post_status(&s.serving.http, "bob", "free now").await;
    assert_eq!(
        run.line("bob's new status").await,
        "bob@localhost: free now"
    );
    // bash and the watch it started are one process group.
    let group = format!("-{}", run.child.id());
    std::process::Command::new("kill")
        .args(["--", &group])
        .status()
        .unwrap();
}
