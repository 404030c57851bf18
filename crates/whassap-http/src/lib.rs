//! Whassap's HTTP door (axum): XMPP over WebSocket (RFC 7395) at
//! `/xmpp-websocket`, `GET /healthz` and `GET /metrics`. The REST API, web
//! pages and firehose join this router later.

mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use whassap_server::Server;

/// Settings of the HTTP door.
#[derive(Clone, Debug, Default)]
pub struct HttpConfig {
    /// Treat WebSocket connections as secure (a TLS-terminating proxy is in
    /// front): PLAIN is then offered too.
    pub websocket_secure: bool,
}

#[derive(Clone)]
struct AppState {
    server: Arc<Server>,
    config: HttpConfig,
}

/// The HTTP routes.
pub fn router(server: Arc<Server>, config: HttpConfig) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/xmpp-websocket", get(websocket::upgrade))
        .with_state(AppState { server, config })
}

/// Serve HTTP on `listener` until the server shuts down.
pub async fn serve(
    server: Arc<Server>,
    config: HttpConfig,
    listener: TcpListener,
) -> std::io::Result<()> {
    let shutdown = server.shutdown.clone();
    let app = router(server, config).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.server.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"ok\"}",
        ),
        Err(e) => {
            tracing::error!("health check: store unreachable: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"status\":\"store unavailable\"}",
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.server.metrics.render(),
    )
}
