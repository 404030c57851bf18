//! The status bot, `whassap@<domain>` (SPEC §4): a contact every user can
//! add. It has no account: the router hands it every stanza addressed to
//! its bare or full JID, and it answers from `whassap@<domain>/bot`.
//!
//! - It is always available: it answers presence probes with available
//!   presence, so it shows online to everyone subscribed to it.
//! - It accepts every subscription request and asks for one back.
//! - disco#info shows it as a bot (identity `client`/`bot`); it answers
//!   XEP-0199 pings; other requests get `service-unavailable`.
//! - A chat (or normal) message from a local user is a command (see
//!   [`Command`]) or else that user's new status, posted through the
//!   status pipeline with source `im` (whose thank-you is the answer).
//!   A message from another server's user is told that only local users
//!   can post. Error, groupchat and headline messages and messages
//!   without a body are ignored, so two bots cannot loop.
//! - Applications send IMs through it to the users who accepted it
//!   ([`notify`], the notifications API). Another server's user who
//!   subscribes to it is kept in the store for that; a local user's
//!   subscription is in their roster.

mod commands;
pub mod notify;

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;

pub use commands::{help_text, parse, remote_text, run, Command};
use whassap_proto::ns;

use crate::core::{router, Ctx, Hooks};
use crate::stanza::{self, element, stanza_type, text_element};
use crate::statuses::BOT_USERNAME;
use crate::Server;

/// The resource the bot's presence comes from.
pub const RESOURCE: &str = "bot";
/// The bot's name in disco#info.
pub const NAME: &str = "Whassap status bot";

/// The bot's bare JID, `whassap@<domain>`.
pub fn jid(server: &Server) -> String {
    format!("{BOT_USERNAME}@{}", server.config.domain)
}

/// The bot serves its JID: every stanza to it comes here.
pub fn register(hooks: &mut Hooks) {
    hooks.entity(BOT_USERNAME, entity);
}

fn entity(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move { handle(&ctx.server, el).await })
}

/// Handle a stanza addressed to the bot: route its answers.
pub async fn handle(server: &Arc<Server>, el: Element) {
    for reply in respond(server, &el).await {
        router::route(server.clone(), reply).await;
    }
}

/// The answers to a stanza addressed to the bot (not yet routed).
pub async fn respond(server: &Arc<Server>, el: &Element) -> Vec<Element> {
    let Some(from) = el.attr("from").filter(|f| !f.is_empty()) else {
        return Vec::new();
    };
    let Ok(from_jid) = jid::Jid::new(from) else {
        return Vec::new();
    };
    match el.name() {
        "message" => message(server, el, from, &from_jid)
            .await
            .into_iter()
            .collect(),
        "presence" => {
            let bare = from_jid.to_bare().to_string();
            if let Err(e) = subscription_changed(server, el, &from_jid).await {
                // Not acknowledged: the request is refused, and may be made
                // again.
                tracing::error!(%bare, "recording a subscription to the bot failed: {e}");
                return vec![stanza::error_reply(
                    el,
                    "wait",
                    "internal-server-error",
                    None,
                )];
            }
            presence(server, el, from, &bare)
        }
        "iq" => iq(el).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn available(server: &Server, to: &str) -> Element {
    let from = format!("{}/{RESOURCE}", jid(server));
    let mut p = element(
        "presence",
        ns::JABBER_CLIENT,
        &[("from", &from), ("to", to)],
    );
    p.append_child(text_element(
        "status",
        ns::JABBER_CLIENT,
        "Send me your status; \"help\" lists my commands.",
    ));
    p
}

/// Another server's user subscribed to the bot, or unsubscribed: keep it,
/// for the notifications API. Local users' subscriptions are their
/// rosters' business.
async fn subscription_changed(
    server: &Server,
    el: &Element,
    from: &jid::Jid,
) -> Result<(), whassap_store::StoreError> {
    if from.domain().as_str() == server.config.domain || from.node().is_none() {
        return Ok(());
    }
    let bare = from.to_bare().to_string();
    match stanza_type(el) {
        "subscribe" => server.store.bot_subscriber_add(&bare).await,
        "unsubscribe" => server.store.bot_subscriber_remove(&bare).await,
        _ => Ok(()),
    }
}

fn presence(server: &Server, el: &Element, from: &str, from_bare: &str) -> Vec<Element> {
    let bot = jid(server);
    let plain = |t: &str, to: &str| {
        element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", t), ("from", &bot), ("to", to)],
        )
    };
    match stanza_type(el) {
        // Accepted, shown online, and asked back.
        "subscribe" => vec![
            plain("subscribed", from_bare),
            available(server, from_bare),
            plain("subscribe", from_bare),
        ],
        "probe" => vec![available(server, from)],
        "unsubscribe" => {
            let from_full = format!("{bot}/{RESOURCE}");
            vec![element(
                "presence",
                ns::JABBER_CLIENT,
                &[
                    ("type", "unavailable"),
                    ("from", &from_full),
                    ("to", from_bare),
                ],
            )]
        }
        _ => Vec::new(),
    }
}

fn iq(el: &Element) -> Option<Element> {
    let t = stanza_type(el);
    if t != "get" && t != "set" {
        return None;
    }
    let payload = el.children().next();
    match payload {
        Some(p) if t == "get" && p.is("query", ns::DISCO_INFO) => {
            let mut query = Element::bare("query", ns::DISCO_INFO);
            if let Some(node) = p.attr("node") {
                stanza::set_attr(&mut query, "node", node);
            }
            query.append_child(element(
                "identity",
                ns::DISCO_INFO,
                &[("category", "client"), ("type", "bot"), ("name", NAME)],
            ));
            for var in [ns::DISCO_INFO, ns::PING] {
                query.append_child(element("feature", ns::DISCO_INFO, &[("var", var)]));
            }
            Some(stanza::iq_result(el, Some(query)))
        }
        Some(p) if t == "get" && p.is("ping", ns::PING) => Some(stanza::iq_result(el, None)),
        _ => Some(stanza::error(el, "service-unavailable")),
    }
}

async fn message(
    server: &Arc<Server>,
    el: &Element,
    from: &str,
    from_jid: &jid::Jid,
) -> Option<Element> {
    if !matches!(stanza_type(el), "" | "normal" | "chat") {
        return None;
    }
    let body = el.get_child("body", ns::JABBER_CLIENT)?.text();
    if body.trim().is_empty() {
        return None;
    }
    let domain = &server.config.domain;
    let text = if from_jid.domain().as_str() != domain.as_str() {
        remote_text(domain)
    } else {
        let user = from_jid.node()?.as_str();
        if user == BOT_USERNAME {
            return None;
        }
        run(server, user, parse(&body)).await?
    };
    let bot = jid(server);
    let mut reply = element(
        "message",
        ns::JABBER_CLIENT,
        &[
            ("type", "chat"),
            ("from", &bot),
            ("to", from),
            ("id", &stanza::random_id()),
        ],
    );
    reply.append_child(text_element("body", ns::JABBER_CLIENT, &text));
    if let Some(thread) = el.get_child("thread", ns::JABBER_CLIENT) {
        reply.append_child(thread.clone());
    }
    Some(reply)
}
