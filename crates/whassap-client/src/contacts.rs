//! Contacts: the roster (RFC 6121 §2) and presence subscriptions (§3).

use minidom::Element;
use serde::Serialize;

use crate::client::element;
use crate::{Client, ClientError};

pub(crate) const NS_ROSTER: &str = "jabber:iq:roster";

/// One contact of the roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Contact {
    /// The contact's bare JID.
    pub jid: String,
    /// The name you gave them, if any.
    pub name: Option<String>,
    /// `none`, `to` (you see their presence), `from` (they see yours) or
    /// `both`.
    pub subscription: String,
    /// Whether you asked to see their presence and they have not answered.
    pub pending: bool,
}

/// The contact of a roster `<item/>`.
pub(crate) fn contact(item: &Element) -> Contact {
    Contact {
        jid: item.attr("jid").unwrap_or_default().to_owned(),
        name: item.attr("name").map(str::to_owned),
        subscription: item.attr("subscription").unwrap_or("none").to_owned(),
        pending: item.attr("ask") == Some("subscribe"),
    }
}

impl Client {
    /// The roster. Fetching it also asks the server for contacts'
    /// subscription requests and answers (RFC 6121 §2.1.6).
    pub async fn contacts(&mut self) -> Result<Vec<Contact>, ClientError> {
        let mut iq = element("iq", whassap_xml::NS_CLIENT, &[("type", "get")]);
        iq.append_child(Element::bare("query", NS_ROSTER));
        let answer = self.request(iq).await?;
        let Some(query) = answer.get_child("query", NS_ROSTER) else {
            return Ok(Vec::new());
        };
        Ok(query
            .children()
            .filter(|c| c.is("item", NS_ROSTER))
            .map(contact)
            .collect())
    }

    /// Add `jid` to the roster and ask to see their presence (and
    /// statuses); they accept or deny on their side.
    pub async fn add_contact(&mut self, jid: &str) -> Result<(), ClientError> {
        self.roster_set(jid, &[]).await?;
        self.presence_to(jid, "subscribe").await
    }

    /// Remove `jid` from the roster, ending both subscriptions.
    pub async fn remove_contact(&mut self, jid: &str) -> Result<(), ClientError> {
        self.roster_set(jid, &[("subscription", "remove")]).await
    }

    /// Accept `jid`'s request to see your presence.
    pub async fn accept(&mut self, jid: &str) -> Result<(), ClientError> {
        self.presence_to(jid, "subscribed").await
    }

    /// Deny `jid`'s request to see your presence (or revoke it).
    pub async fn deny(&mut self, jid: &str) -> Result<(), ClientError> {
        self.presence_to(jid, "unsubscribed").await
    }

    async fn roster_set(&mut self, jid: &str, attrs: &[(&str, &str)]) -> Result<(), ClientError> {
        let mut item_attrs = vec![("jid", jid)];
        item_attrs.extend_from_slice(attrs);
        let mut query = Element::bare("query", NS_ROSTER);
        query.append_child(element("item", NS_ROSTER, &item_attrs));
        let mut iq = element("iq", whassap_xml::NS_CLIENT, &[("type", "set")]);
        iq.append_child(query);
        self.request(iq).await.map(drop)
    }

    async fn presence_to(&mut self, jid: &str, kind: &str) -> Result<(), ClientError> {
        let presence = element(
            "presence",
            whassap_xml::NS_CLIENT,
            &[("to", jid), ("type", kind)],
        );
        self.send(&presence).await
    }
}
