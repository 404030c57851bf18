//! Routing of stanzas that carry `from` and `to`: to the server itself, to a
//! local account (by the delivery rules of RFC 6121 §8), or off the node.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;

use crate::modules::{iq, message, presence};
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

/// The bare part of a JID string.
pub fn bare_of(jid: &str) -> &str {
    jid.split_once('/').map(|(b, _)| b).unwrap_or(jid)
}

/// Route a stanza with `from` and `to` set. Boxed: delivery can route again
/// (an error bounced back, a subscription answered).
pub fn route(server: Arc<Server>, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let Some(to) = el.attr("to").map(str::to_owned) else {
            return;
        };
        match destination(&server, &to) {
            Some(Destination::Server) => {
                if el.name() == "iq" {
                    iq::to_server_routed(&server, el).await;
                }
            }
            Some(Destination::Local { user, .. }) if user == crate::statuses::BOT_USERNAME => {
                crate::bot::handle(&server, el).await;
            }
            Some(Destination::Local {
                user,
                bare,
                resource,
            }) => {
                to_local(&server, el, &user, &bare, resource.as_deref()).await;
            }
            Some(Destination::PubSub) => {
                if el.name() == "iq" {
                    iq::to_pubsub_service(&server, el).await;
                }
            }
            Some(Destination::Remote(domain)) => {
                tracing::debug!(%domain, "no route to remote domain (federation is not enabled)");
                bounce(&server, &el, "remote-server-not-found", None).await;
            }
            None => bounce(&server, &el, "jid-malformed", None).await,
        }
    })
}

async fn to_local(
    server: &Arc<Server>,
    el: Element,
    user: &str,
    bare: &str,
    resource: Option<&str>,
) {
    let from = el.attr("from").unwrap_or("");
    let exists = !server.registry.sessions(bare).is_empty()
        || server.store.user_exists(user).await.unwrap_or(false);
    if !exists {
        if el.name() != "presence" {
            bounce(server, &el, "service-unavailable", None).await;
        }
        return;
    }
    if server.is_blocked_by(bare, from).await {
        if el.name() != "presence" {
            bounce(server, &el, "service-unavailable", None).await;
        }
        return;
    }
    match el.name() {
        "message" => message::deliver(server, el, bare, resource).await,
        "presence" => presence::inbound(server, el, bare, resource).await,
        _ => match resource {
            Some(r) => match server.registry.session(bare, r) {
                Some(s) => {
                    s.send_element(&el);
                }
                None => bounce(server, &el, "service-unavailable", None).await,
            },
            None => iq::to_account(server, el, bare).await,
        },
    }
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
