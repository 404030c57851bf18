//! Federation with ejabberd (Debian's `ejabberd`, started by the test with
//! its own configuration, spool, logs and Erlang node name): chat and
//! subscriptions both ways, and a slixmpp user on ejabberd following a
//! Whassap user's statuses. Skipped, loudly, when ejabberd is not
//! installed, unless WHASSAP_TEST_REQUIRE_INTEROP=1 (CI).

use std::time::Duration;

use minidom::Element;
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};
use whassap_tests::peers::{have, Ejabberd, SlixmppFollower};
use whassap_tests::*;

/// ejabberd finds `whassap.test` on port 5269 of Whassap's address through
/// its `inetrc` hosts; each test has its own pair of addresses.
const CHAT_IPS: (&str, &str) = ("127.0.0.12", "127.0.0.13");
const FOLLOW_IPS: (&str, &str) = ("127.0.0.14", "127.0.0.15");

fn ejabberd_missing(test: &str) -> bool {
    if have("ejabberdctl") {
        return false;
    }
    skip_interop(test, "ejabberd is not installed (apt-get install ejabberd)");
    true
}

async fn peers(ips: (&str, &str)) -> (Ejabberd, TestServer) {
    let e = Ejabberd::start(
        "ejabberd.test",
        ips.1,
        &[("whassap.test", ips.0), ("pubsub.whassap.test", ips.0)],
    )
    .await;
    let s2s = e.s2s;
    let w = TestServer::start_with(|c| {
        c.domain = "whassap.test".into();
        c.s2s_listen = format!("{}:5269", ips.0);
        c.s2s_route = vec![format!("ejabberd.test={s2s}")];
        c.s2s_timeout_secs = 15;
    })
    .await;
    (e, w)
}

async fn expect(c: &mut Client, what: &str, e: &Ejabberd, f: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await.expect("connection alive") {
            Some(el) if f(&el) => return el,
            Some(_) => continue,
            None => panic!("no {what} within 15 s; ejabberd's log:\n{}", e.log()),
        }
    }
}

#[tokio::test]
async fn whassap_and_ejabberd_users_chat_and_subscribe_both_ways() {
    if ejabberd_missing("whassap_and_ejabberd_users_chat_and_subscribe_both_ways") {
        return;
    }
    let (e, w) = peers(CHAT_IPS).await;
    w.user("alice").await;
    e.register("ed", PASSWORD);
    let mut alice = w.client("alice").await;
    let mut ed = Client::connect(ConnectOptions {
        addr: e.c2s,
        domain: e.domain.clone(),
        username: "ed".into(),
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
    .unwrap_or_else(|err| panic!("login to ejabberd: {err}\n{}", e.log()));
    get_roster(&mut alice).await;
    ed.iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    go_online(&mut alice).await;
    ed.send(&xml("<presence/>")).await.unwrap();

    alice
        .send(&xml(
            "<message to='ed@ejabberd.test' type='chat'><body>hi ed</body></message>",
        ))
        .await
        .unwrap();
    let m = expect(&mut ed, "alice's message", &e, |el| el.name() == "message").await;
    assert_eq!(m.attr("from"), Some(alice.jid()));
    ed.send(&xml(
        "<message to='alice@whassap.test' type='chat'><body>hi alice</body></message>",
    ))
    .await
    .unwrap();
    let m = expect(&mut alice, "ed's message", &e, |el| {
        el.name() == "message"
            && el
                .attr("from")
                .is_some_and(|f| f.starts_with("ed@ejabberd.test"))
    })
    .await;
    assert_eq!(
        m.get_child("body", "jabber:client")
            .map(|b| b.text())
            .as_deref(),
        Some("hi alice")
    );

    alice
        .send(&xml("<presence to='ed@ejabberd.test' type='subscribe'/>"))
        .await
        .unwrap();
    expect(&mut ed, "alice's request", &e, |el| {
        el.attr("type") == Some("subscribe")
    })
    .await;
    ed.send(&xml(
        "<presence to='alice@whassap.test' type='subscribed'/>",
    ))
    .await
    .unwrap();
    expect(&mut alice, "ed's approval", &e, |el| {
        el.attr("type") == Some("subscribed") && el.attr("from") == Some("ed@ejabberd.test")
    })
    .await;
    ed.send(&xml("<presence to='alice@whassap.test' type='subscribe'/>"))
        .await
        .unwrap();
    expect(&mut alice, "ed's request", &e, |el| {
        el.attr("type") == Some("subscribe")
    })
    .await;
    alice
        .send(&xml("<presence to='ed@ejabberd.test' type='subscribed'/>"))
        .await
        .unwrap();
    expect(&mut ed, "alice's presence", &e, |el| {
        el.name() == "presence" && el.attr("from") == Some(alice.jid()) && el.attr("type").is_none()
    })
    .await;
    let links = w.app().server.s2s.list();
    for direction in ["in", "out"] {
        assert!(
            links
                .iter()
                .any(|l| l.domain == "ejabberd.test" && l.direction == direction && l.tls),
            "{direction}: {links:?}"
        );
    }
    w.stop().await;
}

#[tokio::test]
async fn a_slixmpp_user_on_ejabberd_follows_statuses_set_on_the_web_page_and_chats() {
    let test = "a_slixmpp_user_on_ejabberd_follows_statuses_set_on_the_web_page_and_chats";
    if ejabberd_missing(test) {
        return;
    }
    if !slixmpp_available() {
        skip_interop(
            test,
            "slixmpp is not installed (pip install -r interop/requirements.txt)",
        );
        return;
    }
    let (e, w) = peers(FOLLOW_IPS).await;
    let web = whassap_tests::web::Web::new(w.http);
    web.sign_up("alice").await;
    e.register("eve", PASSWORD);
    let mut eve =
        SlixmppFollower::start(e.c2s, "eve@ejabberd.test", PASSWORD, "alice@whassap.test")
            .await
            .unwrap_or_else(|err| panic!("slixmpp on ejabberd: {err}\n{}", e.log()));
    eve.say("expect set on the web page").await;
    web.set_status("set on the web page").await;
    let got = eve.answer().await;
    let ms: u64 = got
        .strip_prefix("GOT ")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{got}\n{}", e.log()));
    eprintln!("web page → slixmpp on ejabberd: {ms} ms");

    let mut alice = w.client("alice").await;
    go_online(&mut alice).await;
    eve.say("chat hello alice, from ejabberd.test").await;
    let m = expect(&mut alice, "eve's message", &e, |el| {
        el.name() == "message"
            && el
                .attr("from")
                .is_some_and(|f| f.starts_with("eve@ejabberd.test/"))
    })
    .await;
    let from = m.attr("from").unwrap().to_string();
    alice
        .send(&xml(&format!(
            "<message to='{from}' type='chat'><body>hello eve</body></message>"
        )))
        .await
        .unwrap();
    assert_eq!(eve.answer().await, "REPLY hello eve");
    eve.say("quit").await;
    w.stop().await;
}
