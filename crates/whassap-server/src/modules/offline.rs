//! Offline storage (RFC 6121 §8.5.2.2, XEP-0160): messages to an account with
//! no available resource are stored with a XEP-0203 delay stamp and delivered
//! at its next initial presence.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::OfflineMessage;

use crate::core::router;
use crate::core::{Addressee, Hooks};
use crate::registry::SessionHandle;
use crate::stanza;
use crate::Server;

/// Announce offline storage and the delay stamps it adds.
pub fn register(hooks: &mut Hooks) {
    hooks.feature(Addressee::Host, "msgoffline");
    hooks.feature(Addressee::Host, ns::DELAY);
}

/// Is the message worth keeping? Chat-state notifications alone are not,
/// nor a message its sender marked `<no-store/>` or `<no-permanent-store/>`
/// (XEP-0334 §4.2: "should not be stored", such as the bot's thanks).
fn storable(el: &Element) -> bool {
    el.children()
        .any(|c| c.ns() != ns::CHATSTATES && c.ns() != ns::HINTS)
        && !el
            .children()
            .any(|c| c.ns() == ns::HINTS && matches!(c.name(), "no-store" | "no-permanent-store"))
}

/// Store a message for `bare`; bounce it when the account's queue is full.
pub async fn store(server: &Arc<Server>, mut el: Element, bare: &str) {
    if !storable(&el) {
        return;
    }
    let stamp = stanza::now_stamp();
    if el.get_child("delay", ns::DELAY).is_none() {
        el.append_child(stanza::delay(&server.config.domain, &stamp));
    }
    let xml = String::from_utf8_lossy(&whassap_xml::to_bytes(&el)).into_owned();
    let user = bare.split('@').next().unwrap_or(bare);
    match server
        .store
        .offline_push(user, &xml, &stamp, server.config.max_offline_per_user)
        .await
    {
        Ok(true) => {
            server
                .metrics
                .offline_stored
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => {
            router::bounce(
                server,
                &el,
                "service-unavailable",
                Some("offline storage is full"),
            )
            .await
        }
        Err(e) => {
            tracing::error!(%bare, "storing an offline message failed: {e}");
            router::bounce(server, &el, "internal-server-error", None).await;
        }
    }
}

/// Deliver and then delete the stored messages of the session's account,
/// as [`whassap_store::Store::waiting`] listed them.
pub async fn deliver(server: &Server, session: &SessionHandle, messages: Vec<OfflineMessage>) {
    let user = session.username();
    let Some(last) = messages.last().map(|m| m.id) else {
        return;
    };
    for m in messages {
        if !session.send(Bytes::from(m.stanza_xml)) {
            return;
        }
    }
    if let Err(e) = server.store.offline_delete_upto(user, last).await {
        tracing::error!("deleting delivered offline messages failed: {e}");
    }
}
