//! The status pipeline: every door (REST, web form, IM to the bot, a client
//! publishing to its own microblog node) posts and deletes statuses through
//! [`post`]/[`delete`] here, and nowhere else.
//!
//! A post is validated ([`validate`]), written durably in one transaction —
//! the status, its items on the author's microblog PEP node and on the
//! firehose node, its idempotency key and one webhook outbox row per
//! matching webhook — and only after the commit fanned out: PEP and
//! firehose notifications, the in-process [`StatusEvent`] channel (SSE),
//! a wake-up of the webhook worker, and the bot's thank-you message.

mod entry;
mod events;
mod id;
pub mod pipeline;
mod validate;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use utoipa::ToSchema;
use whassap_store::{StatusRecord, StoreError};

pub use entry::{atom_entry, entry_text};
pub use events::{EventSequencer, Reservation};
pub use id::{is_cursor, IdGenerator};
pub use pipeline::{delete, post, post_with, send_thanks, NewStatus, Posted};
pub use validate::{validate, MAX_CHARS};

use crate::config::ServerConfig;

/// How long an `Idempotency-Key` holds.
pub const IDEMPOTENCY_TTL_MS: i64 = 60 * 60 * 1000;
/// Events buffered for slow subscribers of [`Statuses::subscribe`] before
/// they lag (and must resume from the store), unless configured otherwise
/// (`ServerConfig::status_events_capacity`).
pub const EVENTS_CAPACITY: usize = 1024;
/// The username of the status bot (`whassap@<domain>`).
pub const BOT_USERNAME: &str = "whassap";

/// Where a status came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The web page's form.
    Web,
    /// The REST API.
    Api,
    /// A chat message to the status bot.
    Im,
    /// A client publishing to its own microblog PEP node.
    Xmpp,
}

impl Source {
    /// The stored and JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Web => "web",
            Source::Api => "api",
            Source::Im => "im",
            Source::Xmpp => "xmpp",
        }
    }

    /// Parse the stored name.
    pub fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "web" => Source::Web,
            "api" => Source::Api,
            "im" => Source::Im,
            "xmpp" => Source::Xmpp,
            _ => return None,
        })
    }
}

/// A status's author as shown with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Author {
    /// Username (JID localpart).
    #[schema(example = "alice")]
    pub username: String,
    /// Bare JID.
    #[schema(example = "alice@localhost")]
    pub jid: String,
    /// Display name (the username when none is set).
    #[schema(example = "Alice")]
    pub display_name: String,
}

/// A status, in the JSON form of SPEC §2 (the REST API, SSE, webhooks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// Sorts by creation time (compare as strings).
    #[schema(example = "01JD3Q0T6ZC8W2XQ4Y7M3N1K9B")]
    pub id: String,
    /// Who posted it.
    pub author: Author,
    /// 1–280 characters, NFC.
    #[schema(example = "at the pub")]
    pub text: String,
    /// Where it came from.
    pub source: Source,
    /// RFC 3339 UTC, to the second.
    #[schema(example = "2026-11-24T19:00:00Z")]
    pub created_at: String,
    /// Its page.
    #[schema(example = "http://localhost:3000/alice/statuses/01JD3Q0T6ZC8W2XQ4Y7M3N1K9B")]
    pub url: String,
    /// Its item id on the author's microblog PEP node (not in the JSON).
    #[serde(skip)]
    pub item_id: String,
}

impl Status {
    /// The status of a stored record.
    pub fn from_record(config: &ServerConfig, r: StatusRecord) -> Result<Status, StoreError> {
        let source = Source::parse(&r.source)
            .ok_or_else(|| StoreError::Corrupt(format!("source {:?}", r.source)))?;
        Ok(Status {
            url: status_url(config, &r.author, &r.id),
            author: Author {
                jid: format!("{}@{}", r.author, config.domain),
                display_name: r.display_name.unwrap_or_else(|| r.author.clone()),
                username: r.author,
            },
            id: r.id,
            text: r.text,
            source,
            created_at: r.created_at,
            item_id: r.item_id,
        })
    }
}

/// The bytes a username keeps in a URL path segment: letters, digits and
/// `-._~` (RFC 3986's unreserved characters); everything else is
/// percent-encoded, since usernames may hold `?`, `#`, `%` or non-ASCII
/// letters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A username as one URL path segment.
pub fn user_segment(user: &str) -> String {
    percent_encoding::utf8_percent_encode(user, PATH_SEGMENT).to_string()
}

/// The page of a status: `<public_url>/<user>/statuses/<id>`, the username
/// percent-encoded.
pub fn status_url(config: &ServerConfig, user: &str, id: &str) -> String {
    format!(
        "{}/{}/statuses/{id}",
        config.public_url.trim_end_matches('/'),
        user_segment(user)
    )
}

/// What happened to a status, for in-process listeners (the SSE firehose).
#[derive(Clone, Debug)]
pub enum StatusEvent {
    /// A new status, committed.
    Created(Arc<Status>),
    /// A status was deleted.
    Deleted(Arc<Status>),
}

/// Why a status operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The text breaks a rule; the message says which, for humans.
    #[error("{0}")]
    Validation(String),
    /// No such (live) status, or no such author.
    #[error("no such status")]
    NotFound,
    /// Someone else's status.
    #[error("only its author may delete a status")]
    Forbidden,
    /// Clashes with something that exists (an item id, an idempotency key).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The pipeline's shared state, a field of [`crate::Server`].
pub struct Statuses {
    /// Status ids.
    pub ids: IdGenerator,
    /// Every committed post and deletion, in commit order, for in-process
    /// listeners (the SSE firehose).
    pub events: Arc<EventSequencer>,
    /// Woken when webhook outbox rows were written.
    pub outbox: Notify,
}

impl Default for Statuses {
    fn default() -> Self {
        Statuses::new(EVENTS_CAPACITY)
    }
}

impl Statuses {
    /// With room for `capacity` events per slow listener.
    pub fn new(capacity: usize) -> Self {
        Statuses {
            ids: IdGenerator::default(),
            events: Arc::new(EventSequencer::new(capacity)),
            outbox: Notify::new(),
        }
    }

    /// Listen to status events from now on, in commit order.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.events.subscribe()
    }
}
