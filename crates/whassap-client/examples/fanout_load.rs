//! A quick PubSub fan-out measurement: N accounts `load1..loadN` (password
//! `password`) subscribe to one node on `pubsub.<domain>`; `load0` creates it
//! and publishes M items one after another, each once every subscriber has
//! the previous one. Prints the time from publish to the last delivery
//! (p50, p99, max) and, given the server's pid, the server CPU time per
//! 1,000 deliveries read from /proc. The full benchmark suite is
//! `whassap-bench`; this is the smoke version.
//!
//! `cargo run --release -p whassap-client --example fanout_load -- 127.0.0.1:5222 SERVER_PID 2000 20`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minidom::Element;
use tokio::sync::{mpsc, Semaphore};
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";

fn options(addr: SocketAddr, i: usize) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr, "localhost", &format!("load{i}"), "password");
    o.tls = TlsMode::Plain;
    o.mechanism = Mechanism::Plain;
    o.timeout = Duration::from_secs(30);
    o
}

fn parse(xml: &str) -> Element {
    xml.parse().expect("well-formed request")
}

/// CPU time (user + system) of a process, in milliseconds.
fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1000.0 / 100.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(1)
        .map(|a| a.parse().expect("address"))
        .unwrap_or(([127, 0, 0, 1], 5222).into());
    let pid: Option<u32> = args.get(2).and_then(|a| a.parse().ok());
    let n: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let m: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(20);

    let mut publisher = Client::connect(options(addr, 0)).await.expect("publisher");
    let node = format!("fanout-{}", std::process::id());
    let r = publisher
        .iq(parse(&format!("<iq xmlns='jabber:client' type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><create node='{node}'/></pubsub></iq>")))
        .await
        .expect("create");
    assert_eq!(r.attr("type"), Some("result"), "node created");

    eprintln!("connecting and subscribing {n} subscribers…");
    let gate = Arc::new(Semaphore::new(50));
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<(usize, Instant)>();
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    for i in 1..=n {
        let gate = gate.clone();
        let node = node.clone();
        let arrived_tx = arrived_tx.clone();
        let ready_tx = ready_tx.clone();
        tokio::spawn(async move {
            let mut c = {
                let _permit = gate.acquire().await.unwrap();
                let mut c = Client::connect(options(addr, i)).await.expect("subscriber");
                let jid = c.jid().to_string();
                let r = c
                    .iq(parse(&format!("<iq xmlns='jabber:client' type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><subscribe node='{node}' jid='{jid}'/></pubsub></iq>")))
                    .await
                    .expect("subscribe");
                assert_eq!(r.attr("type"), Some("result"));
                c
            };
            let _ = ready_tx.send(());
            while let Ok(el) = c.recv().await {
                let id = el
                    .get_child("event", EVENT)
                    .and_then(|e| e.get_child("items", EVENT))
                    .and_then(|i| i.get_child("item", EVENT))
                    .and_then(|i| i.attr("id"))
                    .and_then(|id| id.parse::<usize>().ok());
                if let Some(id) = id {
                    let _ = arrived_tx.send((id, Instant::now()));
                }
            }
        });
    }
    for _ in 0..n {
        ready.recv().await;
    }
    eprintln!("publishing {m} items to {n} subscribers…");
    let cpu_before = pid.and_then(cpu_ms);
    let mut latencies = Vec::with_capacity(m);
    let started = Instant::now();
    for k in 0..m {
        let t0 = Instant::now();
        let r = publisher
            .iq(parse(&format!("<iq xmlns='jabber:client' type='set' to='pubsub.localhost'><pubsub xmlns='{PUBSUB}'><publish node='{node}'><item id='{k}'><entry xmlns='http://www.w3.org/2005/Atom'><title>status {k}</title></entry></item></publish></pubsub></iq>")))
            .await
            .expect("publish");
        assert_eq!(r.attr("type"), Some("result"));
        let mut got = 0;
        let mut last = t0;
        while got < n {
            let (id, at) = arrived.recv().await.expect("subscribers alive");
            if id == k {
                got += 1;
                last = last.max(at);
            }
        }
        latencies.push(last - t0);
    }
    let wall = started.elapsed();
    let cpu_after = pid.and_then(cpu_ms);
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let deliveries = (n * m) as f64;
    println!(
        "{m} publishes × {n} subscribers = {deliveries} deliveries in {wall:.2?} ({:.0} deliveries/s)",
        deliveries / wall.as_secs_f64()
    );
    println!(
        "publish → last delivery: p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );
    if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
        println!(
            "server CPU: {:.0} ms in all, {:.1} ms per 1,000 deliveries",
            b - a,
            (b - a) / (deliveries / 1000.0)
        );
    }
}
