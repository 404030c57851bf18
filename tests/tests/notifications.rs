//! The notifications API (`POST /api/v1/messages`, SPEC §8): an
//! application IMs its users through the bot `whassap@<domain>`, only those
//! who accepted the bot (here, or on another server), rate limited per
//! token; every refusal a JSON error that sends nothing.

use std::time::Duration;

use serde_json::{json, Value};
use whassap_client::Client;
use whassap_tests::rest::{Answer, Api, Cred};
use whassap_tests::*;

/// Fail if a message arrives within `d` (presence may: the bot's).
async fn no_message(c: &mut Client, d: Duration) {
    let until = tokio::time::Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        if let Some(el) = c.recv_timeout(left).await.expect("connection alive") {
            assert_ne!(el.name(), "message", "no message expected: {el:?}");
        }
    }
}

/// `c` adds the bot (`bot` is its bare JID) and waits for its approval.
async fn accept_bot(c: &mut Client, bot: &str) {
    c.send(&xml(&format!("<presence to='{bot}' type='subscribe'/>")))
        .await
        .unwrap();
    recv_matching(c, "the bot's approval", |e| {
        e.name() == "presence"
            && e.attr("type") == Some("subscribed")
            && e.attr("from") == Some(bot)
    })
    .await;
}

async fn notify(api: &Api, cred: &Cred, body: Value) -> Answer {
    api.call("POST", "/api/v1/messages", cred, Some(body)).await
}

fn message_body(e: &minidom::Element) -> Option<String> {
    e.get_child("body", "jabber:client").map(|b| b.text())
}

#[tokio::test]
async fn a_user_who_accepted_the_bot_gets_the_message() {
    let server = TestServer::start().await;
    let api = Api::new(server.http);
    let ci = api.sign_up("ci").await;
    let token = api.token(&ci).await;
    server.user("alice").await;
    server.user("carol").await;
    let mut alice = server.client("alice").await;
    get_roster(&mut alice).await;
    go_online(&mut alice).await;
    accept_bot(&mut alice, "whassap@localhost").await;

    let a = notify(
        &api,
        &token,
        json!({"to": "alice@localhost", "body": "Build #42 of main passed"}),
    )
    .await;
    assert_eq!(a.status, 202, "{:?}", a.json);
    let id = a.json["id"].as_str().expect("an id").to_string();
    let m = recv_matching(&mut alice, "the notification", |e| {
        e.name() == "message" && message_body(e).as_deref() == Some("Build #42 of main passed")
    })
    .await;
    assert_eq!(m.attr("from"), Some("whassap@localhost"));
    assert_eq!(m.attr("type"), Some("chat"));
    assert_eq!(m.attr("id"), Some(id.as_str()));

    // Another type, and a full JID.
    let to = alice.jid().to_string();
    let a = notify(
        &api,
        &token,
        json!({"to": to, "body": "deploy started", "type": "headline"}),
    )
    .await;
    assert_eq!(a.status, 202, "{:?}", a.json);
    let m = recv_matching(&mut alice, "the headline", |e| {
        e.name() == "message" && message_body(e).as_deref() == Some("deploy started")
    })
    .await;
    assert_eq!(m.attr("type"), Some("headline"));

    // carol never added the bot: refused, and nothing is stored for her.
    let a = notify(
        &api,
        &token,
        json!({"to": "carol@localhost", "body": "spam"}),
    )
    .await;
    assert_eq!(a.status, 403, "{:?}", a.json);
    assert_eq!(a.code(), "forbidden");
    let mut carol = server.client("carol").await;
    get_roster(&mut carol).await;
    go_online(&mut carol).await;
    no_message(&mut carol, Duration::from_millis(500)).await;

    // Once alice removes the bot, she gets no more.
    alice
        .send(&xml(
            "<presence to='whassap@localhost' type='unsubscribe'/>",
        ))
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..50 {
        let a = notify(
            &api,
            &token,
            json!({"to": "alice@localhost", "body": "more"}),
        )
        .await;
        if a.status == 403 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "refused once alice unsubscribed from the bot");
    server.stop().await;
}

