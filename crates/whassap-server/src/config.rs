//! Settings of the XMPP core, filled in by the binary from its configuration.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the XMPP core needs to know to run.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The XMPP domain served (e.g. `localhost`).
    pub domain: String,
    /// Where the SQLite database and the generated certificate live.
    pub data_dir: PathBuf,
    /// c2s listener with STARTTLS (None: disabled).
    pub c2s_listen: Option<SocketAddr>,
    /// c2s listener with direct TLS, XEP-0368 (None: disabled).
    pub c2s_tls_listen: Option<SocketAddr>,
    /// Let clients skip TLS (and use PLAIN without it). For tests and benchmarks.
    pub allow_plaintext: bool,
    /// PEM certificate chain; generated into the data dir when None.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; generated into the data dir when None.
    pub tls_key: Option<PathBuf>,
    /// XEP-0077 in-band registration over XMPP.
    pub xmpp_registration: bool,
    /// Largest stanza accepted, in bytes.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting accepted inside a stanza.
    pub max_depth: usize,
    /// Time a stream may take to authenticate and bind before it is closed.
    pub auth_timeout: Duration,
    /// Stanzas queued for one session before it counts as not reading and is closed.
    pub session_queue: usize,
    /// Bytes queued for one session (or taken by its writer and not yet
    /// written) before it counts as not reading and is closed.
    pub session_queue_bytes: usize,
    /// Connections open at once (XMPP and HTTP together); 0: no cap.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64);
    /// 0: no cap.
    pub max_connections_per_ip: usize,
    /// Sessions (resources) bound at once by one account.
    pub max_sessions_per_account: usize,
    /// Items in one user's roster.
    pub max_roster_items: usize,
    /// PubSub and PEP nodes one user may own.
    pub max_pubsub_nodes_per_user: usize,
    /// Which usernames sign-ups may take.
    pub username_policy: crate::accounts::UsernamePolicy,
    /// Messages kept offline for one user at most.
    pub max_offline_per_user: usize,
    /// Failed logins (per IP or per account) tolerated before answers are slowed down.
    pub login_failures_free: u32,
    /// Longest delay imposed on a login attempt after repeated failures.
    pub login_max_delay: Duration,
    /// PBKDF2 iterations used for new SCRAM credentials.
    pub scram_iterations: u32,
    /// Who may create nodes on `pubsub.<domain>`.
    pub pubsub_create: PubsubCreate,
    /// Server administrators (bare JIDs).
    pub admins: Vec<String>,
    /// Public base URL of the web pages, without a trailing slash (links in
    /// statuses).
    pub public_url: String,
    /// Status events buffered for each slow in-process listener (an SSE
    /// firehose stream) before it lags and is dropped.
    pub status_events_capacity: usize,
    /// Federation (server-to-server streams).
    pub s2s: S2sConfig,
    /// Several nodes over NATS (None: this node alone).
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// Settings of federation (SPEC §6).
#[derive(Clone, Debug)]
pub struct S2sConfig {
    /// Listener for other servers (STARTTLS offered); None disables
    /// federation both ways.
    pub listen: Option<SocketAddr>,
    /// Static routes, checked before DNS: domain → `(host, port)`.
    pub routes: HashMap<String, (String, u16)>,
    /// Peers must present a certificate valid for their domain (no dialback).
    pub require_valid_certs: bool,
    /// Extra trust anchors (PEM) for peer certificates, besides the
    /// Mozilla roots.
    pub ca: Option<PathBuf>,
    /// Allow streams without TLS when the peer offers none.
    pub allow_plaintext: bool,
    /// How long a peer may take to be reached and authenticated before what
    /// is queued for it is bounced.
    pub timeout: Duration,
    /// An s2s connection with nothing sent or received for this long is closed.
    pub idle: Duration,
    /// Stanzas queued for one remote domain at most.
    pub queue: usize,
    /// The DNS server asked for peers' SRV records (None: the system's).
    pub dns_server: Option<SocketAddr>,
}

impl Default for S2sConfig {
    fn default() -> Self {
        S2sConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 5269))),
            routes: HashMap::new(),
            require_valid_certs: false,
            ca: None,
            allow_plaintext: false,
            timeout: Duration::from_secs(60),
            idle: Duration::from_secs(600),
            queue: 4096,
            dns_server: None,
        }
    }
}

/// Who may create nodes on the PubSub service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PubsubCreate {
    /// Any local user.
    #[default]
    Local,
    /// Only administrators.
    Admins,
}

impl ServerConfig {
    /// Defaults of SPEC §1 for a domain and data dir.
    pub fn new(domain: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        let domain = domain.into();
        ServerConfig {
            public_url: format!("http://{domain}:3000"),
            domain,
            data_dir: data_dir.into(),
            c2s_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5222))),
            c2s_tls_listen: Some(SocketAddr::from(([0, 0, 0, 0], 5223))),
            allow_plaintext: false,
            tls_cert: None,
            tls_key: None,
            xmpp_registration: false,
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
            auth_timeout: Duration::from_secs(30),
            session_queue: 1024,
            session_queue_bytes: 1024 * 1024,
            max_offline_per_user: 1000,
            max_connections: 50_000,
            max_connections_per_ip: 200,
            max_sessions_per_account: 10,
            max_roster_items: 1000,
            max_pubsub_nodes_per_user: 100,
            username_policy: crate::accounts::UsernamePolicy::default(),
            login_failures_free: 3,
            login_max_delay: Duration::from_secs(5),
            scram_iterations: 4096,
            pubsub_create: PubsubCreate::Local,
            admins: Vec::new(),
            status_events_capacity: crate::statuses::EVENTS_CAPACITY,
            s2s: S2sConfig::default(),
            cluster: None,
        }
    }
}
