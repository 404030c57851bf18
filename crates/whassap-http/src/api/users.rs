//! `/api/v1/users`: sign-up, profiles and user timelines.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whassap_server::accounts;
use whassap_server::statuses::{user_segment, Status};
use whassap_store::TimelineQuery;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, JsonBody};
use super::{timeline_page, PageParams};
use crate::AppState;

/// A sign-up.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    /// The JID localpart (RFC 7622), normalised with nodeprep (`Alice`
    /// becomes `alice`): letters, digits and punctuation, but no spaces,
    /// control characters or any of `"&'/:<>@`; at most 1023 bytes of
    /// UTF-8. `whassap`, `pubsub` and `firehose` are reserved.
    #[schema(example = "alice", min_length = 1, max_length = 1023)]
    pub username: String,
    /// 1–1023 bytes of UTF-8; stored only as SCRAM keys.
    #[schema(min_length = 1, max_length = 1023)]
    pub password: String,
    /// Shown with statuses: 1–64 characters once leading and trailing
    /// spaces are trimmed, no control characters. The username if absent.
    #[schema(
        example = "Alice",
        min_length = 1,
        pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,62}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
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
    post, path = "/api/v1/users", tag = "users", operation_id = "create_user",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User,
         headers(("Location" = String, description = "`/api/v1/users/{username}`")),
         links(
            ("GetUser" = (operation_id = "get_user",
                          parameters(("username" = "$response.body#/username")))),
            ("ListUserStatuses" = (operation_id = "list_user_statuses",
                                   parameters(("username" = "$response.body#/username")))),
         )),
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
    let name = register(
        &state,
        &body.username,
        &body.password,
        body.display_name.as_deref(),
    )
    .await?;
    let user = profile(&state, &name).await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/users/{}", user_segment(&name)),
        )],
        Json(user),
    )
        .into_response())
}

/// Create an account by self sign-up (the REST API and the web page):
/// refused while registration is closed. Returns the normalised username.
pub(crate) async fn register(
    state: &AppState,
    username: &str,
    password: &str,
    display_name: Option<&str>,
) -> ApiResult<String> {
    if !state.config.registration_open {
        return Err(ApiError::forbidden(
            "Registration is closed on this server; ask its administrator for an account.",
        ));
    }
    let display_name = display_name.map(accounts::display_name).transpose()?;
    let server = &state.server;
    let name = accounts::sign_up(
        &server.store,
        username,
        password,
        server.config.scram_iterations,
        &server.config.username_policy,
    )
    .await?;
    if let Some(d) = &display_name {
        server.store.set_display_name(&name, Some(d)).await?;
    }
    Ok(name)
}

/// A user's profile with their current status.
#[utoipa::path(
    get, path = "/api/v1/users/{username}", tag = "users", operation_id = "get_user",
    params(("username" = String, Path, description = "Username")),
    responses(
        (status = 200, description = "The profile", body = User),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(profile(&state, &username).await?))
}

/// A user's statuses, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/{username}/statuses", tag = "users",
    operation_id = "list_user_statuses",
    params(("username" = String, Path, description = "Username"), PageParams),
    responses(
        (status = 200, description = "A page of statuses, newest first", body = [Status],
         headers(("Link" = String, description = "RFC 8288 links to the pages of older \
                  (`rel=\"next\"`) and newer (`rel=\"prev\"`) statuses; absent on an empty page"))),
        (status = 400, description = "`limit` not a number from 1 to 200", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    )
)]
pub async fn statuses(
    State(state): State<AppState>,
    ApiPath(username): ApiPath<String>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Response> {
    let not_found = || ApiError::not_found(format!("No such user {username:?}."));
    let user = accounts::normalise(&username, true).map_err(|_| not_found())?;
    if state.server.store.display_name(&user).await?.is_none() {
        return Err(not_found());
    }
    let path = format!("/api/v1/users/{}/statuses", user_segment(&user));
    timeline_page(&state, &path, Some(&user), &params).await
}
