//! The one typed configuration: defaults ← TOML file ← `WHASSAP_*` environment
//! ← command-line flags, validated at start with every problem reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Self sign-up policy of the web page and REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone may sign up.
    Open,
    /// Only `whassap user add` creates accounts.
    Closed,
}

/// Who may create nodes on `pubsub.<domain>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PubsubCreate {
    /// Any local user.
    Local,
    /// Only the administrators (`admins`).
    Admins,
}

/// `[api]`: the REST API's rate limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Requests a minute per personal access token (or per account with
    /// Basic auth), in bursts of up to as many; 0: no limit.
    pub token_requests_per_minute: u32,
    /// Requests a minute per client IP address, authenticated or not; 0: no limit.
    pub ip_requests_per_minute: u32,
    /// Messages a minute each token (or account with Basic auth) may send
    /// through `POST /api/v1/messages`, in bursts of up to as many; 0: no
    /// limit.
    pub messages_per_minute: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            token_requests_per_minute: 300,
            ip_requests_per_minute: 600,
            messages_per_minute: 60,
        }
    }
}

/// `[webhooks]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Accept webhook URLs that resolve to loopback or private addresses
    /// (checked at registration and again at every delivery).
    pub allow_private: bool,
    /// Delays before the 2nd, 3rd... attempt at a delivery, in
    /// milliseconds; it fails after `len + 1` attempts.
    pub retry_delays_ms: Vec<u64>,
    /// Milliseconds one delivery attempt may take.
    pub timeout_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_private: false,
            retry_delays_ms: whassap_http::webhooks::DEFAULT_RETRY_DELAYS_MS.to_vec(),
            timeout_ms: 10_000,
        }
    }
}

/// `[firehose]`: the SSE stream at `/api/v1/firehose`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirehoseConfig {
    /// Milliseconds between `: ping` comments.
    pub ping_interval_ms: u64,
    /// Events a stream may fall behind before it is dropped (the client
    /// resumes with `Last-Event-ID`).
    pub buffer: usize,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        FirehoseConfig {
            ping_interval_ms: 15_000,
            buffer: whassap_server::statuses::EVENTS_CAPACITY,
        }
    }
}

/// `[signup]`: which usernames the web page, the REST API and XMPP in-band
/// registration accept for new accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupConfig {
    /// Longest username, in characters.
    pub username_max_chars: usize,
    /// Characters allowed besides letters and digits (never first or last).
    pub username_punctuation: String,
    /// Allow letters of several scripts in one username (Latin and
    /// Cyrillic, say), which lets look-alike names impersonate others.
    pub username_mixed_scripts: bool,
}

impl Default for SignupConfig {
    fn default() -> Self {
        let p = whassap_server::accounts::UsernamePolicy::default();
        SignupConfig {
            username_max_chars: p.max_chars,
            username_punctuation: p.punctuation,
            username_mixed_scripts: p.mixed_scripts,
        }
    }
}

