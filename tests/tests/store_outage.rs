//! A PostgreSQL outage: the server reaches its database through a TCP relay
//! the test cuts (every connection dropped, new ones refused) and restores.
//! Meanwhile requests fail with clear errors (HTTP 503 with `Retry-After`
//! and the JSON error body, `/healthz` 503, XMPP `wait`), nothing is
//! half-done, and once the database is back the server works again without
//! a restart.

use std::time::Duration;

use whassap_store::testing::TempDatabase;
use whassap_tests::relay::Relay;
use whassap_tests::rest::Api;
use whassap_tests::*;

#[tokio::test]
async fn a_database_outage_gives_clear_errors_and_the_server_recovers() {
    let Some(db) = TempDatabase::create("store_outage").await else {
        return;
    };
    // postgres://user@HOST:PORT/db → the same through the relay.
    let (scheme_user, rest) = db.url.split_once('@').unwrap();
    let (hostport, path) = rest.split_once('/').unwrap();
    let relay = Relay::to(hostport).await;
    let url = format!("{scheme_user}@{}/{path}", relay.addr);
    let s = TestServer::start_with(|c| {
        c.database = url;
        c.database_timeout_secs = 1;
    })
    .await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let token = api.token(&alice).await;
    api.post_status(&token, "before").await;
    let mut xmpp = s.client("alice").await;

    relay.cut();
    let refused = api
        .call(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(serde_json::json!({"text": "during"})),
        )
        .await;
    assert_eq!(refused.status, 503, "{:?}", refused.json);
    assert_eq!(refused.json["error"]["code"], "unavailable");
    assert!(refused.header("retry-after").is_some(), "Retry-After");
    assert_eq!(api.get("/healthz").await.status, 503);
    let roster = xmpp
        .iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    let error = roster
        .get_child("error", "jabber:client")
        .expect("an error");
    assert_eq!(error.attr("type"), Some("wait"), "{roster:?}");

    relay.restore();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let a = api
            .call(
                "POST",
                "/api/v1/statuses",
                &token,
                Some(serde_json::json!({"text": "after"})),
            )
            .await;
        if a.status == 201 {
            break;
        }
        assert_eq!(a.status, 503, "{:?}", a.json);
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(api.get("/healthz").await.status, 200);
    let texts: Vec<String> = api
        .get("/api/v1/statuses")
        .await
        .json
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["after", "before"], "nothing of the refused post");
    s.stop().await;
}
