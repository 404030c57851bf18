//! A client that stops reading costs the server bounded memory: the real
//! binary's resident memory is measured while three clients that never
//! read are flooded with 200 KiB messages, and again after they are gone.
//! Each session's queue is bounded by `session_queue_bytes` (1 MiB by
//! default) whatever the stanzas' sizes, so the peak stays within three
//! times that plus slack; and whatever the bound, memory goes back near
//! where it was once they are gone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};

mod support;

const MIB: u64 = 1024 * 1024;
/// Clients that stop reading.
const READERS: usize = 3;
/// 200 KiB messages sent to each.
const MESSAGES: usize = 150;
/// What the peak may exceed the configured bytes by: the flooding client's
/// own stanzas being parsed and routed, and the allocator's granularity.
const SLACK: u64 = 24 * MIB;

use support::Serving as Server;

fn serve(dir: &std::path::Path, queue_bytes: u64) -> Server {
    support::start(
        support::serve_command(dir, "127.0.0.1:0")
            .arg("--allow-plaintext")
            .arg("--session-queue-bytes")
            .arg(queue_bytes.to_string()),
    )
}

/// A `/proc/<pid>/status` field, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

async fn login(server: &Server, user: &str) -> Client {
    Client::connect(ConnectOptions {
        addr: server.c2s(),
        domain: "localhost".into(),
        username: user.into(),
        password: "password".into(),
        resource: Some("r".into()),
        tls: TlsMode::Plain,
        mechanism: Mechanism::Plain,
        accept_invalid_certs: true,
        timeout: Duration::from_secs(10),
        source_addr: None,
        scram_cache: None,
    })
    .await
    .unwrap_or_else(|e| panic!("{user} logs in: {e}"))
}

fn headline(to: &str, body: &str) -> minidom::Element {
    format!(
        "<message xmlns='jabber:client' to='{to}' type='headline'><body>{body}</body></message>"
    )
    .parse()
    .unwrap()
}

/// An XMPP ping to the server: once answered, everything sent before it
/// was routed.
async fn ping(c: &mut Client) {
    let iq =
        "<iq xmlns='jabber:client' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
            .parse()
            .unwrap();
    let answer = c.iq(iq).await.expect("the server answers a ping");
    assert_eq!(answer.attr("type"), Some("result"));
}

async fn metric(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// Resident memory of one flood, in bytes.
struct Flood {
    baseline: u64,
    peak: u64,
    after: u64,
    slow_consumers: u64,
}

/// Start the server with `queue_bytes` per session, let [`READERS`]
/// clients stop reading, send each [`MESSAGES`] 200 KiB messages, then
/// disconnect them.
async fn flood(queue_bytes: u64) -> Flood {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), queue_bytes);
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let mut users = vec!["sender".to_string()];
    users.extend((0..READERS).map(|i| format!("reader{i}")));
    for u in &users {
        let r = http
            .post(format!("{}/api/v1/users", server.http))
            .json(&serde_json::json!({"username": u, "password": "password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{u} signed up");
    }
    // The readers log in and never read again.
    let mut readers = Vec::new();
    for u in &users[1..] {
        readers.push(login(&server, u).await);
    }
    let targets: Vec<String> = readers.iter().map(|r| r.jid().to_string()).collect();
    let mut sender = login(&server, "sender").await;
    // Warm up the paths the flood takes, then take the baseline.
    for t in &targets {
        sender.send(&headline(t, "warm-up")).await.unwrap();
    }
    ping(&mut sender).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss(pid);
    // Reset the peak (VmHWM) to the current resident size.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();

    let sampling = Arc::new(AtomicBool::new(true));
    let sampled_peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), sampled_peak.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let body = "x".repeat(200 * 1024);
    for _ in 0..MESSAGES {
        for t in &targets {
            sender.send(&headline(t, &body)).await.unwrap();
        }
    }
    ping(&mut sender).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = status_bytes(pid, "VmHWM:").max(sampled_peak.load(Ordering::Relaxed));
    let slow_consumers = metric(&http, &server.http, "whassap_slow_consumers_total").await;
    drop(readers);
    // Wait for the server to see them gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(&http, &server.http, "whassap_sessions").await > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the readers' sessions ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss(pid);
    eprintln!(
        "session_queue_bytes {queue_bytes}: RSS baseline {} MiB, peak {} MiB, after {} MiB",
        baseline / MIB,
        peak / MIB,
        after / MIB
    );
    Flood {
        baseline,
        peak,
        after,
        slow_consumers,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stop_reading_hold_at_most_the_queue_bound() {
    let f = flood(MIB).await;
    let bound = READERS as u64 * MIB + SLACK;
    assert!(
        f.peak <= f.baseline + bound,
        "peak {} MiB over a baseline of {} MiB: more than {} MiB for {READERS} non-reading clients",
        f.peak / MIB,
        f.baseline / MIB,
        bound / MIB
    );
    assert_eq!(
        f.slow_consumers, READERS as u64,
        "every reader that stopped reading was disconnected"
    );
    assert!(
        f.after <= f.baseline + 8 * MIB,
        "memory went back to {} MiB, not near the baseline of {} MiB",
        f.after / MIB,
        f.baseline / MIB
    );
}

/// With a large bound the queues do hold tens of MiB; once their clients
/// are gone that memory goes back to the system, not only to the
/// allocator (see `whassap_server::reclaim`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_held_for_slow_clients_is_given_back() {
    let f = flood(256 * MIB).await;
    assert!(
        f.peak >= f.baseline + 30 * MIB,
        "the queues held {} MiB: the flood did not fill them",
        (f.peak - f.baseline) / MIB
    );
    assert!(
        f.after <= f.baseline + 8 * MIB,
        "memory went back to {} MiB only, from a peak of {} MiB and a baseline of {} MiB",
        f.after / MIB,
        f.peak / MIB,
        f.baseline / MIB
    );
}
