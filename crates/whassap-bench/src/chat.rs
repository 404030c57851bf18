//! `chat`: online users exchange messages in pairs at a set total rate for
//! a while; delivered per second, loss, latency, server CPU per 1,000.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::procfs::Sample;
use crate::session::{go_online, percentile, progress, stanza, Target};
use crate::Outcome;

/// Run with `users` accounts (pairs 0–1, 2–3, …) sending `rate` messages per
/// second in all (0: as fast as each connection goes) for `duration`.
pub async fn run(target: &Target, users: usize, rate: f64, duration: Duration) -> Outcome {
    let users = users.max(2) & !1;
    let mut out = Outcome::new(&target.label, "chat");
    out.param("users", users as f64)
        .param("rate", rate)
        .param("duration_s", duration.as_secs_f64());
    out.errors
        .extend(crate::login::warm_up(target, users, 50).await);
    let timeout = target.timeout;
    let (clients, errors) = target
        .connect_range(0, users, 50, "going online", move |c| async move {
            go_online(c, "<presence xmlns='jabber:client'/>", &[], timeout).await
        })
        .await;
    out.errors.extend(errors);
    if clients.len() < users {
        out.errors.push("not every user came online".into());
        return out;
    }
    let start = Instant::now();
    let per_sender = if rate > 0.0 { rate / users as f64 } else { 0.0 };
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, u64)>();
    let before = Sample::take(&target.pids);
    let mut tasks = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let partner = target.jid(i ^ 1);
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let interval = (per_sender > 0.0).then(|| Duration::from_secs_f64(1.0 / per_sender));
            let mut next = Instant::now();
            let end = Instant::now() + duration;
            let mut sent = 0u64;
            let drain_until = end + Duration::from_secs(2);
            loop {
                let now = Instant::now();
                if now < end && now >= next {
                    let micros = start.elapsed().as_micros();
                    let m = format!("<message xmlns='jabber:client' type='chat' to='{partner}'><body>{micros}</body></message>");
                    if c.send(&stanza(&m)).await.is_err() {
                        break;
                    }
                    sent += 1;
                    next = match interval {
                        Some(d) => next + d,
                        None => Instant::now(),
                    };
                    if interval.is_none() {
                        // Unpaced: read whatever has arrived before sending again.
                        while let Ok(Some(el)) = c.recv_timeout(Duration::ZERO).await {
                            note(&el, start, &tx);
                        }
                        continue;
                    }
                }
                let now = Instant::now();
                if now >= drain_until {
                    break;
                }
                let wait = if now < end { next.saturating_duration_since(now) } else { drain_until - now };
                match c.recv_timeout(wait).await {
                    Ok(Some(el)) => note(&el, start, &tx),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
            sent
        }));
    }
    drop(tx);
    progress(&format!("{}: chatting for {duration:?}", target.label));
    let mut latencies = Vec::new();
    let collect = async {
        while let Some((sent_at, at)) = rx.recv().await {
            latencies.push((at.saturating_sub(sent_at)) as f64 / 1000.0);
        }
    };
    let (sent, _) = tokio::join!(futures::future::join_all(tasks), collect);
    let after = Sample::take(&target.pids);
    let sent: u64 = sent.into_iter().map(|r| r.unwrap_or(0)).sum();
    let delivered = latencies.len() as f64;
    let delta = before.until(&after);
    out.phase(&delta, delivered, 1000.0, "server_cpu_ms_per_1000_messages");
    latencies.sort_by(f64::total_cmp);
    out.figure("sent", sent as f64)
        .figure("delivered", delivered)
        .figure("lost", sent as f64 - delivered)
        .figure("delivered_per_s", delivered / duration.as_secs_f64())
        .figure("latency_p50_ms", percentile(&latencies, 0.5))
        .figure("latency_p99_ms", percentile(&latencies, 0.99))
        .figure("latency_max_ms", latencies.last().copied().unwrap_or(0.0));
    out
}

/// A received chat message: its send time (µs since `start`) and now.
fn note(el: &minidom::Element, start: Instant, tx: &mpsc::UnboundedSender<(u64, u64)>) {
    if el.name() != "message" {
        return;
    }
    if let Some(sent) = el
        .get_child("body", "jabber:client")
        .and_then(|b| b.text().trim().parse::<u64>().ok())
    {
        let _ = tx.send((sent, start.elapsed().as_micros() as u64));
    }
}
