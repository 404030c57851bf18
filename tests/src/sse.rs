//! A small Server-Sent Events client over raw TCP (HTTP/1.0, so the body
//! is the event stream as it is, unchunked), for the firehose tests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// What the stream said next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// An event.
    Event {
        /// `event:` (`message` when absent).
        event: String,
        /// `id:`, if the event had one.
        id: Option<String>,
        /// `data:` lines joined with newlines.
        data: String,
    },
    /// A comment line (`: ping`), without the colon and space.
    Comment(String),
    /// The server closed the stream.
    Closed,
    /// Nothing within the time given.
    Timeout,
}

/// One firehose connection.
pub struct Sse {
    stream: TcpStream,
    buf: Vec<u8>,
    /// HTTP status of the answer.
    pub status: u16,
    /// The response head, lower-cased.
    pub head: String,
    eof: bool,
}

impl Sse {
    /// `GET path` (with `Last-Event-ID` if given).
    pub async fn connect(addr: SocketAddr, path: &str, last_event_id: Option<&str>) -> Sse {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Self::start(stream, path, last_event_id).await
    }

    /// Like [`Sse::connect`], with a small receive buffer: a client that
    /// does not read soon stops the server's writes.
    pub async fn connect_small_buffer(addr: SocketAddr, path: &str) -> Sse {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect");
        Self::start(stream, path, None).await
    }

    async fn start(mut stream: TcpStream, path: &str, last_event_id: Option<&str>) -> Sse {
        let mut req =
            format!("GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: text/event-stream\r\n");
        if let Some(id) = last_event_id {
            req.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).await.expect("request");
        let mut sse = Sse {
            stream,
            buf: Vec::new(),
            status: 0,
            head: String::new(),
            eof: false,
        };
        let end = loop {
            if let Some(i) = find(&sse.buf, b"\r\n\r\n") {
                break i;
            }
            assert!(sse.fill(crate::WAIT).await, "no response head");
        };
        sse.head = String::from_utf8_lossy(&sse.buf[..end]).to_lowercase();
        sse.buf.drain(..end + 4);
        sse.status = sse
            .head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        sse
    }

    /// Read more; false on EOF or timeout.
    async fn fill(&mut self, d: Duration) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16384];
        match tokio::time::timeout(d, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// The next event or comment, within `d`.
    pub async fn next_within(&mut self, d: Duration) -> SseItem {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if let Some(end) = find(&self.buf, b"\n\n") {
                let block = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                if let Some(item) = parse(&block) {
                    return item;
                }
                continue;
            }
            if self.eof {
                return SseItem::Closed;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return SseItem::Timeout;
            }
            if !self.fill(left).await && !self.eof {
                return SseItem::Timeout;
            }
        }
    }

    /// The next event (comments skipped), within [`crate::WAIT`]; panics on
    /// anything else.
    pub async fn event(&mut self) -> (String, Option<String>, serde_json::Value) {
        loop {
            match self.next_within(crate::WAIT).await {
                SseItem::Event { event, id, data } => {
                    let json = serde_json::from_str(&data)
                        .unwrap_or_else(|_| panic!("data is not JSON: {data}"));
                    return (event, id, json);
                }
                SseItem::Comment(_) => continue,
                other => panic!("expected an event, got {other:?}"),
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse(block: &str) -> Option<SseItem> {
    let (mut event, mut id, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(':') {
            comment = Some(c.trim_start().to_string());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_string()),
            "id" => id = Some(value.to_string()),
            "data" => data.push(value.to_string()),
            _ => {}
        }
    }
    if event.is_none() && id.is_none() && data.is_empty() {
        return comment.map(SseItem::Comment);
    }
    Some(SseItem::Event {
        event: event.unwrap_or_else(|| "message".into()),
        id,
        data: data.join("\n"),
    })
}
