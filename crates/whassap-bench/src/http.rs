//! A lean HTTP/1.1 client for the REST scenarios: one keep-alive
//! connection (hyper's connection-level API, no pool), whose bytes in both
//! directions are counted at the socket, request and response heads and
//! chunked framing included.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes that went over a set of connections, as the application read and
/// wrote them (TCP payload: no TCP/IP headers).
#[derive(Debug, Default)]
pub struct Traffic {
    read: AtomicU64,
    written: AtomicU64,
}

impl Traffic {
    /// Count `n` bytes received.
    pub fn add_read(&self, n: u64) {
        self.read.fetch_add(n, Ordering::Relaxed);
    }

    /// Count `n` bytes sent.
    pub fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }

    /// `(received, sent)` so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
        )
    }
}

/// A stream that counts what goes through it into a [`Traffic`].
struct Counted<S> {
    inner: S,
    traffic: Arc<Traffic>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.traffic.add_read((buf.filled().len() - before) as u64);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.traffic.add_written(n as u64);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.traffic.add_written(n as u64);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A failed request: no connection, a broken one, or an answer that is not
/// what was expected.
pub type HttpError = String;

/// One HTTP/1.1 keep-alive connection; requests go one after another.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    auth: Option<HeaderValue>,
}

impl Connection {
    /// Connect to `addr`, counting the bytes into `traffic`.
    pub async fn open(addr: SocketAddr, traffic: Arc<Traffic>) -> Result<Connection, HttpError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let io = TokioIo::new(Counted {
            inner: tcp,
            traffic,
        });
        let (sender, conn) = http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes.
            let _ = conn.await;
        });
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| e.to_string())?;
        Ok(Connection {
            sender,
            host,
            auth: None,
        })
    }

    /// Authenticate every later request with this bearer token.
    pub fn set_bearer(&mut self, token: &str) {
        self.auth = HeaderValue::from_str(&format!("Bearer {token}")).ok();
    }

    /// Authenticate every later request with HTTP Basic.
    pub fn set_basic(&mut self, user: &str, password: &str) {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.auth = HeaderValue::from_str(&format!("Basic {pair}")).ok();
    }

    /// Send a request and return the response with its body unread (for
    /// streams such as SSE).
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        accept: &str,
    ) -> Result<Response<Incoming>, HttpError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(ACCEPT, accept);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let body = match json {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        self.sender
            .send_request(req)
            .await
            .map_err(|e| format!("{path}: {e}"))
    }

    /// Send a request and read the whole answer.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), HttpError> {
        let response = self.start(method, path, json, "application/json").await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    }

    /// A request whose answer must have status `expect`, read as JSON.
    pub async fn call<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
        expect: &[StatusCode],
    ) -> Result<(StatusCode, T), HttpError> {
        let (status, body) = self.request(method.clone(), path, json).await?;
        if !expect.contains(&status) {
            return Err(format!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        let value = serde_json::from_slice(&body)
            .map_err(|e| format!("{method} {path}: unreadable answer: {e}"))?;
        Ok((status, value))
    }
}

/// Percent-encode a query value (usernames and ids need little, but stay
/// safe).
pub fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The REST calls the scenarios need to set themselves up.
pub mod api {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// A status as the API returns it (the fields the generator reads).
    #[derive(Debug, Clone, Deserialize)]
    pub struct Status {
        /// Id (sorts by time as a string).
        pub id: String,
        /// The text.
        pub text: String,
    }

    #[derive(Deserialize)]
    struct Token {
        token: String,
    }

    /// Sign up `username` (an existing account with that name is taken as
    /// it is: the scenario may run again against the same server).
    pub async fn ensure_user(
        conn: &mut Connection,
        username: &str,
        password: &str,
    ) -> Result<(), HttpError> {
        let body = json!({"username": username, "password": password});
        conn.call::<serde_json::Value>(
            Method::POST,
            "/api/v1/users",
            Some(&body),
            &[StatusCode::CREATED, StatusCode::CONFLICT],
        )
        .await
        .map(|_| ())
    }

    /// A new personal access token of `username`, made with Basic auth.
    /// The connection authenticates with it afterwards.
    pub async fn token(
        conn: &mut Connection,
        username: &str,
        password: &str,
        name: &str,
    ) -> Result<String, HttpError> {
        conn.set_basic(username, password);
        let (_, t) = conn
            .call::<Token>(
                Method::POST,
                "/api/v1/tokens",
                Some(&json!({"name": name})),
                &[StatusCode::CREATED],
            )
            .await?;
        conn.set_bearer(&t.token);
        Ok(t.token)
    }

    /// Post a status as the connection's user.
    pub async fn post(conn: &mut Connection, text: &str) -> Result<Status, HttpError> {
        conn.call::<Status>(
            Method::POST,
            "/api/v1/statuses",
            Some(&json!({"text": text})),
            &[StatusCode::CREATED],
        )
        .await
        .map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(query_value("bench-u1,bench-u2"), "bench-u1,bench-u2");
        assert_eq!(query_value("a b&c"), "a%20b%26c");
    }
}
