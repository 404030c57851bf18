//! Federation from a cluster (SPEC §7: "s2s from any node"): `a.test` is
//! two nodes on PostgreSQL and NATS, `b.test` one server. `b.test` reaches
//! `a.test` at node n1 only (as DNS or a load balancer would send it to
//! any one node), while its users' contacts sit on both nodes. So n0's
//! outgoing stream is verified by dialback against n1 (the nodes share the
//! dialback secret through the database), and what arrives at n1 for a
//! session on n0 crosses the bus.

use minidom::Element;
use whassap_client::Client;
use whassap_tests::*;

fn body(el: &Element) -> Option<String> {
    el.get_child("body", "jabber:client").map(|b| b.text())
}

async fn say(from: &mut Client, to: &str, text: &str) {
    from.send(&xml(&format!(
        "<message to='{to}' type='chat'><body>{text}</body></message>"
    )))
    .await
    .expect("message sent");
}

/// Wait (at most [`WAIT`]) until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn hears(to: &mut Client, from: &str, text: &str) {
    let m = recv_matching(to, text, |e| {
        e.name() == "message" && body(e).as_deref() == Some(text)
    })
    .await;
    assert_eq!(m.attr("from"), Some(from), "{m:?}");
}

#[tokio::test]
async fn every_node_of_a_cluster_federates() {
    let (p0, p1, pb) = (
        free_port("127.0.0.2"),
        free_port("127.0.0.4"),
        free_port("127.0.0.3"),
    );
    let to_b = vec![
        format!("b.test=127.0.0.3:{pb}"),
        format!("pubsub.b.test=127.0.0.3:{pb}"),
    ];
    let Some(cluster) = Cluster::start_each("cluster_federation", 2, |i, c| {
        c.domain = "a.test".into();
        c.s2s_listen = match i {
            0 => format!("127.0.0.2:{p0}"),
            _ => format!("127.0.0.4:{p1}"),
        };
        c.s2s_route = to_b.clone();
        c.s2s_timeout_secs = 5;
    })
    .await
    else {
        return;
    };
    let b = TestServer::start_with(|c| {
        c.domain = "b.test".into();
        c.s2s_listen = format!("127.0.0.3:{pb}");
        c.s2s_route = vec![
            format!("a.test=127.0.0.4:{p1}"),
            format!("pubsub.a.test=127.0.0.4:{p1}"),
        ];
        c.s2s_timeout_secs = 5;
    })
    .await;
    let [n0, n1] = &cluster.nodes[..] else {
        unreachable!()
    };
    n0.user("alice").await;
    n0.user("carol").await;
    b.user("bob").await;
    let mut alice = n0.client("alice").await;
    let mut carol = n1.client("carol").await;
    let mut bob = b.client("bob").await;
    for c in [&mut alice, &mut carol, &mut bob] {
        get_roster(c).await;
        go_online(c).await;
    }
    cluster.settle().await;
    let (alice_jid, carol_jid, bob_jid) = (
        alice.jid().to_string(),
        carol.jid().to_string(),
        bob.jid().to_string(),
    );

    // Out from n0, whose stream b.test verifies by dialback at n1.
    say(&mut alice, "bob@b.test", "from node n0").await;
    hears(&mut bob, &alice_jid, "from node n0").await;
    // Out from n1.
    say(&mut carol, "bob@b.test", "from node n1").await;
    hears(&mut bob, &carol_jid, "from node n1").await;
    // In at n1, for a session on n0 and one on n1.
    say(&mut bob, &alice_jid, "to alice on n0").await;
    hears(&mut alice, &bob_jid, "to alice on n0").await;
    say(&mut bob, &carol_jid, "to carol on n1").await;
    hears(&mut carol, &bob_jid, "to carol on n1").await;

    // A subscription made from n0 is answered through n1, and bob's
    // presence follows it to alice's session on n0.
    alice
        .send(&xml("<presence to='bob@b.test' type='subscribe'/>"))
        .await
        .unwrap();
    let req = recv_matching(&mut bob, "alice's subscription request", |e| {
        e.attr("type") == Some("subscribe")
    })
    .await;
    assert_eq!(req.attr("from"), Some("alice@a.test"));
    bob.send(&xml("<presence to='alice@a.test' type='subscribed'/>"))
        .await
        .unwrap();
    recv_matching(&mut alice, "bob's approval", |e| {
        e.attr("type") == Some("subscribed") && e.attr("from") == Some("bob@b.test")
    })
    .await;
    recv_matching(&mut alice, "bob's presence", |e| {
        e.name() == "presence" && e.attr("type").is_none() && e.attr("from") == Some(&bob_jid)
    })
    .await;

    // PEP to a contact on b.test: bob's presence and caps reach n1 (where
    // b.test's stream goes), and alice posts on n0, which must know them.
    subscribe(&mut bob, &mut alice, "bob@b.test", "alice@a.test").await;
    advertise_microblog(&mut bob).await;
    let knows_bob = |n: &TestServer| {
        n.app()
            .server
            .caps
            .features_of(&bob_jid)
            .is_some_and(|f| f.contains("urn:xmpp:microblog:0+notify"))
    };
    wait_until("n0 learns bob's caps from n1", || knows_bob(n0)).await;
    whassap_server::statuses::post(
        &n0.app().server,
        "alice",
        "posted on n0",
        whassap_server::statuses::Source::Api,
        None,
    )
    .await
    .unwrap();
    let event = recv_matching(&mut bob, "alice's microblog event", |m| {
        m.name() == "message"
            && m.attr("from") == Some("alice@a.test")
            && m.get_child("event", "http://jabber.org/protocol/pubsub#event")
                .and_then(|e| e.get_child("items", "http://jabber.org/protocol/pubsub#event"))
                .is_some_and(|i| i.attr("node") == Some("urn:xmpp:microblog:0"))
    })
    .await;
    assert!(
        String::from_utf8_lossy(&whassap_xml::to_bytes(&event)).contains("posted on n0"),
        "{event:?}"
    );
    // Gone from b.test: n0 forgets bob's resource too.
    bob.send(&xml("<presence type='unavailable'/>"))
        .await
        .unwrap();
    wait_until("n0 forgets bob", || !knows_bob(n0)).await;

    // Both nodes hold an outgoing stream of their own to b.test.
    for (i, n) in [n0, n1].into_iter().enumerate() {
        let links = n.app().server.s2s.list();
        assert!(
            links
                .iter()
                .any(|l| l.domain == "b.test" && l.direction == "out"),
            "node n{i}: {links:?}"
        );
    }
    b.stop().await;
    cluster.stop().await;
}
