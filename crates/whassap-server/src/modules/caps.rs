//! XEP-0115 entity capabilities: each available session's caps hash is
//! resolved to a feature set by asking the client once per unknown hash
//! (disco#info to `node#ver`), verified, and cached for everyone. PEP uses the
//! result to know who wants `+notify` events.

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use minidom::Element;
use whassap_proto::ns;

use crate::core::{Addressee, Hooks};
use crate::registry::SessionHandle;

/// Announce entity capabilities (the server hashes nothing of its own;
/// it reads and verifies its clients').
pub fn register(hooks: &mut Hooks) {
    hooks.feature(Addressee::Host, ns::CAPS);
}

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

/// A session sent available presence: note its caps. Unknown hashes are
/// resolved by the PEP services that see the session (`pubsub::pep`).
pub fn presence_changed(session: &SessionHandle, presence: &Element) {
    let caps = presence.get_child("c", ns::CAPS).and_then(|c| {
        match (c.attr("node"), c.attr("ver"), c.attr("hash")) {
            (Some(node), Some(ver), Some("sha-1")) => Some((node.to_string(), ver.to_string())),
            _ => None,
        }
    });
    if let Ok(mut p) = session.presence.lock() {
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

    #[test]
    fn a_feature_that_prefixes_another_sorts_first() {
        // What slixmpp 1.17 answers (the hash was computed by slixmpp).
        let q: Element = "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='bot'/><feature var='http://jabber.org/protocol/disco#info'/><feature var='jabber:x:data'/><feature var='http://jabber.org/protocol/caps'/><feature var='http://jabber.org/protocol/shim'/><feature var='http://jabber.org/protocol/shim#SubID'/><feature var='urn:xmpp:microblog:0+notify'/></query>".parse().unwrap();
        assert!(verify(&q, "/a18cUx70rnAGnadW9ck9OMVzbI=").is_some());
    }
}
