//! The SSE firehose at `/api/v1/firehose` over real sockets: live statuses
//! and deletions, resuming with `Last-Event-ID` / `after` with no gap and
//! no duplicate (also while statuses are being posted concurrently),
//! filters, pings, and a slow client dropped while a fast one keeps up.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use whassap_server::statuses::{self, Source};
use whassap_tests::rest::Api;
use whassap_tests::sse::{Sse, SseItem};
use whassap_tests::*;

const PATH: &str = "/api/v1/firehose";

/// Post in-process (the same pipeline as REST, without HTTP overhead).
async fn post(s: &TestServer, user: &str, text: &str) -> String {
    statuses::post(&s.app().server, user, text, Source::Api, None)
        .await
        .expect("posted")
        .id
}

/// The next `status` event's id, skipping pings.
async fn next_id(sse: &mut Sse) -> String {
    let (event, id, json) = sse.event().await;
    assert_eq!(event, "status", "{json}");
    let id = id.expect("status events carry an id");
    assert_eq!(json["id"], id.as_str());
    id
}

#[tokio::test]
async fn live_statuses_and_deletions() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let mut sse = Sse::connect(s.http, PATH, None).await;
    assert_eq!(sse.status, 200);
    assert!(
        sse.head.contains("content-type: text/event-stream"),
        "{}",
        sse.head
    );
    assert!(sse.head.contains("cache-control: no-cache"), "{}", sse.head);
    let posted = api.post_status(&alice, "at the pub").await;
    let (event, id, json) = sse.event().await;
    assert_eq!(event, "status");
    assert_eq!(id.as_deref(), posted["id"].as_str());
    assert_eq!(json, posted, "the data is the status's JSON");
    let path = format!("/api/v1/statuses/{}", posted["id"].as_str().unwrap());
    assert_eq!(api.call("DELETE", &path, &alice, None).await.status, 204);
    let (event, id, json) = sse.event().await;
    assert_eq!(event, "delete");
    assert_eq!(id, None, "deletions do not move the resume point");
    assert_eq!(json, json!({"id": posted["id"]}));
    // Bad resume ids and filters are refused.
    assert_eq!(
        Sse::connect(s.http, &format!("{PATH}?after=a%22b"), None)
            .await
            .status,
        400
    );
    assert_eq!(
        Sse::connect(s.http, &format!("{PATH}?users=a%40b"), None)
            .await
            .status,
        400
    );
    // Shutting down ends open streams (and does not wait for them).
    let started = std::time::Instant::now();
    s.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sse.next_within(WAIT).await, SseItem::Closed);
}

#[tokio::test]
async fn reconnecting_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut sse = Sse::connect(s.http, PATH, None).await;
    let first = post(&s, "alice", "one").await;
    assert_eq!(next_id(&mut sse).await, first);
    drop(sse);
    // Posted while the client is away.
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(post(&s, "alice", &format!("away {i}")).await);
    }
    let mut sse = Sse::connect(s.http, PATH, Some(&first)).await;
    for id in &missed {
        assert_eq!(&next_id(&mut sse).await, id, "replayed in order");
    }
    let live = post(&s, "alice", "back").await;
    assert_eq!(next_id(&mut sse).await, live, "then live, nothing twice");
    assert!(matches!(
        sse.next_within(Duration::from_millis(300)).await,
        SseItem::Timeout
    ));
    // ?after= does the same; the header wins over it.
    let mut by_query = Sse::connect(s.http, &format!("{PATH}?after={first}"), None).await;
    let mut by_both =
        Sse::connect(s.http, &format!("{PATH}?after={first}"), Some(&missed[3])).await;
    for id in missed.iter().chain([&live]) {
        assert_eq!(&next_id(&mut by_query).await, id);
    }
    assert_eq!(next_id(&mut by_both).await, missed[4]);
    assert_eq!(next_id(&mut by_both).await, live);
    // More than one replay page (200).
    for i in 0..230 {
        post(&s, "alice", &format!("many {i}")).await;
    }
    let mut all = Sse::connect(s.http, PATH, Some(&first)).await;
    let mut got = Vec::new();
    for _ in 0..236 {
        got.push(next_id(&mut all).await);
    }
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(got, sorted, "in order, without repeats");
    assert_eq!(&got[..6], &[&missed[..], &[live][..]].concat()[..]);
    s.stop().await;
}

#[tokio::test]
async fn resuming_while_statuses_are_posted_concurrently() {
    let s = TestServer::start().await;
    for u in ["w0", "w1", "w2", "w3"] {
        s.user(u).await;
    }
    let start = post(&s, "w0", "start").await;
    let server = s.app().server.clone();
    let mut writers = Vec::new();
    for w in 0..4 {
        let server = server.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let st = statuses::post(
                    &server,
                    &format!("w{w}"),
                    &format!("{w}/{i}"),
                    Source::Api,
                    None,
                )
                .await
                .expect("posted");
                ids.push(st.id);
                if i % 8 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            ids
        }));
    }
    // A client that keeps dropping its connection and resuming from the
    // last id it saw, while the writers post.
    let mut seen: Vec<String> = Vec::new();
    let mut last = start.clone();
    let mut rounds = 0;
    while seen.len() < 160 {
        rounds += 1;
        let mut sse = Sse::connect(s.http, PATH, Some(&last)).await;
        for _ in 0..7 {
            if seen.len() == 160 {
                break;
            }
            let id = next_id(&mut sse).await;
            assert!(id > last, "{id} after {last}: out of order or repeated");
            last = id.clone();
            seen.push(id);
        }
    }
    let mut expected: Vec<String> = Vec::new();
    for w in writers {
        expected.extend(w.await.unwrap());
    }
    expected.sort();
    assert_eq!(seen, expected, "every status exactly once, in id order");
    assert!(rounds > 10);
    s.stop().await;
}

