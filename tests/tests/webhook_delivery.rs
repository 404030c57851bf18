//! The webhook sender against a real HTTP receiver on 127.0.0.1: headers
//! and HMAC signature, retries with backoff across a server restart, the
//! delivery log of `GET /api/v1/webhooks/{id}/deliveries`, failures after
//! the last retry, and the private-address check made again at delivery.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use whassap_tests::rest::{Api, Cred};
use whassap_tests::*;

/// One request the receiver got.
#[derive(Debug)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

#[derive(Clone)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: usize,
    /// Wait this long before answering.
    delay: Duration,
    seen: Arc<AtomicUsize>,
    hits: mpsc::Sender<Hit>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = r.seen.fetch_add(1, Ordering::SeqCst);
    let _ = r
        .hits
        .send(Hit {
            headers,
            body,
            at: Instant::now(),
        })
        .await;
    tokio::time::sleep(r.delay).await;
    if n < r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// A receiver at `http://ADDR/hook` and the requests it gets.
async fn receiver(fail_first: usize, delay: Duration) -> (SocketAddr, mpsc::Receiver<Hit>) {
    let (tx, rx) = mpsc::channel(100);
    let state = Receiver {
        fail_first,
        delay,
        seen: Arc::default(),
        hits: tx,
    };
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

async fn next_hit(rx: &mut mpsc::Receiver<Hit>) -> Hit {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a webhook request within 10 s")
        .expect("receiver alive")
}

fn header<'a>(h: &'a Hit, name: &str) -> &'a str {
    h.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// Check a request the way a receiver should.
fn verify(h: &Hit, secret: &str) -> Value {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&h.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        header(h, "x-whassap-signature"),
        expected,
        "HMAC of the raw body"
    );
    assert_eq!(header(h, "content-type"), "application/json");
    assert!(header(h, "user-agent").starts_with("Whassap-Webhooks/"));
    let body: Value = serde_json::from_slice(&h.body).expect("JSON body");
    assert_eq!(
        header(h, "x-whassap-event"),
        body["event"].as_str().unwrap()
    );
    body
}

/// The deliveries of a webhook, polled until `done` holds for the newest.
async fn deliveries_until(
    api: &Api,
    cred: &Cred,
    hook: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/{hook}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = api.call("GET", &path, cred, None).await;
        assert_eq!(a.status, 200, "{:?}", a.json);
        let list = a.json.as_array().unwrap().clone();
        if list.first().is_some_and(&done) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn register(api: &Api, cred: &Cred, url: &str, secret: &str) -> String {
    let a = api
        .call(
            "POST",
            "/api/v1/webhooks",
            cred,
            Some(json!({"url": url, "secret": secret})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn retried_until_delivered_across_a_restart() {
    let (addr, mut hits) = receiver(2, Duration::ZERO).await;
    let s = TestServer::start_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.retry_delays_ms = vec![1500, 200, 200];
        c.webhooks.timeout_ms = 2000;
    })
    .await;
    let api = Api::new(s.http);
    let alice = api.token(&api.sign_up("alice").await).await;
    let bob = api.sign_up("bob").await;
    let hook = register(&api, &alice, &format!("http://{addr}/hook"), "s3cret").await;
    let status = api.post_status(&alice, "at the pub").await;

    let first = next_hit(&mut hits).await;
    let body = verify(&first, "s3cret");
    assert_eq!(body, json!({"event": "status.created", "status": status}));
    let delivery = header(&first, "x-whassap-delivery").to_string();
    assert_eq!(header(&first, "x-whassap-hook-id"), hook);
    // Once the failure is recorded, restart the server.
    deliveries_until(&api, &alice, &hook, "first attempt recorded", |d| {
        d["attempts"].as_array().unwrap().len() == 1
    })
    .await;
    let restarting = Instant::now();
    let s = s.restart().await;
    let api = Api::new(s.http);

    let second = next_hit(&mut hits).await;
    assert!(second.at > restarting, "the retry came after the restart");
    let third = next_hit(&mut hits).await;
    for h in [&second, &third] {
        assert_eq!(verify(h, "s3cret"), body, "the same body");
        assert_eq!(
            header(h, "x-whassap-delivery"),
            delivery,
            "the same delivery id"
        );
    }
    assert!(
        second.at - first.at >= Duration::from_millis(1400),
        "backoff: {:?}",
        second.at - first.at
    );
    let list = deliveries_until(&api, &alice, &hook, "delivered", |d| {
        d["state"] == "delivered"
    })
    .await;
    assert_eq!(list.len(), 1);
    let d = &list[0];
    assert_eq!(d["id"], delivery.as_str());
    assert_eq!(d["event"], "status.created");
    assert_eq!(d["status_id"], status["id"]);
    assert_eq!(d["next_attempt_at"], Value::Null);
    let attempts = d["attempts"].as_array().unwrap();
    let codes: Vec<&Value> = attempts.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(204)]);
    assert_eq!(attempts[0]["error"], "HTTP 500");
    assert_eq!(attempts[2]["error"], Value::Null);
    assert_eq!(attempts[1]["attempt"], 2);
    assert!(attempts[0]["at"].as_str().unwrap().ends_with('Z'));
    // Only the owner sees the log.
    let path = format!("/api/v1/webhooks/{hook}/deliveries");
    let r = api.call("GET", &path, &bob, None).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = api.call("GET", &path, &Cred::Anonymous, None).await;
    assert_eq!(r.status, 401);

    // A deletion is delivered too, at once this time.
    let del = format!("/api/v1/statuses/{}", status["id"].as_str().unwrap());
    assert_eq!(api.call("DELETE", &del, &alice, None).await.status, 204);
    let hit = next_hit(&mut hits).await;
    assert_eq!(
        verify(&hit, "s3cret"),
        json!({"event": "status.deleted", "status": status})
    );
    assert_ne!(header(&hit, "x-whassap-delivery"), delivery);
    s.stop().await;
}

