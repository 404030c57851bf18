//! A TCP relay the tests put between a server and a service (PostgreSQL,
//! NATS) and cut, to play an outage of that service.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// A TCP relay to a service that can be cut.
pub struct Relay {
    /// Where clients connect to reach the service.
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    /// Relay to `target` (`host:port`).
    pub async fn to(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(JoinSet::new()));
        let (d, l, target) = (down.clone(), links.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                l.lock().unwrap().spawn(async move {
                    if let Ok(mut db) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut db).await;
                    }
                });
            }
        });
        Relay { addr, down, links }
    }

    /// Drop every connection and refuse new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.links.lock().unwrap().abort_all();
    }

    /// Accept connections again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
