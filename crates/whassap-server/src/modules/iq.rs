//! IQ dispatch: by addressee (the client's own account, the server, another
//! account, a full JID) and by payload element and namespace.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use super::{blocking, disco, ping, register, roster, version};

use crate::c2s::Ctx;
use crate::pubsub::{disco as pubsub_disco, handlers, pep};
use crate::router::{self, Destination};
use crate::stanza::{self, stanza_type};
use crate::Server;

/// An IQ handler: gets the request, answers with the reply to send (or None
/// when it already sent what it had to).
pub type Handler = fn(Ctx, Element) -> BoxFuture<'static, Option<Element>>;

/// A handler for requests from other entities to a local account (answered by
/// the server on the account's behalf).
pub type AccountHandler = fn(Arc<Server>, String, Element) -> BoxFuture<'static, Option<Element>>;

/// Handlers for IQs a client sends to its own account (no `to`, or its bare JID).
const SELF_HANDLERS: &[(&str, &str, Handler)] = &[
    ("query", ns::ROSTER, roster::handle),
    ("blocklist", ns::BLOCKING, blocking::handle),
    ("block", ns::BLOCKING, blocking::handle),
    ("unblock", ns::BLOCKING, blocking::handle),
    ("query", ns::DISCO_INFO, disco::own_account_info),
    ("query", ns::DISCO_ITEMS, disco::own_account_items),
    ("ping", ns::PING, ping::handle),
    (
        "session",
        "urn:ietf:params:xml:ns:xmpp-session",
        ping::handle,
    ),
];

/// Handlers for IQs a client sends to the server's domain.
const SERVER_HANDLERS: &[(&str, &str, Handler)] = &[
    ("query", ns::DISCO_INFO, disco::server_info),
    ("query", ns::DISCO_ITEMS, disco::server_items),
    ("ping", ns::PING, ping::handle),
    ("query", ns::VERSION, version::handle),
    ("query", ns::REGISTER, register::in_session),
    (
        "session",
        "urn:ietf:params:xml:ns:xmpp-session",
        ping::handle,
    ),
];

/// Handlers for IQs addressed to another local account's bare JID.
const ACCOUNT_HANDLERS: &[(&str, &str, AccountHandler)] = &[
    ("query", ns::DISCO_INFO, disco::account_info),
    ("query", ns::DISCO_ITEMS, disco::account_items),
];

fn payload(iq: &Element) -> Option<&Element> {
    iq.children().next()
}

fn find<H: Copy>(table: &[(&str, &str, H)], iq: &Element) -> Option<H> {
    let p = payload(iq)?;
    table
        .iter()
        .find(|(name, ns, _)| p.is(*name, *ns))
        .map(|(_, _, h)| *h)
}

