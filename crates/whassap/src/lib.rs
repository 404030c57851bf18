//! The `whassap` binary's library side: configuration, wiring of the XMPP core
//! and the HTTP door, used by `main` and by the integration tests.

pub mod config;
pub mod control;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use whassap_server::Server;
use whassap_store::Store;

/// A running Whassap: the XMPP core and the HTTP door.
pub struct App {
    /// The XMPP core.
    pub server: Arc<Server>,
    /// Where the STARTTLS c2s listener is bound.
    pub c2s_addr: Option<SocketAddr>,
    /// Where the direct TLS c2s listener is bound.
    pub c2s_tls_addr: Option<SocketAddr>,
    /// Where the HTTP listener is bound.
    pub http_addr: Option<SocketAddr>,
    /// Where the s2s listener is bound (None: federation is off).
    pub s2s_addr: Option<SocketAddr>,
    http_task: Option<tokio::task::JoinHandle<()>>,
}

/// The store setting that holds the domain `whassap serve` serves.
pub const SERVED_DOMAIN: &str = "domain";

/// Install the process-wide rustls crypto provider (ring) once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Open the store of a configuration.
pub async fn open_store(config: &config::Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data dir {}", config.data_dir.display()))?;
    let store = match config.postgres_url() {
        Some(url) => {
            Store::open_postgres_with(url, Duration::from_secs(config.database_timeout_secs))
                .await
                .with_context(|| format!("opening the PostgreSQL database {}", redact(url)))?
        }
        None => {
            let path = config.sqlite_path();
            Store::open_sqlite(&path)
                .await
                .with_context(|| format!("opening the database {}", path.display()))?
        }
    };
    store.set_status_group_limit(config.status_group_commit);
    Ok(store)
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl App {
    /// Start everything the configuration asks for.
    pub async fn start(config: &config::Config) -> anyhow::Result<App> {
        install_crypto_provider();
        let validated = config.validate().map_err(|problems| {
            anyhow::anyhow!("invalid configuration:\n  - {}", problems.join("\n  - "))
        })?;
        let store = open_store(config).await?;
        // For `whassap user`, which opens the store without the server's flags.
        store
            .set_setting(SERVED_DOMAIN, &config.domain)
            .await
            .context("recording the served domain")?;
        let server = Server::new(validated.server, store).await?;
        let running = server.start().await?;
        control::spawn(server.clone(), &config.data_dir)?;
        whassap_http::webhooks::spawn(
            server.clone(),
            validated.http.webhooks.clone(),
            validated.http.webhooks_allow_private,
        )?;
        let (http_addr, http_task) = match validated.http_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the HTTP listener on {addr}"))?;
                let bound = listener.local_addr()?;
                tracing::info!(addr = %bound, "HTTP listening (web pages at /, REST API at /api/v1, firehose at /api/v1/firehose, WebSocket at /xmpp-websocket, /healthz, /metrics)");
                let s = server.clone();
                let http = validated.http.clone();
                let task = tokio::spawn(async move {
                    if let Err(e) = whassap_http::serve(s, http, listener).await {
                        tracing::error!("HTTP server failed: {e}");
                    }
                });
                (Some(bound), Some(task))
            }
            None => (None, None),
        };
        Ok(App {
            server,
            c2s_addr: running.c2s_addr,
            c2s_tls_addr: running.c2s_tls_addr,
            http_addr,
            s2s_addr: running.s2s_addr,
            http_task,
        })
    }

    /// Graceful shutdown: streams closed politely, store flushed.
    pub async fn shutdown(mut self) {
        self.server.shutdown(Duration::from_secs(10)).await;
        if let Some(t) = self.http_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}
