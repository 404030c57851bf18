//! What this node queues for the sessions of one other node goes in
//! batches, one bus message per wake-up rather than one per recipient: a
//! PubSub or PEP fan-out to many sessions of that node is one message.
//! A notification shared by many recipients (`Outbound::Addressed`, one
//! serialisation with the recipient's JID left out) crosses the bus once,
//! with the list of its recipients; the receiving node hands the same bytes
//! to each of its sessions, as a local fan-out does.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use super::wire::{Entry, NodeRequest};
use super::{lock, Bus};
use crate::registry::{Outbound, ProxyLink, SessionHandle};
use crate::Server;

/// A batch is sent once it holds about this many bytes (NATS refuses
/// messages over its `max_payload`, 1 MiB by default).
const BATCH_BYTES: usize = 512 * 1024;

/// The proxies of one node: what is queued for them, and their kills.
pub(super) struct Pump {
    /// The other node's name.
    node: String,
    subject: String,
    bus: Weak<Bus>,
    /// Every proxy of the node, by id (they hold the pump, not the reverse).
    proxies: Mutex<HashMap<u64, Weak<SessionHandle>>>,
    /// The ones with something queued.
    pending: Mutex<HashSet<u64>>,
    wake: Notify,
    /// Batches sent so far.
    pub(super) batches: AtomicU64,
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("subject", &self.subject)
            .finish()
    }
}

impl Pump {
    pub(super) fn new(node: String, subject: String, bus: Weak<Bus>) -> Pump {
        Pump {
            node,
            subject,
            bus,
            proxies: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
            wake: Notify::new(),
            batches: AtomicU64::new(0),
        }
    }

    /// A new proxy of this pump's node.
    pub(super) fn adopt(&self, proxy: &Arc<SessionHandle>) {
        lock(&self.proxies).insert(proxy.id, Arc::downgrade(proxy));
    }

    /// A proxy is gone.
    pub(super) fn release(&self, id: u64) {
        lock(&self.proxies).remove(&id);
        lock(&self.pending).remove(&id);
    }
}

impl ProxyLink for Pump {
    fn node(&self) -> &str {
        &self.node
    }

    fn queued(&self, id: u64) {
        lock(&self.pending).insert(id);
        self.wake.notify_one();
    }

    fn killed(&self, proxy: &SessionHandle) {
        // Its node ends it (and says so); nothing more goes to it.
        proxy.queue().close();
        if let Some(bus) = self.bus.upgrade() {
            bus.send(
                self.subject.clone(),
                &NodeRequest::Kill {
                    full: proxy.full.clone(),
                    condition: proxy.kill_reason().map(str::to_string),
                },
            );
        }
    }
}

/// Send what the proxies of the pump's node have queued, in batches.
pub(super) async fn run(server: Arc<Server>, bus: Arc<Bus>, pump: Arc<Pump>) {
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = pump.wake.notified() => {}
        }
        // Let a fan-out in progress finish queueing: one batch for it all.
        tokio::task::yield_now().await;
        let ids: Vec<u64> = lock(&pump.pending).drain().collect();
        let mut proxies: Vec<Arc<SessionHandle>> = {
            let all = lock(&pump.proxies);
            ids.iter().filter_map(|id| all.get(id)?.upgrade()).collect()
        };
        proxies.sort_by_key(|p| p.id);
        let mut batch = Batch::default();
        for p in &proxies {
            batch.add(p);
            if batch.bytes >= BATCH_BYTES {
                send(&bus, &pump, std::mem::take(&mut batch));
            }
        }
        if !batch.entries.is_empty() {
            send(&bus, &pump, batch);
        }
    }
}

fn send(bus: &Bus, pump: &Pump, batch: Batch) {
    pump.batches.fetch_add(1, Ordering::Relaxed);
    bus.send(
        pump.subject.clone(),
        &NodeRequest::Batch {
            entries: batch.entries,
        },
    );
}

/// Entries in the order each session must get them.
#[derive(Default)]
struct Batch {
    entries: Vec<Entry>,
    /// Where each shared notification is, by the identity of its bytes.
    shared: HashMap<(usize, usize, usize, usize), usize>,
    bytes: usize,
}

impl Batch {
    /// Everything a proxy has queued. A shared notification joins the
    /// entry already made for it only if that entry comes after this
    /// session's previous entry, so each session's order is kept.
    fn add(&mut self, p: &SessionHandle) {
        let mut last: Option<usize> = None;
        p.queue().drain(usize::MAX, |item| match item {
            Outbound::Data(b) => {
                self.bytes += b.len() + p.full.len();
                self.entries.push(Entry::Direct {
                    full: p.full.clone(),
                    stanza: String::from_utf8_lossy(&b).into_owned(),
                });
                last = Some(self.entries.len() - 1);
            }
            Outbound::Addressed { head, tail } => {
                let key = (
                    head.as_ptr() as usize,
                    head.len(),
                    tail.as_ptr() as usize,
                    tail.len(),
                );
                let joinable = self
                    .shared
                    .get(&key)
                    .copied()
                    .filter(|&i| last.is_none_or(|l| i > l));
                self.bytes += p.full.len();
                match joinable.map(|i| (i, &mut self.entries[i])) {
                    Some((i, Entry::Shared { to, .. })) => {
                        to.push(p.full.clone());
                        last = Some(i);
                    }
                    _ => {
                        self.bytes += head.len() + tail.len();
                        self.entries.push(Entry::Shared {
                            head: String::from_utf8_lossy(&head).into_owned(),
                            tail: String::from_utf8_lossy(&tail).into_owned(),
                            to: vec![p.full.clone()],
                        });
                        let i = self.entries.len() - 1;
                        self.shared.insert(key, i);
                        last = Some(i);
                    }
                }
            }
        });
    }
}
