//! The client library's jobs (`whassap-client`), each against the real
//! server: messages, presence, contacts, PubSub, statuses over XMPP and
//! the REST client, and its typed errors.

use std::time::Duration;

use whassap_client::rest::RestClient;
use whassap_client::{Client, ClientError, Event};
use whassap_tests::TestServer;

const WAIT: Duration = Duration::from_secs(10);

/// The next event that `f` picks, within 10 s.
async fn next<T>(c: &mut Client, what: &str, f: impl Fn(Event) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(t) = f(c.next_event().await.expect("the stream is up")) {
                return t;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within 10 s"))
}

/// A server with alice and bob, both logged in.
async fn alice_and_bob() -> (TestServer, Client, Client) {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let (alice, bob) = (s.client("alice").await, s.client("bob").await);
    (s, alice, bob)
}

#[tokio::test]
async fn messages_presence_and_contacts() {
    let (_server, mut alice, mut bob) = alice_and_bob().await;
    assert!(alice.contacts().await.unwrap().is_empty());
    bob.contacts().await.unwrap();
    bob.set_presence(None, None).await.unwrap();
    alice.set_presence(None, None).await.unwrap();

    // Contacts: alice asks, bob sees the request and accepts.
    alice.add_contact("bob@localhost").await.unwrap();
    let asked = next(&mut bob, "the subscription request", |e| match e {
        Event::Presence(p) if p.kind.as_deref() == Some("subscribe") => Some(p),
        _ => None,
    })
    .await;
    assert_eq!(asked.from, "alice@localhost");
    let listed = alice.contacts().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].jid, "bob@localhost");
    assert!(listed[0].pending, "{listed:?}");
    bob.accept("alice@localhost").await.unwrap();
    next(&mut alice, "bob's approval", |e| match e {
        Event::Presence(p) if p.kind.as_deref() == Some("subscribed") => Some(()),
        _ => None,
    })
    .await;
    let pushed = next(&mut alice, "the roster push", |e| match e {
        Event::Contact(c) if c.subscription == "to" => Some(c),
        _ => None,
    })
    .await;
    assert_eq!(pushed.jid, "bob@localhost");
    let listed = alice.contacts().await.unwrap();
    assert_eq!(listed[0].subscription, "to", "{listed:?}");

    // Presence: alice sees bob's; bob goes away.
    bob.set_presence(Some("away"), Some("lunch")).await.unwrap();
    let away = next(&mut alice, "bob's away presence", |e| match e {
        Event::Presence(p) if p.show.is_some() => Some(p),
        _ => None,
    })
    .await;
    assert!(away.from.starts_with("bob@localhost/"), "{away:?}");
    assert_eq!(away.show.as_deref(), Some("away"));
    assert_eq!(away.status.as_deref(), Some("lunch"));

    // Messages, both ways.
    alice.send_message("bob@localhost", "lunch?").await.unwrap();
    let m = tokio::time::timeout(WAIT, bob.next_message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.body.as_str(), m.kind.as_str()), ("lunch?", "chat"));
    assert!(m.from.starts_with("alice@localhost/"), "{m:?}");
    bob.send_message(alice.jid(), "yes").await.unwrap();
    let m = tokio::time::timeout(WAIT, alice.next_message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, "yes");

    // A message the server refuses is a typed stanza error.
    match alice.send_message("nobody@localhost", "hi").await {
        Err(ClientError::Stanza(e)) => assert_eq!(e.condition, "service-unavailable"),
        other => panic!("expected a stanza error, got {other:?}"),
    }

    // Deny and remove.
    bob.deny("alice@localhost").await.unwrap();
    bob.set_unavailable().await.unwrap();
    alice.remove_contact("bob@localhost").await.unwrap();
    assert!(alice.contacts().await.unwrap().is_empty());
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}

#[tokio::test]
async fn pubsub_publish_subscribe_items_unsubscribe() {
    let (_server, mut alice, mut bob) = alice_and_bob().await;
    let service = Some("pubsub.localhost");
    let entry = |text: &str| {
        let mut e = minidom::Element::bare("note", "urn:example:notes");
        e.append_text(text);
        e
    };

    alice.create_node(service, "notes").await.unwrap();
    let first = alice
        .publish(service, "notes", Some("n1"), entry("first"))
        .await
        .unwrap();
    assert_eq!(first, "n1");
    bob.set_presence(None, None).await.unwrap();
    bob.subscribe(service, "notes").await.unwrap();
    let chosen = alice
        .publish(service, "notes", None, entry("second"))
        .await
        .unwrap();
    assert!(!chosen.is_empty());
    let (from, node, items) = next(&mut bob, "the notification", |e| match e {
        Event::Items { from, node, items } => Some((from, node, items)),
        _ => None,
    })
    .await;
    assert_eq!(
        (from.as_str(), node.as_str()),
        ("pubsub.localhost", "notes")
    );
    assert_eq!(items[0].id, chosen);
    assert_eq!(items[0].payload.as_ref().unwrap().text(), "second");

    let all = bob.items(service, "notes", None).await.unwrap();
    let mut ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    ids.sort();
    let mut want = vec!["n1", chosen.as_str()];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(bob.items(service, "notes", Some(1)).await.unwrap().len(), 1);

    bob.unsubscribe(service, "notes").await.unwrap();
    alice
        .publish(service, "notes", None, entry("third"))
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(500), bob.next_event()).await;
    assert!(
        !matches!(quiet, Ok(Ok(Event::Items { .. }))),
        "no notification after unsubscribing: {quiet:?}"
    );

    // Errors are typed: an unknown node.
    match bob.items(service, "nope", None).await {
        Err(ClientError::Stanza(e)) => assert_eq!(e.condition, "item-not-found"),
        other => panic!("expected item-not-found, got {other:?}"),
    }
}

