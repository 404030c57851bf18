//! `POST /api/v1/messages`, the notifications API (SPEC §8): an
//! application IMs one of its users through the bot `whassap@<domain>`,
//! as GitHub's Jabber hook IMed people about their pushes. Only to users
//! who accepted the bot; rate limited per token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use whassap_server::bot::notify::{self, NotifyError};

use super::auth::Auth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::JsonBody;
use crate::AppState;

/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The recipient: a user's bare or full JID, on this server or another
    /// one, who accepted the bot (has it as a contact, subscribed to its
    /// presence). Checked with RFC 7622's profiles, which this schema
    /// cannot state: a JID that is not valid is refused with 422.
    #[schema(example = "alice@example.org", min_length = 3, max_length = 3071)]
    pub to: String,
    /// The text, 1 to 10,000 characters, not blank, no control characters
    /// but newline and tab.
    #[schema(
        example = "Build #42 of main failed: https://ci.example.org/42",
        min_length = 1,
        max_length = 10000
    )]
    pub body: String,
    /// `chat` (default), `normal` or `headline`.
    #[serde(rename = "type")]
    #[schema(example = "chat")]
    pub kind: Option<String>,
}

/// A message on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentMessage {
    /// The message's stanza id.
    pub id: String,
}

/// Send an IM from the bot to a user who accepted it.
#[utoipa::path(
    post, path = "/api/v1/messages", tag = "messages", operation_id = "send_message",
    request_body = NewMessage,
    responses(
        (status = 202, description = "Handed to the server for delivery (offline storage if the recipient is not online)", body = SentMessage),
        (status = 403, description = "The recipient has not accepted the bot", body = ErrorBody),
        (status = 422, description = "Not a user's JID, an empty or too long body, or an unknown type", body = ErrorBody),
        (status = 429, description = "Over the token's messages a minute (`api.messages_per_minute`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn send(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewMessage>,
) -> ApiResult<(StatusCode, Json<SentMessage>)> {
    let kind = body.kind.as_deref().unwrap_or("chat");
    if !notify::TYPES.contains(&kind) {
        return Err(ApiError::validation(format!(
            "type is one of {}, not {kind:?}.",
            notify::TYPES.join(", ")
        )));
    }
    let chars = body.body.chars().count();
    if body.body.trim().is_empty() || chars > MAX_BODY_CHARS {
        return Err(ApiError::validation(format!(
            "body is 1 to {MAX_BODY_CHARS} characters, not blank."
        )));
    }
    if let Some(c) = body
        .body
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(ApiError::validation(format!(
            "body cannot contain control characters other than newline and tab (found U+{:04X}).",
            c as u32
        )));
    }
    let to = notify::recipient(&body.to).map_err(refusal)?;
    // Only requests that could be sent count against the allowance.
    state
        .limits
        .messages
        .check(&auth.limit_key())
        .map_err(ApiError::rate_limited)?;
    match notify::send(&state.server, &to, &body.body, kind).await {
        Ok(id) => {
            tracing::info!(user = %auth.username, to = %body.to, %id, "notification sent");
            Ok((StatusCode::ACCEPTED, Json(SentMessage { id })))
        }
        Err(e) => Err(refusal(e)),
    }
}

fn refusal(e: NotifyError) -> ApiError {
    match e {
        NotifyError::BadRecipient(why) => ApiError::validation(format!("to: {why}.")),
        e @ NotifyError::NotAccepted(..) => ApiError::forbidden(format!("{e}.")),
        NotifyError::Store(e) => e.into(),
    }
}
