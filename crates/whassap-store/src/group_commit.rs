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
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot};

use crate::status_write;
use crate::statuses::last_status_id;
use crate::{CreateOutcome, Idempotency, NewStatusRows, Store, StoreError};

/// The most statuses committed in one transaction, unless set otherwise
/// ([`Store::set_status_group_limit`]).
const MAX_GROUP: usize = 256;

/// How many posts may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// What the writer hands back: the caller's own value, type-erased.
type Erased = Box<dyn Any + Send>;

/// A builder of a status's rows, given the greatest id committed so far
/// and the author's display name.
type Builder = Box<dyn FnOnce(&str, Option<&str>) -> (NewStatusRows, Erased) + Send>;

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
    limit: Arc<AtomicUsize>,
    /// Transactions committed, and the statuses they held.
    counts: Arc<Counts>,
}

/// What the writer has committed so far.
#[derive(Debug, Default)]
struct Counts {
    groups: AtomicU64,
    statuses: AtomicU64,
}

impl Writer {
    /// Start the writer task of `store` (it keeps a clone without a queue).
    pub(crate) fn spawn(store: &Store) -> Writer {
        let (queue, rx) = mpsc::channel(QUEUE);
        let limit = Arc::new(AtomicUsize::new(MAX_GROUP));
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(store.clone(), rx, limit.clone(), counts.clone()));
        Writer {
            queue,
            limit,
            counts,
        }
    }
}

impl Store {
    /// Commit at most `limit` new statuses in one transaction (at least 1:
    /// each alone, one commit per status).
    pub fn set_status_group_limit(&self, limit: usize) {
        if let Some(w) = &self.writer {
            w.limit.store(limit.max(1), Ordering::Relaxed);
        }
    }

    /// How many group commits of statuses succeeded so far, and how many
    /// statuses they held (metrics: the mean group size).
    pub fn status_commits(&self) -> (u64, u64) {
        self.writer.as_ref().map_or((0, 0), |w| {
            (
                w.counts.groups.load(Ordering::Relaxed),
                w.counts.statuses.load(Ordering::Relaxed),
            )
        })
    }

