//! The REST API of SPEC §3 under `/api/v1`: users, personal access tokens,
//! statuses and timelines, the SSE firehose, webhooks and their deliveries,
//! and the OpenAPI document generated
//! from the handlers (`/api/v1/openapi.json`). Every handler translates:
//! statuses go through the pipeline in `whassap_server::statuses`, the
//! rest through the store.

pub mod auth;
pub mod error;
pub mod extract;
mod firehose;
mod messages;
mod openapi;
pub mod ratelimit;
mod statuses;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod webhooks;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;
use whassap_server::statuses::{is_cursor, Status};
use whassap_store::TimelineQuery;

use crate::AppState;
use error::{ApiError, ApiResult};
use ratelimit::RateLimiter;

/// Default page size of timelines.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size of timelines.
pub const MAX_LIMIT: u32 = 200;

/// The rate limiters of the API.
pub struct Limits {
    /// Per personal access token (or per account with Basic auth).
    pub per_token: RateLimiter,
    /// Per client IP address, for every API request.
    pub per_ip: RateLimiter,
    /// Per token (or account), for the notifications API's messages.
    pub messages: RateLimiter,
}

/// The `/api/v1` routes.
pub(crate) fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", post(users::create))
        .route("/api/v1/users/{username}", get(users::show))
        .route("/api/v1/users/{username}/statuses", get(users::statuses))
        .route("/api/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/api/v1/tokens/{id}", delete(tokens::delete))
        .route(
            "/api/v1/statuses",
            post(statuses::create).get(statuses::timeline),
        )
        .route(
            "/api/v1/statuses/{id}",
            get(statuses::show).delete(statuses::delete),
        )
        .route(
            "/api/v1/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route("/api/v1/webhooks/{id}", delete(webhooks::delete))
        .route("/api/v1/firehose", get(firehose::stream))
        .route("/api/v1/messages", post(messages::send))
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1", any(no_such_endpoint))
        .route("/api/v1/{*rest}", any(no_such_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .route_layer(middleware::from_fn_with_state(state, per_ip))
}

async fn no_such_endpoint() -> ApiError {
    ApiError::not_found("No such API endpoint.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::invalid("This endpoint does not take this method.")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Every API request takes one from its client IP's allowance.
async fn per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        if let Err(wait) = state.limits.per_ip.check(&addr.ip().to_string()) {
            return ApiError::rate_limited(wait).into_response();
        }
    }
    next.run(req).await
}

/// Paging of a timeline, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Statuses per page: 1–200, default 20.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Only statuses older than this id (the `next` link). A status id or
    /// the start of one (ids begin with their time); anything else is 400.
    #[param(pattern = r"^([0-9A-HJKMNP-TV-Z]{0,25}|[0-7][0-9A-HJKMNP-TV-Z]{25})$")]
    pub before: Option<String>,
    /// Only statuses newer than this id: the page just after it, still
    /// newest first (the `prev` link). A status id or the start of one.
    #[param(pattern = r"^([0-9A-HJKMNP-TV-Z]{0,25}|[0-7][0-9A-HJKMNP-TV-Z]{25})$")]
    pub after: Option<String>,
    /// Only statuses whose text contains this, case-insensitively.
    pub q: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Answer a page of the public timeline (`author` None) or of one user's:
/// a JSON array, newest first, with `Link` headers `rel="next"` (older)
/// and `rel="prev"` (newer).
pub(crate) async fn timeline_page(
    state: &AppState,
    path: &str,
    author: Option<&str>,
    params: &PageParams,
) -> ApiResult<Response> {
    let limit = match params.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT} (got {n})."
            )))
        }
    };
    let (before, after, q) = (
        non_empty(&params.before),
        non_empty(&params.after),
        non_empty(&params.q),
    );
    if !before.iter().chain(&after).all(|id| is_cursor(id)) {
        return Err(ApiError::invalid(
            "The page cursor (before / after) must be a status id.",
        ));
    }
    let mut rows = state
        .server
        .store
        .timeline(&TimelineQuery {
            author,
            q,
            before,
            after,
            limit: limit + 1,
        })
        .await?;
    let extra = rows.len() > limit as usize;
    let more_older = if after.is_some() && before.is_none() {
        // Fetched upwards from `after`: the extra one is the newest.
        if extra {
            rows.remove(0);
        }
        true
    } else {
        rows.truncate(limit as usize);
        extra
    };
    let statuses = rows
        .into_iter()
        .map(|r| Status::from_record(&state.server.config, r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut links = Vec::new();
    let base = format!(
        "{}{path}",
        state.server.config.public_url.trim_end_matches('/')
    );
    let link = |cursor: &str, id: &str, rel: &str| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &limit.to_string());
        if let Some(q) = q {
            query.append_pair("q", q);
        }
        query.append_pair(cursor, id);
        format!("<{base}?{}>; rel=\"{rel}\"", query.finish())
    };
    if let (Some(first), Some(last)) = (statuses.first(), statuses.last()) {
        if more_older {
            links.push(link("before", &last.id, "next"));
        }
        links.push(link("after", &first.id, "prev"));
    }
    let mut response = Json(statuses).into_response();
    if !links.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}