/// Every setting of `whassap serve`. Keys are the TOML keys; the environment
/// variable of a key is `WHASSAP_` + the key in upper case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// XMPP domain served.
    pub domain: String,
    /// Directory of the SQLite database, the generated certificate and the
    /// control socket.
    pub data_dir: PathBuf,
    /// Database URL: `postgres://USER@HOST/DB`, `sqlite:PATH`, or empty
    /// for SQLite in the data dir.
    pub database: String,
    /// c2s listener with STARTTLS; empty disables it.
    pub c2s_listen: String,
    /// c2s listener with direct TLS (XEP-0368); empty disables it.
    pub c2s_tls_listen: String,
    /// HTTP listener: WebSocket XMPP, health, metrics; empty disables it.
    pub http_listen: String,
    /// Public base URL of the web page (links in statuses); empty: http://DOMAIN:3000.
    pub public_url: String,
    /// Kernel send buffer of each HTTP connection in bytes; 0: the kernel's autotuning.
    pub http_send_buffer: usize,
    /// PEM certificate chain; empty: a self-signed one generated in the data dir.
    pub tls_cert: String,
    /// PEM private key for `tls_cert`.
    pub tls_key: String,
    /// Let clients skip TLS and use PLAIN without it (tests, benchmarks).
    pub allow_plaintext: bool,
    /// Self sign-up on the web page and REST API.
    pub registration: Registration,
    /// XEP-0077 in-band registration over XMPP.
    pub xmpp_registration: bool,
    /// Who may create nodes on the PubSub service.
    pub pubsub_create: PubsubCreate,
    /// Administrators: bare JIDs of local users.
    pub admins: Vec<String>,
    /// WebSocket connections count as secure (behind a TLS-terminating proxy).
    pub websocket_secure: bool,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `whassap_server=debug`.
    pub log: String,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// Largest stanza accepted, in bytes.
    pub max_stanza_bytes: usize,
    /// Most new statuses committed in one transaction (group commit); 1
    /// commits each alone.
    pub status_group_commit: usize,
    /// Seconds a request waits for a PostgreSQL connection before it fails
    /// (HTTP 503, XMPP `wait`) while the database is out of reach.
    pub database_timeout_secs: u64,
    /// Seconds a connection has to authenticate and bind.
    pub auth_timeout_secs: u64,
    /// Stanzas queued per session before a non-reading client is disconnected.
    pub session_queue: usize,
    /// Bytes queued per session (XMPP over TCP or WebSocket) before a
    /// non-reading client is disconnected.
    pub session_queue_bytes: usize,
    /// Connections open at once, XMPP and HTTP together; 0: no cap.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64); 0: no cap.
    pub max_connections_per_ip: usize,
    /// Seconds an HTTP client has to send a whole request head.
    pub http_header_timeout_secs: u64,
    /// Seconds an HTTP client has to send a whole request body.
    pub http_body_timeout_secs: u64,
    /// Seconds an idle keep-alive HTTP connection stays open.
    pub http_idle_timeout_secs: u64,
    /// Sessions (resources) one account may have bound at once.
    pub max_sessions_per_account: usize,
    /// Items in one user's roster.
    pub max_roster_items: usize,
    /// PubSub and PEP nodes one user may own.
    pub max_pubsub_nodes_per_user: usize,
    /// Messages stored per offline user at most.
    pub max_offline_per_user: usize,
    /// Listener for other XMPP servers; empty disables federation.
    pub s2s_listen: String,
    /// Static routes to peers, checked before DNS: `DOMAIN=HOST:PORT`.
    pub s2s_route: Vec<String>,
    /// Peers must present a certificate valid for their domain (no dialback).
    pub s2s_require_valid_certs: bool,
    /// Extra trust anchors (PEM file) for peer certificates.
    pub s2s_ca: String,
    /// Allow s2s streams without TLS when a peer offers none.
    pub s2s_allow_plaintext: bool,
    /// Seconds to reach and authenticate a peer before what is queued for it is bounced.
    pub s2s_timeout_secs: u64,
    /// Seconds before an idle s2s connection is closed.
    pub s2s_idle_secs: u64,
    /// DNS server (HOST:PORT) asked for peers' SRV records; empty: the system's.
    pub s2s_dns_server: String,
    /// NATS URL of the cluster bus (`nats://HOST:4222`); empty: this node alone.
    pub cluster: String,
    /// This node's name, unique in the cluster; empty: the host name and a
    /// random suffix.
    pub node_name: String,
    /// The REST API's rate limits.
    pub api: ApiConfig,
    /// Webhooks.
    pub webhooks: WebhooksConfig,
    /// The SSE firehose.
    pub firehose: FirehoseConfig,
    /// The username policy of sign-ups.
    pub signup: SignupConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            domain: "localhost".into(),
            data_dir: PathBuf::from("./whassap-data"),
            database: String::new(),
            c2s_listen: "0.0.0.0:5222".into(),
            c2s_tls_listen: "0.0.0.0:5223".into(),
            http_listen: "0.0.0.0:3000".into(),
            public_url: String::new(),
            http_send_buffer: 0,
            tls_cert: String::new(),
            tls_key: String::new(),
            allow_plaintext: false,
            registration: Registration::Open,
            xmpp_registration: false,
            pubsub_create: PubsubCreate::Local,
            admins: Vec::new(),
            websocket_secure: false,
            log: "info".into(),
            log_format: "text".into(),
            max_stanza_bytes: 256 * 1024,
            status_group_commit: 256,
            database_timeout_secs: 10,
            auth_timeout_secs: 30,
            session_queue: 1024,
            session_queue_bytes: 1024 * 1024,
            max_connections: 50_000,
            max_connections_per_ip: 200,
            http_header_timeout_secs: 30,
            http_body_timeout_secs: 30,
            http_idle_timeout_secs: 20,
            max_sessions_per_account: 10,
            max_roster_items: 1000,
            max_pubsub_nodes_per_user: 100,
            max_offline_per_user: 1000,
            s2s_listen: "0.0.0.0:5269".into(),
            s2s_route: Vec::new(),
            s2s_require_valid_certs: false,
            s2s_ca: String::new(),
            s2s_allow_plaintext: false,
            s2s_timeout_secs: 60,
            s2s_idle_secs: 600,
            s2s_dns_server: String::new(),
            cluster: String::new(),
            node_name: String::new(),
            api: ApiConfig::default(),
            webhooks: WebhooksConfig::default(),
            firehose: FirehoseConfig::default(),
            signup: SignupConfig::default(),
        }
    }
}

