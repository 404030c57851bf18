//! XEP-0030 service discovery for the server and for accounts.

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use crate::core::hooks::Identity;
use crate::core::{iq, Addressee, Ctx, Hooks};
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// disco#info and #items of the server and of accounts (one's own, or
/// another's, answered by the server on its behalf). The features listed
/// are those of the hook table.
pub fn register(hooks: &mut Hooks) {
    hooks.identity(
        Addressee::Host,
        Identity {
            category: "server",
            kind: "im",
            name: Some("Whassap"),
        },
    );
    hooks.identity(
        Addressee::Account,
        Identity {
            category: "account",
            kind: "registered",
            name: None,
        },
    );
    hooks.iq(Addressee::Host, "query", ns::DISCO_INFO, server_info);
    hooks.iq(Addressee::Host, "query", ns::DISCO_ITEMS, server_items);
    for to in [Addressee::Own, Addressee::Account] {
        hooks.iq(to, "query", ns::DISCO_INFO, account_info);
        hooks.iq(to, "query", ns::DISCO_ITEMS, account_items);
    }
}

/// A disco#info query of `addressee`'s identities and features, as the
/// hook table lists them.
pub fn info(server: &Server, addressee: Addressee) -> Element {
    let mut q = Element::bare("query", ns::DISCO_INFO);
    for id in server.hooks.identities(addressee) {
        let mut el = element(
            "identity",
            ns::DISCO_INFO,
            &[("category", id.category), ("type", id.kind)],
        );
        if let Some(name) = id.name {
            stanza::set_attr(&mut el, "name", name);
        }
        q.append_child(el);
    }
    for f in server.hooks.features(addressee) {
        q.append_child(element("feature", ns::DISCO_INFO, &[("var", &f)]));
    }
    q
}

/// The error for a disco request these handlers do not answer: not a
/// `get`, or about a node (the server and accounts have none of their own;
/// PEP nodes are the PubSub handlers').
fn refuse(iq: &Element) -> Option<Element> {
    if stanza_type(iq) != "get" {
        return Some(stanza::error(iq, "bad-request"));
    }
    let node_given = iq.children().next().and_then(|q| q.attr("node")).is_some();
    node_given.then(|| stanza::error(iq, "item-not-found"))
}

/// A disco#info result for `addressee`.
fn info_result(ctx: &Ctx, iq: &Element, addressee: Addressee) -> Element {
    match refuse(iq) {
        Some(refused) => refused,
        None => stanza::iq_result(iq, Some(info(&ctx.server, addressee))),
    }
}

/// disco#info of the server.
pub fn server_info(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move { Some(info_result(&ctx, &iq, Addressee::Host)) })
}

/// disco#items of the server: the PubSub service.
pub fn server_items(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if let Some(refused) = refuse(&iq) {
            return Some(refused);
        }
        let mut q = Element::bare("query", ns::DISCO_ITEMS);
        q.append_child(element(
            "item",
            ns::DISCO_ITEMS,
            &[
                ("jid", &crate::pubsub::service_jid(&ctx.server)),
                ("name", "Whassap PubSub"),
            ],
        ));
        Some(stanza::iq_result(&iq, Some(q)))
    })
}

/// disco#info of an account: the same for its owner and for others.
pub fn account_info(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move { Some(info_result(&ctx, &iq, Addressee::Account)) })
}

/// disco#items of an account: the PEP nodes the requester may see.
pub fn account_items(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if let Some(refused) = refuse(&iq) {
            return Some(refused);
        }
        let bare = iq::account_of(&ctx, &iq);
        let requester = iq
            .attr("from")
            .map(crate::core::router::bare_of)
            .unwrap_or(&bare)
            .to_string();
        let items = crate::pubsub::disco::node_items(&ctx.server, &bare, &requester).await;
        Some(stanza::iq_result(&iq, Some(items)))
    })
}
