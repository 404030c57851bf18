//! The notifications API's send (SPEC §8): an application IMs a user
//! through the bot, as GitHub's Jabber hook did. Only to users who
//! accepted the bot: a local user whose roster has the bot with a
//! subscription to its presence, or another server's user who subscribed
//! to it (kept in the store, see [`super::subscription_changed`]).

use std::sync::Arc;

use whassap_proto::ns;
use whassap_store::{StoreError, Subscription};

use crate::core::router;
use crate::stanza::{self, element, text_element};
use crate::Server;

/// Message types an application may send.
pub const TYPES: [&str; 3] = ["chat", "normal", "headline"];

/// Why a notification was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `to` is not a JID of a user (a bare or full JID with a local part).
    #[error("{0}")]
    BadRecipient(String),
    /// The recipient has not accepted the bot.
    #[error("{0} has not accepted {1}: they must add it as a contact first")]
    NotAccepted(String, String),
    /// The store could not say.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Has `bare` (a user's bare JID) accepted the bot?
pub async fn accepted(server: &Server, bare: &jid::BareJid) -> Result<bool, StoreError> {
    let Some(user) = bare.node() else {
        return Ok(false);
    };
    if bare.domain().as_str() == server.config.domain {
        let item = server
            .store
            .roster_item(user.as_str(), &super::jid(server))
            .await?;
        return Ok(
            item.is_some_and(|i| matches!(i.subscription, Subscription::To | Subscription::Both))
        );
    }
    server.store.is_bot_subscriber(&bare.to_string()).await
}

/// `to` as a recipient: a user's bare or full JID.
pub fn recipient(to: &str) -> Result<jid::Jid, NotifyError> {
    let bad = || NotifyError::BadRecipient(format!("{to:?} is not a user's JID"));
    let jid = jid::Jid::new(to.trim()).map_err(|_| bad())?;
    if jid.node().is_none() {
        return Err(bad());
    }
    Ok(jid)
}

/// Send `body` as a message of `kind` (one of [`TYPES`]) from the bot to
/// `to` (see [`recipient`]), if they accepted the bot. Returns the
/// message's id.
pub async fn send(
    server: &Arc<Server>,
    to: &jid::Jid,
    body: &str,
    kind: &str,
) -> Result<String, NotifyError> {
    let bare = to.to_bare();
    if !accepted(server, &bare).await? {
        return Err(NotifyError::NotAccepted(
            bare.to_string(),
            super::jid(server),
        ));
    }
    let id = stanza::random_id();
    let mut message = element(
        "message",
        ns::JABBER_CLIENT,
        &[
            ("type", kind),
            ("from", &super::jid(server)),
            ("to", &to.to_string()),
            ("id", &id),
        ],
    );
    message.append_child(text_element("body", ns::JABBER_CLIENT, body));
    router::route(server.clone(), message).await;
    Ok(id)
}
