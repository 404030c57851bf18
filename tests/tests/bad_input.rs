//! Bad input gets the right stream or stanza error and changes nothing;
//! a client that stops reading cannot grow the server's memory.

use std::time::Duration;

use whassap_tests::*;

async fn plaintext_server() -> TestServer {
    let s = TestServer::start_with(|c| c.allow_plaintext = true).await;
    s.user("alice").await;
    s.user("bob").await;
    s
}

async fn logged_in(s: &TestServer) -> Raw {
    let mut raw = Raw::connect(s.c2s).await;
    raw.login("alice", PASSWORD).await;
    raw
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let s = plaintext_server().await;
    let mut raw = logged_in(&s).await;
    raw.send("<message to='bob@localhost'><body>oops</message>")
        .await;
    assert_eq!(raw.stream_error().await, "not-well-formed");
    s.stop().await;
}

#[tokio::test]
async fn malformed_xml_before_auth() {
    let s = plaintext_server().await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><a><b></a>").await;
    assert_eq!(raw.stream_error().await, "not-well-formed");
    s.stop().await;
}

#[tokio::test]
async fn oversized_stanza_is_a_policy_violation() {
    let s = plaintext_server().await;
    let mut raw = logged_in(&s).await;
    let body = "x".repeat(300 * 1024);
    raw.send(format!(
        "<message to='bob@localhost'><body>{body}</body></message>"
    ))
    .await;
    assert_eq!(raw.stream_error().await, "policy-violation");
    s.stop().await;
}

#[tokio::test]
async fn deep_nesting_is_refused_without_crashing() {
    let s = plaintext_server().await;
    let mut raw = logged_in(&s).await;
    let depth = 5000;
    raw.send(format!(
        "<message to='bob@localhost'>{}{}</message>",
        "<x>".repeat(depth),
        "</x>".repeat(depth)
    ))
    .await;
    assert_eq!(raw.stream_error().await, "policy-violation");
    // The server is still there.
    let mut again = logged_in(&s).await;
    again
        .send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    assert_eq!(again.element().await.attr("type"), Some("result"));
    s.stop().await;
}

#[tokio::test]
async fn dtd_and_entity_declarations_are_restricted_xml() {
    let s = plaintext_server().await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.send("<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'>]><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>").await;
    let cond = raw.stream_error().await;
    assert_eq!(cond, "restricted-xml");

    let mut raw = logged_in(&s).await;
    raw.send("<?pi data?>").await;
    assert_eq!(raw.stream_error().await, "restricted-xml");
    s.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let s = plaintext_server().await;
    let mut raw = logged_in(&s).await;
    raw.send(b"<message to='bob@localhost'><body>\xff\xfe</body></message>")
        .await;
    let cond = raw.stream_error().await;
    assert!(
        cond == "unsupported-encoding" || cond == "not-well-formed",
        "got {cond}"
    );
    s.stop().await;
}

#[tokio::test]
async fn unknown_top_level_element_is_unsupported_stanza_type() {
    let s = plaintext_server().await;
    let mut raw = logged_in(&s).await;
    raw.send("<foo xmlns='jabber:client'/>").await;
    assert_eq!(raw.stream_error().await, "unsupported-stanza-type");
    s.stop().await;
}

#[tokio::test]
async fn wrong_stream_namespace_and_host() {
    let s = plaintext_server().await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.send("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>").await;
    assert_eq!(raw.stream_error().await, "invalid-namespace");
    let mut raw = Raw::connect(s.c2s).await;
    raw.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='elsewhere.test' version='1.0'>").await;
    assert_eq!(raw.stream_error().await, "host-unknown");
    s.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected() {
    let s = TestServer::start_with(|c| {
        c.allow_plaintext = true;
        c.session_queue = 16;
    })
    .await;
    s.user("alice").await;
    s.user("bob").await;
    // bob logs in, goes online, and never reads again.
    let mut bob = Raw::connect(s.c2s).await;
    bob.login("bob", PASSWORD).await;
    bob.send("<presence/>").await;
    let server = s.app().server.clone();
    let mut alice = s.client("alice").await;
    let kicked = flood_until_disconnected(
        &mut alice,
        &server,
        "bob@localhost",
        "chat",
        16 * 1024,
        2000,
        50,
    )
    .await;
    assert!(
        kicked,
        "the non-reading session must be closed, not buffered without limit"
    );
    assert!(server
        .metrics
        .render()
        .contains("whassap_slow_consumers_total 1"));
    // Later messages to bob go to offline storage instead.
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop().await;
}

/// An HTTP request, or any other text that is not XML, on the XMPP port
/// gets `not-well-formed` at once (within [`WAIT`], far below the 30 s
/// authentication timeout).
#[tokio::test]
async fn an_http_request_on_the_xmpp_port_is_not_well_formed_at_once() {
    let s = plaintext_server().await;
    for text in [
        "GET / HTTP/1.1\r\nHost: localhost:5222\r\n\r\n",
        "hello\n",
        "  SSH-2.0-OpenSSH_9.2\r\n",
    ] {
        let mut raw = Raw::connect(s.c2s).await;
        raw.send(text).await;
        assert_eq!(raw.stream_error().await, "not-well-formed", "{text:?}");
    }
    s.stop().await;
}
