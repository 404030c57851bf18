//! `floor`: the physical floor of a fan-out. No XMPP and no server: one
//! thread writes the same notification bytes to N connected sockets, one
//! `write` each, as a server's fan-out does, M times; readers on the other
//! end count the bytes. The writer thread's CPU per 1,000 deliveries is what
//! the kernel's TCP work (sending, and on loopback receiving) costs at the
//! very least, so fan-out figures are also given as multiples of it,
//! measured in the same run on the same machine.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Barrier};

use crate::session::{percentile, progress};
use crate::Outcome;

/// A PubSub notification of the size and shape Whassap sends to each
/// subscriber in `pubsub-fanout` (an Atom entry with a short title).
pub fn sample_notification() -> Vec<u8> {
    concat!(
        "<message xmlns='jabber:client' from='pubsub.localhost' ",
        "to='bench12345@localhost/whassap-bench' type='headline' id='n-1234567890'>",
        "<event xmlns='http://jabber.org/protocol/pubsub#event'>",
        "<items node='bench-123456-123456'><item id='bench-1' publisher='bench0@localhost'>",
        "<entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>status 1</title></entry>",
        "</item></items></event></message>"
    )
    .as_bytes()
    .to_vec()
}

/// What the floor scenario runs with.
pub struct Params {
    /// N: sockets written to.
    pub sessions: usize,
    /// M: notifications written to each, one round after another.
    pub items: usize,
    /// The bytes of one notification.
    pub bytes: Vec<u8>,
    /// Local addresses the readers connect from, in turn (empty: any).
    pub sources: Vec<IpAddr>,
    /// Longest wait for a round to reach every reader.
    pub timeout: Duration,
}

/// Run the floor: connect N readers, write M rounds, report the writer's CPU
/// per 1,000 deliveries and the time from a round's first write to its last
/// byte read.
pub async fn run(label: &str, p: Params) -> Outcome {
    let mut out = Outcome::new(label, "floor");
    out.param("sessions", p.sessions as f64)
        .param("items", p.items as f64)
        .param("bytes", p.bytes.len() as f64);
    match measure(&p).await {
        Ok(m) => {
            let deliveries = (p.sessions * m.rounds) as f64;
            let cpu = m.user_ms + m.sys_ms;
            out.figure("deliveries", deliveries)
                .figure("wall_s", m.wall_s)
                .figure("server_cpu_ms", cpu)
                .figure("deliveries_per_s", deliveries / m.wall_s.max(1e-9));
            if deliveries > 0.0 {
                out.figure(
                    "server_cpu_ms_per_1000_deliveries",
                    cpu / deliveries * 1000.0,
                )
                .figure(
                    "server_user_cpu_ms_per_1000_deliveries",
                    m.user_ms / deliveries * 1000.0,
                );
            }
            if cpu > 0.0 {
                out.figure("server_kernel_share", m.sys_ms / cpu);
            }
            out.figure("subscribers_reached", p.sessions as f64)
                .figure("last_delivery_p50_ms", percentile(&m.latencies, 0.5))
                .figure("last_delivery_p99_ms", percentile(&m.latencies, 0.99));
            if m.rounds < p.items {
                out.errors.push(format!(
                    "only {} of {} rounds reached every reader",
                    m.rounds, p.items
                ));
            }
        }
        Err(e) => out.errors.push(e),
    }
    out
}

struct Measured {
    rounds: usize,
    user_ms: f64,
    sys_ms: f64,
    wall_s: f64,
    latencies: Vec<f64>,
}

async fn measure(p: &Params) -> Result<Measured, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let n = p.sessions;
    // Accept on a thread of its own while the readers connect.
    let acceptor = std::thread::spawn(move || -> Result<Vec<TcpStream>, String> {
        let mut socks = Vec::with_capacity(n);
        while socks.len() < n {
            let (s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            socks.push(s);
        }
        Ok(socks)
    });
    // Each reader reports the moment each whole notification arrived.
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<(usize, Instant)>();
    let len = p.bytes.len();
    let ready = Arc::new(Barrier::new(n + 1));
    for i in 0..n {
        let stream = connect(addr, p.sources.get(i % p.sources.len().max(1)).copied()).await?;
        let (tx, ready) = (arrivals_tx.clone(), ready.clone());
        tokio::spawn(async move {
            ready.wait().await;
            read_rounds(stream, len, tx).await;
        });
        if (i + 1) % 5000 == 0 {
            progress(&format!("floor: {} of {n} readers connected", i + 1));
        }
    }
    drop(arrivals_tx);
    let socks = acceptor
        .join()
        .map_err(|_| "the accepting thread panicked".to_string())??;
    ready.wait().await;
    // The writer: a plain thread with blocking sockets, one write per socket
    // and round; each round waits until every reader has it, as the fan-out
    // scenarios wait for every subscriber before the next publish.
    let (round_tx, round_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let bytes = p.bytes.clone();
    let items = p.items;
    std::thread::spawn(move || {
        let mut socks = socks;
        let before = crate::procfs::thread_cpu_times_ms();
        let mut starts = Vec::with_capacity(items);
        let mut error = None;
        'rounds: for _ in 0..items {
            let t0 = Instant::now();
            starts.push(t0);
            for s in socks.iter_mut() {
                if let Err(e) = s.write_all(&bytes) {
                    error = Some(format!("write: {e}"));
                    break 'rounds;
                }
            }
            if round_rx.recv().is_err() {
                break;
            }
        }
        let after = crate::procfs::thread_cpu_times_ms();
        let _ = done_tx.send((before.zip(after), starts, error, socks));
    });
    let mut latencies = Vec::with_capacity(items);
    let mut rounds = 0;
    let t0 = Instant::now();
    let mut counts = vec![0usize; items];
    for round in 0..items {
        let deadline = tokio::time::Instant::now() + p.timeout;
        let mut last = None;
        while counts[round] < n {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((k, at))) if k < items => {
                    counts[k] += 1;
                    if k == round {
                        last = Some(at);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        if counts[round] < n {
            break;
        }
        rounds += 1;
        if let Some(at) = last {
            latencies.push(at);
        }
        if round_tx.send(()).is_err() {
            break;
        }
    }
    drop(round_tx);
    let wall_s = t0.elapsed().as_secs_f64();
    let (cpu, starts, error, socks) = done_rx
        .await
        .map_err(|_| "the writing thread stopped".to_string())?;
    drop(socks);
    if let Some(e) = error {
        return Err(e);
    }
    let ((u0, s0), (u1, s1)) = cpu.ok_or("no /proc/thread-self/stat")?;
    let latencies = latencies
        .iter()
        .zip(&starts)
        .map(|(at, start)| at.saturating_duration_since(*start).as_secs_f64() * 1000.0)
        .collect::<Vec<_>>();
    let mut sorted = latencies;
    sorted.sort_by(f64::total_cmp);
    Ok(Measured {
        rounds,
        user_ms: u1 - u0,
        sys_ms: s1 - s0,
        wall_s,
        latencies: sorted,
    })
}

async fn connect(
    addr: SocketAddr,
    source: Option<IpAddr>,
) -> Result<tokio::net::TcpStream, String> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| e.to_string())?;
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| format!("bind {ip}: {e}"))?;
    }
    socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// Count bytes; report each whole notification (its round number).
async fn read_rounds(
    mut s: tokio::net::TcpStream,
    len: usize,
    arrivals: mpsc::UnboundedSender<(usize, Instant)>,
) {
    let mut buf = vec![0u8; 4096];
    let mut total = 0usize;
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                let before = total / len;
                total += k;
                for round in before..total / len {
                    if arrivals.send((round, Instant::now())).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
