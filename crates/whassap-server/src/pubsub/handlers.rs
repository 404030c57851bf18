//! XEP-0060 requests: the entity use cases (§6, §7) in the `pubsub`
//! namespace and the owner use cases (§8) in `pubsub#owner`, for the PubSub
//! service and for PEP services alike.

use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::{ItemsPage, StoredItem, StoredSubscription};

use super::config::{MaxItems, NodeConfig, SendLast};
use super::notify::{self, Notification};
use super::{check_access, is_pep, pep, read, service_jid, write, Affiliation, PsError, Sub};
use crate::router::bare_of;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// Items returned at most by one retrieval without result set management.
const MAX_ITEMS_PER_REQUEST: u64 = 1000;
/// Items per page when a result set asks for none in particular.
const DEFAULT_PAGE: u64 = 20;

/// Something to do once the reply has been sent.
pub enum AfterReply {
    /// Send a node's last item to a new subscriber.
    SendLast {
        /// The service.
        service: String,
        /// The node.
        node: String,
        /// The subscribed JID.
        to: String,
    },
}

impl AfterReply {
    /// Do it.
    pub async fn run(self, server: &Arc<Server>) {
        match self {
            AfterReply::SendLast { service, node, to } => {
                pep::send_last_item_to_jid(server, &service, &node, &to).await
            }
        }
    }
}

type Outcome = Result<(Option<Element>, Option<AfterReply>), PsError>;

/// Answer a pubsub IQ (`get`/`set`) from `from` to `service`.
pub async fn handle(
    server: &Arc<Server>,
    service: &str,
    from: &str,
    iq: &Element,
) -> (Element, Option<AfterReply>) {
    match dispatch(server, service, from, iq).await {
        Ok((payload, after)) => (stanza::iq_result(iq, payload), after),
        Err(e) => (e.reply(iq), None),
    }
}

async fn dispatch(server: &Arc<Server>, service: &str, from: &str, iq: &Element) -> Outcome {
    let Some(pubsub) = iq.children().next() else {
        return Err(PsError::new("bad-request"));
    };
    let owner_ns = pubsub.is("pubsub", ns::PUBSUB_OWNER);
    if !owner_ns && !pubsub.is("pubsub", ns::PUBSUB) {
        return Err(PsError::new("service-unavailable"));
    }
    let Some(op) = pubsub.children().next() else {
        return Err(PsError::new("bad-request"));
    };
    let requester = bare_of(from);
    let node = op.attr("node");
    let set = stanza_type(iq) == "set";
    let r = Request {
        server,
        service,
        from,
        requester,
    };
    match (owner_ns, set, op.name()) {
        (false, true, "create") => r.create(node, pubsub).await,
        (false, true, "subscribe") => r.subscribe(need(node)?, op).await,
        (false, true, "unsubscribe") => r.unsubscribe(need(node)?, op).await,
        (false, true, "publish") => r.publish(need(node)?, op, pubsub).await,
        (false, true, "retract") => r.retract(need(node)?, op).await,
        (false, false, "items") => r.items(need(node)?, op, pubsub).await,
        (false, false, "subscriptions") => r.own_subscriptions(node).await,
        (false, false, "affiliations") => r.own_affiliations(node).await,
        (false, _, "options") => Err(PsError::app("feature-not-implemented", "unsupported")),
        (true, false, "configure") => r.configure_get(need(node)?).await,
        (true, true, "configure") => r.configure_set(need(node)?, op).await,
        (true, false, "default") => Ok((Some(r.default_form()), None)),
        (true, true, "delete") => r.delete(need(node)?).await,
        (true, true, "purge") => r.purge(need(node)?).await,
        (true, false, "affiliations") => r.affiliations_get(need(node)?).await,
        (true, true, "affiliations") => r.affiliations_set(need(node)?, op).await,
        (true, false, "subscriptions") => r.subscriptions_get(need(node)?).await,
        (true, true, "subscriptions") => r.subscriptions_set(need(node)?, op).await,
        _ => Err(PsError::new("feature-not-implemented")),
    }
}

