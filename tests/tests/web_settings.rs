//! The settings page (tokens and webhooks, made and revoked through its
//! forms, secrets shown once, the delivery log) and the "push saved"
//! counter at `/stats.json`.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use whassap_tests::rest::{Api, Cred};
use whassap_tests::sse::Sse;
use whassap_tests::web::{Page, Web};
use whassap_tests::*;

/// The text of the first `<code id="ID">` of a page.
fn code_by_id(page: &Page, id: &str) -> String {
    let marker = format!("<code id=\"{id}\">");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in {}", page.body))
        + marker.len();
    let end = page.body[start..].find("</code>").unwrap() + start;
    page.body[start..end].to_string()
}

/// The value of `attr="…"` right after `after` in the page.
fn attr_after(page: &Page, after: &str, attr: &str) -> String {
    let from = page.body.find(after).expect("anchor") + after.len();
    let marker = format!("{attr}=\"");
    let start = page.body[from..].find(&marker).unwrap() + from + marker.len();
    let end = page.body[start..].find('"').unwrap() + start;
    page.body[start..end].to_string()
}

#[tokio::test]
async fn tokens_are_made_shown_once_and_revoked_from_the_settings_page() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let web = Web::new(s.http);
    web.sign_up("alice").await;
    let p = web
        .submit("/settings", "/settings/tokens", &[("name", "my script")])
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let token = code_by_id(&p, "new-token");
    assert!(token.starts_with("whassap_"), "{token}");
    let bearer = Cred::Bearer(token.clone());
    let a = api.call("GET", "/api/v1/tokens", &bearer, None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json[0]["name"], "my script");
    let id = a.json[0]["id"].as_str().unwrap().to_string();

    // Listed by name, never shown again.
    let p = web.get("/settings").await;
    assert!(p.has("my script") && p.has(&format!("data-token-id=\"{id}\"")));
    assert!(!p.has(&token), "the token is shown only once");

    let p = web
        .submit("/settings", "/settings/tokens", &[("name", "  ")])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.has("token name"), "{}", p.body);

    let p = web
        .submit("/settings", &format!("/settings/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &bearer, None)
            .await
            .status,
        401
    );
    let p = web
        .submit("/settings", &format!("/settings/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(p.status, 404);
}

#[tokio::test]
async fn webhooks_are_registered_shown_with_deliveries_and_deleted() {
    let s = TestServer::start_with(|c| c.webhooks.allow_private = true).await;
    let (tx, mut hits) = tokio::sync::mpsc::channel::<()>(10);
    let receiver = axum::Router::new().route(
        "/hook",
        post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(()).await;
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let api = Api::new(s.http);
    let web = Web::new(s.http);
    web.sign_up("alice").await;
    let p = web
        .submit(
            "/settings",
            "/settings/webhooks",
            &[("url", "ftp://example.org/x"), ("users", "alice")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.has("http or https"), "{}", p.body);
    assert!(
        p.has("value=\"ftp://example.org/x\""),
        "the form is refilled"
    );

    let p = web
        .submit(
            "/settings",
            "/settings/webhooks",
            &[("url", &url), ("users", "alice, bob"), ("secret", "")],
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let secret = code_by_id(&p, "new-secret");
    assert_eq!(secret.len(), 40);
    let alice = Cred::Basic("alice".into(), PASSWORD.into());
    let hooks = api.call("GET", "/api/v1/webhooks", &alice, None).await.json;
    assert_eq!(hooks[0]["url"], url.as_str());
    assert_eq!(hooks[0]["users"], serde_json::json!(["alice", "bob"]));
    let id = hooks[0]["id"].as_str().unwrap().to_string();

    // A status is delivered, and the page shows the delivery.
    web.set_status("hooked").await;
    tokio::time::timeout(Duration::from_secs(10), hits.recv())
        .await
        .expect("a delivery")
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = web.get("/settings").await;
        assert!(p.has(&format!("data-webhook-id=\"{id}\"")));
        assert!(!p.has(&secret), "the secret is shown only once");
        if p.has("state state-delivered") {
            assert!(p.has("status.created") && p.has("HTTP 204"), "{}", p.body);
            break;
        }
        assert!(Instant::now() < deadline, "delivery not shown: {}", p.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let action = attr_after(&web.get("/settings").await, "data-webhook-id", "action");
    assert_eq!(action, format!("/settings/webhooks/{id}/delete"));
    let p = web.submit("/settings", &action, &[]).await;
    assert_eq!(p.status, 303);
    let hooks = api.call("GET", "/api/v1/webhooks", &alice, None).await.json;
    assert_eq!(hooks, serde_json::json!([]));
    assert_eq!(web.submit("/settings", &action, &[]).await.status, 404);
}

#[tokio::test]
async fn stats_json_counts_pushes_and_consumers() {
    let s = TestServer::start().await;
    let web = Web::new(s.http);
    let stats = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    let first: Value = serde_json::from_str(&web.get("/stats.json").await.body).unwrap();
    for k in [
        "statuses_pushed",
        "push_deliveries",
        "consumers_online",
        "consumer_seconds",
        "polls_avoided",
    ] {
        assert_eq!(stats(&first, k), 0, "{k} at start");
    }
    assert_eq!(stats(&first, "poll_interval_secs"), 10);

    // Two consumers: a firehose stream and an XMPP session.
    let mut sse = Sse::connect(s.http, "/api/v1/firehose", None).await;
    s.user("bob").await;
    let mut bob = s.client("bob").await;
    go_online(&mut bob).await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    api.post_status(&alice, "counted").await;
    let (event, _, _) = sse.event().await;
    assert_eq!(event, "status");

    let deadline = Instant::now() + Duration::from_secs(10);
    let now = loop {
        let now: Value = serde_json::from_str(&web.get("/stats.json").await.body).unwrap();
        if stats(&now, "consumer_seconds") >= 2 {
            break now;
        }
        assert!(Instant::now() < deadline, "consumers not counted: {now}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(stats(&now, "statuses_pushed"), 1);
    assert!(stats(&now, "push_deliveries") >= 1, "{now}");
    assert_eq!(stats(&now, "consumers_online"), 2);
    assert_eq!(
        stats(&now, "polls_avoided"),
        stats(&now, "consumer_seconds") / 10
    );
    // The same figures are on the page, and in /metrics.
    let home = web.get("/").await;
    assert!(home.has("Push saved") && home.has("data-stat=\"polls_avoided\""));
    assert!(home.has("data-stats=\"/stats.json\""));
    let metrics = web.get("/metrics").await.body;
    assert!(
        metrics.contains("whassap_status_sse_events_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("whassap_firehose_streams 1\n"),
        "{metrics}"
    );
}
