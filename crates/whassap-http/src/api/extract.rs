//! Request extractors that answer in the API's error format: JSON bodies
//! (any content type, 64 KiB at most), query strings, path parameters, and
//! the client's IP.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{ApiError, Code};

/// Largest request body, in bytes (SPEC §5).
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON body: 413 over [`MAX_BODY`], 400 if it is not JSON or has the
/// wrong types, 422 if a required field is missing.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    Code::PayloadTooLarge,
                    format!("The body is over {} KiB.", MAX_BODY / 1024),
                )
            } else {
                ApiError::invalid(format!("The body could not be read: {e}"))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid("A JSON body is required."));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        match from_json(&mut de) {
            Ok(v) => Ok(JsonBody(v)),
            Err(e) if e.is_data() && e.to_string().starts_with("missing field") => {
                Err(ApiError::validation(format!("Invalid request: {e}.")))
            }
            Err(e) => Err(ApiError::invalid(format!("Problems parsing JSON: {e}."))),
        }
    }
}

/// Deserialize the whole input (trailing garbage is an error).
fn from_json<T: DeserializeOwned>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<T, serde_json::Error> {
    let v = T::deserialize(&mut *de)?;
    de.end()?;
    Ok(v)
}

/// A query string: 400 if it does not fit.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::invalid(format!("Invalid query string: {}.", e.body_text())))
    }
}

/// Path parameters: 400 if they do not fit (a percent-encoded segment that
/// is not UTF-8, for instance), in the API's error format rather than
/// axum's plain-text rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::invalid(format!("Invalid path: {}.", e.body_text())))
    }
}

/// The client's IP address (of the TCP connection: proxies' headers are
/// not trusted).
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The client's IP address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}
