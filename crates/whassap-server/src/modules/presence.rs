//! RFC 6121 §3–§4: presence broadcast, directed presence, probes, and the
//! subscription state machine (outbound from a client, inbound to an account).

use std::sync::Arc;

use futures::future::BoxFuture;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::{RosterItem, Subscription, Waiting};

use super::roster::Refusal;
use super::{caps, offline, roster};
use crate::core::router::{self, bare_of, local_target};
use crate::core::{deliver, Ctx, Flow, Hooks, Kind};
use crate::pubsub::pep;
use crate::registry::SessionHandle;
use crate::stanza::{self, element, stanza_type};
use crate::Server;

/// Presence from local clients, presence for local accounts, and the
/// unavailable presence of a session that ends.
pub fn register(hooks: &mut Hooks) {
    hooks.stanza(Kind::Presence, Flow::Outbound, from_client);
    hooks.stanza(Kind::Presence, Flow::Inbound, inbound);
    hooks.on_session_ended(session_ended);
}

fn user_of(bare: &str) -> &str {
    bare.split('@').next().unwrap_or(bare)
}

fn is_subscription(t: &str) -> bool {
    matches!(
        t,
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed"
    )
}

/// A presence stanza from a client (the blocking filter has let it pass).
fn from_client(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let Some(session) = ctx.session().cloned() else {
            return;
        };
        let server = &ctx.server;
        let t = stanza_type(&el).to_string();
        match (el.attr("to").map(str::to_owned), t.as_str()) {
            (None, "" | "unavailable") => broadcast(server, &session, el).await,
            (None, _) => {}
            (Some(to), t) if is_subscription(t) => {
                let Ok(contact) = jid::Jid::new(&to).map(|j| j.to_bare().to_string()) else {
                    return;
                };
                let original = el.clone();
                if let Err(no) = outbound_subscription(server, session.bare(), &contact, el).await {
                    ctx.reply(no.reply(&original)).await;
                }
            }
            (Some(_), "probe") => {}
            (Some(to), "" | "unavailable" | "error") => directed(&ctx, &session, el, &to, &t).await,
            (Some(_), _) => ctx.reply(stanza::error(&el, "bad-request")).await,
        }
    })
}

/// Directed presence (RFC 6121 §4.6).
async fn directed(ctx: &Ctx, session: &SessionHandle, el: Element, to: &str, t: &str) {
    let user = user_of(session.bare());
    let contact = bare_of(to);
    // A contact with a subscription from the user learns of unavailability
    // through the roster; anyone else is remembered. When the roster cannot
    // be read, the recipient is remembered too: an extra unavailable
    // presence later is harmless, a missing one leaves a ghost.
    let subscribed_from = match ctx.server.store.roster_item(user, contact).await {
        Ok(item) => matches!(
            item.map(|i| i.subscription),
            Some(Subscription::From | Subscription::Both)
        ),
        Err(e) => {
            tracing::error!(%user, %contact, "reading a roster item failed: {e}");
            false
        }
    };
    if !subscribed_from && t != "error" {
        let mut p = session.presence.lock().unwrap_or_else(|e| e.into_inner());
        if t == "unavailable" {
            p.directed.remove(to);
        } else {
            p.directed.insert(to.to_string());
        }
    }
    router::route_from(ctx.clone(), el).await;
}