#[tokio::test]
async fn filters_by_users_and_text() {
    let s = TestServer::start().await;
    for u in ["alice", "bob", "carol"] {
        s.user(u).await;
    }
    let mut users = Sse::connect(s.http, &format!("{PATH}?users=Bob,carol"), None).await;
    let mut q = Sse::connect(s.http, &format!("{PATH}?q=BEER"), None).await;
    let mut both = Sse::connect(s.http, &format!("{PATH}?users=alice&q=beer"), None).await;
    let a1 = post(&s, "alice", "no beer today").await;
    let b1 = post(&s, "bob", "tea").await;
    let c1 = post(&s, "carol", "Beer o'clock").await;
    let a2 = post(&s, "alice", "tea").await;
    assert_eq!(next_id(&mut users).await, b1);
    assert_eq!(next_id(&mut users).await, c1);
    assert_eq!(next_id(&mut q).await, a1);
    assert_eq!(next_id(&mut q).await, c1);
    assert_eq!(next_id(&mut both).await, a1);
    for sse in [&mut users, &mut q, &mut both] {
        assert_eq!(
            sse.next_within(Duration::from_millis(300)).await,
            SseItem::Timeout
        );
    }
    // Deletions pass the same filters; replays too.
    statuses::delete(&s.app().server, "alice", &a2)
        .await
        .unwrap();
    statuses::delete(&s.app().server, "carol", &c1)
        .await
        .unwrap();
    let (event, _, json) = users.event().await;
    assert_eq!((event.as_str(), &json), ("delete", &json!({"id": c1})));
    let mut replay =
        Sse::connect(s.http, &format!("{PATH}?users=alice,bob&after={a1}"), None).await;
    assert_eq!(next_id(&mut replay).await, b1);
    let mut replay = Sse::connect(s.http, &format!("{PATH}?q=TEA&after=0"), None).await;
    assert_eq!(next_id(&mut replay).await, b1, "a2 was deleted");
    s.stop().await;
}

#[tokio::test]
async fn pings_at_the_configured_interval() {
    let s = TestServer::start_with(|c| c.firehose.ping_interval_ms = 100).await;
    let mut sse = Sse::connect(s.http, PATH, None).await;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(
            sse.next_within(Duration::from_secs(2)).await,
            SseItem::Comment("ping".into())
        );
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    s.stop().await;
}

#[tokio::test]
async fn a_slow_client_is_dropped_and_a_fast_one_keeps_up() {
    const N: usize = 600;
    let s = TestServer::start_with(|c| {
        c.firehose.buffer = 32;
        // Else the kernel's autotuned buffers hold megabytes for the slow
        // client before the server sees it lag.
        c.http_send_buffer = 16 * 1024;
    })
    .await;
    s.user("alice").await;
    let mut slow = Sse::connect_small_buffer(s.http, PATH).await;
    let mut fast = Sse::connect(s.http, PATH, None).await;
    let (tx, mut progress) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < N {
            ids.push(next_id(&mut fast).await);
            let _ = tx.send(ids.len());
        }
        ids
    });
    // Big statuses (1120 bytes of UTF-8 each), so that the slow client's
    // socket buffers fill up early.
    let text = "🍺".repeat(280);
    let mut posted = Vec::new();
    for i in 0..N {
        posted.push(post(&s, "alice", &text).await);
        if i % 16 == 15 {
            // Pace on the fast reader, so that only the slow one lags.
            progress.wait_for(|&n| n > i - 8).await.unwrap();
        }
    }
    assert_eq!(
        reader.await.unwrap(),
        posted,
        "the fast client got everything"
    );
    // The slow client gets what was buffered for it, then the end.
    let mut got = Vec::new();
    loop {
        match slow.next_within(WAIT).await {
            SseItem::Event { id, .. } => got.push(id.unwrap()),
            SseItem::Comment(_) => {}
            SseItem::Closed => break,
            SseItem::Timeout => panic!("the slow client was not dropped ({} events)", got.len()),
        }
    }
    assert!(got.len() < N, "dropped before the end");
    assert_eq!(got[..], posted[..got.len()]);
    // It resumes from the last event it got, and misses nothing.
    let last = got.last().cloned().unwrap_or_else(|| "0".into());
    let mut again = Sse::connect(s.http, PATH, Some(&last)).await;
    for id in &posted[got.len()..] {
        assert_eq!(&next_id(&mut again).await, id);
    }
    s.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_firehose_and_deliveries() {
    let s = TestServer::start().await;
    let doc: Value = Api::new(s.http).get("/api/v1/openapi.json").await.json;
    let firehose = &doc["paths"]["/api/v1/firehose"]["get"];
    assert!(
        firehose["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{firehose}"
    );
    let params: HashSet<&str> = firehose["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        params,
        HashSet::from(["after", "users", "q", "Last-Event-ID"])
    );
    assert!(doc["paths"]["/api/v1/webhooks/{id}/deliveries"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Delivery"].is_object());
    s.stop().await;
}
