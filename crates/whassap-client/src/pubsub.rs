//! PubSub (XEP-0060) and PEP (XEP-0163): publish, subscribe, unsubscribe,
//! read items. A `service` of `None` is your own PEP service.

use minidom::Element;

use crate::client::element;
use crate::{Client, ClientError};

pub(crate) const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
pub(crate) const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// A published item.
#[derive(Clone, Debug)]
pub struct Item {
    /// The item id.
    pub id: String,
    /// Its payload, if the node delivers payloads.
    pub payload: Option<Element>,
}

impl Item {
    /// The item of an `<item/>` element (PubSub or PubSub event).
    pub fn from_element(item: &Element) -> Item {
        Item {
            id: item.attr("id").unwrap_or_default().to_owned(),
            payload: item.children().next().cloned(),
        }
    }
}

impl Client {
    /// Publish `payload` on `node` of `service` (your PEP service if
    /// `None`, which creates the node on first use), with the item id `id`
    /// or one the server chooses. Returns the item's id.
    pub async fn publish(
        &mut self,
        service: Option<&str>,
        node: &str,
        id: Option<&str>,
        payload: Element,
    ) -> Result<String, ClientError> {
        let mut item = match id {
            Some(id) => element("item", NS_PUBSUB, &[("id", id)]),
            None => Element::bare("item", NS_PUBSUB),
        };
        item.append_child(payload);
        let mut publish = element("publish", NS_PUBSUB, &[("node", node)]);
        publish.append_child(item);
        let answer = self.pubsub("set", service, publish).await?;
        let given = answer
            .get_child("pubsub", NS_PUBSUB)
            .and_then(|p| p.get_child("publish", NS_PUBSUB))
            .and_then(|p| p.get_child("item", NS_PUBSUB))
            .and_then(|i| i.attr("id"));
        match given.or(id) {
            Some(id) => Ok(id.to_owned()),
            None => Err(ClientError::Protocol(
                "the publish result names no item id".into(),
            )),
        }
    }

    /// Create `node` on `service` with the service's default
    /// configuration (a PEP node is also created by its first publish).
    pub async fn create_node(
        &mut self,
        service: Option<&str>,
        node: &str,
    ) -> Result<(), ClientError> {
        let op = element("create", NS_PUBSUB, &[("node", node)]);
        self.pubsub("set", service, op).await.map(drop)
    }

    /// Subscribe this account (its bare JID) to `node`; new items then
    /// come as [`Event::Items`](crate::Event::Items) or
    /// [`Event::Status`](crate::Event::Status).
    pub async fn subscribe(
        &mut self,
        service: Option<&str>,
        node: &str,
    ) -> Result<(), ClientError> {
        self.subscription("subscribe", service, node).await
    }

    /// End this account's subscription to `node`.
    pub async fn unsubscribe(
        &mut self,
        service: Option<&str>,
        node: &str,
    ) -> Result<(), ClientError> {
        self.subscription("unsubscribe", service, node).await
    }

    /// The node's items, the newest `max` of them if given, in the order
    /// the service lists them.
    pub async fn items(
        &mut self,
        service: Option<&str>,
        node: &str,
        max: Option<u32>,
    ) -> Result<Vec<Item>, ClientError> {
        let max = max.map(|m| m.to_string());
        let mut attrs = vec![("node", node)];
        if let Some(max) = &max {
            attrs.push(("max_items", max));
        }
        let answer = self
            .pubsub("get", service, element("items", NS_PUBSUB, &attrs))
            .await?;
        Ok(answer
            .get_child("pubsub", NS_PUBSUB)
            .and_then(|p| p.get_child("items", NS_PUBSUB))
            .map(|items| {
                items
                    .children()
                    .filter(|c| c.is("item", NS_PUBSUB))
                    .map(Item::from_element)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `subscribe` or `unsubscribe` this account's bare JID.
    async fn subscription(
        &mut self,
        op: &str,
        service: Option<&str>,
        node: &str,
    ) -> Result<(), ClientError> {
        let jid = self.bare_jid().to_owned();
        let op = element(op, NS_PUBSUB, &[("node", node), ("jid", &jid)]);
        self.pubsub("set", service, op).await.map(drop)
    }

    async fn pubsub(
        &mut self,
        kind: &str,
        service: Option<&str>,
        op: Element,
    ) -> Result<Element, ClientError> {
        let mut attrs = vec![("type", kind)];
        if let Some(service) = service {
            attrs.push(("to", service));
        }
        let mut pubsub = Element::bare("pubsub", NS_PUBSUB);
        pubsub.append_child(op);
        let mut iq = element("iq", whassap_xml::NS_CLIENT, &attrs);
        iq.append_child(pubsub);
        self.request(iq).await
    }
}
