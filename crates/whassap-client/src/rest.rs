//! A client of Whassap's REST API (`/api/v1`, see docs/rest-api.md), over
//! reqwest. Each call is one request; a refusal is a [`RestError`] that
//! says why, with the server's JSON error (`{"error": {"code",
//! "message"}}`) when it sent one.
//!
//! ```no_run
//! # async fn f() -> Result<(), whassap_client::rest::RestError> {
//! let api = whassap_client::rest::RestClient::new("https://status.example.org")?
//!     .with_token("whassap_…");
//! let id = api.send_message("alice@example.org", "Build #42 passed", "chat").await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::Deserialize;

pub use crate::firehose::{Firehose, FirehoseEvent, FirehoseFilter};
pub use crate::rest_status::{Status, StatusAuthor};
use serde_json::{json, Value};

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The longest silence on the firehose before it counts as dropped (the
/// server sends a comment every 15 s).
const STREAM_IDLE: Duration = Duration::from_secs(45);

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The base URL is not an `http` or `https` URL.
    #[error("bad URL {0:?}: {1}")]
    BadUrl(String, String),
    /// Nothing answered at the address (refused, unreachable, timed out).
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    /// The server's TLS certificate was refused (self-signed, expired,
    /// another name…). Accept it in development with
    /// [`RestClient::accept_invalid_certificates`].
    #[error("the TLS certificate of {0} was refused: {1}")]
    Certificate(String, String),
    /// 401: no, wrong or revoked credentials.
    #[error("authentication refused: {0}")]
    Unauthorized(ApiErrorBody),
    /// Any other refusal (4xx, 5xx): its status and the server's error.
    #[error("the server refused the request ({status}): {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's error.
        error: ApiErrorBody,
    },
    /// The answer was not what the API documents.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

/// The server's error: its stable `code` and a `message` for humans.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApiErrorBody {
    /// `forbidden`, `validation_failed`, `rate_limited`…
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Talks to one Whassap server's REST API.
#[derive(Clone, Debug)]
pub struct RestClient {
    base: url::Url,
    token: Option<String>,
    insecure: bool,
    http: reqwest::Client,
    stream_http: reqwest::Client,
}

