//! Publishing, retracting and retrieving items (XEP-0060 §7.1, §7.2,
//! §6.5), and the publish path every item takes, from a client or from the
//! server itself.

use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::{ItemsPage, StoredItem};

use super::handlers::{
    pubsub_payload, truthy, Outcome, Request, DEFAULT_PAGE, MAX_ITEMS_PER_REQUEST,
};
use super::notify::{self, Notification};
use super::{check_access, is_pep, pep, read, service_jid, Affiliation, PsError};
use crate::stanza::{self, element};
use crate::Server;

impl Request<'_> {
    pub(super) async fn publish(&self, name: &str, op: &Element, pubsub: &Element) -> Outcome {
        let items: Vec<&Element> = op.children().filter(|c| c.is("item", ns::PUBSUB)).collect();
        let [item] = items.as_slice() else {
            return Err(PsError::app("bad-request", "item-required").kind("modify"));
        };
        let payloads: Vec<&Element> = item.children().collect();
        let [payload] = payloads.as_slice() else {
            let app = if payloads.is_empty() {
                "payload-required"
            } else {
                "invalid-payload"
            };
            return Err(PsError::app("bad-request", app).kind("modify"));
        };
        if is_pep(self.service) && name == ns::MICROBLOG && !payload.is("entry", ns::ATOM) {
            return Err(PsError::app("bad-request", "invalid-payload")
                .kind("modify")
                .text("items of the microblog node are Atom entries"));
        }
        let options = pubsub
            .get_child("publish-options", ns::PUBSUB)
            .and_then(|o| o.get_child("x", ns::DATA_FORMS));
        let node = match self
            .server
            .pubsub
            .node(self.server, self.service, name)
            .await?
        {
            Some(node) => {
                if let Some(x) = options {
                    if let Some(field) = read(&node, |n| n.config.unmet_precondition(x)) {
                        return Err(PsError::app("conflict", "precondition-not-met")
                            .kind("cancel")
                            .text(format!("Field does not match: {field}")));
                    }
                }
                node
            }
            None if self.is_service_owner() => {
                let mut config = self.default_config(name);
                if let Some(x) = options {
                    config
                        .apply_form(x)
                        .map_err(|t| PsError::new("not-acceptable").text(t))?;
                }
                self.server
                    .pubsub
                    .check_quota(self.server, self.requester)
                    .await?;
                self.server
                    .pubsub
                    .create(self.server, self.service, name, config, self.requester)
                    .await?;
                self.node(name).await?
            }
            None => return Err(PsError::new("item-not-found")),
        };
        let affiliation = self.affiliation(&node);
        let (publish_model, subscribed) = read(&node, |n| {
            (
                n.config.publish_model,
                n.is_subscribed(self.requester) || n.is_subscribed(self.from),
            )
        });
        let allowed = match affiliation {
            Affiliation::Owner | Affiliation::Publisher | Affiliation::PublishOnly => true,
            Affiliation::Outcast => false,
            _ if is_pep(self.service) => false,
            _ => match publish_model {
                super::config::PublishModel::Open => true,
                super::config::PublishModel::Subscribers => subscribed,
                super::config::PublishModel::Publishers => false,
            },
        };
        if !allowed {
            return Err(PsError::new("forbidden"));
        }
        if is_pep(self.service) && name == ns::MICROBLOG && self.is_service_owner() {
            return self.post_status(name, item.attr("id"), payload).await;
        }
        let id = item
            .attr("id")
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(stanza::random_id);
        let stored = StoredItem {
            seq: 0,
            id: id.clone(),
            publisher: self.requester.to_string(),
            payload: String::from_utf8_lossy(&whassap_xml::to_bytes(payload)).into_owned(),
            published_at: stanza::now_stamp(),
        };
        publish_item(self.server, self.service, name, &node, &stored).await?;
        let payload = pubsub_payload(ns::PUBSUB, {
            let mut p = element("publish", ns::PUBSUB, &[("node", name)]);
            p.append_child(element("item", ns::PUBSUB, &[("id", &id)]));
            p
        });
        Ok((Some(payload), None))
    }

    /// A client published an Atom entry to its own microblog node: that is
    /// a status (source `xmpp`), through the status pipeline, which stores
    /// the canonical entry under the client's item id or the status id.
    /// Publishing over the item of a live status replaces it, as XEP-0060
    /// replaces items: that status is deleted (retracted everywhere) and
    /// the new one posted.
    async fn post_status(&self, name: &str, item_id: Option<&str>, payload: &Element) -> Outcome {
        let text = crate::statuses::entry_text(payload).unwrap_or_default();
        // A bad entry changes nothing, not even the status it would replace.
        crate::statuses::validate(&text)?;
        let author = self.service.split('@').next().unwrap_or(self.service);
        let item_id = item_id.filter(|i| !i.is_empty());
        if let Some(id) = item_id {
            if let Some(old) = self.server.store.status_by_item(author, id).await? {
                crate::statuses::delete(self.server, author, &old.id).await?;
            }
        }
        let status = crate::statuses::post(
            self.server,
            author,
            &text,
            crate::statuses::Source::Xmpp,
            item_id,
        )
        .await?;
        let payload = pubsub_payload(ns::PUBSUB, {
            let mut p = element("publish", ns::PUBSUB, &[("node", name)]);
            p.append_child(element("item", ns::PUBSUB, &[("id", &status.item_id)]));
            p
        });
        Ok((Some(payload), None))
    }

    pub(super) async fn retract(&self, name: &str, op: &Element) -> Outcome {
        if is_pep(self.service) && name == ns::MICROBLOG && self.is_service_owner() {
            // Retracting the item of a status deletes the status everywhere.
            let id = op
                .get_child("item", ns::PUBSUB)
                .and_then(|i| i.attr("id"))
                .unwrap_or_default();
            let author = self.service.split('@').next().unwrap_or(self.service);
            if let Some(status) = self.server.store.status_by_item(author, id).await? {
                crate::statuses::delete(self.server, author, &status.id).await?;
                return Ok((None, None));
            }
        }
        let node = self.node(name).await?;
        if !matches!(
            self.affiliation(&node),
            Affiliation::Owner | Affiliation::Publisher | Affiliation::PublishOnly
        ) {
            return Err(PsError::new("forbidden"));
        }
        let Some(id) = op
            .get_child("item", ns::PUBSUB)
            .and_then(|i| i.attr("id"))
            .filter(|i| !i.is_empty())
        else {
            return Err(PsError::app("bad-request", "item-required").kind("modify"));
        };
        if !self
            .server
            .store
            .pubsub_retract(self.service, name, id)
            .await?
        {
            return Err(PsError::new("item-not-found"));
        }
        let notify = match op.attr("notify") {
            Some(v) => truthy(Some(v)),
            None => read(&node, |n| n.config.notify_retract),
        };
        if notify {
            let event = notify::items_event(
                name,
                vec![element("retract", ns::PUBSUB_EVENT, &[("id", id)])],
            );
            broadcast(self.server, self.service, name, &node, event).await;
        }
        Ok((None, None))
    }

    pub(super) async fn items(&self, name: &str, op: &Element, pubsub: &Element) -> Outcome {
        let node = self.node(name).await?;
        check_access(self.server, self.service, &node, self.requester).await?;
        let store = &self.server.store;
        let ids: Vec<String> = op
            .children()
            .filter(|c| c.is("item", ns::PUBSUB))
            .filter_map(|c| c.attr("id").map(str::to_owned))
            .collect();
        let rsm = pubsub.get_child("set", ns::RSM);
        let mut set = None;
        let items = if !ids.is_empty() {
            store.pubsub_items_by_id(self.service, name, &ids).await?
        } else if let Some(rsm) = rsm {
            let max = rsm
                .get_child("max", ns::RSM)
                .and_then(|m| m.text().trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_PAGE)
                .min(MAX_ITEMS_PER_REQUEST);
            let page = match (
                rsm.get_child("before", ns::RSM).map(|b| b.text()),
                rsm.get_child("after", ns::RSM).map(|a| a.text()),
            ) {
                (Some(b), _) if !b.is_empty() => ItemsPage::Before(self.seq_of(name, &b).await?),
                (_, Some(a)) if !a.is_empty() => ItemsPage::After(self.seq_of(name, &a).await?),
                _ => ItemsPage::Newest,
            };
            let items = store.pubsub_items(self.service, name, page, max).await?;
            let count = store.pubsub_item_count(self.service, name).await?;
            let mut s = Element::bare("set", ns::RSM);
            if let (Some(first), Some(last)) = (items.first(), items.last()) {
                let index = store
                    .pubsub_items_before(self.service, name, first.seq)
                    .await?;
                let mut f = element("first", ns::RSM, &[("index", &index.to_string())]);
                f.append_text(&first.id);
                s.append_child(f);
                s.append_child(stanza::text_element("last", ns::RSM, &last.id));
            }
            s.append_child(stanza::text_element("count", ns::RSM, &count.to_string()));
            set = Some(s);
            items
        } else {
            let max = op
                .attr("max_items")
                .and_then(|m| m.parse::<u64>().ok())
                .unwrap_or(MAX_ITEMS_PER_REQUEST)
                .min(MAX_ITEMS_PER_REQUEST);
            store
                .pubsub_items(self.service, name, ItemsPage::Newest, max)
                .await?
        };
        let (config, owner) = read(&node, |n| {
            (
                n.config.clone(),
                n.owners().next().unwrap_or(self.service).to_string(),
            )
        });
        let mut items_el = element("items", ns::PUBSUB, &[("node", name)]);
        for item in &items {
            let publisher = notify::publisher_attr(self.service, &config, &owner, &item.publisher);
            items_el.append_child(notify::item_element(ns::PUBSUB, item, publisher, true));
        }
        let mut payload = pubsub_payload(ns::PUBSUB, items_el);
        if let Some(s) = set {
            payload.append_child(s);
        }
        Ok((Some(payload), None))
    }

    pub(super) async fn seq_of(&self, name: &str, id: &str) -> Result<i64, PsError> {
        self.server
            .store
            .pubsub_items_by_id(self.service, name, &[id.to_string()])
            .await?
            .first()
            .map(|i| i.seq)
            .ok_or_else(|| PsError::new("item-not-found"))
    }
}