/// An IQ from a client (`from` stamped, `to` normalised).
pub async fn from_client(ctx: &Ctx, iq: Element) {
    let t = stanza_type(&iq);
    if !matches!(t, "get" | "set" | "result" | "error") || iq.attr("id").is_none() {
        if !matches!(t, "result" | "error") {
            reply(ctx, stanza::error(&iq, "bad-request"));
        }
        return;
    }
    let to = iq.attr("to").map(str::to_owned);
    let destination = match &to {
        None => Some(Destination::Local {
            user: String::new(),
            bare: ctx.session.bare.clone(),
            resource: None,
        }),
        Some(to) => router::destination(&ctx.server, to),
    };
    if matches!(t, "result" | "error") {
        if to.is_none() && iq.get_child("query", ns::DISCO_INFO).is_some() {
            pep::caps_answer(&ctx.server, &ctx.session.bare, &ctx.session.full, &iq).await;
        } else if destination != Some(Destination::Server) && to.is_some() {
            // An answer to the server itself answers nothing it asked: dropped.
            router::route(ctx.server.clone(), iq).await;
        }
        return;
    }
    if let Some(to) = &to {
        if ctx.server.blocks(&ctx.session.bare, to).await {
            reply(ctx, blocking::blocked_error(&iq));
            return;
        }
    }
    match destination {
        Some(Destination::Local {
            bare,
            resource: None,
            ..
        }) if bare == ctx.session.bare && is_pubsub(&iq) => {
            let (answer, after) =
                handlers::handle(&ctx.server, &bare, &ctx.session.full, &iq).await;
            reply(ctx, answer);
            if let Some(a) = after {
                a.run(&ctx.server).await;
            }
        }
        Some(Destination::PubSub) => {
            let (answer, after) = if payload_count(&iq) == 1 && is_pubsub(&iq) {
                let service = crate::pubsub::service_jid(&ctx.server);
                handlers::handle(&ctx.server, &service, &ctx.session.full, &iq).await
            } else {
                (
                    pubsub_disco::answer(&ctx.server, &iq, ctx.session.bare.as_str()).await,
                    None,
                )
            };
            reply(ctx, answer);
            if let Some(a) = after {
                a.run(&ctx.server).await;
            }
        }
        Some(Destination::Local {
            bare,
            resource: None,
            ..
        }) if bare == ctx.session.bare => {
            let answer = match (payload_count(&iq), find(SELF_HANDLERS, &iq)) {
                (1, Some(h)) => h(ctx.clone(), iq).await,
                _ => Some(stanza::error(&iq, "service-unavailable")),
            };
            if let Some(a) = answer {
                reply(ctx, a);
            }
        }
        Some(Destination::Server) => {
            let answer = match (payload_count(&iq), find(SERVER_HANDLERS, &iq)) {
                (1, Some(h)) => h(ctx.clone(), iq).await,
                (1, None) => Some(stanza::error(&iq, "service-unavailable")),
                _ => Some(stanza::error(&iq, "bad-request")),
            };
            if let Some(a) = answer {
                reply(ctx, a);
            }
        }
        _ => router::route(ctx.server.clone(), iq).await,
    }
}

/// Is the payload a XEP-0060 request (`pubsub` or `pubsub#owner`)?
fn is_pubsub(iq: &Element) -> bool {
    payload(iq).is_some_and(|p| p.is("pubsub", ns::PUBSUB) || p.is("pubsub", ns::PUBSUB_OWNER))
}

fn payload_count(iq: &Element) -> usize {
    iq.children().count()
}

/// Send a reply to the session, addressed to it.
fn reply(ctx: &Ctx, mut el: Element) {
    if el.attr("to").is_some() {
        stanza::set_attr(&mut el, "to", ctx.session.full.as_str());
    }
    ctx.session.send_element(&el);
}

/// An IQ routed to the server's domain from elsewhere than a client session.
pub async fn to_server_routed(server: &Arc<Server>, iq: Element) {
    if matches!(stanza_type(&iq), "result" | "error") {
        // The server asks nothing of anyone: an answer is dropped.
        return;
    }
    router::bounce(server, &iq, "service-unavailable", None).await;
}

/// An IQ routed to the PubSub service from elsewhere than a client session.
pub async fn to_pubsub_service(server: &Arc<Server>, iq: Element) {
    if matches!(stanza_type(&iq), "result" | "error") {
        return;
    }
    let from = iq.attr("from").unwrap_or_default().to_string();
    let (answer, after) = if is_pubsub(&iq) {
        let service = crate::pubsub::service_jid(server);
        handlers::handle(server, &service, &from, &iq).await
    } else {
        (
            pubsub_disco::answer(server, &iq, router::bare_of(&from)).await,
            None,
        )
    };
    router::route(server.clone(), answer).await;
    if let Some(a) = after {
        a.run(server).await;
    }
}

/// An IQ from someone else to a local account's bare JID: answered by the server.
pub async fn to_account(server: &Arc<Server>, iq: Element, bare: &str) {
    if matches!(stanza_type(&iq), "result" | "error") {
        if stanza_type(&iq) == "result" {
            if let Some(from) = iq.attr("from") {
                pep::caps_answer(server, bare, from, &iq).await;
            }
        }
        return;
    }
    if is_pubsub(&iq) {
        let from = iq.attr("from").unwrap_or_default().to_string();
        let (answer, after) = handlers::handle(server, bare, &from, &iq).await;
        router::route(server.clone(), answer).await;
        if let Some(a) = after {
            a.run(server).await;
        }
        return;
    }
    let answer = match find(ACCOUNT_HANDLERS, &iq) {
        Some(h) => h(server.clone(), bare.to_string(), iq).await,
        None => Some(stanza::error(&iq, "service-unavailable")),
    };
    if let Some(a) = answer {
        router::route(server.clone(), a).await;
    }
}
