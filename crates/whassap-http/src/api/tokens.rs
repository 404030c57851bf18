//! `/api/v1/tokens`: personal access tokens. The token is shown once, at
//! creation; only its SHA-256 is stored.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whassap_store::TokenRecord;

use super::auth::{token_hash, Auth, Via};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, JsonBody};
use crate::AppState;

/// What every token starts with (so that scanners can spot leaked ones).
pub const TOKEN_PREFIX: &str = "whassap_";
/// Longest token name, in characters.
const MAX_NAME: usize = 100;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// What it is for: 1–100 characters once leading and trailing spaces
    /// are trimmed, no control characters.
    #[schema(
        example = "my script",
        min_length = 1,
        pattern = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub name: String,
}

/// A token just created: the only time `token` is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Token id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The secret, for `Authorization: Bearer ...`.
    #[schema(example = "whassap_3kT9...")]
    pub token: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A token as listed (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    /// Token id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Last use (to the minute), RFC 3339 UTC.
    pub last_used_at: Option<String>,
}

impl From<TokenRecord> for Token {
    fn from(t: TokenRecord) -> Self {
        Token {
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// Create a personal access token (HTTP Basic only: a token cannot make
/// tokens).
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "tokens", operation_id = "create_token",
    request_body = NewToken,
    responses(
        (status = 201, description = "Created; the token is shown only now", body = CreatedToken,
         links(("DeleteToken" = (operation_id = "delete_token",
                                 parameters(("id" = "$response.body#/id")))))),
        (status = 403, description = "Authenticated with a token, not a password", body = ErrorBody),
        (status = 422, description = "Bad name", body = ErrorBody),
    ),
    security(("basic" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    if auth.via != Via::Basic {
        return Err(ApiError::forbidden(
            "Creating a token needs the account's password (HTTP Basic), not a token.",
        ));
    }
    let created = create_for(&state, &auth.username, &body.name).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Make a personal access token for `username` (the REST API and the
/// settings page): its secret is in the answer, and nowhere else.
pub(crate) async fn create_for(
    state: &AppState,
    username: &str,
    name: &str,
) -> ApiResult<CreatedToken> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "The token name must be 1 to {MAX_NAME} characters, without control characters."
        )));
    }
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let token = format!("{TOKEN_PREFIX}{secret}");
    let record = state
        .server
        .store
        .token_create(username, name, &token_hash(&token))
        .await?;
    Ok(CreatedToken {
        id: record.id,
        name: record.name,
        token,
        created_at: record.created_at,
    })
}

/// Your tokens.
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    responses(
        (status = 200, description = "Your tokens, oldest first", body = [Token]),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Token>>> {
    let tokens = state.server.store.tokens(&auth.username).await?;
    Ok(Json(tokens.into_iter().map(Token::from).collect()))
}

/// Revoke one of your tokens.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "tokens", operation_id = "delete_token",
    params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "You have no such token", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state.server.delete_token(&auth.username, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("You have no such token."))
    }
}
