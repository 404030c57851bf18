//! SPEC §7: a node that dies. Two real `whassap serve` processes share one
//! PostgreSQL database and the NATS bus; one is SIGKILLed. Within 30 s the
//! other treats its sessions as gone: a contact sees `unavailable`, a
//! message to the dead node's user is stored for later, and the status
//! that node acknowledged just before it died is there.

use std::time::{Duration, Instant};

use minidom::Element;
use whassap_client::{Client, ConnectOptions};
use whassap_store::testing::TempDatabase;

mod support;

use support::{whassap, Serving as Node};

/// `whassap serve` as node `name` of the cluster; returns once it runs.
fn node(name: &str, database: &str, nats: &str, dir: &std::path::Path) -> Node {
    support::start(
        support::serve_command(&dir.join(name), "127.0.0.1:0")
            .env("WHASSAP_API__TOKEN_REQUESTS_PER_MINUTE", "0")
            .args([
                "--database",
                database,
                "--cluster",
                nats,
                "--node-name",
                name,
            ]),
    )
}

/// A stanza in `jabber:client` (the tag name is followed by a space or `>`).
fn xml(s: &str) -> Element {
    let name_end = s.find([' ', '>', '/']).expect("an element");
    format!("{} xmlns='jabber:client'{}", &s[..name_end], &s[name_end..])
        .parse()
        .unwrap()
}

async fn client(n: &Node, user: &str) -> Client {
    let mut o = ConnectOptions::new(n.c2s(), "localhost", user, "password");
    o.accept_invalid_certs = true;
    Client::connect(o).await.unwrap()
}

/// Receive until `f` matches, at most `within`.
async fn until(c: &mut Client, within: Duration, what: &str, f: impl Fn(&Element) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.recv_timeout(left).await.unwrap() {
            Some(el) if f(&el) => return,
            Some(_) => {}
            None => panic!("no {what} within {within:?}"),
        }
    }
}

/// `x` asks for `yj`'s presence and `y` approves.
async fn subscribe(x: &mut Client, y: &mut Client, yj: &str, xj: &str) {
    x.send(&xml(&format!("<presence to='{yj}' type='subscribe'/>")))
        .await
        .unwrap();
    until(y, Duration::from_secs(10), "subscribe", |e| {
        e.attr("type") == Some("subscribe")
    })
    .await;
    y.send(&xml(&format!("<presence to='{xj}' type='subscribed'/>")))
        .await
        .unwrap();
    until(x, Duration::from_secs(10), "subscribed", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_sessions_are_gone_within_30_s_and_nothing_acknowledged_is_lost() {
    let Some(db) = TempDatabase::create("cluster_failure").await else {
        return;
    };
    let Ok(nats) = std::env::var("WHASSAP_TEST_NATS").map(|v| match v.as_str() {
        "1" => "nats://127.0.0.1:4222".to_string(),
        _ => v,
    }) else {
        whassap_store::testing::announce_skip("cluster test: WHASSAP_TEST_NATS is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for user in ["alice", "bob"] {
        let ok = whassap()
            .args(["user", "add", user, "--password", "password", "--database"])
            .arg(&db.url)
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let a = node("a", &db.url, &nats, dir.path());
    let b = node("b", &db.url, &nats, dir.path());

    let mut alice = client(&a, "alice").await;
    let mut bob = client(&b, "bob").await;
    for c in [&mut alice, &mut bob] {
        c.iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
            .await
            .unwrap();
    }
    // Online, then mutual subscription across the nodes.
    alice.send(&xml("<presence/>")).await.unwrap();
    bob.send(&xml("<presence/>")).await.unwrap();
    subscribe(&mut alice, &mut bob, "bob@localhost", "alice@localhost").await;
    subscribe(&mut bob, &mut alice, "alice@localhost", "bob@localhost").await;
    bob.send(&xml("<presence><status>here</status></presence>"))
        .await
        .unwrap();
    until(&mut alice, Duration::from_secs(10), "bob online", |e| {
        e.name() == "presence"
            && e.attr("from")
                .is_some_and(|f| f.starts_with("bob@localhost/"))
            && e.get_child("status", "jabber:client")
                .is_some_and(|s| s.text() == "here")
    })
    .await;

    // bob sets a status on his node, acknowledged: then the node dies.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/api/v1/tokens", b.http))
        .basic_auth("bob", Some("password"))
        .json(&serde_json::json!({ "name": "t" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let posted = http
        .post(format!("{}/api/v1/statuses", b.http))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&serde_json::json!({ "text": "last words" }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 201);
    let id = posted.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let killed = Instant::now();
    drop(b);

    until(
        &mut alice,
        Duration::from_secs(30),
        "bob unavailable",
        |e| {
            e.name() == "presence"
                && e.attr("from")
                    .is_some_and(|f| f.starts_with("bob@localhost/"))
                && e.attr("type") == Some("unavailable")
        },
    )
    .await;
    eprintln!("bob was unavailable {:?} after the kill", killed.elapsed());

    // A message to bob now waits for him.
    alice
        .send(&xml(
            "<message to='bob@localhost' type='chat'><body>are you there?</body></message>",
        ))
        .await
        .unwrap();
    alice
        .iq(xml(
            "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        ))
        .await
        .unwrap();
    let mut back = client(&a, "bob").await;
    back.send(&xml("<presence/>")).await.unwrap();
    until(
        &mut back,
        Duration::from_secs(10),
        "the stored message",
        |e| {
            e.name() == "message"
                && e.get_child("body", "jabber:client")
                    .is_some_and(|b| b.text() == "are you there?")
        },
    )
    .await;

    // The status the dead node acknowledged is served by the other.
    let got = http
        .get(format!("{}/api/v1/statuses/{id}", a.http))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let got: serde_json::Value = got.json().await.unwrap();
    assert_eq!(got["text"], "last words");
}
