//! Connected sessions by JID: the one place that knows who is online.
//!
//! Sharded (`DashMap`) by bare JID. Lookups clone `Arc` handles out of the map
//! and drop the shard guard at once, so no lock is ever held across an
//! `.await` or while writing to a socket.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dashmap::DashMap;
use minidom::Element;
use tokio_util::sync::CancellationToken;

use crate::outqueue::{OutQueue, PushError};

/// Presence-related state of one session: what the session itself sent.
/// What other modules learn about it (its caps, the PEP services that have
/// seen it) they keep per full JID themselves, the same way for remote
/// entities.
#[derive(Debug, Default)]
pub struct PresenceState {
    /// The session sent available presence (and not unavailable since).
    pub available: bool,
    /// Priority from its last available presence.
    pub priority: i8,
    /// Its last available presence as sent (with `from`, without `to`),
    /// serialised, and when. Kept as the bytes already sent to the user's
    /// own resources rather than as a tree: a few hundred bytes instead of a
    /// dozen allocations per session; it is parsed again only to answer a
    /// probe or a new subscription.
    pub last: Option<(Bytes, String)>,
    /// JIDs that got directed presence from this session (outside the roster).
    pub directed: HashSet<String>,
}

/// What a session's writer task is asked to write.
#[derive(Debug)]
pub enum Outbound {
    /// Serialised stanza bytes, written as they are.
    Data(Bytes),
    /// A stanza addressed to this session, shared by many recipients:
    /// `head` ends inside the `to` attribute's opening quote and `tail`
    /// starts at its closing quote; the writer puts the session's own full
    /// JID in between. This is how one serialisation of a notification
    /// serves every recipient without an allocation per recipient.
    Addressed {
        /// Up to and including `to='`.
        head: Bytes,
        /// From the closing `'` of `to` to the end of the stanza.
        tail: Bytes,
    },
}

impl Outbound {
    /// Bytes it holds, as the writer will write them (without the
    /// recipient's JID of an addressed stanza, which the session owns).
    pub fn len(&self) -> usize {
        match self {
            Outbound::Data(b) => b.len(),
            Outbound::Addressed { head, tail } => head.len() + tail.len(),
        }
    }

    /// Holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A handle to one bound session, shared by the registry and routers.
#[derive(Debug)]
pub struct SessionHandle {
    /// Unique number of the connection.
    pub id: u64,
    /// `user@domain/resource`; [`Self::bare`] and [`Self::resource`] are
    /// its parts (one string, not three, in every session and proxy).
    pub full: String,
    /// Where the resource starts in `full` (after the `/`).
    resource_at: usize,
    /// The session asked for its roster (gets roster pushes).
    pub roster_interested: AtomicBool,
    /// The session asked for its blocklist (gets blocklist pushes).
    pub blocklist_interested: AtomicBool,
    /// Presence state.
    pub presence: Mutex<PresenceState>,
    /// The full JID escaped for an XML attribute (for [`Outbound::Addressed`]).
    pub full_escaped: Bytes,
    /// A proxy's way to its node (none for a session of this node).
    link: Option<Arc<dyn ProxyLink>>,
    queue: OutQueue,
    kill: CancellationToken,
    kill_reason: Mutex<Option<&'static str>>,
}

/// What a proxy tells the link to the node that holds its session (the
/// cluster's per-node pump), so that no task per proxy waits on its queue.
pub trait ProxyLink: Send + Sync + std::fmt::Debug + 'static {
    /// The name of the node that holds the session.
    fn node(&self) -> &str;
    /// Something was queued for proxy `id`.
    fn queued(&self, id: u64);
    /// The proxy was killed: its node must end the session.
    fn killed(&self, proxy: &SessionHandle);
}

impl SessionHandle {
    /// A handle with an empty outbound queue of at most `queue_capacity`
    /// items and `queue_bytes` bytes.
    pub fn new(
        id: u64,
        bare: String,
        resource: String,
        queue_capacity: usize,
        queue_bytes: usize,
    ) -> Self {
        let full = format!("{bare}/{resource}");
        SessionHandle {
            resource_at: bare.len() + 1,
            link: None,
            full_escaped: Bytes::from(crate::stanza::escape(&full)),
            id,
            full,
            roster_interested: AtomicBool::new(false),
            blocklist_interested: AtomicBool::new(false),
            presence: Mutex::new(PresenceState::default()),
            queue: OutQueue::new(queue_capacity, queue_bytes),
            kill: CancellationToken::new(),
            kill_reason: Mutex::new(None),
        }
    }

    /// The proxy of a session connected to another node (see
    /// [`crate::cluster`]): what is queued for it, and its kill, go to
    /// `link`.
    pub fn proxy(
        id: u64,
        bare: String,
        resource: String,
        queue_capacity: usize,
        queue_bytes: usize,
        link: Arc<dyn ProxyLink>,
    ) -> Self {
        SessionHandle {
            link: Some(link),
            ..Self::new(id, bare, resource, queue_capacity, queue_bytes)
        }
    }

    /// Queue bytes for the client. A full queue means the client is not reading:
    /// the session is closed with `policy-violation` and `false` is returned.
    pub fn send(&self, data: Bytes) -> bool {
        self.push(Outbound::Data(data))
    }

    /// Queue a shared stanza addressed to this session (see
    /// [`Outbound::Addressed`]); same backpressure as [`send`](Self::send).
    pub fn send_addressed(&self, head: &Bytes, tail: &Bytes) -> bool {
        self.push(Outbound::Addressed {
            head: head.clone(),
            tail: tail.clone(),
        })
    }

