//! Who is asking: `Authorization: Bearer <personal access token>` or HTTP
//! Basic with the account's username and password (checked against its
//! SCRAM credentials, with the XMPP login slow-down after failures). Each
//! authenticated caller then takes one request from its rate limit.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};
use whassap_server::accounts;
use whassap_store::{Hash, StoreError};

use super::error::ApiError;
use super::extract::client_ip;
use crate::AppState;

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Username and password.
    Basic,
    /// A personal access token (its id).
    Token(String),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Auth {
    /// The account (normalised username).
    pub username: String,
    /// How.
    pub via: Via,
}

impl Auth {
    /// The key of this caller's rate limits: the token, or the account
    /// with Basic auth.
    pub fn limit_key(&self) -> String {
        match &self.via {
            Via::Token(id) => format!("token:{id}"),
            Via::Basic => format!("user:{}", self.username),
        }
    }
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "Authentication required: send a personal access token \
                 (Authorization: Bearer ...) or HTTP Basic credentials.",
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Unreadable Authorization header."))?;
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        let auth = if scheme.eq_ignore_ascii_case("bearer") {
            bearer(state, credentials).await?
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic(state, parts, credentials).await?
        } else {
            return Err(ApiError::unauthorized(
                "Unsupported authorization scheme: use Bearer or Basic.",
            ));
        };
        state
            .limits
            .per_token
            .check(&auth.limit_key())
            .map_err(ApiError::rate_limited)?;
        Ok(auth)
    }
}

async fn bearer(state: &AppState, token: &str) -> Result<Auth, ApiError> {
    if token.is_empty() {
        return Err(ApiError::unauthorized("Empty bearer token."));
    }
    let server = &state.server;
    match server
        .tokens
        .authenticate(&server.store, &token_hash(token))
        .await?
    {
        Some(t) => Ok(Auth {
            username: t.username,
            via: Via::Token(t.id),
        }),
        None => Err(ApiError::unauthorized("Unknown or revoked token.")),
    }
}

async fn basic(state: &AppState, parts: &Parts, credentials: &str) -> Result<Auth, ApiError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials."))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials."))?;
    match verify_password(state, client_ip(parts), user, password).await? {
        Some(username) => Ok(Auth {
            username,
            via: Via::Basic,
        }),
        None => Err(ApiError::unauthorized("Wrong username or password.")),
    }
}

/// Check a username and password against the account's stored SCRAM keys
/// (SCRAM-SHA-256), with the slow-down of XMPP logins after failures (per
/// client address, and per client address and account). The normalised username, or None when the
/// account does not exist or the password is wrong. HTTP Basic and the web
/// login page both log in through here.
pub(crate) async fn verify_password(
    state: &AppState,
    ip: IpAddr,
    user: &str,
    password: &str,
) -> Result<Option<String>, StoreError> {
    let Ok(user) = accounts::normalise(user, true) else {
        return Ok(None);
    };
    let server = &state.server;
    let delay = server.throttle.delay(ip, Some(&user));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let creds = server.store.credentials(&user, Hash::Sha256).await?;
    let password = password.to_string();
    let ok = match creds {
        Some(c) => tokio::task::spawn_blocking(move || c.verify_password(&password))
            .await
            .unwrap_or(false),
        None => false,
    };
    if !ok {
        server.throttle.failed(ip, Some(&user));
        return Ok(None);
    }
    server.throttle.succeeded(ip, &user);
    Ok(Some(user))
}
