//! Federation: server-to-server streams (RFC 6120, SPEC §6).
//!
//! - [`incoming`]: the listener; STARTTLS, SASL EXTERNAL (XEP-0178) or
//!   dialback (XEP-0220) authenticate the peer's domain, and its stanzas
//!   enter the core with a `Server` origin once `from` is checked.
//! - [`outgoing`]: one task and one bounded queue per remote domain; it
//!   resolves ([`resolve`]), connects, authenticates and sends in order,
//!   bounces what it cannot deliver, and closes when idle. A slow or dead
//!   peer holds only its own queue.
//! - [`dialback`] keys (in `whassap-proto`, with the stream rules of
//!   `whassap_proto::s2s`), [`tls`] settings, [`stream`] framing.
//!
//! Streams are one-way, as RFC 6120 defines them: stanzas to a peer leave
//! on the stream this server opened, stanzas from it arrive on the one it
//! opened (XEP-0288 bidirectional streams are not used).

pub mod incoming;
pub mod outgoing;
pub mod resolve;
pub mod stream;
pub mod tls;

pub use whassap_proto::dialback;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use minidom::Element;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::config::S2sConfig;
use crate::core::router;
use crate::error::ServerError;
use crate::Server;

/// Federation's state: settings, TLS, the queues of remote domains and the
/// open connections.
pub struct S2s {
    config: S2sConfig,
    tls: Option<tls::S2sTls>,
    resolver: resolve::Resolver,
    secret: Vec<u8>,
    peers: DashMap<String, Arc<Peer>>,
    links: DashMap<u64, Arc<Link>>,
    traffic: DashMap<String, Arc<Traffic>>,
    next_id: AtomicU64,
}

/// The queue of one remote domain, drained by its outgoing task.
pub struct Peer {
    id: u64,
    tx: mpsc::Sender<Element>,
}

impl Peer {
    /// Stanzas waiting to be sent.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Which side opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer connected to this server.
    In,
    /// This server connected to the peer.
    Out,
}

/// How a connection's peer domain was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Not yet.
    None,
    /// SASL EXTERNAL with a certificate valid for the domain (XEP-0178).
    External,
    /// Server Dialback (XEP-0220).
    Dialback,
}

/// One open s2s connection.
pub struct Link {
    id: u64,
    direction: Direction,
    domain: Mutex<String>,
    tls: AtomicBool,
    auth: Mutex<Auth>,
    last_active: AtomicU64,
    peer: Option<Arc<Peer>>,
}

impl Link {
    /// Note that something was sent or received.
    pub fn touch(&self) {
        self.last_active.store(now_secs(), Ordering::Relaxed);
    }

    /// Record the TLS state and how the peer was authenticated.
    pub fn set(&self, domain: Option<&str>, tls: bool, auth: Auth) {
        if let Some(d) = domain {
            *self.domain.lock().unwrap_or_else(|e| e.into_inner()) = d.to_string();
        }
        self.tls.store(tls, Ordering::Relaxed);
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = auth;
    }
}

/// What `whassap s2s list` shows of a connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkInfo {
    /// The peer's domain (empty until it says).
    pub domain: String,
    /// `in` or `out`.
    pub direction: String,
    /// TLS is on.
    pub tls: bool,
    /// `none`, `external` or `dialback`.
    pub auth: String,
    /// Stanzas queued for the peer (outgoing only).
    pub queued: usize,
    /// Seconds since anything was sent or received.
    pub idle_secs: u64,
}

