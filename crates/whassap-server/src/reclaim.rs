//! Giving memory back to the system after a session that held a lot of it
//! (a client that stopped reading, its queue full of large stanzas).
//!
//! The C library's allocator (glibc's malloc, which Rust allocates with)
//! keeps freed memory in its arenas for reuse. It serves blocks of 128 KiB
//! and more with their own mappings at first, but raises that threshold
//! each time such a block is freed, so a queue of 200 KiB stanzas ends up
//! in the arenas and stays resident after it is freed: hundreds of MiB
//! after a few slow clients, before queues were bounded in bytes.
//!
//! Changing the threshold for good would make every stanza's parser buffer
//! (as large as the stanza limit) a mapping of its own, a pair of system
//! calls per stanza on the hot path. Instead, when a session that held more
//! than [`RECLAIM_ABOVE`] ends, a trim of every arena (`malloc_trim`) is
//! scheduled: at most one at a time, on a blocking thread, shortly after,
//! so that sessions ending together share one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sessions that held at least this many bytes in their queue when they
/// ended are followed by a trim.
pub const RECLAIM_ABOVE: usize = 256 * 1024;
/// How long after the request the trim runs (sessions ending together
/// share it).
const DELAY: Duration = Duration::from_millis(100);

/// Schedules trims of the allocator's free memory.
#[derive(Debug, Default)]
pub struct Reclaimer {
    scheduled: Arc<AtomicBool>,
}

impl Reclaimer {
    /// A session that held `bytes` in its queue has ended and dropped
    /// them: give free memory back soon, if that was a lot.
    pub fn session_released(&self, bytes: usize) {
        if bytes < RECLAIM_ABOVE || self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let scheduled = self.scheduled.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DELAY).await;
            scheduled.store(false, Ordering::Release);
            let _ = tokio::task::spawn_blocking(trim).await;
        });
    }
}

/// Return the allocator's free memory to the system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists; it
        // is safe to call from any thread at any time.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(released = released == 1, "allocator trimmed");
    }
}
