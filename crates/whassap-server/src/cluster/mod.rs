//! Several nodes serving one domain (SPEC §7): sessions on other nodes, as
//! this node sees them, and the NATS bus that keeps that view.
//!
//! Every node publishes the state of its sessions (bound, presence,
//! priority, interest in roster and blocklist pushes) to the others. Each
//! node keeps a **proxy** of every session of the other nodes in its own
//! registry: a [`SessionHandle`] with [`SessionHandle::node`] set, whose
//! queue is drained by a forwarder instead of a socket writer. So the core
//! needs no second code path: RFC 6121's rules (the highest-priority
//! resources of a bare JID, presence broadcast and probes, roster pushes)
//! see every session of the cluster, and what they queue for a proxy goes
//! over the bus to the node that holds the session, which writes it.
//!
//! Nodes send heartbeats every [`HEARTBEAT`]; one silent for [`DEAD_AFTER`]
//! is dead: its proxies go, and one surviving node (the first by name)
//! ends its sessions as if they had closed (contacts get `unavailable`).
//! Subjects are `whassap.<cluster id>.…`; the cluster id is kept in the
//! shared database, so the nodes of one database form one cluster.

mod pump;
mod remote;
mod statuses;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::core::Ctx;
use crate::registry::SessionHandle;
use crate::{Server, ServerError};
pub use statuses::StatusNews;
pub use wire::{
    Caps, DirectoryEvent, Entry, Heartbeat, Invalidation, InvalidationFrom, NodeRequest,
    RemoteContact, SessionState,
};

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

/// A node silent this long is dead (well within SPEC §7's 30 s).
pub const DEAD_AFTER: Duration = Duration::from_secs(15);

/// Messages waiting for the publisher before new ones are dropped (and
/// logged): the bus must not hold unbounded memory for a slow NATS.
const OUTBOX: usize = 65_536;

/// How this node takes part in a cluster: alone ([`Cluster::default`]),
/// or over NATS once [`Cluster::start`] ran.
#[derive(Default)]
pub struct Cluster {
    bus: OnceLock<Arc<Bus>>,
}

/// The NATS side of a node.
struct Bus {
    /// The server (weak: the server owns the bus).
    server: std::sync::Weak<Server>,
    node: String,
    prefix: String,
    /// Wakes the firehose's reader of new statuses.
    statuses: Arc<tokio::sync::Notify>,
    outbox: mpsc::Sender<(String, Bytes)>,
    /// Other nodes, and when each was last heard of.
    nodes: Mutex<HashMap<String, Instant>>,
    /// What goes to each other node's sessions, batched.
    pumps: Mutex<HashMap<String, Arc<pump::Pump>>>,
    /// Nodes this node took for dead, and when (then when they came back).
    given_up: Mutex<HashMap<String, Instant>>,
    /// Proxies of a node that came back, whose presence this node's users
    /// saw end: [`reintroduce`] sends it to them again.
    returning: Mutex<Vec<std::sync::Weak<SessionHandle>>>,
    returned: tokio::sync::Notify,
    /// The NATS connection (it reconnects by itself).
    client: async_nats::Client,
}

/// What to connect to, and as whom.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `nats://host:4222`.
    pub url: String,
    /// This node's name, unique in the cluster (`[A-Za-z0-9_-]`).
    pub node: String,
}

impl Cluster {
    /// This node's name, in a cluster.
    pub fn node(&self) -> Option<&str> {
        self.bus.get().map(|b| b.node.as_str())
    }

