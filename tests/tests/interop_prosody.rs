//! Federation with Prosody (Debian's `prosody`, started by the test with
//! its own configuration, data dir and address): chat, presence
//! subscriptions and statuses both ways over STARTTLS and dialback (both
//! servers have self-signed certificates). Skipped, loudly, when Prosody is
//! not installed, unless WHASSAP_TEST_REQUIRE_INTEROP=1 (CI), which makes
//! that a failure.

use std::time::Duration;

use minidom::Element;
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};
use whassap_tests::peers::{have, Prosody};
use whassap_tests::*;

/// Prosody has no static routes: it finds `whassap.test` on port 5269 of
/// Whassap's address through its hosts file. Each test has its own pair of
/// addresses (tests run in parallel).
const CHAT_IPS: (&str, &str) = ("127.0.0.9", "127.0.0.8");
const FOLLOW_IPS: (&str, &str) = ("127.0.0.11", "127.0.0.10");

/// Prosody for `prosody.test` on `ips.1`, finding Whassap on `ips.0`.
async fn prosody(ips: (&str, &str)) -> Prosody {
    Prosody::start(
        "prosody.test",
        ips.1,
        &[("whassap.test", ips.0), ("pubsub.whassap.test", ips.0)],
    )
    .await
}

fn prosody_missing(test: &str) -> bool {
    if have("prosody") && have("prosodyctl") {
        return false;
    }
    skip_interop(test, "prosody is not installed (apt-get install prosody)");
    true
}

/// Whassap for `whassap.test` on `ip`, federated, with a route to the peer.
async fn whassap(ip: &str, peer_domain: &str, peer: std::net::SocketAddr) -> TestServer {
    TestServer::start_with(|c| {
        c.domain = "whassap.test".into();
        c.s2s_listen = format!("{ip}:5269");
        c.s2s_route = vec![format!("{peer_domain}={peer}")];
        c.s2s_timeout_secs = 10;
    })
    .await
}

/// A client of a Prosody user.
async fn prosody_client(p: &Prosody, user: &str) -> Client {
    p.register(user, PASSWORD);
    Client::connect(ConnectOptions {
        addr: p.c2s,
        domain: p.domain.clone(),
        username: user.into(),
        password: PASSWORD.into(),
        resource: None,
        tls: TlsMode::StartTls,
        mechanism: Mechanism::ScramSha1,
        accept_invalid_certs: true,
        timeout: WAIT,
        source_addr: None,
        scram_cache: None,
    })
    .await
    .unwrap_or_else(|e| panic!("login to Prosody: {e}\n{}", p.log()))
}

async fn expect(c: &mut Client, what: &str, p: &Prosody, f: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await.expect("connection alive") {
            Some(el) if f(&el) => return el,
            Some(_) => continue,
            None => panic!("no {what} within 10 s; Prosody's log:\n{}", p.log()),
        }
    }
}

#[tokio::test]
async fn whassap_and_prosody_users_chat_and_subscribe_both_ways() {
    if prosody_missing("whassap_and_prosody_users_chat_and_subscribe_both_ways") {
        return;
    }
    let prosody = prosody(CHAT_IPS).await;
    let w = whassap(CHAT_IPS.0, "prosody.test", prosody.s2s).await;
    w.user("alice").await;
    let mut alice = w.client("alice").await;
    let mut pat = prosody_client(&prosody, "pat").await;
    get_roster(&mut alice).await;
    pat.iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    go_online(&mut alice).await;
    pat.send(&xml("<presence/>")).await.unwrap();

    // Whassap → Prosody.
    alice
        .send(&xml(
            "<message to='pat@prosody.test' type='chat'><body>hi pat</body></message>",
        ))
        .await
        .unwrap();
    let m = expect(&mut pat, "alice's message", &prosody, |e| {
        e.name() == "message"
    })
    .await;
    assert_eq!(m.attr("from"), Some(alice.jid()));
    // Prosody → Whassap.
    pat.send(&xml(
        "<message to='alice@whassap.test' type='chat'><body>hi alice</body></message>",
    ))
    .await
    .unwrap();
    let m = expect(&mut alice, "pat's message", &prosody, |e| {
        e.name() == "message"
    })
    .await;
    assert_eq!(
        m.get_child("body", "jabber:client")
            .map(|b| b.text())
            .as_deref(),
        Some("hi alice")
    );

    // Subscriptions both ways.
    alice
        .send(&xml("<presence to='pat@prosody.test' type='subscribe'/>"))
        .await
        .unwrap();
    expect(&mut pat, "alice's request", &prosody, |e| {
        e.attr("type") == Some("subscribe")
    })
    .await;
    pat.send(&xml(
        "<presence to='alice@whassap.test' type='subscribed'/>",
    ))
    .await
    .unwrap();
    expect(&mut alice, "pat's approval", &prosody, |e| {
        e.attr("type") == Some("subscribed") && e.attr("from") == Some("pat@prosody.test")
    })
    .await;
    pat.send(&xml("<presence to='alice@whassap.test' type='subscribe'/>"))
        .await
        .unwrap();
    expect(&mut alice, "pat's request", &prosody, |e| {
        e.attr("type") == Some("subscribe")
    })
    .await;
    alice
        .send(&xml("<presence to='pat@prosody.test' type='subscribed'/>"))
        .await
        .unwrap();
    expect(&mut pat, "alice's presence", &prosody, |e| {
        e.name() == "presence" && e.attr("from") == Some(alice.jid()) && e.attr("type").is_none()
    })
    .await;

    let links = w.app().server.s2s.list();
    for direction in ["in", "out"] {
        assert!(
            links.iter().any(|l| l.domain == "prosody.test"
                && l.direction == direction
                && l.tls
                && l.auth == "dialback"),
            "{direction}: {links:?}"
        );
    }
    w.stop().await;
}

