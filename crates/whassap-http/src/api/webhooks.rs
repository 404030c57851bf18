//! `/api/v1/webhooks`: registration, listing, deletion and the delivery
//! log of a webhook. URLs that point
//! at loopback or private addresses are refused unless
//! `webhooks.allow_private` is set (they would let anyone make the server
//! call into its own network).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whassap_server::accounts;
use whassap_store::{AttemptRecord, DeliveryRecord, WebhookRecord};

use super::auth::Auth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, JsonBody};
use crate::AppState;

/// Longest URL accepted.
const MAX_URL: usize = 2048;
/// Longest `q` filter, in characters.
const MAX_Q: usize = 280;
/// Longest secret, in bytes.
const MAX_SECRET: usize = 256;

/// Usernames as a JSON array or a comma-separated string; each must be a
/// valid username (it need not exist yet).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UsersFilter {
    /// `["alice", "bob"]`.
    List(Vec<String>),
    /// `"alice,bob"`.
    Csv(String),
}

/// A webhook to register.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    /// `http` or `https` URL that events are POSTed to, at most 2048 bytes.
    /// Refused when its host is or resolves to a loopback or private
    /// address (unless `webhooks.allow_private`), or does not resolve.
    #[schema(
        example = "https://example.org/hooks/whassap",
        min_length = 1,
        max_length = 2048
    )]
    pub url: String,
    /// Only statuses of these users (default: everyone's).
    pub users: Option<UsersFilter>,
    /// Only statuses containing this, case-insensitively (at most 280
    /// characters; empty: all statuses).
    #[schema(max_length = 280)]
    pub q: Option<String>,
    /// HMAC-SHA256 key of `X-Whassap-Signature`, 1–256 bytes of UTF-8
    /// (default: 40 random characters).
    #[schema(min_length = 1, max_length = 256)]
    pub secret: Option<String>,
}

/// A registered webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    /// Webhook id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// Only statuses of these users (null: everyone's).
    pub users: Option<Vec<String>>,
    /// Only statuses containing this (null: all).
    pub q: Option<String>,
    /// The signing secret: shown when the webhook is created only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

impl Webhook {
    fn from_record(w: WebhookRecord, with_secret: bool) -> Self {
        Webhook {
            id: w.id,
            url: w.url,
            users: w.users,
            q: w.q,
            secret: with_secret.then_some(w.secret),
            created_at: w.created_at,
        }
    }
}

/// Check a webhook URL: its syntax and, unless private addresses are
/// allowed, every address its host resolves to.
async fn check_url(raw: &str, allow_private: bool) -> ApiResult<String> {
    if raw.len() > MAX_URL {
        return Err(ApiError::validation(format!(
            "The URL is over {MAX_URL} bytes."
        )));
    }
    let url = url::Url::parse(raw)
        .map_err(|e| ApiError::validation(format!("The URL is not valid: {e}.")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::validation("The URL must be http or https."));
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(ApiError::validation("The URL has no host.")),
    };
    if allow_private {
        return Ok(url.to_string());
    }
    let refused = |why: String| {
        ApiError::validation(format!(
            "The URL leads to an address this server does not send webhooks to: {why} \
             (webhooks.allow_private)."
        ))
    };
    crate::ssrf::check_url_host(&host).map_err(refused)?;
    if let url::Host::Domain(d) = host {
        let port = url.port_or_known_default().unwrap_or(80);
        crate::ssrf::resolve_public(d, port)
            .await
            .map_err(|e| match e {
                crate::ssrf::HostError::Refused(why) => refused(why),
                crate::ssrf::HostError::Unresolvable(why) => {
                    ApiError::validation(format!("The URL's host does not resolve: {why}."))
                }
            })?;
    }
    Ok(url.to_string())
}

