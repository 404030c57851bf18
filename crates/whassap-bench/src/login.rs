//! `login` and `idle`: accounts connect, authenticate, bind and go online;
//! logins per second, server CPU per login, and server memory per session.

use std::time::Duration;

use crate::barrier::Barrier;
use crate::procfs::Sample;
use crate::session::{go_online, progress, Target};
use crate::Outcome;

/// Log in every account once without measuring, so that the generator
/// knows their SCRAM salted passwords and does no PBKDF2 when measured.
pub async fn warm_up(target: &Target, users: usize, concurrency: usize) -> Vec<String> {
    if !matches!(
        target.mechanism,
        whassap_client::Mechanism::ScramSha1 | whassap_client::Mechanism::ScramSha256
    ) || target.scram_cache.len() >= users
    {
        return Vec::new();
    }
    let (clients, errors) = target
        .connect_range(
            0,
            users,
            concurrency,
            "warming up the SCRAM cache",
            |c| async { Ok(c) },
        )
        .await;
    // Close them all at once: some servers take a while to close a stream.
    futures::future::join_all(clients.into_iter().map(|c| c.close())).await;
    errors
}

/// `login`: `users` accounts log in (`concurrency` at a time) and go
/// online, then leave. The generator's SCRAM cache is warmed first (one
/// unmeasured login per account), so the generator does no PBKDF2 while
/// measured; no memory is reported, as the warm-up's sessions have already
/// grown the server.
pub async fn run(target: &Target, users: usize, concurrency: usize) -> Outcome {
    let mut out = Outcome::new(&target.label, "login");
    out.param("users", users as f64)
        .param("concurrency", concurrency as f64);
    out.errors.extend(warm_up(target, users, concurrency).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = Sample::take(&target.pids);
    let (clients, errors) = log_in(target, 0..users, concurrency).await;
    let delta = before.until(&Sample::take(&target.pids));
    let n = clients.len() as f64;
    out.phase(&delta, n, 1.0, "server_cpu_ms_per_login");
    out.figure("logins", n);
    if delta.wall_s > 0.0 {
        out.figure("logins_per_s", n / delta.wall_s);
    }
    out.errors.extend(errors);
    out
}

/// Processes that hold their sessions together (see [`crate::barrier`]).
pub struct Together {
    /// Where they meet.
    pub barrier: Barrier,
}

/// `idle`: accounts `range` log in and go online, stay connected for `hold`,
/// and the server's memory per session is read. No warm-up: it should run
/// first against a freshly started server, as allocators (and garbage
/// collectors) keep what earlier sessions used.
///
/// With `together`, several generator processes do this at once (each
/// with its own accounts, all with every node's pid): they meet before
/// logging in, once all hold their sessions, and before leaving, and the
/// memory is the growth of every node divided by every process's sessions.
pub async fn run_idle(
    target: &Target,
    range: std::ops::Range<usize>,
    concurrency: usize,
    hold: Duration,
    together: Option<Together>,
) -> Outcome {
    let mut out = Outcome::new(&target.label, "idle");
    out.param("users", range.len() as f64)
        .param("concurrency", concurrency as f64);
    let meet = |stage: &'static str, value: f64| {
        let together = &together;
        async move {
            match together {
                Some(t) => t.barrier.meet(stage, value, BARRIER_WAIT).await.map(Some),
                None => Ok(None),
            }
        }
    };
    let before = Sample::take(&target.pids);
    if let Err(e) = meet("start", 0.0).await {
        out.errors.push(e);
        return out;
    }
    let (clients, errors) = log_in(target, range, concurrency).await;
    let logged_in = Sample::take(&target.pids);
    let mine = clients.len() as f64;
    let delta = before.until(&logged_in);
    out.phase(&delta, mine, 1.0, "server_cpu_ms_per_login");
    out.errors.extend(errors);
    let sessions = match meet("held", mine).await {
        Ok(all) => {
            if let Some(all) = &all {
                out.param("processes", all.len() as f64);
            }
            all.map(|a| a.iter().sum()).unwrap_or(mine)
        }
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    out.figure("logins", sessions);
    if !hold.is_zero() {
        progress(&format!(
            "{}: holding {} sessions for {hold:?}",
            target.label,
            clients.len()
        ));
        tokio::time::sleep(hold).await;
    }
    let held = Sample::take(&target.pids);
    if let Some(rss) = before
        .until(&held)
        .server_rss_kib
        .filter(|_| sessions > 0.0)
    {
        out.figure("server_kib_per_session", rss / sessions);
        if let Some(end) = held.server_rss_kib() {
            out.figure("server_rss_kib", end);
        }
    }
    if let Err(e) = meet("measured", 0.0).await {
        out.errors.push(e);
    }
    drop(clients);
    out
}

/// How long generator processes wait for each other at a barrier (logging
/// in tens of thousands of sessions takes minutes on a small machine).
const BARRIER_WAIT: Duration = Duration::from_secs(600);

/// Log in `range` and go online.
async fn log_in(
    target: &Target,
    range: std::ops::Range<usize>,
    concurrency: usize,
) -> (Vec<whassap_client::Client>, Vec<String>) {
    let timeout = target.timeout;
    target
        .connect_range(
            range.start,
            range.end,
            concurrency,
            "logging in",
            move |c| async move {
                go_online(c, "<presence xmlns='jabber:client'/>", &[], timeout).await
            },
        )
        .await
}
