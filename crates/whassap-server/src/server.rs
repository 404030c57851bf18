//! The server object shared by every task, its start-up and shutdown.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use whassap_store::Store;

use crate::admission::{Admission, Admitted};
use crate::core::router::bare_of;
use crate::metrics::Metrics;
use crate::modules::caps::CapsCache;
use crate::registry::Registry;
use crate::throttle::LoginThrottle;
use crate::{c2s, ServerConfig, ServerError};

/// Everything the XMPP core shares between tasks. Passed as `Arc<Server>`.
pub struct Server {
    /// Settings.
    pub config: ServerConfig,
    /// Persistent state.
    pub store: Store,
    /// Bound sessions.
    pub registry: Registry,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Failed-login slow-down.
    pub throttle: LoginThrottle,
    /// Caps on open connections, shared by every door.
    pub admission: Arc<Admission>,
    /// Gives memory back after sessions that held a lot.
    pub reclaimer: crate::reclaim::Reclaimer,
    /// Every feature's handlers, filled once at start by
    /// [`modules::register_all`](crate::modules::register_all).
    pub hooks: crate::core::Hooks,
    /// Federation: server-to-server streams and the queues of remote domains.
    pub s2s: crate::s2s::S2s,
    /// Verified entity capabilities.
    pub caps: CapsCache,
    /// The other nodes of the cluster and their sessions (none: one node).
    pub cluster: crate::cluster::Cluster,
    /// PubSub and PEP nodes in memory.
    pub pubsub: crate::pubsub::PubSub,
    /// The status pipeline's ids, event channel and outbox wake-up.
    pub statuses: crate::statuses::Statuses,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
    /// Connection tasks, awaited at shutdown.
    pub tasks: TaskTracker,
    /// TLS for STARTTLS and direct TLS.
    pub tls: Arc<rustls::ServerConfig>,
    /// Keys the fake SCRAM salts of unknown users (kept in the store, so
    /// they stay the same across restarts and nodes).
    pub scram_secret: Vec<u8>,
    /// Personal access tokens used lately (the REST API's authentication).
    pub tokens: crate::tokens::TokenCache,
    blocklists: DashMap<String, Arc<HashSet<String>>>,
}

/// A started server and the addresses it listens on.
pub struct RunningServer {
    /// The server.
    pub server: Arc<Server>,
    /// Bound address of the STARTTLS c2s listener.
    pub c2s_addr: Option<SocketAddr>,
    /// Bound address of the direct TLS c2s listener.
    pub c2s_tls_addr: Option<SocketAddr>,
    /// Bound address of the s2s listener (None: federation is off).
    pub s2s_addr: Option<SocketAddr>,
}

