//! RFC 6121 §5 and §8: message routing by type and JID, with offline storage
//! for chat and normal messages to accounts with no available resource.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;

use super::offline;
use crate::core::router::{self, local_target};
use crate::core::{deliver, Ctx, Flow, Hooks, Kind};
use crate::stanza::{self, stanza_type};
use crate::Server;

/// Messages from local clients are routed; messages to local accounts are
/// delivered or stored.
pub fn register(hooks: &mut Hooks) {
    hooks.stanza(Kind::Message, Flow::Outbound, from_client);
    hooks.stanza(Kind::Message, Flow::Inbound, inbound);
}

/// A message from a client (`from` stamped): one without `to` is for the
/// sender's own account (RFC 6121 §8.1.1.1).
fn from_client(ctx: Ctx, mut el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        if el.attr("to").is_none() {
            let Some(session) = ctx.session() else { return };
            stanza::set_attr(&mut el, "to", session.bare());
        }
        router::route_from(ctx, el).await;
    })
}

/// A message for a local account, routed here.
fn inbound(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let (bare, resource) = local_target(&el);
        let (bare, resource) = (bare.to_string(), resource.map(str::to_owned));
        deliver(&ctx.server, el, &bare, resource.as_deref()).await;
    })
}

/// Deliver a message to local account `bare` (`resource` for a full JID).
pub async fn deliver(server: &Arc<Server>, el: Element, bare: &str, resource: Option<&str>) {
    let t = match stanza_type(&el) {
        "" => "normal",
        t => t,
    }
    .to_string();
    if let Some(r) = resource {
        if deliver::to_full(server, bare, r, &el) {
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
            deliver::to_message_targets(server, bare, &el);
        }
        _ => {
            if deliver::to_message_targets(server, bare, &el) == 0 {
                offline::store(server, el, bare).await;
            }
        }
    }
}