    /// The other nodes alive now, by name.
    pub fn peers(&self) -> Vec<String> {
        let Some(bus) = self.bus.get() else {
            return Vec::new();
        };
        let mut v: Vec<_> = lock(&bus.nodes).keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether this node is in a cluster and its bus is out of reach now
    /// (while NATS is down the node serves its own sessions only).
    pub fn bus_lost(&self) -> bool {
        self.bus.get().is_some_and(|b| {
            b.client.connection_state() != async_nats::connection::State::Connected
        })
    }

    /// Connect to NATS and join the cluster: subscribe, say hello, start
    /// the heartbeat and the watch for dead nodes.
    pub async fn start(server: &Arc<Server>, config: &ClusterConfig) -> Result<(), ServerError> {
        let cluster_id = server
            .store
            .secret("cluster-id", 8)
            .await
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
        let prefix = format!("whassap.{cluster_id}");
        let client = async_nats::ConnectOptions::new()
            .name(format!("whassap {}", config.node))
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => {
                        tracing::info!("the cluster bus (NATS) is back")
                    }
                    async_nats::Event::Disconnected => tracing::warn!(
                        "lost the cluster bus (NATS): serving this node's sessions only, reconnecting"
                    ),
                    other => tracing::debug!("cluster bus: {other}"),
                }
            })
            .connect(config.url.as_str())
            .await
            .map_err(|e| {
                ServerError::Cluster(format!("connecting to NATS at {}: {e}", config.url))
            })?;
        let sub = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| ServerError::Cluster(format!("subscribing to {subject}: {e}")))
            }
        };
        let directory = sub(format!("{prefix}.directory")).await?;
        let heartbeats = sub(format!("{prefix}.heartbeat")).await?;
        let hellos = sub(format!("{prefix}.hello")).await?;
        let requests = sub(format!("{prefix}.node.{}", config.node)).await?;
        let news = sub(format!("{prefix}.statuses")).await?;
        let invalidations = sub(format!("{prefix}.invalidate")).await?;
        let remote_contacts = sub(format!("{prefix}.remote")).await?;
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let bus = Arc::new(Bus {
            server: Arc::downgrade(server),
            node: config.node.clone(),
            prefix,
            statuses: Arc::new(tokio::sync::Notify::new()),
            outbox,
            nodes: Mutex::new(HashMap::new()),
            pumps: Mutex::new(HashMap::new()),
            given_up: Mutex::new(HashMap::new()),
            returning: Mutex::new(Vec::new()),
            returned: tokio::sync::Notify::new(),
            client: client.clone(),
        });
        if server.cluster.bus.set(bus.clone()).is_err() {
            return Err(ServerError::Cluster("the cluster was started twice".into()));
        }
        server
            .tasks
            .spawn(publish(server.clone(), client.clone(), queued));
        server.tasks.spawn(on_directory(server.clone(), directory));
        server
            .tasks
            .spawn(on_heartbeats(server.clone(), heartbeats));
        server.tasks.spawn(on_hellos(server.clone(), hellos));
        server.tasks.spawn(on_requests(server.clone(), requests));
        server.tasks.spawn(heartbeat(server.clone()));
        server.tasks.spawn(reintroduce(server.clone()));
        server
            .tasks
            .spawn(statuses::tail(server.clone(), bus.statuses.clone()));
        server.tasks.spawn(on_status_news(server.clone(), news));
        server
            .tasks
            .spawn(on_invalidations(server.clone(), invalidations));
        server
            .tasks
            .spawn(remote::on_news(server.clone(), remote_contacts));
        bus.send(format!("{}.hello", bus.prefix), &bus.node);
        tracing::info!(node = %bus.node, url = %config.url, "joined the cluster");
        Ok(())
    }

    /// Tell the other nodes a local session is bound or changed state. A
    /// session that is ending says nothing more: its `Down` is sent (the
    /// unavailable presence broadcast while it ends must not bring it back).
    pub fn session_changed(&self, session: &SessionHandle) {
        if session.killed().is_cancelled() {
            return;
        }
        if let (Some(bus), None) = (self.bus.get(), session.node()) {
            bus.send(
                format!("{}.directory", bus.prefix),
                &DirectoryEvent::State(state_of(bus, session)),
            );
        }
    }

    /// In a cluster, every node's firehose releases new statuses as it
    /// reads them (in id order across nodes) instead of as they commit.
    pub fn tails_statuses(&self) -> bool {
        self.bus.get().is_some()
    }

    /// Statuses were committed on this node: every node's firehose reads
    /// what is new.
    pub fn status_committed(&self) {
        if let Some(bus) = self.bus.get() {
            bus.statuses.notify_one();
            bus.send(
                format!("{}.statuses", bus.prefix),
                &StatusNews::Committed {
                    node: bus.node.clone(),
                },
            );
        }
    }

    /// A status was deleted on this node: the other nodes' firehoses say so.
    pub fn status_deleted(&self, status: &crate::statuses::Status) {
        if let Some(bus) = self.bus.get() {
            bus.send(
                format!("{}.statuses", bus.prefix),
                &StatusNews::Deleted {
                    node: bus.node.clone(),
                    status: status.clone(),
                },
            );
        }
    }

    /// Something cached in memory changed here: the other nodes drop their
    /// copy.
    pub fn invalidate(&self, what: Invalidation) {
        if let Some(bus) = self.bus.get() {
            bus.send(
                format!("{}.invalidate", bus.prefix),
                &InvalidationFrom {
                    node: bus.node.clone(),
                    what,
                },
            );
        }
    }

    /// Batches of stanzas sent so far to the sessions of `node`.
    pub fn batches_sent_to(&self, node: &str) -> u64 {
        self.bus
            .get()
            .and_then(|b| lock(&b.pumps).get(node).cloned())
            .map_or(0, |p| p.batches.load(Ordering::Relaxed))
    }

    /// Tell the other nodes a local session ended.
    pub fn session_down(&self, session: &SessionHandle) {
        if let (Some(bus), None) = (self.bus.get(), session.node()) {
            bus.send(
                format!("{}.directory", bus.prefix),
                &DirectoryEvent::Down {
                    node: bus.node.clone(),
                    full: session.full.clone(),
                },
            );
        }
    }
}

