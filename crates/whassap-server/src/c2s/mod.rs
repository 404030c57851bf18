//! The client-to-server doors: accept loops for STARTTLS and direct TLS, and
//! the generic stream driver that the WebSocket door reuses.

mod negotiate;
mod session;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use whassap_xml::Limits;

pub use negotiate::{Negotiated, NegotiationError};
use transport::{TcpTransport, Transport};

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
        server.tasks.spawn(async move {
            serve_tcp(s, tcp, peer, direct_tls).await;
            drop(admitted);
        });
    }
}

fn limits(server: &Server) -> Limits {
    Limits {
        max_stanza_bytes: server.config.max_stanza_bytes,
        max_depth: server.config.max_depth,
    }
}

async fn serve_tcp(server: Arc<Server>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) {
    let _conn = server.connection_guard();
    let deadline = Instant::now() + server.config.auth_timeout;
    // The TLS paths and the negotiation are boxed: their futures (a TLS
    // stream, SASL state, store queries) are many KiB, and a plaintext
    // session that has bound should not carry that size for its whole life.
    if direct_tls {
        Box::pin(serve_tls(server, tcp, peer, deadline, "TLS")).await;
        return;
    }
    let mut plain = TcpTransport::new(tcp, limits(&server), true);
    match Box::pin(negotiate(&server, &mut plain, peer, false, deadline)).await {
        Some(Negotiated::StartTls) => {
            Box::pin(serve_tls(
                server,
                plain.into_inner(),
                peer,
                deadline,
                "STARTTLS",
            ))
            .await;
        }
        Some(Negotiated::Bound {
            username,
            resource,
            bind_iq,
        }) => {
            session::run(server, plain, peer, username, resource, bind_iq).await;
        }
        None => {}
    }
}

/// Handshake TLS on `tcp` (direct TLS, or after STARTTLS), then serve the
/// stream over it.
async fn serve_tls(
    server: Arc<Server>,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    what: &'static str,
) {
    let tls = match tokio::time::timeout_at(deadline, server.tls.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "{what} handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let t = TcpTransport::new(tls, limits(&server), false);
    serve_transport(server, t, peer, true, deadline).await;
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
