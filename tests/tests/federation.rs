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

    // Per-peer counters on /metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", a.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "whassap_s2s_stanzas_out_total{peer=\"b.test\"}",
        "whassap_s2s_stanzas_in_total{peer=\"b.test\"}",
    ] {
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .unwrap_or_else(|| panic!("{line} in {metrics}"));
        assert!(value.trim().parse::<u64>().unwrap() >= 1, "{line}{value}");
    }

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

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const MICROBLOG: &str = "urn:xmpp:microblog:0";
const ATOM: &str = "http://www.w3.org/2005/Atom";

async fn result(c: &mut Client, s: &str) -> Element {
    let r = c.iq(xml(s)).await.expect("iq answered");
    assert_eq!(
        r.attr("type"),
        Some("result"),
        "{s}\n-> {}",
        String::from_utf8_lossy(&whassap_xml::to_bytes(&r))
    );
    r
}

/// The `<item/>` of a microblog event.
fn item_of(m: &Element) -> Option<&Element> {
    let items = m.get_child("event", EVENT)?.get_child("items", EVENT)?;
    (items.attr("node") == Some(MICROBLOG))
        .then(|| items.get_child("item", EVENT))
        .flatten()
}

/// The next microblog event carrying item `id`.
async fn event_item(c: &mut Client, id: &str) -> Element {
    expect(c, "the PEP event", |m| {
        item_of(m).is_some_and(|i| i.attr("id") == Some(id))
    })
    .await
}

#[tokio::test]
async fn a_remote_user_follows_statuses_and_reads_past_ones() {
    use whassap_tests::rest::{Api, Cred};
    let (a, b) = federated_pair(|_| {}).await;
    let api = Api::new(a.http);
    api.sign_up("alice").await;
    let alice = Cred::Basic("alice".into(), PASSWORD.into());
    b.user("bob").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;

    let first = api.post_status(&alice, "first, before bob follows").await;
    // bob, on another server, subscribes to alice's microblog node.
    result(
        &mut bob,
        &format!(
            "<iq type='set' to='alice@a.test'><pubsub xmlns='{PUBSUB}'><subscribe node='{MICROBLOG}' jid='bob@b.test'/></pubsub></iq>"
        ),
    )
    .await;
    // On subscribing, the node's last item (XEP-0060 §7.1.2.2).
    let last = event_item(&mut bob, first["id"].as_str().unwrap()).await;
    assert_eq!(last.attr("from"), Some("alice@a.test"));
    let second = api.post_status(&alice, "second, bob follows").await;
    let m = event_item(&mut bob, second["id"].as_str().unwrap()).await;
    assert_eq!(m.attr("from"), Some("alice@a.test"));
    let item = item_of(&m).unwrap();
    let title = item
        .get_child("entry", ATOM)
        .and_then(|e| e.get_child("title", ATOM))
        .map(|t| t.text());
    assert_eq!(title.as_deref(), Some("second, bob follows"));

    // The node's items, asked for across servers.
    let items = result(
        &mut bob,
        &format!(
            "<iq type='get' to='alice@a.test'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'/></pubsub></iq>"
        ),
    )
    .await;
    let ids: Vec<&str> = items
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .map(|i| i.children().filter_map(|c| c.attr("id")).collect())
        .unwrap_or_default();
    assert!(ids.contains(&first["id"].as_str().unwrap()), "{ids:?}");
    assert!(ids.contains(&second["id"].as_str().unwrap()), "{ids:?}");

    // And the server's disco across servers.
    let info = result(
        &mut bob,
        "<iq type='get' to='a.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    )
    .await;
    assert!(info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .is_some_and(|q| q.children().any(|f| f.attr("var") == Some("urn:xmpp:ping"))));
    a.stop().await;
    b.stop().await;
}

/// A fake server for `evil.test`: as its authoritative server, it says
/// every dialback key is valid.
async fn lenient_authority(listener: tokio::net::TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut raw = Raw::from_stream(tcp);
            loop {
                match raw.next().await {
                    RawEvent::Header => {
                        raw.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='evil.test' id='fake' version='1.0'><stream:features/>").await;
                    }
                    RawEvent::Element(el) if el.name() == "verify" => {
                        raw.send(format!(
                            "<db:verify from='evil.test' to='a.test' id='{}' type='valid'/>",
                            el.attr("id").unwrap_or("")
                        ))
                        .await;
                    }
                    RawEvent::Element(_) => {}
                    RawEvent::Closed => return,
                }
            }
        });
    }
}

