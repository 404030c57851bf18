//! PubSub's entries in the hook table: XEP-0060 requests to the service and
//! to PEP services (one's own account or another's), the service's disco
//! and ping, what accounts announce for PEP, and the caps answers PEP asks
//! for.

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use super::{disco, handlers, pep};
use crate::core::hooks::Identity;
use crate::core::{iq, Addressee, Ctx, Flow, Hooks, Kind};
use crate::modules::ping;
use crate::stanza::stanza_type;

/// Register publish-subscribe and PEP.
pub fn register(hooks: &mut Hooks) {
    for to in [Addressee::Own, Addressee::Account, Addressee::Service] {
        // Announced in detail (`pubsub#…`) below and by the service.
        hooks.iq_unannounced(to, "pubsub", ns::PUBSUB, request);
        hooks.iq_unannounced(to, "pubsub", ns::PUBSUB_OWNER, request);
    }
    hooks.identity(
        Addressee::Service,
        Identity {
            category: "pubsub",
            kind: "service",
            name: Some("Whassap PubSub"),
        },
    );
    hooks.iq(Addressee::Service, "query", ns::DISCO_INFO, service_disco);
    hooks.iq(Addressee::Service, "query", ns::DISCO_ITEMS, service_disco);
    hooks.iq(Addressee::Service, "ping", ns::PING, ping::handle);
    for f in disco::features(false) {
        hooks.feature(Addressee::Service, f);
    }
    hooks.identity(
        Addressee::Account,
        Identity {
            category: "pubsub",
            kind: "pep",
            name: None,
        },
    );
    for f in disco::features(true) {
        hooks.feature(Addressee::Account, f);
    }
    for to in [Addressee::Own, Addressee::Account] {
        hooks.iq_answer(to, "query", ns::DISCO_INFO, caps_answer);
    }
    hooks.on_session_ended(pep::session_ended);
    hooks.stanza(Kind::Presence, Flow::Inbound, pep::inbound_presence);
}

/// A XEP-0060 request to the service or to an account's PEP service.
fn request(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let service = iq::account_of(&ctx, &iq);
        let from = iq.attr("from").unwrap_or_default().to_string();
        let (answer, after) = handlers::handle(&ctx.server, &service, &from, &iq).await;
        ctx.reply(answer).await;
        if let Some(a) = after {
            a.run(&ctx.server).await;
        }
        None
    })
}

/// disco#info and #items of the PubSub service and its nodes.
fn service_disco(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let requester = iq
            .attr("from")
            .map(crate::core::router::bare_of)
            .unwrap_or_default()
            .to_string();
        Some(disco::answer(&ctx.server, &iq, &requester).await)
    })
}

/// A disco#info result sent to a PEP service: maybe the caps it asked for.
fn caps_answer(ctx: Ctx, iq: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        if stanza_type(&iq) != "result" {
            return;
        }
        let service = iq::account_of(&ctx, &iq);
        if let Some(from) = iq.attr("from") {
            pep::caps_answer(&ctx.server, &service, from, &iq).await;
        }
    })
}
