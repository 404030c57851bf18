//! Schemathesis (Python, property-based API testing) against the real
//! server: it reads `/api/v1/openapi.json`, sends every operation examples,
//! boundary values and random input, valid and invalid, then sequences
//! that follow the document's links, and checks each answer against the
//! document: documented status code and content type, body and headers
//! matching their schemas, no 5xx, invalid input refused with a 4xx,
//! deleted resources gone. The settings (seed, number of examples, checks,
//! what is left out and why) are in `interop/schemathesis.toml`, the
//! request rewrites in `interop/schemathesis_hooks.py`. Skipped loudly when
//! schemathesis is not installed (./scripts/test.sh installs it).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use whassap_tests::rest::Api;
use whassap_tests::*;

/// How long the whole schemathesis run may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(300);

/// The schemathesis command line, run with the `python3` that
/// `scripts/test.sh` installs packages into (its `schemathesis` script may
/// not be on the PATH).
const SCHEMATHESIS: [&str; 2] = ["-m", "schemathesis.cli"];

fn schemathesis_available() -> bool {
    Command::new("python3")
        .args(SCHEMATHESIS)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A webhook receiver on 127.0.0.1 that answers 204 to everything and
/// counts the requests: every webhook registered during the run points
/// here (see `interop/schemathesis_hooks.py`).
async fn webhook_sink() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("sink listens");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_rest_api() {
    if !schemathesis_available() {
        skip_interop(
            "schemathesis_finds_nothing_wrong_with_the_rest_api",
            "python3 module schemathesis (PyPI) not installed",
        );
        return;
    }
    let (sink, deliveries) = webhook_sink().await;
    let s = TestServer::start_with(|c| {
        // Thousands of requests in a minute from one address and one
        // token: the limits would answer 429 (documented, and checked by
        // rest_api.rs) instead of exercising the endpoints.
        c.api.token_requests_per_minute = 0;
        c.api.ip_requests_per_minute = 0;
        // The webhook receiver is on 127.0.0.1.
        c.webhooks.allow_private = true;
    })
    .await;
    let api = Api::new(s.http);
    let basic = api.sign_up("schemathesis").await;
    let created = api
        .call(
            "POST",
            "/api/v1/tokens",
            &basic,
            Some(serde_json::json!({"name": "schemathesis"})),
        )
        .await;
    assert_eq!(created.status, 201, "token: {:?}", created.json);
    let token = created.json["token"].as_str().expect("token").to_string();
    let token_id = created.json["id"].as_str().expect("token id").to_string();
    let interop = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop");
    // Schemathesis writes nothing in the working directory with this
    // configuration, but run it in a scratch one all the same.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let url = format!("http://{}/api/v1/openapi.json", s.http);
    let mut command = tokio::process::Command::new("python3");
    command
        .args(SCHEMATHESIS)
        .kill_on_drop(true)
        .current_dir(scratch.path())
        .arg("--config-file")
        .arg(interop.join("schemathesis.toml"))
        .args(["run", &url])
        .env("PYTHONPATH", &interop)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("WHASSAP_TEST_WEBHOOK_SINK", format!("http://{sink}/hook"))
        .env("WHASSAP_TEST_USER", "schemathesis")
        .env("WHASSAP_TEST_PASSWORD", PASSWORD)
        .env("WHASSAP_TEST_TOKEN", &token)
        .env("WHASSAP_TEST_TOKEN_ID", &token_id)
        .env("NO_COLOR", "1");
    let started = Instant::now();
    let out = tokio::time::timeout(DEADLINE, command.output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {DEADLINE:?}"))
        .expect("schemathesis runs");
    let took = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop().await;
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    let summary = text
        .lines()
        .skip_while(|l| !l.contains("Test cases:"))
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    eprintln!(
        "schemathesis: {summary} in {took:.1?}; the webhook receiver got {} deliveries",
        deliveries.load(Ordering::Relaxed)
    );
}
