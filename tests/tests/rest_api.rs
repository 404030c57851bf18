//! The REST API of SPEC §3 over real HTTP: every endpoint, every error
//! code, idempotency, pagination with Link headers, rate limits and the
//! OpenAPI document. Webhooks are in `rest_webhooks.rs`.

use serde_json::{json, Value};
use whassap_tests::rest::{Api, Cred};
use whassap_tests::*;

#[tokio::test]
async fn users_and_tokens() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let anon = Cred::Anonymous;

    // Sign-up: 201 with the profile, then every refusal.
    let a = api
        .call(
            "POST",
            "/api/v1/users",
            &anon,
            Some(json!({"username": "Alice", "password": PASSWORD, "display_name": "Alice A."})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    assert_eq!(
        a.json,
        json!({"username": "alice", "jid": "alice@localhost", "display_name": "Alice A.",
               "status": null, "statuses_count": 0})
    );
    assert_eq!(a.header("location"), Some("/api/v1/users/alice"));
    let again = api
        .call(
            "POST",
            "/api/v1/users",
            &anon,
            Some(json!({"username": "alice", "password": "x"})),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "conflict"));
    for body in [
        json!({"username": "whassap", "password": "x"}),
        json!({"username": "no spaces", "password": "x"}),
        json!({"username": "bob", "password": ""}),
        json!({"username": "bob", "password": "x", "display_name": ""}),
        json!({"username": "bob"}),
    ] {
        let r = api
            .call("POST", "/api/v1/users", &anon, Some(body.clone()))
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{body}");
        assert!(!r.json["error"]["message"].as_str().unwrap().is_empty());
    }
    let bad = api
        .raw(
            "POST",
            "/api/v1/users",
            &anon,
            Some(b"{\"username\":".to_vec()),
            &[],
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_request"));
    let typed = api
        .call(
            "POST",
            "/api/v1/users",
            &anon,
            Some(json!({"username": 5, "password": "x"})),
        )
        .await;
    assert_eq!((typed.status, typed.code()), (400, "invalid_request"));
    let huge = api
        .raw(
            "POST",
            "/api/v1/users",
            &anon,
            Some(vec![b' '; 65 * 1024]),
            &[],
        )
        .await;
    assert_eq!((huge.status, huge.code()), (413, "payload_too_large"));
    // The reserved bot name cannot be registered: nothing was created.
    assert_eq!(api.get("/api/v1/users/whassap").await.status, 404);
    assert_eq!(api.get("/api/v1/users/bob").await.status, 404);

    let profile = api.get("/api/v1/users/ALICE").await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.json["display_name"], "Alice A.");

    // Tokens: Basic creates one, shown once.
    let basic = Cred::Basic("alice".into(), PASSWORD.into());
    let t = api
        .call(
            "POST",
            "/api/v1/tokens",
            &basic,
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(t.status, 201, "{:?}", t.json);
    let token = t.json["token"].as_str().unwrap().to_string();
    let token_id = t.json["id"].as_str().unwrap().to_string();
    assert_eq!(t.json["name"], "laptop");
    let bearer = Cred::Bearer(token.clone());
    // Unauthenticated, wrong password, unknown scheme or token: 401.
    for cred in [
        Cred::Anonymous,
        Cred::Basic("alice".into(), "wrong".into()),
        Cred::Basic("nobody".into(), "x".into()),
        Cred::Bearer("whassap_nope".into()),
    ] {
        let r = api
            .call("POST", "/api/v1/tokens", &cred, Some(json!({"name": "x"})))
            .await;
        assert_eq!((r.status, r.code()), (401, "unauthorized"), "{cred:?}");
        assert!(r.header("www-authenticate").is_some());
    }
    // A token cannot make tokens; a name is needed.
    let r = api
        .call(
            "POST",
            "/api/v1/tokens",
            &bearer,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = api
        .call("POST", "/api/v1/tokens", &basic, Some(json!({"name": " "})))
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));

    let list = api.call("GET", "/api/v1/tokens", &bearer, None).await;
    assert_eq!(list.status, 200);
    let tokens = list.json.as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["id"], token_id.as_str());
    assert!(tokens[0].get("token").is_none(), "the token is shown once");
    assert!(tokens[0]["last_used_at"].is_string());
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &anon, None).await.status,
        401
    );

    // Only the hash is stored.
    let stored = s.app().server.store.tokens("alice").await.unwrap();
    assert_eq!(stored.len(), 1);

    let del = api
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            &basic,
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &bearer, None)
            .await
            .status,
        401,
        "a revoked token no longer works"
    );
    let del = api
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            &basic,
            None,
        )
        .await;
    assert_eq!((del.status, del.code()), (404, "not_found"));

    // Unknown endpoints and methods answer in JSON too.
    let r = api.get("/api/v1/nope").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = api.call("PUT", "/api/v1/statuses", &anon, None).await;
    assert_eq!((r.status, r.code()), (405, "invalid_request"));
    s.stop().await;

    // Registration closed: 403, and nothing is created.
    let s =
        TestServer::start_with(|c| c.registration = whassap::config::Registration::Closed).await;
    let api = Api::new(s.http);
    let r = api
        .call(
            "POST",
            "/api/v1/users",
            &anon,
            Some(json!({"username": "carol", "password": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    assert_eq!(api.get("/api/v1/users/carol").await.status, 404);
    s.stop().await;
}

#[tokio::test]
async fn statuses_post_show_delete_and_idempotency() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let bob = api.sign_up("bob").await;
    let token = api.token(&alice).await;

    let a = api
        .call(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(json!({"text": "at the pub"})),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    let st = a.json.clone();
    let id = st["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 26);
    assert_eq!(st["text"], "at the pub");
    assert_eq!(st["source"], "api");
    assert_eq!(
        st["author"],
        json!({"username": "alice", "jid": "alice@localhost", "display_name": "alice"})
    );
    assert_eq!(
        st["url"],
        format!("http://localhost:3000/alice/statuses/{id}")
    );
    let created = st["created_at"].as_str().unwrap();
    assert!(created.len() == 20 && created.ends_with('Z'), "{created}");
    assert_eq!(
        a.header("location"),
        Some(format!("/api/v1/statuses/{id}").as_str())
    );
    // Basic works as well as a token.
    let by_basic = api.post_status(&alice, "second").await;
    assert!(
        by_basic["id"].as_str().unwrap() > id.as_str(),
        "ids sort by time"
    );

    let got = api.get(&format!("/api/v1/statuses/{id}")).await;
    assert_eq!((got.status, &got.json), (200, &st));
    let r = api.get("/api/v1/statuses/01NOPE").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));

    // Validation: 422 with a message; nothing stored.
    for text in ["", "   ", &"x".repeat(281), "bell\u{7}", "tab\t"] {
        let r = api
            .call(
                "POST",
                "/api/v1/statuses",
                &token,
                Some(json!({ "text": text })),
            )
            .await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{text:?}");
    }
    let r = api
        .call("POST", "/api/v1/statuses", &token, Some(json!({})))
        .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = api
        .raw(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(b"not json".to_vec()),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = api
        .raw(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(vec![b'x'; 70_000]),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let r = api
        .call(
            "POST",
            "/api/v1/statuses",
            &Cred::Anonymous,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    // 280 characters of two bytes each fit; NFC applies; newlines stay.
    let long = api.post_status(&token, &"é".repeat(280)).await;
    assert_eq!(long["text"].as_str().unwrap().chars().count(), 280);
    let nfc = api.post_status(&token, "cafe\u{301}\nsecond line").await;
    assert_eq!(nfc["text"], "caf\u{e9}\nsecond line");

    let profile = api.get("/api/v1/users/alice").await;
    assert_eq!(profile.json["statuses_count"], 4);
    assert_eq!(profile.json["status"], nfc);

    // Idempotency: a repeat returns the first result and posts nothing.
    let key = [("Idempotency-Key", "abc-123")];
    let body = || Some(json!({"text": "only once"}).to_string().into_bytes());
    let first = api
        .raw("POST", "/api/v1/statuses", &token, body(), &key)
        .await;
    assert_eq!(first.status, 201);
    let second = api
        .raw("POST", "/api/v1/statuses", &token, body(), &key)
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(second.json, first.json);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    // The key is the author's own: bob's same key is a new status.
    let bobs = api
        .raw("POST", "/api/v1/statuses", &bob, body(), &key)
        .await;
    assert_eq!(bobs.status, 201);
    assert_ne!(bobs.json["id"], first.json["id"]);
    let other = api
        .raw(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(json!({"text": "something else"}).to_string().into_bytes()),
            &key,
        )
        .await;
    assert_eq!((other.status, other.code()), (409, "conflict"));
    let bad_key = api
        .raw(
            "POST",
            "/api/v1/statuses",
            &token,
            body(),
            &[("Idempotency-Key", "")],
        )
        .await;
    assert_eq!((bad_key.status, bad_key.code()), (400, "invalid_request"));
    assert_eq!(
        api.get("/api/v1/users/alice").await.json["statuses_count"],
        5
    );

    // Delete: owner only.
    let path = format!("/api/v1/statuses/{id}");
    let r = api.call("DELETE", &path, &Cred::Anonymous, None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = api.call("DELETE", &path, &bob, None).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = api.call("DELETE", &path, &token, None).await;
    assert_eq!((r.status, r.json), (204, Value::Null));
    let r = api.call("DELETE", &path, &token, None).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    assert_eq!(api.get(&path).await.status, 404);
    assert_eq!(
        api.get("/api/v1/users/alice").await.json["statuses_count"],
        4
    );
    s.stop().await;
}

#[tokio::test]
async fn timelines_page_newest_first_with_link_headers() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.token(&api.sign_up("alice").await).await;
    let bob = api.token(&api.sign_up("bob").await).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let (who, text) = if i % 5 == 0 {
            (&bob, format!("Beer number {i}"))
        } else {
            (&alice, format!("status {i}"))
        };
        ids.push(
            api.post_status(who, &text).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let page_ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };

    let default = api.get("/api/v1/statuses").await;
    assert_eq!(page_ids(&default.json), newest_first[..20]);
    let p1 = api.get("/api/v1/statuses?limit=10").await;
    assert_eq!(page_ids(&p1.json), newest_first[..10]);
    let next = p1.link("next").expect("a next link");
    assert!(
        next.contains("limit=10") && next.contains("before="),
        "{next}"
    );
    let p2 = api.get(&next).await;
    assert_eq!(page_ids(&p2.json), newest_first[10..20]);
    let p3 = api.get(&p2.link("next").unwrap()).await;
    assert_eq!(page_ids(&p3.json), newest_first[20..]);
    assert_eq!(p3.link("next"), None, "the last page has no next");
    // prev from page 2 is page 1 again, exactly.
    let back = api.get(&p2.link("prev").expect("a prev link")).await;
    assert_eq!(page_ids(&back.json), newest_first[..10]);
    // after: the statuses just newer than the cursor, newest first.
    let after = api
        .get(&format!("/api/v1/statuses?limit=3&after={}", ids[4]))
        .await;
    assert_eq!(
        page_ids(&after.json),
        [ids[7].clone(), ids[6].clone(), ids[5].clone()]
    );
    let both = api
        .get(&format!(
            "/api/v1/statuses?before={}&after={}",
            ids[9], ids[4]
        ))
        .await;
    assert_eq!(
        page_ids(&both.json),
        [
            ids[8].clone(),
            ids[7].clone(),
            ids[6].clone(),
            ids[5].clone()
        ]
    );
    // q: case-insensitive substring, kept in the links.
    let beer = api.get("/api/v1/statuses?q=BEER&limit=2").await;
    assert_eq!(page_ids(&beer.json), [ids[20].clone(), ids[15].clone()]);
    let next = beer.link("next").unwrap();
    assert!(next.contains("q=BEER"), "{next}");
    assert_eq!(
        page_ids(&api.get(&next).await.json),
        [ids[10].clone(), ids[5].clone()]
    );
    // Bad paging parameters.
    for q in ["limit=0", "limit=201", "limit=abc", "limit=-1"] {
        let r = api.get(&format!("/api/v1/statuses?{q}")).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{q}");
    }
    assert_eq!(
        page_ids(&api.get("/api/v1/statuses?limit=200").await.json).len(),
        25
    );
    // One user's timeline pages the same way.
    let bobs = api.get("/api/v1/users/bob/statuses?limit=2").await;
    assert_eq!(bobs.status, 200);
    assert_eq!(page_ids(&bobs.json), [ids[20].clone(), ids[15].clone()]);
    let next = bobs.link("next").unwrap();
    assert!(next.starts_with("/api/v1/users/bob/statuses?"), "{next}");
    assert_eq!(
        page_ids(&api.get(&next).await.json),
        [ids[10].clone(), ids[5].clone()]
    );
    let r = api.get("/api/v1/users/nobody/statuses").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let empty = api
        .get(&format!("/api/v1/statuses?before={}", ids[0]))
        .await;
    assert_eq!((empty.status, empty.json.clone()), (200, json!([])));
    assert_eq!(empty.header("link"), None);
    s.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = TestServer::start_with(|c| {
        c.api.token_requests_per_minute = 3;
        c.api.ip_requests_per_minute = 8;
    })
    .await;
    let api = Api::new(s.http);
    let basic = api.sign_up("alice").await; // 1 (per IP)
    let token = api.token(&basic).await; // 2; Basic: 1 for alice
    for _ in 0..3 {
        assert_eq!(
            api.call("GET", "/api/v1/tokens", &token, None).await.status,
            200
        );
    } // 5
    let r = api.call("GET", "/api/v1/tokens", &token, None).await; // 6
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    // Per IP, authenticated or not.
    assert_eq!(api.get("/api/v1/statuses").await.status, 200); // 7
    assert_eq!(api.get("/api/v1/statuses").await.status, 200); // 8
    let r = api.get("/api/v1/statuses").await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    // Health and metrics are not part of the API's allowance.
    let h = reqwest::get(format!("{}/healthz", api.base)).await.unwrap();
    assert_eq!(h.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let doc = api.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.json["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/users", &["post"][..]),
        ("/api/v1/users/{username}", &["get"]),
        ("/api/v1/users/{username}/statuses", &["get"]),
        ("/api/v1/tokens", &["post", "get"]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/statuses", &["post", "get"]),
        ("/api/v1/statuses/{id}", &["get", "delete"]),
        ("/api/v1/webhooks", &["post", "get"]),
        ("/api/v1/webhooks/{id}", &["delete"]),
    ] {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path}");
        }
    }
    let schemas = doc.json["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("Status") && schemas.contains_key("ErrorBody"));
    let mut fields: Vec<&str> = schemas["Status"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["author", "created_at", "id", "source", "text", "url"],
        "the JSON form of SPEC §2, nothing internal"
    );
    assert!(doc.json["components"]["securitySchemes"]["bearer"].is_object());
    s.stop().await;
}

/// Every operation of the OpenAPI document, as (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Whether an operation of the document takes credentials.
fn takes_credentials(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| !s.is_empty())
}

#[tokio::test]
async fn the_openapi_document_describes_every_error_answer() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let doc = api.get("/api/v1/openapi.json").await.json;
    let ops = operations(&doc);
    assert_eq!(
        ops.len(),
        17,
        "every operation of the API, and the document itself"
    );

    let mut ids: Vec<&str> = ops
        .iter()
        .map(|(m, p, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{m} {p} has an operationId"))
        })
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "operationIds are unique: {ids:?}");

    for (method, path, op) in &ops {
        let what = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        for (status, response) in responses {
            if status.starts_with('4') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{what} {status} is an error body"
                );
            }
        }
        assert!(
            responses["429"]["headers"]["Retry-After"].is_object(),
            "{what} documents 429 with Retry-After"
        );
        if takes_credentials(op) {
            assert!(
                responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                "{what} documents 401 with WWW-Authenticate"
            );
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(responses.contains_key(status), "{what} documents {status}");
            }
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["name"] == "limit" {
                assert_eq!(
                    (&p["schema"]["minimum"], &p["schema"]["maximum"]),
                    (&json!(1), &json!(200)),
                    "{what}: limit is 1–200"
                );
            }
        }
        // Links name their target by `operationId` (camel case, as
        // OpenAPI spells it), and the target exists.
        for response in responses.values() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: link {name} has an operationId: {link}"));
                assert!(ids.contains(&target), "{what}: link {name} to {target}");
                assert!(link.get("operation_id").is_none(), "{link}");
            }
        }
    }
    // Creating answers 201 with a Location header; the timelines carry Link.
    for (method, path) in [
        ("post", "/api/v1/users"),
        ("post", "/api/v1/statuses"),
        ("post", "/api/v1/webhooks"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["201"]["headers"]["Location"].is_object(),
            "{method} {path}"
        );
    }
    for path in ["/api/v1/statuses", "/api/v1/users/{username}/statuses"] {
        assert!(doc["paths"][path]["get"]["responses"]["200"]["headers"]["Link"].is_object());
    }
    s.stop().await;
}

