//! Node configuration (XEP-0060 §8.2): the typed settings, their defaults for
//! the PubSub service and for PEP, the `pubsub#node_config` form, and
//! `publish-options` preconditions (§7.1.5).
//!
//! The form lists the same fields, in the same order and with the same
//! labels, as Prosody's: clients and test suites written against it see
//! nothing new.

use minidom::Element;
use serde::{Deserialize, Serialize};
use whassap_proto::ns;

use crate::stanza::{element, text_element};

/// The largest numeric `max_items` a client may ask for; `max` means no limit.
pub const MAX_ITEMS_LIMIT: u64 = 256;

/// How many items a node keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaxItems {
    /// At most this many.
    Count(u64),
    /// As many as the service keeps: all of them.
    Max,
}

impl MaxItems {
    /// The limit for the store (`None`: keep all).
    pub fn limit(self) -> Option<u64> {
        match self {
            MaxItems::Count(n) => Some(n),
            MaxItems::Max => None,
        }
    }

    fn as_value(self) -> String {
        match self {
            MaxItems::Count(n) => n.to_string(),
            MaxItems::Max => "max".into(),
        }
    }
}

/// Who may subscribe and retrieve items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessModel {
    /// Anyone must be approved by an owner.
    Authorize,
    /// Anyone.
    Open,
    /// Contacts subscribed to the owner's presence.
    Presence,
    /// Contacts in the allowed roster groups.
    Roster,
    /// Only affiliated JIDs.
    Whitelist,
}

/// Who may publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishModel {
    /// Owners and publishers.
    Publishers,
    /// Subscribers too.
    Subscribers,
    /// Anyone.
    Open,
}

/// When the last item is sent to a new subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendLast {
    /// Never.
    Never,
    /// On subscription.
    OnSub,
    /// On subscription and when a presence-based subscriber comes online.
    OnSubAndPresence,
}

/// Whose JID the `publisher` attribute of items carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemReply {
    /// The node owner's.
    Owner,
    /// The item publisher's.
    Publisher,
    /// None.
    None,
}

/// The configuration of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// `pubsub#title`.
    pub title: String,
    /// `pubsub#description`.
    pub description: String,
    /// `pubsub#type`: the payload namespace.
    pub payload_type: String,
    /// `pubsub#max_items`.
    pub max_items: MaxItems,
    /// `pubsub#persist_items`.
    pub persist_items: bool,
    /// `pubsub#access_model`.
    pub access_model: AccessModel,
    /// `pubsub#roster_groups_allowed`.
    pub roster_groups_allowed: Vec<String>,
    /// `pubsub#publish_model`.
    pub publish_model: PublishModel,
    /// `pubsub#send_last_published_item`.
    pub send_last_published_item: SendLast,
    /// `pubsub#deliver_notifications`.
    pub deliver_notifications: bool,
    /// `pubsub#deliver_payloads`.
    pub deliver_payloads: bool,
    /// `pubsub#notification_type`: `headline` or `normal`.
    pub notification_type: String,
    /// `pubsub#notify_delete`.
    pub notify_delete: bool,
    /// `pubsub#notify_retract`.
    pub notify_retract: bool,
    /// `pubsub#itemreply`.
    pub itemreply: ItemReply,
}

impl NodeConfig {
    /// Defaults of nodes on the PubSub service.
    pub fn service_default() -> Self {
        NodeConfig {
            title: String::new(),
            description: String::new(),
            payload_type: String::new(),
            max_items: MaxItems::Count(20),
            persist_items: true,
            access_model: AccessModel::Open,
            roster_groups_allowed: Vec::new(),
            publish_model: PublishModel::Publishers,
            send_last_published_item: SendLast::Never,
            deliver_notifications: true,
            deliver_payloads: true,
            notification_type: "headline".into(),
            notify_delete: true,
            notify_retract: true,
            itemreply: ItemReply::None,
        }
    }

