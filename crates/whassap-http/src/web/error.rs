//! Refusals of the web pages, answered as an HTML page with the matching
//! status: 400, 401, 403, 404, 413, 429 or 500.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use whassap_server::statuses::StatusError;
use whassap_store::StoreError;

use super::layout::{self, Chrome};
use crate::api::error::ApiError;

/// An error page.
#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    title: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

impl WebError {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        WebError {
            status,
            title,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: a malformed request (a bad page cursor, an unreadable form).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    /// 403: not allowed, or a form without a valid CSRF token.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    /// 404: no such page, user or status.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    /// 413: a form over the body limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Too large", message)
    }

    /// 429: over the client IP's rate limit.
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        WebError {
            retry_after: Some(Duration::from_secs(secs)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Slow down",
                format!("Too many requests; try again in {secs} s."),
            )
        }
    }

    /// 500: the server failed; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("web page request failed: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server error",
            "The server failed; try again later.",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let content = html! {
            section.card.error-page {
                h1 { (self.title) }
                p { (self.message) }
                p { a href="/" { "Back to the timeline" } }
            }
        };
        let page = layout::page(&Chrome::bare(), self.title, content);
        let mut response = (self.status, page).into_response();
        if let Some(d) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(d.as_secs()));
        }
        response
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::internal(e)
    }
}

impl From<StatusError> for WebError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::NotFound => WebError::not_found("There is no such status."),
            StatusError::Forbidden => WebError::forbidden("Only its author may delete a status."),
            StatusError::Validation(m) | StatusError::Conflict(m) => WebError::bad_request(m),
            StatusError::Store(e) => WebError::internal(e),
        }
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        match e.status() {
            StatusCode::NOT_FOUND => WebError::not_found(e.message()),
            StatusCode::FORBIDDEN => WebError::forbidden(e.message()),
            StatusCode::INTERNAL_SERVER_ERROR => WebError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server error",
                e.message(),
            ),
            _ => WebError::bad_request(e.message()),
        }
    }
}
