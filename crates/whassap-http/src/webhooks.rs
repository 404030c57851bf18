//! The webhook sender: a background task that delivers the durable outbox
//! written by the status pipeline (at least once).
//!
//! It wakes when the pipeline signals new outbox rows
//! (`server.statuses.outbox`) and when the next retry is due, claims the
//! due deliveries (each leased for the length of one attempt, so a crash
//! mid-attempt only delays it) and POSTs each body to its webhook with
//!
//! - `Content-Type: application/json`,
//! - `X-Whassap-Event`: `status.created` or `status.deleted`,
//! - `X-Whassap-Delivery`: the delivery id (the same on every retry),
//! - `X-Whassap-Hook-Id`: the webhook id,
//! - `X-Whassap-Signature: sha256=<hex HMAC-SHA256 of the body, keyed
//!   with the webhook's secret>`.
//!
//! A 2xx answer is delivered. Anything else — another status, a timeout,
//! a connection error, redirects included (they are not followed) — is
//! retried after the next delay of [`WebhookSettings::retry_delays`], and
//! the delivery fails once they are used up. Every attempt is recorded.
//! Unless private addresses are allowed, every attempt goes through
//! [`crate::ssrf`]: an IP literal is judged before the request, a name is
//! resolved at delivery time and refused if any of its addresses is not
//! public, and the connection goes only to the addresses checked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::JoinSet;
use whassap_server::metrics::Metrics;
use whassap_server::Server;
use whassap_store::{DeliveryAttempt, DeliveryRecord, DeliveryState};

/// Deliveries attempted at once at most.
const CONCURRENCY: usize = 16;
/// Longest sleep between looks at the outbox, should a wake-up be missed.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// How webhooks are sent.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Delays before the 2nd, 3rd... attempt; the delivery fails after
    /// `retry_delays.len() + 1` attempts.
    pub retry_delays: Vec<Duration>,
    /// Time an attempt may take, connection included.
    pub timeout: Duration,
}

/// The default retry schedule: 5 s, 30 s, 2 min, 10 min, 30 min, 2 h and
/// 6 h, so 8 attempts over about 8 h 43 min.
pub const DEFAULT_RETRY_DELAYS_MS: [u64; 7] = [
    5_000, 30_000, 120_000, 600_000, 1_800_000, 7_200_000, 21_600_000,
];

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retry_delays: DEFAULT_RETRY_DELAYS_MS
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a webhook client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// reqwest refused the settings.
    #[error("building the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`: the
/// `X-Whassap-Signature` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What the sender needs.
struct Sender {
    server: Arc<Server>,
    client: reqwest::Client,
    settings: WebhookSettings,
    allow_private: bool,
}

/// Start the sender as one of the server's tasks; it stops when the
/// server shuts down (an attempt in flight is abandoned and made again
/// after the restart).
pub fn spawn(
    server: Arc<Server>,
    settings: WebhookSettings,
    allow_private: bool,
) -> Result<(), SenderError> {
    let mut builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("Whassap-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(crate::ssrf::GuardedResolver));
    }
    let sender = Arc::new(Sender {
        client: builder.build()?,
        server: server.clone(),
        settings,
        allow_private,
    });
    server.tasks.spawn(run(sender));
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn run(sender: Arc<Sender>) {
    let server = sender.server.clone();
    let shutdown = server.shutdown.clone();
    let lease = i64::try_from(sender.settings.timeout.as_millis()).unwrap_or(i64::MAX / 4) + 5_000;
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Read before the outbox: a delivery committed after this wakes
        // the loop again.
        let outbox_seen = server.store.outbox_rows_written();
        let room = CONCURRENCY - running.len();
        if room > 0 {
            let now = now_ms();
            match server
                .store
                .deliveries_claim(now, now + lease, room as u32)
                .await
            {
                Ok(due) => {
                    for d in due {
                        running.spawn(attempt(sender.clone(), d));
                    }
                }
                Err(e) => tracing::error!("webhook sender: reading the outbox: {e}"),
            }
        }
        let wait = if running.len() < CONCURRENCY {
            match server.store.next_delivery_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64).min(MAX_IDLE)
                }
                Ok(None) => MAX_IDLE,
                Err(e) => {
                    tracing::error!("webhook sender: reading the outbox: {e}");
                    Duration::from_secs(1)
                }
            }
        } else {
            MAX_IDLE
        };
        let due = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                // A post wakes the sender; it reads the outbox again only
                // if the post queued deliveries (most posts match no
                // webhook, and reading after each would cost two queries
                // a post).
                _ = server.statuses.outbox.notified() => {
                    if server.store.outbox_rows_written() != outbox_seen {
                        break;
                    }
                }
                Some(_) = running.join_next(), if !running.is_empty() => break,
                _ = tokio::time::sleep_until(due), if running.len() < CONCURRENCY => break,
            }
        }
    }
    running.abort_all();
}

/// The outcome of one POST: the HTTP status, or what went wrong.
async fn send(sender: &Sender, d: &DeliveryRecord) -> Result<u16, String> {
    let url = reqwest::Url::parse(&d.url).map_err(|e| format!("bad URL: {e}"))?;
    if !sender.allow_private {
        // A name is checked by the resolver, at connection time; an IP
        // literal never reaches it.
        let host = url.host().ok_or("the URL has no host")?;
        crate::ssrf::check_url_host(&host)
            .map_err(|why| format!("{why} (webhooks.allow_private is off)"))?;
    }
    let response = sender
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Whassap-Event", &d.event)
        .header("X-Whassap-Delivery", &d.id)
        .header("X-Whassap-Hook-Id", &d.webhook_id)
        .header(
            "X-Whassap-Signature",
            signature(&d.secret, d.body.as_bytes()),
        )
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| describe(&e, sender.settings.timeout))?;
    Ok(response.status().as_u16())
}

/// A reqwest error with its causes, as one line.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {timeout:?}");
    }
    let mut text = String::from(if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    });
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Make one attempt at a delivery and record it.
async fn attempt(sender: Arc<Sender>, d: DeliveryRecord) {
    let at_ms = now_ms();
    let started = Instant::now();
    let outcome = send(&sender, &d).await;
    let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    let made = d.attempts + 1;
    let retry = sender
        .settings
        .retry_delays
        .get(made as usize - 1)
        .map(|delay| now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4));
    let (status, error) = match &outcome {
        Ok(code) if (200..300).contains(code) => (Some(*code), None),
        Ok(code) => (Some(*code), Some(format!("HTTP {code}"))),
        Err(e) => (None, Some(e.clone())),
    };
    let (state, next_attempt_ms) = match (&error, retry) {
        (None, _) => (DeliveryState::Delivered, at_ms),
        (Some(_), Some(next)) => (DeliveryState::Pending, next),
        (Some(_), None) => (DeliveryState::Failed, at_ms),
    };
    if error.is_none() && d.event == "status.created" {
        Metrics::inc(&sender.server.metrics.status_webhook_deliveries);
    }
    match &error {
        None => tracing::debug!(delivery = %d.id, url = %d.url, "webhook delivered"),
        Some(e) => tracing::info!(
            delivery = %d.id, url = %d.url, attempt = made, state = state.as_str(),
            "webhook attempt failed: {e}"
        ),
    }
    let record = DeliveryAttempt {
        state,
        next_attempt_ms,
        status,
        error: error.as_deref(),
        at_ms,
        duration_ms,
    };
    if let Err(e) = sender.server.store.delivery_attempted(&d.id, &record).await {
        // The lease runs out and the delivery is attempted again.
        tracing::error!(delivery = %d.id, "recording a webhook attempt: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
