//! XEP-0115 entity capabilities: the caps each available entity advertised
//! in its presence, kept per full JID (a local session or, with
//! federation, a remote contact), and the feature sets behind verified
//! hashes. A hash is resolved by asking the entity once (disco#info to
//! `node#ver`, sent by the PEP service that needs it), verified, and
//! cached for everyone. PEP uses the result to know who wants `+notify`
//! events.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use minidom::Element;
use whassap_proto::ns;

use futures::future::BoxFuture;

use crate::core::{Addressee, Ctx, Hooks};
use crate::registry::SessionHandle;

/// Announce entity capabilities (the server hashes nothing of its own;
/// it reads and verifies its clients').
pub fn register(hooks: &mut Hooks) {
    hooks.feature(Addressee::Host, ns::CAPS);
    hooks.on_session_ended(session_ended);
}

/// Hashes remembered at most (verified hashes are shared by all clients of a kind).
const MAX_ENTRIES: usize = 100_000;

/// Verified caps hashes and their features, and the caps each available
/// full JID advertised.
#[derive(Default)]
pub struct CapsCache {
    known: DashMap<String, Arc<HashSet<String>>>,
    current: DashMap<String, Advertised>,
}

/// The caps an entity advertised: its `node` and `ver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// The software's `node` URI.
    pub node: String,
    /// The verification hash.
    pub ver: String,
}

impl CapsCache {
    /// Features behind a verified `ver`.
    pub fn features(&self, ver: &str) -> Option<Arc<HashSet<String>>> {
        self.known.get(ver).map(|f| f.clone())
    }

    /// The features of a full JID, if it advertised caps that are known.
    pub fn features_of(&self, full: &str) -> Option<Arc<HashSet<String>>> {
        let ver = self.current.get(full)?.ver.clone();
        self.features(&ver)
    }

    /// The features of a local session, if its caps are known.
    pub fn session_features(&self, session: &SessionHandle) -> Option<Arc<HashSet<String>>> {
        self.features_of(&session.full)
    }

    /// What a full JID advertised in its last available presence.
    pub fn advertised(&self, full: &str) -> Option<Advertised> {
        self.current.get(full).map(|a| a.clone())
    }

    /// Forget what a full JID advertised (it went unavailable or away).
    pub fn forget(&self, full: &str) {
        self.current.remove(full);
    }

    /// Note what a full JID advertised (another node saw its presence).
    pub fn set_advertised(&self, full: &str, advertised: Advertised) {
        self.current.insert(full.to_string(), advertised);
    }

    /// Remember a verified hash.
    pub fn insert(&self, ver: String, features: HashSet<String>) {
        if self.known.len() >= MAX_ENTRIES {
            self.known.clear();
        }
        self.known.insert(ver, Arc::new(features));
    }
}

/// Check that a disco#info answer hashes to `ver` (SHA-1, XEP-0115 §5);
/// its features if it does.
pub fn verify(query: &Element, ver: &str) -> Option<HashSet<String>> {
    use base64::Engine;
    use sha1::Digest;
    let input = verification_string(query)?;
    let hash = sha1::Sha1::digest(input.as_bytes());
    let computed = base64::engine::general_purpose::STANDARD.encode(hash);
    (computed == ver).then(|| {
        query
            .children()
            .filter(|c| c.is("feature", ns::DISCO_INFO))
            .filter_map(|f| f.attr("var").map(str::to_owned))
            .collect()
    })
}

/// The XEP-0115 §5.1 verification string of a disco#info answer.
///
/// Written here rather than taken from xmpp-parsers: its `compute_disco`
/// sorts features with the `<` separator appended, so a feature that is a
/// prefix of another (`…/shim` and `…/shim#SubID`, which slixmpp announces)
/// sorts after it, the hash differs, and such clients would never be
/// verified. Sorting is by octets, as the XEP says.
fn verification_string(query: &Element) -> Option<String> {
    let mut identities: Vec<String> = query
        .children()
        .filter(|c| c.is("identity", ns::DISCO_INFO))
        .map(|i| {
            let lang = i.attr_ns(ns::XML, "lang").unwrap_or("");
            format!(
                "{}/{}/{}/{}",
                i.attr("category").unwrap_or(""),
                i.attr("type").unwrap_or(""),
                lang,
                i.attr("name").unwrap_or("")
            )
        })
        .collect();
    identities.sort();
    let mut features: Vec<&str> = query
        .children()
        .filter(|c| c.is("feature", ns::DISCO_INFO))
        .filter_map(|f| f.attr("var"))
        .collect();
    features.sort();
    let mut forms: Vec<(String, String)> = Vec::new();
    for x in query.children().filter(|c| c.is("x", "jabber:x:data")) {
        let mut form_type = None;
        let mut fields: Vec<(String, Vec<String>)> = Vec::new();
        for f in x.children().filter(|c| c.is("field", "jabber:x:data")) {
            let var = f.attr("var")?.to_string();
            let mut values: Vec<String> = f
                .children()
                .filter(|v| v.is("value", "jabber:x:data"))
                .map(|v| v.text())
                .collect();
            if var == "FORM_TYPE" {
                form_type = values.pop();
            } else {
                values.sort();
                fields.push((var, values));
            }
        }
        let Some(form_type) = form_type else { continue };
        fields.sort();
        let mut s = format!("{form_type}<");
        for (var, values) in fields {
            s.push_str(&var);
            s.push('<');
            for v in values {
                s.push_str(&v);
                s.push('<');
            }
        }
        forms.push((form_type, s));
    }
    forms.sort();
    let mut out = String::new();
    for i in identities {
        out.push_str(&i);
        out.push('<');
    }
    for f in features {
        out.push_str(f);
        out.push('<');
    }
    for (_, s) in forms {
        out.push_str(&s);
    }
    Some(out)
}

/// A full JID sent available presence: note its caps (or that it has
/// none). Unknown hashes are resolved by the PEP services that see it
/// (`pubsub::pep`).
pub fn presence_changed(cache: &CapsCache, full: &str, presence: &Element) {
    let caps = presence.get_child("c", ns::CAPS).and_then(|c| {
        match (c.attr("node"), c.attr("ver"), c.attr("hash")) {
            (Some(node), Some(ver), Some("sha-1")) => Some(Advertised {
                node: node.to_string(),
                ver: ver.to_string(),
            }),
            _ => None,
        }
    });
    match caps {
        Some(a) => {
            cache.current.insert(full.to_string(), a);
        }
        None => cache.forget(full),
    }
}

fn session_ended(ctx: Ctx) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        if let Some(s) = ctx.session() {
            ctx.server.caps.forget(&s.full);
        }
    })
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

    #[test]
    fn a_feature_that_prefixes_another_sorts_first() {
        // What slixmpp 1.17 answers (the hash was computed by slixmpp).
        let q: Element = "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='bot'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='jabber:x:data'/><feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/shim'/><feature var='http://jabber.org/protocol/shim#SubID'/><feature var='urn:xmpp:microblog:0+notify'/></query>".parse().unwrap();
        assert!(verify(&q, "/a18cUx70rnAGnadW9ck9OMVzbI=").is_some());
    }
}