/// Load the configuration: defaults, then the file (if any), then the
/// environment, then `overrides` (the flags given on the command line).
/// Keys of sections are `SECTION__KEY` in the environment, e.g.
/// `WHASSAP_WEBHOOKS__ALLOW_PRIVATE`.
pub fn load(
    file: Option<&Path>,
    overrides: &impl Serialize,
) -> Result<Config, Box<figment::Error>> {
    let mut f = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        f = f.merge(Toml::file_exact(path));
    }
    // Only the variables that name a key: other WHASSAP_* variables (such as
    // the test suite's) are not configuration, and are reported, not fatal.
    let keys = config_keys();
    for (name, _) in std::env::vars() {
        if let Some(key) = name.strip_prefix("WHASSAP_") {
            let key = key.to_ascii_lowercase();
            let top = key.split("__").next().unwrap_or_default().to_string();
            if key != "config" && !keys.contains(&top) && !key.starts_with("test_") {
                eprintln!("warning: {name} is not a Whassap setting; ignored");
            }
        }
    }
    f.merge(
        Env::prefixed("WHASSAP_")
            .filter(move |k| {
                let top = k.as_str().split("__").next().unwrap_or_default();
                keys.iter().any(|key| top.eq_ignore_ascii_case(key))
            })
            .split("__"),
    )
    .merge(Serialized::defaults(overrides))
    .extract()
    .map_err(Box::new)
}

/// Every configuration key (the fields of [`Config`]).
fn config_keys() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

fn listen(value: &str, key: &str, problems: &mut Vec<String>) -> Option<SocketAddr> {
    if value.is_empty() {
        return None;
    }
    match value.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            problems.push(format!(
                "{key}: {value:?} is not an address like 0.0.0.0:5222"
            ));
            None
        }
    }
}

/// `DOMAIN=HOST:PORT` (an IPv6 host in brackets).
fn parse_route(route: &str) -> Option<(String, String, u16)> {
    let (domain, target) = route.split_once('=')?;
    let (host, port) = target.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let domain_ok = jid::BareJid::new(domain).is_ok_and(|j| j.node().is_none());
    (domain_ok && !host.is_empty())
        .then(|| Some((domain.to_string(), host.to_string(), port.parse().ok()?)))
        .flatten()
}

/// The validated settings, ready to start the server with.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Settings of the XMPP core.
    pub server: whassap_server::ServerConfig,
    /// HTTP listener.
    pub http_listen: Option<SocketAddr>,
    /// Settings of the HTTP door.
    pub http: whassap_http::HttpConfig,
}

