//! One pipeline, every door: a status posted over REST reaches a contact's
//! PEP notification, a firehose subscriber and the author's thank-you IM;
//! a client's own microblog publish is a status in the REST timeline;
//! deletion retracts everywhere; statuses survive a restart; ids sort in
//! commit order, so polling `after=` misses nothing.

use std::time::Duration;

use minidom::Element;
use serde_json::json;
use whassap_client::Client;
use whassap_tests::rest::{Api, Cred};
use whassap_tests::*;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const MICROBLOG: &str = "urn:xmpp:microblog:0";
const ATOM: &str = "http://www.w3.org/2005/Atom";
/// A status must reach XMPP subscribers within this.
const FAN_OUT: Duration = Duration::from_secs(1);

async fn ok(c: &mut Client, s: &str) -> Element {
    let r = c.iq(xml(s)).await.expect("iq answered");
    assert_eq!(
        r.attr("type"),
        Some("result"),
        "{s}\n-> {}",
        String::from_utf8_lossy(&whassap_xml::to_bytes(&r))
    );
    r
}

/// The next message matching `f`, within `d`.
async fn within(c: &mut Client, d: Duration, what: &str, f: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + d;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await.expect("connection alive") {
            Some(el) if f(&el) => return el,
            Some(_) => continue,
            None => panic!("no {what} within {d:?}"),
        }
    }
}

fn event_child<'a>(m: &'a Element, node: &str, child: &str) -> Option<&'a Element> {
    let items = m.get_child("event", EVENT)?.get_child("items", EVENT)?;
    (items.attr("node") == Some(node))
        .then(|| items.get_child(child, EVENT))
        .flatten()
}

