//! XEP-0092 software version of the server.

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use crate::core::{Addressee, Ctx, Hooks};
use crate::stanza::{self, text_element};

/// Answer software version requests to the server.
pub fn register(hooks: &mut Hooks) {
    hooks.iq(Addressee::Host, "query", ns::VERSION, handle);
}

/// Name and version; the OS is not disclosed.
pub fn handle(_ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if stanza::stanza_type(&iq) != "get" {
            return Some(stanza::error(&iq, "bad-request"));
        }
        let mut q = Element::bare("query", ns::VERSION);
        q.append_child(text_element("name", ns::VERSION, "Whassap"));
        q.append_child(text_element(
            "version",
            ns::VERSION,
            env!("CARGO_PKG_VERSION"),
        ));
        Some(stanza::iq_result(&iq, Some(q)))
    })
}
