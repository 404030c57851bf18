//! Statuses: the one write of the status pipeline (the status, its PubSub
//! items, its idempotency key and its webhook outbox rows in one
//! transaction), deletion likewise, timelines and counts.
//!
//! Timelines page on the primary key: status ids sort by creation time, so
//! `before`/`after` cursors are index range scans whatever the depth.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use crate::pubsub::retract_in;
use crate::{Store, StoreError, StoredItem};

/// A stored status with its author's display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusRecord {
    /// Sorts by creation time.
    pub id: String,
    /// The author's username.
    pub author: String,
    /// The author's display name, if set (ignored when inserting).
    pub display_name: Option<String>,
    /// The text (NFC, validated by the caller); empty once deleted.
    pub text: String,
    /// `web`, `api`, `im` or `xmpp`.
    pub source: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The item id on the author's microblog PEP node.
    pub item_id: String,
    /// Deleted (only ever true for an idempotent replay).
    pub deleted: bool,
}

/// A PubSub item written with a status.
#[derive(Clone, Debug)]
pub struct ItemWrite {
    /// Service JID (an account's bare JID for PEP).
    pub service: String,
    /// Node name.
    pub node: String,
    /// The item.
    pub item: StoredItem,
    /// Trim the node to this many items (`None`: keep all).
    pub max_items: Option<u64>,
}

/// A PubSub item removed with a status.
#[derive(Clone, Debug)]
pub struct ItemRetraction {
    /// Service JID.
    pub service: String,
    /// Node name.
    pub node: String,
    /// Item id.
    pub item_id: String,
}

/// A webhook event: one outbox row per matching webhook.
#[derive(Clone, Debug)]
pub struct OutboxEvent {
    /// `status.created` or `status.deleted`.
    pub event: String,
    /// The exact JSON body to POST.
    pub body: String,
}

/// An `Idempotency-Key` given with a post.
#[derive(Clone, Debug)]
pub struct Idempotency<'a> {
    /// The key.
    pub key: &'a str,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
    /// How long a key holds, in milliseconds.
    pub ttl_ms: i64,
}

/// The rows of a new status, built by the caller once the write lock is
/// held (see [`Store::status_create`]).
#[derive(Clone, Debug)]
pub struct NewStatusRows {
    /// The status (`display_name` and `deleted` are ignored).
    pub status: StatusRecord,
    /// Its PubSub items.
    pub items: Vec<ItemWrite>,
    /// Its webhook event.
    pub outbox: OutboxEvent,
}

/// What [`Store::status_create`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateOutcome<T> {
    /// The status and everything with it was written; what the builder
    /// returned besides the rows.
    Created(T),
    /// The idempotency key was used within its lifetime: nothing written,
    /// here is the status it created.
    Replayed(StatusRecord),
}

/// Which statuses a timeline shows, newest first.
#[derive(Clone, Debug, Default)]
pub struct TimelineQuery<'a> {
    /// Only this author's.
    pub author: Option<&'a str>,
    /// Only those whose text contains this (case-insensitive).
    pub q: Option<&'a str>,
    /// Only older than this id.
    pub before: Option<&'a str>,
    /// Only newer than this id. Without `before`, the page is the statuses
    /// just after it (still newest first).
    pub after: Option<&'a str>,
    /// At most this many.
    pub limit: u32,
}

/// Upper bound of every status id (ids are ASCII).
const ID_MAX: &str = "\u{7f}";

macro_rules! select_statuses {
    ($author:literal, $order:literal) => {
        concat!(
            "SELECT s.id, s.author, u.display_name, s.text, s.source, s.created_at, s.item_id, \
             s.deleted FROM statuses s JOIN users u ON u.username = s.author \
             WHERE s.deleted = 0 AND s.id < $1 AND s.id > $2 \
             AND ($3 IS NULL OR s.text_lower LIKE $3 ESCAPE '\\') ",
            $author,
            " ORDER BY s.id ",
            $order,
            " LIMIT $4"
        )
    };
}