fn need(node: Option<&str>) -> Result<&str, PsError> {
    node.filter(|n| !n.is_empty())
        .ok_or_else(|| PsError::app("bad-request", "nodeid-required").kind("modify"))
}

fn pubsub_payload(namespace: &str, child: Element) -> Element {
    let mut p = Element::bare("pubsub", namespace);
    p.append_child(child);
    p
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true"))
}

struct Request<'a> {
    server: &'a Arc<Server>,
    service: &'a str,
    from: &'a str,
    requester: &'a str,
}

impl Request<'_> {
    async fn node(&self, name: &str) -> Result<super::SharedNode, PsError> {
        self.server
            .pubsub
            .node(self.server, self.service, name)
            .await?
            .ok_or_else(|| PsError::new("item-not-found"))
    }

    fn is_service_owner(&self) -> bool {
        is_pep(self.service) && self.requester == self.service
    }

    fn affiliation(&self, node: &super::SharedNode) -> Affiliation {
        if self.is_service_owner() {
            return Affiliation::Owner;
        }
        read(node, |n| n.affiliation(self.requester))
    }

    fn require_owner(&self, node: &super::SharedNode) -> Result<(), PsError> {
        if self.affiliation(node) == Affiliation::Owner {
            Ok(())
        } else {
            Err(PsError::new("forbidden"))
        }
    }

    fn default_config(&self, node: &str) -> NodeConfig {
        if is_pep(self.service) {
            NodeConfig::pep_default(node)
        } else {
            NodeConfig::service_default()
        }
    }

    fn may_create(&self) -> bool {
        if is_pep(self.service) {
            return self.is_service_owner();
        }
        let config = &self.server.config;
        let local = self
            .requester
            .split_once('@')
            .is_some_and(|(_, d)| d == config.domain);
        match config.pubsub_create {
            crate::config::PubsubCreate::Local => local,
            crate::config::PubsubCreate::Admins => {
                local && config.admins.iter().any(|a| a == self.requester)
            }
        }
    }

    async fn create(&self, node: Option<&str>, pubsub: &Element) -> Outcome {
        if !self.may_create() {
            return Err(PsError::new("forbidden"));
        }
        let instant = node.is_none_or(str::is_empty);
        if instant && is_pep(self.service) {
            return Err(PsError::app("not-acceptable", "nodeid-required"));
        }
        let name = match node {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => stanza::random_id(),
        };
        let mut config = self.default_config(&name);
        if let Some(x) = pubsub
            .get_child("configure", ns::PUBSUB)
            .and_then(|c| c.get_child("x", ns::DATA_FORMS))
        {
            config
                .apply_form(x)
                .map_err(|t| PsError::new("not-acceptable").text(t))?;
        }
        let created = self
            .server
            .pubsub
            .create(self.server, self.service, &name, config, self.requester)
            .await?;
        if !created {
            return Err(PsError::new("conflict"));
        }
        tracing::debug!(service = %self.service, node = %name, "node created");
        let payload = instant.then(|| {
            pubsub_payload(
                ns::PUBSUB,
                element("create", ns::PUBSUB, &[("node", &name)]),
            )
        });
        Ok((payload, None))
    }

    async fn subscribe(&self, name: &str, op: &Element) -> Outcome {
        let jid = op.attr("jid").unwrap_or(self.from).to_string();
        if bare_of(&jid) != self.requester {
            return Err(PsError::app("bad-request", "invalid-jid").kind("modify"));
        }
        let node = self.node(name).await?;
        let authorize = read(&node, |n| {
            n.config.access_model == super::config::AccessModel::Authorize
        });
        let affiliation = self.affiliation(&node);
        let state = if authorize && affiliation < Affiliation::Member {
            if affiliation == Affiliation::Outcast {
                return Err(PsError::new("forbidden"));
            }
            "pending"
        } else {
            check_access(self.server, self.service, &node, self.requester).await?;
            "subscribed"
        };
        let existing = read(&node, |n| n.subscriptions.get(&jid).cloned());
        let sub = match existing.and_then(|subs| subs.into_iter().next()) {
            Some(sub) => sub,
            None => {
                let sub = Sub {
                    subid: stanza::random_id(),
                    state: state.to_string(),
                };
                self.server
                    .store
                    .pubsub_put_subscription(
                        self.service,
                        name,
                        &StoredSubscription {
                            jid: jid.clone(),
                            subid: sub.subid.clone(),
                            state: sub.state.clone(),
                        },
                    )
                    .await?;
                write(&node, |n| {
                    n.subscriptions
                        .entry(jid.clone())
                        .or_default()
                        .push(sub.clone())
                });
                sub
            }
        };
        let send_last = read(&node, |n| n.config.send_last_published_item) != SendLast::Never;
        let payload = pubsub_payload(
            ns::PUBSUB,
            element(
                "subscription",
                ns::PUBSUB,
                &[("jid", &jid), ("node", name), ("subscription", &sub.state)],
            ),
        );
        let after = (send_last && sub.state == "subscribed").then(|| AfterReply::SendLast {
            service: self.service.to_string(),
            node: name.to_string(),
            to: jid.clone(),
        });
        Ok((Some(payload), after))
    }

    async fn unsubscribe(&self, name: &str, op: &Element) -> Outcome {
        let jid = op.attr("jid").unwrap_or(self.from).to_string();
        let node = self.node(name).await?;
        if bare_of(&jid) != self.requester && self.affiliation(&node) != Affiliation::Owner {
            return Err(PsError::new("forbidden"));
        }
        let subs = read(&node, |n| n.subscriptions.get(&jid).cloned()).unwrap_or_default();
        if subs.is_empty() {
            return Err(PsError::app("unexpected-request", "not-subscribed").kind("cancel"));
        }
        let subid = op.attr("subid");
        if subs.len() > 1 && subid.is_none() {
            return Err(PsError::app("bad-request", "subid-required").kind("modify"));
        }
        if let Some(id) = subid {
            if !subs.iter().any(|s| s.subid == id) {
                return Err(PsError::app("not-acceptable", "invalid-subid").kind("modify"));
            }
        }
        self.server
            .store
            .pubsub_remove_subscription(self.service, name, &jid, subid)
            .await?;
        write(&node, |n| match subid {
            Some(id) => {
                if let Some(v) = n.subscriptions.get_mut(&jid) {
                    v.retain(|s| s.subid != id);
                    if v.is_empty() {
                        n.subscriptions.remove(&jid);
                    }
                }
            }
            None => {
                n.subscriptions.remove(&jid);
            }
        });
        let payload = pubsub_payload(
            ns::PUBSUB,
            element(
                "subscription",
                ns::PUBSUB,
                &[("jid", &jid), ("node", name), ("subscription", "none")],
            ),
        );
        Ok((Some(payload), None))
    }

    async fn publish(&self, name: &str, op: &Element, pubsub: &Element) -> Outcome {
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

    async fn retract(&self, name: &str, op: &Element) -> Outcome {
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
        let notify_retract = read(&node, |n| n.config.notify_retract);
        let notify = match op.attr("notify") {
            Some(v) => truthy(Some(v)),
            None => notify_retract,
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

    async fn items(&self, name: &str, op: &Element, pubsub: &Element) -> Outcome {
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

    async fn seq_of(&self, name: &str, id: &str) -> Result<i64, PsError> {
        self.server
            .store
            .pubsub_items_by_id(self.service, name, &[id.to_string()])
            .await?
            .first()
            .map(|i| i.seq)
            .ok_or_else(|| PsError::new("item-not-found"))
    }

    /// Names of the service's nodes (or just `node`).
    async fn node_names(&self, node: Option<&str>) -> Result<Vec<String>, PsError> {
        Ok(match node {
            Some(n) => vec![n.to_string()],
            None => self
                .server
                .store
                .pubsub_nodes(self.service)
                .await?
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
        })
    }

    async fn own_subscriptions(&self, only: Option<&str>) -> Outcome {
        let mut list = Element::bare("subscriptions", ns::PUBSUB);
        for name in self.node_names(only).await? {
            let Ok(node) = self.node(&name).await else {
                continue;
            };
            read(&node, |n| {
                for (jid, subs) in &n.subscriptions {
                    if bare_of(jid) != self.requester {
                        continue;
                    }
                    for s in subs {
                        list.append_child(element(
                            "subscription",
                            ns::PUBSUB,
                            &[
                                ("node", &name),
                                ("jid", jid),
                                ("subscription", &s.state),
                                ("subid", &s.subid),
                            ],
                        ));
                    }
                }
            });
        }
        Ok((Some(pubsub_payload(ns::PUBSUB, list)), None))
    }

    async fn own_affiliations(&self, only: Option<&str>) -> Outcome {
        let mut list = Element::bare("affiliations", ns::PUBSUB);
        for name in self.node_names(only).await? {
            let Ok(node) = self.node(&name).await else {
                continue;
            };
            let a = self.affiliation(&node);
            if a != Affiliation::None {
                list.append_child(element(
                    "affiliation",
                    ns::PUBSUB,
                    &[("node", &name), ("affiliation", a.as_str())],
                ));
            }
        }
        Ok((Some(pubsub_payload(ns::PUBSUB, list)), None))
    }

    async fn configure_get(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let form = read(&node, |n| n.config.to_form());
        let mut configure = element("configure", ns::PUBSUB_OWNER, &[("node", name)]);
        configure.append_child(form);
        Ok((Some(pubsub_payload(ns::PUBSUB_OWNER, configure)), None))
    }

    async fn configure_set(&self, name: &str, op: &Element) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let Some(x) = op.get_child("x", ns::DATA_FORMS) else {
            return Err(PsError::new("bad-request"));
        };
        if x.attr("type") == Some("cancel") {
            return Ok((None, None));
        }
        let mut config = read(&node, |n| n.config.clone());
        config
            .apply_form(x)
            .map_err(|t| PsError::new("not-acceptable").text(t))?;
        self.server
            .store
            .pubsub_set_config(self.service, name, &config.to_json())
            .await?;
        if let MaxItems::Count(n) = config.max_items {
            self.server.store.pubsub_trim(self.service, name, n).await?;
        }
        write(&node, |n| n.config = config);
        Ok((None, None))
    }

    fn default_form(&self) -> Element {
        let mut default = Element::bare("default", ns::PUBSUB_OWNER);
        default.append_child(self.default_config("").to_form());
        pubsub_payload(ns::PUBSUB_OWNER, default)
    }

    async fn delete(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        if read(&node, |n| n.config.notify_delete) {
            let event = notify::node_event("delete", name);
            broadcast(self.server, self.service, name, &node, event).await;
        }
        self.server
            .store
            .pubsub_delete_node(self.service, name)
            .await?;
        self.server.pubsub.forget(self.service, name);
        Ok((None, None))
    }

    async fn purge(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        self.server.store.pubsub_purge(self.service, name).await?;
        let event = notify::node_event("purge", name);
        broadcast(self.server, self.service, name, &node, event).await;
        Ok((None, None))
    }

    async fn affiliations_get(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let mut list = element("affiliations", ns::PUBSUB_OWNER, &[("node", name)]);
        let mut affs: Vec<(String, Affiliation)> = read(&node, |n| {
            n.affiliations
                .iter()
                .map(|(j, a)| (j.clone(), *a))
                .collect()
        });
        affs.sort();
        for (jid, a) in affs {
            list.append_child(element(
                "affiliation",
                ns::PUBSUB_OWNER,
                &[("affiliation", a.as_str()), ("jid", &jid)],
            ));
        }
        Ok((Some(pubsub_payload(ns::PUBSUB_OWNER, list)), None))
    }

    async fn affiliations_set(&self, name: &str, op: &Element) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let mut changes = Vec::new();
        for a in op.children().filter(|c| c.name() == "affiliation") {
            let (Some(jid), Some(aff)) = (
                a.attr("jid").and_then(|j| jid::BareJid::new(j).ok()),
                a.attr("affiliation").and_then(Affiliation::parse),
            ) else {
                return Err(PsError::new("bad-request"));
            };
            let jid = jid.to_string();
            if jid == self.requester && aff != Affiliation::Owner {
                return Err(PsError::new("not-acceptable").text("an owner cannot demote itself"));
            }
            changes.push((jid, aff));
        }
        for (jid, aff) in changes {
            let stored = (aff != Affiliation::None).then_some(aff.as_str());
            self.server
                .store
                .pubsub_set_affiliation(self.service, name, &jid, stored)
                .await?;
            write(&node, |n| {
                if aff == Affiliation::None {
                    n.affiliations.remove(&jid);
                } else {
                    n.affiliations.insert(jid.clone(), aff);
                }
            });
        }
        Ok((None, None))
    }

    async fn subscriptions_get(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let mut list = element("subscriptions", ns::PUBSUB_OWNER, &[("node", name)]);
        read(&node, |n| {
            for (jid, subs) in &n.subscriptions {
                for s in subs {
                    list.append_child(element(
                        "subscription",
                        ns::PUBSUB_OWNER,
                        &[
                            ("jid", jid),
                            ("subscription", &s.state),
                            ("subid", &s.subid),
                        ],
                    ));
                }
            }
        });
        Ok((Some(pubsub_payload(ns::PUBSUB_OWNER, list)), None))
    }

    async fn subscriptions_set(&self, name: &str, op: &Element) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        for s in op.children().filter(|c| c.name() == "subscription") {
            let (Some(jid), Some(state)) = (
                s.attr("jid").and_then(|j| jid::Jid::new(j).ok()),
                s.attr("subscription"),
            ) else {
                return Err(PsError::new("bad-request"));
            };
            let jid = jid.to_string();
            match state {
                "none" => {
                    self.server
                        .store
                        .pubsub_remove_subscription(self.service, name, &jid, s.attr("subid"))
                        .await?;
                    write(&node, |n| n.subscriptions.remove(&jid));
                }
                "subscribed" | "pending" => {
                    let existing = read(&node, |n| {
                        n.subscriptions
                            .get(&jid)
                            .and_then(|v| v.first().map(|s| s.subid.clone()))
                    });
                    let sub = Sub {
                        subid: existing.unwrap_or_else(stanza::random_id),
                        state: state.to_string(),
                    };
                    self.server
                        .store
                        .pubsub_put_subscription(
                            self.service,
                            name,
                            &StoredSubscription {
                                jid: jid.clone(),
                                subid: sub.subid.clone(),
                                state: sub.state.clone(),
                            },
                        )
                        .await?;
                    write(&node, |n| {
                        let v = n.subscriptions.entry(jid.clone()).or_default();
                        v.retain(|s| s.subid != sub.subid);
                        v.push(sub);
                    });
                }
                _ => return Err(PsError::new("bad-request")),
            }
        }
        Ok((None, None))
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
    let (config, owner) = read(node, |n| {
        (
            n.config.clone(),
            n.owners().next().unwrap_or(service).to_string(),
        )
    });
    if config.persist_items {
        server
            .store
            .pubsub_publish(service, name, item, config.max_items.limit())
            .await?;
    }
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
        broadcast(server, service, name, node, event).await;
    }
    Ok(())
}

/// Send an event to the node's subscribers and, on PEP, to interested contacts.
async fn broadcast(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &super::SharedNode,
    event: Element,
) {
    let kind = read(node, |n| n.config.notification_type.clone());
    let extra = if is_pep(service) {
        pep::interested_sessions(server, service, name, node).await
    } else {
        Vec::new()
    };
    let note = Notification::new(service, &kind, event);
    let n = notify::fan_out(server, node, &note, &extra);
    tracing::trace!(%service, node = %name, recipients = n, "event delivered");
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
