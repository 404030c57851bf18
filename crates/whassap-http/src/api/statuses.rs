//! `/api/v1/statuses`: post (with `Idempotency-Key`), show, delete, and the
//! public timeline.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use whassap_server::statuses::{self, NewStatus, Source, Status};

use super::auth::Auth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiQuery, JsonBody};
use super::{timeline_page, PageParams};
use crate::AppState;

/// Longest `Idempotency-Key`.
const MAX_KEY: usize = 255;

/// A new status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewStatusBody {
    /// 1–280 characters (after NFC normalisation), no control characters
    /// but newline.
    #[schema(example = "at the pub")]
    pub text: String,
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::invalid(format!(
            "Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters."
        ))),
    }
}

/// Post a status (`source` = `api`).
#[utoipa::path(
    post, path = "/api/v1/statuses", tag = "statuses",
    request_body = NewStatusBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "A repeat with the same key within an hour returns the first result \
                       (with `Idempotent-Replayed: true`) and posts nothing.")),
    responses(
        (status = 201, description = "Posted", body = Status),
        (status = 400, description = "Malformed JSON or header", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 409, description = "Idempotency-Key reused for another text", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 422, description = "Empty, too long or control characters", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewStatusBody>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let posted = statuses::post_with(
        &state.server,
        NewStatus {
            author: &auth.username,
            text: &body.text,
            source: Source::Api,
            client_item_id: None,
            idempotency_key: key.as_deref(),
        },
    )
    .await?;
    let location = format!("/api/v1/statuses/{}", posted.status.id);
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(posted.status),
    )
        .into_response();
    if posted.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One status.
#[utoipa::path(
    get, path = "/api/v1/statuses/{id}", tag = "statuses",
    params(("id" = String, Path, description = "Status id")),
    responses(
        (status = 200, description = "The status", body = Status),
        (status = 404, description = "No such status", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Status>> {
    let record = state
        .server
        .store
        .status(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such status."))?;
    Ok(Json(Status::from_record(&state.server.config, record)?))
}

/// Delete one of your statuses: retracted everywhere it was published.
#[utoipa::path(
    delete, path = "/api/v1/statuses/{id}", tag = "statuses",
    params(("id" = String, Path, description = "Status id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Someone else's status", body = ErrorBody),
        (status = 404, description = "No such status", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    statuses::delete(&state.server, &auth.username, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public timeline: every status, newest first.
#[utoipa::path(
    get, path = "/api/v1/statuses", tag = "statuses",
    params(PageParams),
    responses(
        (status = 200, description = "A page of statuses, newest first, with Link headers",
         body = [Status]),
        (status = 400, description = "Bad limit or query", body = ErrorBody),
    )
)]
pub async fn timeline(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    timeline_page(&state, "/api/v1/statuses", None, &params).await
}
