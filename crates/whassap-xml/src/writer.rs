//! Serialisation of stanzas and stream-level markup.
//!
//! minidom's own writer is not used, for three reasons:
//! - it writes every entry of `Element::prefixes`, so a stanza parsed from a
//!   stream with minidom's usual approach would repeat `xmlns:stream` and
//!   the stream's default namespace on every element it forwards;
//! - it panics (`assert!`/`expect`) on some inputs that parse fine, e.g. an
//!   element declaring `xmlns:xml='http://www.w3.org/XML/1998/namespace'`;
//!   a server must not let a client crash it with a valid stanza;
//! - it goes through rxml's encoder with a namespace tracker per call,
//!   which is more work than the hot path needs.
//!
//! The serializer here writes every element unprefixed, declaring the
//! default namespace only where it changes (always on the top element, so
//! each output is standalone, as RFC 7395 frames must be), except elements in
//! the streams namespace, which get the conventional `stream:` prefix.
//! Namespaced attributes get a prefix declared on the element that uses them,
//! preferring the prefix the element was parsed with.

use bytes::Bytes;
use minidom::{Element, Node};
use rxml::Namespace;

use crate::{NS_STREAMS, NS_STREAM_ERRORS};

/// Closes a stream opened with [`stream_header`].
pub const STREAM_CLOSE: &str = "</stream:stream>";

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Serialise one stanza/element to bytes once (the hot path clones these
/// `Bytes` per recipient). The output is valid, standalone XML: the top
/// element declares its namespace, text and attribute values are escaped,
/// and characters XML cannot carry (control characters other than tab, line
/// feed and carriage return, U+FFFE, U+FFFF) are replaced by U+FFFD.
///
/// Element names are written as they are: an element built in code must
/// have a valid XML name (parsed elements always do).
pub fn to_bytes(el: &Element) -> Bytes {
    let mut w = Writer {
        out: Vec::with_capacity(256),
        bindings: Vec::new(),
    };
    w.element(el, None);
    Bytes::from(w.out)
}

/// Opening header written by a server or client, e.g.
/// `<?xml version='1.0'?><stream:stream xmlns='jabber:client'
/// xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from=..
/// to=.. id=.. xml:lang='en'>` (attributes escaped, optional ones omitted
/// when `None`).
pub fn stream_header(
    default_ns: &str,
    from: Option<&str>,
    to: Option<&str>,
    id: Option<&str>,
    lang: Option<&str>,
) -> String {
    let mut out = Vec::with_capacity(200);
    out.extend_from_slice(b"<?xml version='1.0'?><stream:stream xmlns='");
    escape_into(&mut out, default_ns, true);
    out.extend_from_slice(b"' xmlns:stream='");
    out.extend_from_slice(NS_STREAMS.as_bytes());
    out.extend_from_slice(b"' version='1.0'");
    for (name, value) in [("from", from), ("to", to), ("id", id), ("xml:lang", lang)] {
        if let Some(value) = value {
            attribute(&mut out, name, value);
        }
    }
    out.push(b'>');
    String::from_utf8(out).expect("escaping keeps UTF-8 valid")
}

/// `<stream:error><COND xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>[<text
/// xmlns='urn:ietf:params:xml:ns:xmpp-streams'>t</text>]</stream:error>`.
///
/// `condition` must be one of the RFC 6120 §4.9.3 names (lowercase letters
/// and hyphens); anything else is written as `undefined-condition` so the
/// output stays well-formed.
pub fn stream_error(condition: &str, text: Option<&str>) -> String {
    let valid = !condition.is_empty()
        && condition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        && !condition.starts_with('-');
    let condition = if valid {
        condition
    } else {
        "undefined-condition"
    };
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"<stream:error><");
    out.extend_from_slice(condition.as_bytes());
    out.extend_from_slice(b" xmlns='");
    out.extend_from_slice(NS_STREAM_ERRORS.as_bytes());
    out.extend_from_slice(b"'/>");
    if let Some(text) = text {
        out.extend_from_slice(b"<text xmlns='");
        out.extend_from_slice(NS_STREAM_ERRORS.as_bytes());
        out.extend_from_slice(b"'>");
        escape_into(&mut out, text, false);
        out.extend_from_slice(b"</text>");
    }
    out.extend_from_slice(b"</stream:error>");
    String::from_utf8(out).expect("escaping keeps UTF-8 valid")
}

