//! Event notifications (XEP-0060 §7.1.2, §7.2.2, §8.4, §8.5): the hot path.
//!
//! A notification is serialised once per publish into a head and a tail
//! around the `to` attribute; every recipient session gets the same two
//! `Bytes` (reference counts) and its writer puts its own JID in between.
//! Only a session covered by more than one subscription gets its own copy,
//! with the SHIM header listing the subscription ids. The node's lock is a
//! synchronous read lock held while queueing (never across an `.await`, and
//! queueing never touches a socket: writers drain their queues themselves).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use minidom::Element;
use whassap_proto::ns;
use whassap_store::StoredItem;

use super::config::{ItemReply, NodeConfig};
use super::{read, Node, SharedNode};
use crate::core::{deliver, router};
use crate::registry::SessionHandle;
use crate::stanza::{self, element};
use crate::Server;

/// `http://jabber.org/protocol/shim`.
const NS_SHIM: &str = "http://jabber.org/protocol/shim";

/// One notification, serialised once.
#[derive(Clone)]
pub struct Notification {
    head: Bytes,
    tail: Bytes,
    event: Element,
    from: String,
    kind: String,
}

impl Notification {
    /// A `<message>` from `from` carrying `event` (a `pubsub#event` element).
    pub fn new(from: &str, kind: &str, event: Element) -> Self {
        let head = Bytes::from(format!(
            "<message xmlns='jabber:client' type='{}' from='{}' to='",
            stanza::escape(kind),
            stanza::escape(from)
        ));
        let mut tail = BytesMut::from(&b"'>"[..]);
        tail.extend_from_slice(&whassap_xml::to_bytes(&event));
        tail.extend_from_slice(b"</message>");
        Notification {
            head,
            tail: tail.freeze(),
            event,
            from: from.to_string(),
            kind: kind.to_string(),
        }
    }

    /// Queue for one session (shared bytes).
    pub fn send(&self, session: &SessionHandle) -> bool {
        session.send_addressed(&self.head, &self.tail)
    }

    /// Queue for one session with SHIM `SubID` headers (its own copy).
    pub fn send_with_subids(&self, session: &SessionHandle, subids: &[&str]) -> bool {
        session.send_element(&self.addressed(&session.full, subids))
    }

    /// The notification as a stanza addressed to `to`, with SHIM `SubID`
    /// headers when more than one subscription is behind it (for a
    /// recipient that is not a local session: it is routed).
    pub fn addressed(&self, to: &str, subids: &[&str]) -> Element {
        let mut m = element(
            "message",
            ns::JABBER_CLIENT,
            &[("type", &self.kind), ("from", &self.from), ("to", to)],
        );
        m.append_child(self.event.clone());
        if subids.len() > 1 {
            let mut headers = Element::bare("headers", NS_SHIM);
            for id in subids {
                let mut h = element("header", NS_SHIM, &[("name", "SubID")]);
                h.append_text(*id);
                headers.append_child(h);
            }
            m.append_child(headers);
        }
        m
    }
}

/// The `publisher` attribute an item carries, by the node's `itemreply`
/// (the PubSub service always shows the publisher, as Prosody's
/// `expose_publisher` does; PEP shows it only when asked).
pub fn publisher_attr<'a>(
    service: &str,
    config: &NodeConfig,
    owner: &'a str,
    publisher: &'a str,
) -> Option<&'a str> {
    match config.itemreply {
        ItemReply::Owner => Some(owner),
        ItemReply::Publisher => Some(publisher),
        ItemReply::None if !super::is_pep(service) => Some(publisher),
        ItemReply::None => None,
    }
}

/// `<item id='…' [publisher='…']>payload</item>` in namespace `ns`.
pub fn item_element(
    item_ns: &str,
    item: &StoredItem,
    publisher: Option<&str>,
    with_payload: bool,
) -> Element {
    let mut el = element("item", item_ns, &[("id", &item.id)]);
    if let Some(p) = publisher {
        stanza::set_attr(&mut el, "publisher", p);
    }
    if with_payload {
        if let Ok(payload) = item.payload.parse::<Element>() {
            el.append_child(payload);
        }
    }
    el
}

