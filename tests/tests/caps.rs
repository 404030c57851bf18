//! XEP-0115: the server (the account's PEP service) asks a client for the
//! features behind an unknown caps hash, verifies the answer against the
//! hash, and caches verified hashes for every session.

use std::time::Duration;

use minidom::Element;
use whassap_client::Client;
use whassap_tests::*;

const NODE: &str = "https://example.org/client";
/// XEP-0115 §5.2's example: this disco#info hashes to this ver.
const VER: &str = "QgayPKawpkPSDYmwT/WM94uAlu0=";
const INFO: &str = "<identity category='client' name='Exodus 0.9.1' type='pc'/>\
    <feature var='http://jabber.org/protocol/caps'/>\
    <feature var='http://jabber.org/protocol/disco#info'/>\
    <feature var='http://jabber.org/protocol/disco#items'/>\
    <feature var='http://jabber.org/protocol/muc'/>";

fn presence_with_caps(ver: &str) -> Element {
    xml(&format!("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='{NODE}' ver='{ver}'/></presence>"))
}

/// Wait for the server's disco#info query and answer it with `info`.
async fn answer_caps_query(c: &mut Client, ver: &str, info: &str) {
    let q = recv_matching(c, "caps query", |e| {
        e.name() == "iq" && e.attr("type") == Some("get")
    })
    .await;
    // Asked by the account's own PEP service, from its bare JID.
    let own_bare = c.jid().split('/').next().unwrap().to_string();
    assert_eq!(q.attr("from"), Some(own_bare.as_str()));
    let query = q
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("disco#info query");
    assert_eq!(query.attr("node"), Some(format!("{NODE}#{ver}").as_str()));
    let id = q.attr("id").unwrap();
    c.send_raw(
        format!(
            "<iq type='result' to='{own_bare}' id='{id}'><query xmlns='http://jabber.org/protocol/disco#info' node='{NODE}#{ver}'>{info}</query></iq>"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
}

async fn wait_for(f: impl Fn() -> bool) -> bool {
    for _ in 0..50 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn unknown_caps_are_queried_verified_and_cached() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let server = s.app().server.clone();
    let mut a = s.client("alice").await;
    a.send(&presence_with_caps(VER)).await.unwrap();
    answer_caps_query(&mut a, VER, INFO).await;
    assert!(
        wait_for(|| server.caps.features(VER).is_some()).await,
        "verified caps are cached"
    );
    assert!(server
        .caps
        .features(VER)
        .unwrap()
        .contains("http://jabber.org/protocol/muc"));

    // A second client with the same hash is not asked again.
    let mut b = s.client("bob").await;
    b.send(&presence_with_caps(VER)).await.unwrap();
    recv_named(&mut b, "presence").await;
    assert_nothing(&mut b, Duration::from_millis(400)).await;
    let session = server.registry.sessions("bob@localhost").pop().unwrap();
    assert!(
        server.caps.session_features(&session).is_some(),
        "bob's features are known from the cache"
    );
    s.stop().await;
}

#[tokio::test]
async fn caps_that_do_not_match_their_hash_are_not_cached() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let server = s.app().server.clone();
    let mut a = s.client("alice").await;
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    a.send(&presence_with_caps(forged)).await.unwrap();
    answer_caps_query(&mut a, forged, INFO).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.caps.features(forged).is_none(),
        "a hash that does not verify is not trusted"
    );
    s.stop().await;
}
