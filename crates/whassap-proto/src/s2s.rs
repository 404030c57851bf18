//! The rules of server-to-server streams that need no I/O: what a peer's
//! stream header must say, and what each top-level element a peer sends
//! is (STARTTLS, SASL, dialback, a stanza) once its addressing is checked.
//! The s2s door acts on the result; keeping this apart lets it be tested
//! and fuzzed without a server.

use base64::Engine;
use minidom::Element;

/// `jabber:server`.
pub const NS_SERVER: &str = "jabber:server";
/// `jabber:server:dialback`, bound to the `db` prefix on s2s streams.
pub const NS_DIALBACK: &str = "jabber:server:dialback";
/// The stream feature announcing dialback (XEP-0220 §2.4).
pub const NS_DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";
/// STARTTLS.
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL.
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

/// Check a peer's stream header: the `jabber:server` namespace, a `to` of
/// one of this server's domains (`is_local`), a `from` that is a domain
/// and not one of them. Err is the stream error condition.
pub fn check_header(
    stream_ns_ok: bool,
    default_ns: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    is_local: impl Fn(&str) -> bool,
) -> Result<(), &'static str> {
    if !stream_ns_ok || default_ns != Some(NS_SERVER) {
        return Err("invalid-namespace");
    }
    if to.is_some_and(|t| !is_local(t)) {
        return Err("host-unknown");
    }
    if from.is_some_and(|f| !is_domain(f) || is_local(f)) {
        return Err("invalid-from");
    }
    Ok(())
}

/// Is `s` a valid domain JID (no localpart, no resource)?
pub fn is_domain(s: &str) -> bool {
    jid::Jid::new(s).is_ok_and(|j| j.node().is_none() && j.resource().is_none())
}

/// Which identity a SASL EXTERNAL request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzId {
    /// None given (`=` or empty): the domain of the stream header.
    Header,
    /// This domain.
    Domain(String),
    /// Not decodable, or not a domain.
    Invalid,
}

/// A top-level element from a peer, classified and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerElement {
    /// `<starttls/>`.
    StartTls,
    /// `<auth mechanism=…>`.
    Auth {
        /// The mechanism named.
        mechanism: String,
        /// For EXTERNAL: the identity asked for.
        authzid: AuthzId,
    },
    /// `<db:result>` with a key (a request to be authenticated).
    DialbackResult {
        /// The originating domain.
        from: String,
        /// One of this server's domains.
        to: String,
        /// The key.
        key: String,
    },
    /// `<db:verify>` with a key (a receiving server asking this one, as the
    /// authoritative server, about a key).
    DialbackVerify {
        /// The receiving domain asking.
        from: String,
        /// One of this server's domains (the key's originating domain).
        to: String,
        /// The stream id the key is for.
        id: String,
        /// The key.
        key: String,
    },
    /// `<stream:error/>`.
    StreamError,
    /// A message, presence or IQ (in `jabber:client`, as the door reads it).
    Stanza,
}

/// Classify an element a peer sent (stanzas already rewritten to
/// `jabber:client`). Err is the stream error condition.
pub fn classify(
    el: &Element,
    is_local: impl Fn(&str) -> bool,
) -> Result<PeerElement, &'static str> {
    if el.is("starttls", NS_TLS) {
        return Ok(PeerElement::StartTls);
    }
    if el.is("auth", NS_SASL) {
        let mechanism = el.attr("mechanism").unwrap_or_default().to_string();
        let text = el.text();
        let authzid = match text.trim() {
            "" | "=" => AuthzId::Header,
            b64 => match base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            {
                Some(d) if is_domain(&d) => AuthzId::Domain(d),
                _ => AuthzId::Invalid,
            },
        };
        return Ok(PeerElement::Auth { mechanism, authzid });
    }
    if el.is("result", NS_DIALBACK) || el.is("verify", NS_DIALBACK) {
        let (Some(from), Some(to)) = (el.attr("from"), el.attr("to")) else {
            return Err("improper-addressing");
        };
        if !is_local(to) {
            return Err("host-unknown");
        }
        if !is_domain(from) || is_local(from) {
            return Err("invalid-from");
        }
        let key = el.text().trim().to_string();
        if el.name() == "result" {
            if key.is_empty() {
                return Err("bad-format");
            }
            return Ok(PeerElement::DialbackResult {
                from: from.to_string(),
                to: to.to_string(),
                key,
            });
        }
        let Some(id) = el.attr("id") else {
            return Err("improper-addressing");
        };
        return Ok(PeerElement::DialbackVerify {
            from: from.to_string(),
            to: to.to_string(),
            id: id.to_string(),
            key,
        });
    }
    if el.is("error", crate::ns::STREAM) {
        return Ok(PeerElement::StreamError);
    }
    if el.ns() == crate::ns::JABBER_CLIENT && matches!(el.name(), "message" | "presence" | "iq") {
        return Ok(PeerElement::Stanza);
    }
    Err("unsupported-stanza-type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(d: &str) -> bool {
        d == "a.test" || d == "pubsub.a.test"
    }

    fn el(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn headers() {
        let ok = |from, to| check_header(true, Some(NS_SERVER), from, to, local);
        assert_eq!(ok(Some("b.test"), Some("a.test")), Ok(()));
        assert_eq!(ok(None, None), Ok(()));
        assert_eq!(ok(Some("b.test"), Some("c.test")), Err("host-unknown"));
        assert_eq!(ok(Some("a.test"), Some("a.test")), Err("invalid-from"));
        assert_eq!(ok(Some("u@b.test"), Some("a.test")), Err("invalid-from"));
        assert_eq!(
            check_header(true, Some("jabber:client"), None, None, local),
            Err("invalid-namespace")
        );
    }

    #[test]
    fn dialback_elements() {
        let db = "xmlns='jabber:server:dialback'";
        assert_eq!(
            classify(
                &el(&format!(
                    "<result {db} from='b.test' to='a.test'> k1 </result>"
                )),
                local
            ),
            Ok(PeerElement::DialbackResult {
                from: "b.test".into(),
                to: "a.test".into(),
                key: "k1".into()
            })
        );
        assert_eq!(
            classify(
                &el(&format!(
                    "<result {db} from='b.test' to='c.test'>k</result>"
                )),
                local
            ),
            Err("host-unknown")
        );
        assert_eq!(
            classify(
                &el(&format!(
                    "<result {db} from='pubsub.a.test' to='a.test'>k</result>"
                )),
                local
            ),
            Err("invalid-from")
        );
        assert_eq!(
            classify(
                &el(&format!(
                    "<verify {db} from='b.test' to='a.test'>k</verify>"
                )),
                local
            ),
            Err("improper-addressing")
        );
        assert_eq!(
            classify(&el(&format!("<result {db} to='a.test'>k</result>")), local),
            Err("improper-addressing")
        );
    }

    #[test]
    fn external_authzid() {
        let auth = |text: &str| {
            classify(
                &el(&format!(
                    "<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{text}</auth>"
                )),
                local,
            )
        };
        let id = |a| match a {
            Ok(PeerElement::Auth { authzid, .. }) => authzid,
            other => panic!("{other:?}"),
        };
        assert_eq!(id(auth("=")), AuthzId::Header);
        assert_eq!(id(auth("Yi50ZXN0")), AuthzId::Domain("b.test".into()));
        assert_eq!(id(auth("!!")), AuthzId::Invalid);
    }
}
