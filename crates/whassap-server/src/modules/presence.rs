//! RFC 6121 §3–§4: presence broadcast, directed presence, probes, and the
//! subscription state machine (outbound from a client, inbound to an account).

use std::sync::Arc;

use minidom::Element;
use whassap_proto::ns;
use whassap_store::{RosterItem, Subscription, Waiting};

use super::{caps, offline, roster};
use crate::c2s::Ctx;
use crate::pubsub::pep;
use crate::router::{self, bare_of};
use crate::stanza::{self, element, stanza_type};
use crate::Server;

fn user_of(bare: &str) -> &str {
    bare.split('@').next().unwrap_or(bare)
}

fn is_subscription(t: &str) -> bool {
    matches!(
        t,
        "subscribe" | "subscribed" | "unsubscribe" | "unsubscribed"
    )
}

/// A presence stanza from a client.
pub async fn from_client(ctx: &Ctx, el: Element) {
    let t = stanza_type(&el).to_string();
    match (el.attr("to").map(str::to_owned), t.as_str()) {
        (None, "" | "unavailable") => broadcast(ctx, el).await,
        (None, _) => {}
        (Some(to), t) if is_subscription(t) => {
            let Ok(contact) = jid::Jid::new(&to).map(|j| j.to_bare().to_string()) else {
                return;
            };
            if ctx.server.blocks(&ctx.session.bare, &contact).await {
                return;
            }
            let original = el.clone();
            if let Err(no) =
                outbound_subscription(&ctx.server, &ctx.session.bare, &contact, el).await
            {
                ctx.session.send_element(&no.reply(&original));
            }
        }
        (Some(_), "probe") => {}
        (Some(to), "" | "unavailable" | "error") => directed(ctx, el, &to, &t).await,
        (Some(_), _) => {
            ctx.session.send_element(&stanza::error(&el, "bad-request"));
        }
    }
}

/// Directed presence (RFC 6121 §4.6).
async fn directed(ctx: &Ctx, el: Element, to: &str, t: &str) {
    if ctx.server.blocks(&ctx.session.bare, to).await {
        return;
    }
    let user = user_of(&ctx.session.bare);
    let contact = bare_of(to);
    let subscribed_from = matches!(
        ctx.server
            .store
            .roster_item(user, contact)
            .await
            .ok()
            .flatten()
            .map(|i| i.subscription),
        Some(Subscription::From | Subscription::Both)
    );
    if !subscribed_from && t != "error" {
        let mut p = ctx
            .session
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if t == "unavailable" {
            p.directed.remove(to);
        } else {
            p.directed.insert(to.to_string());
        }
    }
    router::route(ctx.server.clone(), el).await;
}