/// `<event><items node='…'>children</items></event>`.
pub fn items_event(node: &str, children: Vec<Element>) -> Element {
    let mut items = element("items", ns::PUBSUB_EVENT, &[("node", node)]);
    for c in children {
        items.append_child(c);
    }
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(items);
    event
}

/// `<event><{what} node='…'/></event>` (delete, purge).
pub fn node_event(what: &str, node: &str) -> Element {
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(element(what, ns::PUBSUB_EVENT, &[("node", node)]));
    event
}

/// What a fan-out did: how many local sessions got the notification, and
/// the stanzas for subscribers on other servers, to be routed (outside
/// the node's lock).
#[derive(Default)]
pub struct FanOut {
    /// Local sessions that took it.
    pub delivered: usize,
    /// One stanza per remote subscribed JID.
    pub remote: Vec<Element>,
}

/// Deliver to every subscriber of the node, and to `extra` sessions (PEP
/// contacts interested through caps) not already covered. Local sessions
/// get it here; remote subscribers' stanzas are returned for routing.
pub fn fan_out(
    server: &Server,
    node: &SharedNode,
    notification: &Notification,
    extra: &[Arc<SessionHandle>],
) -> FanOut {
    let out = read(node, |n| {
        let mut out = FanOut::default();
        for (jid, subs) in &n.subscriptions {
            if !subs.iter().any(|s| s.state == "subscribed") {
                continue;
            }
            if router::is_local_account(server, jid) {
                out.delivered += deliver_to_subscriber(server, n, jid, notification);
            } else {
                let ids: Vec<&str> = subscribed_ids(n, jid).collect();
                out.remote.push(notification.addressed(jid, &ids));
            }
        }
        for s in extra {
            if !covered(n, s.bare(), &s.full) && notification.send(s) {
                out.delivered += 1;
            }
        }
        out
    });
    server
        .metrics
        .pubsub_deliveries
        .fetch_add(out.delivered as u64, Ordering::Relaxed);
    out
}

/// Is a session already reached through the node's subscriptions?
fn covered(n: &Node, bare: &str, full: &str) -> bool {
    n.is_subscribed(bare) || n.is_subscribed(full)
}

fn subscribed_ids<'a>(n: &'a Node, jid: &str) -> impl Iterator<Item = &'a str> {
    n.subscriptions
        .get(jid)
        .into_iter()
        .flatten()
        .filter(|s| s.state == "subscribed")
        .map(|s| s.subid.as_str())
}

fn deliver_to_subscriber(server: &Server, n: &Node, jid: &str, note: &Notification) -> usize {
    let (bare, resource) = match jid.split_once('/') {
        Some((b, r)) => (b, Some(r)),
        None => (jid, None),
    };
    match resource {
        Some(r) => {
            if n.is_subscribed(bare) {
                return 0; // the bare subscription delivers, with both subids
            }
            deliver::with_session(server, bare, r, |s| send_covered(n, s, jid, None, note))
                .unwrap_or(0)
        }
        None => {
            let mut count = 0;
            deliver::for_each_available(server, bare, |s| {
                let full = n
                    .subscriptions
                    .contains_key(&s.full)
                    .then_some(s.full.as_str());
                count += send_covered(n, s, jid, full, note);
            });
            count
        }
    }
}

/// Send to a session reached through `jid` (and maybe also its full JID).
fn send_covered(
    n: &Node,
    s: &SessionHandle,
    jid: &str,
    full: Option<&str>,
    note: &Notification,
) -> usize {
    let count = subscribed_ids(n, jid).count() + full.map_or(0, |f| subscribed_ids(n, f).count());
    let sent = if count > 1 {
        let mut ids: Vec<&str> = subscribed_ids(n, jid).collect();
        if let Some(f) = full {
            ids.extend(subscribed_ids(n, f));
        }
        note.send_with_subids(s, &ids)
    } else {
        note.send(s)
    };
    usize::from(sent)
}
