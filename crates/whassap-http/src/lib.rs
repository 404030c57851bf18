//! Whassap's HTTP door (axum): the web pages ([`web`]: the live public
//! timeline, user and status pages, sign-up, login and settings, and the
//! "push saved" counter at `/stats.json`), the REST API under `/api/v1`
//! ([`api`]), XMPP over WebSocket (RFC 7395) at `/xmpp-websocket`,
//! `GET /healthz` and `GET /metrics`, and the webhook sender
//! ([`webhooks`]). Every top-level path it serves is a reserved username
//! (`whassap_server::accounts::HTTP_PATHS`), since a user's page is `/<username>`.

pub mod api;
pub mod serve;
pub mod ssrf;
pub mod web;
pub mod webhooks;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use whassap_server::Server;

/// Settings of the HTTP door.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Treat WebSocket connections as secure (a TLS-terminating proxy is in
    /// front): PLAIN is then offered too.
    pub websocket_secure: bool,
    /// Self sign-up through `POST /api/v1/users` (and the web page).
    pub registration_open: bool,
    /// Accept webhooks to loopback and private addresses.
    pub webhooks_allow_private: bool,
    /// API requests a minute per token (or per account with Basic auth);
    /// 0: no limit.
    pub token_requests_per_minute: u32,
    /// API requests a minute per client IP address; 0: no limit.
    pub ip_requests_per_minute: u32,
    /// Messages a minute per token (or account) through the notifications
    /// API; 0: no limit.
    pub messages_per_minute: u32,
    /// Interval of the `: ping` comments on firehose streams.
    pub firehose_ping: Duration,
    /// How the webhook sender retries.
    pub webhooks: webhooks::WebhookSettings,
    /// Kernel send buffer of each HTTP connection, in bytes; 0 leaves it to
    /// the kernel's autotuning (up to a few MiB). What a firehose client
    /// that stops reading can hold up before the server notices it lags.
    pub send_buffer: usize,
    /// Time to receive a whole request head.
    pub header_timeout: Duration,
    /// Time to receive a whole request body, from the end of its head.
    pub body_timeout: Duration,
    /// Time a keep-alive connection may stay without a request or a byte.
    pub idle_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            websocket_secure: false,
            registration_open: true,
            webhooks_allow_private: false,
            token_requests_per_minute: 300,
            ip_requests_per_minute: 600,
            messages_per_minute: 60,
            firehose_ping: Duration::from_secs(15),
            webhooks: webhooks::WebhookSettings::default(),
            send_buffer: 0,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(20),
        }
    }
}

/// What every HTTP handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) server: Arc<Server>,
    pub(crate) config: HttpConfig,
    pub(crate) limits: Arc<api::Limits>,
}

/// The HTTP routes.
pub fn router(server: Arc<Server>, config: HttpConfig) -> Router {
    let limits = Arc::new(api::Limits {
        per_token: api::ratelimit::RateLimiter::new(config.token_requests_per_minute),
        per_ip: api::ratelimit::RateLimiter::new(config.ip_requests_per_minute),
        messages: api::ratelimit::RateLimiter::new(config.messages_per_minute),
    });
    let state = AppState {
        server,
        config,
        limits,
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/xmpp-websocket", get(websocket::upgrade))
        .merge(api::router(state.clone()))
        .merge(web::router(state.clone()))
        .with_state(state)
}

/// Serve HTTP on `listener` until the server shuts down (see [`serve`]
/// for the limits on connections).
pub async fn serve(
    server: Arc<Server>,
    config: HttpConfig,
    listener: TcpListener,
) -> std::io::Result<()> {
    let limits = serve::ConnectionLimits {
        header_timeout: config.header_timeout,
        body_timeout: config.body_timeout,
        idle_timeout: config.idle_timeout,
        send_buffer: config.send_buffer,
    };
    let app = router(server.clone(), config);
    serve::run(server, app, listener, limits).await
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.server.cluster.bus_lost() {
        // A node cut off from the bus cannot reach the other nodes' users:
        // a load balancer should send clients elsewhere until it is back.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"cluster bus unavailable\"}",
        );
    }
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
        state.server.metrics.render()
            + &state.server.s2s.render_metrics()
            + &status_commit_metrics(&state.server.store),
    )
}

/// The status writer's group commits, in Prometheus text: the mean group
/// is `whassap_statuses_committed_total / whassap_status_commits_total`.
fn status_commit_metrics(store: &whassap_store::Store) -> String {
    let (groups, statuses) = store.status_commits();
    format!(
        "# HELP whassap_status_commits_total Transactions of the status writer (group commits).\n\
         # TYPE whassap_status_commits_total counter\nwhassap_status_commits_total {groups}\n\
         # HELP whassap_statuses_committed_total Statuses those transactions committed.\n\
         # TYPE whassap_statuses_committed_total counter\nwhassap_statuses_committed_total {statuses}\n"
    )
}