    /// Defaults of PEP nodes (XEP-0163 §4): presence access, one item, last
    /// item sent on subscription and presence. The microblog node is open and
    /// keeps every entry, with the publisher on each item (XEP-0277, and what
    /// Movim and Libervia ask for in their publish-options).
    pub fn pep_default(node: &str) -> Self {
        let mut c = NodeConfig {
            max_items: MaxItems::Count(1),
            access_model: AccessModel::Presence,
            send_last_published_item: SendLast::OnSubAndPresence,
            ..Self::service_default()
        };
        if node == ns::MICROBLOG {
            c.access_model = AccessModel::Open;
            c.max_items = MaxItems::Max;
            c.itemreply = ItemReply::Publisher;
        }
        c
    }

    /// Serialise for the store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a node configuration serialises")
    }

    /// Read back from the store.
    pub fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }

    /// The `pubsub#node_config` form (`type='form'`) with current values.
    pub fn to_form(&self) -> Element {
        let mut x = element("x", ns::DATA_FORMS, &[("type", "form")]);
        let mut form_type = field("FORM_TYPE", "hidden", None);
        form_type.append_child(value(ns::PUBSUB_NODE_CONFIG));
        x.append_child(form_type);
        x.append_child(text_field("pubsub#title", "Title", &self.title));
        x.append_child(text_field(
            "pubsub#description",
            "Description",
            &self.description,
        ));
        x.append_child(text_field(
            "pubsub#type",
            "The type of node data, usually specified by the namespace of the payload (if any)",
            &self.payload_type,
        ));
        let mut max = field(
            "pubsub#max_items",
            "text-single",
            Some("Max # of items to persist"),
        );
        let mut validate = element(
            "validate",
            "http://jabber.org/protocol/xdata-validate",
            &[("datatype", "pubsub:integer-or-max")],
        );
        validate.append_child(element(
            "range",
            "http://jabber.org/protocol/xdata-validate",
            &[("min", "1"), ("max", &MAX_ITEMS_LIMIT.to_string())],
        ));
        max.append_child(validate);
        max.append_child(value(&self.max_items.as_value()));
        x.append_child(max);
        x.append_child(bool_field(
            "pubsub#persist_items",
            "Persist items to storage",
            self.persist_items,
        ));
        x.append_child(list_field(
            "pubsub#access_model",
            "Specify the subscriber model",
            &[
                ("authorize", "authorize"),
                ("open", "open"),
                ("presence", "presence"),
                ("roster", "roster"),
                ("whitelist", "whitelist"),
            ],
            access_name(self.access_model),
        ));
        let mut groups = field(
            "pubsub#roster_groups_allowed",
            "list-multi",
            Some("Roster groups allowed to subscribe"),
        );
        for g in &self.roster_groups_allowed {
            groups.append_child(value(g));
        }
        x.append_child(groups);
        x.append_child(list_field(
            "pubsub#publish_model",
            "Specify the publisher model",
            &[
                ("publishers", "publishers"),
                ("subscribers", "subscribers"),
                ("open", "open"),
            ],
            publish_name(self.publish_model),
        ));
        let mut send_last = field("pubsub#send_last_published_item", "list-single", None);
        for v in ["never", "on_sub", "on_sub_and_presence"] {
            send_last.append_child(option(v, v));
        }
        send_last.append_child(value(send_last_name(self.send_last_published_item)));
        x.append_child(send_last);
        x.append_child(bool_field(
            "pubsub#deliver_notifications",
            "Whether to deliver event notifications",
            self.deliver_notifications,
        ));
        x.append_child(bool_field(
            "pubsub#deliver_payloads",
            "Whether to deliver payloads with event notifications",
            self.deliver_payloads,
        ));
        x.append_child(list_field(
            "pubsub#notification_type",
            "Specify the delivery style for notifications",
            &[
                ("Messages of type normal", "normal"),
                ("Messages of type headline", "headline"),
            ],
            &self.notification_type,
        ));
        x.append_child(bool_field(
            "pubsub#notify_delete",
            "Whether to notify subscribers when the node is deleted",
            self.notify_delete,
        ));
        x.append_child(bool_field(
            "pubsub#notify_retract",
            "Whether to notify subscribers when items are removed from the node",
            self.notify_retract,
        ));
        x.append_child(list_field(
            "pubsub#itemreply",
            "Specify whose JID to include as the publisher of items",
            &[
                ("Include the node owner's JID", "owner"),
                ("Include the item publisher's JID", "publisher"),
                ("Don't include any JID with items", "none"),
            ],
            itemreply_name(self.itemreply),
        ));
        x
    }

    /// Apply a submitted form's fields. Fields not in the form keep their
    /// values; an unknown field or a bad value is an error naming it.
    pub fn apply_form(&mut self, x: &Element) -> Result<(), String> {
        for (var, values) in form_fields(x) {
            self.set(&var, &values)?;
        }
        Ok(())
    }

    /// Set one field from its form values.
    fn set(&mut self, var: &str, values: &[String]) -> Result<(), String> {
        let one = values.first().map(String::as_str).unwrap_or("");
        let bad = || format!("Invalid value for {var}: {one}");
        match var {
            "FORM_TYPE" => {}
            "pubsub#title" => self.title = one.into(),
            "pubsub#description" => self.description = one.into(),
            "pubsub#type" => self.payload_type = one.into(),
            "pubsub#max_items" => self.max_items = parse_max_items(one).ok_or_else(bad)?,
            "pubsub#persist_items" => self.persist_items = parse_bool(one).ok_or_else(bad)?,
            "pubsub#access_model" => {
                self.access_model = match one {
                    "authorize" => AccessModel::Authorize,
                    "open" => AccessModel::Open,
                    "presence" => AccessModel::Presence,
                    "roster" => AccessModel::Roster,
                    "whitelist" => AccessModel::Whitelist,
                    _ => return Err(bad()),
                }
            }
            "pubsub#roster_groups_allowed" => self.roster_groups_allowed = values.to_vec(),
            "pubsub#publish_model" => {
                self.publish_model = match one {
                    "publishers" => PublishModel::Publishers,
                    "subscribers" => PublishModel::Subscribers,
                    "open" => PublishModel::Open,
                    _ => return Err(bad()),
                }
            }
            "pubsub#send_last_published_item" => {
                self.send_last_published_item = match one {
                    "never" => SendLast::Never,
                    "on_sub" => SendLast::OnSub,
                    "on_sub_and_presence" => SendLast::OnSubAndPresence,
                    _ => return Err(bad()),
                }
            }
            "pubsub#deliver_notifications" => {
                self.deliver_notifications = parse_bool(one).ok_or_else(bad)?
            }
            "pubsub#deliver_payloads" => self.deliver_payloads = parse_bool(one).ok_or_else(bad)?,
            "pubsub#notification_type" => match one {
                "normal" | "headline" => self.notification_type = one.into(),
                _ => return Err(bad()),
            },
            "pubsub#notify_delete" => self.notify_delete = parse_bool(one).ok_or_else(bad)?,
            "pubsub#notify_retract" => self.notify_retract = parse_bool(one).ok_or_else(bad)?,
            "pubsub#itemreply" => {
                self.itemreply = match one {
                    "owner" => ItemReply::Owner,
                    "publisher" => ItemReply::Publisher,
                    "none" => ItemReply::None,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(format!("Unknown field: {var}")),
        }
        Ok(())
    }

    /// Check `publish-options` against this (existing) node's configuration:
    /// the name (without `pubsub#`) of the first field that does not match.
    pub fn unmet_precondition(&self, options: &Element) -> Option<String> {
        for (var, values) in form_fields(options) {
            if var == "FORM_TYPE" {
                continue;
            }
            let mut wanted = self.clone();
            let short = var.strip_prefix("pubsub#").unwrap_or(&var).to_string();
            if wanted.set(&var, &values).is_err() || wanted != *self {
                return Some(short);
            }
        }
        None
    }
}

/// `(var, values)` of every field of a submitted form.
pub fn form_fields(x: &Element) -> Vec<(String, Vec<String>)> {
    x.children()
        .filter(|f| f.is("field", ns::DATA_FORMS))
        .filter_map(|f| {
            let var = f.attr("var")?.to_string();
            let values = f
                .children()
                .filter(|v| v.is("value", ns::DATA_FORMS))
                .map(|v| v.text())
                .collect();
            Some((var, values))
        })
        .collect()
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn parse_max_items(v: &str) -> Option<MaxItems> {
    if v == "max" {
        return Some(MaxItems::Max);
    }
    let n: u64 = v.trim().parse().ok()?;
    (1..=MAX_ITEMS_LIMIT)
        .contains(&n)
        .then_some(MaxItems::Count(n))
}

fn access_name(a: AccessModel) -> &'static str {
    match a {
        AccessModel::Authorize => "authorize",
        AccessModel::Open => "open",
        AccessModel::Presence => "presence",
        AccessModel::Roster => "roster",
        AccessModel::Whitelist => "whitelist",
    }
}

fn publish_name(p: PublishModel) -> &'static str {
    match p {
        PublishModel::Publishers => "publishers",
        PublishModel::Subscribers => "subscribers",
        PublishModel::Open => "open",
    }
}

