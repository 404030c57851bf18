//! The in-process status event channel, in commit order.
//!
//! Posts commit in id order (ids are taken under the store's write lock),
//! but their fan-outs run concurrently, so without help a listener could see
//! B's event before A's although A committed first. A listener that resumes
//! from "the last id I saw" (the SSE firehose with `Last-Event-ID`) would
//! then get B again, or miss A. So every event takes a slot when its write
//! begins (under the same lock for posts) and events are released to the
//! channel strictly in slot order: a slot whose write failed, or whose
//! task was cancelled, is skipped when its [`Reservation`] drops.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use super::StatusEvent;

/// Events waiting for earlier slots, and the channel they go to.
pub struct EventSequencer {
    state: Mutex<SeqState>,
    tx: broadcast::Sender<StatusEvent>,
}

#[derive(Default)]
struct SeqState {
    /// The next slot to hand out.
    next: u64,
    /// The next slot to release.
    head: u64,
    /// Finished slots not released yet: `None` for a skipped one.
    done: BTreeMap<u64, Option<StatusEvent>>,
}

impl EventSequencer {
    /// A sequencer over a broadcast channel holding `capacity` events for
    /// slow listeners before they lag.
    pub fn new(capacity: usize) -> Self {
        EventSequencer {
            state: Mutex::new(SeqState::default()),
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }

    /// Listen to the events released from now on, in commit order.
    pub fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.tx.subscribe()
    }

    /// Take the next slot. For a post, call this with the store's write
    /// lock held, so that slot order is commit order.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = s.next;
        s.next += 1;
        Reservation {
            sequencer: Arc::clone(self),
            slot: Some(slot),
        }
    }

    fn finish(&self, slot: u64, event: Option<StatusEvent>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.done.insert(slot, event);
        loop {
            let head = s.head;
            match s.done.remove(&head) {
                Some(event) => {
                    s.head += 1;
                    if let Some(event) = event {
                        // No listener is not an error.
                        let _ = self.tx.send(event);
                    }
                }
                None => break,
            }
        }
    }
}

/// A slot in the event order; [`Reservation::publish`] fills it, dropping
/// it unfilled skips it.
pub struct Reservation {
    sequencer: Arc<EventSequencer>,
    slot: Option<u64>,
}

impl Reservation {
    /// Release `event` once every earlier slot is finished.
    pub fn publish(mut self, event: StatusEvent) {
        if let Some(slot) = self.slot.take() {
            self.sequencer.finish(slot, Some(event));
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.sequencer.finish(slot, None);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("slot", &self.slot)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::statuses::{Author, Source, Status};

    fn event(id: &str) -> StatusEvent {
        StatusEvent::Created(Arc::new(Status {
            id: id.into(),
            author: Author {
                username: "a".into(),
                jid: "a@localhost".into(),
                display_name: "a".into(),
            },
            text: "t".into(),
            source: Source::Api,
            created_at: String::new(),
            url: String::new(),
            item_id: id.into(),
        }))
    }

    fn id(e: StatusEvent) -> String {
        match e {
            StatusEvent::Created(s) | StatusEvent::Deleted(s) => s.id.clone(),
        }
    }

    #[test]
    fn events_are_released_in_slot_order_and_dropped_slots_skipped() {
        let seq = Arc::new(EventSequencer::new(16));
        let mut rx = seq.subscribe();
        let a = seq.reserve();
        let b = seq.reserve();
        let c = seq.reserve();
        let d = seq.reserve();
        d.publish(event("d"));
        b.publish(event("b"));
        assert!(rx.try_recv().is_err(), "a is not finished");
        drop(c);
        a.publish(event("a"));
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok().map(id)).collect();
        assert_eq!(got, ["a", "b", "d"]);
        seq.reserve().publish(event("e"));
        assert_eq!(id(rx.try_recv().unwrap()), "e");
    }
}
