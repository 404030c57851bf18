//! Slow and greedy clients cannot hold the server's connections: HTTP
//! requests must arrive within the header and body timeouts, idle
//! keep-alive connections are closed, and connections over the caps (per
//! client address and in total, XMPP and HTTP together) are refused at
//! once while other clients are still served.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use whassap_tests::*;

/// Connect to `addr` from `source` (any 127.0.0.0/8 address works on
/// Linux loopback).
async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.expect("connect")
}

/// Send `data` a byte every `every` until the server closes the
/// connection; how long that took (None: still open after `give_up`).
async fn trickle(
    mut tcp: TcpStream,
    data: Vec<u8>,
    every: Duration,
    give_up: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let mut sent = 0;
    loop {
        if started.elapsed() > give_up {
            return None;
        }
        tokio::select! {
            r = tcp.read(&mut buf) => match r {
                // Whatever the server answers (a 408 or 400), then it closes.
                Ok(n) if n > 0 => continue,
                _ => return Some(started.elapsed()),
            },
            _ = tokio::time::sleep(every) => {
                let byte = data.get(sent).copied().unwrap_or(b'x');
                sent += 1;
                if tcp.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
            }
        }
    }
}

/// A plain GET on its own connection; the status code.
async fn get_status(addr: SocketAddr, path: &str) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer:?}"))
}

/// Ask for `/healthz` on a kept-alive connection and expect a 200.
async fn healthz_on(tcp: &mut TcpStream) {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

/// 200 connections that send their request head a byte at a time, and 50
/// that send a body a byte at a time, are all closed within the timeouts,
/// while an ordinary request is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_are_cut_off_while_others_are_served() {
    let s = TestServer::start_with(|c| {
        c.http_header_timeout_secs = 2;
        c.http_body_timeout_secs = 2;
        c.max_connections_per_ip = 0;
    })
    .await;
    let every = Duration::from_millis(200);
    let give_up = Duration::from_secs(10);
    let mut slow = tokio::task::JoinSet::new();
    for i in 0..200 {
        let tcp = connect_from("127.0.0.1", s.http).await;
        let head = format!("GET /healthz?{i} HTTP/1.1\r\nHost: x\r\nX-Slow: ").into_bytes();
        slow.spawn(async move { ("head", trickle(tcp, head, every, give_up).await) });
    }
    for _ in 0..50 {
        let mut tcp = connect_from("127.0.0.1", s.http).await;
        tcp.write_all(
            b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"username\": \"",
        )
        .await
        .unwrap();
        slow.spawn(async move { ("body", trickle(tcp, Vec::new(), every, give_up).await) });
    }
    // While they trickle, others are served at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    assert_eq!(get_status(s.http, "/healthz").await, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "served while under attack"
    );

    let mut closed = Vec::new();
    while let Some(r) = slow.join_next().await {
        let (what, after) = r.unwrap();
        let after = after
            .unwrap_or_else(|| panic!("a slow {what} connection is still open after {give_up:?}"));
        closed.push((what, after));
    }
    for (what, after) in closed {
        assert!(
            after >= Duration::from_millis(1500) && after <= Duration::from_secs(5),
            "a slow {what} connection was closed after {after:?}, not at its 2 s timeout"
        );
    }
    s.stop().await;
}

/// A keep-alive connection that stays idle is closed after the idle
/// timeout; one in use is not.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let s = TestServer::start_with(|c| c.http_idle_timeout_secs = 1).await;
    let mut tcp = TcpStream::connect(s.http).await.unwrap();
    let started = Instant::now();
    // Requests every half second keep it open past the idle timeout.
    for _ in 0..4 {
        healthz_on(&mut tcp).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    let idle_from = Instant::now();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "closed, not answered: {n:?}");
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(400) && idle <= Duration::from_secs(3),
        "closed after {idle:?} idle"
    );
    s.stop().await;
}

/// Is the connection closed by the server right away, before anything is
/// sent?
async fn refused(mut tcp: TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// The per-address cap counts XMPP and HTTP connections together; a
/// connection over it is closed at once, and another address is still
/// served. The global cap refuses everyone once reached.
#[tokio::test]
async fn connections_over_the_caps_are_refused_at_once() {
    let s = TestServer::start_with(|c| {
        c.max_connections_per_ip = 4;
        c.max_connections = 6;
    })
    .await;
    let mut held = Vec::new();
    for i in 0..4 {
        let door = if i % 2 == 0 { s.http } else { s.c2s };
        held.push(connect_from("127.0.0.2", door).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for door in [s.http, s.c2s] {
        assert!(
            refused(connect_from("127.0.0.2", door).await).await,
            "over the per-address cap"
        );
    }
    // Another address is served (and fills the global cap of 6).
    held.push(connect_from("127.0.0.3", s.c2s).await);
    let mut other = connect_from("127.0.0.3", s.http).await;
    healthz_on(&mut other).await;
    assert!(
        refused(connect_from("127.0.0.4", s.http).await).await,
        "over the global cap"
    );
    // A closed connection frees its place.
    drop(held.pop());
    drop(other);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get_status(s.http, "/metrics").await, 200);
    let metrics = s.app().server.metrics.render();
    assert!(
        metrics.contains("whassap_connections_refused_total 3"),
        "{metrics}"
    );
    s.stop().await;
}

/// A connection upgraded to WebSocket keeps its place under the caps for
/// as long as it stays open.
#[tokio::test]
async fn an_upgraded_websocket_still_counts_against_the_caps() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = TestServer::start_with(|c| c.max_connections_per_ip = 1).await;
    let mut req = format!("ws://{}/xmpp-websocket", s.http)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("WebSocket upgrade");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.app().server.admission.open(), 1);
    assert!(refused(connect_from("127.0.0.1", s.http).await).await);
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.app().server.admission.open(),
        0,
        "its place is freed once closed"
    );
    s.stop().await;
}