impl Bus {
    /// Queue a message for NATS; dropped (and logged) if the bus is that
    /// far behind.
    fn send(&self, subject: String, value: &impl serde::Serialize) {
        let payload = match serde_json::to_vec(value) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                tracing::error!("encoding a cluster message failed: {e}");
                return;
            }
        };
        if self.outbox.try_send((subject, payload)).is_err() {
            tracing::warn!("the cluster bus is {OUTBOX} messages behind: dropping one");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn state_of(bus: &Bus, s: &SessionHandle) -> SessionState {
    let caps = bus.server.upgrade().and_then(|server| {
        let a = server.caps.advertised(&s.full)?;
        Some(match server.caps.features(&a.ver) {
            Some(f) => crate::pubsub::pep::shared_caps(a.node, &a.ver, &f),
            None => Caps {
                node: a.node,
                ver: a.ver,
                features: None,
            },
        })
    });
    let p = lock(&s.presence);
    SessionState {
        node: bus.node.clone(),
        full: s.full.clone(),
        available: p.available,
        priority: p.priority,
        last: p
            .last
            .as_ref()
            .map(|(b, at)| (String::from_utf8_lossy(b).into_owned(), at.clone())),
        roster: s.roster_interested.load(Ordering::Relaxed),
        blocklist: s.blocklist_interested.load(Ordering::Relaxed),
        caps,
    }
}

/// The one publisher: messages go out in the order they were queued. At
/// shutdown it goes on while the sessions' last messages come (500 ms of
/// quiet ends it).
async fn publish(
    server: Arc<Server>,
    client: async_nats::Client,
    mut queued: mpsc::Receiver<(String, Bytes)>,
) {
    loop {
        let next = tokio::select! {
            m = queued.recv() => m,
            _ = server.shutdown.cancelled() => {
                tokio::time::timeout(Duration::from_millis(500), queued.recv()).await.ok().flatten()
            }
        };
        let Some((subject, payload)) = next else {
            break;
        };
        if let Err(e) = client.publish(subject, payload).await {
            tracing::warn!("publishing to the cluster bus failed: {e}");
        }
    }
    let _ = client.flush().await;
}

/// The next message of a subscription; None at shutdown or when it ends.
async fn next(server: &Server, sub: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
    tokio::select! {
        _ = server.shutdown.cancelled() => None,
        m = sub.next() => m,
    }
}

fn decode<T: serde::de::DeserializeOwned>(m: &async_nats::Message) -> Option<T> {
    serde_json::from_slice(&m.payload)
        .map_err(|e| tracing::warn!(subject = %m.subject, "an unreadable cluster message: {e}"))
        .ok()
}

/// Keep the proxies of other nodes' sessions up to date.
async fn on_directory(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        match decode::<DirectoryEvent>(&m) {
            Some(DirectoryEvent::State(state)) if state.node != bus.node => {
                seen(&bus, &state.node);
                upsert_proxy(&server, &bus, state);
            }
            Some(DirectoryEvent::Down { node, full }) if node != bus.node => {
                if let Some(p) = proxy(&server, &full).filter(|p| p.node() == Some(&node)) {
                    drop_proxy(&server, &p);
                }
            }
            _ => {}
        }
    }
}

