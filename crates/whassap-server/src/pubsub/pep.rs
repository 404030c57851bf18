//! XEP-0163 Personal Eventing: who gets an account's PEP events without
//! subscribing, from the XEP-0115 caps of the sessions that can see the
//! account's presence, and the last items sent when such a session comes
//! online or starts advertising `+notify`.
//!
//! Each PEP service asks a session about an unknown caps hash itself, with a
//! disco#info from the account's bare JID (as Prosody's `mod_pep` does, id
//! `disco`); answers are matched by sender and the `node#ver` they carry,
//! verified against the hash, and cached for every session of every client
//! of that kind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use dashmap::DashMap;
use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::{ItemsPage, RosterItem, Subscription};

use super::config::{AccessModel, SendLast};
use super::notify::{self, Notification};
use super::{read, Affiliation, SharedNode};
use crate::cluster::Caps;
use crate::core::router::{self, bare_of};
use crate::core::{deliver, Ctx};
use crate::modules::caps;
use crate::registry::SessionHandle;
use crate::stanza::element;
use crate::Server;

const NOTIFY_SUFFIX: &str = "+notify";

/// What the PEP services know of each full JID that can see them (a local
/// session, or a remote contact's resource), kept per full JID as Prosody's
/// `mod_pep` keeps its recipients: which services have seen it with which
/// caps (their last items were sent for those), and which caps queries
/// they have sent it that are not answered yet.
#[derive(Default)]
pub struct Watchers {
    by_jid: DashMap<String, Watcher>,
    /// The remote full JIDs each service has seen (local sessions are
    /// found through the registry and the roster).
    remote_by_service: DashMap<String, HashSet<String>>,
}

#[derive(Default)]
struct Watcher {
    seen: HashMap<String, String>,
    queried: HashSet<(String, String)>,
}

impl Watchers {
    /// Record that `service` asks `full` about `ver`; false if it already
    /// has and the answer is pending.
    fn query_once(&self, full: &str, service: &str, ver: &str) -> bool {
        self.by_jid
            .entry(full.to_string())
            .or_default()
            .queried
            .insert((service.to_string(), ver.to_string()))
    }

    fn answered(&self, full: &str, service: &str, ver: &str) {
        if let Some(mut w) = self.by_jid.get_mut(full) {
            w.queried.remove(&(service.to_string(), ver.to_string()));
        }
    }

    /// `service` sees `full` with caps `ver`: the caps it saw before, or
    /// None if it had already seen these.
    fn saw(&self, full: &str, service: &str, ver: &str, remote: bool) -> Option<Option<String>> {
        let previous = {
            let mut w = self.by_jid.entry(full.to_string()).or_default();
            w.seen.insert(service.to_string(), ver.to_string())
        };
        if remote {
            self.remote_by_service
                .entry(service.to_string())
                .or_default()
                .insert(full.to_string());
        }
        (previous.as_deref() != Some(ver)).then_some(previous)
    }