async fn drain(c: &mut Client) {
    while c
        .recv_timeout(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {}
}

/// alice and bob, each subscribed to the other's presence, bob advertising
/// microblog notifications; carol subscribed to the firehose.
async fn audience(s: &TestServer, api: &Api) -> (Client, Client, Client) {
    for u in ["alice", "bob", "carol"] {
        api.sign_up(u).await;
    }
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    let mut c = s.client("carol").await;
    for x in [&mut a, &mut b] {
        ok(x, "<iq type='get'><query xmlns='jabber:iq:roster'/></iq>").await;
    }
    go_online(&mut a).await;
    go_online(&mut b).await;
    subscribe(&mut a, &mut b, "alice@localhost", "bob@localhost").await;
    subscribe(&mut b, &mut a, "bob@localhost", "alice@localhost").await;
    drain(&mut a).await;
    drain(&mut b).await;
    advertise_microblog(&mut b).await;
    ok(&mut c, &format!("<iq type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='firehose' jid='carol@localhost'/></pubsub></iq>")).await;
    go_online(&mut c).await;
    drain(&mut b).await;
    drain(&mut c).await;
    (a, b, c)
}

#[tokio::test]
async fn a_rest_status_reaches_contacts_the_firehose_and_the_author() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let (mut a, mut b, mut c) = audience(&s, &api).await;
    let alice = Cred::Basic("alice".into(), PASSWORD.into());

    let st = api.post_status(&alice, "at the pub").await;
    let id = st["id"].as_str().unwrap().to_string();

    // bob (a contact with microblog+notify caps) gets the PEP event.
    let m = within(&mut b, FAN_OUT, "PEP event", |m| {
        event_child(m, MICROBLOG, "item").is_some()
    })
    .await;
    assert_eq!(m.attr("from"), Some("alice@localhost"));
    let item = event_child(&m, MICROBLOG, "item").unwrap();
    assert_eq!(item.attr("id"), Some(id.as_str()), "item id = status id");
    let entry = item.get_child("entry", ATOM).expect("an Atom entry");
    assert_eq!(entry.get_child("title", ATOM).unwrap().text(), "at the pub");
    assert_eq!(
        entry.get_child("title", ATOM).unwrap().attr("type"),
        Some("text")
    );
    let date = &st["created_at"].as_str().unwrap()[..10];
    assert_eq!(
        entry.get_child("id", ATOM).unwrap().text(),
        format!("tag:localhost,{date}:status/{id}")
    );
    assert_eq!(
        entry.get_child("published", ATOM).unwrap().text(),
        st["created_at"].as_str().unwrap()
    );
    let author = entry.get_child("author", ATOM).unwrap();
    assert_eq!(author.get_child("name", ATOM).unwrap().text(), "alice");
    assert_eq!(
        author.get_child("uri", ATOM).unwrap().text(),
        "xmpp:alice@localhost"
    );
    let link = entry.get_child("link", ATOM).unwrap();
    assert_eq!(link.attr("rel"), Some("alternate"));
    assert_eq!(link.attr("href"), st["url"].as_str());

    // carol (a firehose subscriber) gets the same entry from the service.
    let m = within(&mut c, FAN_OUT, "firehose event", |m| {
        event_child(m, "firehose", "item").is_some()
    })
    .await;
    assert_eq!(m.attr("from"), Some("pubsub.localhost"));
    let item = event_child(&m, "firehose", "item").unwrap();
    assert_eq!(item.attr("id"), Some(id.as_str()));
    assert_eq!(
        item.get_child("entry", ATOM)
            .unwrap()
            .get_child("title", ATOM)
            .unwrap()
            .text(),
        "at the pub"
    );

    // alice is thanked by the bot.
    let m = within(&mut a, FAN_OUT, "thank-you", |m| {
        m.name() == "message" && m.attr("from") == Some("whassap@localhost")
    })
    .await;
    assert_eq!(m.attr("type"), Some("chat"));
    let body = m.get_child("body", "jabber:client").unwrap().text();
    assert!(body.starts_with("Thanks for setting your status"), "{body}");
    assert!(body.contains("at the pub"), "{body}");

    // Deleting retracts from both nodes, with notifications.
    let r = api
        .call("DELETE", &format!("/api/v1/statuses/{id}"), &alice, None)
        .await;
    assert_eq!(r.status, 204);
    let m = within(&mut b, FAN_OUT, "PEP retraction", |m| {
        event_child(m, MICROBLOG, "retract").is_some()
    })
    .await;
    assert_eq!(
        event_child(&m, MICROBLOG, "retract").unwrap().attr("id"),
        Some(id.as_str())
    );
    let m = within(&mut c, FAN_OUT, "firehose retraction", |m| {
        event_child(m, "firehose", "retract").is_some()
    })
    .await;
    assert_eq!(
        event_child(&m, "firehose", "retract").unwrap().attr("id"),
        Some(id.as_str())
    );
    let items = ok(&mut c, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'/></pubsub></iq>")).await;
    assert!(!format!("{items:?}").contains(&id), "the item is gone");
    let metrics = reqwest::get(format!("{}/metrics", api.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("whassap_statuses_posted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("whassap_statuses_deleted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("whassap_status_commits_total 1\n")
            && metrics.contains("whassap_statuses_committed_total 1\n"),
        "the one status, in one commit of the status writer: {metrics}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_client_publish_to_its_microblog_node_is_a_status() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let (mut a, mut b, _c) = audience(&s, &api).await;

    // No item id: the status id becomes the item id and is returned.
    let r = ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item><entry xmlns='{ATOM}'><title type='text'>from my client</title><content>ignored</content></entry></item></publish></pubsub></iq>")).await;
    let id = r
        .get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("publish", PUBSUB))
        .and_then(|p| p.get_child("item", PUBSUB))
        .and_then(|i| i.attr("id"))
        .expect("the item id in the publish result")
        .to_string();
    let timeline = api.get("/api/v1/statuses").await;
    let newest = &timeline.json[0];
    assert_eq!(newest["id"], id.as_str());
    assert_eq!(newest["text"], "from my client");
    assert_eq!(newest["source"], "xmpp");
    // The contact gets the canonical entry, not the client's.
    let m = within(&mut b, FAN_OUT, "PEP event", |m| {
        event_child(m, MICROBLOG, "item").is_some()
    })
    .await;
    let entry = event_child(&m, MICROBLOG, "item")
        .unwrap()
        .get_child("entry", ATOM)
        .unwrap();
    assert!(entry.get_child("content", ATOM).is_none());
    assert!(entry
        .get_child("id", ATOM)
        .unwrap()
        .text()
        .ends_with(&format!(":status/{id}")));

    // A client-chosen item id is kept and recorded against the status.
    let r = ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='my-post-1'><entry xmlns='{ATOM}'><title>mine</title></entry></item></publish></pubsub></iq>")).await;
    assert!(format!("{r:?}").contains("my-post-1"));
    let newest = api.get("/api/v1/statuses").await.json[0].clone();
    assert_eq!(newest["text"], "mine");
    let status_id = newest["id"].as_str().unwrap().to_string();
    assert_ne!(status_id, "my-post-1");
    let items = ok(&mut b, &format!("<iq type='get' to='alice@localhost'><pubsub xmlns='{PUBSUB}'><items node='{MICROBLOG}'><item id='my-post-1'/></items></pubsub></iq>")).await;
    let text = String::from_utf8_lossy(&whassap_xml::to_bytes(&items)).into_owned();
    assert!(text.contains(&format!(":status/{status_id}")), "{text}");
    // Publishing over the item replaces the status: the old one is deleted
    // (retracted), a new one posted under the same item id.
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item id='my-post-1'><entry xmlns='{ATOM}'><title>mine, edited</title></entry></item></publish></pubsub></iq>")).await;
    assert_eq!(
        api.get(&format!("/api/v1/statuses/{status_id}"))
            .await
            .status,
        404
    );
    let edited = api.get("/api/v1/statuses").await.json[0].clone();
    assert_eq!(edited["text"], "mine, edited");
    let status_id = edited["id"].as_str().unwrap().to_string();
    let m = within(&mut b, FAN_OUT, "retraction of the replaced status", |m| {
        event_child(m, MICROBLOG, "retract").is_some()
    })
    .await;
    assert_eq!(
        event_child(&m, MICROBLOG, "retract").unwrap().attr("id"),
        Some("my-post-1")
    );
    let m = within(&mut b, FAN_OUT, "the replacement", |m| {
        event_child(m, MICROBLOG, "item").is_some()
    })
    .await;
    let item = event_child(&m, MICROBLOG, "item").unwrap();
    assert_eq!(item.attr("id"), Some("my-post-1"));
    assert!(format!("{item:?}").contains("mine, edited"));
    // A bad text is refused with a reason, and nothing is stored.
    let bad = a.iq(xml(&format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{MICROBLOG}'><item><entry xmlns='{ATOM}'><title>{}</title></entry></item></publish></pubsub></iq>", "x".repeat(281)))).await.unwrap();
    assert_eq!(bad.attr("type"), Some("error"));
    assert!(format!("{bad:?}").contains("280"));
    assert_eq!(
        api.get("/api/v1/users/alice").await.json["statuses_count"],
        2
    );

    // Retracting the item deletes the status.
    ok(&mut a, &format!("<iq type='set'><pubsub xmlns='{PUBSUB}'><retract node='{MICROBLOG}'><item id='my-post-1'/></retract></pubsub></iq>")).await;
    assert_eq!(
        api.get(&format!("/api/v1/statuses/{status_id}"))
            .await
            .status,
        404
    );
    let m = within(&mut b, FAN_OUT, "retraction", |m| {
        event_child(m, MICROBLOG, "retract").is_some()
    })
    .await;
    assert_eq!(
        event_child(&m, MICROBLOG, "retract").unwrap().attr("id"),
        Some("my-post-1")
    );
    s.stop().await;
}

#[tokio::test]
async fn statuses_tokens_and_webhook_rows_survive_a_restart() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let basic = api.sign_up("alice").await;
    let token = api.token(&basic).await;
    let st = api.post_status(&token, "kept").await;
    let id = st["id"].as_str().unwrap().to_string();
    let key = [("Idempotency-Key", "k1")];
    let body = || Some(json!({"text": "once"}).to_string().into_bytes());
    let first = api
        .raw("POST", "/api/v1/statuses", &token, body(), &key)
        .await;
    assert_eq!(first.status, 201);

    let s = s.restart().await;
    let api = Api::new(s.http);
    let got = api.get(&format!("/api/v1/statuses/{id}")).await;
    assert_eq!((got.status, &got.json), (200, &st));
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &token, None).await.status,
        200
    );
    let replay = api
        .raw("POST", "/api/v1/statuses", &token, body(), &key)
        .await;
    assert_eq!(replay.json, first.json, "idempotency keys are durable");
    // The PEP and firehose items are durable too.
    let mut c = s.client("alice").await;
    let items = ok(&mut c, &format!("<iq type='get' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><items node='firehose'/></pubsub></iq>")).await;
    assert!(format!("{items:?}").contains(&id));
    // New ids still sort after the old ones.
    let later = api.post_status(&token, "after the restart").await;
    assert!(later["id"].as_str().unwrap() > first.json["id"].as_str().unwrap());
    s.stop().await;
}

#[tokio::test]
async fn a_reader_following_after_never_misses_concurrent_posts() {
    // Ids are taken under the store's write lock: they sort in commit
    // order, so polling `after=<newest seen>` cannot skip a status.
    let s = TestServer::start_with(|c| {
        c.api.ip_requests_per_minute = 0;
        c.api.token_requests_per_minute = 0;
    })
    .await;
    let api = Api::new(s.http);
    let mut tokens = Vec::new();
    for u in ["w1", "w2", "w3", "w4"] {
        tokens.push(api.token(&api.sign_up(u).await).await);
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let api = api.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor = String::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = api
                    .get(&format!("/api/v1/statuses?limit=200&after={cursor}"))
                    .await;
                let ids: Vec<String> = page
                    .json
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect();
                if let Some(newest) = ids.first() {
                    cursor = newest.clone();
                }
                seen.extend(ids);
                if finished {
                    return seen;
                }
            }
        })
    };
    let writers = tokens.into_iter().map(|t| {
        let api = api.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                api.post_status(&t, &format!("post {i}")).await;
            }
        })
    });
    for w in futures::future::join_all(writers).await {
        w.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut seen = reader.await.unwrap();
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no duplicates");
    assert_eq!(total, 60, "every status seen once");
    s.stop().await;
}
