//! The three kinds of consumer: a poller over the REST API, an XMPP
//! session subscribed to microblog PEP nodes, and an SSE firehose stream.
//! Each reports the statuses it receives as [`Arrival`]s, counts its bytes
//! into the mode's [`Traffic`] and its requests into the mode's counter,
//! and stops when told.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use minidom::Element;
use tokio::sync::{mpsc, watch};
use whassap_client::Client;

use crate::http::{api, query_value, Connection, Traffic};

const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ATOM: &str = "http://www.w3.org/2005/Atom";

/// The page size of a timeline without `limit` (`GET …/statuses`): a
/// poll that fills it polls again at once for the rest.
const DEFAULT_PAGE: usize = 20;
/// Errors kept per mode (the first ones tell the story).
const MAX_ERRORS: usize = 20;

/// A status received by a consumer: its sequence number (from the text),
/// the consumer, and when.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Sequence number of the status (see [`status_text`]).
    pub seq: u64,
    /// Index of the consumer.
    pub consumer: usize,
    /// When the consumer had it.
    pub at: Instant,
}

/// What every consumer of a mode shares.
#[derive(Clone)]
pub struct Shared {
    /// Where arrivals go.
    pub arrivals: mpsc::UnboundedSender<Arrival>,
    /// Bytes of every consumer connection of the mode.
    pub traffic: Arc<Traffic>,
    /// HTTP requests or stanzas sent by the consumers.
    pub requests: Arc<AtomicU64>,
    /// Becomes true when the consumers are to stop.
    pub stop: watch::Receiver<bool>,
    /// Failures, the first [`MAX_ERRORS`].
    pub errors: Arc<Mutex<Vec<String>>>,
}

impl Shared {
    fn arrived(&self, text: &str, consumer: usize) {
        if let Some(seq) = seq_of(text) {
            let _ = self.arrivals.send(Arrival {
                seq,
                consumer,
                at: Instant::now(),
            });
        }
    }

    /// Keep a failure (up to [`MAX_ERRORS`]).
    pub fn error(&self, e: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() < MAX_ERRORS {
            errors.push(e);
        }
    }

    fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Wait until told to stop (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The text of status `seq` posted in `mode`.
pub fn status_text(mode: &str, seq: u64) -> String {
    format!("poll-vs-push {mode} status #{seq}")
}

/// The sequence number in a status text written by [`status_text`].
pub fn seq_of(text: &str) -> Option<u64> {
    text.rsplit_once('#')?.1.trim().parse().ok()
}

/// One followed user of a poller: whom, and the last status id seen.
pub struct Followed {
    /// Username.
    pub user: String,
    /// Newest status id seen (`after=`); empty: none yet.
    pub after: String,
}

/// How a poller spreads its requests: it polls its followed users one
/// after another, `interval / follows` apart, starting at `first`, so that
/// every followed user is polled once per `interval`.
pub struct PollSchedule {
    /// The first poll.
    pub first: tokio::time::Instant,
    /// The poll interval per followed user.
    pub interval: Duration,
}

/// A poller: `GET /api/v1/users/{u}/statuses?after=<last seen>` for each
/// followed user, every `schedule.interval`, on one keep-alive connection.
pub async fn poller(
    index: usize,
    mut conn: Connection,
    mut follows: Vec<Followed>,
    schedule: PollSchedule,
    shared: Shared,
) {
    let mut stop = shared.stop.clone();
    if follows.is_empty() {
        return;
    }
    let gap = schedule.interval / follows.len() as u32;
    let mut next = schedule.first;
    let mut j = 0;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let f = &mut follows[j];
        loop {
            let mut path = format!("/api/v1/users/{}/statuses", query_value(&f.user));
            if !f.after.is_empty() {
                path.push_str(&format!("?after={}", query_value(&f.after)));
            }
            shared.request();
            let page = conn
                .call::<Vec<api::Status>>(Method::GET, &path, None, &[StatusCode::OK])
                .await;
            let page = match page {
                Ok((_, page)) => page,
                Err(e) => {
                    shared.error(format!("poller {index}: {e}"));
                    return;
                }
            };
            for s in &page {
                shared.arrived(&s.text, index);
            }
            // Newest first: the first one is where the next poll starts.
            if let Some(newest) = page.first() {
                if newest.id > f.after {
                    f.after = newest.id.clone();
                }
            }
            if page.len() < DEFAULT_PAGE {
                break;
            }
        }
        j = (j + 1) % follows.len();
        next += gap;
        // Behind schedule (a slow answer): carry on from now, no burst.
        let now = tokio::time::Instant::now();
        if next < now {
            next = now;
        }
    }
}

/// The status text in a PEP notification (`<message><event><items><item>
/// <entry><title>`), if it is one.
fn notification_text(el: &Element) -> Option<String> {
    let entry = el
        .get_child("event", EVENT)?
        .get_child("items", EVENT)?
        .get_child("item", EVENT)?
        .get_child("entry", ATOM)?;
    Some(entry.get_child("title", ATOM)?.text())
}

/// An XMPP consumer, already online and subscribed: reports the statuses in
/// PEP notifications, answers pings and disco queries (counted as
/// requests).
pub async fn pep_session(index: usize, mut client: Client, shared: Shared) {
    let mut stop = shared.stop.clone();
    let (mut read, mut written) = (client.bytes_received(), client.bytes_sent());
    loop {
        let el = tokio::select! {
            _ = stopped(&mut stop) => break,
            el = client.recv() => el,
        };
        let el = match el {
            Ok(el) => el,
            Err(e) => {
                shared.error(format!("reader {index}: {e}"));
                break;
            }
        };
        if el.name() == "message" {
            if let Some(text) = notification_text(&el) {
                shared.arrived(&text, index);
            }
        } else if el.name() == "iq" && el.attr("type") == Some("get") {
            // Not expected here; a client would answer, so do that.
            shared.request();
            let to = el.attr("from").unwrap_or_default();
            let id = el.attr("id").unwrap_or_default();
            let reply = format!("<iq xmlns='jabber:client' type='result' to='{to}' id='{id}'/>");
            let _ = client.send_raw(reply.as_bytes()).await;
        }
        shared
            .traffic
            .add_read(client.bytes_received().saturating_sub(read));
        shared
            .traffic
            .add_written(client.bytes_sent().saturating_sub(written));
        (read, written) = (client.bytes_received(), client.bytes_sent());
    }
    // Leave without waiting for the server to close: the phase is over.
    drop(client);
}

/// An SSE consumer: `GET /api/v1/firehose?users=…` on its own connection;
/// reports each `event: status`. `ready` is told once the stream is open.
pub async fn sse_stream(
    index: usize,
    mut conn: Connection,
    users: Vec<String>,
    shared: Shared,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let mut stop = shared.stop.clone();
    let list: Vec<String> = users.iter().map(|u| query_value(u)).collect();
    let path = format!("/api/v1/firehose?users={}", list.join(","));
    shared.request();
    let response = match conn
        .start(Method::GET, &path, None, "text/event-stream")
        .await
    {
        Ok(r) if r.status() == StatusCode::OK => r,
        Ok(r) => {
            let _ = ready.send(Err(format!("stream {index}: {path}: {}", r.status())));
            return;
        }
        Err(e) => {
            let _ = ready.send(Err(format!("stream {index}: {e}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut body = response.into_body();
    let mut parser = SseParser::default();
    loop {
        let frame = tokio::select! {
            _ = stopped(&mut stop) => break,
            f = body.frame() => f,
        };
        match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    for event in parser.feed(data) {
                        if event.event == "status" {
                            match serde_json::from_str::<api::Status>(&event.data) {
                                Ok(s) => shared.arrived(&s.text, index),
                                Err(e) => shared.error(format!("stream {index}: bad status: {e}")),
                            }
                        }
                    }
                }
            }
            Some(Err(e)) => {
                shared.error(format!("stream {index}: {e}"));
                break;
            }
            None => {
                shared.error(format!("stream {index}: the server ended the stream"));
                break;
            }
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub event: String,
    /// `data:` lines, joined with newlines.
    pub data: String,
}

/// An incremental `text/event-stream` parser (events end with a blank
/// line; comments and `id:`/`retry:` are skipped).
#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Add bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        loop {
            let end = self
                .buf
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
                .or_else(|| {
                    self.buf
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map(|i| (i, 4))
                });
            let Some((at, sep)) = end else { break };
            let block: Vec<u8> = self.buf.drain(..at + sep).collect();
            let block = String::from_utf8_lossy(&block[..at]);
            let mut event = SseEvent::default();
            let mut data = Vec::new();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event.event = value.to_string(),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if data.is_empty() && event.event.is_empty() {
                continue; // a comment (`: ping`)
            }
            if event.event.is_empty() {
                event.event = "message".into();
            }
            event.data = data.join("\n");
            events.push(event);
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_round_trip() {
        assert_eq!(seq_of(&status_text("pep", 42)), Some(42));
        assert_eq!(seq_of("no number"), None);
    }

    #[test]
    fn sse_events_across_reads() {
        let mut p = SseParser::default();
        assert!(p.feed(b": ping\n\nevent: status\nid: 01").is_empty());
        let got = p.feed(b"J\ndata: {\"a\":1}\n\nevent: delete\ndata: x\n\n");
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: "status".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: "delete".into(),
                    data: "x".into()
                },
            ]
        );
        assert!(p.feed(b"data: y\r\n\r\n")[0].event == "message");
    }

    #[test]
    fn notification_texts() {
        let m: Element = "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:microblog:0'><item id='01'><entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>poll-vs-push pep status #7</title></entry></item></items></event></message>".parse().unwrap();
        assert_eq!(notification_text(&m).and_then(|t| seq_of(&t)), Some(7));
    }
}