    /// The remote full JIDs `service` has seen available.
    fn remote_seen_by(&self, service: &str) -> Vec<String> {
        self.remote_by_service
            .get(service)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn drop_remote(&self, full: &str, services: impl Iterator<Item = String>) {
        for service in services {
            if let Some(mut set) = self.remote_by_service.get_mut(&service) {
                set.remove(full);
            }
            self.remote_by_service
                .remove_if(&service, |_, s| s.is_empty());
        }
    }

    /// `full` went unavailable: no service sees it any more (queries in
    /// flight stay, their answers are still welcome).
    fn unseen(&self, full: &str) {
        let services: Vec<String> = match self.by_jid.get_mut(full) {
            Some(mut w) => w.seen.drain().map(|(s, _)| s).collect(),
            None => Vec::new(),
        };
        self.drop_remote(full, services.into_iter());
        self.by_jid
            .remove_if(full, |_, w| w.seen.is_empty() && w.queried.is_empty());
    }

    /// `full` is gone.
    fn forget(&self, full: &str) {
        if let Some((_, w)) = self.by_jid.remove(full) {
            self.drop_remote(full, w.seen.into_keys());
        }
    }
}

fn user_of(bare: &str) -> &str {
    bare.split('@').next().unwrap_or(bare)
}

/// May a session that sees `owner`'s presence through `item` (None: it is
/// the owner) get events of a node with this access model?
fn presence_based_access(
    model: AccessModel,
    affiliation: Affiliation,
    item: Option<&RosterItem>,
    groups: &[String],
) -> bool {
    let Some(item) = item else { return true };
    if affiliation == Affiliation::Outcast {
        return false;
    }
    if matches!(
        affiliation,
        Affiliation::Owner | Affiliation::Publisher | Affiliation::Member
    ) {
        return true;
    }
    match model {
        AccessModel::Open | AccessModel::Presence => true,
        AccessModel::Roster => item.groups.iter().any(|g| groups.contains(g)),
        AccessModel::Whitelist | AccessModel::Authorize => false,
    }
}

/// Sessions that get a PEP node's events through presence and caps: the
/// owner's own and its contacts' (subscribed to the owner's presence)
/// available sessions advertising `node+notify`.
pub async fn interested_sessions(
    server: &Arc<Server>,
    owner: &str,
    name: &str,
    node: &SharedNode,
) -> Vec<Arc<SessionHandle>> {
    let feature = format!("{name}{NOTIFY_SUFFIX}");
    let wants = |s: &SessionHandle| {
        server
            .caps
            .features_of(&s.full)
            .is_some_and(|f| f.contains(&feature))
    };
    let (model, groups) = read(node, |n| {
        (
            n.config.access_model,
            n.config.roster_groups_allowed.clone(),
        )
    });
    let mut out: Vec<Arc<SessionHandle>> = deliver::available(server, owner)
        .into_iter()
        .filter(|s| wants(s))
        .collect();
    let roster = match server.store.roster(user_of(owner)).await {
        Ok((_, items)) => items,
        Err(e) => {
            tracing::error!("loading roster for PEP delivery failed: {e}");
            return out;
        }
    };
    for item in roster
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both))
    {
        let affiliation = read(node, |n| n.affiliation(&item.contact));
        if !presence_based_access(model, affiliation, Some(item), &groups) {
            continue;
        }
        out.extend(
            deliver::available(server, &item.contact)
                .into_iter()
                .filter(|s| wants(s)),
        );
    }
    out
}

/// Remote full JIDs that get a PEP node's events through presence and
/// caps: contacts on other servers subscribed to the owner's presence,
/// seen available with caps advertising `node+notify`, and not already
/// reached through a subscription to the node.
pub async fn interested_remote(
    server: &Arc<Server>,
    owner: &str,
    name: &str,
    node: &SharedNode,
) -> Vec<String> {
    let seen = server.pubsub.watchers.remote_seen_by(owner);
    if seen.is_empty() {
        return seen;
    }
    let feature = format!("{name}{NOTIFY_SUFFIX}");
    let (model, groups) = read(node, |n| {
        (
            n.config.access_model,
            n.config.roster_groups_allowed.clone(),
        )
    });
    let roster = match server.store.roster(user_of(owner)).await {
        Ok((_, items)) => items,
        Err(e) => {
            tracing::error!("loading roster for PEP delivery failed: {e}");
            return Vec::new();
        }
    };
    seen.into_iter()
        .filter(|full| {
            server
                .caps
                .features_of(full)
                .is_some_and(|f| f.contains(&feature))
        })
        .filter(|full| {
            let bare = bare_of(full);
            let item = roster
                .iter()
                .find(|i| i.contact == bare)
                .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both));
            let (affiliation, covered) = read(node, |n| {
                (
                    n.affiliation(bare),
                    n.is_subscribed(bare) || n.is_subscribed(full),
                )
            });
            item.is_some_and(|i| presence_based_access(model, affiliation, Some(i), &groups))
                && !covered
        })
        .collect()
}

/// Presence from a remote contact's resource to a local account: the
/// account's PEP service learns its caps (or that it left). Only contacts
/// subscribed to the account's presence are remembered, so a peer cannot
/// fill memory with presence from made-up resources.
pub fn inbound_presence(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let server = &ctx.server;
        let Some(from) = el.attr("from").filter(|f| f.contains('/')) else {
            return;
        };
        if router::is_local_account(server, from) {
            return;
        }
        let from = from.to_string();
        let owner = router::local_target(&el).0.to_string();
        match el.attr("type") {
            None => {
                let subscribed = matches!(
                    server.store.roster_item(user_of(&owner), bare_of(&from)).await,
                    Ok(Some(i)) if matches!(i.subscription, Subscription::From | Subscription::Both)
                );
                if subscribed {
                    caps::presence_changed(&server.caps, &from, &el);
                    presence_seen(server, &owner, &from).await;
                }
            }
            Some("unavailable") => {
                server.caps.forget(&from);
                server.pubsub.watchers.unseen(&from);
                server.cluster.remote_contact_gone(&from);
            }
            Some(_) => {}
        }
    })
}

