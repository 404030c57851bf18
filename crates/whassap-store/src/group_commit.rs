//! Group commit of new statuses: posts that arrive while a commit is on its
//! way to disk are written together in the next transaction, so a burst of
//! N posts costs one fsync (SQLite) or one commit round trip (PostgreSQL)
//! instead of N, and each caller still returns only once its own status is
//! committed.
//!
//! One writer task per store takes what is queued (at most
//! [`MAX_GROUP`]), opens one write transaction under the statuses scope,
//! writes each status inside its own savepoint (a status that fails, say
//! a taken item id, is rolled back alone and gets its own error), commits,
//! then answers every caller. Nothing waits for a group to fill: a lone
//! post is committed at once, and the group grows only while the previous
//! commit is in flight, which is exactly when waiting costs nothing.

use std::any::Any;

use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot};

use crate::statuses::{create_in, last_status_id};
use crate::{CreateOutcome, Idempotency, NewStatusRows, Store, StoreError};

/// The most statuses committed in one transaction.
const MAX_GROUP: usize = 256;

/// How many posts may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// What the writer hands back: the caller's own value, type-erased.
type Erased = Box<dyn Any + Send>;

/// A builder of a status's rows, given the greatest id committed so far.
type Builder = Box<dyn FnOnce(&str) -> (NewStatusRows, Erased) + Send>;

/// One post waiting for the writer.
struct Request {
    author: String,
    idempotency: Option<(String, i64, i64)>,
    now_ms: i64,
    build: Builder,
    reply: oneshot::Sender<Result<CreateOutcome<Erased>, StoreError>>,
}

/// The queue to the writer task of one store.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Request>,
}

impl Writer {
    /// Start the writer task of `store` (it keeps a clone without a queue).
    pub(crate) fn spawn(store: &Store) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store.clone(), rx));
        Writer { queue }
    }
}

impl Store {
    /// Store a new status with its PubSub items, its idempotency key and
    /// its webhook outbox rows (one per matching webhook, due at `now_ms`),
    /// in one transaction: on disk, all of it, when this returns `Created`.
    /// Concurrent calls are committed together (see the module
    /// [`group_commit`](self)).
    ///
    /// `build` makes the rows inside the transaction, once the statuses'
    /// write lock is held (SQLite's single writer; PostgreSQL's advisory
    /// lock, on every node at once), and is given the greatest status id
    /// committed so far: the id it makes must sort above it. Ids are thus
    /// in commit order, and a reader that saw id X never later finds a new
    /// status below X. `build` runs on the store's writer task, in commit
    /// order among concurrent posts.
    ///
    /// With an idempotency key the author used within its lifetime nothing
    /// is built or written and the earlier status is returned.
    /// [`StoreError::Conflict`] if a live status of the author already has
    /// the item id; NotFound without the author.
    pub async fn status_create<T: Send + 'static>(
        &self,
        author: &str,
        idempotency: Option<&Idempotency<'_>>,
        now_ms: i64,
        build: impl FnOnce(&str) -> (NewStatusRows, T) + Send + 'static,
    ) -> Result<CreateOutcome<T>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            author: author.to_string(),
            idempotency: idempotency.map(|k| (k.key.to_string(), k.now_ms, k.ttl_ms)),
            now_ms,
            build: Box::new(move |last: &str| {
                let (rows, extra) = build(last);
                (rows, Box::new(extra) as Erased)
            }),
            reply,
        };
        let gone = || StoreError::Unavailable("the status writer has stopped".into());
        let writer = self.writer.as_ref().ok_or_else(gone)?;
        writer.queue.send(request).await.map_err(|_| gone())?;
        match answer.await.map_err(|_| gone())?? {
            CreateOutcome::Created(extra) => extra
                .downcast::<T>()
                .map(|t| CreateOutcome::Created(*t))
                .map_err(|_| StoreError::Corrupt("status builder's value".into())),
            CreateOutcome::Replayed(earlier) => Ok(CreateOutcome::Replayed(earlier)),
        }
    }
}

/// The writer task: one group per loop, until every store clone is gone.
async fn run(store: Store, mut rx: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&store, std::mem::take(&mut group)).await;
    }
}

/// Write and commit one group, then answer each caller.
async fn commit_group(store: &Store, group: Vec<Request>) {
    let size = group.len();
    let mut pending = group.into_iter();
    let mut answers = Vec::with_capacity(size);
    let result: Result<(), StoreError> = async {
        let mut tx = store.write(crate::STATUSES_SCOPE).await?;
        let mut last = last_status_id(&mut tx).await?;
        for r in pending.by_ref() {
            let key = r
                .idempotency
                .as_ref()
                .map(|(key, now_ms, ttl_ms)| Idempotency {
                    key,
                    now_ms: *now_ms,
                    ttl_ms: *ttl_ms,
                });
            // Each status in a savepoint: one that fails is rolled back
            // alone. Only a failing savepoint itself fails the group.
            let mut savepoint = tx.begin().await?;
            let outcome = create_in(
                &mut savepoint,
                &r.author,
                key.as_ref(),
                r.now_ms,
                &last,
                r.build,
            )
            .await;
            let outcome = match outcome {
                Ok(CreateOutcome::Created((extra, id))) => {
                    savepoint.commit().await?;
                    last = id;
                    Ok(CreateOutcome::Created(extra))
                }
                Ok(CreateOutcome::Replayed(earlier)) => {
                    savepoint.commit().await?;
                    Ok(CreateOutcome::Replayed(earlier))
                }
                Err(e) => {
                    savepoint.rollback().await?;
                    Err(e)
                }
            };
            answers.push((r.reply, outcome));
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(statuses = size, "a group commit of statuses failed: {e}");
        let why = e.to_string();
        // Nothing of the group is committed: every caller gets an error
        // (one answered with its own error keeps it).
        for (reply, outcome) in answers {
            let _ = reply.send(outcome.and(Err(StoreError::Unavailable(why.clone()))));
        }
        for r in pending {
            let _ = r.reply.send(Err(StoreError::Unavailable(why.clone())));
        }
        return;
    }
    for (reply, outcome) in answers {
        // The caller may have gone (a dropped request): its status stays.
        let _ = reply.send(outcome);
    }
}