/// Broadcast of the session's own presence (RFC 6121 §4.2–§4.5).
async fn broadcast(server: &Arc<Server>, session: &Arc<SessionHandle>, mut el: Element) {
    let available = stanza_type(&el) != "unavailable";
    let stamp = stanza::now_stamp();
    let priority = el
        .get_child("priority", ns::JABBER_CLIENT)
        .and_then(|p| p.text().trim().parse::<i32>().ok())
        .map(|p| p.clamp(-128, 127) as i8)
        .unwrap_or(0);
    stanza::remove_attr(&mut el, "to");
    let own = whassap_xml::to_bytes(&el);
    let (was_available, directed) = {
        let mut p = session.presence.lock().unwrap_or_else(|e| e.into_inner());
        let was = p.available;
        p.available = available;
        p.priority = priority;
        p.last = available.then(|| (own.clone(), stamp.clone()));
        let directed = if available {
            Vec::new()
        } else {
            p.directed.drain().collect()
        };
        (was, directed)
    };
    let initial = available && !was_available;
    if available {
        // The caps first: the account's own PEP service sees the session
        // (and may ask about its caps) before the presence is echoed.
        caps::presence_changed(&server.caps, &session.full, &el);
    }
    // The other nodes of a cluster see the new presence, caps and all.
    server.cluster.session_changed(session);
    if available {
        pep::own_presence(server, session).await;
    } else {
        pep::unavailable(server, &session.full);
    }

    // 1. To the user's own available resources, this one included.
    for s in deliver::sessions(server, session.bare()) {
        if s.id == session.id || s.is_available() {
            s.send(own.clone());
        }
    }
    // What waited for the user: read once, delivered in steps 3 and 6.
    let mut waiting = Waiting::default();
    if initial {
        match server.store.waiting(user_of(session.bare())).await {
            Ok(w) => waiting = w,
            Err(e) => tracing::error!("loading what waited for the user failed: {e}"),
        }
        // 2. The other resources' presence to the new one.
        for s in deliver::available(server, session.bare()) {
            if s.id != session.id {
                if let Some(p) = stored_presence(&s, &session.full, server) {
                    session.send_element(&p);
                }
            }
        }
        // 3. Subscription requests that waited for the user.
        for (_, xml) in std::mem::take(&mut waiting.requests) {
            session.send(bytes::Bytes::from(xml));
        }
    }
    // 4. Contacts with a subscription from the user, and probes to contacts.
    let roster = match server.store.roster(user_of(session.bare())).await {
        Ok((_, items)) => items,
        Err(e) => {
            tracing::error!("loading roster for presence broadcast failed: {e}");
            Vec::new()
        }
    };
    for item in &roster {
        if matches!(item.subscription, Subscription::From | Subscription::Both)
            && !server.blocks(session.bare(), &item.contact).await
        {
            let mut p = el.clone();
            stanza::set_attr(&mut p, "to", item.contact.as_str());
            router::route(server.clone(), p).await;
        }
    }
    if initial {
        for item in roster
            .iter()
            .filter(|i| matches!(i.subscription, Subscription::To | Subscription::Both))
        {
            probe(server, &session.full, &item.contact).await;
        }
    }
    // 5. Directed presence recipients learn of unavailability too.
    for to in directed {
        let mut p = el.clone();
        stanza::set_attr(&mut p, "to", to);
        router::route(server.clone(), p).await;
    }
    // 6. Messages stored while the user was offline.
    if initial {
        offline::deliver(server, session, waiting.messages).await;
    }
    if available {
        // The PEP services of contacts the user is subscribed to.
        pep::contacts_see(server, session, &roster).await;
    }
}

/// Send `session`'s last available presence again to the available
/// sessions of this node (not to proxies) of its contacts that have a
/// subscription to it: after a cluster split, these users were told it had
/// gone (see `cluster::reintroduce`).
pub async fn present_again(server: &Arc<Server>, session: &SessionHandle) {
    if !session.is_available() {
        return;
    }
    let roster = match server.store.roster(user_of(session.bare())).await {
        Ok((_, items)) => items,
        Err(e) => {
            tracing::error!(session = %session.full, "loading the roster to present a returning session failed: {e}");
            return;
        }
    };
    for item in roster
        .iter()
        .filter(|i| matches!(i.subscription, Subscription::From | Subscription::Both))
    {
        if server.blocks(session.bare(), &item.contact).await {
            continue;
        }
        for s in deliver::available(server, &item.contact) {
            if s.node().is_none() {
                if let Some(p) = stored_presence(session, &s.full, server) {
                    s.send_element(&p);
                }
            }
        }
    }
}

/// A presence probe from `from` (a full or bare JID) to a contact's bare JID.
async fn probe(server: &Arc<Server>, from: &str, contact: &str) {
    let p = element(
        "presence",
        ns::JABBER_CLIENT,
        &[("type", "probe"), ("from", from), ("to", contact)],
    );
    router::route(server.clone(), p).await;
}

