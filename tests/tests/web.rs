//! The web pages over real HTTP with a cookie-keeping client: sign-up and
//! login, sessions (logout, restart), CSRF refusals that change nothing,
//! the status form through the pipeline (source `web`, the bot's thank-you
//! at a connected XMPP client), escaping, user and status pages with
//! paging, deletion by the author only, 404s and closed registration.

use whassap_tests::rest::{Api, Cred};
use whassap_tests::web::{Page, Web};
use whassap_tests::*;

const BOT: &str = "whassap@localhost";

fn cookie_named<'a>(page: &'a Page, name: &str) -> Option<&'a str> {
    page.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The session id a login answer set.
fn session_cookie(page: &Page) -> String {
    let c = cookie_named(page, "whassap_session").expect("a session cookie");
    c["whassap_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// GET `path` with only this session cookie (no cookie store).
async fn get_with_session(base: &str, path: &str, session: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .header("cookie", format!("whassap_session={session}"))
        .send()
        .await
        .unwrap()
}

async fn timeline(api: &Api) -> Vec<serde_json::Value> {
    api.get("/api/v1/statuses")
        .await
        .json
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn signing_up_logs_in_and_the_form_posts_through_the_pipeline() {
    let s = TestServer::start().await;
    let web = Web::new(s.http);
    let form = web.get("/signup").await;
    assert_eq!(form.status, 200);
    let csrf_cookie = cookie_named(&form, "whassap_csrf").expect("pre-session cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"));
    let p = web
        .submit(
            "/signup",
            "/signup",
            &[
                ("username", "Alice"),
                ("password", PASSWORD),
                ("display_name", "Alice A."),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), Some("/"));
    let cookie = cookie_named(&p, "whassap_session").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http public URL: {cookie}"
    );

    // Logged in: the timeline has the form, the nav the user.
    let home = web.get("/").await;
    assert!(home.has("action=\"/statuses\""), "{}", home.body);
    assert!(home.has("href=\"/alice\""));

    // The bot thanks alice at her XMPP client for a status set on the web.
    let mut c = s.client("alice").await;
    go_online(&mut c).await;
    let p = web.set_status("at the pub\r\nwith Bob").await;
    assert_eq!((p.status, p.location()), (303, Some("/")), "{}", p.body);
    let thanks = recv_matching(&mut c, "the bot's thank-you", |m| {
        m.name() == "message" && m.attr("from") == Some(BOT)
    })
    .await;
    let body = thanks.get_child("body", "jabber:client").unwrap().text();
    assert!(body.starts_with("Thanks for setting your status"), "{body}");
    assert!(body.contains("at the pub\nwith Bob"), "{body}");

    let api = Api::new(s.http);
    let all = timeline(&api).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["source"], "web");
    assert_eq!(all[0]["text"], "at the pub\nwith Bob");
    assert_eq!(all[0]["author"]["display_name"], "Alice A.");
    let home = web.get("/").await;
    assert!(home.has("at the pub\nwith Bob"), "{}", home.body);
    assert!(home.has(&format!("id=\"s-{}\"", all[0]["id"].as_str().unwrap())));
}

#[tokio::test]
async fn login_with_a_wrong_password_is_401_and_the_right_one_opens_a_session() {
    let s = TestServer::start().await;
    s.user("bob").await;
    let web = Web::new(s.http);
    assert_eq!(web.get("/settings").await.location(), Some("/login"));
    let p = web.log_in("bob", "wrong").await;
    assert_eq!(p.status, 401);
    assert!(p.has("Wrong username or password."), "{}", p.body);
    assert!(p.has("value=\"bob\""), "the username is kept");
    assert!(cookie_named(&p, "whassap_session").is_none());
    let p = web.log_in("nobody", "x").await;
    assert_eq!(p.status, 401);
    assert_eq!(web.get("/settings").await.status, 303, "still logged out");

    let p = web.log_in("BOB", PASSWORD).await;
    assert_eq!((p.status, p.location()), (303, Some("/")), "{}", p.body);
    let settings = web.get("/settings").await;
    assert_eq!(settings.status, 200);
    assert!(settings.has("bob@localhost"));
    // A logged-in visitor is sent on from the login and sign-up pages.
    assert_eq!(web.get("/login").await.location(), Some("/"));
    assert_eq!(web.get("/signup").await.location(), Some("/"));
}

