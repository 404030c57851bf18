//! The client-to-server doors: accept loops for STARTTLS and direct TLS, and
//! the generic stream driver that the WebSocket door reuses.

mod negotiate;
mod session;
mod tls_transport;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use whassap_xml::Limits;

pub use negotiate::{Negotiated, NegotiationError};
use transport::{TcpTransport, Transport};

use crate::admission::Admitted;
use crate::server::ConnectionGuard;
use crate::Server;

/// Accept c2s connections until shutdown. `direct_tls` for XEP-0368 ports.
pub async fn accept_loop(server: Arc<Server>, listener: TcpListener, direct_tls: bool) {
    loop {
        let accepted = tokio::select! {
            _ = server.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = server.admit(peer, "c2s") else {
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let s = server.clone();
        server
            .tasks
            .spawn(serve_tcp(s, tcp, peer, direct_tls, admitted));
    }
}

fn limits(server: &Server) -> Limits {
    Limits {
        max_stanza_bytes: server.config.max_stanza_bytes,
        max_depth: server.config.max_depth,
    }
}

/// What a connection holds for its whole life: its admission (counted per
/// address) and its place in the connection count.
struct Held {
    _admitted: Admitted,
    _counted: ConnectionGuard,
}

async fn serve_tcp(
    server: Arc<Server>,
    tcp: TcpStream,
    peer: SocketAddr,
    direct_tls: bool,
    admitted: Admitted,
) {
    let held = Held {
        _admitted: admitted,
        _counted: server.connection_guard(),
    };
    let deadline = Instant::now() + server.config.auth_timeout;
    if direct_tls {
        start_tls(server, tcp, peer, deadline, "TLS", held).await;
        return;
    }
    // The negotiation is boxed: its future (SASL state, store queries) is
    // many KiB, and a session that has bound should not carry that size
    // for its whole life.
    let mut plain = TcpTransport::new(tcp, limits(&server), true);
    match Box::pin(negotiate(&server, &mut plain, peer, false, deadline)).await {
        Some(Negotiated::StartTls) => {
            start_tls(server, plain.into_inner(), peer, deadline, "STARTTLS", held).await;
        }
        Some(Negotiated::Bound {
            username,
            resource,
            bind_iq,
        }) => {
            session::run(server, plain, peer, username, resource, bind_iq).await;
            drop(held);
        }
        None => {}
    }
}

/// Handshake TLS on `tcp` (direct TLS, or after STARTTLS) and negotiate the
/// stream over it, then serve the session in a task of its own. The
/// handshake's and the negotiation's futures are boxed and gone once done,
/// and the new task holds the session's future alone: an idle TLS session
/// carries neither, nor the plain-text door's future it started in.
async fn start_tls(
    server: Arc<Server>,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    what: &'static str,
    held: Held,
) {
    let accepted = tls_transport::accept(tcp, server.tls.clone(), limits(&server), deadline);
    let mut t = match Box::pin(accepted).await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(%peer, "{what} handshake failed: {e}");
            return;
        }
    };
    match Box::pin(negotiate(&server, &mut t, peer, true, deadline)).await {
        Some(Negotiated::Bound {
            username,
            resource,
            bind_iq,
        }) => {
            let session = session::run(server.clone(), t, peer, username, resource, bind_iq);
            // Not `async move { session.await; drop(held) }`: that block
            // would hold the session's future twice, once as captured and
            // once as awaited.
            let fut = session.map(move |()| drop(held));
            server.tasks.spawn(fut);
        }
        Some(Negotiated::StartTls) => {
            tracing::debug!(%peer, "STARTTLS inside TLS");
        }
        None => {}
    }
}

/// Drive a stream on any transport from its header to its end: negotiation
/// (bounded by `deadline`), then the session. Used by every c2s door.
pub async fn serve_transport<T: Transport>(
    server: Arc<Server>,
    mut t: T,
    peer: SocketAddr,
    secure: bool,
    deadline: Instant,
) {
    match Box::pin(negotiate(&server, &mut t, peer, secure, deadline)).await {
        Some(Negotiated::Bound {
            username,
            resource,
            bind_iq,
        }) => {
            session::run(server, t, peer, username, resource, bind_iq).await;
        }
        Some(Negotiated::StartTls) => {
            tracing::debug!(%peer, "STARTTLS on a transport that cannot do it");
        }
        None => {}
    }
}

/// Negotiate with the unauthenticated-stream deadline; failures are answered
/// with a stream error and give None.
async fn negotiate<T: Transport>(
    server: &Arc<Server>,
    t: &mut T,
    peer: SocketAddr,
    secure: bool,
    deadline: Instant,
) -> Option<Negotiated> {
    let mut n = negotiate::Negotiation::new(server, t, peer.ip(), secure);
    let result = tokio::select! {
        r = tokio::time::timeout_at(deadline, n.run()) => match r {
            Ok(r) => r,
            Err(_) => Err(NegotiationError::Stream("connection-timeout", Some("authenticate within the time allowed".into()))),
        },
        _ = server.shutdown.cancelled() => Err(NegotiationError::Stream("system-shutdown", None)),
    };
    match result {
        Ok(done) => Some(done),
        Err(NegotiationError::Gone) => None,
        Err(NegotiationError::Stream(condition, text)) => {
            tracing::debug!(%peer, %condition, "closing unauthenticated stream");
            n.fail(condition, text.as_deref()).await;
            None
        }
    }
}