/// A full JID (a session of the owner or of a contact) is available with
/// its current caps, as seen by the PEP service `service`: ask about
/// unknown caps, or send the last items of nodes it newly wants.
pub async fn presence_seen(server: &Arc<Server>, service: &str, full: &str) {
    let Some(advertised) = server.caps.advertised(full) else {
        return;
    };
    let ver = advertised.ver;
    let Some(features) = server.caps.features(&ver) else {
        if server.pubsub.watchers.query_once(full, service, &ver) {
            let mut iq = element(
                "iq",
                ns::JABBER_CLIENT,
                &[
                    ("type", "get"),
                    ("id", "disco"),
                    ("from", service),
                    ("to", full),
                ],
            );
            iq.append_child(element(
                "query",
                ns::DISCO_INFO,
                &[("node", &format!("{}#{ver}", advertised.node))],
            ));
            send_to(server, full, iq).await;
        }
        return;
    };
    let remote = !router::is_local_account(server, full);
    let Some(previous) = server.pubsub.watchers.saw(full, service, &ver, remote) else {
        return;
    };
    if remote {
        server.cluster.remote_contact_seen(
            service,
            full,
            shared_caps(advertised.node, &ver, &features),
        );
    }
    let before: HashSet<String> = previous
        .and_then(|v| server.caps.features(&v))
        .map(|f| f.iter().cloned().collect())
        .unwrap_or_default();
    let wanted: Vec<&str> = features
        .iter()
        .filter(|f| !before.contains(*f))
        .filter_map(|f| f.strip_suffix(NOTIFY_SUFFIX))
        .collect();
    for name in wanted {
        send_last_item(server, service, name, full, true).await;
    }
}

/// Caps with their verified features, as the other nodes learn them.
pub(crate) fn shared_caps(node: String, ver: &str, features: &HashSet<String>) -> Caps {
    let mut features: Vec<String> = features.iter().cloned().collect();
    features.sort();
    Caps {
        node,
        ver: ver.to_string(),
        features: Some(features),
    }
}

/// Another node saw a remote contact's resource available to `service`
/// with these caps: this node's PEP service of `service` counts it in too
/// (the node that saw it sent it the last items).
pub fn remote_seen_elsewhere(server: &Server, service: &str, full: &str, caps: Caps) {
    let Some(features) = caps.features else {
        return;
    };
    if server.caps.features(&caps.ver).is_none() {
        server
            .caps
            .insert(caps.ver.clone(), features.into_iter().collect());
    }
    server.caps.set_advertised(
        full,
        caps::Advertised {
            node: caps.node,
            ver: caps.ver.clone(),
        },
    );
    server.pubsub.watchers.saw(full, service, &caps.ver, true);
}

/// Another node saw a remote contact's resource go unavailable.
pub fn remote_gone_elsewhere(server: &Server, full: &str) {
    server.caps.forget(full);
    server.pubsub.watchers.unseen(full);
}

/// Every remote contact's resource that a PEP service here sees, with its
/// caps: (service, full JID, caps).
pub fn remote_watchers(server: &Server) -> Vec<(String, String, Caps)> {
    let mut out = Vec::new();
    for entry in server.pubsub.watchers.remote_by_service.iter() {
        for full in entry.value() {
            let Some(advertised) = server.caps.advertised(full) else {
                continue;
            };
            if let Some(features) = server.caps.features(&advertised.ver) {
                let caps = shared_caps(advertised.node, &advertised.ver, &features);
                out.push((entry.key().clone(), full.clone(), caps));
            }
        }
    }
    out
}

/// Send a stanza to a full JID: queued for a local session, routed to
/// anyone else.
async fn send_to(server: &Arc<Server>, full: &str, el: Element) {
    match full.split_once('/') {
        Some((bare, resource)) if router::is_local_account(server, bare) => {
            deliver::to_full(server, bare, resource, &el);
        }
        _ => router::route(server.clone(), el).await,
    }
}

/// Send a node's newest item to one full JID, if the node exists, has one,
/// sends it on presence (`presence_trigger`) or on subscription, and the
/// JID may see it.
async fn send_last_item(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    full: &str,
    presence_trigger: bool,
) {
    if !server.pubsub.has_node(server, service, name).await {
        return;
    }
    let Ok(Some(node)) = server.pubsub.node(server, service, name).await else {
        return;
    };
    let bare = bare_of(full);
    let (send_last, model, groups, affiliation) = read(&node, |n| {
        (
            n.config.send_last_published_item,
            n.config.access_model,
            n.config.roster_groups_allowed.clone(),
            n.affiliation(bare),
        )
    });
    if send_last == SendLast::Never || (presence_trigger && send_last != SendLast::OnSubAndPresence)
    {
        return;
    }
    if bare != service {
        let item = server
            .store
            .roster_item(user_of(service), bare)
            .await
            .ok()
            .flatten()
            .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both));
        match item {
            Some(i) if presence_based_access(model, affiliation, Some(&i), &groups) => {}
            _ => return,
        }
    }
    let Some(note) = last_item_notification(server, service, name, &node).await else {
        return;
    };
    match full.split_once('/') {
        Some((bare, resource)) if router::is_local_account(server, bare) => {
            deliver::with_session(server, bare, resource, |s| note.send(s));
        }
        _ => router::route(server.clone(), note.addressed(full, &[])).await,
    }
}

