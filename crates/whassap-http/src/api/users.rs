//! `/api/v1/users`: sign-up, profiles and user timelines.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whassap_server::accounts;
use whassap_server::statuses::Status;
use whassap_store::TimelineQuery;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiQuery, JsonBody};
use super::{timeline_page, PageParams};
use crate::AppState;

/// A sign-up.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// The JID localpart: letters, digits and `. _ -`.
    #[schema(example = "alice")]
    pub username: String,
    /// 1–1023 bytes; stored only as SCRAM keys.
    pub password: String,
    /// Shown with statuses (1–64 characters); the username if absent.
    #[schema(example = "Alice")]
    pub display_name: Option<String>,
}

/// A user's profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    /// Username.
    #[schema(example = "alice")]
    pub username: String,
    /// Bare JID.
    #[schema(example = "alice@localhost")]
    pub jid: String,
    /// Display name (the username when none is set).
    #[schema(example = "Alice")]
    pub display_name: String,
    /// The current (latest) status, if any.
    pub status: Option<Status>,
    /// How many statuses the user has.
    pub statuses_count: u64,
}

/// The profile of `username` (normalised), or 404.
async fn profile(state: &AppState, username: &str) -> ApiResult<User> {
    let not_found = || ApiError::not_found(format!("No such user {username:?}."));
    let user = accounts::normalise(username, true).map_err(|_| not_found())?;
    let store = &state.server.store;
    let display_name = store.display_name(&user).await?.ok_or_else(not_found)?;
    let latest = store
        .timeline(&TimelineQuery {
            author: Some(&user),
            limit: 1,
            ..TimelineQuery::default()
        })
        .await?
        .pop()
        .map(|r| Status::from_record(&state.server.config, r))
        .transpose()?;
    Ok(User {
        jid: format!("{user}@{}", state.server.config.domain),
        display_name: display_name.unwrap_or_else(|| user.clone()),
        status: latest,
        statuses_count: store.statuses_count(&user).await?,
        username: user,
    })
}

/// Sign up (when registration is open).
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid or reserved username, bad password or display name",
         body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<Response> {
    if !state.config.registration_open {
        return Err(ApiError::forbidden(
            "Registration is closed on this server; ask its administrator for an account.",
        ));
    }
    let display_name = body
        .display_name
        .as_deref()
        .map(accounts::display_name)
        .transpose()?;
    let server = &state.server;
    let name = accounts::add(
        &server.store,
        &body.username,
        &body.password,
        server.config.scram_iterations,
    )
    .await?;
    if let Some(d) = &display_name {
        server.store.set_display_name(&name, Some(d)).await?;
    }
    let user = profile(&state, &name).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/users/{name}"))],
        Json(user),
    )
        .into_response())
}

/// A user's profile with their current status.
#[utoipa::path(
    get, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 200, description = "The profile", body = User),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(profile(&state, &username).await?))
}

/// A user's statuses, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/{username}/statuses", tag = "users",
    params(("username" = String, Path, description = "Username"), PageParams),
    responses(
        (status = 200, description = "A page of statuses, newest first, with Link headers",
         body = [Status]),
        (status = 400, description = "Bad limit or query", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn statuses(
    State(state): State<AppState>,
    Path(username): Path<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found(format!("No such user {username:?}."));
    let user = accounts::normalise(&username, true).map_err(|_| not_found())?;
    if state.server.store.display_name(&user).await?.is_none() {
        return Err(not_found());
    }
    let path = format!("/api/v1/users/{user}/statuses");
    timeline_page(&state, &path, Some(&user), &params).await
}