    /// Store a new status with its PubSub items, its idempotency key and
    /// its webhook outbox rows (one per matching webhook, due at `now_ms`),
    /// in one transaction: on disk, all of it, when this returns `Created`.
    /// Concurrent calls are committed together (see the module
    /// [`group_commit`](self)).
    ///
    /// `build` makes the rows inside the transaction, once the statuses'
    /// write lock is held (SQLite's single writer; PostgreSQL's advisory
    /// lock, on every node at once), and is given the greatest status id
    /// committed so far (the id it makes must sort above it) and the
    /// author's display name (None if the account has none; read with the
    /// group, one statement for all its authors). Ids are thus
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
        build: impl FnOnce(&str, Option<&str>) -> (NewStatusRows, T) + Send + 'static,
    ) -> Result<CreateOutcome<T>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            author: author.to_string(),
            idempotency: idempotency.map(|k| (k.key.to_string(), k.now_ms, k.ttl_ms)),
            now_ms,
            build: Box::new(move |last: &str, display_name: Option<&str>| {
                let (rows, extra) = build(last, display_name);
                (rows, Box::new(extra) as Erased)
            }),
            reply,
        };
        let gone =
            || StoreError::Unavailable("the status was not stored (see the server's log)".into());
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
async fn run(
    store: Store,
    mut rx: mpsc::Receiver<Request>,
    limit: Arc<AtomicUsize>,
    counts: Arc<Counts>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut later = Vec::new();
    loop {
        if later.is_empty() {
            match rx.recv().await {
                Some(first) => group.push(first),
                None => break,
            }
        } else {
            group.append(&mut later);
        }
        // What is queued now joins the group; nothing waits for more.
        let limit = limit.load(Ordering::Relaxed);
        while group.len() < limit {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        if let Some(written) = commit_group(&store, std::mem::take(&mut group), &mut later).await {
            counts.groups.fetch_add(1, Ordering::Relaxed);
            counts.statuses.fetch_add(written, Ordering::Relaxed);
        }
    }
}

/// One request of a group, on its way through [`commit_group`].
enum Step {
    /// Answered already (a replayed key, a bad id): nothing to write.
    Done(Result<CreateOutcome<Erased>, StoreError>),
    /// Built: its rows, key and the caller's value.
    Built {
        rows: NewStatusRows,
        key: Option<(String, i64, i64)>,
        now_ms: i64,
        extra: Erased,
    },
}

/// Write and commit one group, then answer each caller; how many statuses
/// it committed, or None if the group failed. A request whose idempotency
/// key another request of the group uses is put back in `later` (it will
/// see the other's status once that is committed).
async fn commit_group(store: &Store, group: Vec<Request>, later: &mut Vec<Request>) -> Option<u64> {
    let size = group.len();
    let mut replies = Vec::with_capacity(size);
    let mut steps = Vec::with_capacity(size);
    let result: Result<u64, StoreError> = async {
        let mut tx = store.write(crate::STATUSES_SCOPE).await?;
        let mut last = last_status_id(&mut tx).await?;
        if let Some(cutoff) = group
            .iter()
            .filter_map(|r| r.idempotency.as_ref().map(|(_, now, ttl)| now - ttl))
            .min()
        {
            status_write::idempotency_gc(&mut tx, cutoff).await?;
        }
        let authors: Vec<String> = group.iter().map(|r| r.author.clone()).collect();
        let names =
            status_write::display_names(&mut tx, authors.iter().map(String::as_str)).await?;
        // Idempotency checks, then the builders, in order: ids grow.
        let mut keys_used = HashSet::new();
        for r in group {
            if let Some((key, now_ms, ttl_ms)) = &r.idempotency {
                if !keys_used.insert((r.author.clone(), key.clone())) {
                    later.push(r);
                    continue;
                }
                let k = Idempotency {
                    key,
                    now_ms: *now_ms,
                    ttl_ms: *ttl_ms,
                };
                if let Some(e) = status_write::earlier(&mut tx, &r.author, &k).await? {
                    replies.push(r.reply);
                    steps.push(Step::Done(Ok(CreateOutcome::Replayed(e))));
                    continue;
                }
            }
            let Some(display_name) = names.get(&r.author) else {
                replies.push(r.reply);
                steps.push(Step::Done(Err(StoreError::NotFound(format!(
                    "account {:?}",
                    r.author
                )))));
                continue;
            };
            let (rows, extra) = (r.build)(&last, display_name.as_deref());
            replies.push(r.reply);
            if rows.status.id <= last {
                steps.push(Step::Done(Err(StoreError::Corrupt(format!(
                    "status id {:?} does not sort after {last:?}",
                    rows.status.id
                )))));
                continue;
            }
            last.clone_from(&rows.status.id);
            steps.push(Step::Built {
                rows,
                key: r.idempotency,
                now_ms: r.now_ms,
                extra,
            });
        }
        let keys: Vec<Option<Idempotency<'_>>> = steps
            .iter()
            .map(|s| match s {
                Step::Built {
                    key: Some((key, now_ms, ttl_ms)),
                    ..
                } => Some(Idempotency {
                    key,
                    now_ms: *now_ms,
                    ttl_ms: *ttl_ms,
                }),
                _ => None,
            })
            .collect();
        let built: Vec<(usize, status_write::Built<'_>)> = steps
            .iter()
            .zip(&keys)
            .enumerate()
            .filter_map(|(i, (s, k))| match s {
                Step::Built { rows, now_ms, .. } => Some((
                    i,
                    status_write::Built {
                        rows,
                        key: k.as_ref(),
                        now_ms: *now_ms,
                    },
                )),
                Step::Done(_) => None,
            })
            .collect();
        // The whole group in a few statements; should that fail (an author
        // deleted meanwhile, a node gone), each status alone.
        let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(built.len());
        let mut fast = tx.begin().await?;
        let group_rows: Vec<_> = built.iter().map(|(_, b)| *b).collect();
        let mut deliveries = 0;
        match status_write::write_many(&mut fast, &group_rows).await {
            Ok((written, queued)) => {
                deliveries = queued;
                fast.commit().await?;
                for (ok, (_, b)) in written.into_iter().zip(&built) {
                    outcomes.push(match ok {
                        true => Ok(()),
                        false => Err(StoreError::Conflict(format!(
                            "item {:?} of {:?}",
                            b.rows.status.item_id, b.rows.status.author
                        ))),
                    });
                }
            }
            Err(e) => {
                fast.rollback().await?;
                tracing::debug!("group of {} statuses written one by one: {e}", built.len());
                for (_, b) in &built {
                    let mut one = tx.begin().await?;
                    match status_write::write_one(&mut one, b).await {
                        Ok(queued) => {
                            one.commit().await?;
                            deliveries += queued;
                            outcomes.push(Ok(()));
                        }
                        Err(e) => {
                            one.rollback().await?;
                            outcomes.push(Err(e));
                        }
                    }
                }
            }
        }
        let indexes: Vec<usize> = built.iter().map(|(i, _)| *i).collect();
        drop(built);
        drop(keys);
        let mut written = 0;
        for (i, outcome) in indexes.into_iter().zip(outcomes) {
            let step = std::mem::replace(
                &mut steps[i],
                Step::Done(Err(StoreError::Corrupt(String::new()))),
            );
            if let Step::Built { extra, .. } = step {
                steps[i] = Step::Done(outcome.map(|()| {
                    written += 1;
                    CreateOutcome::Created(extra)
                }));
            }
        }
        tx.commit().await?;
        store.outbox_rows_committed(deliveries);
        Ok(written)
    }
    .await;
    match result {
        Ok(written) => {
            for (reply, step) in replies.into_iter().zip(steps) {
                if let Step::Done(outcome) = step {
                    // The caller may have gone (a dropped request): its
                    // status stays.
                    let _ = reply.send(outcome);
                }
            }
            Some(written)
        }
        Err(e) => {
            tracing::warn!(statuses = size, "a group commit of statuses failed: {e}");
            let why = e.to_string();
            // Nothing of the group is committed: every caller gets an error
            // (one answered with its own error keeps it). Requests not yet
            // looked at were dropped with the group: their callers see the
            // writer's error too.
            for (reply, step) in replies.into_iter().zip(steps) {
                let outcome = match step {
                    Step::Done(Err(e)) => Err(e),
                    _ => Err(StoreError::Unavailable(why.clone())),
                };
                let _ = reply.send(outcome);
            }
            None
        }
    }
}
