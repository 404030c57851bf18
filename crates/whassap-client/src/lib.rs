//! A small async XMPP client, for integration tests, the CLI and benchmarks.
//!
//! [`Client::connect`] opens a stream, negotiates TLS (STARTTLS, direct TLS
//! per XEP-0368, or none), authenticates with SASL (SCRAM-SHA-256,
//! SCRAM-SHA-1 or PLAIN), restarts the stream and binds a resource; the
//! returned [`Client`] sends and receives stanzas. [`RawConnection`] is the
//! layer below it: a TCP or TLS stream plus a [`whassap_xml::StreamParser`],
//! for tests that need exact transcripts (bad XML, stream errors).
//!
//! On top of that, each common job is a method of [`Client`], in a few
//! lines and against any standards-compliant server:
//!
//! - messages: [`Client::send_message`], [`Client::next_message`];
//! - presence: [`Client::set_presence`] and [`Event::Presence`];
//! - contacts: [`Client::contacts`], [`Client::add_contact`],
//!   [`Client::remove_contact`], [`Client::accept`], [`Client::deny`];
//! - PubSub and PEP: [`Client::publish`], [`Client::subscribe`],
//!   [`Client::unsubscribe`], [`Client::items`] and [`Event::Items`];
//! - Whassap's statuses (XEP-0277 entries on the microblog node):
//!   [`Client::set_status`], [`Client::status_of`], [`Client::watch`] and
//!   [`Event::Status`];
//! - everything that arrives, typed: [`Client::next_event`], which logs in
//!   again after a drop once [`Client::reconnect_with`] is called.
//!
//! ```no_run
//! # async fn demo() -> Result<(), whassap_client::ClientError> {
//! use whassap_client::{Client, ConnectOptions};
//! let opts = ConnectOptions::for_jid("alice@example.org", "secret", None).await?;
//! let mut client = Client::connect(opts).await?;
//! client.send_message("bob@example.org", "hi!").await?;
//! client.set_status("at the pub").await?;
//! client.close().await
//! # }
//! ```
//!
//! [`rest::RestClient`] talks to Whassap's REST API: statuses, timelines,
//! the notifications API, and the firehose ([`rest::Firehose`], resumed
//! after a drop from the last id it saw).
//!
//! **Why not tokio-xmpp.** The xmpp-rs family serves where it fits: the
//! stanzas are `minidom` elements, as xmpp-parsers' are. The connection
//! itself is this crate's own because the workspace's tests and load
//! generator need what tokio-xmpp does not expose: exact transcripts and
//! malformed XML ([`RawConnection`]), a chosen SASL mechanism, a source
//! address per connection and a SCRAM cache shared by thousands of logins.
//! Sharing the server's framer and SCRAM also makes the client exercise
//! the same code from the other side.
//!
//! Framing and serialisation come from `whassap-xml` and SCRAM from
//! `whassap-proto`, so the client exercises the same code paths as the
//! server, from the other side.

#![warn(missing_docs)]

/// The README's Rust snippets, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeSnippets;

mod client;
mod contacts;
mod events;
mod firehose;
mod im;
mod microblog;
mod presence;
mod pubsub;
mod raw;
mod reconnect;
pub mod rest;
mod rest_status;
mod stanza_error;
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

pub use client::Client;
pub use contacts::Contact;
pub use events::{Event, Presence};
pub use im::Message;
pub use microblog::Status;
pub use minidom::Element;
pub use pubsub::Item;
pub use raw::RawConnection;
pub use stanza_error::StanzaError;
pub use tls::tls_config;
pub use whassap_xml::{FramingError, StreamEvent, StreamHeader};

/// How TLS is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP upgraded with STARTTLS (RFC 6120 §5); refused if the
    /// server does not offer it.
    #[default]
    StartTls,
    /// TLS from the first byte (XEP-0368), with ALPN `xmpp-client`.
    Direct,
    /// No TLS at all, for servers run with `--allow-plaintext`.
    Plain,
}

/// SASL mechanism to authenticate with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    #[default]
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// PLAIN (RFC 4616): the password is sent as is, so only use over TLS.
    Plain,
}

impl Mechanism {
    /// The SASL mechanism name.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Address to connect to (no DNS SRV lookup is done).
    pub addr: SocketAddr,
    /// The XMPP domain (stream `to`, TLS server name).
    pub domain: String,
    /// Local part of the account's JID.
    pub username: String,
    /// The account's password.
    pub password: String,
    /// Resource to request; `None` lets the server choose one.
    pub resource: Option<String>,
    /// How TLS is used.
    pub tls: TlsMode,
    /// SASL mechanism.
    pub mechanism: Mechanism,
    /// Accept any server certificate (self-signed test servers). When
    /// false, the certificate must chain to a root in `SSL_CERT_FILE` or
    /// the system bundle; see [`tls_config`].
    pub accept_invalid_certs: bool,
    /// Limit for the whole of [`Client::connect`] and for [`Client::close`].
    pub timeout: Duration,
    /// Local address to connect from (load generators spread connections
    /// over several loopback addresses to have ports enough); `None`: any.
    pub source_addr: Option<std::net::IpAddr>,
    /// Salted passwords already computed for SCRAM, shared between
    /// connections: a login then costs the client no PBKDF2.
    pub scram_cache: Option<SaltedPasswordCache>,
}

/// SCRAM salted passwords by (username, mechanism), reused while the server
/// keeps the same salt and iteration count. They are password equivalents:
/// this cache lives in memory only.
#[derive(Clone, Default)]
pub struct SaltedPasswordCache {
    inner: std::sync::Arc<std::sync::Mutex<SaltedPasswords>>,
}

