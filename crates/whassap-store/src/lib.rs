//! Whassap's storage, one module per concern: accounts and credentials,
//! rosters and pending subscription requests, offline messages, blocklists,
//! publish-subscribe nodes and items, server secrets, statuses (with
//! display names and REST idempotency keys), personal access tokens,
//! webhooks and their delivery outbox, and the web pages' sessions.
//!
//! The store knows nothing of XML or HTTP: stanzas are opaque strings, JIDs
//! are strings the caller has already normalised, usernames are JID
//! localparts already passed through nodeprep.
//!
//! SQLite now, in WAL mode with `synchronous = FULL` so that a write is on
//! disk when its call returns (an acknowledged write survives a process kill
//! or a power cut), foreign keys on, and a busy timeout. Every method
//! matches on [`Store`]'s private backend enum, which is where a PostgreSQL
//! arm goes without touching callers. Queries are runtime `sqlx::query`
//! calls (no compile-time checked macros, so building needs no database);
//! the schema lives in `migrations/sqlite/`.

#![warn(missing_docs)]

mod accounts;
mod blocking;
mod offline;
mod pubsub;
mod roster;
mod secrets;
mod settings;
mod statuses;
mod tokens;
mod web_sessions;
mod webhooks;

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use offline::{OfflineMessage, Waiting};
pub use pubsub::{ItemsPage, StoredItem, StoredSubscription};
pub use roster::{RosterItem, Subscription, UnknownSubscription};
pub use statuses::{
    CreateOutcome, Idempotency, ItemRetraction, ItemWrite, NewStatusRows, OutboxEvent,
    StatusRecord, TimelineQuery,
};
pub use tokens::TokenRecord;
pub use web_sessions::WebSessionRecord;
pub use webhooks::{AttemptRecord, DeliveryAttempt, DeliveryRecord, DeliveryState, WebhookRecord};
pub use whassap_proto::scram::{Hash, StoredCredentials};

/// The SQLite schema, embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a connection waits for another one's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of a file database: several readers (WAL lets them read
/// while one writes); writers queue on SQLite's lock. Two per core, at
/// least four and at most sixteen: each connection is a thread with its own
/// page cache (up to 2 MiB), so more than the cores can keep busy only costs
/// memory.
fn sqlite_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).clamp(4, 16) as u32
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing to create exists already (e.g. the username is taken).
    #[error("already exists: {0}")]
    Conflict(String),
    /// A thing that must exist does not (e.g. the account a row belongs to).
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the schema failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be read back as what it should be.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Map a foreign-key violation (a row for an account that does not
    /// exist) to [`StoreError::NotFound`], keep anything else.
    fn missing_user(e: sqlx::Error, user: &str) -> StoreError {
        match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::NotFound(format!("user {user:?}"))
            }
            _ => StoreError::Database(e),
        }
    }
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
}

/// The store: a connection pool, cheap to clone and shared by every task.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Open a SQLite database file, creating it if needed (the directory must
    /// exist), and apply pending migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(sqlite_connections())
            .connect_with(options)
            .await?;
        Self::migrate_sqlite(pool).await
    }

    /// A private, empty in-memory database (unit tests). It lives as long as
    /// the store's single connection, i.e. until [`close`](Self::close).
    pub async fn open_memory() -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // Each connection to `:memory:` is its own database: keep exactly one,
        // forever.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrate_sqlite(pool).await
    }

    async fn migrate_sqlite(pool: SqlitePool) -> Result<Store, StoreError> {
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
        })
    }

    /// Check that the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Graceful shutdown: wait for the connections in use to come back,
    /// checkpoint the write-ahead log into the database file and close every
    /// connection. Later calls on this store (or its clones) fail.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => {
                // Committed data is already durable in the WAL; folding it
                // into the main file just leaves a tidy single file behind.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await
                {
                    tracing::warn!("WAL checkpoint at shutdown failed: {e}");
                }
                pool.close().await;
            }
        }
    }
}

/// Begin a write transaction with `BEGIN IMMEDIATE`: it takes SQLite's write
/// lock at once (waiting up to the busy timeout), so a transaction that reads
/// before it writes cannot fail half-way with `SQLITE_BUSY` when another
/// connection wrote in between.
async fn sqlite_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// A random identifier for rows the store names itself (tokens, webhooks,
/// deliveries): 20 lower-case letters and digits, about 103 bits.
fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..20)
        .map(|_| {
            let n = rng.gen_range(0..36u8);
            (if n < 10 { b'0' + n } else { b'a' + n - 10 }) as char
        })
        .collect()
}

/// An `i64` column read back as `u64`/`u32`, or [`StoreError::Corrupt`].
fn unsigned<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} = {value}")))
}

#[cfg(test)]
mod status_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod web_session_tests;