fn send_last_name(s: SendLast) -> &'static str {
    match s {
        SendLast::Never => "never",
        SendLast::OnSub => "on_sub",
        SendLast::OnSubAndPresence => "on_sub_and_presence",
    }
}

fn itemreply_name(i: ItemReply) -> &'static str {
    match i {
        ItemReply::Owner => "owner",
        ItemReply::Publisher => "publisher",
        ItemReply::None => "none",
    }
}

fn field(var: &str, kind: &str, label: Option<&str>) -> Element {
    let mut f = element("field", ns::DATA_FORMS, &[("var", var), ("type", kind)]);
    if let Some(l) = label {
        crate::stanza::set_attr(&mut f, "label", l);
    }
    f
}

fn value(v: &str) -> Element {
    text_element("value", ns::DATA_FORMS, v)
}

fn option(label: &str, v: &str) -> Element {
    let mut o = element("option", ns::DATA_FORMS, &[("label", label)]);
    o.append_child(value(v));
    o
}

fn text_field(var: &str, label: &str, current: &str) -> Element {
    let mut f = field(var, "text-single", Some(label));
    if !current.is_empty() {
        f.append_child(value(current));
    }
    f
}

fn bool_field(var: &str, label: &str, current: bool) -> Element {
    let mut f = field(var, "boolean", Some(label));
    f.append_child(value(if current { "1" } else { "0" }));
    f
}