/// Counts an open connection while alive.
pub struct ConnectionGuard(Arc<Server>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> Result<Option<TcpListener>, ServerError> {
    match addr {
        None => Ok(None),
        Some(a) => TcpListener::bind(a)
            .await
            .map(Some)
            .map_err(|source| ServerError::Io {
                context: format!("binding the {what} listener on {a}"),
                source,
            }),
    }
}

impl Server {
    /// Build the server on an opened store (no listeners yet).
    pub async fn new(config: ServerConfig, store: Store) -> Result<Arc<Server>, ServerError> {
        let scram_secret = store.secret("scram-fake-salt", 32).await?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| ServerError::io(&config.data_dir, e))?;
        let tls = crate::tls::config(
            &config.domain,
            &config.data_dir,
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
        )?;
        let statuses = crate::statuses::Statuses::new(config.status_events_capacity);
        let s2s = crate::s2s::S2s::new(&config, &store).await?;
        let mut hooks = crate::core::Hooks::default();
        crate::modules::register_all(&mut hooks, &config);
        let server = Arc::new(Server {
            throttle: LoginThrottle::new(config.login_failures_free, config.login_max_delay),
            admission: Admission::new(config.max_connections, config.max_connections_per_ip),
            reclaimer: Default::default(),
            config,
            store,
            registry: Registry::default(),
            metrics: Metrics::default(),
            hooks,
            s2s,
            caps: CapsCache::default(),
            cluster: crate::cluster::Cluster::default(),
            pubsub: crate::pubsub::PubSub::default(),
            statuses,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            tls,
            scram_secret,
            blocklists: DashMap::new(),
            tokens: crate::tokens::TokenCache::default(),
        });
        server.pubsub.ensure_firehose(&server).await?;
        Ok(server)
    }

    /// Bind the c2s listeners and start accepting.
    pub async fn start(self: &Arc<Self>) -> Result<RunningServer, ServerError> {
        if self.config.allow_plaintext {
            tracing::warn!("--allow-plaintext: clients may log in without TLS; use only for tests and benchmarks");
        }
        let c2s = bind(self.config.c2s_listen, "c2s").await?;
        let c2s_tls = bind(self.config.c2s_tls_listen, "c2s direct TLS").await?;
        let c2s_addr = c2s.as_ref().and_then(|l| l.local_addr().ok());
        let c2s_tls_addr = c2s_tls.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(l) = c2s {
            tracing::info!(addr = %c2s_addr.unwrap(), "c2s listening (STARTTLS)");
            self.tasks.spawn(c2s::accept_loop(self.clone(), l, false));
        }
        if let Some(l) = c2s_tls {
            tracing::info!(addr = %c2s_tls_addr.unwrap(), "c2s listening (direct TLS)");
            self.tasks.spawn(c2s::accept_loop(self.clone(), l, true));
        }
        let s2s = bind(self.config.s2s.listen, "s2s").await?;
        let s2s_addr = s2s.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(l) = s2s {
            tracing::info!(addr = %s2s_addr.unwrap(), "s2s listening (federation on)");
            self.tasks
                .spawn(crate::s2s::incoming::accept_loop(self.clone(), l));
        }
        self.tasks.spawn(crate::consumer_clock::run(self.clone()));
        if let Some(cluster) = &self.config.cluster {
            crate::cluster::Cluster::start(self, cluster).await?;
        }
        Ok(RunningServer {
            server: self.clone(),
            c2s_addr,
            c2s_tls_addr,
            s2s_addr,
        })
    }

    /// Stop accepting, close every stream politely, wait for the connection
    /// tasks (at most `grace`), and close the store.
    pub async fn shutdown(&self, grace: Duration) {
        tracing::info!(sessions = self.registry.len(), "shutting down");
        self.shutdown.cancel();
        // This node's sessions; the proxies of other nodes' stay theirs.
        for s in self.registry.all().iter().filter(|s| s.node().is_none()) {
            s.kill(Some("system-shutdown"));
        }
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within {grace:?}");
        }
        self.store.close().await;
        tracing::info!("shutdown complete");
    }

    /// Admit a new connection from `peer` (any door) under the caps on
    /// open connections, or refuse it: the caller then closes it at once.
    pub fn admit(&self, peer: SocketAddr, door: &str) -> Option<Admitted> {
        match self.admission.admit(peer.ip()) {
            Ok(a) => Some(a),
            Err(why) => {
                Metrics::inc(&self.metrics.connections_refused);
                tracing::debug!(%peer, door, "connection refused: {why}");
                None
            }
        }
    }

    /// Count an open connection until the guard drops.
    pub fn connection_guard(self: &Arc<Self>) -> ConnectionGuard {
        self.metrics.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.clone())
    }

    /// The blocklist of a local account (cached).
    pub async fn blocklist(&self, bare: &str) -> Arc<HashSet<String>> {
        if let Some(l) = self.blocklists.get(bare) {
            return l.clone();
        }
        let user = bare.split('@').next().unwrap_or(bare);
        let list: HashSet<String> = match self.store.blocklist(user).await {
            Ok(l) => l.into_iter().collect(),
            Err(e) => {
                tracing::error!(%bare, "loading blocklist failed: {e}");
                return Arc::new(HashSet::new());
            }
        };
        let list = Arc::new(list);
        if self.blocklists.len() > 100_000 {
            self.blocklists.clear();
        }
        self.blocklists.insert(bare.to_string(), list.clone());
        list
    }

    /// Drop the cached blocklist after a change.
    pub fn forget_blocklist(&self, bare: &str) {
        self.blocklists.remove(bare);
        self.cluster
            .invalidate(crate::cluster::Invalidation::Blocklist {
                bare: bare.to_string(),
            });
    }

    /// Another node changed a blocklist: drop this node's copy.
    pub fn forget_blocklist_copy(&self, bare: &str) {
        self.blocklists.remove(bare);
    }

    /// Has local account `bare` blocked `other` (by full JID, bare JID or domain)?
    pub async fn blocks(&self, bare: &str, other: &str) -> bool {
        let list = self.blocklist(bare).await;
        if list.is_empty() {
            return false;
        }
        let other_bare = bare_of(other);
        let domain = other_bare.rsplit('@').next().unwrap_or(other_bare);
        list.contains(other) || list.contains(other_bare) || list.contains(domain)
    }

    /// Is a stanza from `from` to local account `recipient` blocked by the recipient?
    pub async fn is_blocked_by(&self, recipient: &str, from: &str) -> bool {
        !from.is_empty() && self.blocks(recipient, from).await
    }
}