/// A session's last available presence addressed to `to`, with a delay stamp.
fn stored_presence(
    s: &crate::registry::SessionHandle,
    to: &str,
    server: &Server,
) -> Option<Element> {
    let (xml, stamp) = {
        let p = s.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.last.clone()?
    };
    // Kept serialised (see `PresenceState::last`); it was framed with the
    // stream's depth and size limits before it was stored.
    let mut out = match std::str::from_utf8(&xml).map(str::parse::<Element>) {
        Ok(Ok(el)) => el,
        _ => {
            tracing::error!(session = %s.full, "stored presence does not parse");
            return None;
        }
    };
    stanza::set_attr(&mut out, "to", to);
    if out.get_child("delay", ns::DELAY).is_none() {
        out.append_child(stanza::delay(&server.config.domain, &stamp));
    }
    Some(out)
}

/// Send the presence of every available resource of `user_bare` to `to`.
/// Returns how many were sent.
pub async fn send_available_presence(server: &Arc<Server>, user_bare: &str, to: &str) -> usize {
    let mut n = 0;
    for s in deliver::available(server, user_bare) {
        if let Some(p) = stored_presence(&s, to, server) {
            router::route(server.clone(), p).await;
            n += 1;
        }
    }
    n
}

/// Send unavailable presence from every available resource of `user_bare` to `to`.
pub async fn send_unavailable(server: &Arc<Server>, user_bare: &str, to: &str) {
    for s in deliver::available(server, user_bare) {
        let p = element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", "unavailable"), ("from", &s.full), ("to", to)],
        );
        router::route(server.clone(), p).await;
    }
}

/// The session went away: if it was available, it becomes unavailable for all.
fn session_ended(ctx: Ctx) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let Some(session) = ctx.session() else { return };
        if !session.is_available() {
            return;
        }
        let el = element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", "unavailable"), ("from", &session.full)],
        );
        broadcast(&ctx.server, session, el).await;
    })
}

/// A presence stanza routed to a local account.
fn inbound(ctx: Ctx, el: Element) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let server = &ctx.server;
        let (bare, resource) = local_target(&el);
        let (bare, resource) = (bare.to_string(), resource.map(str::to_owned));
        let t = stanza_type(&el).to_string();
        if is_subscription(&t) || t == "probe" {
            let original = el.clone();
            if let Err(refused) = inbound_subscription(server, el, &bare, &t).await {
                // Nothing was changed; the sender may try again.
                router::route(server.clone(), refused.reply(&original)).await;
            }
            return;
        }
        match resource {
            Some(r) => {
                deliver::to_full(server, &bare, &r, &el);
            }
            None => {
                deliver::to_available(server, &bare, &whassap_xml::to_bytes(&el));
            }
        }
    })
}

/// `bare`'s roster item for `contact`; a failed read is an error, never
/// "no item" (a fresh item written over it would erase a subscription).
async fn item_of(
    server: &Server,
    bare: &str,
    contact: &str,
) -> Result<Option<RosterItem>, Refusal> {
    server
        .store
        .roster_item(user_of(bare), contact)
        .await
        .map_err(|e| Refusal::store("reading a roster item", e))
}

/// Remove `contact`'s waiting subscription request to `bare`: was there one?
pub async fn take_pending(server: &Server, bare: &str, contact: &str) -> Result<bool, Refusal> {
    server
        .store
        .pending_in_remove(user_of(bare), contact)
        .await
        .map_err(|e| Refusal::store("reading subscription requests", e))
}

fn new_item(contact: &str) -> RosterItem {
    RosterItem {
        contact: contact.to_string(),
        name: None,
        subscription: Subscription::None,
        ask_out: false,
        approved: false,
        groups: Vec::new(),
    }
}

