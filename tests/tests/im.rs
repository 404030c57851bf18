//! Instant messaging (RFC 6121) through real clients: rosters, subscriptions,
//! presence, messages, offline storage, blocking and server queries.

use std::time::Duration;

use minidom::Element;
use whassap_tests::*;

const ROSTER: &str = "jabber:iq:roster";

fn roster_item(iq: &Element) -> Option<&Element> {
    iq.get_child("query", ROSTER)?.get_child("item", ROSTER)
}

#[tokio::test]
async fn roster_set_is_pushed_to_every_interested_resource() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut laptop = s.client_with_resource("alice", "laptop").await;
    let mut phone = s.client_with_resource("alice", "phone").await;
    let first = get_roster(&mut laptop).await;
    let ver0 = first
        .get_child("query", ROSTER)
        .and_then(|q| q.attr("ver"))
        .unwrap()
        .to_string();
    get_roster(&mut phone).await;

    let set = xml("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='nurse@localhost' name='Nurse'><group>Family</group></item></query></iq>");
    let answer = laptop.iq(set).await.unwrap();
    assert_eq!(answer.attr("type"), Some("result"));
    for c in [&mut laptop, &mut phone] {
        let push = recv_matching(c, "roster push", |e| e.attr("type") == Some("set")).await;
        let item = roster_item(&push).expect("pushed item");
        assert_eq!(item.attr("jid"), Some("nurse@localhost"));
        assert_eq!(item.attr("subscription"), Some("none"));
        assert_eq!(item.attr("name"), Some("Nurse"));
        assert!(push
            .get_child("query", ROSTER)
            .and_then(|q| q.attr("ver"))
            .is_some());
    }
    // A client that cached the empty roster (version 1, as Prosody numbers
    // it) gets the whole roster after the first change, which is version 1 too.
    let again = phone
        .iq(xml(&format!(
            "<iq type='get'><query xmlns='jabber:iq:roster' ver='{ver0}'/></iq>"
        )))
        .await
        .unwrap();
    assert!(
        roster_item(&again).is_some(),
        "the first change is not lost"
    );
    // Versioning: the current version gives an empty result, an old one the
    // roster (after a second change: version 1 is always answered in full).
    let set = xml("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='tybalt@localhost'/></query></iq>");
    assert_eq!(laptop.iq(set).await.unwrap().attr("type"), Some("result"));
    recv_matching(&mut phone, "second push", |e| e.attr("type") == Some("set")).await;
    let r = get_roster(&mut phone).await;
    let ver = r
        .get_child("query", ROSTER)
        .and_then(|q| q.attr("ver"))
        .unwrap()
        .to_string();
    assert_eq!(
        roster_item(&r)
            .and_then(|i| i.get_child("group", ROSTER))
            .map(|g| g.text()),
        Some("Family".into())
    );
    let same = phone
        .iq(xml(&format!(
            "<iq type='get'><query xmlns='jabber:iq:roster' ver='{ver}'/></iq>"
        )))
        .await
        .unwrap();
    assert!(
        same.get_child("query", ROSTER).is_none(),
        "unchanged roster is not resent"
    );
    let old = phone
        .iq(xml(&format!(
            "<iq type='get'><query xmlns='jabber:iq:roster' ver='{ver0}'/></iq>"
        )))
        .await
        .unwrap();
    assert!(roster_item(&old).is_some());

    // Remove.
    let rm = laptop.iq(xml("<iq type='set'><query xmlns='jabber:iq:roster'><item jid='nurse@localhost' subscription='remove'/></query></iq>")).await.unwrap();
    assert_eq!(rm.attr("type"), Some("result"));
    let push = recv_matching(&mut phone, "removal push", |e| {
        e.attr("type") == Some("set")
    })
    .await;
    assert_eq!(
        roster_item(&push).and_then(|i| i.attr("subscription")),
        Some("remove")
    );
    let left = get_roster(&mut laptop).await;
    let jids: Vec<_> = left
        .get_child("query", ROSTER)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert_eq!(jids, ["tybalt@localhost"], "nurse is gone");
    s.stop().await;
}

