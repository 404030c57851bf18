//! XEP-0199 ping (and the legacy RFC 3921 session request, answered alike).

use futures::future::BoxFuture;
use minidom::Element;

use crate::core::{Addressee, Ctx, Hooks};
use crate::stanza;

/// `urn:ietf:params:xml:ns:xmpp-session`, the legacy session request.
const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";

/// Answer pings to the server and to one's own account, and the legacy
/// session request (not announced: it is a stream feature).
pub fn register(hooks: &mut Hooks) {
    for to in [Addressee::Host, Addressee::Own] {
        hooks.iq(to, "ping", whassap_proto::ns::PING, handle);
        hooks.iq_unannounced(to, "session", NS_SESSION, handle);
    }
}

/// Answer with an empty result.
pub fn handle(_ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if stanza::stanza_type(&iq) == "get" || iq.children().any(|c| c.name() == "session") {
            Some(stanza::iq_result(&iq, None))
        } else {
            Some(stanza::error(&iq, "bad-request"))
        }
    })
}