#[tokio::test]
async fn a_message_to_an_offline_user_waits_for_their_login() {
    let server = TestServer::start().await;
    let api = Api::new(server.http);
    let token = api.token(&api.sign_up("ci").await).await;
    server.user("alice").await;
    {
        let mut alice = server.client("alice").await;
        get_roster(&mut alice).await;
        go_online(&mut alice).await;
        accept_bot(&mut alice, "whassap@localhost").await;
    }
    // Gone: her session ends once the connection does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = notify(
        &api,
        &token,
        json!({"to": "alice@localhost", "body": "while away"}),
    )
    .await;
    assert_eq!(a.status, 202, "{:?}", a.json);
    let mut alice = server.client("alice").await;
    get_roster(&mut alice).await;
    go_online(&mut alice).await;
    recv_matching(&mut alice, "the notification kept offline", |e| {
        e.name() == "message" && message_body(e).as_deref() == Some("while away")
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_json_errors() {
    let server = TestServer::start_with(|c| c.api.messages_per_minute = 2).await;
    let api = Api::new(server.http);
    let token = api.token(&api.sign_up("ci").await).await;
    server.user("alice").await;
    let mut alice = server.client("alice").await;
    get_roster(&mut alice).await;
    go_online(&mut alice).await;
    accept_bot(&mut alice, "whassap@localhost").await;

    let a = notify(
        &api,
        &Cred::Anonymous,
        json!({"to": "alice@localhost", "body": "x"}),
    )
    .await;
    assert_eq!((a.status, a.code()), (401, "unauthorized"), "{:?}", a.json);
    for (body, what) in [
        (
            json!({"to": "alice@localhost", "body": ""}),
            "an empty body",
        ),
        (
            json!({"to": "alice@localhost", "body": "  "}),
            "a blank body",
        ),
        (
            json!({"to": "alice@localhost", "body": "x".repeat(10_001)}),
            "a body too long",
        ),
        (
            json!({"to": "alice@localhost", "body": "a\u{7}bell"}),
            "a control character",
        ),
        (
            json!({"to": "alice@localhost", "body": "x", "type": "groupchat"}),
            "a groupchat",
        ),
        (json!({"to": "not a jid@@", "body": "x"}), "a bad JID"),
        (json!({"to": "localhost", "body": "x"}), "a server's JID"),
    ] {
        let a = notify(&api, &token, body).await;
        assert_eq!(
            (a.status, a.code()),
            (422, "validation_failed"),
            "{what}: {:?}",
            a.json
        );
    }
    let a = notify(&api, &token, json!({"body": "x"})).await;
    assert_eq!(
        (a.status, a.code()),
        (422, "validation_failed"),
        "no recipient: {:?}",
        a.json
    );
    let a = notify(
        &api,
        &token,
        json!({"to": "alice@localhost", "body": "x", "cc": "bob"}),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (400, "invalid_request"),
        "an unknown field: {:?}",
        a.json
    );
    // None of them sent anything.
    no_message(&mut alice, Duration::from_millis(300)).await;

    // Two a minute here: the third waits.
    for n in 0..2 {
        let a = notify(
            &api,
            &token,
            json!({"to": "alice@localhost", "body": format!("n{n}")}),
        )
        .await;
        assert_eq!(a.status, 202, "{:?}", a.json);
    }
    let a = notify(
        &api,
        &token,
        json!({"to": "alice@localhost", "body": "one too many"}),
    )
    .await;
    assert_eq!((a.status, a.code()), (429, "rate_limited"), "{:?}", a.json);
    assert!(a.header("retry-after").is_some(), "Retry-After");
    // Another token has its own allowance.
    let other = api.token(&api.sign_up("deploys").await).await;
    let a = notify(
        &api,
        &other,
        json!({"to": "alice@localhost", "body": "from deploys"}),
    )
    .await;
    assert_eq!(a.status, 202, "{:?}", a.json);
    server.stop().await;
}

#[tokio::test]
async fn a_remote_user_who_accepted_the_bot_gets_the_message() {
    let (a, b) = federated_pair(|_| {}).await;
    b.user("bob").await;
    let api = Api::new(a.http);
    let token = api.token(&api.sign_up("ci").await).await;
    let mut bob = b.client("bob").await;
    get_roster(&mut bob).await;
    go_online(&mut bob).await;

    // Not yet.
    let r = notify(
        &api,
        &token,
        json!({"to": "bob@b.test", "body": "too soon"}),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.json);

    accept_bot(&mut bob, "whassap@a.test").await;
    let r = notify(
        &api,
        &token,
        json!({"to": "bob@b.test", "body": "over s2s"}),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", r.json);
    let m = recv_matching(&mut bob, "the notification over s2s", |e| {
        e.name() == "message" && message_body(e).as_deref() == Some("over s2s")
    })
    .await;
    assert_eq!(m.attr("from"), Some("whassap@a.test"));

    bob.send(&xml("<presence to='whassap@a.test' type='unsubscribe'/>"))
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..100 {
        let r = notify(&api, &token, json!({"to": "bob@b.test", "body": "more"})).await;
        if r.status == 403 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "refused once bob unsubscribed from the bot");
    a.stop().await;
    b.stop().await;
}

/// The shell block after `<!-- ci-job-example` in docs/rest-api.md.
fn ci_job_example() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rest-api.md");
    let doc = std::fs::read_to_string(path).expect("docs/rest-api.md");
    let from = doc
        .find("<!-- ci-job-example")
        .expect("the example's marker");
    let block = &doc[from..];
    let start = block.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = block[start..].find("```").expect("the block's end");
    block[start..start + end].to_string()
}

#[tokio::test]
async fn the_ci_job_example_in_the_docs_sends_the_build_result() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_interop(
            "the_ci_job_example_in_the_docs_sends_the_build_result",
            "curl is not installed",
        );
        return;
    }
    let server = TestServer::start().await;
    let api = Api::new(server.http);
    let Cred::Bearer(token) = api.token(&api.sign_up("ci").await).await else {
        unreachable!()
    };
    server.user("alice").await;
    let mut alice = server.client("alice").await;
    get_roster(&mut alice).await;
    go_online(&mut alice).await;

    // tokio's Command: the server runs on this test's runtime.
    let run = |author: &str| {
        tokio::process::Command::new("bash")
            .args(["-euc", &ci_job_example()])
            .env("WHASSAP_URL", format!("http://{}", server.http))
            .env("WHASSAP_TOKEN", &token)
            .env("AUTHOR_JID", author)
            .env("BUILD", "#42 of main")
            .env("RESULT", "passed")
            .env("BUILD_URL", "https://ci.example.org/42")
            .output()
    };
    // The author has not added the bot: the step fails and says why.
    let out = run("alice@localhost").await.expect("bash runs");
    assert!(!out.status.success(), "refused before alice adds the bot");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("\"forbidden\""), "{said}");

    accept_bot(&mut alice, "whassap@localhost").await;
    let out = run("alice@localhost").await.expect("bash runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let m = recv_matching(&mut alice, "the build result", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some("whassap@localhost"));
    assert_eq!(
        message_body(&m).as_deref(),
        Some("Build #42 of main: passed https://ci.example.org/42")
    );
    server.stop().await;
}