#[tokio::test]
async fn statuses_over_xmpp_and_rest() {
    let (s, mut alice, mut bob) = alice_and_bob().await;
    bob.set_presence(None, None).await.unwrap();
    bob.watch("alice@localhost").await.unwrap();

    // set_status over XMPP: bob's watch gets it typed, status_of reads it.
    let id = alice.set_status("at the pub").await.unwrap();
    let st = tokio::time::timeout(WAIT, bob.next_status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.id.as_str(), st.text.as_str()),
        (id.as_str(), "at the pub")
    );
    assert_eq!(st.author.jid, "alice@localhost");
    let current = bob.status_of("alice@localhost").await.unwrap().unwrap();
    assert_eq!(current.id, id);
    assert_eq!(bob.status_of("bob@localhost").await.unwrap(), None);

    // The REST client: a status posted there reaches the watcher too.
    let base = format!("http://{}", s.http);
    let rest = whassap_tests::rest::Api::new(s.http);
    let basic = whassap_tests::rest::Cred::Basic("alice".into(), whassap_tests::PASSWORD.into());
    let whassap_tests::rest::Cred::Bearer(token) = rest.token(&basic).await else {
        panic!("a bearer token")
    };
    let api = RestClient::new(&base).unwrap().with_token(token);
    let posted = api.post_status("home now").await.unwrap();
    assert_eq!(posted.source, "api");
    let st = tokio::time::timeout(WAIT, bob.next_status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.id.as_str(), st.text.as_str()),
        (posted.id.as_str(), "home now")
    );

    let anonymous = RestClient::new(&base).unwrap();
    assert_eq!(
        anonymous.status(&id).await.unwrap().unwrap().text,
        "at the pub"
    );
    assert_eq!(
        anonymous
            .status("01JD3Q0T6ZC8W2XQ4Y7M3N1K9B")
            .await
            .unwrap(),
        None
    );
    let current = anonymous.current_status("alice").await.unwrap().unwrap();
    assert_eq!(current.id, posted.id);
    let timeline = anonymous.timeline(10).await.unwrap();
    let texts: Vec<&str> = timeline.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["home now", "at the pub"]);
    assert_eq!(anonymous.user_statuses("alice", 1).await.unwrap().len(), 1);
    api.delete_status(&posted.id).await.unwrap();
    assert_eq!(anonymous.status(&posted.id).await.unwrap(), None);
    // Deleting as nobody is refused with the server's JSON error.
    match anonymous.delete_status(&id).await {
        Err(whassap_client::rest::RestError::Unauthorized(e)) => assert!(!e.code.is_empty()),
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_failures_are_typed() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut wrong = s.options("alice");
    wrong.password = "wrong".into();
    assert!(matches!(
        Client::connect(wrong).await,
        Err(ClientError::AuthFailed(c)) if c == "not-authorized"
    ));
    let mut strict = s.options("alice");
    strict.accept_invalid_certs = false;
    assert!(matches!(
        Client::connect(strict).await,
        Err(ClientError::Certificate(_))
    ));
    let mut nowhere = s.options("alice");
    nowhere.addr = format!("127.0.0.1:{}", whassap_tests::free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let e = Client::connect(nowhere)
        .await
        .err()
        .expect("no server there");
    assert!(e.is_connect_failure(), "{e:?}");
}

#[tokio::test]
async fn a_dropped_session_logs_in_again_by_itself() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let opts = s.options("alice");
    let mut alice = Client::connect(opts.clone()).await.unwrap();
    alice.reconnect_with(opts);
    alice.set_presence(Some("chat"), None).await.unwrap();
    alice.watch("bob@localhost").await.unwrap();

    // The server restarts on the same address.
    let c2s = s.c2s.to_string();
    let s = s.restart_with(|c| c.c2s_listen = c2s).await;
    let back = next(&mut alice, "the reconnection", |e| match e {
        Event::Reconnected => Some(()),
        _ => None,
    });
    tokio::time::timeout(Duration::from_secs(30), back)
        .await
        .unwrap();

    // Online again, with the same watch: a message and a status arrive.
    let mut bob = s.client("bob").await;
    bob.send_message("alice@localhost", "still there?")
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, alice.next_message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, "still there?");
    bob.set_status("back").await.unwrap();
    let st = tokio::time::timeout(WAIT, alice.next_status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.text, "back");
}