/// A copy of `el` where every element in namespace `from` is in `to`
/// instead (e.g. `jabber:server` ↔ `jabber:client` at the s2s door).
/// Attributes, text and elements of other namespaces are kept as they are.
pub fn rewrite_namespace(mut el: Element, from: &str, to: &str) -> Element {
    let ns = if el.has_ns(from) {
        to.to_owned()
    } else {
        el.ns()
    };
    let mut out = Element::bare(el.name(), ns);
    *out.attrs_mut() = std::mem::take(el.attrs_mut());
    for node in el.take_nodes() {
        match node {
            Node::Element(child) => {
                out.append_child(rewrite_namespace(child, from, to));
            }
            Node::Text(text) => out.append_text_node(text),
        }
    }
    out
}

/// Serialisation state: output and the attribute prefixes declared so far
/// on the path from the top element (prefix, namespace), innermost last.
struct Writer {
    out: Vec<u8>,
    bindings: Vec<(String, String)>,
}

impl Writer {
    /// Write `el`; `default` is the default namespace in scope, `None` at
    /// the top (unknown, so always declared).
    fn element(&mut self, el: &Element, default: Option<&str>) {
        let scope = self.bindings.len();
        // Prefixes referenced by this start tag, which a declaration made on
        // the same tag must not rebind.
        let mut used: Vec<(String, String)> = Vec::new();
        let mut child_default = default;
        let ns_owned;

        self.out.push(b'<');
        if el.has_ns(NS_STREAMS) {
            self.out.extend_from_slice(b"stream:");
            self.out.extend_from_slice(el.name().as_bytes());
            if !self.in_scope("stream", NS_STREAMS) {
                self.declare("stream", NS_STREAMS);
            }
            used.push(("stream".into(), NS_STREAMS.into()));
        } else {
            self.out.extend_from_slice(el.name().as_bytes());
            if default.is_none_or(|d| !el.has_ns(d)) {
                ns_owned = el.ns();
                self.out.extend_from_slice(b" xmlns='");
                escape_into(&mut self.out, &ns_owned, true);
                self.out.push(b'\'');
                child_default = Some(ns_owned.as_str());
            }
        }

        for ((ns, name), value) in el.attrs() {
            if ns.is_none() {
                attribute(&mut self.out, name.as_str(), value);
                continue;
            }
            let prefix = if ns.as_str() == NS_XML {
                "xml".to_owned()
            } else {
                self.prefix_for(el, ns, &mut used)
            };
            self.out.push(b' ');
            self.out.extend_from_slice(prefix.as_bytes());
            self.out.push(b':');
            attribute_value(&mut self.out, name.as_str(), value);
        }

        if el.nodes().next().is_none() {
            self.out.extend_from_slice(b"/>");
        } else {
            self.out.push(b'>');
            for node in el.nodes() {
                match node {
                    Node::Element(child) => self.element(child, child_default),
                    Node::Text(text) => escape_into(&mut self.out, text, false),
                }
            }
            self.out.extend_from_slice(b"</");
            if el.has_ns(NS_STREAMS) {
                self.out.extend_from_slice(b"stream:");
            }
            self.out.extend_from_slice(el.name().as_bytes());
            self.out.push(b'>');
        }
        self.bindings.truncate(scope);
    }

    /// The prefix to use for an attribute in namespace `ns`, declaring it
    /// on the current start tag if needed.
    fn prefix_for(
        &mut self,
        el: &Element,
        ns: &Namespace,
        used: &mut Vec<(String, String)>,
    ) -> String {
        let ns = ns.as_str();
        // Reuse a binding already in scope and not shadowed.
        if let Some((p, _)) = self
            .bindings
            .iter()
            .rev()
            .find(|(p, n)| n == ns && self.in_scope(p, ns))
        {
            let p = p.clone();
            used.push((p.clone(), ns.to_owned()));
            return p;
        }
        let free = |p: &str, used: &[(String, String)]| {
            !p.starts_with("xml") && !used.iter().any(|(u, n)| u == p && n != ns)
        };
        // The prefix the element was parsed or built with, else a new one.
        let preferred = el
            .prefixes
            .declared_prefixes()
            .iter()
            .find_map(|(p, n)| match p {
                Some(p) if n == ns && free(p, used) => Some(p.clone()),
                _ => None,
            });
        let prefix = preferred.unwrap_or_else(|| {
            (0..)
                .map(|i| format!("ns{i}"))
                .find(|p| free(p, used))
                .expect("a free prefix exists")
        });
        self.declare(&prefix, ns);
        used.push((prefix.clone(), ns.to_owned()));
        prefix
    }