/// The notification of a node's newest item, if it has one.
async fn last_item_notification(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    node: &SharedNode,
) -> Option<Notification> {
    let item = server
        .store
        .pubsub_items(service, name, ItemsPage::Newest, 1)
        .await
        .ok()?
        .pop()?;
    let (config, owner) = read(node, |n| {
        (
            n.config.clone(),
            n.owners().next().unwrap_or(service).to_string(),
        )
    });
    let publisher = notify::publisher_attr(service, &config, &owner, &item.publisher);
    let event = notify::items_event(
        name,
        vec![notify::item_element(
            ns::PUBSUB_EVENT,
            &item,
            publisher,
            config.deliver_payloads,
        )],
    );
    Some(Notification::new(service, &config.notification_type, event))
}

/// After an explicit subscription: the node's last item to the subscribed
/// JID (its session, or every available session of a bare JID).
pub async fn send_last_item_to_jid(server: &Arc<Server>, service: &str, name: &str, to: &str) {
    let Ok(Some(node)) = server.pubsub.node(server, service, name).await else {
        return;
    };
    let Some(note) = last_item_notification(server, service, name, &node).await else {
        return;
    };
    let bare = bare_of(to);
    if !router::is_local_account(server, bare) {
        // A subscriber on another server: routed there.
        router::route(server.clone(), note.addressed(to, &[])).await;
        return;
    }
    match to.split_once('/') {
        Some((_, resource)) => {
            deliver::with_session(server, bare, resource, |s| note.send(s));
        }
        None => {
            for s in deliver::available(server, bare) {
                note.send(&s);
            }
        }
    }
}

/// A disco#info answer from `from` to the PEP service `service`: a caps
/// answer if its node is `…#ver` of the sender's current caps.
pub async fn caps_answer(server: &Arc<Server>, service: &str, from: &str, iq: &Element) {
    let Some(query) = iq.get_child("query", ns::DISCO_INFO) else {
        return;
    };
    let Some(ver) = query
        .attr("node")
        .and_then(|n| n.rsplit_once('#'))
        .map(|(_, v)| v.to_string())
    else {
        return;
    };
    if server.caps.features(&ver).is_none() {
        match caps::verify(query, &ver) {
            Some(features) => server.caps.insert(ver.clone(), features),
            None => {
                tracing::debug!(
                    %ver,
                    %from,
                    answer = %String::from_utf8_lossy(&whassap_xml::to_bytes(query)),
                    "caps answer does not match its hash"
                );
                return;
            }
        }
    }
    server.pubsub.watchers.answered(from, service, &ver);
    // The other nodes learn the features of this node's sessions with it.
    if let Some((bare, resource)) = from.split_once('/') {
        if let Some(s) = crate::core::deliver::session(server, bare, resource) {
            server.cluster.session_changed(&s);
        }
    }
    if server.caps.advertised(from).is_some_and(|a| a.ver == ver) {
        presence_seen(server, service, from).await;
    }
}

/// A session sent available presence: its own PEP service sees it first
/// (before the presence is echoed, as Prosody orders it).
pub async fn own_presence(server: &Arc<Server>, session: &SessionHandle) {
    presence_seen(server, session.bare(), &session.full).await;
}

/// After the broadcast: the PEP services of the contacts whose presence the
/// session's user is subscribed to see the session too.
pub async fn contacts_see(
    server: &Arc<Server>,
    session: &Arc<SessionHandle>,
    roster: &[RosterItem],
) {
    let domain = &server.config.domain;
    for item in roster
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::To | Subscription::Both))
        .filter(|i| i.contact.split_once('@').is_some_and(|(_, d)| d == domain))
    {
        presence_seen(server, &item.contact, &session.full).await;
    }
}

/// A full JID went unavailable: no PEP service sees it now (on a caps
/// change nothing is forgotten: only newly wanted nodes get their last
/// item).
pub fn unavailable(server: &Server, full: &str) {
    server.pubsub.watchers.unseen(full);
}

/// A session ended: what PEP knew of it goes.
pub fn session_ended(ctx: Ctx) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        if let Some(s) = ctx.session() {
            ctx.server.pubsub.watchers.forget(&s.full);
        }
    })
}