/// Stanzas exchanged with one peer domain.
#[derive(Default)]
pub struct Traffic {
    /// Received from it.
    pub stanzas_in: AtomicU64,
    /// Sent to it.
    pub stanzas_out: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl S2s {
    /// Federation as configured (disabled without an s2s listener); the
    /// dialback secret is kept in the store so keys stay valid across
    /// restarts and nodes.
    pub async fn new(
        config: &crate::ServerConfig,
        store: &whassap_store::Store,
    ) -> Result<S2s, ServerError> {
        let enabled = config.s2s.listen.is_some();
        Ok(S2s {
            tls: if enabled {
                Some(tls::S2sTls::new(config)?)
            } else {
                None
            },
            resolver: resolve::Resolver::new(
                if enabled {
                    config.s2s.routes.clone()
                } else {
                    Default::default()
                },
                config.s2s.dns_server,
            ),
            secret: store.secret("s2s-dialback", 32).await?,
            config: config.s2s.clone(),
            peers: DashMap::new(),
            links: DashMap::new(),
            traffic: DashMap::new(),
            next_id: AtomicU64::new(1),
        })
    }

    /// Is federation on?
    pub fn enabled(&self) -> bool {
        self.tls.is_some()
    }

    /// The settings.
    pub fn config(&self) -> &S2sConfig {
        &self.config
    }

    pub(crate) fn tls(&self) -> &tls::S2sTls {
        self.tls
            .as_ref()
            .expect("s2s streams exist only when enabled")
    }

    /// Is this server's certificate valid for `domain` (worth offering for
    /// SASL EXTERNAL)?
    pub fn own_certificate_valid(&self, domain: &str) -> bool {
        self.tls.as_ref().is_some_and(|t| t.own_valid_for(domain))
    }

    /// Queue a stanza for a remote domain, starting its connection if there
    /// is none. A full queue bounces it (`resource-constraint`).
    pub async fn send(&self, server: &Arc<Server>, domain: &str, el: Element) {
        if !self.enabled() {
            tracing::debug!(%domain, "federation is disabled");
            router::bounce(server, &el, "remote-server-not-found", None).await;
            return;
        }
        let mut el = el;
        for _ in 0..2 {
            let peer = self
                .peers
                .entry(domain.to_string())
                .or_insert_with(|| self.start_peer(server, domain))
                .clone();
            match peer.tx.try_send(el) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    tracing::warn!(%domain, "s2s queue full; bouncing");
                    router::bounce(
                        server,
                        &back,
                        "resource-constraint",
                        Some("too many stanzas wait for this server"),
                    )
                    .await;
                    return;
                }
                Err(TrySendError::Closed(back)) => {
                    // Its task just ended (idle or failed): start another.
                    self.peers.remove_if(domain, |_, p| p.id == peer.id);
                    el = back;
                }
            }
        }
        router::bounce(server, &el, "remote-server-not-found", None).await;
    }

    fn start_peer(&self, server: &Arc<Server>, domain: &str) -> Arc<Peer> {
        let (tx, rx) = mpsc::channel(self.config.queue.max(1));
        let peer = Arc::new(Peer {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
        });
        server.tasks.spawn(outgoing::run(
            server.clone(),
            domain.to_string(),
            peer.clone(),
            rx,
        ));
        peer
    }

    /// The task of `peer` ended: forget it unless another replaced it.
    fn peer_ended(&self, domain: &str, peer: &Peer) {
        self.peers.remove_if(domain, |_, p| p.id == peer.id);
    }

    /// Register an open connection (unregistered when the guard drops).
    pub fn link(
        &self,
        direction: Direction,
        domain: &str,
        peer: Option<Arc<Peer>>,
    ) -> LinkGuard<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let link = Arc::new(Link {
            id,
            direction,
            domain: Mutex::new(domain.to_string()),
            tls: AtomicBool::new(false),
            auth: Mutex::new(Auth::None),
            last_active: AtomicU64::new(now_secs()),
            peer,
        });
        self.links.insert(id, link.clone());
        LinkGuard { s2s: self, link }
    }

    /// Counters of one peer domain.
    pub fn traffic(&self, domain: &str) -> Arc<Traffic> {
        if let Some(t) = self.traffic.get(domain) {
            return t.clone();
        }
        // Bounded: a hostile peer cannot make this grow without
        // authenticating domains, and only authenticated domains are
        // counted; beyond 10,000 the counts start over.
        if self.traffic.len() >= 10_000 {
            self.traffic.clear();
        }
        self.traffic.entry(domain.to_string()).or_default().clone()
    }

    /// Every open connection.
    pub fn list(&self) -> Vec<LinkInfo> {
        let now = now_secs();
        let mut out: Vec<LinkInfo> = self
            .links
            .iter()
            .map(|l| LinkInfo {
                domain: l.domain.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                direction: match l.direction {
                    Direction::In => "in".into(),
                    Direction::Out => "out".into(),
                },
                tls: l.tls.load(Ordering::Relaxed),
                auth: match *l.auth.lock().unwrap_or_else(|e| e.into_inner()) {
                    Auth::None => "none".into(),
                    Auth::External => "external".into(),
                    Auth::Dialback => "dialback".into(),
                },
                queued: l.peer.as_ref().map_or(0, |p| p.queued()),
                idle_secs: now.saturating_sub(l.last_active.load(Ordering::Relaxed)),
            })
            .collect();
        out.sort_by(|a, b| (&a.domain, &a.direction).cmp(&(&b.domain, &b.direction)));
        out
    }

    /// Prometheus lines: stanzas in and out per peer domain.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for (name, help) in [
            (
                "whassap_s2s_stanzas_in_total",
                "Stanzas received from each peer domain.",
            ),
            (
                "whassap_s2s_stanzas_out_total",
                "Stanzas sent to each peer domain.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let mut rows: Vec<(String, u64)> = self
                .traffic
                .iter()
                .map(|t| {
                    let v = if name.contains("_in_") {
                        &t.stanzas_in
                    } else {
                        &t.stanzas_out
                    };
                    (t.key().clone(), v.load(Ordering::Relaxed))
                })
                .collect();
            rows.sort();
            for (domain, v) in rows {
                let _ = writeln!(
                    out,
                    "{name}{{peer=\"{}\"}} {v}",
                    domain.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP whassap_s2s_connections Open server-to-server connections.\n# TYPE whassap_s2s_connections gauge\nwhassap_s2s_connections {}",
            self.links.len()
        );
        out
    }
}

/// Keeps a connection listed while alive.
pub struct LinkGuard<'a> {
    s2s: &'a S2s,
    /// The connection.
    pub link: Arc<Link>,
}

impl Drop for LinkGuard<'_> {
    fn drop(&mut self) {
        self.s2s.links.remove(&self.link.id);
    }
}