#[tokio::test]
async fn subscription_handshake_gives_both_and_presence_flows() {
    let s = TestServer::start().await;
    let (mut a, mut b) = befriended(&s).await;
    let ra = get_roster(&mut a).await;
    assert_eq!(
        roster_item(&ra).and_then(|i| i.attr("subscription")),
        Some("both")
    );
    let rb = get_roster(&mut b).await;
    assert_eq!(
        roster_item(&rb).and_then(|i| i.attr("subscription")),
        Some("both")
    );

    // Presence broadcast: bob changes status, alice sees it.
    b.send(&xml(
        "<presence><show>away</show><status>lunch</status></presence>",
    ))
    .await
    .unwrap();
    let p = recv_matching(&mut a, "bob's presence", |e| {
        e.name() == "presence" && e.attr("from") == Some(b.jid())
    })
    .await;
    assert_eq!(
        p.get_child("status", "jabber:client").map(|s| s.text()),
        Some("lunch".into())
    );

    // A new resource of alice gets bob's presence by probe.
    let mut a2 = s.client_with_resource("alice", "second").await;
    a2.send(&xml("<presence/>")).await.unwrap();
    let probed = recv_matching(&mut a2, "bob's presence", |e| {
        e.name() == "presence" && e.attr("from") == Some(b.jid())
    })
    .await;
    assert!(
        probed.get_child("delay", "urn:xmpp:delay").is_some(),
        "probe answers carry a delay stamp"
    );

    // Disconnecting sends unavailable to contacts.
    let bob_jid = b.jid().to_string();
    drop(b);
    let gone = recv_matching(&mut a, "unavailable", |e| {
        e.attr("from") == Some(bob_jid.as_str()) && e.attr("type") == Some("unavailable")
    })
    .await;
    assert_eq!(gone.name(), "presence");
    s.stop().await;
}

