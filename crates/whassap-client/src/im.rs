//! Instant messages: send one, read them as they come.

use minidom::Element;
use serde::Serialize;

use crate::client::element;
use crate::{Client, ClientError, StanzaError};

pub(crate) const NS_PING: &str = "urn:xmpp:ping";

/// A message with a body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The sender's JID, as the server gave it (full for a client).
    pub from: String,
    /// The text.
    pub body: String,
    /// `chat`, `normal`, `headline` or `groupchat`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Message {
    /// The message in a `<message/>` stanza with a body; `None` for one
    /// without (chat states, receipts, PubSub events) or an error.
    pub fn from_stanza(stanza: &Element) -> Option<Message> {
        let kind = stanza.attr("type").unwrap_or("normal");
        if kind == "error" {
            return None;
        }
        let body = stanza.get_child("body", whassap_xml::NS_CLIENT)?;
        Some(Message {
            from: stanza.attr("from").unwrap_or_default().to_owned(),
            body: body.text(),
            kind: kind.to_owned(),
        })
    }
}

impl Client {
    /// Send a chat message to `to` (a bare or full JID). Returns once the
    /// server has routed it: if the server refuses it (no such user, a
    /// bad JID, blocked), that is [`ClientError::Stanza`].
    pub async fn send_message(&mut self, to: &str, body: &str) -> Result<(), ClientError> {
        let id = self.fresh_id();
        let mut message = element(
            "message",
            whassap_xml::NS_CLIENT,
            &[("to", to), ("type", "chat"), ("id", &id)],
        );
        let mut text = Element::bare("body", whassap_xml::NS_CLIENT);
        text.append_text(body);
        message.append_child(text);
        self.send(&message).await?;
        // A round trip to our own server: its refusal of the message, if
        // any, arrives before the ping's answer (RFC 6120 §10.1 keeps order).
        let mut ping = element("iq", whassap_xml::NS_CLIENT, &[("type", "get")]);
        ping.append_child(Element::bare("ping", NS_PING));
        self.iq(ping).await?;
        let refusal = self.pending().iter().find(|s| {
            s.name() == "message" && s.attr("type") == Some("error") && s.attr("id") == Some(&id)
        });
        match refusal {
            Some(error) => Err(ClientError::Stanza(StanzaError::from_stanza(error))),
            None => Ok(()),
        }
    }
}
