//! Status events on every node: the SSE firehose of any node sends every
//! status exactly once, in id order, whichever node it was posted on.
//!
//! Ids are taken and committed under one lock across the cluster (see
//! `Store::status_create`), so id order is commit order, and once status X
//! is committed every status below X is too. A node that hears of a commit
//! (its own, or another's over the bus) reads the statuses after the last
//! one it released, in id order, from the shared database, and releases
//! them to its listeners: no gap, no repeat, the same order as a replay.
//! Deletions are not in id order; they travel on the bus as they are.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use whassap_store::TimelineQuery;

use crate::statuses::{Status, StatusEvent};
use crate::Server;

/// Statuses read per query while catching up.
const PAGE: u32 = 200;

/// What a node says about statuses.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatusNews {
    /// Statuses were committed: read what is new.
    Committed {
        /// The node that committed them.
        node: String,
    },
    /// A status was deleted.
    Deleted {
        /// The node that deleted it.
        node: String,
        /// The status as it was.
        status: Status,
    },
}

/// Release, in id order, the statuses committed after the last one this
/// node released, each time `wake` is notified.
pub(super) async fn tail(server: Arc<Server>, wake: Arc<Notify>) {
    let mut last = match newest(&server).await {
        Some(id) => id,
        None => return,
    };
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = wake.notified() => {}
        }
        loop {
            let page = match server
                .store
                .timeline(&TimelineQuery {
                    after: Some(&last),
                    limit: PAGE,
                    ..Default::default()
                })
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    // The next commit wakes it again; nothing is skipped.
                    tracing::error!("reading new statuses for the firehose failed: {e}");
                    break;
                }
            };
            let full = page.len() == PAGE as usize;
            // Newest first: release oldest first.
            for record in page.into_iter().rev() {
                last.clone_from(&record.id);
                match Status::from_record(&server.config, record) {
                    Ok(s) => server
                        .statuses
                        .events
                        .reserve()
                        .publish(StatusEvent::Created(Arc::new(s))),
                    Err(e) => tracing::error!(id = %last, "a stored status is unreadable: {e}"),
                }
            }
            if !full {
                break;
            }
        }
    }
}

/// The newest status id now ("" before the first), or None if the store
/// cannot say (then this node's firehose stays silent, and says why).
async fn newest(server: &Server) -> Option<String> {
    match server
        .store
        .timeline(&TimelineQuery {
            limit: 1,
            ..Default::default()
        })
        .await
    {
        Ok(p) => Some(p.first().map(|s| s.id.clone()).unwrap_or_default()),
        Err(e) => {
            tracing::error!("reading the newest status failed; this node's firehose is off: {e}");
            None
        }
    }
}
