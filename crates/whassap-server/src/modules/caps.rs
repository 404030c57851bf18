//! XEP-0115 entity capabilities: each available session's caps hash is
//! resolved to a feature set by asking the client once per unknown hash
//! (disco#info to `node#ver`), verified, and cached for everyone. PEP uses the
//! result to know who wants `+notify` events.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use minidom::Element;
use whassap_proto::xmpp_parsers::caps::{compute_disco, hash_caps};
use whassap_proto::xmpp_parsers::disco::DiscoInfoResult;
use whassap_proto::xmpp_parsers::hashes::Algo;

use crate::c2s::Ctx;
use crate::registry::SessionHandle;

/// `http://jabber.org/protocol/caps`.
pub const NS_CAPS: &str = "http://jabber.org/protocol/caps";
/// Hashes remembered at most (verified hashes are shared by all clients of a kind).
const MAX_ENTRIES: usize = 100_000;

/// Verified caps hashes and their features.
#[derive(Default)]
pub struct CapsCache {
    known: DashMap<String, Arc<HashSet<String>>>,
}

impl CapsCache {
    /// Features behind a verified `ver`.
    pub fn features(&self, ver: &str) -> Option<Arc<HashSet<String>>> {
        self.known.get(ver).map(|f| f.clone())
    }

    /// The features of a session, if its caps are known.
    pub fn session_features(&self, session: &SessionHandle) -> Option<Arc<HashSet<String>>> {
        let ver = session.presence.lock().ok()?.caps.clone()?;
        self.features(&ver)
    }

    /// Remember a verified hash.
    pub fn insert(&self, ver: String, features: HashSet<String>) {
        if self.known.len() >= MAX_ENTRIES {
            self.known.clear();
        }
        self.known.insert(ver, Arc::new(features));
    }
}

/// Check that a disco#info answer hashes to `ver` (SHA-1, XEP-0115 §5).
pub fn verify(query: &Element, ver: &str) -> Option<HashSet<String>> {
    let info = DiscoInfoResult::try_from(query.clone()).ok()?;
    let hash = hash_caps(&compute_disco(&info), Algo::Sha_1).ok()?;
    (hash.to_base64() == ver).then(|| info.features.iter().cloned().collect())
}

/// A session sent available presence: note its caps. Unknown hashes are
/// resolved by the PEP services that see the session (`pubsub::pep`).
pub fn presence_changed(ctx: &Ctx, presence: &Element) {
    let caps = presence.get_child("c", NS_CAPS).and_then(|c| {
        match (c.attr("node"), c.attr("ver"), c.attr("hash")) {
            (Some(node), Some(ver), Some("sha-1")) => Some((node.to_string(), ver.to_string())),
            _ => None,
        }
    });
    if let Ok(mut p) = ctx.session.presence.lock() {
        match caps {
            Some((node, ver)) => {
                p.caps = Some(ver);
                p.caps_node = Some(node);
            }
            None => {
                p.caps = None;
                p.caps_node = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_xep_0115_simple_example() {
        // XEP-0115 §5.2: the simple generation example hashes to this value.
        let xml = "<query xmlns='http://jabber.org/protocol/disco#info'>\
            <identity category='client' name='Exodus 0.9.1' type='pc'/>\
            <feature var='http://jabber.org/protocol/caps'/>\
            <feature var='http://jabber.org/protocol/disco#info'/>\
            <feature var='http://jabber.org/protocol/disco#items'/>\
            <feature var='http://jabber.org/protocol/muc'/></query>";
        let q: Element = xml.parse().unwrap();
        let f = verify(&q, "QgayPKawpkPSDYmwT/WM94uAlu0=").expect("hash matches");
        assert!(f.contains("http://jabber.org/protocol/muc"));
        assert!(verify(&q, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_none());
    }
}