/// Broadcast of the session's own presence (RFC 6121 §4.2–§4.5).
async fn broadcast(ctx: &Ctx, mut el: Element) {
    let server = &ctx.server;
    let session = &ctx.session;
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
        caps::presence_changed(ctx, &el);
        pep::own_presence(server, session).await;
    } else {
        pep::forget_session(session);
    }

    // 1. To the user's own available resources, this one included.
    for s in server.registry.sessions(&session.bare) {
        if s.id == session.id || s.is_available() {
            s.send(own.clone());
        }
    }
    // What waited for the user: read once, delivered in steps 3 and 6.
    let mut waiting = Waiting::default();
    if initial {
        match server.store.waiting(user_of(&session.bare)).await {
            Ok(w) => waiting = w,
            Err(e) => tracing::error!("loading what waited for the user failed: {e}"),
        }
        // 2. The other resources' presence to the new one.
        for s in server.registry.available(&session.bare) {
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
    let roster = match server.store.roster(user_of(&session.bare)).await {
        Ok((_, items)) => items,
        Err(e) => {
            tracing::error!("loading roster for presence broadcast failed: {e}");
            Vec::new()
        }
    };
    for item in &roster {
        if matches!(item.subscription, Subscription::From | Subscription::Both)
            && !server.blocks(&session.bare, &item.contact).await
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
        offline::deliver(ctx, waiting.messages).await;
    }
    if available {
        // The PEP services of contacts the user is subscribed to.
        pep::contacts_see(server, session, &roster).await;
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
    for s in server.registry.available(user_bare) {
        if let Some(p) = stored_presence(&s, to, server) {
            router::route(server.clone(), p).await;
            n += 1;
        }
    }
    n
}

/// Send unavailable presence from every available resource of `user_bare` to `to`.
pub async fn send_unavailable(server: &Arc<Server>, user_bare: &str, to: &str) {
    for s in server.registry.available(user_bare) {
        let p = element(
            "presence",
            ns::JABBER_CLIENT,
            &[("type", "unavailable"), ("from", &s.full), ("to", to)],
        );
        router::route(server.clone(), p).await;
    }
}

/// The session went away: if it was available, it becomes unavailable for all.
pub async fn session_ended(ctx: &Ctx) {
    if !ctx.session.is_available() {
        return;
    }
    let el = element(
        "presence",
        ns::JABBER_CLIENT,
        &[("type", "unavailable"), ("from", &ctx.session.full)],
    );
    broadcast(ctx, el).await;
}

/// A presence stanza delivered to a local account.
pub async fn inbound(server: &Arc<Server>, el: Element, bare: &str, resource: Option<&str>) {
    let t = stanza_type(&el).to_string();
    if is_subscription(&t) || t == "probe" {
        inbound_subscription(server, el, bare, &t).await;
        return;
    }
    match resource {
        Some(r) => {
            if let Some(s) = server.registry.session(bare, r) {
                s.send_element(&el);
            }
        }
        None => {
            let bytes = whassap_xml::to_bytes(&el);
            for s in server.registry.available(bare) {
                s.send(bytes.clone());
            }
        }
    }
}

async fn item_of(server: &Server, bare: &str, contact: &str) -> Option<RosterItem> {
    server
        .store
        .roster_item(user_of(bare), contact)
        .await
        .ok()
        .flatten()
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
) -> Result<(), roster::NoRoom> {
    let t = stanza_type(&el).to_string();
    stanza::set_attr(&mut el, "from", user);
    stanza::set_attr(&mut el, "to", contact);
    let existing = item_of(server, user, contact).await;
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
            let pending = server
                .store
                .pending_in_remove(user_of(user), contact)
                .await
                .unwrap_or(false);
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
            let pending = server
                .store
                .pending_in_remove(user_of(user), contact)
                .await
                .unwrap_or(false);
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
async fn inbound_subscription(server: &Arc<Server>, mut el: Element, bare: &str, t: &str) {
    let Some(from) = el.attr("from").map(|f| bare_of(f).to_string()) else {
        return;
    };
    let existing = item_of(server, bare, &from).await;
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
                return;
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
                return;
            }
            // Acknowledge receipt: the requester learns nothing but "unavailable".
            let ack = element(
                "presence",
                ns::JABBER_CLIENT,
                &[("type", "unavailable"), ("from", bare), ("to", &from)],
            );
            router::route(server.clone(), ack).await;
            let user = user_of(bare);
            if server
                .store
                .pending_in_get(user, &from)
                .await
                .ok()
                .flatten()
                .is_none()
            {
                // Waiting requests are bounded like the roster: beyond it,
                // new ones are dropped (the requester saw "unavailable" only).
                match server.store.pending_in(user).await {
                    Ok(waiting) if waiting.len() >= server.config.max_roster_items => {
                        tracing::info!(%bare, %from, "subscription request dropped: max_roster_items requests wait already");
                        return;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!("reading subscription requests failed: {e}");
                        return;
                    }
                }
                let xml = String::from_utf8_lossy(&whassap_xml::to_bytes(&el)).into_owned();
                if let Err(e) = server.store.pending_in_put(user, &from, &xml).await {
                    tracing::error!("storing subscription request failed: {e}");
                    return;
                }
                let bytes = whassap_xml::to_bytes(&el);
                for s in server.registry.available(bare) {
                    s.send(bytes.clone());
                }
            }
        }
        "subscribed" => {
            let Some(mut item) = existing.filter(|i| i.ask_out) else {
                return;
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
            let pending = server
                .store
                .pending_in_remove(user_of(bare), &from)
                .await
                .unwrap_or(false);
            if let Some(mut item) = existing {
                if matches!(item.subscription, Subscription::From | Subscription::Both) {
                    item.subscription = match item.subscription {
                        Subscription::Both => Subscription::To,
                        _ => Subscription::None,
                    };
                    roster::save_and_push(server, bare, &item).await;
                    deliver_to_interested(server, bare, &mut el, &from);
                    send_unavailable(server, bare, &from).await;
                    return;
                }
            }
            if pending {
                deliver_to_interested(server, bare, &mut el, &from);
            }
        }
        _ => {
            // unsubscribed
            let Some(mut item) = existing else { return };
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
}

/// Deliver an inbound `subscribed`, `unsubscribe` or `unsubscribed` to the
/// account's interested resources: available ones that have asked for the
/// roster (RFC 6121 §3.1.6, §3.2.3, §3.3.3). Resources that never fetched the
/// roster learn nothing from these stanzas and do not get them.
fn deliver_to_interested(server: &Server, bare: &str, el: &mut Element, from_bare: &str) {
    stanza::set_attr(el, "from", from_bare);
    stanza::set_attr(el, "to", bare);
    let bytes = whassap_xml::to_bytes(el);
    for s in server.registry.available(bare) {
        if s.roster_interested
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            s.send(bytes.clone());
        }
    }
}

/// A contact is being removed from `user`'s roster (RFC 6121 §2.5.2): cancel
/// subscriptions both ways, telling the contact.
pub async fn contact_removed(server: &Arc<Server>, user: &str, item: &RosterItem) {
    let contact = &item.contact;
    let had_from = matches!(item.subscription, Subscription::From | Subscription::Both);
    let pending = server
        .store
        .pending_in_remove(user_of(user), contact)
        .await
        .unwrap_or(false);
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
