//! XEP-0030 for publish-subscribe: the service's identity, features, nodes
//! and items (XEP-0060 §5), and what PEP adds to an account's disco.

use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::ItemsPage;

use super::{check_access, service_jid};
use crate::core::Addressee;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";

/// `pubsub#…` features of both services.
const FEATURES: &[&str] = &[
    "access-authorize",
    "access-open",
    "access-presence",
    "access-roster",
    "access-whitelist",
    "config-node",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "item-ids",
    "last-published",
    "manage-subscriptions",
    "member-affiliation",
    "modify-affiliations",
    "multi-items",
    "outcast-affiliation",
    "persistent-items",
    "publish",
    "publish-options",
    "publisher-affiliation",
    "purge-nodes",
    "retract-items",
    "retrieve-affiliations",
    "retrieve-default",
    "retrieve-items",
    "retrieve-subscriptions",
    "rsm",
    "subscribe",
];

/// Features PEP adds (XEP-0163 §6).
const PEP_FEATURES: &[&str] = &[
    "auto-create",
    "auto-subscribe",
    "filtered-notifications",
    "presence-notifications",
];

/// The features of a service, full names.
pub fn features(pep: bool) -> Vec<String> {
    let mut f: Vec<String> = FEATURES
        .iter()
        .chain(if pep { PEP_FEATURES } else { &[] })
        .map(|f| format!("{PUBSUB}#{f}"))
        .collect();
    f.push(PUBSUB.to_string());
    f.sort();
    f
}

/// The nodes of a service that `requester` may see, as disco#items.
pub async fn node_items(server: &Arc<Server>, service: &str, requester: &str) -> Element {
    let mut q = Element::bare("query", ns::DISCO_ITEMS);
    let nodes = server.store.pubsub_nodes(service).await.unwrap_or_default();
    for (name, _) in nodes {
        let Ok(Some(node)) = server.pubsub.node(server, service, &name).await else {
            continue;
        };
        if check_access(server, service, &node, requester)
            .await
            .is_err()
        {
            continue;
        }
        let title = super::read(&node, |n| n.config.title.clone());
        let mut item = element(
            "item",
            ns::DISCO_ITEMS,
            &[("jid", service), ("node", &name)],
        );
        if !title.is_empty() {
            stanza::set_attr(&mut item, "name", title);
        }
        q.append_child(item);
    }
    q
}

/// Answer a disco query to the PubSub service or one of its nodes.
pub async fn answer(server: &Arc<Server>, iq: &Element, requester: &str) -> Element {
    let Some(query) = iq.children().next() else {
        return stanza::error(iq, "bad-request");
    };
    if stanza_type(iq) != "get" {
        return stanza::error(iq, "service-unavailable");
    }
    let service = service_jid(server);
    let node = query.attr("node");
    if query.is("query", ns::DISCO_INFO) {
        let mut q = Element::bare("query", ns::DISCO_INFO);
        match node {
            None => {
                return stanza::iq_result(
                    iq,
                    Some(crate::modules::disco::info(server, Addressee::Service)),
                )
            }
            Some(name) => {
                if !matches!(
                    server.pubsub.node(server, &service, name).await,
                    Ok(Some(_))
                ) {
                    return stanza::error(iq, "item-not-found");
                }
                stanza::set_attr(&mut q, "node", name);
                q.append_child(element(
                    "identity",
                    ns::DISCO_INFO,
                    &[("category", "pubsub"), ("type", "leaf")],
                ));
                q.append_child(element("feature", ns::DISCO_INFO, &[("var", PUBSUB)]));
            }
        }
        return stanza::iq_result(iq, Some(q));
    }
    if query.is("query", ns::DISCO_ITEMS) {
        return match node {
            None => stanza::iq_result(iq, Some(node_items(server, &service, requester).await)),
            Some(name) => {
                let Ok(Some(n)) = server.pubsub.node(server, &service, name).await else {
                    return stanza::error(iq, "item-not-found");
                };
                if check_access(server, &service, &n, requester).await.is_err() {
                    return stanza::error(iq, "forbidden");
                }
                let mut q = element("query", ns::DISCO_ITEMS, &[("node", name)]);
                let items = server
                    .store
                    .pubsub_items(&service, name, ItemsPage::Newest, 1000)
                    .await
                    .unwrap_or_default();
                for i in items {
                    q.append_child(element(
                        "item",
                        ns::DISCO_ITEMS,
                        &[("jid", &service), ("name", &i.id)],
                    ));
                }
                stanza::iq_result(iq, Some(q))
            }
        };
    }
    stanza::error(iq, "service-unavailable")
}
