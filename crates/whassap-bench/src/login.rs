//! `login` and `idle`: accounts connect, authenticate, bind and go online;
//! logins per second, server CPU per login, and server memory per session.

use std::time::Duration;

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

/// `users` accounts log in (`concurrency` at a time) and go online; they
/// stay connected for `hold` before the memory is read, then leave.
///
/// `login` measures CPU: the generator's SCRAM cache is warmed first (one
/// unmeasured login per account), so it reports no memory, which the
/// warm-up's sessions have already grown. `idle` measures memory: no
/// warm-up, and it should run first against a freshly started server, as
/// allocators (and garbage collectors) keep what earlier sessions used.
pub async fn run(
    target: &Target,
    scenario: &str,
    users: usize,
    concurrency: usize,
    hold: Duration,
) -> Outcome {
    let mut out = Outcome::new(&target.label, scenario);
    out.param("users", users as f64)
        .param("concurrency", concurrency as f64);
    let measure_memory = scenario == "idle";
    if !measure_memory {
        out.errors.extend(warm_up(target, users, concurrency).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = Sample::take(target.pid);
    let timeout = target.timeout;
    let (clients, errors) = target
        .connect_range(0, users, concurrency, "logging in", move |c| async move {
            go_online(c, "<presence xmlns='jabber:client'/>", &[], timeout).await
        })
        .await;
    let logged_in = Sample::take(target.pid);
    let n = clients.len() as f64;
    let delta = before.until(&logged_in);
    out.phase(&delta, n, 1.0, "server_cpu_ms_per_login");
    out.figure("logins", n);
    if delta.wall_s > 0.0 {
        out.figure("logins_per_s", n / delta.wall_s);
    }
    out.errors.extend(errors);
    if !hold.is_zero() {
        progress(&format!(
            "{}: holding {} sessions for {hold:?}",
            target.label,
            clients.len()
        ));
        tokio::time::sleep(hold).await;
    }
    let held = Sample::take(target.pid);
    if let (Some(rss), true) = (
        before.until(&held).server_rss_kib,
        n > 0.0 && measure_memory,
    ) {
        out.figure("server_kib_per_session", rss / n);
    }
    for c in clients {
        drop(c);
    }
    out
}
