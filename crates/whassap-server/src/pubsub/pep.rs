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

use std::collections::HashSet;
use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::{ItemsPage, RosterItem, Subscription};

use super::config::{AccessModel, SendLast};
use super::notify::{self, Notification};
use super::{read, Affiliation, SharedNode};
use crate::core::deliver;
use crate::core::router::{self, bare_of};
use crate::modules::caps;
use crate::registry::SessionHandle;
use crate::stanza::element;
use crate::Server;

const NOTIFY_SUFFIX: &str = "+notify";

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
            .session_features(s)
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

/// A session of a contact (or of the owner) is available with its current
/// caps, as seen by the PEP service `service`: ask for unknown caps, or send
/// the last items of nodes it newly wants.
pub async fn presence_seen(server: &Arc<Server>, service: &str, session: &Arc<SessionHandle>) {
    let (ver, caps_node) = {
        let p = session.presence.lock().unwrap_or_else(|e| e.into_inner());
        match (&p.caps, &p.caps_node) {
            (Some(v), Some(n)) => (v.clone(), n.clone()),
            _ => return,
        }
    };
    let Some(features) = server.caps.features(&ver) else {
        let first = session
            .presence
            .lock()
            .map(|mut p| p.pep_queried.insert((service.to_string(), ver.clone())))
            .unwrap_or(false);
        if first {
            let mut iq = element(
                "iq",
                ns::JABBER_CLIENT,
                &[
                    ("type", "get"),
                    ("id", "disco"),
                    ("from", service),
                    ("to", &session.full),
                ],
            );
            iq.append_child(element(
                "query",
                ns::DISCO_INFO,
                &[("node", &format!("{caps_node}#{ver}"))],
            ));
            session.send_element(&iq);
        }
        return;
    };
    let previous = {
        let mut p = session.presence.lock().unwrap_or_else(|e| e.into_inner());
        let previous = p.pep_seen.insert(service.to_string(), ver.clone());
        if previous.as_deref() == Some(ver.as_str()) {
            return;
        }
        previous
    };
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
        send_last_item(server, service, name, session, true).await;
    }
}

/// Send a node's newest item to one session, if the node exists, has one,
/// sends it on presence (`presence_trigger`) or on subscription, and the
/// session may see it.
async fn send_last_item(
    server: &Arc<Server>,
    service: &str,
    name: &str,
    session: &Arc<SessionHandle>,
    presence_trigger: bool,
) {
    if !server.pubsub.has_node(server, service, name).await {
        return;
    }
    let Ok(Some(node)) = server.pubsub.node(server, service, name).await else {
        return;
    };
    let (send_last, model, groups, affiliation) = read(&node, |n| {
        (
            n.config.send_last_published_item,
            n.config.access_model,
            n.config.roster_groups_allowed.clone(),
            n.affiliation(&session.bare),
        )
    });
    if send_last == SendLast::Never || (presence_trigger && send_last != SendLast::OnSubAndPresence)
    {
        return;
    }
    if session.bare != service {
        let item = server
            .store
            .roster_item(user_of(service), &session.bare)
            .await
            .ok()
            .flatten()
            .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both));
        match item {
            Some(i) if presence_based_access(model, affiliation, Some(&i), &groups) => {}
            _ => return,
        }
    }
    if let Some(note) = last_item_notification(server, service, name, &node).await {
        note.send(session);
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
    let Some((bare, resource)) = from.split_once('/') else {
        return;
    };
    if let Some(session) = deliver::session(server, bare, resource) {
        if let Ok(mut p) = session.presence.lock() {
            p.pep_queried.remove(&(service.to_string(), ver.clone()));
        }
        let current = session
            .presence
            .lock()
            .map(|p| p.caps.clone())
            .unwrap_or(None);
        if current.as_deref() == Some(ver.as_str()) {
            presence_seen(server, service, &session).await;
        }
    }
}

/// A session sent available presence: its own PEP service sees it first
/// (before the presence is echoed, as Prosody orders it).
pub async fn own_presence(server: &Arc<Server>, session: &Arc<SessionHandle>) {
    presence_seen(server, &session.bare, session).await;
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
        presence_seen(server, &item.contact, session).await;
    }
}

/// Drop what a session's PEP bookkeeping knew (on a caps change nothing is
/// forgotten: only newly wanted nodes get their last item).
pub fn forget_session(session: &SessionHandle) {
    if let Ok(mut p) = session.presence.lock() {
        p.pep_seen.clear();
    }
}
