//! A quick login load: N accounts `load0..loadN` (password `password`) log in
//! with C connections at a time and stay connected until Enter is pressed.
//! Prints logins per second; read the server's RSS from /proc meanwhile.
//! The full benchmark suite is `whassap-bench`; this is the smoke version.
//!
//! `cargo run --release -p whassap-client --example login_load -- 127.0.0.1:5222 2000 50 [plain|scram]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use whassap_client::{Client, ConnectOptions, Mechanism, TlsMode};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(1)
        .map(|a| a.parse().expect("address"))
        .unwrap_or(([127, 0, 0, 1], 5222).into());
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let concurrency: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(50);
    let mechanism = match args.get(4).map(String::as_str) {
        Some("scram") => Mechanism::ScramSha1,
        _ => Mechanism::Plain,
    };
    let gate = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let mut o = ConnectOptions::new(addr, "localhost", &format!("load{i}"), "password");
            o.tls = TlsMode::Plain;
            o.mechanism = mechanism;
            o.timeout = Duration::from_secs(30);
            Client::connect(o).await
        }));
    }
    let mut clients = Vec::with_capacity(n);
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => clients.push(c),
            Err(e) => {
                failed += 1;
                if failed < 5 {
                    eprintln!("login failed: {e}");
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} logins ({failed} failed) in {secs:.2} s: {:.0} logins/s with {concurrency} at a time ({mechanism:?})",
        clients.len(),
        clients.len() as f64 / secs
    );
    println!(
        "holding {} idle sessions; press Enter to disconnect",
        clients.len()
    );
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(clients);
}
