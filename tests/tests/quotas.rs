//! Per-user quotas: sessions per account, roster items (and a roster that
//! always fits in one stanza), PubSub and PEP nodes per user. Each refusal
//! is the protocol's error and changes nothing.

use whassap_client::{Client, ClientError};
use whassap_tests::*;

/// The defined condition of an error stanza.
fn condition(el: &minidom::Element) -> String {
    assert_eq!(el.attr("type"), Some("error"), "an error: {el:?}");
    el.get_child("error", "jabber:client")
        .and_then(|e| {
            e.children()
                .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        })
        .map(|c| c.name().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_account_binds_at_most_max_sessions() {
    let s = TestServer::start_with(|c| c.max_sessions_per_account = 2).await;
    s.user("alice").await;
    let _one = s.client_with_resource("alice", "one").await;
    let _two = s.client_with_resource("alice", "two").await;
    let mut o = s.options("alice");
    o.resource = Some("three".into());
    match Client::connect(o).await {
        Err(ClientError::Bind(condition)) => assert_eq!(condition, "resource-constraint"),
        other => panic!(
            "a third session was not refused: {:?}",
            other.map(|c| c.jid().to_string())
        ),
    }
    // Binding a resource that is already bound replaces it: still allowed.
    let again = s.client_with_resource("alice", "two").await;
    assert!(again.jid().ends_with("/two"));
    assert_eq!(s.app().server.registry.sessions("alice@localhost").len(), 2);
    s.stop().await;
}

fn roster_set(jid: &str, name: &str) -> minidom::Element {
    xml(&format!(
        "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='{jid}' name='{name}'/></query></iq>"
    ))
}

/// The roster result.
async fn roster_get(c: &mut Client) -> minidom::Element {
    c.iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_roster_holds_at_most_max_roster_items() {
    let s = TestServer::start_with(|c| c.max_roster_items = 3).await;
    s.user("alice").await;
    let mut alice = s.client("alice").await;
    for i in 0..3 {
        let r = alice
            .iq(roster_set(&format!("c{i}@example.org"), "x"))
            .await
            .unwrap();
        assert_eq!(r.attr("type"), Some("result"));
    }
    let r = alice.iq(roster_set("c3@example.org", "x")).await.unwrap();
    assert_eq!(condition(&r), "not-allowed");
    // A subscription request would add an item too: refused the same way.
    alice
        .send(&xml("<presence to='c4@example.org' type='subscribe'/>"))
        .await
        .unwrap();
    let refused = recv_named(&mut alice, "presence").await;
    assert_eq!(condition(&refused), "not-allowed");
    // Changing an item already there is fine.
    let r = alice
        .iq(roster_set("c0@example.org", "renamed"))
        .await
        .unwrap();
    assert_eq!(r.attr("type"), Some("result"));
    let roster = roster_get(&mut alice).await;
    let items: Vec<&str> = roster
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert!(!items.contains(&"c3@example.org") && !items.contains(&"c4@example.org"));
    s.stop().await;
}

/// However many items are allowed, the roster must fit in one stanza the
/// clients accept: an item that would push it over the stanza limit is
/// refused, and the roster result stays under it.
#[tokio::test]
async fn a_roster_always_fits_in_one_stanza() {
    let s = TestServer::start_with(|c| c.max_stanza_bytes = 10_000).await;
    s.user("alice").await;
    let mut alice = s.client("alice").await;
    let name = "n".repeat(900);
    let mut added = 0;
    let refused = loop {
        let r = alice
            .iq(roster_set(&format!("c{added}@example.org"), &name))
            .await
            .unwrap();
        if r.attr("type") == Some("error") {
            break r;
        }
        added += 1;
        assert!(added < 100, "never refused");
    };
    assert_eq!(condition(&refused), "not-allowed");
    assert!(added >= 5, "refused after only {added} items");
    let roster = roster_get(&mut alice).await;
    let bytes = whassap_xml::to_bytes(&roster).len();
    assert!(bytes < 10_000, "the roster result is {bytes} bytes");
    // Names and groups over 1023 bytes are not acceptable at all.
    let long = alice
        .iq(roster_set("x@example.org", &"n".repeat(1024)))
        .await
        .unwrap();
    assert_eq!(condition(&long), "not-acceptable");
    s.stop().await;
}

#[tokio::test]
async fn a_user_owns_at_most_max_pubsub_nodes() {
    let s = TestServer::start_with(|c| c.max_pubsub_nodes_per_user = 2).await;
    s.user("alice").await;
    let mut alice = s.client("alice").await;
    let create = |node: &str| {
        xml(&format!(
            "<iq type='set' to='pubsub.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
             <create node='{node}'/></pubsub></iq>"
        ))
    };
    for node in ["one", "two"] {
        let r = alice.iq(create(node)).await.unwrap();
        assert_eq!(r.attr("type"), Some("result"), "{node}: {r:?}");
    }
    let r = alice.iq(create("three")).await.unwrap();
    assert_eq!(condition(&r), "not-allowed");
    // Publishing to a PEP node that does not exist would create one.
    let publish = xml(
        "<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <publish node='urn:example:mood'><item id='current'><mood xmlns='urn:example:mood'/></item>\
         </publish></pubsub></iq>",
    );
    let r = alice.iq(publish).await.unwrap();
    assert_eq!(condition(&r), "not-allowed");
    // Nothing was created.
    let items = alice
        .iq(xml(
            "<iq type='get' to='pubsub.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
        ))
        .await
        .unwrap();
    let nodes: Vec<&str> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .unwrap()
        .children()
        .filter_map(|i| i.attr("node"))
        .collect();
    assert!(!nodes.contains(&"three"), "{nodes:?}");
    s.stop().await;
}