fn users_filter(users: Option<UsersFilter>) -> ApiResult<Option<Vec<String>>> {
    let list = match users {
        None => return Ok(None),
        Some(UsersFilter::List(l)) => l,
        Some(UsersFilter::Csv(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let mut out = Vec::with_capacity(list.len());
    for u in list {
        let n = accounts::normalise(&u, true)
            .map_err(|_| ApiError::validation(format!("users: {u:?} is not a valid username.")))?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Register a webhook for new and deleted statuses.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered; the secret is shown only now", body = Webhook,
         headers(("Location" = String, description = "`/api/v1/webhooks/{id}`")),
         links(
            ("ListWebhookDeliveries" = (operation_id = "list_webhook_deliveries",
                                        parameters(("id" = "$response.body#/id")))),
            ("DeleteWebhook" = (operation_id = "delete_webhook",
                                parameters(("id" = "$response.body#/id")))),
         )),
        (status = 422, description = "Bad or private URL, bad filters or secret", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewWebhook>,
) -> ApiResult<Response> {
    let record = create_for(&state, &auth.username, body).await?;
    let location = format!("/api/v1/webhooks/{}", record.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Webhook::from_record(record, true)),
    )
        .into_response())
}

/// Register a webhook for `owner` (the REST API and the settings page),
/// after checking its URL, filters and secret.
pub(crate) async fn create_for(
    state: &AppState,
    owner: &str,
    body: NewWebhook,
) -> ApiResult<WebhookRecord> {
    let url = check_url(body.url.trim(), state.config.webhooks_allow_private).await?;
    let users = users_filter(body.users)?;
    let q = body.q.filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q) {
        return Err(ApiError::validation(format!(
            "q is at most {MAX_Q} characters."
        )));
    }
    let secret = match body.secret {
        Some(s) if s.is_empty() || s.len() > MAX_SECRET => {
            return Err(ApiError::validation(format!(
                "The secret must be 1 to {MAX_SECRET} bytes."
            )))
        }
        Some(s) => s,
        None => rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect(),
    };
    Ok(state
        .server
        .store
        .webhook_create(owner, &url, users.as_deref(), q.as_deref(), &secret)
        .await?)
}

/// Your webhooks (without their secrets).
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    responses(
        (status = 200, description = "Your webhooks, oldest first", body = [Webhook]),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Webhook>>> {
    let hooks = state.server.store.webhooks(&auth.username).await?;
    Ok(Json(
        hooks
            .into_iter()
            .map(|w| Webhook::from_record(w, false))
            .collect(),
    ))
}

/// Delete one of your webhooks (its pending deliveries go with it).
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "You have no such webhook", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state
        .server
        .store
        .webhook_delete(&auth.username, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("You have no such webhook."))
    }
}

/// Where a delivery stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: attempted again at `next_attempt_at`.
    Pending,
    /// Answered with a 2xx.
    Delivered,
    /// Every attempt failed; no more are made.
    Failed,
}

/// One attempt at a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, RFC 3339 UTC with milliseconds.
    pub at: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
    /// The HTTP status answered, if the receiver answered.
    pub status_code: Option<u16>,
    /// What went wrong (`HTTP 500`, a timeout, a connection error...), or null.
    pub error: Option<String>,
}

/// One event sent (or to be sent) to a webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The delivery id: the `X-Whassap-Delivery` header of every attempt.
    pub id: String,
    /// `status.created` or `status.deleted`.
    pub event: String,
    /// The status the event is about.
    pub status_id: Option<String>,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the next attempt is due (pending only), RFC 3339 UTC.
    pub next_attempt_at: Option<String>,
    /// When the event happened, RFC 3339 UTC.
    pub created_at: String,
    /// Every attempt so far, first first.
    pub attempts: Vec<DeliveryAttempt>,
}

fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&format).unwrap_or_default()
}

impl Delivery {
    fn new(d: DeliveryRecord, attempts: Vec<AttemptRecord>) -> Self {
        let status_id = serde_json::from_str::<serde_json::Value>(&d.body)
            .ok()
            .and_then(|b| b["status"]["id"].as_str().map(str::to_owned));
        let state = match d.state {
            whassap_store::DeliveryState::Pending => DeliveryState::Pending,
            whassap_store::DeliveryState::Delivered => DeliveryState::Delivered,
            whassap_store::DeliveryState::Failed => DeliveryState::Failed,
        };
        Delivery {
            next_attempt_at: matches!(state, DeliveryState::Pending)
                .then(|| rfc3339_ms(d.next_attempt_ms)),
            id: d.id,
            event: d.event,
            status_id,
            state,
            created_at: d.created_at,
            attempts: attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    attempt: a.attempt,
                    at: rfc3339_ms(a.at_ms),
                    duration_ms: a.duration_ms,
                    status_code: a.status,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// Deliveries to show, newest first: 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// The latest deliveries of one of your webhooks, newest first, each with
/// every attempt made.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = "Webhook id"), DeliveriesParams),
    responses(
        (status = 200, description = "Deliveries, newest first", body = [Delivery]),
        (status = 400, description = "`limit` not a number from 1 to 200", body = ErrorBody),
        (status = 404, description = "You have no such webhook", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<DeliveriesParams>,
) -> ApiResult<Json<Vec<Delivery>>> {
    let limit = match params.limit {
        None => 50,
        Some(n @ 1..=200) => n as u32,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and 200 (got {n})."
            )))
        }
    };
    let store = &state.server.store;
    if store.webhook(&auth.username, &id).await?.is_none() {
        return Err(ApiError::not_found("You have no such webhook."));
    }
    let mut out = Vec::new();
    for d in store.webhook_deliveries_recent(&id, limit).await? {
        let attempts = store.delivery_attempts(&d.id).await?;
        out.push(Delivery::new(d, attempts));
    }
    Ok(Json(out))
}