#[tokio::test]
async fn every_operation_that_takes_credentials_refuses_requests_without_them() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let doc = api.get("/api/v1/openapi.json").await.json;
    let mut secured = 0;
    for (method, path, op) in operations(&doc) {
        if !takes_credentials(&op) {
            continue;
        }
        secured += 1;
        let path = path
            .replace("{id}", "01JD3Q0T6ZC8W2XQ4Y7M3N1K9B")
            .replace("{username}", "alice");
        // A body the operation would accept from its owner.
        let body = match path.as_str() {
            "/api/v1/statuses" => Some(json!({"text": "not posted"})),
            "/api/v1/tokens" => Some(json!({"name": "not made"})),
            "/api/v1/webhooks" => Some(json!({"url": "https://example.org/hook"})),
            "/api/v1/messages" => Some(json!({"to": "alice@localhost", "body": "not sent"})),
            _ => None,
        };
        let body = body.map(|b| b.to_string().into_bytes());
        for (cred, headers) in [
            (Cred::Anonymous, &[][..]),
            (Cred::Bearer("whassap_no_such_token".into()), &[][..]),
            (Cred::Anonymous, &[("authorization", "Basic !!!")][..]),
            (Cred::Anonymous, &[("authorization", "Digest x")][..]),
        ] {
            let r = api.raw(&method, &path, &cred, body.clone(), headers).await;
            assert_eq!(
                (r.status, r.code()),
                (401, "unauthorized"),
                "{method} {path} with {cred:?} {headers:?}"
            );
            assert!(r.header("www-authenticate").is_some(), "{method} {path}");
        }
    }
    assert_eq!(secured, 10, "operations that take credentials");
    // A wrong password too (once: failed logins slow the next ones down).
    let wrong = Cred::Basic("alice".into(), "wrong".into());
    let r = api.call("GET", "/api/v1/webhooks", &wrong, None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    // Nothing was posted or made.
    assert_eq!(api.get("/api/v1/statuses").await.json, json!([]));
    let tokens = api.call("GET", "/api/v1/tokens", &alice, None).await;
    assert_eq!(tokens.json, json!([]));
    s.stop().await;
}

