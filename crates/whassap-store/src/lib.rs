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
//! # Two databases, one code path
//!
//! SQLite is the embedded default (a file in the data dir); PostgreSQL
//! serves several nodes at once (SPEC §7). Both go through one pool of
//! sqlx's `Any` driver, so every method is written once:
//!
//! - **One SQL text where the dialects agree**, which is nearly everywhere:
//!   `$1` placeholders (SQLite accepts them too), `ON CONFLICT`,
//!   `RETURNING`, `LIMIT`/`OFFSET`, integers as 64-bit (`BIGINT` in
//!   PostgreSQL's schema, `INTEGER` in SQLite's), flags as 0/1 integers.
//! - **Timestamps are computed in Rust and bound** ([`now_rfc3339`]), never
//!   by `strftime` or `now()`, so both databases store the same text.
//! - **Where they differ, the code branches on [`Store::dialect`]**: only
//!   SQLite's pragmas and PostgreSQL's advisory locks. Substring search is
//!   `LIKE` with an escaped pattern on text both lower-cased, the same on
//!   both.
//! - **Schemas live in a folder per backend** (`migrations/sqlite`,
//!   `migrations/postgres`): types and defaults differ, the tables, columns
//!   and indexes do not. PostgreSQL's tables that SQLite orders by its
//!   implicit `rowid` have an identity column of that name.
//! - **Write transactions are serialised per scope** ([`Store::write`]):
//!   SQLite takes its single write lock (`BEGIN IMMEDIATE`); PostgreSQL
//!   takes a transaction-scoped advisory lock on the scope (an account, a
//!   PubSub service), so a "read, check, then write" transaction (a quota,
//!   a roster version) sees no concurrent writer of the same scope on any
//!   node. Status ids take a lock of their own (see
//!   [`Store::status_create`]).
//!
//! New statuses are committed in groups (`group_commit`): posts that arrive
//! while a commit is on its way to disk share the next transaction, written
//! in a few multi-row statements (`status_write`).
//!
//! SQLite runs in WAL mode with `synchronous = FULL` so that a write is on
//! disk when its call returns (an acknowledged write survives a process kill
//! or a power cut), foreign keys on, and a busy timeout. Queries are runtime
//! `sqlx::query` calls (no compile-time checked macros, so building needs no
//! database).

#![warn(missing_docs)]

mod accounts;
mod blocking;
mod bot_subscribers;
mod group_commit;
mod offline;
mod pubsub;
mod roster;
mod secrets;
mod settings;
mod status_write;
mod statuses;
mod tokens;
mod web_sessions;
mod webhooks;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor};

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

/// The PostgreSQL schema, embedded at build time.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a connection waits for another one's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a caller waits for a free connection before the call fails (a
/// database that does not answer becomes an error, not a hang).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of a file database: several readers (WAL lets them read
/// while one writes); writers queue on SQLite's lock. Two per core, at
/// least four and at most sixteen: each connection is a thread with its own
/// page cache (up to 2 MiB), so more than the cores can keep busy only costs
/// memory.
fn sqlite_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).clamp(4, 16) as u32
}

/// Connections to PostgreSQL per node: enough to keep the database's cores
/// busy with this node's share, few enough that a handful of nodes stay
/// well under PostgreSQL's default `max_connections` (100).
const POSTGRES_CONNECTIONS: u32 = 16;

/// Which database a [`Store`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: one file, one node.
    Sqlite,
    /// PostgreSQL: shared by every node of a cluster.
    Postgres,
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
    /// The database cannot do the work now (a commit failed, the
    /// connection was lost); nothing of it was stored. Worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database URL is not one the store knows.
    #[error("database URL: {0}")]
    Url(String),
    /// Applying the schema failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be read back as what it should be.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database is out of reach (a connection failed or broke, none
    /// came within the timeout, a commit did not happen): nothing was done
    /// and the same call may succeed later. Anything else is a refusal or
    /// a fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL's connection exceptions and shutdowns.
                sqlx::Error::Database(d) => d
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            },
            _ => false,
        }
    }

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

