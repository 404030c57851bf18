//! `GET /api/v1/firehose`: every public status as Server-Sent Events.
//!
//! ```text
//! event: status
//! id: 01JD3Q0T6ZC8W2XQ4Y7M3N1K9B
//! data: {"id":"01JD3Q0T6ZC8W2XQ4Y7M3N1K9B","author":{...},"text":"at the pub",...}
//!
//! event: delete
//! data: {"id":"01JD3Q0T6ZC8W2XQ4Y7M3N1K9B"}
//!
//! : ping
//! ```
//!
//! With `Last-Event-ID` (or `?after=`) the stream first replays every
//! stored status after that id, then goes live with no gap and no
//! duplicate: it subscribes to the pipeline's event channel *before*
//! reading the store, and skips live statuses at or below the highest id
//! the replay read. The channel releases events in commit order, so the
//! last id a client saw is always a correct place to resume from.
//!
//! Deletions carry no `id:` line, so that they do not move the client's
//! resume point backwards. Each stream can fall at most
//! `status_events_capacity` events behind (the channel's bound): a client
//! that lags more is dropped (the stream ends) rather than slowing anyone
//! else, and resumes with `Last-Event-ID`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;
use whassap_server::metrics::Metrics;
use whassap_server::statuses::{Status, StatusEvent};
use whassap_server::{accounts, Server};
use whassap_store::{StatusRecord, TimelineQuery};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::AppState;

/// Statuses read from the store at a time while replaying.
const REPLAY_PAGE: u32 = 200;
/// Most usernames in the `users` filter.
const MAX_USERS: usize = 100;

/// Which statuses a firehose stream carries.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FirehoseParams {
    /// Replay every stored status after this id first (the
    /// `Last-Event-ID` header wins over it). A status id or the start of
    /// one (`0`: from the beginning).
    #[param(pattern = r"^([0-9A-HJKMNP-TV-Z]{0,25}|[0-7][0-9A-HJKMNP-TV-Z]{25})$")]
    pub after: Option<String>,
    /// Only statuses of these users: comma-separated usernames.
    pub users: Option<String>,
    /// Only statuses whose text contains this, case-insensitively.
    pub q: Option<String>,
}

/// The filters of one stream.
#[derive(Debug, Default)]
struct Filter {
    users: Option<Vec<String>>,
    q: Option<String>,
}

impl Filter {
    fn new(params: &FirehoseParams) -> ApiResult<Filter> {
        let users = match params.users.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(list) => {
                let mut out = Vec::new();
                for u in list.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    let n = accounts::normalise(u, true).map_err(|_| {
                        ApiError::invalid(format!("users: {u:?} is not a valid username."))
                    })?;
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                if out.len() > MAX_USERS {
                    return Err(ApiError::invalid(format!(
                        "users: at most {MAX_USERS} usernames."
                    )));
                }
                (!out.is_empty()).then_some(out)
            }
        };
        let q = params
            .q
            .as_deref()
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        Ok(Filter { users, q })
    }

    fn matches(&self, s: &Status) -> bool {
        self.users
            .as_ref()
            .is_none_or(|u| u.contains(&s.author.username))
            && self
                .q
                .as_ref()
                .is_none_or(|q| s.text.to_lowercase().contains(q.as_str()))
    }

    /// The one author the store can filter on, if there is exactly one.
    fn single_user(&self) -> Option<&str> {
        match self.users.as_deref() {
            Some([one]) => Some(one),
            _ => None,
        }
    }
}

/// Where the stream resumes: `Last-Event-ID`, else `?after=`.
fn resume_point(headers: &HeaderMap, params: &FirehoseParams) -> ApiResult<Option<String>> {
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Last-Event-ID is not a status id."))?
                .trim()
                .to_string(),
        ),
    };
    let id = from_header
        .filter(|id| !id.is_empty())
        .or_else(|| params.after.clone().filter(|id| !id.is_empty()));
    match id {
        Some(id) if !whassap_server::statuses::is_cursor(&id) => Err(ApiError::invalid(
            "Last-Event-ID / after must be a status id.",
        )),
        id => Ok(id),
    }
}

/// The stored statuses still to replay.
struct Replay {
    /// The last id read from the store.
    cursor: String,
    /// Read, not sent yet, oldest first.
    page: VecDeque<StatusRecord>,
    /// The store has nothing after `cursor` (as of the last read).
    done: bool,
}

/// Counts an open stream in the `firehose_streams` gauge while alive.
struct Open(Arc<Server>);

