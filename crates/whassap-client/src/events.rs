//! Everything that arrives, typed: [`Client::next_event`]. Requests the
//! client must answer (XEP-0199 pings, anything else it does not serve)
//! are answered on the way.

use minidom::Element;
use serde::Serialize;

use crate::client::element;
use crate::contacts::{contact, NS_ROSTER};
use crate::microblog::{Status, NS_MICROBLOG};
use crate::pubsub::{Item, NS_PUBSUB_EVENT};
use crate::{Client, ClientError, Contact, Message};

use crate::im::NS_PING;
use crate::stanza_error::NS_STANZAS;

/// Something that arrived on the stream.
#[derive(Clone, Debug)]
pub enum Event {
    /// A message with a body.
    Message(Message),
    /// A presence: a contact's availability, or a subscription request
    /// or answer (`kind` says which).
    Presence(Presence),
    /// A roster push: a contact was added, changed (its subscription) or
    /// removed (`subscription == "remove"`).
    Contact(Contact),
    /// A new status on a watched microblog node (XEP-0277).
    Status(Status),
    /// Items published on another PubSub or PEP node.
    Items {
        /// The service (a PubSub component, or the owner's bare JID for PEP).
        from: String,
        /// The node.
        node: String,
        /// The new items.
        items: Vec<Item>,
    },
    /// The connection dropped and the client logged in again (with
    /// [`Client::reconnect_with`]); stanzas sent meanwhile to this full JID
    /// may be lost, those to the bare JID wait offline.
    Reconnected,
    /// Any other stanza, as it came.
    Other(Element),
}

/// A presence stanza.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Presence {
    /// Who it is from (a full JID for availability).
    pub from: String,
    /// `None` for "available"; else `unavailable`, `subscribe`,
    /// `subscribed`, `unsubscribe`, `unsubscribed` or `error`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `away`, `chat`, `dnd` or `xa`; `None` is plainly available.
    pub show: Option<String>,
    /// The free-text status message.
    pub status: Option<String>,
}

impl Client {
    /// The next event, in order of arrival. Incoming requests are answered
    /// (a ping with a result, anything else with `service-unavailable`)
    /// and not returned.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            let stanza = match self.recv().await {
                Ok(stanza) => stanza,
                Err(e) if self.should_reconnect(&e) => {
                    tracing::warn!(error = %e, "connection lost");
                    self.reconnect_now().await?;
                    return Ok(Event::Reconnected);
                }
                Err(e) => return Err(e),
            };
            match stanza.name() {
                "iq" => {
                    if let Some(pushed) = self.roster_push(&stanza) {
                        self.answer_result(&stanza).await?;
                        return Ok(Event::Contact(pushed));
                    }
                    self.answer(&stanza).await?
                }
                "presence" => return Ok(Event::Presence(presence(&stanza))),
                "message" => {
                    if let Some(event) = stanza.get_child("event", NS_PUBSUB_EVENT) {
                        let from = stanza.attr("from").unwrap_or_default().to_owned();
                        self.events.extend(pubsub_events(&from, event));
                        continue;
                    }
                    match Message::from_stanza(&stanza) {
                        Some(m) => return Ok(Event::Message(m)),
                        None => return Ok(Event::Other(stanza)),
                    }
                }
                _ => return Ok(Event::Other(stanza)),
            }
        }
    }

    /// The next message with a body; other events are dropped.
    pub async fn next_message(&mut self) -> Result<Message, ClientError> {
        loop {
            if let Event::Message(m) = self.next_event().await? {
                return Ok(m);
            }
        }
    }

    /// The next new status on a watched microblog node; other events are
    /// dropped.
    pub async fn next_status(&mut self) -> Result<Status, ClientError> {
        loop {
            if let Event::Status(s) = self.next_event().await? {
                return Ok(s);
            }
        }
    }

    /// The contact a roster push carries, if `iq` is one (from our own
    /// server: no `from`, or our bare JID).
    fn roster_push(&self, iq: &Element) -> Option<Contact> {
        if iq.attr("type") != Some("set") {
            return None;
        }
        if iq.attr("from").is_some_and(|f| f != self.bare_jid()) {
            return None;
        }
        let item = iq
            .get_child("query", NS_ROSTER)?
            .get_child("item", NS_ROSTER)?;
        Some(contact(item))
    }

    async fn answer_result(&mut self, iq: &Element) -> Result<(), ClientError> {
        let id = iq.attr("id").unwrap_or_default();
        let reply = element(
            "iq",
            whassap_xml::NS_CLIENT,
            &[("id", id), ("type", "result")],
        );
        self.send(&reply).await
    }

    /// Answer a request addressed to this client.
    async fn answer(&mut self, iq: &Element) -> Result<(), ClientError> {
        if !matches!(iq.attr("type"), Some("get" | "set")) {
            return Ok(());
        }
        let mut attrs = vec![("id", iq.attr("id").unwrap_or_default())];
        if let Some(from) = iq.attr("from") {
            attrs.push(("to", from));
        }
        let is_ping = iq.get_child("ping", NS_PING).is_some();
        attrs.push(("type", if is_ping { "result" } else { "error" }));
        let mut reply = element("iq", whassap_xml::NS_CLIENT, &attrs);
        if !is_ping {
            let mut error = element("error", whassap_xml::NS_CLIENT, &[("type", "cancel")]);
            error.append_child(Element::bare("service-unavailable", NS_STANZAS));
            reply.append_child(error);
        }
        self.send(&reply).await
    }
}

fn presence(stanza: &Element) -> Presence {
    let child = |name: &str| {
        stanza
            .get_child(name, whassap_xml::NS_CLIENT)
            .map(Element::text)
    };
    Presence {
        from: stanza.attr("from").unwrap_or_default().to_owned(),
        kind: stanza.attr("type").map(str::to_owned),
        show: child("show"),
        status: child("status"),
    }
}

/// A PubSub event's new items: statuses for microblog nodes, else items.
fn pubsub_events(from: &str, event: &Element) -> Vec<Event> {
    let Some(items) = event.get_child("items", NS_PUBSUB_EVENT) else {
        return Vec::new();
    };
    let node = items.attr("node").unwrap_or_default();
    let items: Vec<Item> = items
        .children()
        .filter(|c| c.is("item", NS_PUBSUB_EVENT))
        .map(Item::from_element)
        .collect();
    if items.is_empty() {
        return Vec::new();
    }
    if node == NS_MICROBLOG {
        let author = from.split('/').next().unwrap_or(from);
        return items
            .iter()
            .filter_map(|i| Status::from_item(author, i))
            .map(Event::Status)
            .collect();
    }
    vec![Event::Items {
        from: from.to_owned(),
        node: node.to_owned(),
        items,
    }]
}
