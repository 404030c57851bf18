//! XEP-0060 PubSub on `pubsub.localhost` and XEP-0163 PEP, through real
//! clients: every use case and error condition users rely on, persistence
//! across a restart, and a publish fanned out to 2,000 connected subscribers.

use std::time::{Duration, Instant};

use minidom::Element;
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};
use whassap_tests::*;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const MICROBLOG: &str = "urn:xmpp:microblog:0";

async fn iq(c: &mut Client, s: &str) -> Element {
    c.iq(xml(s)).await.expect("iq answered")
}

async fn ok(c: &mut Client, s: &str) -> Element {
    let r = iq(c, s).await;
    assert_eq!(
        r.attr("type"),
        Some("result"),
        "{s}\n-> {}",
        String::from_utf8_lossy(&whassap_xml::to_bytes(&r))
    );
    r
}

/// The error's RFC 6120 condition and `pubsub#errors` condition.
fn conditions(r: &Element) -> (String, Option<String>) {
    assert_eq!(r.attr("type"), Some("error"), "{r:?}");
    let e = r.get_child("error", "jabber:client").expect("error child");
    let cond = e
        .children()
        .find(|c| c.ns() == STANZAS && c.name() != "text")
        .map(|c| c.name().to_string())
        .unwrap_or_default();
    let app = e
        .children()
        .find(|c| c.ns() == ERRORS)
        .map(|c| c.name().to_string());
    (cond, app)
}

async fn err(c: &mut Client, s: &str) -> (String, Option<String>) {
    conditions(&iq(c, s).await)
}

fn publish(node: &str, id: Option<&str>, payload: &str) -> String {
    let id = id.map(|i| format!(" id='{i}'")).unwrap_or_default();
    format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><publish node='{node}'><item{id}>{payload}</item></publish></pubsub></iq>")
}

fn entry(title: &str) -> String {
    format!("<entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>{title}</title></entry>")
}

/// The items of an event message (or None if it is not one).
fn event_items(m: &Element) -> Option<&Element> {
    m.get_child("event", EVENT)?.get_child("items", EVENT)
}

async fn next_event(c: &mut Client) -> Element {
    recv_matching(c, "pubsub event", |e| {
        e.name() == "message" && e.get_child("event", EVENT).is_some()
    })
    .await
}

