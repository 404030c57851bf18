//! `GET /stats.json`: the "push saved" counter of the page footer.
//!
//! - `statuses_pushed`: statuses posted (from any door) since the server
//!   started;
//! - `push_deliveries`: how many times one of them reached one consumer:
//!   `status` events written to SSE firehose streams, notifications queued
//!   for XMPP sessions (the author's microblog node and the firehose node)
//!   and webhook deliveries answered with a 2xx;
//! - `consumers_online`: open firehose streams plus XMPP sessions now;
//! - `consumer_seconds`: `consumers_online` integrated over time (counted
//!   once a second);
//! - `polls_avoided` = `consumer_seconds` / `poll_interval_secs` (10): the
//!   requests the same consumers would have made polling every 10 s to hear
//!   of new statuses within 10 s (on average 5 s late; push is immediate).
//!
//! Counters are in memory and start from zero when the server starts.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use whassap_server::metrics::Metrics;

use crate::AppState;

/// The polling interval the estimate compares with, in seconds.
pub const POLL_INTERVAL_SECS: u64 = 10;

/// The counter's figures.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PushStats {
    /// Statuses posted since the server started.
    pub statuses_pushed: u64,
    /// Deliveries of those statuses to one consumer each.
    pub push_deliveries: u64,
    /// Firehose streams and XMPP sessions connected now.
    pub consumers_online: u64,
    /// Consumers integrated over time.
    pub consumer_seconds: u64,
    /// The polling interval of the estimate.
    pub poll_interval_secs: u64,
    /// `consumer_seconds / poll_interval_secs`.
    pub polls_avoided: u64,
}

impl PushStats {
    /// The figures now.
    pub fn of(m: &Metrics) -> PushStats {
        let consumer_seconds = m.consumer_seconds();
        PushStats {
            statuses_pushed: Metrics::get(&m.statuses_posted),
            push_deliveries: m.push_deliveries(),
            consumers_online: m.consumers_online(),
            consumer_seconds,
            poll_interval_secs: POLL_INTERVAL_SECS,
            polls_avoided: consumer_seconds / POLL_INTERVAL_SECS,
        }
    }
}

/// The figures as JSON, never cached.
pub async fn json(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(PushStats::of(&state.server.metrics)),
    )
}
