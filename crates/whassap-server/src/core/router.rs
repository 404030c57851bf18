//! Routing of stanzas that carry `from` and `to`: to the server itself, to a
//! local account (by the delivery rules of RFC 6121 §8), or off the node.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;

use super::ctx::{Ctx, Origin};
use super::hooks::{Addressee, Flow, Kind};
use super::{deliver, iq};
use crate::stanza::{self, stanza_type};
use crate::Server;

/// Where a JID points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The server's own domain.
    Server,
    /// A local account, optionally one resource.
    Local {
        /// The account (JID localpart).
        user: String,
        /// `user@domain`.
        bare: String,
        /// Resource, if a full JID.
        resource: Option<String>,
    },
    /// The PubSub service, `pubsub.<domain>`.
    PubSub,
    /// Another domain.
    Remote(String),
}

/// Classify an (already normalised) JID string.
pub fn destination(server: &Server, to: &str) -> Option<Destination> {
    let j = jid::Jid::new(to).ok()?;
    let domain = j.domain().as_str();
    if j.node().is_none() && domain.strip_suffix(server.config.domain.as_str()) == Some("pubsub.") {
        return Some(Destination::PubSub);
    }
    if domain != server.config.domain {
        return Some(Destination::Remote(domain.to_string()));
    }
    match j.node() {
        None => Some(Destination::Server),
        Some(node) => Some(Destination::Local {
            user: node.as_str().to_string(),
            bare: format!("{}@{}", node.as_str(), domain),
            resource: j.resource().map(|r| r.as_str().to_string()),
        }),
    }
}

/// Is `domain` one this server serves: its own, or its PubSub service's?
pub fn is_local_domain(server: &Server, domain: &str) -> bool {
    domain == server.config.domain
        || domain.strip_suffix(server.config.domain.as_str()) == Some("pubsub.")
}

/// Is a JID (bare or full) an account of this server's domain?
pub fn is_local_account(server: &Server, jid: &str) -> bool {
    bare_of(jid)
        .split_once('@')
        .is_some_and(|(_, d)| d == server.config.domain)
}

/// The bare part of a JID string.
pub fn bare_of(jid: &str) -> &str {
    jid.split_once('/').map(|(b, _)| b).unwrap_or(jid)
}

/// Route a stanza with `from` and `to` set, on the server's own behalf.
/// Boxed: delivery can route again (an error bounced back, a subscription
/// answered).
pub fn route(server: Arc<Server>, el: Element) -> BoxFuture<'static, ()> {
    route_from(Ctx::local(server), el)
}

/// Route a stanza with `from` and `to` set that came from `ctx`'s origin:
/// to the host or the PubSub service (IQs), to a local entity a module
/// serves, to a local account, or off this server.
pub fn route_from(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let Some(to) = el.attr("to").map(str::to_owned) else {
            return;
        };
        let server = ctx.server.clone();
        match destination(&server, &to) {
            Some(Destination::Server) => {
                if el.name() == "iq" {
                    iq::dispatch(ctx, Addressee::Host, el).await;
                }
            }
            Some(Destination::PubSub) => {
                if el.name() == "iq" {
                    iq::dispatch(ctx, Addressee::Service, el).await;
                }
            }
            Some(Destination::Local {
                user,
                bare,
                resource,
            }) => match server.hooks.entity_handler(&user) {
                Some(h) => h(ctx, el).await,
                None => to_local(ctx, el, &user, &bare, resource.as_deref()).await,
            },
            Some(Destination::Remote(domain)) => {
                if matches!(ctx.origin, Origin::Server { .. }) {
                    // A peer may only send to this server (its door checks
                    // `to`); nothing is relayed to a third one.
                    return;
                }
                server.s2s.send(&server, &domain, el).await;
            }
            None => bounce(&server, &el, "jid-malformed", None).await,
        }
    })
}

/// The local account a routed stanza is for: `(bare, resource)` of its `to`.
pub fn local_target(el: &Element) -> (&str, Option<&str>) {
    let to = el.attr("to").unwrap_or("");
    match to.split_once('/') {
        Some((bare, resource)) => (bare, Some(resource)),
        None => (to, None),
    }
}

async fn to_local(ctx: Ctx, el: Element, user: &str, bare: &str, resource: Option<&str>) {
    let server = ctx.server.clone();
    let from = el.attr("from").unwrap_or("");
    let exists = deliver::is_online(&server, bare) || {
        match server.store.user_exists(user).await {
            Ok(exists) => exists,
            Err(e) => {
                // Not "no such user": that would bounce for good, or drop
                // a subscription, over a passing store failure.
                tracing::error!(%bare, "looking up the recipient failed: {e}");
                if el.name() != "presence" {
                    bounce(&server, &el, "internal-server-error", None).await;
                }
                return;
            }
        }
    };
    if !exists {
        if el.name() != "presence" {
            bounce(&server, &el, "service-unavailable", None).await;
        }
        return;
    }
    if server.is_blocked_by(bare, from).await {
        if el.name() != "presence" {
            bounce(&server, &el, "service-unavailable", None).await;
        }
        return;
    }
    let kind = match el.name() {
        "message" => Kind::Message,
        "presence" => Kind::Presence,
        _ => {
            match resource {
                Some(r) => {
                    if !deliver::to_full(&server, bare, r, &el) {
                        bounce(&server, &el, "service-unavailable", None).await;
                    }
                }
                None => iq::dispatch(ctx, Addressee::Account, el).await,
            }
            return;
        }
    };
    super::run_stanza_handlers(ctx, kind, Flow::Inbound, el).await;
}

/// Answer a stanza with an error, unless it is an error or a result itself.
pub async fn bounce(server: &Arc<Server>, el: &Element, condition: &str, text: Option<&str>) {
    let t = stanza_type(el);
    if t == "error" || t == "result" || el.attr("from").is_none() {
        return;
    }
    let reply = stanza::error_reply(el, stanza::default_error_type(condition), condition, text);
    route(server.clone(), reply).await;
}
