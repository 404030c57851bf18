//! Federation between two Whassap servers in one process: `a.test` and
//! `b.test` on two loopback addresses with static routes, over real s2s
//! streams (STARTTLS, then dialback: their certificates are self-signed).

use std::time::Duration;

use minidom::Element;
use whassap_client::Client;
use whassap_tests::*;

/// Skip what else arrives until a stanza matching `f`.
async fn expect(c: &mut Client, what: &str, f: impl Fn(&Element) -> bool) -> Element {
    recv_matching(c, what, f).await
}

fn body(el: &Element) -> Option<String> {
    el.get_child("body", "jabber:client").map(|b| b.text())
}

#[tokio::test]
async fn users_on_two_servers_chat_both_ways() {
    let (a, b) = federated_pair(|_| {}).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    go_online(&mut alice).await;
    go_online(&mut bob).await;
    alice
        .send(&xml(
            "<message to='bob@b.test' type='chat'><body>hello from a</body></message>",
        ))
        .await
        .unwrap();
    let m = expect(&mut bob, "alice's message", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some(alice.jid()));
    assert_eq!(body(&m).as_deref(), Some("hello from a"));
    bob.send(&xml(&format!(
        "<message to='{}' type='chat'><body>hello from b</body></message>",
        alice.jid()
    )))
    .await
    .unwrap();
    let m = expect(&mut alice, "bob's reply", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some(bob.jid()));
    assert_eq!(body(&m).as_deref(), Some("hello from b"));

    // Both links are up and authenticated with dialback, over TLS.
    let links = a.app().server.s2s.list();
    assert!(
        links
            .iter()
            .any(|l| l.domain == "b.test" && l.direction == "out" && l.tls && l.auth == "dialback"),
        "{links:?}"
    );
    assert!(
        links
            .iter()
            .any(|l| l.domain == "b.test" && l.direction == "in" && l.tls && l.auth == "dialback"),
        "{links:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn subscriptions_presence_and_rosters_cross_servers() {
    let (a, b) = federated_pair(|_| {}).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    get_roster(&mut alice).await;
    get_roster(&mut bob).await;
    go_online(&mut alice).await;
    go_online(&mut bob).await;

    alice
        .send(&xml("<presence to='bob@b.test' type='subscribe'/>"))
        .await
        .unwrap();
    let req = expect(&mut bob, "subscribe", |e| {
        e.attr("type") == Some("subscribe")
    })
    .await;
    assert_eq!(req.attr("from"), Some("alice@a.test"));
    bob.send(&xml("<presence to='alice@a.test' type='subscribed'/>"))
        .await
        .unwrap();
    expect(&mut alice, "subscribed", |e| {
        e.attr("type") == Some("subscribed") && e.attr("from") == Some("bob@b.test")
    })
    .await;
    // bob's available presence follows the approval.
    expect(&mut alice, "bob's presence", |e| {
        e.name() == "presence" && e.attr("type").is_none() && e.attr("from") == Some(bob.jid())
    })
    .await;
    let roster = get_roster(&mut alice).await;
    let item = roster
        .get_child("query", "jabber:iq:roster")
        .and_then(|q| q.children().find(|i| i.attr("jid") == Some("bob@b.test")))
        .expect("bob in alice's roster");
    assert_eq!(item.attr("subscription"), Some("to"));

    // bob goes away: alice sees it.
    bob.send(&xml("<presence type='unavailable'/>"))
        .await
        .unwrap();
    expect(&mut alice, "bob unavailable", |e| {
        e.attr("type") == Some("unavailable") && e.attr("from") == Some(bob.jid())
    })
    .await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_message_to_an_offline_remote_user_waits_for_them() {
    let (a, b) = federated_pair(|_| {}).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    alice
        .send(&xml(
            "<message to='bob@b.test' type='chat'><body>while you were out</body></message>",
        ))
        .await
        .unwrap();
    // Routed, stored: wait until b has it.
    let store = b.app().server.store.clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if !store.waiting("bob").await.unwrap().messages.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stored on b.test");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    let m = expect(&mut bob, "the stored message", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some(alice.jid()));
    assert_eq!(body(&m).as_deref(), Some("while you were out"));
    assert!(m.get_child("delay", "urn:xmpp:delay").is_some());
    a.stop().await;
    b.stop().await;
}
