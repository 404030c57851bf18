//! The one flat error enum of the HTTP door: every refusal is
//! `{"error": {"code": "<code>", "message": "<human text>"}}` with one of
//! the codes of SPEC §3 (and `internal_error` for a 500).

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use whassap_server::accounts::AccountError;
use whassap_server::statuses::StatusError;
use whassap_store::StoreError;

/// How long a client is told to wait when the database is out of reach.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(5);

/// The stable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// 400: malformed JSON, bad query parameters or headers.
    InvalidRequest,
    /// 401: no or wrong credentials.
    Unauthorized,
    /// 403: authenticated but not allowed.
    Forbidden,
    /// 404: no such thing (or a method/path the API does not have).
    NotFound,
    /// 409: clashes with what exists.
    Conflict,
    /// 413: body over 64 KiB.
    PayloadTooLarge,
    /// 422: well-formed but breaks a rule (status length, username...).
    ValidationFailed,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 500: the server failed (logged).
    InternalError,
    /// 503: the database is out of reach for now; see `Retry-After`.
    Unavailable,
}

impl Code {
    fn status(self) -> StatusCode {
        match self {
            Code::InvalidRequest => StatusCode::BAD_REQUEST,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The error body's inner object.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: Code,
    /// For humans.
    pub message: String,
}

/// An error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A refusal, ready to be answered.
#[derive(Debug)]
pub struct ApiError {
    code: Code,
    message: String,
    retry_after: Option<Duration>,
    status: Option<StatusCode>,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Code::Conflict, message)
    }

    /// 422 `validation_failed`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(Code::ValidationFailed, message)
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                Code::RateLimited,
                format!("Too many requests; try again in {} s.", secs.max(1)),
            )
        }
    }

    /// 500 `internal_error`; the cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("REST API request failed: {cause}");
        Self::new(Code::InternalError, "The server failed; try again later.")
    }

    /// 503 `unavailable`, with `Retry-After`: the database is out of reach
    /// (logged). Nothing was done.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!("REST API request failed, the database is out of reach: {cause}");
        ApiError {
            retry_after: Some(UNAVAILABLE_RETRY),
            ..Self::new(
                Code::Unavailable,
                "The database is out of reach; nothing was done. Try again shortly.",
            )
        }
    }

    /// With another HTTP status than the code's (405 for a wrong method).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(self.code.status())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(d) = self.retry_after {
            let secs = (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.code == Code::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"whassap\", Basic realm=\"whassap\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::unavailable(e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<StatusError> for ApiError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::Validation(m) => ApiError::validation(m),
            StatusError::NotFound => ApiError::not_found("No such status."),
            StatusError::Forbidden => ApiError::forbidden("Only its author may delete a status."),
            StatusError::Conflict(m) => ApiError::conflict(m),
            StatusError::Store(e) => ApiError::from(e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Taken(_) => ApiError::conflict(e.to_string()),
            AccountError::NotFound(_) => ApiError::not_found(e.to_string()),
            AccountError::Store(e) => ApiError::from(e),
            AccountError::InvalidName(_)
            | AccountError::Reserved(_)
            | AccountError::NotAllowed { .. }
            | AccountError::InvalidPassword
            | AccountError::InvalidDisplayName => ApiError::validation(e.to_string()),
        }
    }
}

/// `Result` of the API's handlers.
pub type ApiResult<T> = Result<T, ApiError>;