#[tokio::test]
async fn failures_are_recorded_until_the_last_retry() {
    let (slow, mut slow_hits) = receiver(0, Duration::from_secs(3)).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let s = TestServer::start_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.retry_delays_ms = vec![50, 50];
        c.webhooks.timeout_ms = 300;
    })
    .await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let refused = register(&api, &alice, &format!("http://{closed}/hook"), "k").await;
    let timeout = register(&api, &alice, &format!("http://{slow}/hook"), "k").await;
    api.post_status(&alice, "hello").await;
    for (hook, expect) in [(&refused, "connection failed"), (&timeout, "timed out")] {
        let list = deliveries_until(&api, &alice, hook, "failed", |d| d["state"] == "failed").await;
        let attempts = list[0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3, "1 + 2 retries: {attempts:#?}");
        for a in attempts {
            assert_eq!(a["status_code"], Value::Null);
            assert!(a["error"].as_str().unwrap().contains(expect), "{a}");
        }
        assert_eq!(list[0]["next_attempt_at"], Value::Null);
    }
    for _ in 0..3 {
        next_hit(&mut slow_hits).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn private_addresses_are_checked_again_at_delivery() {
    let (addr, mut hits) = receiver(0, Duration::ZERO).await;
    let s = TestServer::start_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.retry_delays_ms = vec![50];
    })
    .await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let by_ip = register(&api, &alice, &format!("http://{addr}/hook"), "k").await;
    let by_name = register(
        &api,
        &alice,
        &format!("http://localhost:{}/hook", addr.port()),
        "k",
    )
    .await;
    // Registered while allowed; the setting is turned off since.
    let s = s.restart_with(|c| c.webhooks.allow_private = false).await;
    let api = Api::new(s.http);
    api.post_status(&alice, "hello").await;
    for hook in [&by_ip, &by_name] {
        let list = deliveries_until(&api, &alice, hook, "failed", |d| d["state"] == "failed").await;
        for a in list[0]["attempts"].as_array().unwrap() {
            let error = a["error"].as_str().unwrap();
            assert!(error.contains("private address"), "{error}");
        }
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hits.recv())
            .await
            .is_err(),
        "nothing reached the private address"
    );
    s.stop().await;
}