/// A subscription stanza from local user `user` to `contact` (both bare).
/// Refused, with nothing changed or sent, when it would add an item to a
/// roster that has no room for it ([`roster::room_for`]).
pub async fn outbound_subscription(
    server: &Arc<Server>,
    user: &str,
    contact: &str,
    mut el: Element,
) -> Result<(), Refusal> {
    let t = stanza_type(&el).to_string();
    stanza::set_attr(&mut el, "from", user);
    stanza::set_attr(&mut el, "to", contact);
    let existing = item_of(server, user, contact).await?;
    match t.as_str() {
        "subscribe" => {
            let mut item = existing.clone().unwrap_or_else(|| new_item(contact));
            if !matches!(item.subscription, Subscription::To | Subscription::Both) && !item.ask_out
            {
                item.ask_out = true;
                if existing.is_none() {
                    roster::room_for(server, user_of(user), &item).await?;
                }
                roster::save_and_push(server, user, &item).await;
            }
            router::route(server.clone(), el).await;
        }
        "subscribed" => {
            let pending = take_pending(server, user, contact).await?;
            let mut item = existing.clone().unwrap_or_else(|| new_item(contact));
            if matches!(item.subscription, Subscription::From | Subscription::Both) {
                return Ok(());
            }
            if existing.is_none() {
                roster::room_for(server, user_of(user), &item).await?;
            }
            if !pending {
                // Pre-approval (RFC 6121 §3.4).
                if !item.approved {
                    item.approved = true;
                    roster::save_and_push(server, user, &item).await;
                }
                return Ok(());
            }
            item.subscription = match item.subscription {
                Subscription::To => Subscription::Both,
                _ => Subscription::From,
            };
            item.approved = false;
            roster::save_and_push(server, user, &item).await;
            // RFC 6121 §3.1.5: the approval, then the approver's presence.
            router::route(server.clone(), el).await;
            send_available_presence(server, user, contact).await;
            if matches!(item.subscription, Subscription::Both) {
                probe(server, user, contact).await;
            }
        }
        "unsubscribe" => {
            if let Some(mut item) = existing {
                let before = (item.subscription.clone(), item.ask_out);
                item.subscription = match item.subscription {
                    Subscription::Both | Subscription::From => Subscription::From,
                    _ => Subscription::None,
                };
                item.ask_out = false;
                if before != (item.subscription.clone(), item.ask_out) {
                    roster::save_and_push(server, user, &item).await;
                }
            }
            router::route(server.clone(), el).await;
        }
        _ => {
            // unsubscribed: cancel or deny.
            let pending = take_pending(server, user, contact).await?;
            let mut was_from = false;
            if let Some(mut item) = existing {
                was_from = matches!(item.subscription, Subscription::From | Subscription::Both);
                let approved = item.approved;
                item.subscription = match item.subscription {
                    Subscription::Both | Subscription::To => Subscription::To,
                    _ => Subscription::None,
                };
                item.approved = false;
                if was_from || approved {
                    roster::save_and_push(server, user, &item).await;
                }
            }
            if was_from {
                send_unavailable(server, user, contact).await;
            }
            if was_from || pending {
                router::route(server.clone(), el).await;
            }
        }
    }
    Ok(())
}

