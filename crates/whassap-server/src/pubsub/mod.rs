//! XEP-0060 publish-subscribe, for the service at `pubsub.<domain>` and for
//! every account's PEP service (XEP-0163), with one implementation: a
//! service is named by its JID, and PEP differs only in its defaults, its
//! owner and its presence-based delivery ([`pep`]).
//!
//! Nodes live in the store; each node touched is also held in memory (its
//! configuration, affiliations and subscriptions) so that a publish reads
//! nothing but its own write, and subscribing touches one row and one map
//! entry, whatever the size of the node.

pub mod config;
pub mod disco;
pub mod handlers;
pub mod hooks;
pub mod items;
pub mod notify;
mod owner;
pub mod pep;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use minidom::Element;
use whassap_proto::ns;
use whassap_store::{StoreError, StoredSubscription};

use crate::stanza;
use crate::Server;
use config::{AccessModel, NodeConfig};

/// The node every status goes to, on the PubSub service.
pub const FIREHOSE_NODE: &str = "firehose";
/// How many statuses the firehose node keeps.
pub const FIREHOSE_MAX_ITEMS: u64 = 10_000;

/// A JID's affiliation with a node (XEP-0060 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affiliation {
    /// Banned.
    Outcast,
    /// None.
    None,
    /// May subscribe and retrieve.
    Member,
    /// May publish, not retrieve.
    PublishOnly,
    /// May publish and retrieve.
    Publisher,
    /// Full control.
    Owner,
}

impl Affiliation {
    /// Parse the XEP-0060 name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "outcast" => Affiliation::Outcast,
            "none" => Affiliation::None,
            "member" => Affiliation::Member,
            "publish-only" => Affiliation::PublishOnly,
            "publisher" => Affiliation::Publisher,
            "owner" => Affiliation::Owner,
            _ => return None,
        })
    }

    /// The XEP-0060 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
            Affiliation::Member => "member",
            Affiliation::PublishOnly => "publish-only",
            Affiliation::Publisher => "publisher",
            Affiliation::Owner => "owner",
        }
    }
}

/// One subscription of a JID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sub {
    /// Subscription id.
    pub subid: String,
    /// `subscribed` or `pending`.
    pub state: String,
}

/// A node as held in memory.
#[derive(Debug)]
pub struct Node {
    /// Its configuration.
    pub config: NodeConfig,
    /// Affiliations other than `none`, by bare JID.
    pub affiliations: HashMap<String, Affiliation>,
    /// Subscriptions by subscribed JID.
    pub subscriptions: HashMap<String, Vec<Sub>>,
}

impl Node {
    /// The affiliation of a bare JID.
    pub fn affiliation(&self, bare: &str) -> Affiliation {
        self.affiliations
            .get(bare)
            .copied()
            .unwrap_or(Affiliation::None)
    }

    /// Is this JID (exactly) subscribed?
    pub fn is_subscribed(&self, jid: &str) -> bool {
        self.subscriptions
            .get(jid)
            .is_some_and(|subs| subs.iter().any(|s| s.state == "subscribed"))
    }

    /// The owners' bare JIDs.
    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.affiliations
            .iter()
            .filter(|(_, a)| **a == Affiliation::Owner)
            .map(|(j, _)| j.as_str())
    }
}

/// A node shared between tasks. Its lock is never held across an `.await`.
pub type SharedNode = Arc<RwLock<Node>>;

/// Nodes in memory and PEP bookkeeping.
#[derive(Default)]
pub struct PubSub {
    nodes: DashMap<(String, String), SharedNode>,
    /// Names of each service's nodes, loaded once per service: presence
    /// handling asks about every `+notify` feature of every contact, mostly
    /// for nodes that do not exist, and must not ask the store each time.
    names: DashMap<String, Arc<RwLock<HashSet<String>>>>,
    /// Who can see each PEP service, per full JID.
    pub watchers: pep::Watchers,
    /// Bumped before any copy is dropped (in a cluster, when a node
    /// changes): a load from the store that saw it change while it read
    /// does not keep what it read, which may predate the change.
    generation: AtomicU64,
    /// Held while a node is read whole from the store.
    loading: DashMap<(String, String), Arc<tokio::sync::Mutex<()>>>,
}

