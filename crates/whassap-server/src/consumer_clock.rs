//! The consumer clock: once a second, the push consumers connected (open
//! SSE firehose streams and XMPP sessions) are added to a running total of
//! consumer-time ([`Metrics::consumer_ms`](crate::metrics::Metrics)), the
//! basis of the "polls avoided" estimate of the web page's counter. Two
//! atomic loads and one add a second: nothing on any hot path.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::Server;

/// How often consumers are counted.
pub const TICK: Duration = Duration::from_secs(1);

/// Longest time one count stands for. A process that was paused (or a
/// runtime that was starved) counts at most this much for the gap, so that
/// the total errs low, never high.
const MAX_STEP: Duration = Duration::from_secs(2);

/// Count consumers every [`TICK`] until the server shuts down.
pub async fn run(server: Arc<Server>) {
    let mut ticker = tokio::time::interval_at(Instant::now() + TICK, TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => break,
            now = ticker.tick() => {
                let step = now.saturating_duration_since(last).min(MAX_STEP);
                last = now;
                server.metrics.add_consumer_time(step);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use crate::metrics::Metrics;

    use super::*;

    #[test]
    fn consumer_time_is_consumers_times_elapsed() {
        let m = Metrics::default();
        m.add_consumer_time(Duration::from_secs(5));
        assert_eq!(m.consumer_seconds(), 0, "nobody connected");
        m.sessions.store(2, Ordering::Relaxed);
        m.firehose_streams.store(1, Ordering::Relaxed);
        assert_eq!(m.consumers_online(), 3);
        m.add_consumer_time(Duration::from_millis(1500));
        m.add_consumer_time(Duration::from_millis(1500));
        assert_eq!(m.consumer_seconds(), 9);
        Metrics::add(&m.status_sse_events, 2);
        Metrics::inc(&m.status_xmpp_notifications);
        Metrics::inc(&m.status_webhook_deliveries);
        assert_eq!(m.push_deliveries(), 4);
        assert!(m
            .render()
            .contains("whassap_push_consumer_seconds_total 9\n"));
    }
}
