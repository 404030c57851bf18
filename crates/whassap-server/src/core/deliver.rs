//! Delivery to this node's client sessions: the only code that looks
//! sessions up in the registry and queues bytes for them. Everything else
//! (modules, the router, PubSub fan-out) says whom to deliver to and lets
//! this module find the sessions.

use std::sync::Arc;

use bytes::Bytes;
use minidom::Element;

use crate::registry::SessionHandle;
use crate::Server;

/// Queue a stanza for one session. False if it could not take it (closed,
/// or closed now because it stopped reading).
pub fn to_session(session: &SessionHandle, el: &Element) -> bool {
    session.send_element(el)
}

/// Deliver to the session bound to `bare/resource`, if there is one.
pub fn to_full(server: &Server, bare: &str, resource: &str, el: &Element) -> bool {
    match server.registry.session(bare, resource) {
        Some(s) => s.send_element(el),
        None => false,
    }
}

/// Deliver serialised bytes to every available session of an account.
/// Returns how many took them.
pub fn to_available(server: &Server, bare: &str, bytes: &Bytes) -> usize {
    server
        .registry
        .available(bare)
        .iter()
        .filter(|s| s.send(bytes.clone()))
        .count()
}

/// Does the account have a bound session on this node?
pub fn is_online(server: &Server, bare: &str) -> bool {
    !server.registry.sessions(bare).is_empty()
}

/// Close every session of an account with a stream error.
pub fn end_sessions(server: &Server, bare: &str, condition: &'static str) {
    for s in server.registry.sessions(bare) {
        s.kill(Some(condition));
    }
}

/// Send a server push (`<iq type='set'>` with a fresh id, addressed to the
/// session) carrying `payload` to the account's sessions that `wanted`
/// picks: roster and blocklist pushes.
pub fn push_iq_where(
    server: &Server,
    bare: &str,
    payload: &Element,
    wanted: impl Fn(&SessionHandle) -> bool,
) {
    for s in server.registry.sessions(bare).iter().filter(|s| wanted(s)) {
        let mut iq = crate::stanza::element(
            "iq",
            whassap_proto::ns::JABBER_CLIENT,
            &[
                ("type", "set"),
                ("id", &crate::stanza::random_id()),
                ("to", &s.full),
            ],
        );
        iq.append_child(payload.clone());
        s.send_element(&iq);
    }
}

/// Deliver a message to an account's bare JID: to its available sessions
/// of the highest non-negative priority (RFC 6121 §8.5.2.1.1), serialised
/// once. Returns how many took it (0: store it or bounce it).
pub fn to_message_targets(server: &Server, bare: &str, el: &Element) -> usize {
    let targets = server.registry.message_targets(bare);
    if targets.is_empty() {
        return 0;
    }
    let bytes = whassap_xml::to_bytes(el);
    targets.iter().filter(|s| s.send(bytes.clone())).count()
}

/// Deliver serialised bytes to the account's available sessions that
/// `wanted` picks. Returns how many took them.
pub fn to_available_where(
    server: &Server,
    bare: &str,
    bytes: &Bytes,
    wanted: impl Fn(&SessionHandle) -> bool,
) -> usize {
    server
        .registry
        .available(bare)
        .iter()
        .filter(|s| wanted(s) && s.send(bytes.clone()))
        .count()
}

/// Every session of an account on this node.
pub fn sessions(server: &Server, bare: &str) -> Vec<Arc<SessionHandle>> {
    server.registry.sessions(bare)
}

/// The available sessions of an account on this node.
pub fn available(server: &Server, bare: &str) -> Vec<Arc<SessionHandle>> {
    server.registry.available(bare)
}

/// Run `f` on the session bound to `bare/resource`, if there is one.
pub fn with_session<R>(
    server: &Server,
    bare: &str,
    resource: &str,
    f: impl FnOnce(&SessionHandle) -> R,
) -> Option<R> {
    server.registry.session(bare, resource).map(|s| f(&s))
}

/// Call `f` for each available session of an account with a non-negative
/// priority, without copying the list: `f` runs under the registry
/// shard's read lock, so it must only queue (never block or await).
pub fn for_each_available(server: &Server, bare: &str, f: impl FnMut(&Arc<SessionHandle>)) {
    server.registry.for_each_available(bare, f);
}

/// The session bound to `bare/resource`, if there is one.
pub fn session(server: &Server, bare: &str, resource: &str) -> Option<Arc<SessionHandle>> {
    server.registry.session(bare, resource)
}
