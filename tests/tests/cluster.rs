//! Several nodes in one test process, one PostgreSQL database and the NATS
//! bus (SPEC §7): users on different nodes chat and see each other's
//! presence as if they were on one server, by RFC 6121's rules.

use std::time::Duration;

use whassap_client::Client;
use whassap_tests::*;

/// Available presence with a priority.
async fn online(c: &mut Client, priority: i8) {
    c.send(&xml(&format!(
        "<presence><priority>{priority}</priority></presence>"
    )))
    .await
    .unwrap();
}

async fn chat(from: &mut Client, to: &str, body: &str) {
    from.send(&xml(&format!(
        "<message to='{to}' type='chat'><body>{body}</body></message>"
    )))
    .await
    .unwrap();
}

async fn body_from(c: &mut Client, from: &str, body: &str) {
    recv_matching(c, body, |m| {
        m.name() == "message"
            && m.attr("from").is_some_and(|f| f.starts_with(from))
            && m.get_child("body", "jabber:client")
                .is_some_and(|b| b.text() == body)
    })
    .await;
}

/// alice on node 0 and bob on node 1 become contacts, chat both ways (bare
/// and full JIDs) and see each other come and go.
#[tokio::test]
async fn chat_and_presence_between_nodes() {
    let Some(cluster) = Cluster::start("chat_and_presence_between_nodes", 3).await else {
        return;
    };
    let [n0, n1, _] = &cluster.nodes[..] else {
        unreachable!()
    };
    n0.user("alice").await;
    n0.user("bob").await;
    let mut a = n0.client_with_resource("alice", "home").await;
    let mut b = n1.client_with_resource("bob", "work").await;
    cluster.settle().await;
    get_roster(&mut a).await;
    get_roster(&mut b).await;
    go_online(&mut a).await;
    go_online(&mut b).await;
    subscribe(&mut a, &mut b, "alice@localhost", "bob@localhost").await;
    subscribe(&mut b, &mut a, "bob@localhost", "alice@localhost").await;

    chat(&mut a, "bob@localhost", "to your bare JID").await;
    body_from(&mut b, "alice@localhost/home", "to your bare JID").await;
    chat(&mut b, "alice@localhost/home", "to your full JID").await;
    body_from(&mut a, "bob@localhost/work", "to your full JID").await;

    // bob goes away and comes back: alice, on the other node, sees both.
    b.send(&xml("<presence type='unavailable'/>"))
        .await
        .unwrap();
    recv_matching(&mut a, "bob unavailable", |p| {
        p.name() == "presence"
            && p.attr("from") == Some("bob@localhost/work")
            && p.attr("type") == Some("unavailable")
    })
    .await;
    online(&mut b, 0).await;
    recv_matching(&mut a, "bob available", |p| {
        p.name() == "presence"
            && p.attr("from") == Some("bob@localhost/work")
            && p.attr("type").is_none()
    })
    .await;
    cluster.stop().await;
}

/// One account's resources on two nodes: a message to the bare JID goes
/// to the highest priority, wherever it is; when neither is online, it is
/// stored and delivered at the next login, on a third node.
#[tokio::test]
async fn priorities_and_offline_storage_across_nodes() {
    let Some(cluster) = Cluster::start("priorities_and_offline_storage_across_nodes", 3).await
    else {
        return;
    };
    let [n0, n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    n0.user("alice").await;
    n0.user("bob").await;
    let mut a = n0.client("alice").await;
    let mut hi = n1.client_with_resource("bob", "hi").await;
    let mut lo = n2.client_with_resource("bob", "lo").await;
    online(&mut hi, 5).await;
    online(&mut lo, 1).await;
    cluster.settle().await;

    chat(&mut a, "bob@localhost", "first").await;
    body_from(&mut hi, "alice@localhost", "first").await;
    assert_no_message(&mut lo).await;

    // The high-priority resource leaves: the other one gets the next.
    drop(hi);
    cluster.wait_for_sessions("bob@localhost", 1).await;
    chat(&mut a, "bob@localhost", "second").await;
    body_from(&mut lo, "alice@localhost", "second").await;

    // No resource at all: stored, then delivered on yet another node.
    drop(lo);
    cluster.wait_for_sessions("bob@localhost", 0).await;
    chat(&mut a, "bob@localhost", "while you were out").await;
    a.iq(xml(
        "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    ))
    .await
    .unwrap();
    let mut back = n0.client("bob").await;
    online(&mut back, 0).await;
    body_from(&mut back, "alice@localhost", "while you were out").await;
    cluster.stop().await;
}

async fn assert_no_message(c: &mut Client) {
    while let Some(el) = c.recv_timeout(Duration::from_millis(500)).await.unwrap() {
        assert_ne!(el.name(), "message", "unexpected: {el:?}");
    }
}
