//! XML namespaces the server speaks, in one place.
//!
//! Plain `&str` constants so that doors and modules can match on them
//! without depending on `xmpp-parsers`' own tables.

/// Client-to-server stanzas (RFC 6120 §4.8.3).
pub const JABBER_CLIENT: &str = "jabber:client";
/// Server-to-server stanzas.
pub const JABBER_SERVER: &str = "jabber:server";
/// External components, accept side (XEP-0114).
pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// The `<stream:stream>` and `<stream:features>` elements.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// Stream error conditions (RFC 6120 §4.9.3).
pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// WebSocket framing (RFC 7395): `<open/>` and `<close/>`.
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// STARTTLS (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL negotiation (RFC 6120 §6).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 §7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment (RFC 3921; announced optional).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Stanza error conditions (RFC 6120 §8.3).
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// The `xml:` prefix (`xml:lang`).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Server dialback (XEP-0220).
pub const DIALBACK: &str = "jabber:server:dialback";
/// Dialback stream feature (XEP-0220).
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";

/// Rosters (RFC 6121 §2).
pub const ROSTER: &str = "jabber:iq:roster";
/// Roster versioning stream feature (RFC 6121 §2.6).
pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
/// Subscription pre-approval stream feature (RFC 6121 §3.4).
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";

/// Service discovery, information (XEP-0030).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service discovery, items (XEP-0030).
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// Entity capabilities (XEP-0115).
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// XMPP ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Software version (XEP-0092).
pub const VERSION: &str = "jabber:iq:version";
/// Entity time (XEP-0202).
pub const TIME: &str = "urn:xmpp:time";
/// Delayed delivery (XEP-0203).
pub const DELAY: &str = "urn:xmpp:delay";
/// Last activity (XEP-0012).
pub const LAST: &str = "jabber:iq:last";
/// In-band registration (XEP-0077).
pub const REGISTER: &str = "jabber:iq:register";
/// In-band registration stream feature (XEP-0077).
pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
/// Data forms (XEP-0004).
pub const DATA_FORMS: &str = "jabber:x:data";
/// Disco feature advertising offline message storage (RFC 6121 §8.5.2.2, XEP-0160).
pub const MSGOFFLINE: &str = "msgoffline";
/// Blocking command (XEP-0191).
pub const BLOCKING: &str = "urn:xmpp:blocking";
/// Blocking command error payload (XEP-0191).
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// Message carbons (XEP-0280).
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// Stanza forwarding (XEP-0297).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// Chat state notifications (XEP-0085).
pub const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0334 message processing hints (`no-store`, `no-permanent-store`).
pub const HINTS: &str = "urn:xmpp:hints";
/// Stream management (XEP-0198).
pub const SM: &str = "urn:xmpp:sm:3";
/// Client state indication (XEP-0352).
pub const CSI: &str = "urn:xmpp:csi:0";
/// vCard (XEP-0054).
pub const VCARD: &str = "vcard-temp";
/// Private XML storage (XEP-0049).
pub const PRIVATE: &str = "jabber:iq:private";
/// Result set management (XEP-0059).
pub const RSM: &str = "http://jabber.org/protocol/rsm";
/// User nickname (XEP-0172).
pub const NICK: &str = "http://jabber.org/protocol/nick";

/// Publish-subscribe (XEP-0060).
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// PubSub event notifications.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// PubSub owner use cases.
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// PubSub application-specific error conditions.
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// PubSub node configuration form type.
pub const PUBSUB_NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
/// PubSub publish-options form type.
pub const PUBSUB_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// PubSub subscription options form type.
pub const PUBSUB_SUBSCRIBE_OPTIONS: &str = "http://jabber.org/protocol/pubsub#subscribe_options";
/// Microblogging node (XEP-0277).
pub const MICROBLOG: &str = "urn:xmpp:microblog:0";
/// Caps `+notify` feature for the microblog node (XEP-0163).
pub const MICROBLOG_NOTIFY: &str = "urn:xmpp:microblog:0+notify";
/// Atom entries (RFC 4287), the payload of microblog items.
pub const ATOM: &str = "http://www.w3.org/2005/Atom";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agree_with_xmpp_parsers() {
        use xmpp_parsers::ns;
        assert_eq!(JABBER_CLIENT, ns::JABBER_CLIENT);
        assert_eq!(ROSTER, ns::ROSTER);
        assert_eq!(DISCO_INFO, ns::DISCO_INFO);
        assert_eq!(PUBSUB_EVENT, ns::PUBSUB_EVENT);
        assert_eq!(PING, ns::PING);
        assert_eq!(DELAY, ns::DELAY);
        assert_eq!(SASL, ns::SASL);
        assert_eq!(BLOCKING, ns::BLOCKING);
        assert_eq!(CAPS, ns::CAPS);
    }
}
