//! Whassap's XMPP server: the c2s doors, the session registry, the
//! [`core`] every door goes through (a stanza and its origin, the hook
//! table, IQ dispatch, the router, delivery), the feature modules that fill
//! the hook table (roster, presence, messages, offline storage, disco,
//! caps, blocking, registration, ping, version) and publish-subscribe
//! (XEP-0060 on `pubsub.<domain>`, XEP-0163 PEP on every account), and the
//! status pipeline every door posts through ([`statuses`]), the status
//! bot ([`bot`]), and the counters of `/metrics` with the clock that counts
//! push consumers over time ([`metrics`], [`consumer_clock`]).

pub mod accounts;
pub mod admission;
pub mod bot;
pub mod c2s;
pub mod cluster;
pub mod config;
pub mod consumer_clock;
pub mod core;
pub mod error;
pub mod metrics;
pub mod modules;
pub mod outqueue;
pub mod pubsub;
pub mod reclaim;
pub mod registry;
pub mod s2s;
mod server;
pub mod stanza;
pub mod statuses;
pub mod throttle;
pub mod tls;
pub mod tokens;
mod username_policy;

pub use config::ServerConfig;
pub use error::ServerError;
pub use server::{ConnectionGuard, RunningServer, Server};
