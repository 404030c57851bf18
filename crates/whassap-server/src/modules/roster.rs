//! RFC 6121 §2: roster get (with versioning), set, remove, and roster pushes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::{RosterItem, Subscription};

use super::presence;
use crate::core::{deliver, Addressee, Ctx, Hooks};
use crate::registry::SessionHandle;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// The `<item/>` of a roster item, as in results and pushes.
pub fn item_element(item: &RosterItem) -> Element {
    let mut el = element(
        "item",
        ns::ROSTER,
        &[
            ("jid", &item.contact),
            ("subscription", item.subscription.as_str()),
        ],
    );
    if let Some(name) = &item.name {
        stanza::set_attr(&mut el, "name", name.as_str());
    }
    if item.ask_out {
        stanza::set_attr(&mut el, "ask", "subscribe");
    }
    if item.approved && matches!(item.subscription, Subscription::None | Subscription::To) {
        stanza::set_attr(&mut el, "approved", "true");
    }
    for g in &item.groups {
        el.append_child(stanza::text_element("group", ns::ROSTER, g));
    }
    el
}

/// Longest item name or group name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1023;
/// Most groups on one item.
pub const MAX_GROUPS: usize = 32;
/// Room kept in a roster result for its `<iq><query ver=''>` envelope.
const ENVELOPE_BYTES: usize = 1024;

/// Why a roster or subscription change is refused: a stanza error's
/// type, condition and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `cancel` or `wait`.
    pub kind: &'static str,
    /// The defined condition.
    pub condition: &'static str,
    /// For people.
    pub text: String,
}

impl Refusal {
    /// A store read or write failed: `internal-server-error`, `wait`.
    pub fn store(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{what} failed: {e}");
        Refusal {
            kind: "wait",
            condition: "internal-server-error",
            text: format!("{what} failed; try again"),
        }
    }

    /// The error reply to `original`.
    pub fn reply(&self, original: &Element) -> Element {
        stanza::error_reply(original, self.kind, self.condition, Some(&self.text))
    }
}

/// Can `user`'s roster take `item` (new, or replacing the item of the
/// same contact)? It must stay within `max_roster_items`, and the whole
/// roster, as a roster result, within the stanza limit, so that every
/// client can still receive it (RFC 6121 §2.1.2: a server may limit the
/// roster; a full one answers `not-allowed`).
pub async fn room_for(server: &Server, user: &str, item: &RosterItem) -> Result<(), Refusal> {
    let (_, items) = server
        .store
        .roster(user)
        .await
        .map_err(|e| Refusal::store("reading the roster", e))?;
    let others: Vec<&RosterItem> = items.iter().filter(|i| i.contact != item.contact).collect();
    let max = server.config.max_roster_items;
    if others.len() + 1 > max {
        return Err(Refusal {
            kind: "cancel",
            condition: "not-allowed",
            text: format!("the roster holds its maximum of {max} items"),
        });
    }
    let size = |i: &RosterItem| whassap_xml::to_bytes(&item_element(i)).len();
    let bytes = ENVELOPE_BYTES + size(item) + others.iter().map(|i| size(i)).sum::<usize>();
    if bytes > server.config.max_stanza_bytes {
        return Err(Refusal {
            kind: "cancel",
            condition: "not-allowed",
            text: format!(
                "the roster would be larger than the {}-byte stanza limit",
                server.config.max_stanza_bytes
            ),
        });
    }
    Ok(())
}

/// Send a roster push of `item` (an `<item/>`) to every session of `bare` that
/// asked for its roster.
pub fn push(server: &Server, bare: &str, item: Element, version: u64) {
    let mut query = element("query", ns::ROSTER, &[("ver", &version.to_string())]);
    query.append_child(item);
    deliver::push_iq_where(server, bare, &query, |s| {
        s.roster_interested.load(Ordering::Relaxed)
    });
}

/// Store an item and push it.
pub async fn save_and_push(server: &Arc<Server>, bare: &str, item: &RosterItem) {
    let user = bare.split('@').next().unwrap_or(bare);
    match server.store.roster_put(user, item).await {
        Ok(version) => push(server, bare, item_element(item), version),
        Err(e) => tracing::error!(%bare, "storing roster item failed: {e}"),
    }
}

/// Answer roster queries from the account's own clients.
pub fn register(hooks: &mut Hooks) {
    hooks.iq(Addressee::Own, "query", ns::ROSTER, handle);
}