/// Store an item (when the node persists items) and notify: what every
/// publish does, from a client or from the server itself (the firehose).
/// The item is on disk before anyone is told of it.
pub async fn publish_item(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &super::SharedNode,
    item: &StoredItem,
) -> Result<(), PsError> {
    let (persist, max_items) = read(node, |n| (n.config.persist_items, n.config.max_items));
    if persist {
        server
            .store
            .pubsub_publish(service, name, item, max_items.limit())
            .await?;
    }
    notify_published(server, service, name, node, item).await;
    Ok(())
}

/// Tell the node's subscribers (and, on PEP, interested contacts) of an
/// item already stored (or not kept, for a transient node). Returns how
/// many sessions were sent the notification.
pub async fn notify_published(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &super::SharedNode,
    item: &StoredItem,
) -> usize {
    let (config, owner) = read(node, |n| {
        (
            n.config.clone(),
            n.owners().next().unwrap_or(service).to_string(),
        )
    });
    if config.deliver_notifications {
        let publisher = notify::publisher_attr(service, &config, &owner, &item.publisher);
        let event = notify::items_event(
            name,
            vec![notify::item_element(
                ns::PUBSUB_EVENT,
                item,
                publisher,
                config.deliver_payloads,
            )],
        );
        broadcast(server, service, name, node, event).await
    } else {
        0
    }
}

