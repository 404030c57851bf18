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
use serde_json::{json, Value};

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

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
        let url = self
            .base
            .join(path)
            .map_err(|e| RestError::BadUrl(path.to_string(), e.to_string()))?;
        let mut request = self.http.post(url).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.transport(e))?;
        let json: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .map_err(|_| RestError::Protocol(format!("{status}: not JSON: {text}")))?
        };
        if status.is_success() {
            return Ok(json);
        }
        let error =
            serde_json::from_value::<ApiErrorBody>(json["error"].clone()).unwrap_or(ApiErrorBody {
                code: "unknown".into(),
                message: text,
            });
        Err(match status.as_u16() {
            401 => RestError::Unauthorized(error),
            s => RestError::Refused { status: s, error },
        })
    }

    /// What a failure to talk to the server means.
    fn transport(&self, e: reqwest::Error) -> RestError {
        let host = self.base.host_str().unwrap_or("the server").to_string();
        if certificate_refused(&e) {
            return RestError::Certificate(host, root_cause(&e));
        }
        RestError::Connect(host, root_cause(&e))
    }
}

fn build_http(insecure: bool) -> Result<reqwest::Client, RestError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .danger_accept_invalid_certs(insecure)
        .user_agent(concat!("whassap-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RestError::Protocol(format!("HTTP client: {e}")))
}

/// Is a rustls certificate error somewhere in `e`'s causes?
fn certificate_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if matches!(
            tls_error(e),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        next = e.source();
    }
    false
}

/// `e` as a rustls error, looking inside `io::Error`s (which hide the
/// error they wrap from `source()`).
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    tls_error(inner)
}

/// The innermost cause, for a message.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}
