//! XEP-0199 ping (and the legacy RFC 3921 session request, answered alike).

use futures::future::BoxFuture;
use minidom::Element;

use crate::c2s::Ctx;
use crate::stanza;

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