/// A pubsub error: a stanza error with an optional `pubsub#errors` condition.
#[derive(Debug, Clone)]
pub struct PsError {
    /// `cancel`, `modify`, `auth` or `wait`.
    pub kind: &'static str,
    /// RFC 6120 condition.
    pub condition: &'static str,
    /// XEP-0060 application condition (in `pubsub#errors`).
    pub app: Option<&'static str>,
    /// Human-readable text.
    pub text: Option<String>,
}

impl PsError {
    /// An error with the condition's default type and no application condition.
    pub fn new(condition: &'static str) -> Self {
        PsError {
            kind: stanza::default_error_type(condition),
            condition,
            app: None,
            text: None,
        }
    }

    /// With a `pubsub#errors` condition.
    pub fn app(condition: &'static str, app: &'static str) -> Self {
        PsError {
            app: Some(app),
            ..Self::new(condition)
        }
    }

    /// With another error type.
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// With text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The error reply to `iq`.
    pub fn reply(&self, iq: &Element) -> Element {
        let mut out = stanza::iq_result(iq, None);
        stanza::set_attr(&mut out, "type", "error");
        let app = self.app.map(|a| stanza::element(a, ns::PUBSUB_ERRORS, &[]));
        out.append_child(stanza::error_element(
            self.kind,
            self.condition,
            self.text.as_deref(),
            app,
        ));
        out
    }
}

