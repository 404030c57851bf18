//! XEP-0060 requests, for the PubSub service and for PEP services alike:
//! dispatch by namespace and element, node creation, subscriptions, and a
//! user's own subscriptions and affiliations. Items are in `items`, the
//! owner use cases (§8) in `owner`.

use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::StoredSubscription;

use super::config::{NodeConfig, SendLast};
use super::{check_access, is_pep, pep, read, write, Affiliation, PsError, Sub};
use crate::core::router::bare_of;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// Items returned at most by one retrieval without result set management.
pub(super) const MAX_ITEMS_PER_REQUEST: u64 = 1000;
/// Items per page when a result set asks for none in particular.
pub(super) const DEFAULT_PAGE: u64 = 20;

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

pub(super) type Outcome = Result<(Option<Element>, Option<AfterReply>), PsError>;

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

pub(super) fn pubsub_payload(namespace: &str, child: Element) -> Element {
    let mut p = Element::bare("pubsub", namespace);
    p.append_child(child);
    p
}

pub(super) fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true"))
}

/// One request being answered: who asks which service.
pub(super) struct Request<'a> {
    pub(super) server: &'a Arc<Server>,
    pub(super) service: &'a str,
    pub(super) from: &'a str,
    pub(super) requester: &'a str,
}

impl Request<'_> {
    pub(super) async fn node(&self, name: &str) -> Result<super::SharedNode, PsError> {
        self.server
            .pubsub
            .node(self.server, self.service, name)
            .await?
            .ok_or_else(|| PsError::new("item-not-found"))
    }

    pub(super) fn is_service_owner(&self) -> bool {
        is_pep(self.service) && self.requester == self.service
    }

    pub(super) fn affiliation(&self, node: &super::SharedNode) -> Affiliation {
        if self.is_service_owner() {
            return Affiliation::Owner;
        }
        read(node, |n| n.affiliation(self.requester))
    }

    pub(super) fn require_owner(&self, node: &super::SharedNode) -> Result<(), PsError> {
        if self.affiliation(node) == Affiliation::Owner {
            Ok(())
        } else {
            Err(PsError::new("forbidden"))
        }
    }

    pub(super) fn default_config(&self, node: &str) -> NodeConfig {
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
        self.server
            .pubsub
            .check_quota(self.server, self.requester)
            .await?;
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
        if name == ns::MICROBLOG && is_pep(self.service) {
            // Every account has a status feed: following one that has no
            // status yet works, as following does on Mastodon.
            crate::statuses::pipeline::microblog_node(self.server, self.service)
                .await
                .map_err(|e| {
                    tracing::error!(service = %self.service, "creating the microblog node failed: {e}");
                    PsError::new("internal-server-error").kind("wait")
                })?;
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
                self.put_subscription(name, &node, &jid, sub.clone())
                    .await?;
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
        self.server
            .pubsub
            .subscriber_changed(self.server, self.service, name, &node, &jid);
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

    /// Store a subscription, then record it in memory (replacing one with
    /// the same subid).
    pub(super) async fn put_subscription(
        &self,
        name: &str,
        node: &super::SharedNode,
        jid: &str,
        sub: Sub,
    ) -> Result<(), PsError> {
        self.server
            .store
            .pubsub_put_subscription(
                self.service,
                name,
                &StoredSubscription {
                    jid: jid.to_string(),
                    subid: sub.subid.clone(),
                    state: sub.state.clone(),
                },
            )
            .await?;
        write(node, |n| {
            let v = n.subscriptions.entry(jid.to_string()).or_default();
            v.retain(|s| s.subid != sub.subid);
            v.push(sub);
        });
        self.server
            .pubsub
            .subscriber_changed(self.server, self.service, name, node, jid);
        Ok(())
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
}
