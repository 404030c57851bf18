//! A session's bounded outbound queue: what routers and modules hand to the
//! session's writer task.
//!
//! Written here instead of using `tokio::sync::mpsc` for memory: a tokio
//! channel allocates a block of 32 slots (about 2 KiB of [`Outbound`]s) when
//! it is created and keeps it for the channel's life, so every idle session
//! would carry one. This queue is a `VecDeque` that holds no allocation while
//! nothing waits, behind a `std` mutex that is only held to push or drain
//! (never across an `.await`), with a [`Notify`] to wake the writer.
//!
//! It is bounded twice: by items and by bytes. The bytes count what is
//! queued and what the writer took at its last drain (the writer drains
//! again only once that is written), so a client that stops reading holds
//! at most the byte bound in this process whatever the stanzas' sizes; the
//! kernel's socket buffer comes on top. An item bigger than the bound still
//! goes into an empty queue, so that no single stanza is undeliverable.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::registry::Outbound;

/// Why [`OutQueue::push`] refused an item.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds its capacity: the reader is not keeping up.
    Full,
    /// The writer has stopped.
    Closed,
}

struct Inner {
    items: VecDeque<Outbound>,
    /// Bytes queued plus bytes drained and not yet written.
    bytes: usize,
    /// Bytes drained and not yet written.
    in_flight: usize,
    closed: bool,
}

/// A bounded multi-producer, single-consumer queue of [`Outbound`] items.
pub struct OutQueue {
    inner: Mutex<Inner>,
    wake: Notify,
    capacity: usize,
    byte_capacity: usize,
}

impl std::fmt::Debug for OutQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutQueue")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl OutQueue {
    /// An empty queue that holds at most `capacity` items and
    /// `byte_capacity` bytes (queued or in the writer's hands).
    pub fn new(capacity: usize, byte_capacity: usize) -> Self {
        OutQueue {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                in_flight: 0,
                closed: false,
            }),
            wake: Notify::new(),
            capacity: capacity.max(1),
            byte_capacity: byte_capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue an item and wake the writer.
    pub fn push(&self, item: Outbound) -> Result<(), PushError> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(PushError::Closed);
        }
        let size = item.len();
        if inner.items.len() >= self.capacity
            || (inner.bytes > 0 && inner.bytes + size > self.byte_capacity)
        {
            return Err(PushError::Full);
        }
        let was_empty = inner.items.is_empty();
        inner.bytes += size;
        inner.items.push_back(item);
        drop(inner);
        // A non-empty queue was not drained yet: its writer will see this
        // item without another wake-up.
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Hand up to `max` queued items, oldest first, to `each`; returns how
    /// many. `each` runs under the queue's lock: it must only move data.
    /// The writer calls it once what it drained before is written: those
    /// bytes stop counting now, and the ones handed out start to.
    pub fn drain(&self, max: usize, mut each: impl FnMut(Outbound)) -> usize {
        let mut inner = self.lock();
        let n = inner.items.len().min(max);
        let mut drained = 0;
        for item in inner.items.drain(..n) {
            drained += item.len();
            each(item);
        }
        inner.bytes -= inner.in_flight;
        inner.in_flight = drained;
        // An emptied queue gives its buffer back: most sessions are idle
        // most of the time, and a push allocates it again in a few ns.
        if inner.items.is_empty() {
            inner.items = VecDeque::new();
        }
        n
    }

    /// Drop everything still queued (the session is over); returns the
    /// bytes the queue held, queued or in the writer's hands.
    pub fn discard(&self) -> usize {
        let mut inner = self.lock();
        let held = inner.bytes;
        inner.items = VecDeque::new();
        inner.bytes = 0;
        inner.in_flight = 0;
        inner.closed = true;
        held
    }

    /// Bytes queued or drained and not yet written.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Wait until an item is pushed after the last drain that found the
    /// queue empty (returns at once if one already was).
    pub async fn pushed(&self) {
        self.wake.notified().await
    }

    /// Refuse further items; the ones still queued stay for a last drain.
    /// Wakes a task waiting in [`pushed`](Self::pushed).
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    fn data(s: &'static str) -> Outbound {
        Outbound::Data(Bytes::from_static(s.as_bytes()))
    }

    fn text(item: Outbound) -> String {
        match item {
            Outbound::Data(b) => String::from_utf8(b.to_vec()).unwrap(),
            Outbound::Addressed { .. } => unreachable!(),
        }
    }

    #[test]
    fn keeps_order_and_refuses_beyond_capacity() {
        let q = OutQueue::new(2, 1 << 20);
        q.push(data("a")).unwrap();
        q.push(data("b")).unwrap();
        assert_eq!(q.push(data("c")), Err(PushError::Full));
        let mut out = Vec::new();
        assert_eq!(q.drain(10, |i| out.push(text(i))), 2);
        assert_eq!(out, ["a", "b"]);
        q.push(data("d")).unwrap();
        q.close();
        assert_eq!(q.push(data("e")), Err(PushError::Closed));
        out.clear();
        q.drain(10, |i| out.push(text(i)));
        assert_eq!(out, ["d"], "what was queued before close is still drained");
    }

    #[test]
    fn bytes_are_bounded_until_written() {
        let q = OutQueue::new(100, 10);
        q.push(data("abcd")).unwrap();
        q.push(data("efgh")).unwrap();
        assert_eq!(q.push(data("ijk")), Err(PushError::Full), "8 + 3 > 10");
        q.push(data("ij")).unwrap();
        assert_eq!(q.drain(10, drop), 3);
        assert_eq!(q.bytes(), 10, "drained but not written still counts");
        assert_eq!(q.push(data("k")), Err(PushError::Full));
        assert_eq!(q.drain(10, drop), 0, "the writer comes back once it wrote");
        assert_eq!(q.bytes(), 0);
        let big = Outbound::Data(Bytes::from(vec![b'x'; 50]));
        q.push(big)
            .expect("an item over the bound goes into an empty queue");
        assert_eq!(q.push(data("y")), Err(PushError::Full));
        let addressed = Outbound::Addressed {
            head: Bytes::from_static(b"<m to='"),
            tail: Bytes::from_static(b"'/>"),
        };
        assert_eq!(addressed.len(), 10);
        assert_eq!(q.discard(), 50, "what was held is reported");
        assert_eq!((q.len(), q.bytes()), (0, 0));
        assert_eq!(q.push(data("z")), Err(PushError::Closed));
    }

    #[test]
    fn a_burst_does_not_stay_allocated() {
        let q = OutQueue::new(1000, 1 << 20);
        for _ in 0..500 {
            q.push(data("x")).unwrap();
        }
        q.drain(1000, drop);
        assert_eq!(q.lock().items.capacity(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_wakes_a_waiting_writer_and_none_is_lost() {
        let q = Arc::new(OutQueue::new(100_000, usize::MAX));
        let producer = {
            let q = q.clone();
            tokio::spawn(async move {
                for _ in 0..50_000 {
                    q.push(data("x")).unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut seen = 0;
        while seen < 50_000 {
            let n = q.drain(64, drop);
            if n == 0 {
                tokio::time::timeout(Duration::from_secs(10), q.pushed())
                    .await
                    .expect("a push after an empty drain wakes the writer");
            }
            seen += n;
        }
        producer.await.unwrap();
        assert_eq!(seen, 50_000);
    }
}
