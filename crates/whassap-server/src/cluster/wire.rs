//! What nodes say to each other over NATS, as JSON: small, readable with
//! `nats sub 'whassap.>'`, and versioned by its field names. Stanzas travel
//! as the UTF-8 text the sender already serialised.

use serde::{Deserialize, Serialize};

/// The state of one session, as its own node knows it: enough for another
/// node to route to it and answer for it (probes, message targets, roster
/// and blocklist pushes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The node the session is connected to.
    pub node: String,
    /// `user@domain/resource`.
    pub full: String,
    /// Sent available presence (and not unavailable since).
    pub available: bool,
    /// Priority of its last available presence.
    pub priority: i8,
    /// Its last available presence (with `from`, without `to`) and when.
    pub last: Option<(String, String)>,
    /// Asked for its roster (gets roster pushes).
    pub roster: bool,
    /// Asked for its blocklist (gets blocklist pushes).
    pub blocklist: bool,
    /// The entity capabilities it advertised, if any (PEP's `+notify`).
    #[serde(default)]
    pub caps: Option<Caps>,
}

/// XEP-0115 caps of a session, with their features once verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// The software's `node` URI.
    pub node: String,
    /// The verification hash.
    pub ver: String,
    /// The features behind `ver`, once its node verified them.
    pub features: Option<Vec<String>>,
}

/// A session-directory event, published to every node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DirectoryEvent {
    /// A session is bound, or its state changed.
    State(SessionState),
    /// A session ended.
    Down {
        /// Its node.
        node: String,
        /// Its full JID.
        full: String,
    },
}

/// A node's heartbeat, published to every node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The node.
    pub node: String,
    /// Sessions connected to it.
    pub sessions: usize,
}

/// A copy in memory that another node changed behind this node's back:
/// drop it, and read it again from the store when needed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidation {
    /// An account's blocklist.
    Blocklist {
        /// The account.
        bare: String,
    },
    /// A PubSub or PEP node (its configuration, affiliations,
    /// subscriptions), and the service's list of node names.
    PubsubNode {
        /// The service.
        service: String,
        /// The node.
        node: String,
    },
    /// Every node of a service (its account was deleted).
    PubsubService {
        /// The service.
        service: String,
    },
    /// One JID's subscriptions to a PubSub or PEP node (read again alone).
    PubsubSubscriber {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// The subscribed JID.
        jid: String,
    },
    /// An account's personal access tokens (one was deleted, or the
    /// account).
    Tokens {
        /// The account's username.
        username: String,
    },
}

/// An [`Invalidation`] and the node that sent it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvalidationFrom {
    /// The node whose change it was.
    pub node: String,
    /// What to drop.
    pub what: Invalidation,
}

/// Stanzas in a [`NodeRequest::Batch`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// One stanza for one session.
    Direct {
        /// The session's full JID.
        full: String,
        /// The serialised stanza.
        stanza: String,
    },
    /// One notification for many sessions: `head` ends inside the `to`
    /// attribute's opening quote, `tail` starts at its closing quote; each
    /// recipient's JID goes in between.
    Shared {
        /// Up to and including `to='`.
        head: String,
        /// From the closing quote on.
        tail: String,
        /// The sessions' full JIDs.
        to: Vec<String>,
    },
}

/// A request to one node, on its own subject.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeRequest {
    /// Write these to sessions of yours, in this order.
    Batch {
        /// The stanzas.
        entries: Vec<Entry>,
    },
    /// End a session of yours (a resource conflict, an account deleted).
    Kill {
        /// The session's full JID.
        full: String,
        /// The stream error condition, if any.
        condition: Option<String>,
    },
    /// A node started (or lost track): send it the state of every session
    /// you hold, to its own subject.
    Hello {
        /// The node asking.
        node: String,
    },
}

/// What a node learned from the presence another server's user sent to a
/// local account, published to every node: the account's PEP service runs
/// on every node (a status posted anywhere), and each needs the resource's
/// caps to send it the events it asks for with `+notify`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RemoteContact {
    /// `full` is available to `service` with these caps (features
    /// verified by the node that saw it).
    Seen {
        /// The node that saw it.
        node: String,
        /// The local account's bare JID (its PEP service).
        service: String,
        /// The remote resource.
        full: String,
        /// Its caps.
        caps: Caps,
    },
    /// `full` sent unavailable presence.
    Gone {
        /// The node that saw it.
        node: String,
        /// The remote resource.
        full: String,
    },
}
