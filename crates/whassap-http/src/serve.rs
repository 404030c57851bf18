//! The HTTP listener's accept loop and connections, with the limits that
//! keep slow or greedy clients from holding connections and memory:
//!
//! - the connection caps shared with XMPP ([`whassap_server::admission`]):
//!   a connection over a cap is closed at once, before anything is read;
//! - a **header timeout**: a request head (request line and headers) must
//!   be complete within `header_timeout` of the server starting to wait
//!   for it (hyper's `header_read_timeout`), else the connection is closed;
//! - a **body timeout**: a request body must be read whole within
//!   `body_timeout` of its head, else reading it fails (the handler
//!   answers 400 or 408 and the connection is closed);
//! - an **idle timeout**: a keep-alive connection that carries no request
//!   and no byte for `idle_timeout` is closed.
//!
//! axum's own `serve` has none of these settings, hence this loop over
//! hyper's HTTP/1 connection builder.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use whassap_server::admission::Admitted;
use whassap_server::Server;

/// How a connection may be used.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to receive a whole request head.
    pub header_timeout: Duration,
    /// Time to receive a whole request body, from the end of its head.
    pub body_timeout: Duration,
    /// Time a keep-alive connection may stay without a request or a byte.
    pub idle_timeout: Duration,
    /// Kernel send buffer of each connection, in bytes; 0 leaves it to the
    /// kernel's autotuning.
    pub send_buffer: usize,
}

/// Accept connections on `listener` and serve `app` on each, until the
/// server shuts down; then wait for the open connections to finish.
pub async fn run(
    server: Arc<Server>,
    app: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let shutdown = server.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, usually: wait instead of spinning.
                tracing::warn!("HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = server.admit(peer, "http") else {
            drop(tcp);
            continue;
        };
        if limits.send_buffer > 0 {
            if let Err(e) = socket2::SockRef::from(&tcp).set_send_buffer_size(limits.send_buffer) {
                tracing::debug!("setting SO_SNDBUF: {e}");
            }
        }
        let app = app.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(connection(tcp, admitted, peer, app, limits, shutdown));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// What a connection's watchdog knows: when a byte last moved, and how
/// many requests are being answered.
#[derive(Debug)]
struct Activity {
    born: Instant,
    /// Milliseconds after `born` of the last byte read or written.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.born.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

async fn connection(
    tcp: TcpStream,
    admitted: Admitted,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let activity = Arc::new(Activity {
        born: Instant::now(),
        last_ms: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
    });
    let io = TokioIo::new(Watched {
        io: tcp,
        activity: activity.clone(),
        _admitted: admitted,
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let app = app.clone();
            let activity = activity.clone();
            async move {
                activity.in_flight.fetch_add(1, Ordering::Relaxed);
                let busy = InFlight(activity);
                let mut req = req.map(|b| Body::new(Deadline::new(b, limits.body_timeout)));
                req.extensions_mut().insert(ConnectInfo(peer));
                let response = app.oneshot(req).await.unwrap_or_else(|e| match e {});
                // The request counts as in flight until its response body
                // is finished (an SSE stream for as long as it lasts).
                Ok::<_, Infallible>(response.map(|b| {
                    Body::new(Tracked {
                        body: b,
                        _busy: busy,
                    })
                }))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let check_every =
        (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "HTTP connection ended: {e}");
                }
                break;
            }
            _ = shutdown.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(check_every), if !closing => {
                if activity.in_flight.load(Ordering::Relaxed) == 0
                    && activity.idle_for() >= limits.idle_timeout
                {
                    tracing::debug!(%peer, "closing an idle HTTP connection");
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The socket, noting each byte that moves. It holds the connection's
/// place under the caps for as long as the socket lives, which for an
/// upgraded connection (WebSocket) is beyond the HTTP connection's task.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
    _admitted: Admitted,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Counts a request as in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A response body that keeps its request counted as in flight.
struct Tracked {
    body: Body,
    _busy: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request body took longer than the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

/// A request body that fails once its deadline passes. The timer is only
/// made when a read has to wait, so bodies that are already there (and
/// empty ones) cost none.
struct Deadline {
    body: Incoming,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timeout: Duration,
}

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Deadline {
            body,
            deadline: tokio::time::Instant::now() + timeout,
            sleep: None,
            timeout,
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