#[tokio::test]
async fn path_parameters_that_are_not_utf8_get_a_json_400() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    for (method, path, cred) in [
        ("GET", "/api/v1/statuses/%FF", &Cred::Anonymous),
        ("GET", "/api/v1/users/%C3%28", &Cred::Anonymous),
        ("GET", "/api/v1/users/%FF/statuses", &Cred::Anonymous),
        ("DELETE", "/api/v1/statuses/%FF", &alice),
        ("DELETE", "/api/v1/tokens/%FF", &alice),
        ("DELETE", "/api/v1/webhooks/%FF", &alice),
        ("GET", "/api/v1/webhooks/%FF/deliveries", &alice),
    ] {
        // `raw` fails the test if the answer is not JSON.
        let r = api.call(method, path, cred, None).await;
        assert_eq!(
            (r.status, r.code()),
            (400, "invalid_request"),
            "{method} {path}"
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
    }
    s.stop().await;
}

/// Usernames may hold `#`, `?`, `%` and non-ASCII letters (sign-ups take
/// letters of any script; an administrator's `whassap user add` takes any
/// JID localpart): every URL the API gives out for one (`Location`, a
/// status's `url`, `Link` headers) carries it percent-encoded, and each
/// leads back to the user.
#[tokio::test]
async fn urls_of_users_with_unusual_names_are_percent_encoded() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let signed = api
        .call(
            "POST",
            "/api/v1/users",
            &Cred::Anonymous,
            Some(json!({"username": "zoë", "password": PASSWORD})),
        )
        .await;
    assert_eq!(signed.status, 201, "{:?}", signed.json);
    assert_eq!(signed.header("location"), Some("/api/v1/users/zo%C3%AB"));
    let name = "zoë#1?a%b";
    let segment = "zo%C3%AB%231%3Fa%25b";
    s.user_with_password(name, PASSWORD).await;
    let location = format!("/api/v1/users/{segment}");
    let user = api.get(&location).await;
    assert_eq!(user.status, 200, "{:?}", user.json);
    assert_eq!(user.json["username"], name);

    let zoe = api.token(&Cred::Basic(name.into(), PASSWORD.into())).await;
    let first = api.post_status(&zoe, "one").await;
    api.post_status(&zoe, "two").await;
    let id = first["id"].as_str().unwrap();
    let url = first["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/{segment}/statuses/{id}")), "{url}");
    // The status's page answers at that path.
    let page = api
        .http
        .get(format!("{}/{segment}/statuses/{id}", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("one"));

    let newest = api.get(&format!("{location}/statuses?limit=1")).await;
    assert_eq!(newest.json[0]["text"], "two");
    let next = newest.link("next").expect("a next link");
    assert!(
        next.starts_with(&format!("/api/v1/users/{segment}/statuses?")),
        "{next}"
    );
    assert_eq!(api.get(&next).await.json[0]["text"], "one");
    s.stop().await;
}

