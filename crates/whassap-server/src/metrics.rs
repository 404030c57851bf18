//! Counters exported at `GET /metrics` in the Prometheus text format.
//!
//! A handful of atomics rendered by hand: the format is four lines per metric,
//! and a registry crate would add more code than it saves here.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

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
    /// Connections (XMPP or HTTP) refused at once for being over a cap.
    pub connections_refused: AtomicU64,
    /// PubSub and PEP event notifications queued for sessions.
    pub pubsub_deliveries: AtomicU64,
    /// Statuses posted (committed), from any door.
    pub statuses_posted: AtomicU64,
    /// Statuses deleted.
    pub statuses_deleted: AtomicU64,
    /// New statuses written to SSE firehose streams (`event: status`).
    pub status_sse_events: AtomicU64,
    /// Notifications of new statuses queued for XMPP sessions (the
    /// author's microblog node and the firehose node).
    pub status_xmpp_notifications: AtomicU64,
    /// Webhook deliveries of new statuses answered with a 2xx.
    pub status_webhook_deliveries: AtomicU64,
    /// SSE firehose streams now open.
    pub firehose_streams: AtomicI64,
    /// Push consumers (open firehose streams and XMPP sessions) integrated
    /// over time, in consumer-milliseconds (see [`crate::consumer_clock`]).
    pub consumer_ms: AtomicU64,
}

impl Metrics {
    /// Add one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Add `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Every push of a new status to one consumer: SSE events, XMPP
    /// notifications and webhook deliveries.
    pub fn push_deliveries(&self) -> u64 {
        self.status_sse_events.load(Ordering::Relaxed)
            + self.status_xmpp_notifications.load(Ordering::Relaxed)
            + self.status_webhook_deliveries.load(Ordering::Relaxed)
    }

    /// Push consumers connected now: open firehose streams and XMPP
    /// sessions.
    pub fn consumers_online(&self) -> u64 {
        let n =
            self.firehose_streams.load(Ordering::Relaxed) + self.sessions.load(Ordering::Relaxed);
        u64::try_from(n).unwrap_or(0)
    }

    /// Count `elapsed` of the consumers connected now.
    pub fn add_consumer_time(&self, elapsed: Duration) {
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let add = ms.saturating_mul(self.consumers_online());
        self.consumer_ms.fetch_add(add, Ordering::Relaxed);
    }

    /// Push consumers integrated over time, in consumer-seconds.
    pub fn consumer_seconds(&self) -> u64 {
        self.consumer_ms.load(Ordering::Relaxed) / 1000
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
            (
                "whassap_firehose_streams",
                "SSE firehose streams open.",
                &self.firehose_streams,
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
                "whassap_connections_refused_total",
                "Connections (XMPP and HTTP) refused for being over max_connections or max_connections_per_ip.",
                &self.connections_refused,
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
            (
                "whassap_status_sse_events_total",
                "New statuses sent on SSE firehose streams.",
                &self.status_sse_events,
            ),
            (
                "whassap_status_xmpp_notifications_total",
                "Notifications of new statuses queued for XMPP sessions.",
                &self.status_xmpp_notifications,
            ),
            (
                "whassap_status_webhook_deliveries_total",
                "Webhook deliveries of new statuses answered with a 2xx.",
                &self.status_webhook_deliveries,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let name = "whassap_push_consumer_seconds_total";
        let _ = writeln!(
            out,
            "# HELP {name} Push consumers (firehose streams and XMPP sessions) integrated over time.\n\
             # TYPE {name} counter\n{name} {}",
            self.consumer_seconds()
        );
        out
    }
}
