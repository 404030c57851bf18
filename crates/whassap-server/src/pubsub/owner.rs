//! Owner use cases (XEP-0060 §8): configuration, default configuration,
//! delete, purge, affiliations and subscriptions.

use minidom::Element;
use whassap_proto::ns;

use super::config::MaxItems;
use super::handlers::{pubsub_payload, Outcome, Request};
use super::items::broadcast;
use super::notify;
use super::{read, write, Affiliation, PsError, Sub};
use crate::stanza::{self, element};

impl Request<'_> {
    pub(super) async fn configure_get(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        let form = read(&node, |n| n.config.to_form());
        let mut configure = element("configure", ns::PUBSUB_OWNER, &[("node", name)]);
        configure.append_child(form);
        Ok((Some(pubsub_payload(ns::PUBSUB_OWNER, configure)), None))
    }

    pub(super) async fn configure_set(&self, name: &str, op: &Element) -> Outcome {
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
        self.server
            .pubsub
            .changed(self.server, self.service, name, &node);
        Ok((None, None))
    }

    pub(super) fn default_form(&self) -> Element {
        let mut default = Element::bare("default", ns::PUBSUB_OWNER);
        default.append_child(self.default_config("").to_form());
        pubsub_payload(ns::PUBSUB_OWNER, default)
    }

    pub(super) async fn delete(&self, name: &str) -> Outcome {
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
        self.server
            .pubsub
            .changed(self.server, self.service, name, &node);
        Ok((None, None))
    }

    pub(super) async fn purge(&self, name: &str) -> Outcome {
        let node = self.node(name).await?;
        self.require_owner(&node)?;
        self.server.store.pubsub_purge(self.service, name).await?;
        let event = notify::node_event("purge", name);
        broadcast(self.server, self.service, name, &node, event).await;
        Ok((None, None))
    }

    pub(super) async fn affiliations_get(&self, name: &str) -> Outcome {
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

    pub(super) async fn affiliations_set(&self, name: &str, op: &Element) -> Outcome {
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
            self.server
                .pubsub
                .changed(self.server, self.service, name, &node);
        }
        Ok((None, None))
    }

    pub(super) async fn subscriptions_get(&self, name: &str) -> Outcome {
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

    pub(super) async fn subscriptions_set(&self, name: &str, op: &Element) -> Outcome {
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
                    self.server
                        .pubsub
                        .changed(self.server, self.service, name, &node);
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
                    self.put_subscription(name, &node, &jid, sub).await?;
                }
                _ => return Err(PsError::new("bad-request")),
            }
        }
        Ok((None, None))
    }
}