impl RestClient {
    /// A client of the server at `base` (`https://status.example.org`; a
    /// path prefix is kept), without credentials.
    pub fn new(base: &str) -> Result<RestClient, RestError> {
        let bad = |why: String| RestError::BadUrl(base.to_string(), why);
        let mut url = url::Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("not http or https".into()));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(RestClient {
            base: url,
            token: None,
            insecure: false,
            http: build_http(false)?,
            stream_http: build_stream_http(false)?,
        })
    }

    /// Authenticate with this personal access token.
    pub fn with_token(mut self, token: impl Into<String>) -> RestClient {
        self.token = Some(token.into());
        self
    }

    /// Accept any TLS certificate (a self-signed one in development).
    /// Never in production: anyone in the middle could read the token.
    pub fn accept_invalid_certificates(mut self) -> Result<RestClient, RestError> {
        self.insecure = true;
        self.http = build_http(true)?;
        self.stream_http = build_stream_http(true)?;
        Ok(self)
    }

    /// IM `to` (a user's JID who accepted the bot) through the
    /// notifications API; `kind` is `chat`, `normal` or `headline`.
    /// Returns the message's id.
    pub async fn send_message(
        &self,
        to: &str,
        body: &str,
        kind: &str,
    ) -> Result<String, RestError> {
        let answer = self
            .post(
                "api/v1/messages",
                &json!({"to": to, "body": body, "type": kind}),
            )
            .await?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| RestError::Protocol(format!("no id in {answer}")))
    }

    /// POST `body` as JSON to `path` (relative to the base URL); the JSON
    /// answer of a 2xx.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        let request = self.http.post(self.url(path)?).json(body);
        self.call(request).await
    }

    /// GET `path` (relative to the base URL) with `query`; the JSON answer
    /// of a 2xx.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, RestError> {
        let request = self.http.get(self.url(path)?).query(query);
        self.call(request).await
    }

    /// The token's user sets a status (`POST /api/v1/statuses`).
    pub async fn post_status(&self, text: &str) -> Result<Status, RestError> {
        let answer = self
            .post("api/v1/statuses", &json!({ "text": text }))
            .await?;
        typed(answer)
    }

    /// One status by id; `None` if there is none (404).
    pub async fn status(&self, id: &str) -> Result<Option<Status>, RestError> {
        let path = format!("api/v1/statuses/{}", segment(id));
        match self.get(&path, &[]).await {
            Ok(answer) => typed(answer).map(Some),
            Err(RestError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A user's current status; `None` if they have none.
    pub async fn current_status(&self, username: &str) -> Result<Option<Status>, RestError> {
        let path = format!("api/v1/users/{}", segment(username));
        let answer = self.get(&path, &[]).await?;
        match &answer["status"] {
            Value::Null => Ok(None),
            status => typed(status.clone()).map(Some),
        }
    }

    /// The public timeline, newest first, at most `limit` (1–200).
    pub async fn timeline(&self, limit: u32) -> Result<Vec<Status>, RestError> {
        let answer = self
            .get("api/v1/statuses", &[("limit", &limit.to_string())])
            .await?;
        typed(answer)
    }

    /// A user's statuses, newest first, at most `limit` (1–200).
    pub async fn user_statuses(
        &self,
        username: &str,
        limit: u32,
    ) -> Result<Vec<Status>, RestError> {
        let path = format!("api/v1/users/{}/statuses", segment(username));
        let answer = self.get(&path, &[("limit", &limit.to_string())]).await?;
        typed(answer)
    }

    /// Delete one of the token's user's statuses.
    pub async fn delete_status(&self, id: &str) -> Result<(), RestError> {
        let path = format!("api/v1/statuses/{}", segment(id));
        let request = self.http.delete(self.url(&path)?);
        self.call(request).await.map(drop)
    }

    /// Tail the firehose (SSE), from after `after` if given, else from
    /// now; see [`Firehose`].
    pub async fn firehose(
        &self,
        filter: FirehoseFilter,
        after: Option<String>,
    ) -> Result<Firehose, RestError> {
        Firehose::open(self.clone(), filter, after).await
    }

    pub(crate) fn url(&self, path: &str) -> Result<url::Url, RestError> {
        self.base
            .join(path)
            .map_err(|e| RestError::BadUrl(path.to_string(), e.to_string()))
    }

    /// The raw streaming request of the firehose: no overall time limit.
    pub(crate) async fn open_stream(
        &self,
        url: url::Url,
        last_id: Option<&str>,
    ) -> Result<reqwest::Response, RestError> {
        let mut request = self
            .stream_http
            .get(url)
            .header("accept", "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(refusal(status.as_u16(), &text))
    }

    async fn call(&self, mut request: reqwest::RequestBuilder) -> Result<Value, RestError> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(refusal(status.as_u16(), &text));
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|_| RestError::Protocol(format!("{status}: not JSON: {text}")))
    }

    /// What a failure to talk to the server means.
    pub(crate) fn transport(&self, e: reqwest::Error) -> RestError {
        let host = self.base.host_str().unwrap_or("the server").to_string();
        if crate::tls::certificate_refused(&e) {
            return RestError::Certificate(host, root_cause(&e));
        }
        RestError::Connect(host, root_cause(&e))
    }
}

/// The error of a refused request: the server's JSON error if it sent one.
fn refusal(status: u16, text: &str) -> RestError {
    let error = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|json| serde_json::from_value::<ApiErrorBody>(json["error"].clone()).ok())
        .unwrap_or_else(|| ApiErrorBody {
            code: "unknown".into(),
            message: text.to_owned(),
        });
    match status {
        401 => RestError::Unauthorized(error),
        status => RestError::Refused { status, error },
    }
}

/// A JSON answer as the type the API documents.
fn typed<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, RestError> {
    serde_json::from_value(answer.clone())
        .map_err(|e| RestError::Protocol(format!("{e}: {answer}")))
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn build_http(insecure: bool) -> Result<reqwest::Client, RestError> {
    http_builder(insecure)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| RestError::Protocol(format!("HTTP client: {e}")))
}

/// For streams (the firehose): a connection timeout, no overall one; the
/// server's pings every 15 s keep it alive, and a silence longer than
/// [`STREAM_IDLE`] counts as a drop.
fn build_stream_http(insecure: bool) -> Result<reqwest::Client, RestError> {
    http_builder(insecure)
        .connect_timeout(TIMEOUT)
        .read_timeout(STREAM_IDLE)
        .build()
        .map_err(|e| RestError::Protocol(format!("HTTP client: {e}")))
}

fn http_builder(insecure: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(insecure)
        .user_agent(concat!("whassap-client/", env!("CARGO_PKG_VERSION")))
}

/// The innermost cause, for a message.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}
