//! The bus out of reach: node n0 reaches NATS through a TCP relay the test
//! cuts, while n1 keeps it. A short cut delays what crosses nodes and loses
//! none of it; meanwhile n0 serves its own users and says on `/healthz`
//! that it lost the bus. A cut longer than the heartbeat's limit makes each
//! side take the other for dead (n1's users see n0's `unavailable`); once
//! the bus is back the nodes find each other again, each one's users see
//! the other's available again, and what was sent meanwhile is delivered,
//! live or at the next login.

use std::time::Duration;

use whassap_client::Client;
use whassap_tests::relay::Relay;
use whassap_tests::rest::Api;
use whassap_tests::*;

async fn chat(from: &mut Client, to: &str, body: &str) {
    from.send(&xml(&format!(
        "<message to='{to}' type='chat'><body>{body}</body></message>"
    )))
    .await
    .unwrap();
}

fn is_body(m: &minidom::Element, body: &str) -> bool {
    m.name() == "message"
        && m.get_child("body", "jabber:client")
            .is_some_and(|b| b.text() == body)
}

/// Longest wait for the nodes to take each other for dead, or to find each
/// other again (a node is dead after 15 s of silence; NATS clients retry
/// at most every 4 s).
const APART: Duration = Duration::from_secs(30);

/// Wait (at most `limit`) until `check` holds.
async fn until(what: &str, limit: Duration, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_bus_outage_loses_nothing_and_the_node_comes_back() {
    let relay = match nats_url() {
        Some(url) => Some(Relay::to(url.trim_start_matches("nats://")).await),
        None => None,
    };
    let via = relay.as_ref().map(|r| format!("nats://{}", r.addr));
    let Some(cluster) = Cluster::start_each("bus_outage", 2, |i, c| {
        if let (0, Some(via)) = (i, &via) {
            c.cluster = via.clone();
        }
    })
    .await
    else {
        return;
    };
    let relay = relay.expect("a relay when the cluster runs");
    let [n0, n1] = &cluster.nodes[..] else {
        unreachable!()
    };
    let (mut a, mut b) = cluster.alice_and_bob(0, 1).await;
    let api0 = Api::new(n0.http);
    assert_eq!(api0.get("/healthz").await.status, 200);

    // A short cut: n0 knows it lost the bus and says so to load balancers;
    // it still serves its own users; a message for n1 waits and arrives.
    relay.cut();
    let server0 = n0.app().server.clone();
    until("n0 sees the bus gone", WAIT, || server0.cluster.bus_lost()).await;
    let health = api0.get("/healthz").await;
    assert_eq!(health.status, 503, "{:?}", health.json);
    assert_eq!(health.json["status"], "cluster bus unavailable");
    let roster = a
        .iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    assert_eq!(roster.attr("type"), Some("result"), "{roster:?}");
    chat(&mut a, "bob@localhost/work", "sent while the bus was away").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    relay.restore();
    recv_matching(&mut b, "the message sent during the cut", |m| {
        is_body(m, "sent while the bus was away")
    })
    .await;
    until("n0 has the bus again", WAIT, || !server0.cluster.bus_lost()).await;
    assert_eq!(api0.get("/healthz").await.status, 200);

    // A long cut: each node takes the other for dead; n1 ends alice's
    // session for her contacts, bob sees her leave.
    relay.cut();
    let server1 = n1.app().server.clone();
    until("n1 takes n0 for dead", APART, || {
        server1.cluster.peers().is_empty()
    })
    .await;
    recv_matching(&mut b, "alice unavailable once n0 is taken for dead", |p| {
        p.name() == "presence"
            && p.attr("from") == Some("alice@localhost/home")
            && p.attr("type") == Some("unavailable")
    })
    .await;
    until("n0 takes n1 for dead", APART, || {
        server0.cluster.peers().is_empty()
    })
    .await;
    // bob is gone from n0's view: this waits for him offline, in the
    // database every node shares.
    chat(&mut a, "bob@localhost", "sent while apart").await;

    // The bus comes back: the nodes find each other and their sessions.
    relay.restore();
    until("the nodes see each other again", APART, || {
        !server0.cluster.peers().is_empty() && !server1.cluster.peers().is_empty()
    })
    .await;
    // Each saw the other go: each is told the other is there again.
    recv_matching(&mut b, "alice available again once the nodes meet", |p| {
        p.name() == "presence"
            && p.attr("from") == Some("alice@localhost/home")
            && p.attr("type").is_none()
    })
    .await;
    recv_matching(&mut a, "bob available again once the nodes meet", |p| {
        p.name() == "presence"
            && p.attr("from") == Some("bob@localhost/work")
            && p.attr("type").is_none()
    })
    .await;
    cluster.settle().await;
    chat(&mut a, "bob@localhost/work", "after the outage").await;
    recv_matching(&mut b, "the message after the outage", |m| {
        is_body(m, "after the outage")
    })
    .await;
    // What was sent while apart waited in bob's offline store: his next
    // login gets it.
    drop(b);
    let mut b = n1.client_with_resource("bob", "again").await;
    get_roster(&mut b).await;
    go_online(&mut b).await;
    recv_matching(&mut b, "the message sent while apart, kept offline", |m| {
        is_body(m, "sent while apart")
    })
    .await;
    cluster.stop().await;
}