/// A `LIKE` pattern (escape `\\`) matching text that contains `needle`.
fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(crate) fn record(row: &AnyRow) -> Result<StatusRecord, StoreError> {
    Ok(StatusRecord {
        id: row.try_get("id")?,
        author: row.try_get("author")?,
        display_name: row.try_get("display_name")?,
        text: row.try_get("text")?,
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
        item_id: row.try_get("item_id")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

/// Does a webhook with these filters want a status by `author` with this
/// (lower-cased) text?
pub(crate) fn webhook_matches(
    users: Option<&str>,
    q: Option<&str>,
    author: &str,
    text_lower: &str,
) -> bool {
    users.is_none_or(|u| u.split(',').any(|x| x == author))
        && q.is_none_or(|q| text_lower.contains(&q.to_lowercase()))
}

/// Write one outbox row per webhook that matches the status.
pub(crate) async fn write_outbox(
    conn: &mut AnyConnection,
    author: &str,
    text_lower: &str,
    event: &OutboxEvent,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let hooks = sqlx::query("SELECT id, users, q FROM webhooks")
        .fetch_all(&mut *conn)
        .await?;
    let mut written = 0;
    for h in &hooks {
        let users: Option<String> = h.try_get("users")?;
        let q: Option<String> = h.try_get("q")?;
        if !webhook_matches(users.as_deref(), q.as_deref(), author, text_lower) {
            continue;
        }
        let id: String = h.try_get("id")?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook_id, event, body, next_attempt_ms, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crate::random_id())
        .bind(&id)
        .bind(&event.event)
        .bind(&event.body)
        .bind(now_ms)
        .bind(crate::now_rfc3339())
        .execute(&mut *conn)
        .await?;
        written += 1;
    }
    Ok(written)
}

/// The greatest status id committed so far ("" before the first): a new
/// id must sort above it.
pub(crate) async fn last_status_id(conn: &mut AnyConnection) -> Result<String, StoreError> {
    Ok(sqlx::query("SELECT COALESCE(MAX(id), '') FROM statuses")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}

impl Store {
    /// Delete a live status: mark it deleted (blanking its text), remove its
    /// PubSub items and write the webhook outbox rows of the deletion, in
    /// one transaction. False (nothing changed) if there is no such live
    /// status.
    pub async fn status_delete(
        &self,
        id: &str,
        retract: &[ItemRetraction],
        outbox: &OutboxEvent,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write(crate::STATUSES_SCOPE).await?;
        let Some(row) =
            sqlx::query("SELECT author, text_lower FROM statuses WHERE id = $1 AND deleted = 0")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(false);
        };
        let author: String = row.try_get("author")?;
        let text_lower: String = row.try_get("text_lower")?;
        sqlx::query("UPDATE statuses SET deleted = 1, text = '', text_lower = '' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for r in retract {
            retract_in(&mut tx, &r.service, &r.node, &r.item_id).await?;
        }
        let deliveries = write_outbox(&mut tx, &author, &text_lower, outbox, now_ms).await?;
        tx.commit().await?;
        self.outbox_rows_committed(deliveries);
        Ok(true)
    }

    /// A live status.
    pub async fn status(&self, id: &str) -> Result<Option<StatusRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(concat!(
            "SELECT s.id, s.author, u.display_name, s.text, s.source, s.created_at, \
                 s.item_id, s.deleted FROM statuses s JOIN users u ON u.username = s.author ",
            "WHERE s.id = $1 AND s.deleted = 0"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(record)
        .transpose()
    }

    /// The live status of `author` published under this microblog item id.
    pub async fn status_by_item(
        &self,
        author: &str,
        item_id: &str,
    ) -> Result<Option<StatusRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(concat!(
            "SELECT s.id, s.author, u.display_name, s.text, s.source, s.created_at, \
                 s.item_id, s.deleted FROM statuses s JOIN users u ON u.username = s.author ",
            "WHERE s.author = $1 AND s.item_id = $2 AND s.deleted = 0"
        ))
        .bind(author)
        .bind(item_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(record)
        .transpose()
    }

    /// A page of a timeline (every author's, or one author's), newest first.
    pub async fn timeline(&self, q: &TimelineQuery<'_>) -> Result<Vec<StatusRecord>, StoreError> {
        let ascending = q.after.is_some() && q.before.is_none();
        let pattern = q.q.map(|q| like_pattern(&q.to_lowercase()));
        let pool = &self.pool;
        let sql = match (q.author.is_some(), ascending) {
            (false, false) => select_statuses!("", "DESC"),
            (false, true) => select_statuses!("", "ASC"),
            (true, false) => select_statuses!("AND s.author = $5", "DESC"),
            (true, true) => select_statuses!("AND s.author = $5", "ASC"),
        };
        let mut query = sqlx::query(sql)
            .bind(q.before.unwrap_or(ID_MAX))
            .bind(q.after.unwrap_or(""))
            .bind(pattern)
            .bind(i64::from(q.limit));
        if let Some(a) = q.author {
            query = query.bind(a);
        }
        let rows = query.fetch_all(pool).await?;
        let mut out = rows.iter().map(record).collect::<Result<Vec<_>, _>>()?;
        if ascending {
            out.reverse();
        }
        Ok(out)
    }

    /// How many live statuses `author` has.
    pub async fn statuses_count(&self, author: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM statuses WHERE author = $1 AND deleted = 0")
            .bind(author)
            .fetch_one(pool)
            .await?
            .try_get(0)?;
        crate::unsigned(n, "status count")
    }

    /// Set (`Some`) or clear (`None`) an account's display name. False if
    /// there is no such account.
    pub async fn set_display_name(
        &self,
        username: &str,
        display_name: Option<&str>,
    ) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("UPDATE users SET display_name = $1 WHERE username = $2")
            .bind(display_name)
            .bind(username)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// An account's display name: `None` if there is no such account,
    /// `Some(None)` if it has none.
    pub async fn display_name(&self, username: &str) -> Result<Option<Option<String>>, StoreError> {
        let pool = &self.pool;
        Ok(
            sqlx::query("SELECT display_name FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get("display_name"))
                .transpose()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_matches;

    #[test]
    fn webhook_filters() {
        assert!(webhook_matches(None, None, "alice", "x"));
        assert!(webhook_matches(Some("bob,alice"), None, "alice", "x"));
        assert!(!webhook_matches(Some("bob,alicea"), None, "alice", "x"));
        assert!(webhook_matches(None, Some("PUB"), "alice", "at the pub"));
        assert!(webhook_matches(None, Some("ÉTÉ"), "alice", "l'été"));
        assert!(!webhook_matches(Some("alice"), Some("bar"), "alice", "pub"));
    }
}