impl From<crate::statuses::StatusError> for PsError {
    fn from(e: crate::statuses::StatusError) -> Self {
        use crate::statuses::StatusError;
        match e {
            StatusError::Validation(text) => PsError::app("bad-request", "invalid-payload")
                .kind("modify")
                .text(text),
            StatusError::Conflict(text) => PsError::new("conflict").kind("cancel").text(text),
            StatusError::NotFound => PsError::new("item-not-found"),
            StatusError::Forbidden => PsError::new("forbidden"),
            StatusError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for PsError {
    fn from(e: StoreError) -> Self {
        tracing::error!("pubsub storage failed: {e}");
        PsError::new("internal-server-error")
    }
}

/// The JID of the PubSub service.
pub fn service_jid(server: &Server) -> String {
    format!("pubsub.{}", server.config.domain)
}

/// Is this service a PEP service (an account's bare JID)?
pub fn is_pep(service: &str) -> bool {
    service.contains('@')
}

impl PubSub {
    /// Does the service have a node with this name?
    pub async fn has_node(&self, server: &Server, service: &str, name: &str) -> bool {
        let names = match self.names.get(service).map(|n| n.clone()) {
            Some(n) => n,
            None => {
                let loaded: HashSet<String> = match server.store.pubsub_nodes(service).await {
                    Ok(nodes) => nodes.into_iter().map(|(n, _)| n).collect(),
                    Err(e) => {
                        tracing::error!("listing nodes of {service} failed: {e}");
                        return false;
                    }
                };
                self.names
                    .entry(service.to_string())
                    .or_insert_with(|| Arc::new(RwLock::new(loaded)))
                    .clone()
            }
        };
        let known = names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(name);
        known
    }

    fn note_name(&self, service: &str, name: &str, exists: bool) {
        if let Some(names) = self.names.get(service) {
            let mut names = names.write().unwrap_or_else(|e| e.into_inner());
            if exists {
                names.insert(name.to_string());
            } else {
                names.remove(name);
            }
        }
    }

    /// Forget everything held about a service (its account was deleted).
    pub fn forget_service(&self, service: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.names.remove(service);
        self.nodes.retain(|(s, _), _| s != service);
    }

    /// A node, from memory or the store. None if it does not exist.
    pub async fn node(
        &self,
        server: &Server,
        service: &str,
        name: &str,
    ) -> Result<Option<SharedNode>, StoreError> {
        let key = (service.to_string(), name.to_string());
        if let Some(n) = self.nodes.get(&key) {
            return Ok(Some(n.clone()));
        }
        // One read at a time per node: the others wait and take its copy,
        // and a subscriber's change from another node is applied to it
        // once it is kept (see `refresh_subscriber`).
        let loading = self.loading_lock(&key);
        let loaded = async {
            let _loading = loading.lock().await;
            if let Some(n) = self.nodes.get(&key) {
                return Ok(Some(n.clone()));
            }
            self.load(server, key.clone()).await
        }
        .await;
        drop(loading);
        self.loading_done(&key);
        loaded
    }

    /// Read a node whole from the store, and keep it unless a copy was
    /// dropped while it was read.
    async fn load(
        &self,
        server: &Server,
        key: (String, String),
    ) -> Result<Option<SharedNode>, StoreError> {
        let (service, name) = (key.0.as_str(), key.1.as_str());
        let generation = self.generation.load(Ordering::Acquire);
        let Some(config) = server.store.pubsub_node_config(service, name).await? else {
            return Ok(None);
        };
        let config = NodeConfig::from_json(&config)
            .ok_or_else(|| StoreError::Corrupt(format!("configuration of node {name:?}")))?;
        let affiliations = server
            .store
            .pubsub_affiliations(service, name)
            .await?
            .into_iter()
            .filter_map(|(jid, a)| Some((jid, Affiliation::parse(&a)?)))
            .collect();
        let mut subscriptions: HashMap<String, Vec<Sub>> = HashMap::new();
        for StoredSubscription { jid, subid, state } in
            server.store.pubsub_subscriptions(service, name).await?
        {
            subscriptions
                .entry(jid)
                .or_default()
                .push(Sub { subid, state });
        }
        let node = Arc::new(RwLock::new(Node {
            config,
            affiliations,
            subscriptions,
        }));
        // Checked under the map's lock: a copy dropped after this is
        // dropped from the map, one dropped before is not kept.
        Ok(Some(match self.nodes.entry(key) {
            Entry::Occupied(e) => e.get().clone(),
            Entry::Vacant(e) if self.generation.load(Ordering::Acquire) == generation => {
                e.insert(node).clone()
            }
            Entry::Vacant(_) => node,
        }))
    }

    /// Refuse a node that `owner` (a bare JID) asks to create beyond
    /// `max_pubsub_nodes_per_user` (by `create`, or by publishing to a node
    /// that does not exist yet).
    pub async fn check_quota(&self, server: &Server, owner: &str) -> Result<(), PsError> {
        let max = server.config.max_pubsub_nodes_per_user;
        let owned = server.store.pubsub_owned_count(owner).await?;
        if owned >= max as u64 {
            return Err(PsError::new("not-allowed").kind("cancel").text(format!(
                "you own {owned} nodes, the most this server allows"
            )));
        }
        Ok(())
    }

    /// Create a node in the store and in memory. False if it exists.
    pub async fn create(
        &self,
        server: &Server,
        service: &str,
        name: &str,
        config: NodeConfig,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let pep_user = is_pep(service).then(|| service.split('@').next().unwrap_or(service));
        if !server
            .store
            .pubsub_create_node(service, name, pep_user, &config.to_json(), owner)
            .await?
        {
            return Ok(false);
        }
        let node = Node {
            config,
            affiliations: HashMap::from([(owner.to_string(), Affiliation::Owner)]),
            subscriptions: HashMap::new(),
        };
        let node = Arc::new(RwLock::new(node));
        self.nodes
            .insert((service.to_string(), name.to_string()), node.clone());
        self.note_name(service, name, true);
        self.changed(server, service, name, &node);
        Ok(true)
    }

    /// A node's state changed on this node (created, configured,
    /// subscribed to, deleted…), in the store and in `node`, the copy the
    /// change was made to: the other nodes of the cluster drop their copy
    /// and read it again from the store when they next need it.
    pub fn changed(&self, server: &Server, service: &str, name: &str, node: &SharedNode) {
        self.changed_here(server, service, name, node);
        server
            .cluster
            .invalidate(crate::cluster::Invalidation::PubsubNode {
                service: service.to_string(),
                node: name.to_string(),
            });
    }

    /// `jid`'s subscriptions to a node changed on this node (in the store
    /// and in `node`): the other nodes read just those again, not the
    /// whole node, whose subscribers may be many thousands.
    pub fn subscriber_changed(
        &self,
        server: &Server,
        service: &str,
        name: &str,
        node: &SharedNode,
        jid: &str,
    ) {
        self.changed_here(server, service, name, node);
        server
            .cluster
            .invalidate(crate::cluster::Invalidation::PubsubSubscriber {
                service: service.to_string(),
                node: name.to_string(),
                jid: jid.to_string(),
            });
    }

    /// Another node changed `jid`'s subscriptions to a node: read them
    /// again into this node's copy, if it has one (after the copy being
    /// read now, if one is). Should this node change `jid`'s subscriptions
    /// itself while they are read, the copy is dropped instead (it is read
    /// whole when next needed).
    pub async fn refresh_subscriber(&self, server: &Server, service: &str, name: &str, jid: &str) {
        let key = (service.to_string(), name.to_string());
        let node = {
            let loading = self.loading_lock(&key);
            let _loaded = loading.lock().await;
            self.nodes.get(&key).map(|n| n.clone())
        };
        self.loading_done(&key);
        // Without a copy, the next read of the node sees the change.
        let Some(node) = node else {
            return;
        };
        let before = read(&node, |n| n.subscriptions.get(jid).cloned());
        let subs = match server
            .store
            .pubsub_subscriptions_of(service, name, jid)
            .await
        {
            Ok(subs) => subs,
            Err(e) => {
                tracing::warn!(%service, node = %name, "reading a subscriber again failed: {e}");
                self.forget_copy(service, name);
                return;
            }
        };
        let applied = write(&node, |n| {
            if n.subscriptions.get(jid) != before.as_ref() {
                return false;
            }
            let subs: Vec<Sub> = subs
                .into_iter()
                .map(|s| Sub {
                    subid: s.subid,
                    state: s.state,
                })
                .collect();
            if subs.is_empty() {
                n.subscriptions.remove(jid);
            } else {
                n.subscriptions.insert(jid.to_string(), subs);
            }
            true
        });
        if !applied {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.nodes
                .remove_if(&key, |_, kept| Arc::ptr_eq(kept, &node));
        }
    }

    /// The lock held while a node is read whole from the store.
    fn loading_lock(&self, key: &(String, String)) -> Arc<tokio::sync::Mutex<()>> {
        self.loading.entry(key.clone()).or_default().clone()
    }

    /// Forget the loading lock of a node nobody is using.
    fn loading_done(&self, key: &(String, String)) {
        self.loading
            .remove_if(key, |_, lock| Arc::strong_count(lock) == 1);
    }

    /// This node's own bookkeeping after a change it made to `node`.
    fn changed_here(&self, server: &Server, service: &str, name: &str, node: &SharedNode) {
        if server.cluster.node().is_some() {
            // A load from the store that began before this change must not
            // be kept, and one kept meanwhile (another node's change dropped
            // `node` and it was read again) lacks the change: drop it.
            self.generation.fetch_add(1, Ordering::AcqRel);
            let key = (service.to_string(), name.to_string());
            self.nodes
                .remove_if(&key, |_, kept| !Arc::ptr_eq(kept, node));
        }
    }

    /// Another node changed a node: drop this node's copy of it and of the
    /// service's node names.
    pub fn forget_copy(&self, service: &str, name: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.nodes.remove(&(service.to_string(), name.to_string()));
        self.names.remove(service);
    }

    /// Forget a deleted node.
    pub fn forget(&self, service: &str, name: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.nodes.remove(&(service.to_string(), name.to_string()));
        self.note_name(service, name, false);
    }

    /// Create the firehose node at start-up if it is missing.
    pub async fn ensure_firehose(&self, server: &Server) -> Result<(), StoreError> {
        let service = service_jid(server);
        if self.node(server, &service, FIREHOSE_NODE).await?.is_some() {
            return Ok(());
        }
        let mut config = NodeConfig::service_default();
        config.title = "Every public status".into();
        config.max_items = config::MaxItems::Count(FIREHOSE_MAX_ITEMS);
        config.itemreply = config::ItemReply::Publisher;
        self.create(
            server,
            &service,
            FIREHOSE_NODE,
            config,
            &server.config.domain,
        )
        .await?;
        tracing::info!(node = FIREHOSE_NODE, %service, "created the firehose node");
        Ok(())
    }
}

/// Read a node's state (a short, synchronous critical section).
pub fn read<T>(node: &SharedNode, f: impl FnOnce(&Node) -> T) -> T {
    f(&node.read().unwrap_or_else(|e| e.into_inner()))
}

/// Change a node's state (a short, synchronous critical section).
pub fn write<T>(node: &SharedNode, f: impl FnOnce(&mut Node) -> T) -> T {
    f(&mut node.write().unwrap_or_else(|e| e.into_inner()))
}

/// May `requester` (bare JID) see this node's items and subscribe?
/// `owner` is the PEP account (or, for the service, the node's owners are
/// used for presence and roster checks).
pub async fn check_access(
    server: &Server,
    service: &str,
    node: &SharedNode,
    requester: &str,
) -> Result<(), PsError> {
    let (affiliation, model, groups, owners) = read(node, |n| {
        (
            n.affiliation(requester),
            n.config.access_model,
            n.config.roster_groups_allowed.clone(),
            n.owners().map(str::to_owned).collect::<Vec<_>>(),
        )
    });
    if is_pep(service) && requester == service {
        return Ok(());
    }
    match affiliation {
        Affiliation::Outcast => return Err(PsError::new("forbidden")),
        Affiliation::Owner | Affiliation::Publisher | Affiliation::Member => return Ok(()),
        _ => {}
    }
    let owners: Vec<String> = if is_pep(service) {
        vec![service.to_string()]
    } else {
        owners
    };
    match model {
        AccessModel::Open => Ok(()),
        AccessModel::Presence => {
            for owner in &owners {
                if let Some(item) = roster_item(server, owner, requester).await {
                    if matches!(
                        item.subscription,
                        whassap_store::Subscription::From | whassap_store::Subscription::Both
                    ) {
                        return Ok(());
                    }
                }
            }
            Err(PsError::app(
                "not-authorized",
                "presence-subscription-required",
            ))
        }
        AccessModel::Roster => {
            for owner in &owners {
                if let Some(item) = roster_item(server, owner, requester).await {
                    if item.groups.iter().any(|g| groups.contains(g)) {
                        return Ok(());
                    }
                }
            }
            Err(PsError::app("not-authorized", "not-in-roster-group"))
        }
        AccessModel::Whitelist => Err(PsError::app("not-allowed", "closed-node")),
        AccessModel::Authorize => {
            if read(node, |n| n.is_subscribed(requester)) {
                Ok(())
            } else {
                Err(PsError::app("not-authorized", "not-subscribed"))
            }
        }
    }
}

/// `owner`'s roster item for `contact`, if `owner` is a local account.
async fn roster_item(
    server: &Server,
    owner: &str,
    contact: &str,
) -> Option<whassap_store::RosterItem> {
    let (user, domain) = owner.split_once('@')?;
    if domain != server.config.domain {
        return None;
    }
    server.store.roster_item(user, contact).await.ok().flatten()
}