/// The proxy of a session of another node, if this node has one.
fn proxy(server: &Server, full: &str) -> Option<Arc<SessionHandle>> {
    let (bare, resource) = full.split_once('/')?;
    server
        .registry
        .session(bare, resource)
        .filter(|s| s.node().is_some())
}

/// Create or update the proxy of another node's session.
fn upsert_proxy(server: &Arc<Server>, bus: &Arc<Bus>, state: SessionState) {
    let Some((bare, resource)) = state.full.split_once('/') else {
        return;
    };
    let existing = server.registry.session(bare, resource);
    let mut returning = false;
    let handle = match existing {
        // This node's own session: the other node's will be told to go.
        Some(s) if s.node().is_none() => return,
        Some(s) if s.node() == Some(state.node.as_str()) => s,
        other => {
            if let Some(stale) = other {
                drop_proxy(server, &stale);
            }
            let pump = pump_for(server, bus, &state.node);
            let h = Arc::new(SessionHandle::proxy(
                server.registry.next_id(),
                bare.to_string(),
                resource.to_string(),
                server.config.session_queue,
                server.config.session_queue_bytes,
                pump.clone(),
            ));
            pump.adopt(&h);
            server.registry.insert(h.clone());
            returning = lock(&bus.given_up).contains_key(&state.node);
            h
        }
    };
    match state.caps {
        Some(c) => {
            if let Some(f) = c.features {
                if server.caps.features(&c.ver).is_none() {
                    server.caps.insert(c.ver.clone(), f.into_iter().collect());
                }
            }
            server.caps.set_advertised(
                &state.full,
                crate::modules::caps::Advertised {
                    node: c.node,
                    ver: c.ver,
                },
            );
        }
        None => server.caps.forget(&state.full),
    }
    handle
        .roster_interested
        .store(state.roster, Ordering::Relaxed);
    handle
        .blocklist_interested
        .store(state.blocklist, Ordering::Relaxed);
    {
        let mut p = lock(&handle.presence);
        p.available = state.available;
        p.priority = state.priority;
        p.last = state.last.map(|(xml, at)| (Bytes::from(xml), at));
    }
    // Once its presence is known (see `reintroduce`).
    if returning {
        lock(&bus.returning).push(Arc::downgrade(&handle));
        bus.returned.notify_one();
    }
}

fn drop_proxy(server: &Server, p: &SessionHandle) {
    if let (Some(bus), Some(node)) = (server.cluster.bus.get(), p.node()) {
        if let Some(pump) = lock(&bus.pumps).get(node) {
            pump.release(p.id);
        }
    }
    server.registry.remove(p);
    server.caps.forget(&p.full);
    p.queue().close();
}