#[tokio::test]
async fn subscription_approval_goes_only_to_resources_that_fetched_the_roster() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut main = s.client_with_resource("alice", "main").await;
    let mut quiet = s.client_with_resource("alice", "quiet").await;
    let mut b = s.client("bob").await;
    get_roster(&mut main).await;
    go_online(&mut main).await;
    go_online(&mut quiet).await;
    go_online(&mut b).await;
    main.send(&xml("<presence to='bob@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    recv_matching(&mut b, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    b.send(&xml("<presence to='alice@localhost' type='subscribed'/>"))
        .await
        .unwrap();
    recv_matching(&mut main, "subscribed", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    // The quiet resource gets bob's presence, but no `subscribed` and no push.
    let mut seen = Vec::new();
    while let Some(el) = quiet
        .recv_timeout(Duration::from_millis(400))
        .await
        .unwrap()
    {
        seen.push(el);
    }
    assert!(
        seen.iter()
            .any(|e| e.name() == "presence" && e.attr("from") == Some(b.jid())),
        "bob's available presence reaches every resource: {seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| e.attr("type") == Some("subscribed") || e.name() == "iq"),
        "no approval or roster push for a resource without the roster: {seen:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn presence_is_not_sent_to_non_contacts() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("eve").await;
    let mut a = s.client("alice").await;
    let mut e = s.client("eve").await;
    go_online(&mut e).await;
    go_online(&mut a).await;
    a.send(&xml("<presence><status>secret</status></presence>"))
        .await
        .unwrap();
    recv_named(&mut a, "presence").await;
    assert_nothing(&mut e, Duration::from_millis(500)).await;
    s.stop().await;
}

#[tokio::test]
async fn messages_to_bare_and_full_jids() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b1 = s.client_with_resource("bob", "one").await;
    let mut b2 = s.client_with_resource("bob", "two").await;
    go_online(&mut b1).await;
    b2.send(&xml("<presence><priority>5</priority></presence>"))
        .await
        .unwrap();

    // Full JID: exactly that resource.
    a.send(&xml(
        "<message to='bob@localhost/one' type='chat'><body>to one</body></message>",
    ))
    .await
    .unwrap();
    let m = recv_named(&mut b1, "message").await;
    assert_eq!(
        m.get_child("body", "jabber:client").map(|b| b.text()),
        Some("to one".into())
    );
    assert_eq!(
        m.attr("from"),
        Some(a.jid()),
        "from is stamped with the sender's full JID"
    );

    // Bare JID: the highest priority resource only.
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>to bare</body></message>",
    ))
    .await
    .unwrap();
    let m = recv_named(&mut b2, "message").await;
    assert_eq!(
        m.get_child("body", "jabber:client").map(|b| b.text()),
        Some("to bare".into())
    );
    assert_nothing(&mut b1, Duration::from_millis(300)).await;

    // A spoofed from is refused with a stream error.
    a.send_raw(b"<message to='bob@localhost' from='bob@localhost/x'><body>spoof</body></message>")
        .await
        .unwrap();
    match a.recv_timeout(WAIT).await {
        Err(whassap_client::ClientError::StreamError { condition, .. }) => {
            assert_eq!(condition, "invalid-from")
        }
        other => panic!("expected invalid-from, got {other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn errors_for_unknown_users_and_malformed_jids() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    a.send(&xml(
        "<message to='ghost@localhost' id='m1'><body>hi</body></message>",
    ))
    .await
    .unwrap();
    let e = recv_named(&mut a, "message").await;
    assert_eq!(e.attr("type"), Some("error"));
    assert!(e
        .get_child("error", "jabber:client")
        .unwrap()
        .get_child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .is_some());
    let iq = a
        .iq(xml(
            "<iq type='get' to='ghost@localhost/res'><ping xmlns='urn:xmpp:ping'/></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(iq.attr("type"), Some("error"));
    a.send_raw(b"<message to='a@b@c' id='m2'><body>x</body></message>")
        .await
        .unwrap();
    let e = recv_named(&mut a, "message").await;
    assert!(e
        .get_child("error", "jabber:client")
        .unwrap()
        .get_child("jid-malformed", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .is_some());
    s.stop().await;
}

#[tokio::test]
async fn offline_messages_are_delivered_with_delay_after_reconnect_and_restart() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    // bob is connected but not available: bare messages go offline.
    let b = s.client("bob").await;
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>first</body></message>",
    ))
    .await
    .unwrap();
    drop(b);
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>second</body></message>",
    ))
    .await
    .unwrap();
    // Headlines are not stored, nor what its sender marked no-store
    // (XEP-0334).
    a.send(&xml(
        "<message to='bob@localhost' type='headline'><body>news</body></message>",
    ))
    .await
    .unwrap();
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>ephemeral</body>\
         <no-store xmlns='urn:xmpp:hints'/></message>",
    ))
    .await
    .unwrap();
    // Nor the bot's thanks for a status bob set elsewhere meanwhile: a
    // burst of them would fill his offline storage.
    whassap_server::statuses::post(
        &s.app().server,
        "bob",
        "set on the web",
        whassap_server::statuses::Source::Web,
        None,
    )
    .await
    .unwrap();
    a.iq(xml(
        "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    ))
    .await
    .unwrap();
    drop(a);

    let s = s.restart().await;
    let mut b = s.client("bob").await;
    b.send(&xml("<presence/>")).await.unwrap();
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let m = recv_named(&mut b, "message").await;
        let delay = m
            .get_child("delay", "urn:xmpp:delay")
            .expect("XEP-0203 delay");
        assert_eq!(delay.attr("from"), Some("localhost"));
        assert!(delay.attr("stamp").is_some_and(|s| s.ends_with('Z')));
        bodies.push(m.get_child("body", "jabber:client").unwrap().text());
    }
    assert_eq!(bodies, ["first", "second"]);
    assert_nothing(&mut b, Duration::from_millis(300)).await;
    drop(b);
    // Delivered messages are gone.
    let mut b = s.client("bob").await;
    b.send(&xml("<presence/>")).await.unwrap();
    recv_named(&mut b, "presence").await;
    assert_nothing(&mut b, Duration::from_millis(300)).await;
    s.stop().await;
}