fn item_ids(items: &Element, ns: &str) -> Vec<String> {
    items
        .children()
        .filter(|i| i.is("item", ns))
        .filter_map(|i| i.attr("id").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn service_nodes_items_subscriptions_and_errors() {
    let s = TestServer::start().await;
    for u in ["alice", "bob", "eve"] {
        s.user(u).await;
    }
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    let mut e = s.client("eve").await;
    go_online(&mut b).await;

    // The service is discoverable from the server.
    let items = ok(&mut a, "<iq type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>").await;
    assert!(
        format!("{items:?}").contains("pubsub.localhost"),
        "{items:?}"
    );
    // Create with configuration; a second create conflicts.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='news'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#title'><value>News</value></field><field var='pubsub#max_items'><value>2</value></field></x></configure></pubsub></iq>")).await;
    assert_eq!(
        err(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='news'/></pubsub></iq>")).await.0,
        "conflict"
    );
    // An instant node gets a name.
    let instant = ok(
        &mut a,
        &format!(
            "<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create/></pubsub></iq>"
        ),
    )
    .await;
    assert!(instant
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("create", PUBSUB))
        .and_then(|c| c.attr("node"))
        .is_some());
    // The configuration form shows what was set; only owners see it.
    let form = ok(&mut a, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><configure node='news'/></pubsub></iq>")).await;
    let text = String::from_utf8_lossy(&whassap_xml::to_bytes(&form)).into_owned();
    assert!(
        text.contains("<value>News</value>") && text.contains("<value>2</value>"),
        "{text}"
    );
    assert_eq!(
        err(&mut e, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><configure node='news'/></pubsub></iq>")).await.0,
        "forbidden"
    );

    // Subscribe with bare and full JIDs; someone else's JID is refused.
    let bob_full = b.jid().to_string();
    let sub = ok(&mut b, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='news' jid='{bob_full}'/></pubsub></iq>")).await;
    assert!(format!("{sub:?}").contains("subscribed"));
    assert_eq!(
        err(&mut e, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='news' jid='{bob_full}'/></pubsub></iq>")).await,
        ("bad-request".into(), Some("invalid-jid".into()))
    );
    ok(&mut e, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='news' jid='eve@localhost'/></pubsub></iq>")).await;
    assert_eq!(
        err(&mut e, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='nope' jid='eve@localhost'/></pubsub></iq>")).await.0,
        "item-not-found"
    );

    // Publish with an id and without; subscribers get the event with the publisher.
    ok(&mut a, &publish("news", Some("one"), &entry("first"))).await;
    let m = next_event(&mut b).await;
    let items = event_items(&m).unwrap();
    let item = items.get_child("item", EVENT).unwrap();
    assert_eq!(item.attr("id"), Some("one"));
    assert_eq!(item.attr("publisher"), Some("alice@localhost"));
    assert_eq!(
        m.attr("to"),
        Some(bob_full.as_str()),
        "addressed to the subscriber"
    );
    let r = ok(&mut a, &publish("news", None, &entry("second"))).await;
    let second = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("publish", PUBSUB))
        .and_then(|p| p.get_child("item", PUBSUB))
        .and_then(|i| i.attr("id"))
        .expect("generated id returned")
        .to_string();
    next_event(&mut b).await;
    // Only publishers publish.
    assert_eq!(
        err(&mut e, &publish("news", None, &entry("spam"))).await.0,
        "forbidden"
    );
    // publish-options preconditions.
    let pre = format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><publish node='news'><item>{}</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>", entry("x"));
    assert_eq!(
        err(&mut a, &pre).await,
        ("conflict".into(), Some("precondition-not-met".into()))
    );

    // Items: all (max_items 2 keeps the newest two), max_items, by id.
    ok(&mut a, &publish("news", Some("three"), &entry("third"))).await;
    next_event(&mut b).await;
    let all = ok(&mut e, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='news'/></pubsub></iq>")).await;
    let list = all
        .get_child("pubsub", PUBSUB)
        .unwrap()
        .get_child("items", PUBSUB)
        .unwrap();
    assert_eq!(item_ids(list, PUBSUB), [second.as_str(), "three"]);
    let last = ok(&mut e, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='news' max_items='1'/></pubsub></iq>")).await;
    assert_eq!(
        item_ids(
            last.get_child("pubsub", PUBSUB)
                .unwrap()
                .get_child("items", PUBSUB)
                .unwrap(),
            PUBSUB
        ),
        ["three"]
    );
    let by_id = ok(&mut e, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='news'><item id='three'/></items></pubsub></iq>")).await;
    assert!(format!("{by_id:?}").contains("third"));

    // Retract with notify.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><retract node='news' notify='true'><item id='three'/></retract></pubsub></iq>")).await;
    let m = next_event(&mut b).await;
    assert_eq!(
        event_items(&m)
            .and_then(|i| i.get_child("retract", EVENT))
            .and_then(|r| r.attr("id")),
        Some("three")
    );
    assert_eq!(
        err(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><retract node='news'><item id='three'/></retract></pubsub></iq>")).await.0,
        "item-not-found"
    );

    // Owner use cases: affiliations and subscriptions.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><affiliations node='news'><affiliation jid='eve@localhost' affiliation='publisher'/></affiliations></pubsub></iq>")).await;
    ok(&mut e, &publish("news", Some("eve1"), &entry("by eve"))).await;
    assert_eq!(
        event_items(&next_event(&mut b).await)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("publisher")),
        Some("eve@localhost")
    );
    let affs = ok(&mut a, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><affiliations node='news'/></pubsub></iq>")).await;
    let affs = format!("{affs:?}");
    assert!(affs.contains("eve@localhost") && affs.contains("publisher") && affs.contains("owner"));
    let subs = ok(&mut a, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><subscriptions node='news'/></pubsub></iq>")).await;
    assert!(format!("{subs:?}").contains(&bob_full));
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><subscriptions node='news'><subscription jid='eve@localhost' subscription='none'/></subscriptions></pubsub></iq>")).await;
    assert_eq!(
        err(&mut e, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><unsubscribe node='news' jid='eve@localhost'/></pubsub></iq>")).await,
        ("unexpected-request".into(), Some("not-subscribed".into()))
    );

    // Whitelist: closed-node for the unaffiliated.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='club'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub></iq>")).await;
    let mut e2 = s.client("eve").await;
    assert_eq!(
        err(&mut e2, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='club' jid='eve@localhost'/></pubsub></iq>")).await,
        ("not-allowed".into(), Some("closed-node".into()))
    );

    // Purge and delete notify subscribers.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><purge node='news'/></pubsub></iq>")).await;
    let m = next_event(&mut b).await;
    assert!(m
        .get_child("event", EVENT)
        .unwrap()
        .get_child("purge", EVENT)
        .is_some());
    let empty = ok(&mut e, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='news'/></pubsub></iq>")).await;
    assert!(item_ids(
        empty
            .get_child("pubsub", PUBSUB)
            .unwrap()
            .get_child("items", PUBSUB)
            .unwrap(),
        PUBSUB
    )
    .is_empty());
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><delete node='news'/></pubsub></iq>")).await;
    let m = next_event(&mut b).await;
    assert!(m
        .get_child("event", EVENT)
        .unwrap()
        .get_child("delete", EVENT)
        .is_some());
    assert_eq!(
        err(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><delete node='news'/></pubsub></iq>")).await.0,
        "item-not-found"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_firehose_exists_and_only_the_server_publishes_to_it() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    let info = ok(&mut a, "<iq type='get' to='pubsub.localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='firehose'/></iq>").await;
    assert!(format!("{info:?}").contains("leaf"));
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='firehose' jid='alice@localhost'/></pubsub></iq>")).await;
    assert_eq!(
        err(&mut a, &publish("firehose", None, &entry("mine")))
            .await
            .0,
        "forbidden"
    );
    assert_eq!(
        err(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><delete node='firehose'/></pubsub></iq>")).await.0,
        "forbidden"
    );
    go_online(&mut a).await;
    let server = s.app().server.clone();
    let payload: Element = entry("from the server").parse().unwrap();
    whassap_server::pubsub::items::publish_as_server(&server, "firehose", "s1", &payload)
        .await
        .expect("the server publishes");
    let m = next_event(&mut a).await;
    assert_eq!(m.attr("from"), Some("pubsub.localhost"));
    assert_eq!(
        event_items(&m)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("id")),
        Some("s1")
    );
    s.stop().await;
}

/// alice and bob, subscribed to each other's presence.
async fn friends(s: &TestServer) -> (Client, Client) {
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    for c in [&mut a, &mut b] {
        ok(c, "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>").await;
    }
    go_online(&mut a).await;
    go_online(&mut b).await;
    subscribe(&mut a, &mut b, "alice@localhost", "bob@localhost").await;
    subscribe(&mut b, &mut a, "bob@localhost", "alice@localhost").await;
    for c in [&mut a, &mut b] {
        while c
            .recv_timeout(Duration::from_millis(200))
            .await
            .unwrap()
            .is_some()
        {}
    }
    (a, b)
}

/// `x` (`xj`) subscribes to `y`'s (`yj`) presence and `y` approves.
async fn subscribe(x: &mut Client, y: &mut Client, xj: &str, yj: &str) {
    x.send(&xml(&format!("<presence to='{yj}' type='subscribe'/>")))
        .await
        .unwrap();
    recv_matching(y, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    y.send(&xml(&format!("<presence to='{xj}' type='subscribed'/>")))
        .await
        .unwrap();
    recv_matching(x, "subscribed", |e| e.attr("type") == Some("subscribed")).await;
}

/// Presence with caps that verify to a feature list including `notify`.
async fn advertise(c: &mut Client, notify: &str) {
    use base64::Engine;
    let features = {
        let mut f = vec![
            "http://jabber.org/protocol/caps".to_string(),
            "http://jabber.org/protocol/disco#info".to_string(),
            format!("{notify}+notify"),
        ];
        f.sort();
        f
    };
    let s = format!("client/pc//test<{}<", features.join("<"));
    let ver = base64::engine::general_purpose::STANDARD
        .encode(<sha1::Sha1 as sha1::Digest>::digest(s.as_bytes()));
    c.send(&xml(&format!("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/t' ver='{ver}'/></presence>"))).await.unwrap();
    // The account's PEP service asks about an unknown hash: answer it.
    if let Some(q) = c.recv_timeout(Duration::from_secs(2)).await.unwrap() {
        if q.name() == "iq" && q.attr("type") == Some("get") {
            let feats: String = features
                .iter()
                .map(|f| format!("<feature var='{f}'/>"))
                .collect();
            let answer = format!("<iq type='result' id='{}' to='{}'><query xmlns='http://jabber.org/protocol/disco#info' node='https://example.org/t#{ver}'><identity category='client' type='pc' name='test'/>{feats}</query></iq>", q.attr("id").unwrap(), q.attr("from").unwrap());
            c.send_raw(answer.as_bytes()).await.unwrap();
        }
    }
}

#[tokio::test]
async fn pep_notifies_contacts_by_caps_and_sends_the_last_item_on_login() {
    let s = TestServer::start().await;
    let (mut a, mut b) = friends(&s).await;
    advertise(&mut b, MICROBLOG).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while b
        .recv_timeout(Duration::from_millis(100))
        .await
        .unwrap()
        .is_some()
    {}

    // A non-Atom microblog item is refused.
    let bad = format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item><foo xmlns='urn:x'/></item></publish></pubsub></iq>");
    assert_eq!(err(&mut a, &bad).await.0, "bad-request");
    // Auto-create on first publish; the contact gets it at once.
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='p1'>{}</item></publish></pubsub></iq>", entry("hello"))).await;
    let m = next_event(&mut b).await;
    assert_eq!(m.attr("from"), Some("alice@localhost"));
    let item = event_items(&m).unwrap().get_child("item", EVENT).unwrap();
    assert_eq!(item.attr("id"), Some("p1"));
    assert_eq!(
        item.attr("publisher"),
        Some("alice@localhost"),
        "microblog items carry the publisher"
    );
    // Only the owner publishes to a PEP node.
    let foreign = format!("<iq type='set' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item>{}</item></publish></pubsub></iq>", entry("not mine"));
    assert_eq!(err(&mut b, &foreign).await.0, "forbidden");

    // bob comes back: the last item arrives without a new publish.
    drop(b);
    let mut b2 = s.client("bob").await;
    advertise(&mut b2, MICROBLOG).await;
    let m = next_event(&mut b2).await;
    assert_eq!(
        event_items(&m)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("id")),
        Some("p1")
    );

    // A presence-access node refuses non-contacts; the open microblog takes
    // explicit subscriptions from anyone.
    s.user("carol").await;
    let mut c = s.client("carol").await;
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='http://jabber.org/protocol/tune'><item id='current'><tune xmlns='http://jabber.org/protocol/tune'/></item></publish></pubsub></iq>")).await;
    assert_eq!(
        err(&mut c, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='http://jabber.org/protocol/tune'/></pubsub></iq>")).await,
        ("not-authorized".into(), Some("presence-subscription-required".into()))
    );
    go_online(&mut c).await;
    ok(&mut c, &format!("<iq type='set' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='{MICROBLOG}' jid='carol@localhost'/></pubsub></iq>")).await;
    // (the last item on subscribing)
    next_event(&mut c).await;
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='p2'>{}</item></publish></pubsub></iq>", entry("again"))).await;
    let m = next_event(&mut c).await;
    assert_eq!(
        event_items(&m)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("id")),
        Some("p2")
    );

    // Paged retrieval, newest page first (XEP-0059 <before/>).
    for i in 3..=5 {
        ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='p{i}'>{}</item></publish></pubsub></iq>", entry("more"))).await;
    }
    let page = ok(&mut c, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'/><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set></pubsub></iq>")).await;
    let p = page.get_child("pubsub", PUBSUB).unwrap();
    assert_eq!(
        item_ids(p.get_child("items", PUBSUB).unwrap(), PUBSUB),
        ["p4", "p5"]
    );
    let set = p
        .get_child("set", "http://jabber.org/protocol/rsm")
        .unwrap();
    assert_eq!(
        set.get_child("count", "http://jabber.org/protocol/rsm")
            .unwrap()
            .text(),
        "5"
    );
    let older = ok(&mut c, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'/><set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>p4</before></set></pubsub></iq>")).await;
    assert_eq!(
        item_ids(
            older
                .get_child("pubsub", PUBSUB)
                .unwrap()
                .get_child("items", PUBSUB)
                .unwrap(),
            PUBSUB
        ),
        ["p2", "p3"]
    );
    drop(a);
    s.stop().await;
}

#[tokio::test]
async fn nodes_items_and_subscriptions_survive_a_restart() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='kept'/></pubsub></iq>")).await;
    ok(&mut b, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='kept' jid='bob@localhost'/></pubsub></iq>")).await;
    ok(
        &mut a,
        &publish("kept", Some("before"), &entry("before the restart")),
    )
    .await;
    drop((a, b));

    let s = s.restart().await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    go_online(&mut b).await;
    let items = ok(&mut b, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='kept'/></pubsub></iq>")).await;
    assert!(format!("{items:?}").contains("before the restart"));
    ok(&mut a, &publish("kept", Some("after"), &entry("after"))).await;
    let m = next_event(&mut b).await;
    assert_eq!(
        event_items(&m)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("id")),
        Some("after"),
        "the subscription was kept"
    );
    s.stop().await;
}

#[tokio::test]
async fn one_publish_reaches_2000_connected_subscribers_exactly_once() {
    const N: usize = 2000;
    let s = TestServer::start_with(|c| {
        c.allow_plaintext = true;
        // Every subscriber connects from 127.0.0.1.
        c.max_connections_per_ip = 0;
    })
    .await;
    s.user("publisher").await;
    let server = s.app().server.clone();
    for i in 0..N {
        whassap_server::accounts::add(&server.store, &format!("sub{i}"), PASSWORD, 4096)
            .await
            .unwrap();
    }
    let mut p = s.client("publisher").await;
    ok(&mut p, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='wide'/></pubsub></iq>")).await;
    let options = |i: usize| ConnectOptions {
        tls: TlsMode::Plain,
        mechanism: Mechanism::Plain,
        ..s.options(&format!("sub{i}"))
    };
    let mut clients = Vec::with_capacity(N);
    for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
        let batch = futures::future::join_all(chunk.iter().map(|&i| {
            let o = options(i);
            async move {
                let mut c = Client::connect(o).await.expect("subscriber connects");
                let jid = c.jid().to_string();
                let r = c.iq(xml(&format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='wide' jid='{jid}'/></pubsub></iq>"))).await.unwrap();
                assert_eq!(r.attr("type"), Some("result"));
                c
            }
        }))
        .await;
        clients.extend(batch);
    }
    let started = Instant::now();
    ok(
        &mut p,
        &publish("wide", Some("big-news"), &entry("to everyone")),
    )
    .await;
    let results = futures::future::join_all(clients.iter_mut().map(|c| async move {
        let m = next_event(c).await;
        let at = started.elapsed();
        let id = event_items(&m)
            .and_then(|i| i.get_child("item", EVENT))
            .and_then(|i| i.attr("id"))
            .map(str::to_owned);
        // Exactly once: nothing else follows.
        let extra = c.recv_timeout(Duration::from_millis(300)).await.unwrap();
        (id, extra.is_none(), at)
    }))
    .await;
    let last = results.iter().map(|r| r.2).max().unwrap();
    assert!(results
        .iter()
        .all(|(id, _, _)| id.as_deref() == Some("big-news")));
    assert!(
        results.iter().all(|(_, once, _)| *once),
        "a subscriber got the event twice"
    );
    eprintln!("fan-out: {N} subscribers reached {last:?} after the publish (debug build, clients in the same process)");
    s.stop().await;
}

#[tokio::test]
async fn node_options_shape_delivery_and_overlapping_subscriptions_get_subids() {
    let s = TestServer::start().await;
    for u in ["alice", "bob", "eve"] {
        s.user(u).await;
    }
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    let mut e = s.client("eve").await;
    go_online(&mut b).await;
    let bob_full = b.jid().to_string();

    // publish_model open and deliver_payloads off: anyone publishes, events
    // carry only the item id.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='opts'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#publish_model'><value>open</value></field><field var='pubsub#deliver_payloads'><value>0</value></field></x></configure></pubsub></iq>")).await;
    // Bob subscribes twice over: with his bare and his full JID.
    for jid in ["bob@localhost", bob_full.as_str()] {
        ok(&mut b, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='opts' jid='{jid}'/></pubsub></iq>")).await;
    }
    ok(&mut e, &publish("opts", Some("e1"), &entry("open to all"))).await;
    let m = next_event(&mut b).await;
    let item = event_items(&m).unwrap().get_child("item", EVENT).unwrap();
    assert_eq!(item.attr("id"), Some("e1"));
    assert_eq!(item.children().count(), 0, "no payload");
    let headers = m
        .get_child("headers", "http://jabber.org/protocol/shim")
        .expect("SHIM headers for a session with two subscriptions");
    assert_eq!(headers.children().count(), 2);
    assert_nothing(&mut b, Duration::from_millis(300)).await;

    // Roster access model on PEP: only contacts in the allowed groups.
    ok(&mut a, "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'><group>Friends</group></item></query></iq>").await;
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='urn:example:diary'><item id='d1'><note xmlns='urn:example:diary'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>roster</value></field><field var='pubsub#roster_groups_allowed'><value>Friends</value></field></x></publish-options></pubsub></iq>")).await;
    ok(&mut b, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='urn:example:diary'/></pubsub></iq>")).await;
    assert_eq!(
        err(&mut e, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='urn:example:diary'/></pubsub></iq>")).await,
        ("not-authorized".into(), Some("not-in-roster-group".into()))
    );

    // What Movim sends with every post matches the microblog node's defaults.
    let movim = |id: &str| {
        format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='{id}'>{}</item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#notify_retract'><value>true</value></field><field var='pubsub#itemreply'><value>publisher</value></field></x></publish-options></pubsub></iq>", entry(id))
    };
    ok(&mut a, &movim("m1")).await;
    ok(&mut a, &movim("m2")).await;
    let items = ok(&mut e, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'/></pubsub></iq>")).await;
    let list = items
        .get_child("pubsub", PUBSUB)
        .unwrap()
        .get_child("items", PUBSUB)
        .unwrap();
    assert_eq!(item_ids(list, PUBSUB), ["m1", "m2"]);
    assert!(list
        .children()
        .all(|i| i.attr("publisher") == Some("alice@localhost")));
    s.stop().await;
}

#[tokio::test]
async fn transient_nodes_keep_nothing_and_notify_retract_follows_the_config() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    go_online(&mut b).await;
    // persist_items off: subscribers get the event, nothing is kept.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='live'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#persist_items'><value>false</value></field></x></configure></pubsub></iq>")).await;
    ok(&mut b, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='live' jid='bob@localhost'/></pubsub></iq>")).await;
    ok(&mut a, &publish("live", Some("now"), &entry("fleeting"))).await;
    assert!(event_items(&next_event(&mut b).await).is_some());
    let items = ok(&mut b, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='live'/></pubsub></iq>")).await;
    assert!(item_ids(
        items
            .get_child("pubsub", PUBSUB)
            .unwrap()
            .get_child("items", PUBSUB)
            .unwrap(),
        PUBSUB
    )
    .is_empty());

    // notify_retract off: a retraction without notify='true' is silent.
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='quiet'/><configure><x xmlns='jabber:x:data' type='submit'><field var='pubsub#notify_retract'><value>0</value></field></x></configure></pubsub></iq>")).await;
    ok(&mut b, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='quiet' jid='bob@localhost'/></pubsub></iq>")).await;
    ok(&mut a, &publish("quiet", Some("q1"), &entry("soon gone"))).await;
    next_event(&mut b).await;
    ok(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><retract node='quiet'><item id='q1'/></retract></pubsub></iq>")).await;
    assert_nothing(&mut b, Duration::from_millis(300)).await;
    // A bad configuration value is refused and changes nothing.
    let r = err(&mut a, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><configure node='quiet'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>100000</value></field></x></configure></pubsub></iq>")).await;
    assert_eq!(r.0, "not-acceptable");
    let form = ok(&mut a, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{OWNER}'><configure node='quiet'/></pubsub></iq>")).await;
    assert!(String::from_utf8_lossy(&whassap_xml::to_bytes(&form)).contains("<value>20</value>"));
    s.stop().await;
}