/// `jabber:iq:roster` queries from the account's own client.
pub fn handle(ctx: Ctx, iq: Element) -> BoxFuture<'static, Option<Element>> {
    Box::pin(async move {
        let session = match ctx.own_session(&iq) {
            Ok(s) => s.clone(),
            Err(refused) => return Some(refused),
        };
        let user = session.username().to_string();
        let query = iq.get_child("query", ns::ROSTER)?;
        match stanza_type(&iq) {
            "get" => {
                session.roster_interested.store(true, Ordering::Relaxed);
                ctx.server.cluster.session_changed(&session);
                let (version, items) = match ctx.server.store.roster(&user).await {
                    Ok(r) => r,
                    Err(_) => return Some(stanza::error(&iq, "internal-server-error")),
                };
                // A roster never changed reports version 1, as Prosody's does,
                // and its first change is version 1 too: so version 1 is
                // ambiguous and always answered with the whole roster.
                let ambiguous = version <= 1;
                let version = version.max(1);
                if !ambiguous && query.attr("ver") == Some(version.to_string().as_str()) {
                    return Some(stanza::iq_result(&iq, None));
                }
                let mut q = element("query", ns::ROSTER, &[("ver", &version.to_string())]);
                for item in &items {
                    q.append_child(item_element(item));
                }
                Some(stanza::iq_result(&iq, Some(q)))
            }
            "set" => set(&ctx, &session, &user, &iq, query).await,
            _ => Some(stanza::error(&iq, "bad-request")),
        }
    })
}

async fn set(
    ctx: &Ctx,
    session: &SessionHandle,
    user: &str,
    iq: &Element,
    query: &Element,
) -> Option<Element> {
    let items: Vec<&Element> = query
        .children()
        .filter(|c| c.is("item", ns::ROSTER))
        .collect();
    if items.len() != 1 || query.children().count() != 1 {
        return Some(stanza::error(iq, "bad-request"));
    }
    let it = items[0];
    let Some(contact) = it
        .attr("jid")
        .and_then(|j| jid::BareJid::new(j).ok())
        .map(|j| j.to_string())
    else {
        return Some(stanza::error(iq, "jid-malformed"));
    };
    if it.attr("jid").is_some_and(|j| j.contains('/')) {
        return Some(stanza::error(iq, "jid-malformed"));
    }
    let server = &ctx.server;
    let existing = match server.store.roster_item(user, &contact).await {
        Ok(e) => e,
        Err(e) => {
            // Never taken for "no item": that would overwrite a subscription.
            tracing::error!(%user, %contact, "reading a roster item failed: {e}");
            return Some(stanza::error_reply(
                iq,
                "wait",
                "internal-server-error",
                None,
            ));
        }
    };
    if it.attr("subscription") == Some("remove") {
        let Some(existing) = existing else {
            return Some(stanza::error(iq, "item-not-found"));
        };
        let pending = match presence::take_pending(server, session.bare(), &contact).await {
            Ok(p) => p,
            Err(refused) => return Some(refused.reply(iq)),
        };
        ctx.reply(stanza::iq_result(iq, None)).await;
        presence::contact_removed(server, session.bare(), &existing, pending).await;
        match server.store.roster_remove(user, &contact).await {
            Ok(Some(version)) => {
                let removed = element(
                    "item",
                    ns::ROSTER,
                    &[("jid", &contact), ("subscription", "remove")],
                );
                push(server, session.bare(), removed, version);
            }
            Ok(None) => {}
            Err(e) => tracing::error!("removing roster item failed: {e}"),
        }
        return None;
    }
    if let Some(s) = it.attr("subscription") {
        if !matches!(s, "none" | "to" | "from" | "both") {
            return Some(stanza::error(iq, "bad-request"));
        }
    }
    let mut groups: Vec<String> = Vec::new();
    for g in it.children().filter(|c| c.is("group", ns::ROSTER)) {
        let name = g.text();
        if name.trim().is_empty() || groups.contains(&name) || name.len() > MAX_NAME_BYTES {
            return Some(stanza::error(iq, "not-acceptable"));
        }
        groups.push(name);
    }
    if groups.len() > MAX_GROUPS || it.attr("name").is_some_and(|n| n.len() > MAX_NAME_BYTES) {
        return Some(stanza::error(iq, "not-acceptable"));
    }
    let mut item = existing.unwrap_or_else(|| RosterItem {
        contact: contact.clone(),
        name: None,
        subscription: Subscription::None,
        ask_out: false,
        approved: false,
        groups: Vec::new(),
    });
    item.name = it.attr("name").filter(|n| !n.is_empty()).map(str::to_owned);
    item.groups = groups;
    if let Err(no) = room_for(server, user, &item).await {
        return Some(no.reply(iq));
    }
    let version = match server.store.roster_put(user, &item).await {
        Ok(v) => v,
        Err(_) => return Some(stanza::error(iq, "internal-server-error")),
    };
    ctx.reply(stanza::iq_result(iq, None)).await;
    push(server, session.bare(), item_element(&item), version);
    None
}