/// The store: a connection pool, cheap to clone and shared by every task.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// The group-commit queue of new statuses (`None` in the writer task's
    /// own clone, so that the queue closes when every other clone is gone).
    writer: Option<std::sync::Arc<group_commit::Writer>>,
    /// Webhook deliveries committed to the outbox by this process.
    outbox_rows: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Open the database a URL names: `postgres://USER@HOST/DB` (or
    /// `postgresql://`), or `sqlite://PATH`. See [`Store::open_sqlite`] and
    /// [`Store::open_postgres`].
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(Path::new(path)).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await
        } else {
            Err(StoreError::Url(format!(
                "{url:?} is neither postgres://… nor sqlite://…"
            )))
        }
    }

    /// Open a SQLite database file, creating it if needed (the directory must
    /// exist), and apply pending migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        install_drivers();
        let encoded = percent_encoding::utf8_percent_encode(
            &path.to_string_lossy(),
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let options: AnyConnectOptions = format!("sqlite://{encoded}?mode=rwc").parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(sqlite_connections())
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    sqlite_pragmas(conn).await
                })
            })
            .connect_with(options)
            .await?;
        Self::migrate(pool, Dialect::Sqlite).await
    }

    /// A private, empty in-memory SQLite database (unit tests). It lives as
    /// long as the store's single connection, i.e. until
    /// [`close`](Self::close).
    pub async fn open_memory() -> Result<Store, StoreError> {
        install_drivers();
        let options: AnyConnectOptions = "sqlite::memory:".parse()?;
        // Each connection to `:memory:` is its own database: keep exactly one,
        // forever.
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn).await }))
            .connect_with(options)
            .await?;
        Self::migrate(pool, Dialect::Sqlite).await
    }

    /// Connect to a PostgreSQL database (which must exist) and apply pending
    /// migrations. Several nodes may do this at once: sqlx's migrator holds
    /// an advisory lock while it works.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Self::open_postgres_with(url, ACQUIRE_TIMEOUT).await
    }

    /// [`Store::open_postgres`], a call failing (as
    /// [unavailable](StoreError::is_unavailable)) when no connection comes
    /// within `timeout`: how long a request waits while the database is
    /// out of reach.
    pub async fn open_postgres_with(url: &str, timeout: Duration) -> Result<Store, StoreError> {
        install_drivers();
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await?;
        Self::migrate(pool, Dialect::Postgres).await
    }

    async fn migrate(pool: AnyPool, dialect: Dialect) -> Result<Store, StoreError> {
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        let mut store = Store {
            pool,
            dialect,
            writer: None,
            outbox_rows: Default::default(),
        };
        store.writer = Some(std::sync::Arc::new(group_commit::Writer::spawn(&store)));
        Ok(store)
    }

    /// How many webhook deliveries this process has committed to the
    /// outbox so far: the sender reads the outbox again when this grew (or
    /// when a delivery falls due), not after every post.
    pub fn outbox_rows_written(&self) -> u64 {
        self.outbox_rows.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `n` more deliveries are committed to the outbox.
    pub(crate) fn outbox_rows_committed(&self, n: u64) {
        self.outbox_rows
            .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// Which database this store is on.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Begin a write transaction serialised with every other one of the same
    /// `scope` (an account, a PubSub service).
    ///
    /// SQLite: `BEGIN IMMEDIATE` takes the database's single write lock at
    /// once (waiting up to the busy timeout), so a transaction that reads
    /// before it writes cannot fail half-way with `SQLITE_BUSY` when another
    /// connection wrote in between. PostgreSQL: a transaction-scoped
    /// advisory lock on the scope's hash, held until commit or rollback, on
    /// every node at once.
    async fn write(&self, scope: &str) -> Result<sqlx::Transaction<'static, Any>, StoreError> {
        match self.dialect {
            Dialect::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Dialect::Postgres => {
                let mut tx = self.pool.begin().await?;
                lock_in(&mut tx, scope).await?;
                Ok(tx)
            }
        }
    }

    /// Check that the database answers (`/healthz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Graceful shutdown: wait for the connections in use to come back and
    /// close every connection (SQLite: after checkpointing the write-ahead
    /// log into the database file). Later calls on this store (or its
    /// clones) fail.
    pub async fn close(&self) {
        if self.dialect == Dialect::Sqlite {
            // Committed data is already durable in the WAL; folding it
            // into the main file just leaves a tidy single file behind.
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!("WAL checkpoint at shutdown failed: {e}");
            }
        }
        self.pool.close().await;
    }
}

/// The write scope of status ids: one writer at a time picks ids and
/// commits, so ids sort in commit order (see [`Store::status_create`]).
const STATUSES_SCOPE: &str = "statuses";

/// Inside a write transaction, also serialise with the writers of `scope`
/// (PostgreSQL; SQLite's write lock already excludes every other writer).
async fn lock_in(conn: &mut sqlx::AnyConnection, scope: &str) -> Result<(), StoreError> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text")
            .bind(scope)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Register sqlx's SQLite and PostgreSQL drivers with the `Any` driver
/// (once per process; later calls do nothing).
fn install_drivers() {
    sqlx::any::install_default_drivers();
}

/// The settings every SQLite connection gets on top of sqlx's defaults.
async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(sqlx::AssertSqlSafe(format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = {}",
        BUSY_TIMEOUT.as_millis()
    )))
    .await?;
    Ok(())
}

/// Now as RFC 3339 UTC to the second (`2026-12-04T18:00:00Z`), the form
/// every `created_at`-like column holds, computed here rather than by either
/// database so that both store the same text.
pub fn now_rfc3339() -> String {
    rfc3339_seconds_ago(0)
}

/// [`now_rfc3339`] minus `secs` seconds.
fn rfc3339_seconds_ago(secs: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    (time::OffsetDateTime::now_utc() - time::Duration::seconds(secs))
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
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
mod test_db;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod web_session_tests;
