//! IQ dispatch: a request is classified by addressee (the host, the
//! sender's own account, another account, the PubSub service) and handed to
//! the handler the hook table has for its payload; answers are sent back
//! where the request came from. IQs to full JIDs and to other domains are
//! routed.

use minidom::Element;

use super::ctx::{Ctx, Origin};
use super::hooks::Addressee;
use super::router::{self, Destination};
use crate::stanza::{self, stanza_type};

/// An IQ from a door (a client's session, later a remote server): `from`
/// stamped, `to` normalised. Requests to the host, the sender's own account
/// and the PubSub service are handled here; the rest is routed.
pub async fn from_door(ctx: Ctx, iq: Element) {
    let t = stanza_type(&iq);
    if !matches!(t, "get" | "set" | "result" | "error") || iq.attr("id").is_none() {
        if !matches!(t, "result" | "error") {
            ctx.reply(stanza::error(&iq, "bad-request")).await;
        }
        return;
    }
    let addressee = match (iq.attr("to"), &ctx.origin) {
        (None, Origin::Client(_)) => Some(Addressee::Own),
        (None, _) => Some(Addressee::Host),
        (Some(to), origin) => match router::destination(&ctx.server, to) {
            Some(Destination::Server) => Some(Addressee::Host),
            Some(Destination::PubSub) => Some(Addressee::Service),
            Some(Destination::Local {
                bare,
                resource: None,
                ..
            }) if matches!(origin, Origin::Client(s) if s.bare() == bare) => Some(Addressee::Own),
            _ => None,
        },
    };
    match addressee {
        Some(a) => dispatch(ctx, a, iq).await,
        None => router::route_from(ctx, iq).await,
    }
}

/// Hand an IQ to the handler registered for its addressee and payload.
///
/// Requests (`get`, `set`) must carry exactly one payload (RFC 6120
/// §8.2.3): otherwise `bad-request`; a payload nobody handles gets
/// `service-unavailable`. Results and errors go to the module that asked
/// (a registered answer handler), or are dropped: the server asks nothing
/// else of anyone.
pub async fn dispatch(ctx: Ctx, addressee: Addressee, iq: Element) {
    let hooks = &ctx.server.hooks;
    let mut payloads = iq.children();
    let payload = payloads.next();
    let single = payloads.next().is_none();
    if matches!(stanza_type(&iq), "result" | "error") {
        if let Some(h) =
            payload.and_then(|p| hooks.answer_handler(addressee, p.name(), p.ns().as_str()))
        {
            h(ctx, iq).await;
        }
        return;
    }
    let answer = match payload {
        Some(p) if single => match hooks.iq_handler(addressee, p.name(), p.ns().as_str()) {
            Some(h) => h(ctx.clone(), iq).await,
            None => Some(stanza::error(&iq, "service-unavailable")),
        },
        _ => Some(stanza::error(&iq, "bad-request")),
    };
    if let Some(a) = answer {
        ctx.reply(a).await;
    }
}

/// The bare JID a request to an account is about: its `to`, or the
/// sender's own account when it has none.
pub fn account_of(ctx: &Ctx, iq: &Element) -> String {
    match (iq.attr("to"), ctx.session()) {
        (Some(to), _) => router::bare_of(to).to_string(),
        (None, Some(s)) => s.bare().to_owned(),
        (None, None) => String::new(),
    }
}
