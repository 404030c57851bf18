//! `/api/v1/statuses`: post (with `Idempotency-Key`), show, delete, and the
//! public timeline.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use whassap_server::statuses::{self, NewStatus, Source, Status};

use super::auth::Auth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, JsonBody};
use super::{timeline_page, PageParams};
use crate::AppState;

/// Longest `Idempotency-Key`.
const MAX_KEY: usize = 255;

/// A new status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewStatusBody {
    /// 1–280 characters (Unicode scalar values, after NFC normalisation),
    /// not only spaces, no control characters but newline. A `\r\n` is
    /// taken as a newline too (what HTML forms send) and counts as one
    /// character, though `pattern` leaves it out.
    #[schema(
        example = "at the pub",
        min_length = 1,
        max_length = 280,
        pattern = r"^[^\u0000-\u0009\u000b-\u001f\u007f-\u009f\ufffe\uffff]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufffe\uffff][^\u0000-\u0009\u000b-\u001f\u007f-\u009f\ufffe\uffff]*$"
    )]
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
    post, path = "/api/v1/statuses", tag = "statuses", operation_id = "create_status",
    request_body = NewStatusBody,
    params(("Idempotency-Key" = Option<String>, Header,
        nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1–255 visible ASCII characters. A repeat with the same key within an \
                       hour returns the first result (with `Idempotent-Replayed: true`) and \
                       posts nothing.")),
    responses(
        (status = 201, description = "Posted (or, for a repeated `Idempotency-Key`, the status \
                                      posted the first time)", body = Status,
         headers(
            ("Location" = String, description = "`/api/v1/statuses/{id}`"),
            ("Idempotent-Replayed" = String,
             description = "`true` when this answers a repeated `Idempotency-Key`"),
         ),
         links(
            ("GetStatus" = (operation_id = "get_status",
                            parameters(("id" = "$response.body#/id")))),
            ("DeleteStatus" = (operation_id = "delete_status",
                               parameters(("id" = "$response.body#/id")))),
         )),
        (status = 400, description = "Malformed JSON or `Idempotency-Key`", body = ErrorBody),
        (status = 409, description = "`Idempotency-Key` reused for another text, or for a \
                                      status since deleted", body = ErrorBody),
        (status = 422, description = "Text empty, too long or with control characters",
         body = ErrorBody),
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
    get, path = "/api/v1/statuses/{id}", tag = "statuses", operation_id = "get_status",
    params(("id" = String, Path, description = "Status id")),
    responses(
        (status = 200, description = "The status", body = Status),
        (status = 404, description = "No such status", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
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
    delete, path = "/api/v1/statuses/{id}", tag = "statuses", operation_id = "delete_status",
    params(("id" = String, Path, description = "Status id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Someone else's status", body = ErrorBody),
        (status = 404, description = "No such status", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    statuses::delete(&state.server, &auth.username, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The public timeline: every status, newest first.
#[utoipa::path(
    get, path = "/api/v1/statuses", tag = "statuses", operation_id = "list_statuses",
    params(PageParams),
    responses(
        (status = 200, description = "A page of statuses, newest first", body = [Status],
         headers(("Link" = String, description = "RFC 8288 links to the pages of older \
                  (`rel=\"next\"`) and newer (`rel=\"prev\"`) statuses; absent on an empty page"))),
        (status = 400, description = "`limit` not a number from 1 to 200", body = ErrorBody),
    )
)]
pub async fn timeline(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    timeline_page(&state, "/api/v1/statuses", None, &params).await
}
