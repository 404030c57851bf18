//! Counters exported at `GET /metrics` in the Prometheus text format.
//!
//! A handful of atomics rendered by hand: the format is four lines per metric,
//! and a registry crate would add more code than it saves here.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Server-wide counters, cheap to bump from any task.
#[derive(Default, Debug)]
pub struct Metrics {
    /// Authenticated, bound sessions now connected.
    pub sessions: AtomicI64,
    /// Connections now open (authenticated or not).
    pub connections: AtomicI64,
    /// Stanzas received from clients.
    pub stanzas_in: AtomicU64,
    /// Stanzas written to clients.
    pub stanzas_out: AtomicU64,
    /// Failed SASL authentications.
    pub auth_failures: AtomicU64,
    /// Successful SASL authentications.
    pub auth_successes: AtomicU64,
    /// Messages stored for offline users.
    pub offline_stored: AtomicU64,
    /// Sessions closed because they did not read their queue.
    pub slow_consumers: AtomicU64,
    /// PubSub and PEP event notifications queued for sessions.
    pub pubsub_deliveries: AtomicU64,
    /// Statuses posted (committed), from any door.
    pub statuses_posted: AtomicU64,
    /// Statuses deleted.
    pub statuses_deleted: AtomicU64,
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let gauges = [
            (
                "whassap_sessions",
                "Authenticated XMPP sessions connected.",
                &self.sessions,
            ),
            (
                "whassap_connections",
                "XMPP connections open.",
                &self.connections,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "whassap_stanzas_in_total",
                "Stanzas received from clients.",
                &self.stanzas_in,
            ),
            (
                "whassap_stanzas_out_total",
                "Stanzas sent to clients.",
                &self.stanzas_out,
            ),
            (
                "whassap_auth_failures_total",
                "Failed SASL authentications.",
                &self.auth_failures,
            ),
            (
                "whassap_auth_successes_total",
                "Successful SASL authentications.",
                &self.auth_successes,
            ),
            (
                "whassap_offline_stored_total",
                "Messages stored for offline delivery.",
                &self.offline_stored,
            ),
            (
                "whassap_slow_consumers_total",
                "Sessions closed for not reading.",
                &self.slow_consumers,
            ),
            (
                "whassap_pubsub_deliveries_total",
                "PubSub and PEP event notifications queued for sessions.",
                &self.pubsub_deliveries,
            ),
            (
                "whassap_statuses_posted_total",
                "Statuses posted, from any door.",
                &self.statuses_posted,
            ),
            (
                "whassap_statuses_deleted_total",
                "Statuses deleted.",
                &self.statuses_deleted,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}
