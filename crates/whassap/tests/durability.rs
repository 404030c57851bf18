//! SPEC §5: a process killed at any moment loses no acknowledged status
//! and no queued webhook delivery. The real binary is SIGKILLed right
//! after `POST /api/v1/statuses` answers 201 and started again on the same
//! data dir: the status is there, its delivery is pending or done, and the
//! webhook receiver gets it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

mod support;

use support::Serving as Server;

/// `whassap serve` on ephemeral ports; returns once it runs.
fn serve(dir: &std::path::Path, config: &std::path::Path) -> Server {
    support::start(
        support::whassap()
            .args([
                "serve",
                "--c2s-listen",
                "127.0.0.1:0",
                "--c2s-tls-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--s2s-listen",
                "",
                "--webhooks-allow-private",
                "--config",
            ])
            .arg(config)
            .arg("--data-dir")
            .arg(dir),
    )
}

/// Webhook requests received: (delivery id, body).
type Hits = Arc<Mutex<Vec<(String, Value)>>>;

async fn receiver() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let h = h.clone();
            async move {
                // Slow enough that the kill often lands mid-attempt.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let id = headers["x-whassap-delivery"].to_str().unwrap().to_string();
                h.lock()
                    .unwrap()
                    .push((id, serde_json::from_str(&body).unwrap()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_acknowledged_status_or_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("whassap.toml");
    std::fs::write(
        &config,
        "[webhooks]\nretry_delays_ms = [200, 200, 200, 200]\ntimeout_ms = 1000\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let (hook_url, hits) = receiver().await;
    let http = reqwest::Client::new();

    let server = serve(&data, &config);
    let base = server.http.clone();
    let r = http
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"username": "alice", "password": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{base}/api/v1/webhooks"))
        .basic_auth("alice", Some("password"))
        .json(&json!({"url": hook_url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let hook: Value = r.json().await.unwrap();
    let hook_id = hook["id"].as_str().unwrap().to_string();

    let r = http
        .post(format!("{base}/api/v1/statuses"))
        .basic_auth("alice", Some("password"))
        .json(&json!({"text": "acknowledged, then killed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // SIGKILL at once: no graceful anything.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let status: Value = r.json().await.unwrap();
    let id = status["id"].as_str().unwrap().to_string();
    drop(server);

    let server = serve(&data, &config);
    let base = server.http.clone();
    let r = http
        .get(format!("{base}/api/v1/statuses/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the status survived");
    assert_eq!(r.json::<Value>().await.unwrap(), status);
    let timeline: Value = http
        .get(format!("{base}/api/v1/statuses"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(timeline[0]["id"], id.as_str());

    let deliveries_url = format!("{base}/api/v1/webhooks/{hook_id}/deliveries");
    let list: Value = http
        .get(&deliveries_url)
        .basic_auth("alice", Some("password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delivery = &list.as_array().unwrap()[0];
    assert_eq!(delivery["status_id"], id.as_str());
    assert!(
        delivery["state"] == "pending" || delivery["state"] == "delivered",
        "{delivery}"
    );
    let delivery_id = delivery["id"].as_str().unwrap().to_string();

    // The receiver gets it (an attempt cut short by the kill is made again
    // once its lease runs out).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = hits
            .lock()
            .unwrap()
            .iter()
            .any(|(d, body)| *d == delivery_id && body["status"] == status);
        if got {
            break;
        }
        assert!(Instant::now() < deadline, "the delivery never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}
