//! Other servers' users, as PEP sees them across the cluster: the presence
//! a remote contact's resource sends reaches one node (the one its server's
//! stream goes to), but the account it was sent to may post on any node.
//! So what that node learns (the resource is available with these caps, or
//! left) goes to every node, and each node's PEP service counts the
//! resource in when it sends events.
//!
//! The caps query and its answer travel on the remote server's one stream
//! to this domain, so they reach the node that saw the presence; that node
//! verifies the features and shares them with the rest.

use std::sync::Arc;

use super::{decode, next, Bus, Caps, RemoteContact};
use crate::pubsub::pep;
use crate::Server;

impl super::Cluster {
    /// A remote contact's resource is available to the local account
    /// `service` with verified caps: the other nodes learn it.
    pub fn remote_contact_seen(&self, service: &str, full: &str, caps: Caps) {
        if let Some(bus) = self.bus.get() {
            bus.send(
                subject(bus),
                &RemoteContact::Seen {
                    node: bus.node.clone(),
                    service: service.to_string(),
                    full: full.to_string(),
                    caps,
                },
            );
        }
    }

    /// A remote contact's resource went unavailable: the other nodes forget
    /// it.
    pub fn remote_contact_gone(&self, full: &str) {
        if let Some(bus) = self.bus.get() {
            bus.send(
                subject(bus),
                &RemoteContact::Gone {
                    node: bus.node.clone(),
                    full: full.to_string(),
                },
            );
        }
    }
}

/// The subject of remote contacts' news.
pub(super) fn subject(bus: &Bus) -> String {
    format!("{}.remote", bus.prefix)
}

/// Tell a node that joined every remote contact this node's PEP services
/// see (it missed their presence).
pub(super) fn announce_all(server: &Server, bus: &Bus) {
    for (service, full, caps) in pep::remote_watchers(server) {
        bus.send(
            subject(bus),
            &RemoteContact::Seen {
                node: bus.node.clone(),
                service,
                full,
                caps,
            },
        );
    }
}

/// What other nodes learned of remote contacts, applied here.
pub(super) async fn on_news(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        match decode::<RemoteContact>(&m) {
            Some(RemoteContact::Seen {
                node,
                service,
                full,
                caps,
            }) if node != bus.node => pep::remote_seen_elsewhere(&server, &service, &full, caps),
            Some(RemoteContact::Gone { node, full }) if node != bus.node => {
                pep::remote_gone_elsewhere(&server, &full)
            }
            _ => {}
        }
    }
}