/// (salt, iterations, salted password) by (username, mechanism).
type SaltedPasswords = std::collections::HashMap<(String, &'static str), (Vec<u8>, u32, Vec<u8>)>;

impl SaltedPasswordCache {
    /// The cached (salt, iterations, salted password) of a user, if any.
    pub fn get(&self, user: &str, mechanism: &'static str) -> Option<(Vec<u8>, u32, Vec<u8>)> {
        self.inner
            .lock()
            .ok()?
            .get(&(user.to_owned(), mechanism))
            .cloned()
    }

    /// Remember a user's salted password.
    pub fn put(&self, user: &str, mechanism: &'static str, value: (Vec<u8>, u32, Vec<u8>)) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert((user.to_owned(), mechanism), value);
        }
    }

    /// How many entries are cached.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ConnectOptions {
    /// Options with the defaults: STARTTLS, SCRAM-SHA-256, any certificate
    /// accepted, server-chosen resource, 10 s timeout.
    pub fn new(addr: SocketAddr, domain: &str, username: &str, password: &str) -> Self {
        ConnectOptions {
            addr,
            domain: domain.to_owned(),
            username: username.to_owned(),
            password: password.to_owned(),
            resource: None,
            tls: TlsMode::default(),
            mechanism: Mechanism::default(),
            accept_invalid_certs: true,
            timeout: Duration::from_secs(10),
            source_addr: None,
            scram_cache: None,
        }
    }
}

impl ConnectOptions {
    /// Options for an account given by its JID (`user@domain`, an optional
    /// `/resource` is requested at bind). The connection goes to `server`
    /// (`HOST:PORT`) when given, else to the domain's port 5222; no DNS SRV
    /// lookup is done. Unlike [`new`](Self::new), the server's certificate
    /// must be valid: set `accept_invalid_certs` for a self-signed one.
    pub async fn for_jid(
        jid: &str,
        password: &str,
        server: Option<&str>,
    ) -> Result<ConnectOptions, ClientError> {
        let parsed = jid::Jid::new(jid)
            .map_err(|e| ClientError::Protocol(format!("bad JID {jid:?}: {e}")))?;
        let Some(node) = parsed.node() else {
            return Err(ClientError::Protocol(format!(
                "{jid:?} is not an account's JID (user@domain)"
            )));
        };
        let domain = parsed.domain().as_str();
        let target = server.map_or_else(|| format!("{domain}:5222"), str::to_owned);
        let unreachable = |source| ClientError::Connect {
            target: target.clone(),
            source,
        };
        let addr = tokio::net::lookup_host(&target)
            .await
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| {
                unreachable(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name resolves to no address",
                ))
            })?;
        let mut opts = ConnectOptions::new(addr, domain, node.as_str(), password);
        opts.resource = parsed.resource().map(|r| r.as_str().to_owned());
        opts.accept_invalid_certs = false;
        Ok(opts)
    }

    /// Options from the environment, as the `whassap` command line takes
    /// them: `WHASSAP_JID`, `WHASSAP_PASSWORD` and, if set,
    /// `WHASSAP_SERVER` (`HOST:PORT`); see [`for_jid`](Self::for_jid).
    pub async fn from_env() -> Result<ConnectOptions, ClientError> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| ClientError::Protocol(format!("{name} is not set")))
        };
        let server = std::env::var("WHASSAP_SERVER").ok();
        Self::for_jid(
            &var("WHASSAP_JID")?,
            &var("WHASSAP_PASSWORD")?,
            server.as_deref(),
        )
        .await
    }

    /// Accept any server certificate: a self-signed one in development.
    /// Never in production: anyone in the middle could read the password.
    pub fn insecure(mut self) -> ConnectOptions {
        self.accept_invalid_certs = true;
        self
    }
}

impl std::fmt::Debug for ConnectOptions {
    /// Everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("addr", &self.addr)
            .field("domain", &self.domain)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("resource", &self.resource)
            .field("tls", &self.tls)
            .field("mechanism", &self.mechanism)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("timeout", &self.timeout)
            .field("source_addr", &self.source_addr)
            .finish()
    }
}

/// Why a client operation failed.
#[derive(thiserror::Error, Debug)]
pub enum ClientError {
    /// Nothing could be reached there: the name does not resolve, the
    /// connection is refused or unreachable.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// The `HOST:PORT` or address tried.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed once established.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// TLS setup or handshake failed.
    #[error("TLS error: {0}")]
    Tls(String),
    /// The server sent XML the framer refused.
    #[error("bad XML from the server: {0}")]
    Xml(#[from] FramingError),
    /// The server sent a `<stream:error/>`.
    #[error("stream error <{condition}/>{}", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    StreamError {
        /// The defined condition, e.g. `conflict`.
        condition: String,
        /// The server's `<text/>`, if any.
        text: Option<String>,
    },
    /// SASL failed; holds the condition, e.g. `not-authorized`.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// Resource binding failed; holds the stanza error condition.
    #[error("resource binding failed: {0}")]
    Bind(String),
    /// The server did not answer in time.
    #[error("timed out")]
    Timeout,
    /// The server did something the protocol does not allow here.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The stream or connection is closed.
    #[error("connection closed")]
    Closed,
    /// The server's TLS certificate was refused (self-signed, expired, or
    /// for another name); [`ConnectOptions::accept_invalid_certs`] accepts
    /// it in development.
    #[error("TLS certificate refused: {0}")]
    Certificate(String),
    /// The server (or the addressee) answered a request with an error.
    #[error("{0}")]
    Stanza(StanzaError),
}

impl ClientError {
    /// Whether the server could not be reached: nothing listens there,
    /// the name does not resolve, or it did not answer in time.
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, ClientError::Connect { .. } | ClientError::Timeout)
    }
}
