//! The web pages: server-rendered HTML (maud), one embedded stylesheet and
//! one small embedded script (no build step).
//!
//! | page | what |
//! |---|---|
//! | `GET /` | the public timeline, live from the SSE firehose; the status form when logged in |
//! | `POST /statuses` | set your status (`source` = `web`) |
//! | `GET/POST /signup`, `GET/POST /login`, `POST /logout` | accounts and sessions |
//! | `GET /{username}` | a user's page: current status, history, how to follow them over XMPP |
//! | `GET /{username}/statuses/{id}` | one status (its `url`); `POST …/delete` by its author |
//! | `GET /settings`, `POST /settings/…` | personal access tokens, webhooks and their deliveries |
//! | `GET /stats.json` | the "push saved" counter |
//! | `GET /static/…` | the stylesheet, the script and the icon |
//!
//! Sessions and CSRF protection are in [`session`] and [`csrf`]. Every page
//! carries a Content-Security-Policy that allows scripts and styles from
//! this origin only, so no inline script runs even if one slipped into a
//! page; maud escapes every text it is given.

mod account;
mod assets;
mod components;
mod csrf;
mod error;
mod form;
mod layout;
mod paging;
mod session;
mod settings;
mod stats;
mod timeline;
mod users;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;

use crate::api::extract::MAX_BODY;
use crate::AppState;
pub use error::WebError;

/// What every page may load: scripts, styles and data from this origin
/// only; no inline script, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The web page routes (merged into the HTTP router).
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(timeline::show))
        .route("/statuses", post(timeline::post_status))
        .route("/signup", get(account::signup_page).post(account::signup))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        .route("/settings", get(settings::show))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/{id}/revoke", post(settings::revoke_token))
        .route("/settings/webhooks", post(settings::create_webhook))
        .route(
            "/settings/webhooks/{id}/delete",
            post(settings::delete_webhook),
        )
        .route("/stats.json", get(stats::json))
        .route("/static/{file}", get(assets::serve))
        .route("/{username}", get(users::show))
        .route("/{username}/statuses/{id}", get(users::status))
        .route(
            "/{username}/statuses/{id}/delete",
            post(users::delete_status),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::map_response(security_headers))
        .route_layer(middleware::from_fn_with_state(state, limit_posts))
}

async fn not_found() -> WebError {
    WebError::not_found("There is no page here.")
}

/// Headers of every page: the CSP, no sniffing, no framing, no caching of
/// pages that carry a session's form tokens.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if is_html {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Form posts take one from the client IP's API allowance (sign-up and
/// login attempts included), so a script gets no more through the pages
/// than through the API.
async fn limit_posts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if let Err(wait) = state.limits.per_ip.check(&addr.ip().to_string()) {
                return WebError::rate_limited(wait).into_response();
            }
        }
    }
    next.run(req).await
}
