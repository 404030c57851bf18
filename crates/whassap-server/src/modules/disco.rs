//! XEP-0030 service discovery for the server and for accounts.

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;

use crate::c2s::Ctx;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// Features the server itself announces.
fn server_features(server: &Server) -> Vec<&'static str> {
    let mut f = vec![
        ns::DISCO_INFO,
        ns::DISCO_ITEMS,
        "urn:xmpp:ping",
        "jabber:iq:version",
        "jabber:iq:roster",
        "urn:xmpp:blocking",
        "msgoffline",
        "http://jabber.org/protocol/caps",
        "urn:xmpp:delay",
    ];
    if server.config.xmpp_registration {
        f.push("jabber:iq:register");
    }
    f.sort_unstable();
    f
}

fn info(identity: (&str, &str, Option<&str>), features: &[&str]) -> Element {
    let mut q = Element::bare("query", ns::DISCO_INFO);
    let mut id = element(
        "identity",
        ns::DISCO_INFO,
        &[("category", identity.0), ("type", identity.1)],
    );
    if let Some(name) = identity.2 {
        stanza::set_attr(&mut id, "name", name);
    }
    q.append_child(id);
    for f in features {
        q.append_child(element("feature", ns::DISCO_INFO, &[("var", f)]));
    }
    q
}

fn node_given(iq: &Element) -> bool {
    iq.children().next().and_then(|q| q.attr("node")).is_some()
}

/// disco#info of the server.
pub fn server_info(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if stanza_type(&iq) != "get" {
            return Some(stanza::error(&iq, "bad-request"));
        }
        if node_given(&iq) {
            return Some(stanza::error(&iq, "item-not-found"));
        }
        let q = info(
            ("server", "im", Some("Whassap")),
            &server_features(&ctx.server),
        );
        Some(stanza::iq_result(&iq, Some(q)))
    })
}

/// disco#items of the server: the PubSub service.
pub fn server_items(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        if stanza_type(&iq) != "get" {
            return Some(stanza::error(&iq, "bad-request"));
        }
        if node_given(&iq) {
            return Some(stanza::error(&iq, "item-not-found"));
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

const ACCOUNT_FEATURES: &[&str] = &[ns::DISCO_INFO, ns::DISCO_ITEMS];

fn account_info_reply(iq: &Element) -> Element {
    if stanza_type(iq) != "get" {
        return stanza::error(iq, "bad-request");
    }
    if node_given(iq) {
        return stanza::error(iq, "item-not-found");
    }
    let mut q = info(("account", "registered", None), ACCOUNT_FEATURES);
    crate::pubsub::disco::add_pep_info(&mut q);
    stanza::iq_result(iq, Some(q))
}

/// An account's disco#items: the PEP nodes the requester may see.
async fn account_items_reply(server: &Arc<Server>, bare: &str, iq: &Element) -> Element {
    if stanza_type(iq) != "get" {
        return stanza::error(iq, "bad-request");
    }
    if node_given(iq) {
        return stanza::error(iq, "item-not-found");
    }
    let requester = iq
        .attr("from")
        .map(crate::router::bare_of)
        .unwrap_or(bare)
        .to_string();
    let items = crate::pubsub::disco::node_items(server, bare, &requester).await;
    stanza::iq_result(iq, Some(items))
}

/// disco#info of the user's own account.
pub fn own_account_info(_ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move { Some(account_info_reply(&iq)) })
}

/// disco#items of the user's own account.
pub fn own_account_items(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let bare = ctx.session.bare.clone();
        Some(account_items_reply(&ctx.server, &bare, &iq).await)
    })
}

/// disco#info of another local account, answered by the server.
pub fn account_info(
    _server: Arc<Server>,
    _bare: String,
    iq: Element,
) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move { Some(account_info_reply(&iq)) })
}

/// disco#items of another local account: its PEP nodes.
pub fn account_items(
    server: Arc<Server>,
    bare: String,
    iq: Element,
) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move { Some(account_items_reply(&server, &bare, &iq).await) })
}
