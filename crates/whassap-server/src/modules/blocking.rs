//! XEP-0191 blocking command: the blocklist, block and unblock with pushes,
//! and the presence that goes with them.

use std::sync::atomic::Ordering;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::Subscription;

use super::presence;
use crate::core::{deliver, Addressee, Ctx, Hooks, Verdict};
use crate::stanza::{self, element, stanza_type};

/// The blocklist IQs of one's own account, and the filter that keeps a
/// user's stanzas from the JIDs they blocked.
pub fn register(hooks: &mut Hooks) {
    for name in ["blocklist", "block", "unblock"] {
        hooks.iq(Addressee::Own, name, ns::BLOCKING, handle);
    }
    hooks.outbound_filter(outbound);
}

/// A stanza from a local client to a JID its user blocked is not sent:
/// presence is dropped, a message or request refused with
/// [`blocked_error`] (XEP-0191 §3.5); errors and IQ answers pass.
fn outbound<'a>(ctx: &'a Ctx, el: &'a Element) -> BoxFuture<'a, Verdict> {
    Box::pin(async move {
        let (Some(session), Some(to)) = (ctx.session(), el.attr("to")) else {
            return Verdict::Pass;
        };
        let answerable = match el.name() {
            "presence" => false,
            "message" => stanza_type(el) != "error",
            _ => matches!(stanza_type(el), "get" | "set"),
        };
        if el.name() != "presence" && !answerable {
            return Verdict::Pass;
        }
        if !ctx.server.blocks(session.bare(), to).await {
            return Verdict::Pass;
        }
        if answerable {
            Verdict::Refuse(blocked_error(el))
        } else {
            Verdict::Drop
        }
    })
}

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
        let session = match ctx.own_session(&iq) {
            Ok(s) => s.clone(),
            Err(refused) => return Some(refused),
        };
        let user = session.username().to_string();
        let server = &ctx.server;
        match (stanza_type(&iq), payload.name()) {
            ("get", "blocklist") => {
                session.blocklist_interested.store(true, Ordering::Relaxed);
                ctx.server.cluster.session_changed(&session);
                let list = server.blocklist(session.bare()).await;
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
                let before = server.blocklist(session.bare()).await;
                if server.store.block(&user, &jids).await.is_err() {
                    return Some(stanza::error(&iq, "internal-server-error"));
                }
                server.forget_blocklist(session.bare());
                ctx.reply(stanza::iq_result(&iq, None)).await;
                push(&ctx, session.bare(), &payload);
                for j in jids.iter().filter(|j| !before.contains(*j)) {
                    presence::send_unavailable(server, session.bare(), j).await;
                }
                None
            }
            ("set", "unblock") => {
                let Ok(jids) = items(&payload) else {
                    return Some(stanza::error(&iq, "jid-malformed"));
                };
                let before = server.blocklist(session.bare()).await;
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
                server.forget_blocklist(session.bare());
                // Presence first: the contact sees us again as soon as we are unblocked.
                for j in &unblocked {
                    let item = server.store.roster_item(&user, j).await.ok().flatten();
                    if item.is_some_and(|i| {
                        matches!(i.subscription, Subscription::From | Subscription::Both)
                    }) {
                        presence::send_available_presence(server, session.bare(), j).await;
                    }
                }
                ctx.reply(stanza::iq_result(&iq, None)).await;
                push(&ctx, session.bare(), &payload);
                None
            }
            _ => Some(stanza::error(&iq, "bad-request")),
        }
    })
}

/// Tell the account's interested resources about a block or unblock.
fn push(ctx: &Ctx, bare: &str, payload: &Element) {
    deliver::push_iq_where(&ctx.server, bare, payload, |s| {
        s.blocklist_interested.load(Ordering::Relaxed)
    });
}