fn list_field(var: &str, label: &str, options: &[(&str, &str)], current: &str) -> Element {
    let mut f = field(var, "list-single", Some(label));
    for (l, v) in options {
        f.append_child(option(l, v));
    }
    f.append_child(value(current));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_round_trips_and_partial_forms_change_only_their_fields() {
        let mut c = NodeConfig::pep_default("urn:example");
        let mut form = c.to_form();
        crate::stanza::set_attr(&mut form, "type", "submit");
        let before = c.clone();
        c.apply_form(&form).unwrap();
        assert_eq!(c, before);
        let partial: minidom::Element = "<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field></x>"
            .parse()
            .unwrap();
        c.apply_form(&partial).unwrap();
        assert_eq!(c.max_items, MaxItems::Max);
        assert_eq!(c.access_model, AccessModel::Presence);
        assert_eq!(NodeConfig::from_json(&c.to_json()), Some(c));
    }

    #[test]
    fn preconditions_name_the_first_mismatch() {
        let c = NodeConfig::pep_default(ns::MICROBLOG);
        let opts = |xml: &str| xml.parse::<minidom::Element>().unwrap();
        let ok = opts("<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field><field var='pubsub#max_items'><value>max</value></field><field var='pubsub#persist_items'><value>true</value></field></x>");
        assert_eq!(c.unmet_precondition(&ok), None);
        let bad = opts("<x xmlns='jabber:x:data'><field var='pubsub#access_model'><value>whitelist</value></field></x>");
        assert_eq!(c.unmet_precondition(&bad).as_deref(), Some("access_model"));
    }
}