#[tokio::test]
async fn a_slixmpp_user_on_prosody_follows_statuses_set_on_the_web_page_and_chats() {
    let test = "a_slixmpp_user_on_prosody_follows_statuses_set_on_the_web_page_and_chats";
    if prosody_missing(test) {
        return;
    }
    if !slixmpp_available() {
        skip_interop(
            test,
            "slixmpp is not installed (pip install -r interop/requirements.txt)",
        );
        return;
    }
    let prosody = prosody(FOLLOW_IPS).await;
    let w = whassap(FOLLOW_IPS.0, "prosody.test", prosody.s2s).await;
    let web = whassap_tests::web::Web::new(w.http);
    web.sign_up("alice").await;
    prosody.register("sam", PASSWORD);
    let mut sam = whassap_tests::peers::SlixmppFollower::start(
        prosody.c2s,
        "sam@prosody.test",
        PASSWORD,
        "alice@whassap.test",
    )
    .await
    .unwrap_or_else(|e| panic!("slixmpp on Prosody: {e}\n{}", prosody.log()));

    // A status set on the web page reaches sam on Prosody.
    sam.say("expect set on the web page").await;
    web.set_status("set on the web page").await;
    let got = sam.answer().await;
    let ms: u64 = got
        .strip_prefix("GOT ")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{got}\n{}", prosody.log()));
    eprintln!("web page → slixmpp on Prosody: {ms} ms");

    // And they chat.
    let mut alice = w.client("alice").await;
    go_online(&mut alice).await;
    sam.say("chat hello alice, from prosody.test").await;
    let m = expect(&mut alice, "sam's message", &prosody, |e| {
        e.name() == "message"
            && e.attr("from")
                .is_some_and(|f| f.starts_with("sam@prosody.test/"))
    })
    .await;
    let from = m.attr("from").unwrap().to_string();
    alice
        .send(&xml(&format!(
            "<message to='{from}' type='chat'><body>hello sam</body></message>"
        )))
        .await
        .unwrap();
    assert_eq!(sam.answer().await, "REPLY hello sam");
    sam.say("quit").await;
    w.stop().await;
}

const EXTERNAL_IPS: (&str, &str) = ("127.0.0.19", "127.0.0.18");

#[tokio::test]
async fn with_certificates_from_a_ca_both_trust_prosody_and_whassap_use_sasl_external() {
    let test = "with_certificates_from_a_ca_both_trust_prosody_and_whassap_use_sasl_external";
    if prosody_missing(test) {
        return;
    }
    let ca = whassap_tests::peers::TestCa::new();
    let (p_cert, p_key) = ca.issue(&["prosody.test"]);
    let (w_cert, w_key) = ca.issue(&["whassap.test", "pubsub.whassap.test"]);
    let prosody = Prosody::start_with_ca(
        "prosody.test",
        EXTERNAL_IPS.1,
        &[
            ("whassap.test", EXTERNAL_IPS.0),
            ("pubsub.whassap.test", EXTERNAL_IPS.0),
        ],
        Some(whassap_tests::peers::ProsodyTls {
            cert: p_cert,
            key: p_key,
            ca: ca.cert.clone(),
        }),
    )
    .await;
    let peer = prosody.s2s;
    let w = TestServer::start_with(|c| {
        c.domain = "whassap.test".into();
        c.tls_cert = w_cert.display().to_string();
        c.tls_key = w_key.display().to_string();
        c.s2s_listen = format!("{}:5269", EXTERNAL_IPS.0);
        c.s2s_route = vec![format!("prosody.test={peer}")];
        c.s2s_ca = ca.cert.display().to_string();
        // No dialback on this side either.
        c.s2s_require_valid_certs = true;
        c.s2s_timeout_secs = 10;
    })
    .await;
    w.user("alice").await;
    let mut alice = w.client("alice").await;
    let mut pat = prosody_client(&prosody, "pat").await;
    go_online(&mut alice).await;
    pat.send(&xml("<presence/>")).await.unwrap();
    alice
        .send(&xml(
            "<message to='pat@prosody.test' type='chat'><body>certified</body></message>",
        ))
        .await
        .unwrap();
    expect(&mut pat, "alice's message", &prosody, |e| {
        e.name() == "message"
    })
    .await;
    pat.send(&xml(
        "<message to='alice@whassap.test' type='chat'><body>certified too</body></message>",
    ))
    .await
    .unwrap();
    expect(&mut alice, "pat's message", &prosody, |e| {
        e.name() == "message"
            && e.attr("from")
                .is_some_and(|f| f.starts_with("pat@prosody.test"))
    })
    .await;
    let links = w.app().server.s2s.list();
    for direction in ["in", "out"] {
        assert!(
            links.iter().any(|l| l.domain == "prosody.test"
                && l.direction == direction
                && l.auth == "external"),
            "{direction}: {links:?}\n{}",
            prosody.log()
        );
    }
    w.stop().await;
}