impl Open {
    fn new(server: Arc<Server>) -> Open {
        server
            .metrics
            .firehose_streams
            .fetch_add(1, Ordering::Relaxed);
        Open(server)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .metrics
            .firehose_streams
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// One stream's state.
struct Firehose {
    _open: Open,
    server: Arc<Server>,
    rx: broadcast::Receiver<StatusEvent>,
    filter: Filter,
    /// Live statuses at or below this id were (or would have been)
    /// replayed: the resume point, then the highest id the replay read.
    replayed_up_to: Option<String>,
    replay: Option<Replay>,
    ping: tokio::time::Interval,
    shutdown: CancellationToken,
}

/// A new status's event, counted as a push delivery.
fn status_event(server: &Server, s: &Status) -> Event {
    Metrics::inc(&server.metrics.status_sse_events);
    Event::default()
        .event("status")
        .id(s.id.clone())
        .data(serde_json::to_string(s).unwrap_or_default())
}

fn delete_event(s: &Status) -> Event {
    Event::default()
        .event("delete")
        .data(serde_json::json!({ "id": s.id }).to_string())
}

impl Firehose {
    /// The next event, or None when the stream ends (lagged, shut down,
    /// or the store failed while replaying).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.shutdown.is_cancelled() {
                return None;
            }
            if let Some(replay) = &mut self.replay {
                if let Some(record) = replay.page.pop_front() {
                    let status = Status::from_record(&self.server.config, record).ok()?;
                    if self.filter.matches(&status) {
                        return Some(status_event(&self.server, &status));
                    }
                    continue;
                }
                if replay.done {
                    self.replay = None;
                    continue;
                }
                let rows = self
                    .server
                    .store
                    .timeline(&TimelineQuery {
                        author: self.filter.single_user(),
                        q: self.filter.q.as_deref(),
                        before: None,
                        after: Some(&replay.cursor),
                        limit: REPLAY_PAGE,
                    })
                    .await;
                let mut rows = match rows {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!("firehose replay: {e}");
                        return None;
                    }
                };
                // The page just after the cursor comes newest first.
                rows.reverse();
                replay.done = rows.len() < REPLAY_PAGE as usize;
                if let Some(last) = rows.last() {
                    replay.cursor = last.id.clone();
                    self.replayed_up_to = Some(last.id.clone());
                }
                replay.page = rows.into();
                continue;
            }
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return None,
                event = self.rx.recv() => match event {
                    Ok(StatusEvent::Created(s)) => {
                        let seen = self
                            .replayed_up_to
                            .as_deref()
                            .is_some_and(|up_to| s.id.as_str() <= up_to);
                        if !seen && self.filter.matches(&s) {
                            return Some(status_event(&self.server, &s));
                        }
                    }
                    Ok(StatusEvent::Deleted(s)) => {
                        if self.filter.matches(&s) {
                            return Some(delete_event(&s));
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::info!(missed = n, "firehose client too slow: dropped (it resumes with Last-Event-ID)");
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.ping.tick() => return Some(Event::default().comment("ping")),
            }
        }
    }
}

/// The firehose: every public status as it is posted (`event: status`,
/// `id:` the status id, `data:` its JSON) and every deletion (`event:
/// delete`, `data: {"id": ...}`), with a `: ping` comment at a fixed
/// interval (15 s by default). With `Last-Event-ID` or `after`, every
/// stored status after that id comes first, then the live ones, with no
/// gap and no duplicate. A client too slow to keep up is dropped and
/// resumes with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/api/v1/firehose", tag = "firehose", operation_id = "firehose",
    params(
        FirehoseParams,
        ("Last-Event-ID" = Option<String>, Header, nullable = false,
         description = "Resume after this status id (sent by EventSource on reconnection)."),
    ),
    responses(
        (status = 200, description = "A text/event-stream of `status` and `delete` events",
         content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad resume id or users filter", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<FirehoseParams>,
) -> ApiResult<Response> {
    let filter = Filter::new(&params)?;
    let after = resume_point(&headers, &params)?;
    // Subscribe before anything is read from the store: every status
    // committed from now on is in `rx`.
    let rx = state.server.statuses.subscribe();
    let every = state.config.firehose_ping.max(Duration::from_millis(10));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let firehose = Firehose {
        _open: Open::new(state.server.clone()),
        shutdown: state.server.shutdown.clone(),
        server: state.server,
        rx,
        filter,
        replayed_up_to: after.clone(),
        replay: after.map(|cursor| Replay {
            cursor,
            page: VecDeque::new(),
            done: false,
        }),
        ping,
    };
    let events = futures::stream::unfold(firehose, |mut f| async move {
        f.next().await.map(|event| (Ok::<_, Infallible>(event), f))
    });
    let mut response = Sse::new(events).into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_id_wins_over_after() {
        let params = FirehoseParams {
            after: Some("01A".into()),
            ..Default::default()
        };
        let mut h = HeaderMap::new();
        assert_eq!(resume_point(&h, &params).unwrap().as_deref(), Some("01A"));
        h.insert("last-event-id", HeaderValue::from_static("01B"));
        assert_eq!(resume_point(&h, &params).unwrap().as_deref(), Some("01B"));
        h.insert("last-event-id", HeaderValue::from_static("a\"b"));
        assert!(resume_point(&h, &params).is_err());
        assert_eq!(
            resume_point(&HeaderMap::new(), &FirehoseParams::default()).unwrap(),
            None
        );
    }

    #[test]
    fn filters_parse_and_match() {
        let f = Filter::new(&FirehoseParams {
            users: Some(" Bob, alice,bob ".into()),
            q: Some("PUB".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            f.users.as_deref(),
            Some(&["bob".to_string(), "alice".into()][..])
        );
        assert_eq!(f.q.as_deref(), Some("pub"));
        assert_eq!(f.single_user(), None);
        assert!(Filter::new(&FirehoseParams {
            users: Some("not valid@x".into()),
            ..Default::default()
        })
        .is_err());
    }
}