/// Timeline cursors that are not status ids are refused with 400, on the
/// public timeline and a user's, as the web pages and the firehose do.
#[tokio::test]
async fn cursors_that_are_not_status_ids_are_invalid_requests() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let id = api.post_status(&alice, "hello").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in ["/api/v1/statuses", "/api/v1/users/alice/statuses"] {
        for query in [
            "before=zzz",
            "after=%00",
            "after=a%22b",
            "before=%3Cx%3E",
            "after=01arz3ndektsv4rrffq69g5fav",
            "before=01ARZ3NDEKTSV4RRFFQ69G5FAVXX",
        ] {
            let r = api.get(&format!("{path}?{query}")).await;
            assert_eq!(
                (r.status, r.code()),
                (400, "invalid_request"),
                "{path}?{query}"
            );
        }
        // Ids, and the start of one (a time), are cursors.
        let page = api.get(&format!("{path}?after=0")).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.json[0]["id"], id.as_str());
        let page = api.get(&format!("{path}?before={id}")).await;
        assert_eq!((page.status, page.json.clone()), (200, json!([])));
    }
    s.stop().await;
}

/// Sign-ups follow the username policy: letters and digits of one script,
/// `_ . -` inside the name, 1 to 32 characters; it is configurable.
#[tokio::test]
async fn sign_ups_follow_the_username_policy() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let sign_up = |name: &'static str| {
        let api = api.clone();
        async move {
            api.call(
                "POST",
                "/api/v1/users",
                &Cred::Anonymous,
                Some(json!({"username": name, "password": PASSWORD})),
            )
            .await
        }
    };
    for name in ["mary-ann", "j.doe", "bob_2", "zoë", "дмитрий", "山田たろう"] {
        assert_eq!(sign_up(name).await.status, 201, "{name}");
    }
    for name in [
        "a#b",
        "what?",
        "100%",
        "_lead",
        "trail.",
        "\u{0430}lice",
        "x234567890123456789012345678901ab",
    ] {
        let r = sign_up(name).await;
        assert_eq!((r.status, r.code()), (422, "validation_failed"), "{name}");
        assert!(
            r.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not allowed"),
            "{name}: {:?}",
            r.json
        );
    }
    s.stop().await;

    let s = TestServer::start_with(|c| {
        c.signup.username_max_chars = 40;
        c.signup.username_punctuation = "_.-+".into();
        c.signup.username_mixed_scripts = true;
    })
    .await;
    let api = Api::new(s.http);
    for name in ["a+b", "x234567890123456789012345678901ab", "\u{0430}lice"] {
        let r = api
            .call(
                "POST",
                "/api/v1/users",
                &Cred::Anonymous,
                Some(json!({"username": name, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 201, "{name}: {:?}", r.json);
    }
    s.stop().await;
}
