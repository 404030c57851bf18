//! XEP-0191 blocking command: the blocklist, block and unblock with pushes,
//! and the presence that goes with them.

use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::Subscription;

use super::presence;
use crate::c2s::Ctx;
use crate::stanza::{self, element, stanza_type};

/// The error a user gets when sending to a JID they blocked.
pub fn blocked_error(original: &Element) -> Element {
    let mut reply = stanza::error_reply(original, "cancel", "not-acceptable", None);
    let error = reply
        .children_mut()
        .next()
        .expect("error_reply has an error child");
    error.append_child(stanza::text_element(
        "text",
        ns::STANZAS,
        "You have blocked this JID",
    ));
    error.append_child(Element::bare("blocked", ns::BLOCKING_ERRORS));
    reply
}

fn items(el: &Element) -> Result<Vec<String>, ()> {
    el.children()
        .filter(|c| c.is("item", ns::BLOCKING))
        .map(|c| {
            c.attr("jid")
                .and_then(|j| jid::Jid::new(j).ok())
                .map(|j| j.to_string())
                .ok_or(())
        })
        .collect()
}

/// `<blocklist/>`, `<block/>` and `<unblock/>` from the account's own client.
pub fn handle(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let payload = iq.children().next()?.clone();
        let user = ctx.session.username().to_string();
        let server = &ctx.server;
        match (stanza_type(&iq), payload.name()) {
            ("get", "blocklist") => {
                ctx.session
                    .blocklist_interested
                    .store(true, Ordering::Relaxed);
                let list = server.blocklist(&ctx.session.bare).await;
                let mut out = Element::bare("blocklist", ns::BLOCKING);
                let mut sorted: Vec<&String> = list.iter().collect();
                sorted.sort();
                for j in sorted {
                    out.append_child(element("item", ns::BLOCKING, &[("jid", j)]));
                }
                Some(stanza::iq_result(&iq, Some(out)))
            }
            ("set", "block") => {
                let Ok(jids) = items(&payload) else {
                    return Some(stanza::error(&iq, "jid-malformed"));
                };
                if jids.is_empty() {
                    return Some(stanza::error(&iq, "bad-request"));
                }
                let before = server.blocklist(&ctx.session.bare).await;
                if server.store.block(&user, &jids).await.is_err() {
                    return Some(stanza::error(&iq, "internal-server-error"));
                }
                server.forget_blocklist(&ctx.session.bare);
                ctx.session.send_element(&stanza::iq_result(&iq, None));
                push(&ctx, &payload);
                for j in jids.iter().filter(|j| !before.contains(*j)) {
                    presence::send_unavailable(server, &ctx.session.bare, j).await;
                }
                None
            }
            ("set", "unblock") => {
                let Ok(jids) = items(&payload) else {
                    return Some(stanza::error(&iq, "jid-malformed"));
                };
                let before = server.blocklist(&ctx.session.bare).await;
                let unblocked: Vec<String> = if jids.is_empty() {
                    before.iter().cloned().collect()
                } else {
                    jids.iter()
                        .filter(|j| before.contains(*j))
                        .cloned()
                        .collect()
                };
                if server.store.unblock(&user, &jids).await.is_err() {
                    return Some(stanza::error(&iq, "internal-server-error"));
                }
                server.forget_blocklist(&ctx.session.bare);
                // Presence first: the contact sees us again as soon as we are unblocked.
                for j in &unblocked {
                    let item = server.store.roster_item(&user, j).await.ok().flatten();
                    if item.is_some_and(|i| {
                        matches!(i.subscription, Subscription::From | Subscription::Both)
                    }) {
                        presence::send_available_presence(server, &ctx.session.bare, j).await;
                    }
                }
                ctx.session.send_element(&stanza::iq_result(&iq, None));
                push(&ctx, &payload);
                None
            }
            _ => Some(stanza::error(&iq, "bad-request")),
        }
    })
}

/// Tell the account's other interested resources about a block or unblock.
fn push(ctx: &Ctx, payload: &Element) {
    for s in ctx.server.registry.sessions(&ctx.session.bare) {
        if s.blocklist_interested.load(Ordering::Relaxed) {
            stanza::push_iq(&s, payload.clone());
        }
    }
}