#[tokio::test]
async fn a_peer_that_spoofs_from_is_cut_off() {
    let evil = tokio::net::TcpListener::bind("127.0.0.4:0").await.unwrap();
    let evil_addr = evil.local_addr().unwrap();
    tokio::spawn(lenient_authority(evil));
    let (a, b) = federated_pair(|c| {
        c.s2s_allow_plaintext = true;
        c.s2s_route.push(format!("evil.test={evil_addr}"));
    })
    .await;
    a.user("alice").await;
    let mut alice = a.client("alice").await;
    go_online(&mut alice).await;

    let mut peer = Raw::connect(a.s2s.unwrap()).await;
    peer.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='evil.test' to='a.test' version='1.0'>").await;
    let features = peer.element().await;
    assert_eq!(features.name(), "features");
    peer.send("<db:result from='evil.test' to='a.test'>anything</db:result>")
        .await;
    let answer = peer.element().await;
    assert_eq!(
        (answer.name(), answer.attr("type")),
        ("result", Some("valid"))
    );
    // Its own users may send...
    peer.send("<message from='eve@evil.test/x' to='alice@a.test' type='chat'><body>hi from evil.test</body></message>").await;
    let m = expect(&mut alice, "eve's message", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some("eve@evil.test/x"));
    // ...but not in another domain's name.
    peer.send("<message from='bob@b.test/x' to='alice@a.test' type='chat'><body>I am bob</body></message>").await;
    assert_eq!(peer.stream_error().await, "invalid-from");
    assert_nothing(&mut alice, Duration::from_millis(300)).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn an_unauthenticated_peer_gets_nothing_through() {
    let (a, b) = federated_pair(|c| c.s2s_allow_plaintext = true).await;
    a.user("alice").await;
    let mut alice = a.client("alice").await;
    go_online(&mut alice).await;
    let mut peer = Raw::connect(a.s2s.unwrap()).await;
    peer.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>").await;
    peer.element().await;
    peer.send("<message from='bob@b.test/x' to='alice@a.test' type='chat'><body>no dialback</body></message>").await;
    assert_eq!(peer.stream_error().await, "not-authorized");
    // A wrong key is refused too (b.test's own server says so).
    let mut peer = Raw::connect(a.s2s.unwrap()).await;
    peer.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>").await;
    peer.element().await;
    peer.send("<db:result from='b.test' to='a.test'>0123456789abcdef</db:result>")
        .await;
    let answer = peer.element().await;
    assert_eq!(answer.attr("type"), Some("invalid"));
    assert_eq!(peer.stream_error().await, "not-authorized");
    assert_nothing(&mut alice, Duration::from_millis(300)).await;
    a.stop().await;
    b.stop().await;
}

/// The error condition of a bounced stanza.
fn condition(el: &Element) -> Option<String> {
    el.get_child("error", "jabber:client")?
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas")
        .map(|c| c.name().to_string())
}

/// A listener that accepts connections and never says a word.
async fn silent_peer(ip: &str) -> std::net::SocketAddr {
    let silent = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    addr
}

#[tokio::test]
async fn a_dead_peer_bounces_at_once_and_a_silent_one_after_the_timeout() {
    let down = free_port("127.0.0.5");
    let silent = silent_peer("127.0.0.6").await;
    let (a, b) = federated_pair(|c| {
        c.s2s_timeout_secs = 1;
        c.s2s_route.push(format!("down.test=127.0.0.5:{down}"));
        c.s2s_route.push(format!("silent.test={silent}"));
    })
    .await;
    a.user("alice").await;
    let mut alice = a.client("alice").await;
    for (to, id) in [("x@silent.test", "s1"), ("x@down.test", "d1")] {
        alice
            .send(&xml(&format!(
                "<message to='{to}' id='{id}' type='chat'><body>1</body></message>"
            )))
            .await
            .unwrap();
    }
    let bounced = expect(&mut alice, "down.test's bounce", |e| {
        e.attr("id") == Some("d1")
    })
    .await;
    assert_eq!(bounced.attr("from"), Some("x@down.test"));
    assert_eq!(
        condition(&bounced).as_deref(),
        Some("remote-server-not-found")
    );
    let bounced = expect(&mut alice, "silent.test's bounce", |e| {
        e.attr("id") == Some("s1")
    })
    .await;
    assert_eq!(
        condition(&bounced).as_deref(),
        Some("remote-server-timeout")
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_silent_peer_delays_neither_local_traffic_nor_other_peers() {
    let silent = silent_peer("127.0.0.7").await;
    // The default timeout (60 s): silent.test stays pending all along.
    let (a, b) = federated_pair(|c| {
        c.s2s_timeout_secs = 60;
        c.s2s_route.push(format!("silent.test={silent}"));
    })
    .await;
    a.user("alice").await;
    a.user("carol").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut carol = a.client("carol").await;
    let mut bob = b.client("bob").await;
    go_online(&mut carol).await;
    go_online(&mut bob).await;
    for i in 0..50 {
        alice
            .send(&xml(&format!(
                "<message to='x@silent.test' type='chat'><body>{i}</body></message>"
            )))
            .await
            .unwrap();
    }
    alice
        .send(&xml(
            "<message to='carol@a.test' type='chat'><body>local</body></message>",
        ))
        .await
        .unwrap();
    expect(&mut carol, "the local message", |e| e.name() == "message").await;
    alice
        .send(&xml(
            "<message to='bob@b.test' type='chat'><body>remote</body></message>",
        ))
        .await
        .unwrap();
    expect(&mut bob, "the message to b.test", |e| e.name() == "message").await;
    let links = a.app().server.s2s.list();
    let pending = links
        .iter()
        .find(|l| l.domain == "silent.test")
        .expect("silent.test is listed");
    assert_eq!(
        (pending.auth.as_str(), pending.queued),
        ("none", 50),
        "{links:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_peer_that_comes_back_gets_what_is_sent_next() {
    let (a, b) = federated_pair(|c| c.s2s_timeout_secs = 2).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    go_online(&mut alice).await;
    b.stop().await;
    alice
        .send(&xml(
            "<message to='bob@b.test' id='m1' type='chat'><body>are you there?</body></message>",
        ))
        .await
        .unwrap();
    let bounced = expect(&mut alice, "the bounce", |e| e.attr("id") == Some("m1")).await;
    assert_eq!(
        condition(&bounced).as_deref(),
        Some("remote-server-not-found")
    );
    // b.test is back on the same address: what is sent now arrives.
    let b_route = a
        .config()
        .s2s_route
        .iter()
        .find_map(|r| r.strip_prefix("b.test="))
        .unwrap()
        .to_string();
    let routes = a.config().s2s_route.clone();
    let b = TestServer::start_with(|c| {
        c.domain = "b.test".into();
        c.s2s_listen = b_route;
        c.s2s_route = routes;
    })
    .await;
    b.user("bob").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    alice
        .send(&xml(
            "<message to='bob@b.test' id='m2' type='chat'><body>welcome back</body></message>",
        ))
        .await
        .unwrap();
    let m = expect(&mut bob, "the message", |e| e.name() == "message").await;
    assert_eq!(m.attr("id"), Some("m2"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_remote_contact_with_notify_caps_gets_statuses_without_subscribing_to_the_node() {
    use whassap_tests::rest::{Api, Cred};
    let (a, b) = federated_pair(|_| {}).await;
    let api = Api::new(a.http);
    api.sign_up("alice").await;
    let alice_cred = Cred::Basic("alice".into(), PASSWORD.into());
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    get_roster(&mut alice).await;
    get_roster(&mut bob).await;
    go_online(&mut alice).await;
    go_online(&mut bob).await;
    subscribe(&mut alice, &mut bob, "alice@a.test", "bob@b.test").await;
    subscribe(&mut bob, &mut alice, "bob@b.test", "alice@a.test").await;
    // bob's client says it wants microblog events (XEP-0115 +notify), and
    // answers the caps query alice's PEP service sends across servers.
    advertise_microblog(&mut bob).await;
    let st = api
        .post_status(&alice_cred, "to my contacts everywhere")
        .await;
    let m = event_item(&mut bob, st["id"].as_str().unwrap()).await;
    assert_eq!(m.attr("from"), Some("alice@a.test"));
    assert_eq!(m.attr("to"), Some(bob.jid()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_firehose_and_the_bot_answer_remote_users() {
    use whassap_tests::rest::{Api, Cred};
    let (a, b) = federated_pair(|_| {}).await;
    let api = Api::new(a.http);
    api.sign_up("alice").await;
    let alice = Cred::Basic("alice".into(), PASSWORD.into());
    b.user("bob").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    result(
        &mut bob,
        &format!(
            "<iq type='set' to='pubsub.a.test'><pubsub xmlns='{PUBSUB}'><subscribe node='firehose' jid='bob@b.test'/></pubsub></iq>"
        ),
    )
    .await;
    let st = api.post_status(&alice, "for the whole network").await;
    let m = expect(&mut bob, "the firehose event", |m| {
        m.get_child("event", EVENT)
            .and_then(|e| e.get_child("items", EVENT))
            .and_then(|i| i.get_child("item", EVENT))
            .is_some_and(|i| i.attr("id") == st["id"].as_str())
    })
    .await;
    assert_eq!(m.attr("from"), Some("pubsub.a.test"));

    // The bot takes statuses from local users only, and says so.
    bob.send(&xml(
        "<message to='whassap@a.test' type='chat'><body>my status</body></message>",
    ))
    .await
    .unwrap();
    let answer = expect(&mut bob, "the bot's answer", |m| {
        m.name() == "message"
            && m.attr("from")
                .is_some_and(|f| f.starts_with("whassap@a.test"))
    })
    .await;
    let text = body(&answer).unwrap_or_default();
    assert!(text.contains("a.test"), "{text}");
    let posted = &a.app().server.metrics.statuses_posted;
    assert_eq!(
        whassap_server::metrics::Metrics::get(posted),
        1,
        "only alice's status was posted"
    );
    a.stop().await;
    b.stop().await;
}

/// Read until the server closes the connection; whether it did within `d`.
async fn closed_within(tcp: &mut tokio::net::TcpStream, d: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(d, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_peer_that_stalls_in_tls_or_never_authenticates_is_closed() {
    let (a, b) = federated_pair(|c| c.auth_timeout_secs = 1).await;
    use tokio::io::AsyncWriteExt;
    // Asks for TLS, then sends nothing of the handshake.
    let mut stalled = tokio::net::TcpStream::connect(a.s2s.unwrap())
        .await
        .unwrap();
    stalled.write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await.unwrap();
    // Opens a stream and then says nothing.
    let mut silent = Raw::connect(a.s2s.unwrap()).await;
    silent.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' version='1.0'>").await;
    assert_eq!(silent.stream_error().await, "connection-timeout");
    assert!(
        closed_within(&mut stalled, WAIT).await,
        "a TLS handshake that never comes is cut off"
    );
    // Meanwhile federation works.
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    alice
        .send(&xml(
            "<message to='bob@b.test' type='chat'><body>still here</body></message>",
        ))
        .await
        .unwrap();
    expect(&mut bob, "the message", |e| e.name() == "message").await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_peer_that_sends_too_large_a_stanza_is_cut_off() {
    let evil = tokio::net::TcpListener::bind("127.0.0.20:0").await.unwrap();
    let evil_addr = evil.local_addr().unwrap();
    tokio::spawn(lenient_authority(evil));
    let (a, b) = federated_pair(|c| {
        c.s2s_allow_plaintext = true;
        c.max_stanza_bytes = 10_000;
        c.s2s_route.push(format!("evil.test={evil_addr}"));
    })
    .await;
    a.user("alice").await;
    let mut alice = a.client("alice").await;
    go_online(&mut alice).await;
    let mut peer = Raw::connect(a.s2s.unwrap()).await;
    peer.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='evil.test' to='a.test' version='1.0'>").await;
    peer.element().await;
    peer.send("<db:result from='evil.test' to='a.test'>k</db:result>")
        .await;
    assert_eq!(peer.element().await.attr("type"), Some("valid"));
    let big = "x".repeat(20_000);
    peer.send(format!(
        "<message from='eve@evil.test/x' to='alice@a.test' type='chat'><body>{big}</body></message>"
    ))
    .await;
    assert_eq!(peer.stream_error().await, "policy-violation");
    assert_nothing(&mut alice, Duration::from_millis(300)).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn servers_find_each_other_through_dns_srv_records() {
    // No static routes: each server asks a DNS server for
    // _xmpp-server._tcp.<domain> and connects where it points.
    let (pa, pb) = (free_port("127.0.0.21"), free_port("127.0.0.22"));
    let dns = whassap_tests::peers::FakeDns::start_srv(&[
        ("a.test", "127.0.0.21", pa),
        ("b.test", "127.0.0.22", pb),
    ])
    .await;
    let server = |domain: &'static str, listen: String| {
        let dns = dns.addr.to_string();
        move |c: &mut whassap::config::Config| {
            c.domain = domain.into();
            c.s2s_listen = listen;
            c.s2s_dns_server = dns;
        }
    };
    let a = TestServer::start_with(server("a.test", format!("127.0.0.21:{pa}"))).await;
    let b = TestServer::start_with(server("b.test", format!("127.0.0.22:{pb}"))).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    alice
        .send(&xml(
            "<message to='bob@b.test' type='chat'><body>found you</body></message>",
        ))
        .await
        .unwrap();
    let m = expect(&mut bob, "the message", |e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("found you"));
    // A domain without records: bounced at once.
    alice
        .send(&xml(
            "<message to='x@nowhere.test' id='n1' type='chat'><body>?</body></message>",
        ))
        .await
        .unwrap();
    let bounced = expect(&mut alice, "the bounce", |e| e.attr("id") == Some("n1")).await;
    assert_eq!(
        condition(&bounced).as_deref(),
        Some("remote-server-not-found")
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn idle_s2s_connections_are_closed_and_reopened_when_needed() {
    let (a, b) = federated_pair(|c| c.s2s_idle_secs = 1).await;
    a.user("alice").await;
    b.user("bob").await;
    let mut alice = a.client("alice").await;
    let mut bob = b.client("bob").await;
    go_online(&mut bob).await;
    for text in ["before", "after"] {
        alice
            .send(&xml(&format!(
                "<message to='bob@b.test' type='chat'><body>{text}</body></message>"
            )))
            .await
            .unwrap();
        let m = expect(&mut bob, "the message", |e| e.name() == "message").await;
        assert_eq!(body(&m).as_deref(), Some(text));
        // Nothing moves: both ends close the link after the idle time.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !a.app().server.s2s.list().is_empty() || !b.app().server.s2s.list().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "still open: {:?}",
                a.app().server.s2s.list()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    a.stop().await;
    b.stop().await;
}