    /// Whether `prefix` is currently bound to `ns` (innermost binding wins).
    fn in_scope(&self, prefix: &str, ns: &str) -> bool {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .is_some_and(|(_, n)| n == ns)
    }

    /// Write `xmlns:prefix='ns'` into the current start tag and record it.
    fn declare(&mut self, prefix: &str, ns: &str) {
        self.out.extend_from_slice(b" xmlns:");
        self.out.extend_from_slice(prefix.as_bytes());
        self.out.extend_from_slice(b"='");
        escape_into(&mut self.out, ns, true);
        self.out.push(b'\'');
        self.bindings.push((prefix.to_owned(), ns.to_owned()));
    }
}

/// Write ` name='value'`.
fn attribute(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    attribute_value(out, name, value);
}

/// Write `name='value'`.
fn attribute_value(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"='");
    escape_into(out, value, true);
    out.push(b'\'');
}

/// Append `s` escaped for text content or (with `attr`) a single-quoted
/// attribute value. Whitespace other than spaces is written as character
/// references in attributes so that attribute value normalisation keeps it,
/// and `\r` always, so that line-end normalisation keeps it.
fn escape_into(out: &mut Vec<u8>, s: &str, attr: bool) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (replacement, len): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'\'' if attr => (b"&apos;", 1),
            b'"' if attr => (b"&quot;", 1),
            b'\r' => (b"&#xd;", 1),
            b'\n' if attr => (b"&#xa;", 1),
            b'\t' if attr => (b"&#x9;", 1),
            b'\t' | b'\n' => {
                i += 1;
                continue;
            }
            0..=0x1f => ("\u{fffd}".as_bytes(), 1),
            // U+FFFE and U+FFFF are EF BF BE / EF BF BF in UTF-8.
            0xef if bytes.get(i + 1) == Some(&0xbf)
                && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) =>
            {
                ("\u{fffd}".as_bytes(), 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        i += len;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, attr: bool) -> String {
        let mut out = Vec::new();
        escape_into(&mut out, s, attr);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping_text_and_attributes() {
        assert_eq!(escaped("a<b>&c'\"", false), "a&lt;b&gt;&amp;c'\"");
        assert_eq!(escaped("a<b>&c'\"", true), "a&lt;b&gt;&amp;c&apos;&quot;");
        assert_eq!(escaped("l1\r\nl2\t", false), "l1&#xd;\nl2\t");
        assert_eq!(escaped("l1\r\nl2\t", true), "l1&#xd;&#xa;l2&#x9;");
        assert_eq!(escaped("nul\0 bell\x07", false), "nul\u{fffd} bell\u{fffd}");
        assert_eq!(
            escaped("x\u{fffe}y\u{ffff}z\u{fffd}", false),
            "x\u{fffd}y\u{fffd}z\u{fffd}"
        );
        assert_eq!(escaped("ünïcødé ✓ 🦀", true), "ünïcødé ✓ 🦀");
    }

    #[test]
    fn stream_header_escapes_and_omits() {
        let h = stream_header("jabber:client", Some("a'b"), None, Some("<id>"), Some("en"));
        assert_eq!(
            h,
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0' \
             from='a&apos;b' id='&lt;id&gt;' xml:lang='en'>"
        );
    }

    #[test]
    fn stream_error_shape() {
        assert_eq!(
            stream_error("not-well-formed", None),
            "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             </stream:error>"
        );
        assert_eq!(
            stream_error("policy-violation", Some("too <big>")),
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too &lt;big&gt;</text>\
             </stream:error>"
        );
        assert!(stream_error("x/><evil", None).contains("<undefined-condition "));
    }
}