impl Config {
    /// Check everything; Err lists every problem found.
    pub fn validate(&self) -> Result<Validated, Vec<String>> {
        let mut problems = Vec::new();
        if jid::BareJid::new(&self.domain)
            .map(|j| j.node().is_some())
            .unwrap_or(true)
        {
            problems.push(format!(
                "domain: {:?} is not a valid XMPP domain",
                self.domain
            ));
        }
        if !self.database.is_empty()
            && !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| self.database.starts_with(p))
        {
            problems.push(format!(
                "database: {:?}: give postgres://USER@HOST/DB, sqlite:PATH, or nothing \
                 (SQLite in the data dir)",
                self.database
            ));
        }
        let c2s = listen(&self.c2s_listen, "c2s_listen", &mut problems);
        let c2s_tls = listen(&self.c2s_tls_listen, "c2s_tls_listen", &mut problems);
        let http_listen = listen(&self.http_listen, "http_listen", &mut problems);
        let s2s_listen = listen(&self.s2s_listen, "s2s_listen", &mut problems);
        let s2s_dns_server = listen(&self.s2s_dns_server, "s2s_dns_server", &mut problems);
        let cluster = self.cluster_config(&mut problems);
        let mut s2s_routes = std::collections::HashMap::new();
        for route in &self.s2s_route {
            match parse_route(route) {
                Some((domain, host, port)) => {
                    s2s_routes.insert(domain, (host, port));
                }
                None => problems.push(format!("s2s_route: {route:?} is not DOMAIN=HOST:PORT")),
            }
        }
        if !self.s2s_ca.is_empty() && !Path::new(&self.s2s_ca).is_file() {
            problems.push(format!("s2s_ca: {} does not exist", self.s2s_ca));
        }
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            problems.push("tls_cert and tls_key must be given together".into());
        }
        for (key, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
            if !path.is_empty() && !Path::new(path).is_file() {
                problems.push(format!("{key}: {path} does not exist"));
            }
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            problems.push(format!(
                "log_format: {:?} is neither text nor json",
                self.log_format
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log).is_err() {
            problems.push(format!("log: {:?} is not a valid log filter", self.log));
        }
        if self.database_timeout_secs == 0 {
            problems.push("database_timeout_secs: at least 1".into());
        }
        if !(1..=10_000).contains(&self.status_group_commit) {
            problems.push("status_group_commit: from 1 to 10000".into());
        }
        if self.max_stanza_bytes < 10_000 {
            problems.push("max_stanza_bytes: at least 10000 (RFC 6120 §13.12)".into());
        }
        let url_ok = self.public_url.is_empty()
            || self.public_url.starts_with("http://")
            || self.public_url.starts_with("https://");
        if !url_ok {
            problems.push(format!(
                "public_url: {:?} is not an http:// or https:// URL",
                self.public_url
            ));
        }
        for (key, value) in [
            ("session_queue", self.session_queue as u64),
            ("auth_timeout_secs", self.auth_timeout_secs),
            ("http_header_timeout_secs", self.http_header_timeout_secs),
            ("http_body_timeout_secs", self.http_body_timeout_secs),
            ("http_idle_timeout_secs", self.http_idle_timeout_secs),
            (
                "max_sessions_per_account",
                self.max_sessions_per_account as u64,
            ),
            ("max_roster_items", self.max_roster_items as u64),
            ("s2s_timeout_secs", self.s2s_timeout_secs),
            ("s2s_idle_secs", self.s2s_idle_secs),
            (
                "signup.username_max_chars",
                self.signup.username_max_chars as u64,
            ),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be positive"));
            }
        }
        if self.session_queue_bytes < self.max_stanza_bytes {
            problems.push(format!(
                "session_queue_bytes ({}) must be at least max_stanza_bytes ({})",
                self.session_queue_bytes, self.max_stanza_bytes
            ));
        }
        if let Some(c) = self
            .signup
            .username_punctuation
            .chars()
            .find(|c| c.is_alphanumeric() || c.is_whitespace() || "@/\\\"&'<>:%?#".contains(*c))
        {
            problems.push(format!(
                "signup.username_punctuation: {c:?} cannot be in a username of a JID or a URL"
            ));
        }
        for admin in &self.admins {
            if !jid::BareJid::new(admin)
                .is_ok_and(|j| j.node().is_some() && j.domain().as_str() == self.domain)
            {
                problems.push(format!(
                    "admins: {admin:?} is not the bare JID of a user of {}",
                    self.domain
                ));
            }
        }
        if self.webhooks.retry_delays_ms.contains(&0) || self.webhooks.timeout_ms == 0 {
            problems.push("webhooks: retry_delays_ms and timeout_ms must be positive".into());
        }
        if self.firehose.ping_interval_ms < 10 || self.firehose.buffer == 0 {
            problems
                .push("firehose: ping_interval_ms must be at least 10 and buffer positive".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut server =
            whassap_server::ServerConfig::new(self.domain.clone(), self.data_dir.clone());
        server.c2s_listen = c2s;
        server.c2s_tls_listen = c2s_tls;
        server.allow_plaintext = self.allow_plaintext;
        server.tls_cert = (!self.tls_cert.is_empty()).then(|| PathBuf::from(&self.tls_cert));
        server.tls_key = (!self.tls_key.is_empty()).then(|| PathBuf::from(&self.tls_key));
        server.xmpp_registration = self.xmpp_registration;
        server.pubsub_create = match self.pubsub_create {
            PubsubCreate::Local => whassap_server::config::PubsubCreate::Local,
            PubsubCreate::Admins => whassap_server::config::PubsubCreate::Admins,
        };
        server.admins = self.admins.clone();
        server.max_stanza_bytes = self.max_stanza_bytes;
        server.auth_timeout = Duration::from_secs(self.auth_timeout_secs);
        server.session_queue = self.session_queue;
        server.session_queue_bytes = self.session_queue_bytes;
        server.max_connections = self.max_connections;
        server.max_connections_per_ip = self.max_connections_per_ip;
        server.max_sessions_per_account = self.max_sessions_per_account;
        server.max_roster_items = self.max_roster_items;
        server.max_pubsub_nodes_per_user = self.max_pubsub_nodes_per_user;
        server.username_policy = whassap_server::accounts::UsernamePolicy {
            max_chars: self.signup.username_max_chars,
            punctuation: self.signup.username_punctuation.clone(),
            mixed_scripts: self.signup.username_mixed_scripts,
        };
        server.max_offline_per_user = self.max_offline_per_user;
        server.status_events_capacity = self.firehose.buffer;
        server.s2s = whassap_server::config::S2sConfig {
            listen: s2s_listen,
            routes: s2s_routes,
            require_valid_certs: self.s2s_require_valid_certs,
            ca: (!self.s2s_ca.is_empty()).then(|| PathBuf::from(&self.s2s_ca)),
            allow_plaintext: self.s2s_allow_plaintext,
            timeout: Duration::from_secs(self.s2s_timeout_secs),
            idle: Duration::from_secs(self.s2s_idle_secs),
            dns_server: s2s_dns_server,
            ..Default::default()
        };
        server.cluster = cluster;
        if !self.public_url.is_empty() {
            server.public_url = self.public_url.trim_end_matches('/').to_string();
        }
        Ok(Validated {
            server,
            http_listen,
            http: whassap_http::HttpConfig {
                websocket_secure: self.websocket_secure,
                registration_open: self.registration == Registration::Open,
                webhooks_allow_private: self.webhooks.allow_private,
                token_requests_per_minute: self.api.token_requests_per_minute,
                ip_requests_per_minute: self.api.ip_requests_per_minute,
                messages_per_minute: self.api.messages_per_minute,
                firehose_ping: Duration::from_millis(self.firehose.ping_interval_ms),
                send_buffer: self.http_send_buffer,
                header_timeout: Duration::from_secs(self.http_header_timeout_secs),
                body_timeout: Duration::from_secs(self.http_body_timeout_secs),
                idle_timeout: Duration::from_secs(self.http_idle_timeout_secs),
                webhooks: whassap_http::webhooks::WebhookSettings {
                    retry_delays: self
                        .webhooks
                        .retry_delays_ms
                        .iter()
                        .map(|&ms| Duration::from_millis(ms))
                        .collect(),
                    timeout: Duration::from_millis(self.webhooks.timeout_ms),
                },
            },
        })
    }

    /// The cluster settings, if `cluster` is set; what is wrong with them
    /// goes to `problems`.
    fn cluster_config(
        &self,
        problems: &mut Vec<String>,
    ) -> Option<whassap_server::cluster::ClusterConfig> {
        if self.cluster.is_empty() {
            return None;
        }
        if !self.cluster.starts_with("nats://") {
            problems.push(format!(
                "cluster: {:?}: give the NATS server as nats://HOST:4222",
                self.cluster
            ));
        }
        if self.postgres_url().is_none() {
            problems.push(
                "cluster: the nodes of a cluster share one PostgreSQL database \
                 (--database postgres://USER@HOST/DB); SQLite belongs to one node"
                    .into(),
            );
        }
        let node = if self.node_name.is_empty() {
            default_node_name()
        } else {
            self.node_name.clone()
        };
        if node.is_empty()
            || node.len() > 64
            || !node
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push(format!(
                "node_name: {node:?}: 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        Some(whassap_server::cluster::ClusterConfig {
            url: self.cluster.clone(),
            node,
        })
    }

    /// The PostgreSQL URL, if the database is PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        ["postgres://", "postgresql://"]
            .iter()
            .any(|p| self.database.starts_with(p))
            .then_some(self.database.as_str())
    }

    /// Path of the SQLite database (when [`Config::postgres_url`] is None).
    pub fn sqlite_path(&self) -> PathBuf {
        match self.database.strip_prefix("sqlite:") {
            Some(p) if !p.is_empty() => PathBuf::from(p.trim_start_matches("//")),
            _ => self.data_dir.join("whassap.db"),
        }
    }
}

