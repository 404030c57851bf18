//! Webhook registration over the REST API: private addresses refused,
//! listing without secrets, deletion, and the outbox rows every matching
//! status (and deletion) writes in its own transaction.

use serde_json::{json, Value};
use whassap_tests::rest::{Api, Cred};
use whassap_tests::*;

/// Registering a webhook at each of `urls` is refused as invalid.
async fn refused(api: &Api, cred: &Cred, urls: &[&str]) {
    for url in urls {
        let r = api
            .call(
                "POST",
                "/api/v1/webhooks",
                cred,
                Some(json!({ "url": url })),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{url}");
    }
}

#[tokio::test]
async fn webhooks_register_list_delete_and_fill_the_outbox() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.token(&api.sign_up("alice").await).await;
    let bob = api.token(&api.sign_up("bob").await).await;
    // Loopback and private addresses are refused by default.
    refused(
        &api,
        &alice,
        &[
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://10.0.0.1/hook",
            "http://192.168.1.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "ftp://example.org/",
            "not a url",
        ],
    )
    .await;
    let r = api
        .call(
            "POST",
            "/api/v1/webhooks",
            &Cred::Anonymous,
            Some(json!({"url": "http://example.org/"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    s.stop().await;

    let s = TestServer::start_with(|c| c.webhooks.allow_private = true).await;
    let api = Api::new(s.http);
    let alice = api.token(&api.sign_up("alice").await).await;
    let bob_basic = api.sign_up("bob").await;
    let _ = bob;
    let all = api
        .call(
            "POST",
            "/api/v1/webhooks",
            &alice,
            Some(json!({"url": "http://127.0.0.1:9/all", "secret": "s3cret"})),
        )
        .await;
    assert_eq!(all.status, 201, "{:?}", all.json);
    assert_eq!(all.json["secret"], "s3cret");
    assert_eq!(all.json["users"], Value::Null);
    let only_bob = api
        .call(
            "POST",
            "/api/v1/webhooks",
            &alice,
            Some(json!({"url": "http://127.0.0.1:9/bob", "users": "bob", "q": "BEER"})),
        )
        .await;
    assert_eq!(only_bob.status, 201);
    assert_eq!(only_bob.json["users"], json!(["bob"]));
    assert_eq!(
        only_bob.json["secret"].as_str().unwrap().len(),
        40,
        "a secret is generated"
    );
    let list = api.call("GET", "/api/v1/webhooks", &alice, None).await;
    assert_eq!(list.status, 200);
    let hooks = list.json.as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    assert!(hooks.iter().all(|h| h.get("secret").is_none()));
    assert_eq!(
        api.call("GET", "/api/v1/webhooks", &bob_basic, None)
            .await
            .json,
        json!([])
    );

    // Outbox rows are written with the status.
    let st = api.post_status(&alice, "no beer here").await;
    let bobs = api.post_status(&bob_basic, "Free BEER").await;
    let store = &s.app().server.store;
    let all_id = all.json["id"].as_str().unwrap();
    let bob_id = only_bob.json["id"].as_str().unwrap();
    let rows = store.webhook_deliveries(all_id).await.unwrap();
    assert_eq!(rows.len(), 2);
    let body: Value = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(body, json!({"event": "status.created", "status": st}));
    assert_eq!(rows[0].event, "status.created");
    assert_eq!(rows[0].state, whassap_store::DeliveryState::Pending);
    assert_eq!(rows[0].secret, "s3cret");
    let rows = store.webhook_deliveries(bob_id).await.unwrap();
    assert_eq!(rows.len(), 1, "filtered by user and q");
    let body: Value = serde_json::from_str(&rows[0].body).unwrap();
    assert_eq!(body["status"], bobs);
    // A deletion is an event too.
    let path = format!("/api/v1/statuses/{}", st["id"].as_str().unwrap());
    assert_eq!(api.call("DELETE", &path, &alice, None).await.status, 204);
    let rows = store.webhook_deliveries(all_id).await.unwrap();
    assert_eq!(rows.len(), 3);
    let body: Value = serde_json::from_str(&rows[2].body).unwrap();
    assert_eq!(body, json!({"event": "status.deleted", "status": st}));

    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/webhooks/{all_id}"),
            &bob_basic,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"), "not bob's");
    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/webhooks/{all_id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        api.call("GET", "/api/v1/webhooks", &alice, None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(store.webhook_deliveries(all_id).await.unwrap().is_empty());
    s.stop().await;
}

/// IPv6 forms that carry a loopback or private IPv4 address, and IPv4
/// written in unusual forms, are refused like the plain addresses: the
/// three URLs a hostile test got accepted first (NAT64, 6to4 and
/// IPv4-translated forms of 127.0.0.5), then their siblings.
#[tokio::test]
async fn webhooks_to_ipv6_forms_of_private_addresses_are_refused() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.token(&api.sign_up("alice").await).await;
    refused(
        &api,
        &alice,
        &[
            "http://[64:ff9b::7f00:5]/",
            "http://[2002:7f00:5::]/",
            "http://[::ffff:0:7f00:5]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/latest/meta-data",
            "http://[::7f00:1]/",
            "http://[2001:0:808:808::80ff:fffe]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::]/",
            "http://0x7f.0.0.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0/",
            "http://[2001:db8::1]/",
        ],
    )
    .await;
    let listed = api.call("GET", "/api/v1/webhooks", &alice, None).await;
    assert_eq!(listed.json, json!([]), "nothing was registered");
    s.stop().await;
}