/// Tell the node's subscribers of a retracted item, if the node notifies
/// retractions.
pub async fn notify_retracted(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &super::SharedNode,
    id: &str,
) {
    if read(node, |n| n.config.notify_retract) {
        let event = notify::items_event(
            name,
            vec![element("retract", ns::PUBSUB_EVENT, &[("id", id)])],
        );
        broadcast(server, service, name, node, event).await;
    }
}

/// Send an event to the node's subscribers and, on PEP, to interested
/// contacts; how many recipients it went to (local sessions, and remote
/// subscribers it was routed to).
pub(super) async fn broadcast(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &super::SharedNode,
    event: Element,
) -> usize {
    let kind = read(node, |n| n.config.notification_type.clone());
    let (extra, extra_remote) = if is_pep(service) {
        (
            pep::interested_sessions(server, service, name, node).await,
            pep::interested_remote(server, service, name, node).await,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let note = Notification::new(service, &kind, event);
    let out = notify::fan_out(server, node, &note, &extra);
    let n = out.delivered + out.remote.len() + extra_remote.len();
    let remote = out
        .remote
        .into_iter()
        .chain(extra_remote.iter().map(|full| note.addressed(full, &[])));
    for stanza in remote {
        crate::core::router::route(server.clone(), stanza).await;
    }
    tracing::trace!(%service, node = %name, recipients = n, "event delivered");
    n
}

/// Publish an item on the PubSub service as the server (the firehose).
pub async fn publish_as_server(
    server: &Arc<Server>,
    name: &str,
    id: &str,
    payload: &Element,
) -> Result<(), PsError> {
    let service = service_jid(server);
    let node = server
        .pubsub
        .node(server, &service, name)
        .await?
        .ok_or_else(|| PsError::new("item-not-found"))?;
    let item = StoredItem {
        seq: 0,
        id: id.to_string(),
        publisher: server.config.domain.clone(),
        payload: String::from_utf8_lossy(&whassap_xml::to_bytes(payload)).into_owned(),
        published_at: stanza::now_stamp(),
    };
    publish_item(server, &service, name, &node, &item).await
}
