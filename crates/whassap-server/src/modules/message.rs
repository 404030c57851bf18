//! RFC 6121 §5 and §8: message routing by type and JID, with offline storage
//! for chat and normal messages to accounts with no available resource.

use std::sync::Arc;

use minidom::Element;

use super::{blocking, offline};
use crate::c2s::Ctx;
use crate::router;
use crate::stanza::{self, stanza_type};
use crate::Server;

/// A message from a client (`from` stamped).
pub async fn from_client(ctx: &Ctx, mut el: Element) {
    let to = match el.attr("to") {
        Some(t) => t.to_string(),
        None => {
            stanza::set_attr(&mut el, "to", ctx.session.bare.as_str());
            ctx.session.bare.clone()
        }
    };
    if stanza_type(&el) != "error" && ctx.server.blocks(&ctx.session.bare, &to).await {
        let mut reply = blocking::blocked_error(&el);
        stanza::set_attr(&mut reply, "to", ctx.session.full.as_str());
        ctx.session.send_element(&reply);
        return;
    }
    router::route(ctx.server.clone(), el).await;
}

/// Deliver a message to local account `bare` (`resource` for a full JID).
pub async fn deliver(server: &Arc<Server>, el: Element, bare: &str, resource: Option<&str>) {
    let t = match stanza_type(&el) {
        "" => "normal",
        t => t,
    }
    .to_string();
    if let Some(r) = resource {
        if let Some(s) = server.registry.session(bare, r) {
            s.send_element(&el);
            return;
        }
        // RFC 6121 §8.5.3.2.1: no such resource.
        match t.as_str() {
            "normal" | "chat" => {}
            "groupchat" => return router::bounce(server, &el, "service-unavailable", None).await,
            _ => return,
        }
    }
    match t.as_str() {
        "error" => {}
        "groupchat" => router::bounce(server, &el, "service-unavailable", None).await,
        "headline" => {
            let bytes = whassap_xml::to_bytes(&el);
            for s in server.registry.message_targets(bare) {
                s.send(bytes.clone());
            }
        }
        _ => {
            let targets = server.registry.message_targets(bare);
            if targets.is_empty() {
                offline::store(server, el, bare).await;
                return;
            }
            let bytes = whassap_xml::to_bytes(&el);
            for s in targets {
                s.send(bytes.clone());
            }
        }
    }
}
