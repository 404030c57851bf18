//! Statuses over XMPP: XEP-0277 Atom entries on each user's microblog PEP
//! node, as Whassap publishes them (SPEC §4) and as any server's PEP
//! service stores them.

use minidom::{Element, Node};
use serde::Serialize;

use crate::pubsub::Item;
use crate::{Client, ClientError};

/// The microblog PEP node (XEP-0277).
pub(crate) const NS_MICROBLOG: &str = "urn:xmpp:microblog:0";
const NS_ATOM: &str = "http://www.w3.org/2005/Atom";

/// A status: one entry of someone's microblog node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The item id (Whassap's status id).
    pub id: String,
    /// Who posted it.
    pub author: Author,
    /// The text (the entry's title).
    pub text: String,
    /// When it was published (RFC 3339), if the entry says.
    pub created_at: Option<String>,
    /// Its web page (the entry's `alternate` link), if any.
    pub url: Option<String>,
}

/// A status's author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Author {
    /// The bare JID of the node's owner.
    pub jid: String,
    /// The entry's author name, if any.
    pub display_name: Option<String>,
}

impl Status {
    /// The status in an item of `owner`'s microblog node; `None` if the
    /// item holds no Atom entry with a title.
    pub fn from_item(owner: &str, item: &Item) -> Option<Status> {
        let entry = item.payload.as_ref().filter(|p| p.is("entry", NS_ATOM))?;
        let title = entry.get_child("title", NS_ATOM)?;
        let mut text = String::new();
        collect_text(title, &mut text);
        let child = |name: &str| entry.get_child(name, NS_ATOM).map(Element::text);
        Some(Status {
            id: item.id.clone(),
            author: Author {
                jid: owner.to_owned(),
                display_name: entry
                    .get_child("author", NS_ATOM)
                    .and_then(|a| a.get_child("name", NS_ATOM))
                    .map(Element::text),
            },
            text,
            created_at: child("published").or_else(|| child("updated")),
            url: entry
                .children()
                .find(|c| c.is("link", NS_ATOM) && c.attr("rel") == Some("alternate"))
                .and_then(|l| l.attr("href"))
                .map(str::to_owned),
        })
    }
}

fn collect_text(el: &Element, out: &mut String) {
    for node in el.nodes() {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => collect_text(e, out),
        }
    }
}

impl Client {
    /// Set your status: publish an XEP-0277 entry titled `text` on your
    /// microblog node. Returns its id (on Whassap, the status id).
    pub async fn set_status(&mut self, text: &str) -> Result<String, ClientError> {
        let mut entry = Element::bare("entry", NS_ATOM);
        let mut title = Element::bare("title", NS_ATOM);
        title.append_text(text);
        entry.append_child(title);
        self.publish(None, NS_MICROBLOG, None, entry).await
    }

    /// The current (newest) status of `jid` (a bare JID, here or on
    /// another server); `None` if they have none.
    pub async fn status_of(&mut self, jid: &str) -> Result<Option<Status>, ClientError> {
        let items = match self.items(Some(jid), NS_MICROBLOG, Some(1)).await {
            Ok(items) => items,
            // No node: they never set a status.
            Err(ClientError::Stanza(e)) if e.condition == "item-not-found" => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut statuses: Vec<Status> = items
            .iter()
            .filter_map(|i| Status::from_item(jid, i))
            .collect();
        statuses.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(statuses.pop())
    }

    /// Follow `jid`'s statuses: subscribe to their microblog node. Each new
    /// one then comes as [`Event::Status`](crate::Event::Status) (see
    /// [`next_status`](Client::next_status)).
    pub async fn watch(&mut self, jid: &str) -> Result<(), ClientError> {
        self.subscribe(Some(jid), NS_MICROBLOG).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whassap_entry_gives_a_typed_status() {
        let entry: Element = "<entry xmlns='http://www.w3.org/2005/Atom'>\
            <title type='text'>at the pub &amp; more</title>\
            <published>2026-11-24T19:00:00Z</published>\
            <author><name>Alice</name><uri>xmpp:alice@localhost</uri></author>\
            <link rel='alternate' type='text/html' href='http://localhost:3000/alice/statuses/01J'/>\
            </entry>"
            .parse()
            .unwrap();
        let item = Item {
            id: "01J".into(),
            payload: Some(entry),
        };
        let s = Status::from_item("alice@localhost", &item).unwrap();
        assert_eq!(s.text, "at the pub & more");
        assert_eq!(s.author.display_name.as_deref(), Some("Alice"));
        assert_eq!(s.created_at.as_deref(), Some("2026-11-24T19:00:00Z"));
        assert_eq!(
            s.url.as_deref(),
            Some("http://localhost:3000/alice/statuses/01J")
        );
        let empty = Item {
            id: "x".into(),
            payload: None,
        };
        assert_eq!(Status::from_item("alice@localhost", &empty), None);
    }
}