/// The pump of `node`'s proxies (started on first use): what is queued for
/// them goes to the bus in batches, and their kills as requests.
fn pump_for(server: &Arc<Server>, bus: &Arc<Bus>, node: &str) -> Arc<pump::Pump> {
    let mut pumps = lock(&bus.pumps);
    if let Some(p) = pumps.get(node) {
        return p.clone();
    }
    let subject = format!("{}.node.{node}", bus.prefix);
    let p = Arc::new(pump::Pump::new(
        node.to_string(),
        subject,
        Arc::downgrade(bus),
    ));
    pumps.insert(node.to_string(), p.clone());
    server
        .tasks
        .spawn(pump::run(server.clone(), bus.clone(), p.clone()));
    p
}

/// Requests to this node: write to a session, end one.
async fn on_requests(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        let local = |full: &str| {
            let (bare, resource) = full.split_once('/')?;
            server
                .registry
                .session(bare, resource)
                .filter(|s| s.node().is_none())
        };
        match decode::<NodeRequest>(&m) {
            Some(NodeRequest::Batch { entries }) => {
                for e in entries {
                    match e {
                        Entry::Direct { full, stanza } => match local(&full) {
                            Some(s) => {
                                s.send(Bytes::from(stanza));
                            }
                            None => {
                                tracing::debug!(%full, "a stanza for a session that is gone dropped")
                            }
                        },
                        // One copy of the bytes for every recipient, as in
                        // a local fan-out.
                        Entry::Shared { head, tail, to } => {
                            let (head, tail) = (Bytes::from(head), Bytes::from(tail));
                            for full in to {
                                if let Some(s) = local(&full) {
                                    s.send_addressed(&head, &tail);
                                }
                            }
                        }
                    }
                }
            }
            Some(NodeRequest::Kill { full, condition }) => {
                if let Some(s) = local(&full) {
                    s.kill(condition.and_then(|c| stream_condition(&c)));
                }
            }
            Some(NodeRequest::Hello { .. }) | None => {}
        }
    }
}

/// Other nodes' commits wake this node's firehose reader; their deletions
/// go to its listeners.
async fn on_status_news(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        match decode::<StatusNews>(&m) {
            Some(StatusNews::Committed { node }) if node != bus.node => bus.statuses.notify_one(),
            Some(StatusNews::Deleted { node, status }) if node != bus.node => server
                .statuses
                .events
                .reserve()
                .publish(crate::statuses::StatusEvent::Deleted(Arc::new(status))),
            _ => {}
        }
    }
}

/// Drop the copies other nodes changed.
async fn on_invalidations(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        let Some(InvalidationFrom { node, what }) = decode(&m) else {
            continue;
        };
        if node == bus.node {
            continue;
        }
        match what {
            Invalidation::Blocklist { bare } => server.forget_blocklist_copy(&bare),
            Invalidation::PubsubNode { service, node } => {
                server.pubsub.forget_copy(&service, &node)
            }
            Invalidation::PubsubSubscriber { service, node, jid } => {
                server
                    .pubsub
                    .refresh_subscriber(&server, &service, &node, &jid)
                    .await
            }
            Invalidation::PubsubService { service } => server.pubsub.forget_service(&service),
            Invalidation::Tokens { username } => server.tokens.forget_user(&username),
        }
    }
}

/// The stream error conditions another node may end a session with.
fn stream_condition(c: &str) -> Option<&'static str> {
    [
        "conflict",
        "not-authorized",
        "policy-violation",
        "system-shutdown",
    ]
    .into_iter()
    .find(|k| *k == c)
}

/// A node (re)joined: tell it, and everyone, where this node's sessions are.
async fn on_hellos(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        if decode::<String>(&m).is_some_and(|n| n != bus.node) {
            announce_all(&server, &bus);
            remote::announce_all(&server, &bus);
        }
    }
}

fn announce_all(server: &Server, bus: &Bus) {
    for s in server.registry.all().iter().filter(|s| s.node().is_none()) {
        bus.send(
            format!("{}.directory", bus.prefix),
            &DirectoryEvent::State(state_of(bus, s)),
        );
    }
}