/// What waited for an offline user arrives with their initial presence: the
/// subscription request (again at every login until it is answered), then
/// the stored messages (once).
#[tokio::test]
async fn requests_and_messages_that_waited_arrive_at_the_next_login() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    a.send(&xml("<presence to='bob@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>hello</body></message>",
    ))
    .await
    .unwrap();
    a.iq(xml(
        "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
    ))
    .await
    .unwrap();

    for login in 0..2 {
        let mut b = s.client("bob").await;
        b.send(&xml("<presence/>")).await.unwrap();
        let request = recv_matching(&mut b, "subscribe", |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await;
        assert_eq!(request.attr("from"), Some("alice@localhost"));
        if login == 0 {
            let m = recv_named(&mut b, "message").await;
            assert_eq!(
                m.get_child("body", "jabber:client").unwrap().text(),
                "hello"
            );
        }
        assert_nothing(&mut b, Duration::from_millis(300)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn blocking_stops_messages_and_presence_both_ways() {
    let s = TestServer::start().await;
    let (mut a, mut b) = befriended(&s).await;
    let r = a.iq(xml("<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>")).await.unwrap();
    assert_eq!(r.attr("type"), Some("result"));
    let gone = recv_named(&mut b, "presence").await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    let list = a
        .iq(xml(
            "<iq type='get'><blocklist xmlns='urn:xmpp:blocking'/></iq>",
        ))
        .await
        .unwrap();
    let item = list
        .get_child("blocklist", "urn:xmpp:blocking")
        .and_then(|l| l.get_child("item", "urn:xmpp:blocking"));
    assert_eq!(item.and_then(|i| i.attr("jid")), Some("bob@localhost"));

    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>hello?</body></message>",
    ))
    .await
    .unwrap();
    let err = recv_named(&mut a, "message").await;
    let error = err.get_child("error", "jabber:client").unwrap();
    assert!(error
        .get_child("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .is_some());
    assert!(error
        .get_child("blocked", "urn:xmpp:blocking:errors")
        .is_some());
    b.send(&xml(
        "<message to='alice@localhost' type='chat'><body>hi</body></message>",
    ))
    .await
    .unwrap();
    let err = recv_named(&mut b, "message").await;
    assert!(err
        .get_child("error", "jabber:client")
        .unwrap()
        .get_child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas")
        .is_some());
    assert_nothing(&mut a, Duration::from_millis(300)).await;

    a.iq(xml("<iq type='set'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>")).await.unwrap();
    let back = recv_named(&mut b, "presence").await;
    assert_eq!(back.attr("type"), None, "available again after unblock");
    a.send(&xml(
        "<message to='bob@localhost' type='chat'><body>hello!</body></message>",
    ))
    .await
    .unwrap();
    recv_named(&mut b, "message").await;
    s.stop().await;
}

#[tokio::test]
async fn disco_ping_and_version() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    let info = a.iq(xml("<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).await.unwrap();
    let q = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap();
    let features: Vec<&str> = q.children().filter_map(|f| f.attr("var")).collect();
    for f in [
        "http://jabber.org/protocol/disco#info",
        "urn:xmpp:ping",
        "urn:xmpp:blocking",
        "jabber:iq:version",
    ] {
        assert!(features.contains(&f), "server feature {f}");
    }
    let mine = a
        .iq(xml(
            "<iq type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        ))
        .await
        .unwrap();
    let id = mine
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap()
        .children()
        .next()
        .unwrap();
    assert_eq!(
        (id.attr("category"), id.attr("type")),
        (Some("account"), Some("registered"))
    );
    let pong = a
        .iq(xml(
            "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(pong.attr("type"), Some("result"));
    let v = a
        .iq(xml(
            "<iq type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>",
        ))
        .await
        .unwrap();
    let name = v
        .get_child("query", "jabber:iq:version")
        .and_then(|q| q.get_child("name", "jabber:iq:version"));
    assert_eq!(name.map(|n| n.text()), Some("Whassap".into()));
    let unknown = a
        .iq(xml(
            "<iq type='get' to='localhost'><query xmlns='urn:example:nothing'/></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(unknown.attr("type"), Some("error"));
    s.stop().await;
}

#[tokio::test]
async fn directed_presence_reaches_a_non_contact_and_is_revoked_on_unavailable() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("carol").await;
    let mut a = s.client("alice").await;
    let mut c = s.client("carol").await;
    go_online(&mut a).await;
    go_online(&mut c).await;
    let carol = c.jid().to_string();
    a.send(&xml(&format!(
        "<presence to='{carol}'><status>just for you</status></presence>"
    )))
    .await
    .unwrap();
    let p = recv_named(&mut c, "presence").await;
    assert_eq!(p.attr("from"), Some(a.jid()));
    // Going unavailable tells those who got directed presence.
    a.send(&xml("<presence type='unavailable'/>"))
        .await
        .unwrap();
    let gone = recv_named(&mut c, "presence").await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert_eq!(gone.attr("from"), Some(a.jid()));
    s.stop().await;
}

#[tokio::test]
async fn legacy_session_request_and_whitespace_keepalives_are_accepted() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    let r = a
        .iq(xml(
            "<iq type='set'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(r.attr("type"), Some("result"));
    a.send_raw(b" \n \n").await.unwrap();
    let pong = a
        .iq(xml(
            "<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(
        pong.attr("type"),
        Some("result"),
        "the stream survives keepalives"
    );
    s.stop().await;
}