    fn push(&self, item: Outbound) -> bool {
        match self.queue.push(item) {
            Ok(()) => {
                if let Some(link) = &self.link {
                    link.queued(self.id);
                }
                true
            }
            Err(PushError::Full) => {
                tracing::warn!(session = %self.full, "outbound queue full: the client is not reading; closing");
                self.kill(Some("policy-violation"));
                false
            }
            Err(PushError::Closed) => false,
        }
    }

    /// Serialise and queue a stanza.
    pub fn send_element(&self, el: &Element) -> bool {
        self.send(whassap_xml::to_bytes(el))
    }

    /// Ask the session to end, with a stream error condition if any.
    pub fn kill(&self, condition: Option<&'static str>) {
        let mut reason = self.kill_reason.lock().unwrap_or_else(|e| e.into_inner());
        if self.kill.is_cancelled() {
            return;
        }
        *reason = condition;
        self.kill.cancel();
        drop(reason);
        if let Some(link) = &self.link {
            link.killed(self);
        }
    }

    /// Resolves when [`kill`](Self::kill) was called.
    pub fn killed(&self) -> &CancellationToken {
        &self.kill
    }

    /// Why the session was killed.
    pub fn kill_reason(&self) -> Option<&'static str> {
        *self.kill_reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `None`: connected to this node. `Some(node)`: a proxy of a session
    /// connected to another node of the cluster, whose queue goes over the
    /// bus (see [`crate::cluster`]).
    pub fn node(&self) -> Option<&str> {
        self.link.as_deref().map(|l| l.node())
    }

    /// `user@domain`.
    pub fn bare(&self) -> &str {
        &self.full[..self.resource_at - 1]
    }

    /// The resource part of the full JID.
    pub fn resource(&self) -> &str {
        &self.full[self.resource_at..]
    }

    /// The account name (localpart of the JID).
    pub fn username(&self) -> &str {
        let bare = self.bare();
        bare.split('@').next().unwrap_or(bare)
    }

    /// Is the session available with a non-negative priority?
    pub fn is_available(&self) -> bool {
        self.presence.lock().map(|p| p.available).unwrap_or(false)
    }

    /// `(available, priority)`.
    pub fn availability(&self) -> (bool, i8) {
        self.presence
            .lock()
            .map(|p| (p.available, p.priority))
            .unwrap_or((false, 0))
    }

    /// The queue the session's writer task drains.
    pub fn queue(&self) -> &OutQueue {
        &self.queue
    }
}

/// All bound sessions of this node.
#[derive(Default)]
pub struct Registry {
    by_bare: DashMap<String, Vec<Arc<SessionHandle>>>,
    next_id: AtomicU64,
}

impl Registry {
    /// A fresh connection number.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Register a bound session; returns the session it replaces (same full JID), if any.
    pub fn insert(&self, handle: Arc<SessionHandle>) -> Option<Arc<SessionHandle>> {
        let mut entry = self.by_bare.entry(handle.bare().to_owned()).or_default();
        let old = entry
            .iter()
            .position(|s| s.resource() == handle.resource())
            .map(|i| entry.swap_remove(i));
        entry.push(handle);
        old
    }

    /// Remove this exact session (by id); a newer one with the same JID stays.
    pub fn remove(&self, handle: &SessionHandle) {
        if let Some(mut entry) = self.by_bare.get_mut(handle.bare()) {
            entry.retain(|s| s.id != handle.id);
            if entry.is_empty() {
                drop(entry);
                self.by_bare.remove_if(handle.bare(), |_, v| v.is_empty());
            }
        }
    }

    /// Every session of a user.
    pub fn sessions(&self, bare: &str) -> Vec<Arc<SessionHandle>> {
        self.by_bare
            .get(bare)
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// The session bound to a full JID.
    pub fn session(&self, bare: &str, resource: &str) -> Option<Arc<SessionHandle>> {
        self.by_bare
            .get(bare)
            .and_then(|v| v.iter().find(|s| s.resource() == resource).cloned())
    }

    /// Available sessions of a user.
    pub fn available(&self, bare: &str) -> Vec<Arc<SessionHandle>> {
        self.by_bare
            .get(bare)
            .map(|v| v.iter().filter(|s| s.is_available()).cloned().collect())
            .unwrap_or_default()
    }

    /// Call `f` for each available session of a user with a non-negative
    /// priority (headline delivery, RFC 6121 §8.5.2.1.1), under the shard's
    /// read lock: `f` must not block (queueing a stanza is fine).
    pub fn for_each_available(&self, bare: &str, mut f: impl FnMut(&Arc<SessionHandle>)) {
        if let Some(v) = self.by_bare.get(bare) {
            for s in v.iter() {
                let (available, priority) = s.availability();
                if available && priority >= 0 {
                    f(s);
                }
            }
        }
    }

    /// Sessions a message to the bare JID goes to: the available ones with the
    /// highest non-negative priority (RFC 6121 §8.5.2.1.1).
    pub fn message_targets(&self, bare: &str) -> Vec<Arc<SessionHandle>> {
        let Some(v) = self.by_bare.get(bare) else {
            return Vec::new();
        };
        let mut best: i8 = -1;
        let mut out = Vec::new();
        for s in v.iter() {
            let (available, priority) = s.availability();
            if !available || priority < 0 || priority < best {
                continue;
            }
            if priority > best {
                best = priority;
                out.clear();
            }
            out.push(s.clone());
        }
        out
    }

    /// Every session on this node (for shutdown).
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        self.by_bare
            .iter()
            .flat_map(|e| e.value().clone())
            .collect()
    }

    /// Number of bound sessions.
    pub fn len(&self) -> usize {
        self.by_bare.iter().map(|e| e.value().len()).sum()
    }

    /// No session is bound.
    pub fn is_empty(&self) -> bool {
        self.by_bare.is_empty()
    }
}