/// Note that `node` is alive; true if it was not (new, or back after this
/// node took it for dead).
fn seen(bus: &Bus, node: &str) -> bool {
    let new = lock(&bus.nodes)
        .insert(node.to_string(), Instant::now())
        .is_none();
    if new {
        if let Some(at) = lock(&bus.given_up).get_mut(node) {
            tracing::info!(%node, "a node taken for dead is back: its sessions' presence goes to their contacts here again");
            *at = Instant::now();
        }
    }
    new
}

/// How long a node that came back after being taken for dead has to
/// announce its sessions before they are taken as new ones.
const RETURN_WINDOW: Duration = Duration::from_secs(60);

/// Forget the nodes given up for dead that came back a while ago, or never
/// did in a day.
fn forget_given_up(bus: &Bus) {
    let alive: Vec<String> = lock(&bus.nodes).keys().cloned().collect();
    lock(&bus.given_up).retain(|node, at| {
        let window = if alive.contains(node) {
            RETURN_WINDOW
        } else {
            Duration::from_secs(86_400)
        };
        at.elapsed() < window
    });
}

/// When a node taken for dead comes back (the bus or the network was cut,
/// not the node), its sessions are still there, but this node's users saw
/// them go `unavailable`. Once each is announced again, its last presence
/// goes again to this node's own sessions of the contacts it shares its
/// presence with. Each node does so for its own users, so nobody gets it
/// twice. One at a time: after a long cut every session of the node comes
/// back at once, and each needs its roster read.
async fn reintroduce(server: Arc<Server>) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = bus.returned.notified() => {}
        }
        loop {
            let next = lock(&bus.returning).pop();
            let Some(proxy) = next else { break };
            if let Some(proxy) = proxy.upgrade() {
                crate::modules::presence::present_again(&server, &proxy).await;
            }
        }
    }
}

/// Note who is alive; a node not heard of before is asked for its sessions.
async fn on_heartbeats(server: Arc<Server>, mut sub: async_nats::Subscriber) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    loop {
        let Some(m) = next(&server, &mut sub).await else {
            return;
        };
        if let Some(h) = decode::<Heartbeat>(&m).filter(|h| h.node != bus.node) {
            if seen(&bus, &h.node) {
                tracing::info!(node = %h.node, "a node joined the cluster");
                bus.send(format!("{}.hello", bus.prefix), &bus.node);
            }
        }
    }
}

/// Say this node is alive; find the nodes that stopped saying so.
async fn heartbeat(server: Arc<Server>) {
    let Some(bus) = server.cluster.bus.get().cloned() else {
        return;
    };
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        bus.send(
            format!("{}.heartbeat", bus.prefix),
            &Heartbeat {
                node: bus.node.clone(),
                sessions: server.registry.len(),
            },
        );
        let dead: Vec<String> = {
            let mut nodes = lock(&bus.nodes);
            let dead: Vec<String> = nodes
                .iter()
                .filter(|(_, at)| at.elapsed() > DEAD_AFTER)
                .map(|(n, _)| n.clone())
                .collect();
            for n in &dead {
                nodes.remove(n);
            }
            dead
        };
        forget_given_up(&bus);
        for node in dead {
            node_died(&server, &bus, &node).await;
        }
    }
}

/// A node died: its sessions leave this node's view; the first surviving
/// node by name ends them for their contacts.
async fn node_died(server: &Arc<Server>, bus: &Bus, node: &str) {
    let gone: Vec<Arc<SessionHandle>> = server
        .registry
        .all()
        .into_iter()
        .filter(|s| s.node() == Some(node))
        .collect();
    let leader = lock(&bus.nodes).keys().all(|n| *n > bus.node);
    tracing::warn!(%node, sessions = gone.len(), leader, "a node is silent: its sessions are gone");
    lock(&bus.given_up).insert(node.to_string(), Instant::now());
    for p in &gone {
        drop_proxy(server, p);
    }
    if leader {
        for p in gone {
            let ctx = Ctx::client(server.clone(), p);
            for h in server.hooks.session_ended_handlers() {
                h(ctx.clone()).await;
            }
        }
    }
}