/// The host name (its letters, digits, `-` and `_`) and a random suffix:
/// unique across restarts, so that a node back after a crash is a new node
/// to the others.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    let suffix: u32 = rand::random();
    format!(
        "{}-{suffix:08x}",
        if host.is_empty() { "node" } else { &host }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../whassap.example.toml");
        let parsed: Config = Figment::new()
            .merge(Toml::file_exact(&path))
            .extract()
            .expect("example parses");
        assert_eq!(
            parsed,
            Config::default(),
            "whassap.example.toml drifted from Config::default()"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let c = Config {
            domain: "not a domain".into(),
            c2s_listen: "nope".into(),
            tls_cert: "/x.pem".into(),
            log_format: "xml".into(),
            ..Config::default()
        };
        let problems = c.validate().unwrap_err();
        assert!(problems.len() >= 4, "{problems:?}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature
    fn flags_win_over_environment_over_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "w.toml",
                "domain = \"file.test\"\nlog = \"debug\"\nsession_queue = 7",
            )?;
            jail.set_env("WHASSAP_DOMAIN", "env.test");
            jail.set_env("WHASSAP_LOG", "warn");
            jail.set_env("WHASSAP_TEST_SOMETHING_ELSE", "1");
            jail.set_env("WHASSAP_WEBHOOKS__ALLOW_PRIVATE", "true");
            jail.set_env("WHASSAP_API__IP_REQUESTS_PER_MINUTE", "7");
            #[derive(Serialize)]
            struct Flags {
                domain: &'static str,
            }
            let c = load(
                Some(Path::new("w.toml")),
                &Flags {
                    domain: "flag.test",
                },
            )
            .unwrap();
            assert_eq!(c.domain, "flag.test");
            assert_eq!(c.log, "warn");
            assert_eq!(c.session_queue, 7);
            assert!(c.webhooks.allow_private);
            assert_eq!(c.api.ip_requests_per_minute, 7);
            assert_eq!(c.api.token_requests_per_minute, 300);
            Ok(())
        });
    }
}