/// A subscription stanza or probe arriving for local account `bare`.
async fn inbound_subscription(
    server: &Arc<Server>,
    mut el: Element,
    bare: &str,
    t: &str,
) -> Result<(), Refusal> {
    let Some(from) = el.attr("from").map(|f| bare_of(f).to_string()) else {
        return Ok(());
    };
    let existing = item_of(server, bare, &from).await?;
    let subscription = existing
        .as_ref()
        .map(|i| i.subscription.clone())
        .unwrap_or(Subscription::None);
    match t {
        "probe" => {
            if matches!(subscription, Subscription::From | Subscription::Both) {
                let to = el.attr("from").unwrap_or(&from).to_string();
                send_available_presence(server, bare, &to).await;
            }
        }
        "subscribe" => {
            stanza::set_attr(&mut el, "from", from.as_str());
            stanza::set_attr(&mut el, "to", bare);
            if matches!(subscription, Subscription::From | Subscription::Both) {
                let ok = element(
                    "presence",
                    ns::JABBER_CLIENT,
                    &[("type", "subscribed"), ("from", bare), ("to", &from)],
                );
                router::route(server.clone(), ok).await;
                send_available_presence(server, bare, &from).await;
                return Ok(());
            }
            if let Some(mut item) = existing.filter(|i| i.approved) {
                item.approved = false;
                item.subscription = match item.subscription {
                    Subscription::To => Subscription::Both,
                    _ => Subscription::From,
                };
                roster::save_and_push(server, bare, &item).await;
                let ok = element(
                    "presence",
                    ns::JABBER_CLIENT,
                    &[("type", "subscribed"), ("from", bare), ("to", &from)],
                );
                router::route(server.clone(), ok).await;
                send_available_presence(server, bare, &from).await;
                return Ok(());
            }
            // Acknowledge receipt: the requester learns nothing but "unavailable".
            let ack = element(
                "presence",
                ns::JABBER_CLIENT,
                &[("type", "unavailable"), ("from", bare), ("to", &from)],
            );
            router::route(server.clone(), ack).await;
            let user = user_of(bare);
            let waiting = server
                .store
                .pending_in_get(user, &from)
                .await
                .map_err(|e| Refusal::store("reading subscription requests", e))?;
            if waiting.is_none() {
                // Waiting requests are bounded like the roster: beyond it,
                // new ones are dropped (the requester saw "unavailable" only).
                match server.store.pending_in(user).await {
                    Ok(waiting) if waiting.len() >= server.config.max_roster_items => {
                        tracing::info!(%bare, %from, "subscription request dropped: max_roster_items requests wait already");
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Refusal::store("reading subscription requests", e)),
                }
                let xml = String::from_utf8_lossy(&whassap_xml::to_bytes(&el)).into_owned();
                if let Err(e) = server.store.pending_in_put(user, &from, &xml).await {
                    return Err(Refusal::store("storing a subscription request", e));
                }
                deliver::to_available(server, bare, &whassap_xml::to_bytes(&el));
            }
        }
        "subscribed" => {
            let Some(mut item) = existing.filter(|i| i.ask_out) else {
                return Ok(());
            };
            item.ask_out = false;
            item.subscription = match item.subscription {
                Subscription::From => Subscription::Both,
                _ => Subscription::To,
            };
            // The notification first, then the roster push (as Prosody orders them).
            deliver_to_interested(server, bare, &mut el, &from);
            roster::save_and_push(server, bare, &item).await;
        }
        "unsubscribe" => {
            let pending = take_pending(server, bare, &from).await?;
            if let Some(mut item) = existing {
                if matches!(item.subscription, Subscription::From | Subscription::Both) {
                    item.subscription = match item.subscription {
                        Subscription::Both => Subscription::To,
                        _ => Subscription::None,
                    };
                    roster::save_and_push(server, bare, &item).await;
                    deliver_to_interested(server, bare, &mut el, &from);
                    send_unavailable(server, bare, &from).await;
                    return Ok(());
                }
            }
            if pending {
                deliver_to_interested(server, bare, &mut el, &from);
            }
        }
        _ => {
            // unsubscribed
            let Some(mut item) = existing else {
                return Ok(());
            };
            if matches!(item.subscription, Subscription::To | Subscription::Both) || item.ask_out {
                item.ask_out = false;
                item.subscription = match item.subscription {
                    Subscription::Both => Subscription::From,
                    Subscription::From => Subscription::From,
                    _ => Subscription::None,
                };
                roster::save_and_push(server, bare, &item).await;
                deliver_to_interested(server, bare, &mut el, &from);
            }
        }
    }
    Ok(())
}

/// Deliver an inbound `subscribed`, `unsubscribe` or `unsubscribed` to the
/// account's interested resources: available ones that have asked for the
/// roster (RFC 6121 §3.1.6, §3.2.3, §3.3.3). Resources that never fetched the
/// roster learn nothing from these stanzas and do not get them.
fn deliver_to_interested(server: &Server, bare: &str, el: &mut Element, from_bare: &str) {
    stanza::set_attr(el, "from", from_bare);
    stanza::set_attr(el, "to", bare);
    deliver::to_available_where(server, bare, &whassap_xml::to_bytes(el), |s| {
        s.roster_interested
            .load(std::sync::atomic::Ordering::Relaxed)
    });
}

/// A contact is being removed from `user`'s roster (RFC 6121 §2.5.2): cancel
/// subscriptions both ways, telling the contact.
/// `pending`: the contact's subscription request was waiting (and has been
/// removed with [`take_pending`]).
pub async fn contact_removed(server: &Arc<Server>, user: &str, item: &RosterItem, pending: bool) {
    let contact = &item.contact;
    let had_from = matches!(item.subscription, Subscription::From | Subscription::Both);
    if had_from {
        send_unavailable(server, user, contact).await;
    }
    if had_from || pending {
        let p = element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", "unsubscribed"), ("from", user), ("to", contact)],
        );
        router::route(server.clone(), p).await;
    }
    if matches!(item.subscription, Subscription::To | Subscription::Both) || item.ask_out {
        let p = element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", "unsubscribe"), ("from", user), ("to", contact)],
        );
        router::route(server.clone(), p).await;
    }
}
