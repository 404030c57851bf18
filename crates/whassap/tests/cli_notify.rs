//! `whassap notify` (SPEC §8) run as a user runs it: the built binary
//! against a real `whassap serve`, its output, `--json`, and every exit
//! code (0 sent, 2 usage, 3 token refused, 4 nothing listening, 5
//! self-signed certificate without `--insecure`, 6 refused by the server).

use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minidom::Element;
use whassap_client::{Client, ConnectOptions};

mod support;

use support::{whassap, Serving};

/// A running `whassap serve` and its data dir.
struct Server {
    serving: Serving,
    dir: tempfile::TempDir,
}

fn serve() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let serving = support::start(
        support::serve_command(dir.path(), "127.0.0.1:0")
            .env("WHASSAP_API__MESSAGES_PER_MINUTE", "0"),
    );
    Server { serving, dir }
}

impl Server {
    fn add_user(&self, name: &str) {
        let out = whassap()
            .args(["user", "add", name, "--password", "password", "--data-dir"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    async fn token(&self, user: &str) -> String {
        let r: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/api/v1/tokens", self.serving.http))
            .basic_auth(user, Some("password"))
            .json(&serde_json::json!({"name": "ci"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"].as_str().expect("a token").to_string()
    }

    async fn client(&self, user: &str) -> Client {
        let mut o = ConnectOptions::new(self.serving.c2s(), "localhost", user, "password");
        o.accept_invalid_certs = true;
        Client::connect(o).await.unwrap()
    }
}

fn xml(s: &str) -> Element {
    let name_end = s.find([' ', '>', '/']).expect("an element");
    format!("{} xmlns='jabber:client'{}", &s[..name_end], &s[name_end..])
        .parse()
        .unwrap()
}

async fn until(c: &mut Client, what: &str, f: impl Fn(&Element) -> bool) -> Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv_timeout(left).await.unwrap() {
            Some(el) if f(&el) => return el,
            Some(_) => {}
            None => panic!("no {what} within 10 s"),
        }
    }
}

/// `whassap notify ARGS`, off the test's runtime (the binary blocks).
async fn notify(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || whassap().arg("notify").args(args).output().unwrap())
        .await
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn notify_sends_prints_and_exits_with_the_documented_codes() {
    let s = serve();
    s.add_user("ci");
    s.add_user("alice");
    let token = s.token("ci").await;
    let mut alice = s.client("alice").await;
    // As a client does: the roster (so roster pushes come), then online.
    alice
        .send(&xml(
            "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>",
        ))
        .await
        .unwrap();
    until(&mut alice, "the roster", |e| e.attr("id") == Some("r")).await;
    alice.send(&xml("<presence/>")).await.unwrap();
    let url = s.serving.http.as_str();

    // 2: usage.
    let out = notify(&["--url", url, "--token", &token, "alice@localhost"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = notify(&[
        "--url",
        "ftp://x",
        "--token",
        &token,
        "alice@localhost",
        "x",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // 6: alice has not added the bot; --json prints the server's error.
    let out = notify(&[
        "--url",
        url,
        "--token",
        &token,
        "--json",
        "alice@localhost",
        "hi",
    ])
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["code"], "forbidden", "{error}");
    assert!(
        text(&out.stderr).contains("has not accepted"),
        "{}",
        text(&out.stderr)
    );

    alice
        .send(&xml("<presence to='whassap@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    until(&mut alice, "the bot's approval", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;

    // 0: sent; the id is printed and is the message's.
    let out = notify(&[
        "--url",
        url,
        "--token",
        &token,
        "alice@localhost",
        "Build #42 passed",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let m = until(&mut alice, "the notification", |e| e.name() == "message").await;
    assert_eq!(m.attr("id"), Some(id.as_str()));
    assert_eq!(m.attr("from"), Some("whassap@localhost"));
    let body = m.get_child("body", "jabber:client").map(|b| b.text());
    assert_eq!(body.as_deref(), Some("Build #42 passed"));

    // The same from the environment, as JSON, as a headline.
    let out = tokio::task::spawn_blocking({
        let (url, token) = (url.to_string(), token.clone());
        move || {
            whassap()
                .env("WHASSAP_URL", url)
                .env("WHASSAP_TOKEN", token)
                .args([
                    "notify",
                    "--json",
                    "--type",
                    "headline",
                    "alice@localhost",
                    "deployed",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = until(&mut alice, "the headline", |e| e.name() == "message").await;
    assert_eq!(m.attr("id"), sent["id"].as_str());
    assert_eq!(m.attr("type"), Some("headline"));

    // 3: a wrong token.
    let out = notify(&[
        "--url",
        url,
        "--token",
        "whassap_wrong",
        "alice@localhost",
        "x",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("authentication refused"),
        "{}",
        text(&out.stderr)
    );

    // 4: nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let out = notify(&["--url", &nowhere, "--token", &token, "alice@localhost", "x"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot connect"),
        "{}",
        text(&out.stderr)
    );
}

/// An HTTPS listener with a self-signed certificate that answers every
/// request with `401` and a JSON error.
async fn self_signed_https() -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        made.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let _ = tls.read(&mut buf).await;
                let body = r#"{"error":{"code":"unauthorized","message":"no"}}"#;
                let answer = format!(
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{}", addr.port())
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_unless_insecure() {
    let url = self_signed_https().await;
    let out = notify(&["--url", &url, "--token", "t", "alice@localhost", "x"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("certificate"),
        "{}",
        text(&out.stderr)
    );
    // Accepted with --insecure: the request reaches the server (which
    // refuses the token here).
    let out = notify(&[
        "--url",
        &url,
        "--token",
        "t",
        "--insecure",
        "alice@localhost",
        "x",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}