#[tokio::test]
async fn posts_without_a_valid_csrf_token_are_403_and_change_nothing() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let web = Web::new(s.http);
    web.sign_up("alice").await;
    let token = web.get("/").await.csrf();

    for fields in [
        vec![("text", "no token")],
        vec![("text", "wrong token"), ("csrf", "x")],
        vec![("text", "token of another length"), ("csrf", &token[1..])],
    ] {
        let p = web.post("/statuses", &fields).await;
        assert_eq!(p.status, 403, "{fields:?}: {}", p.body);
    }
    let p = web
        .post("/settings/tokens", &[("name", "t"), ("csrf", "nope")])
        .await;
    assert_eq!(p.status, 403);
    let p = web.post("/logout", &[]).await;
    assert_eq!(p.status, 403);
    assert_eq!(web.get("/settings").await.status, 200, "still logged in");
    assert!(timeline(&api).await.is_empty(), "nothing posted");
    assert!(
        !web.get("/settings").await.has("data-token-id"),
        "no token made"
    );

    // Another visitor's token is no good either.
    let eve = Web::new(s.http);
    eve.sign_up("eve").await;
    let eves = eve.get("/").await.csrf();
    let p = web
        .post("/statuses", &[("text", "forged"), ("csrf", &eves)])
        .await;
    assert_eq!(p.status, 403);

    // Login and sign-up forms need the pre-session cookie's token.
    let fresh = Web::new(s.http);
    let p = fresh
        .post(
            "/signup",
            &[
                ("username", "mallory"),
                ("password", "pw"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    let p = fresh
        .post(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(p.status, 403);
    fresh.get("/login").await; // now it has a cookie, but the form a wrong token
    let p = fresh
        .post(
            "/login",
            &[("username", "alice"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(cookie_named(&p, "whassap_session").is_none());
    assert_eq!(api.get("/api/v1/users/mallory").await.status, 404);
    assert!(timeline(&api).await.is_empty());
}

#[tokio::test]
async fn bad_input_rerenders_the_form_with_the_reason_and_changes_nothing() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let web = Web::new(s.http);
    web.sign_up("alice").await;

    let long = "x".repeat(281);
    let p = web.set_status(&long).await;
    assert_eq!(p.status, 422);
    assert!(p.has("at most 280 characters"), "{}", p.body);
    assert!(p.has(&long), "the text is kept");
    let p = web.set_status("   ").await;
    assert_eq!(p.status, 422);
    assert!(timeline(&api).await.is_empty());

    let other = Web::new(s.http);
    let p = other
        .submit(
            "/signup",
            "/signup",
            &[("username", "alice"), ("password", "pw")],
        )
        .await;
    assert_eq!(p.status, 409);
    assert!(p.has("is taken"), "{}", p.body);
    for name in ["settings", "login", "static", "whassap", "stats.json"] {
        let p = other
            .submit(
                "/signup",
                "/signup",
                &[("username", name), ("password", "pw")],
            )
            .await;
        assert_eq!(p.status, 422, "{name}");
        assert!(p.has("is reserved"), "{name}: {}", p.body);
    }
    let p = other
        .submit(
            "/signup",
            "/signup",
            &[("username", "a b"), ("password", "pw")],
        )
        .await;
    assert_eq!(p.status, 422);
    let p = other
        .submit(
            "/signup",
            "/signup",
            &[("username", "carol"), ("password", "")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert_eq!(api.get("/api/v1/users/carol").await.status, 404);
    // Route names are reserved through the API too.
    let a = api
        .call(
            "POST",
            "/api/v1/users",
            &Cred::Anonymous,
            Some(serde_json::json!({"username": "Settings", "password": "pw"})),
        )
        .await;
    assert_eq!(a.status, 422);
}

#[tokio::test]
async fn statuses_are_escaped_and_pages_forbid_inline_script() {
    let s = TestServer::start().await;
    let web = Web::new(s.http);
    web.sign_up("alice").await;
    let evil = "<script>alert(1)</script> & <b>bold</b>";
    assert_eq!(web.set_status(evil).await.status, 303);
    let id = Api::new(s.http).get("/api/v1/statuses").await.json[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;";
    for path in [
        "/".to_string(),
        "/alice".into(),
        format!("/alice/statuses/{id}"),
    ] {
        let p = web.get(&path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(p.has(escaped), "{path}: {}", p.body);
        assert!(!p.has("<script>alert"), "{path}");
        assert!(!p.has("<b>bold"), "{path}");
        let csp = p.header("content-security-policy").expect("a CSP");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(p.header("x-content-type-options"), Some("nosniff"));
        assert!(p.header("content-type").unwrap().starts_with("text/html"));
    }
    // The only scripts are the embedded file.
    let home = web.get("/").await;
    assert_eq!(home.body.matches("<script").count(), 1);
    assert!(home.has("<script src=\"/static/app.js"));
    let js = web.get("/static/app.js").await;
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert!(!js.body.contains("innerHTML"), "text only via textContent");
    let css = web.get("/static/app.css").await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

#[tokio::test]
async fn user_pages_page_through_history_and_show_how_to_follow() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            api.post_status(&alice, &format!("status number {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let web = Web::new(s.http);
    let p = web.get("/alice").await;
    assert_eq!(p.status, 200);
    for text in [
        "alice@localhost",
        "urn:xmpp:microblog:0",
        "whassap@localhost",
        "25 statuses",
        "xmpp:alice@localhost?roster",
    ] {
        assert!(p.has(text), "{text}: {}", p.body);
    }
    // Current status, then 20 of the history, newest first.
    assert!(p.has("class=\"current-text\" data-id=\"") && p.has(">status number 24</blockquote>"));
    assert_eq!(p.body.matches("class=\"status\"").count(), 20);
    assert!(p.has("data-stream=\"/api/v1/firehose?users=alice&amp;after="));
    let older = format!("/alice?before={}", ids[5]);
    assert!(p.has(&older.replace('&', "&amp;")), "{}", p.body);
    let p = web.get(&older).await;
    assert_eq!(p.body.matches("class=\"status\"").count(), 5);
    assert!(p.has("status number 0") && !p.has("status number 5<"));
    assert!(!p.has("data-stream"), "older pages are not live");
    assert!(
        p.has(&format!("/alice?after={}", ids[4])),
        "a link to newer"
    );
    let p = web.get(&format!("/alice?after={}", ids[4])).await;
    assert_eq!(p.body.matches("class=\"status\"").count(), 20);
    assert!(p.has("status number 5<") && p.has("status number 24<"));

    // The public timeline pages the same way.
    let p = web.get("/").await;
    assert_eq!(p.body.matches("class=\"status\"").count(), 20);
    assert!(p.has(&format!("/?before={}", ids[5])));
    assert_eq!(web.get("/?before=<x>").await.status, 400);

    // A status's page is its `url`.
    let status = api.get(&format!("/api/v1/statuses/{}", ids[3])).await.json;
    let url = status["url"].as_str().unwrap();
    let path = &url[url.find("/alice/").unwrap()..];
    let p = web.get(path).await;
    assert_eq!(p.status, 200);
    assert!(p.has("status number 3<"));
    assert!(p.has("<title>alice: status number 3 · Whassap</title>"));
}

#[tokio::test]
async fn unknown_users_statuses_and_paths_are_404_pages() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    api.sign_up("bob").await;
    let id = api.post_status(&alice, "hi").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let web = Web::new(s.http);
    for path in [
        "/nobody".to_string(),
        "/nobody/statuses/01ABC".into(),
        "/alice/statuses/01ABC".into(),
        format!("/bob/statuses/{id}"),
        "/static/nope.css".into(),
        "/a/b/c/d/e".into(),
        "/api".into(),
        "/not%20valid".into(),
    ] {
        let p = web.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.has("<h1>Not found</h1>"), "{path}: {}", p.body);
    }
    // The API keeps its JSON 404s.
    assert_eq!(api.get("/api/v1/nope").await.code(), "not_found");
}

#[tokio::test]
async fn only_the_author_can_delete_a_status() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    let alice = Web::new(s.http);
    alice.sign_up("alice").await;
    alice.set_status("mine").await;
    let id = api.get("/api/v1/statuses").await.json[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("/alice/statuses/{id}");
    let action = format!("{page}/delete");

    let bob = Web::new(s.http);
    bob.sign_up("bob").await;
    let p = bob.get(&page).await;
    assert!(!p.has(&action), "no delete button for bob");
    let token = bob.get("/").await.csrf();
    let p = bob.post(&action, &[("csrf", &token)]).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert_eq!(Web::new(s.http).post(&action, &[]).await.status, 403);
    assert_eq!(api.get(&format!("/api/v1/statuses/{id}")).await.status, 200);

    let p = alice.get(&page).await;
    assert!(p.has(&format!("action=\"{action}\"")), "{}", p.body);
    let p = alice.submit(&page, &action, &[]).await;
    assert_eq!((p.status, p.location()), (303, Some("/alice")));
    assert_eq!(api.get(&format!("/api/v1/statuses/{id}")).await.status, 404);
    assert_eq!(alice.get(&page).await.status, 404);
    let token = alice.get("/").await.csrf();
    assert_eq!(alice.post(&action, &[("csrf", &token)]).await.status, 404);
}

#[tokio::test]
async fn logging_out_ends_the_session_for_good() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let web = Web::new(s.http);
    let login = web.log_in("alice", PASSWORD).await;
    let session = session_cookie(&login);
    let base = format!("http://{}", s.http);
    assert_eq!(
        get_with_session(&base, "/settings", &session)
            .await
            .status(),
        200
    );
    let token = web.get("/").await.csrf();
    let p = web.post("/logout", &[("csrf", &token)]).await;
    assert_eq!((p.status, p.location()), (303, Some("/")));
    let cleared = cookie_named(&p, "whassap_session").unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(web.get("/settings").await.location(), Some("/login"));
    // The old cookie, replayed, opens nothing: the session is gone.
    let r = get_with_session(&base, "/settings", &session).await;
    assert_eq!(r.status(), 303);
    assert!(!web.get("/").await.has("action=\"/statuses\""));
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let session = session_cookie(&Web::new(s.http).log_in("alice", PASSWORD).await);
    let s = s.restart().await;
    let base = format!("http://{}", s.http);
    let r = get_with_session(&base, "/settings", &session).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("alice@localhost"));
    // A made-up id is not a session.
    let fake = "A".repeat(43);
    assert_eq!(
        get_with_session(&base, "/settings", &fake).await.status(),
        303
    );
}

#[tokio::test]
async fn closed_registration_says_so_and_refuses() {
    let s =
        TestServer::start_with(|c| c.registration = whassap::config::Registration::Closed).await;
    let web = Web::new(s.http);
    let p = web.get("/signup").await;
    assert_eq!(p.status, 200);
    assert!(p.has("Registration is closed"), "{}", p.body);
    assert!(!p.has("action=\"/signup\""));
    assert!(!web.get("/login").await.has("href=\"/signup\""));
    let p = web
        .submit(
            "/login",
            "/signup",
            &[("username", "carol"), ("password", "pw")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(p.has("Registration is closed"));
    assert_eq!(
        Api::new(s.http).get("/api/v1/users/carol").await.status,
        404
    );
}
