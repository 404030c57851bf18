//! The firehose client: `GET /api/v1/firehose` (server-sent events), with
//! automatic resume. When the stream drops (the server restarts, a proxy
//! times out, the network fails), it reconnects with backoff and sends
//! `Last-Event-ID`, and the server replays what was missed: no gap, no
//! duplicate.

use std::time::Duration;

use crate::rest::{RestClient, RestError, Status};

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A status id smaller than any (ids are ULIDs).
const BEFORE_ALL: &str = "00000000000000000000000000";
/// The most an event may weigh before the stream counts as broken.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Which statuses to receive.
#[derive(Clone, Debug, Default)]
pub struct FirehoseFilter {
    /// Only these usernames (all if empty).
    pub users: Vec<String>,
    /// Only statuses containing this (case-insensitive).
    pub q: Option<String>,
}

/// One event of the firehose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirehoseEvent {
    /// A new status.
    Status(Status),
    /// A status was deleted: its id.
    Deleted(String),
}

/// A firehose being tailed; [`next`](Firehose::next) gives its events.
pub struct Firehose {
    api: RestClient,
    url: url::Url,
    response: Option<reqwest::Response>,
    buffer: Vec<u8>,
    last_id: Option<String>,
    reconnects: u64,
}

impl Firehose {
    pub(crate) async fn open(
        api: RestClient,
        filter: FirehoseFilter,
        after: Option<String>,
    ) -> Result<Firehose, RestError> {
        let mut url = api.url("api/v1/firehose")?;
        {
            let mut q = url.query_pairs_mut();
            if !filter.users.is_empty() {
                q.append_pair("users", &filter.users.join(","));
            }
            if let Some(word) = &filter.q {
                q.append_pair("q", word);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        // Starting "from now" is starting after the newest status (or the
        // smallest id, if there is none yet): then a drop even before the
        // first event is resumed without a gap.
        let after = match after {
            Some(id) => id,
            None => match api.timeline(1).await?.into_iter().next() {
                Some(newest) => newest.id,
                None => BEFORE_ALL.to_owned(),
            },
        };
        let response = api.open_stream(url.clone(), Some(&after)).await?;
        Ok(Firehose {
            api,
            url,
            response: Some(response),
            buffer: Vec::new(),
            last_id: Some(after),
            reconnects: 0,
        })
    }

    /// What a resume starts after: the last status received (or, before
    /// the first, the newest when the stream was opened).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// How many times the stream dropped and was resumed.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The next event. A dropped stream is resumed after the last event,
    /// retrying with backoff while the server cannot be reached; a refusal
    /// (401, 4xx) or a refused certificate is returned as an error.
    pub async fn next(&mut self) -> Result<FirehoseEvent, RestError> {
        loop {
            if let Some(event) = self.take_event()? {
                return Ok(event);
            }
            let chunk = match &mut self.response {
                Some(r) => r.chunk().await.ok().flatten(),
                None => None,
            };
            match chunk {
                Some(bytes) => {
                    self.buffer.extend_from_slice(&bytes);
                    if self.buffer.len() > MAX_EVENT_BYTES {
                        return Err(RestError::Protocol("an event over 1 MiB".into()));
                    }
                }
                None => self.resume().await?,
            }
        }
    }

    /// Reconnect after the last id, waiting longer after each failure.
    async fn resume(&mut self) -> Result<(), RestError> {
        self.response = None;
        self.buffer.clear();
        self.reconnects += 1;
        let mut wait = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(wait).await;
            match self
                .api
                .open_stream(self.url.clone(), self.last_id.as_deref())
                .await
            {
                Ok(response) => {
                    tracing::info!(after = ?self.last_id, "firehose resumed");
                    self.response = Some(response);
                    return Ok(());
                }
                Err(RestError::Connect(host, why)) => {
                    tracing::warn!(%host, %why, "firehose unreachable; retrying");
                }
                Err(RestError::Refused { status, .. }) if status >= 500 => {
                    tracing::warn!(status, "firehose unavailable; retrying");
                }
                Err(e) => return Err(e),
            }
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }

    /// Parse one complete event from the buffer, if there is one.
    fn take_event(&mut self) -> Result<Option<FirehoseEvent>, RestError> {
        loop {
            let Some((end, sep)) = event_end(&self.buffer) else {
                return Ok(None);
            };
            let raw: Vec<u8> = self.buffer.drain(..end + sep).collect();
            let text = String::from_utf8_lossy(&raw[..end]);
            let (mut kind, mut id, mut data) = ("message", None, String::new());
            for line in text.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => {
                        kind = if value == "delete" {
                            "delete"
                        } else {
                            "status"
                        }
                    }
                    "id" => id = Some(value.to_owned()),
                    "data" => {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(value);
                    }
                    _ => {}
                }
            }
            if data.is_empty() {
                continue; // a comment (`: ping`) or an empty event
            }
            let json: serde_json::Value = serde_json::from_str(&data)
                .map_err(|e| RestError::Protocol(format!("firehose data is not JSON: {e}")))?;
            if kind == "delete" {
                let id = json["id"].as_str().unwrap_or_default().to_owned();
                return Ok(Some(FirehoseEvent::Deleted(id)));
            }
            let status: Status = serde_json::from_value(json)
                .map_err(|e| RestError::Protocol(format!("firehose status: {e}")))?;
            self.last_id = Some(id.unwrap_or_else(|| status.id.clone()));
            return Ok(Some(FirehoseEvent::Status(status)));
        }
    }
}

/// Where the first event in `buf` ends, and its blank line's length.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\n\n") {
            Some((i, 2))
        } else if buf[i..].starts_with(b"\r\n\r\n") {
            Some((i, 4))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_a_blank_line() {
        assert_eq!(event_end(b"id: 1\ndata: {}\n\nmore"), Some((14, 2)));
        assert_eq!(event_end(b"id: 1\r\ndata: {}\r\n\r\n"), Some((15, 4)));
        assert_eq!(event_end(b"id: 1\ndata: {}\n"), None);
    }
}
