//! The rows of new statuses, written inside a group commit's transaction:
//! [`write_many`] writes a whole group in a handful of multi-row
//! statements (the fast path), [`write_one`] one status in plain statements
//! (the path of a group the fast path could not write, one savepoint per
//! status). Every statement to SQLite is a round trip to its connection's
//! thread, so the fast path's few statements per group, instead of about
//! eight per status, are where group commit's speed comes from.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use crate::pubsub::{publish_in, trim};
use crate::statuses::{record, webhook_matches, write_outbox};
use crate::{Idempotency, NewStatusRows, StatusRecord, StoreError};

/// Rows per multi-row `INSERT`: within SQLite's 32,766 and PostgreSQL's
/// 65,535 bound parameters for the widest table here (7 columns).
const ROWS_PER_INSERT: usize = 1000;

/// One status of a group, built.
#[derive(Clone, Copy)]
pub(crate) struct Built<'a> {
    /// Its rows.
    pub rows: &'a NewStatusRows,
    /// Its idempotency key, if any.
    pub key: Option<&'a Idempotency<'a>>,
    /// Now, Unix milliseconds (webhook deliveries are due then).
    pub now_ms: i64,
}

/// Forget idempotency keys older than `cutoff_ms` (once per group).
pub(crate) async fn idempotency_gc(
    conn: &mut AnyConnection,
    cutoff_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE created_ms < $1")
        .bind(cutoff_ms)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The status an author's idempotency key created within its lifetime.
pub(crate) async fn earlier(
    conn: &mut AnyConnection,
    author: &str,
    key: &Idempotency<'_>,
) -> Result<Option<StatusRecord>, StoreError> {
    sqlx::query(concat!(
        "SELECT s.id, s.author, u.display_name, s.text, s.source, s.created_at, \
         s.item_id, s.deleted FROM idempotency_keys k \
         JOIN statuses s ON s.id = k.status_id \
         JOIN users u ON u.username = s.author ",
        "WHERE k.username = $1 AND k.key = $2 AND k.created_ms >= $3"
    ))
    .bind(author)
    .bind(key.key)
    .bind(key.now_ms - key.ttl_ms)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(record)
    .transpose()
}

/// `($1, $2, …), (…), …`: `rows` tuples of `cols` placeholders.
/// The display names of a group's authors (None: the account has none);
/// an author without an account is missing from the map.
pub(crate) async fn display_names<'a>(
    conn: &mut AnyConnection,
    authors: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Option<String>>, StoreError> {
    let authors: Vec<&str> = authors.collect::<BTreeSet<_>>().into_iter().collect();
    let mut names = HashMap::with_capacity(authors.len());
    for chunk in authors.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT username, display_name FROM users WHERE username IN ({})",
            (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .persistent(false);
        for author in chunk {
            q = q.bind(*author);
        }
        for row in q.fetch_all(&mut *conn).await? {
            names.insert(row.try_get("username")?, row.try_get("display_name")?);
        }
    }
    Ok(names)
}

fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        s.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// A multi-row statement: `head VALUES (…), … tail`. Not kept prepared:
/// its text changes with the group's size.
fn multi_row<'q>(head: &str, rows: usize, cols: usize, tail: &str) -> Query<'q, Any, AnyArguments> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{head} VALUES {} {tail}",
        placeholders(rows, cols)
    )))
    .persistent(false)
}

/// Write a whole group; for each status, whether it was written (false: a
/// live status of its author already has its item id, within the group
/// or before it), and how many webhook deliveries were queued. Any other failure fails the call, and the caller rolls
/// back to before it.
pub(crate) async fn write_many(
    conn: &mut AnyConnection,
    group: &[Built<'_>],
) -> Result<(Vec<bool>, u64), StoreError> {
    let lower: Vec<String> = group
        .iter()
        .map(|b| b.rows.status.text.to_lowercase())
        .collect();
    // The statuses; a taken item id is skipped, not an error.
    let mut inserted = HashSet::new();
    for (chunk, lower) in group
        .chunks(ROWS_PER_INSERT)
        .zip(lower.chunks(ROWS_PER_INSERT))
    {
        let mut q = multi_row(
            "INSERT INTO statuses (id, author, text, text_lower, source, created_at, item_id)",
            chunk.len(),
            7,
            "ON CONFLICT DO NOTHING RETURNING id",
        );
        for (b, lower) in chunk.iter().zip(lower) {
            let s = &b.rows.status;
            q = q
                .bind(&s.id)
                .bind(&s.author)
                .bind(&s.text)
                .bind(lower)
                .bind(&s.source)
                .bind(&s.created_at)
                .bind(&s.item_id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            inserted.insert(row.try_get::<String, _>(0)?);
        }
    }
    let written: Vec<bool> = group
        .iter()
        .map(|b| inserted.contains(&b.rows.status.id))
        .collect();
    let live = || {
        group
            .iter()
            .zip(&written)
            .filter(|(_, w)| **w)
            .map(|(b, _)| b)
    };

    // Their PubSub items: new ids in one statement; an id the node already
    // holds (a client's own item id) is replaced as a publish would.
    let items: Vec<_> = live().flat_map(|b| &b.rows.items).collect();
    let services: BTreeSet<&str> = items.iter().map(|w| w.service.as_str()).collect();
    for service in services {
        crate::lock_in(conn, service).await?;
    }
    let mut fresh = HashSet::new();
    for chunk in items.chunks(ROWS_PER_INSERT) {
        let mut q = multi_row(
            "INSERT INTO pubsub_items (service, node, item_id, publisher, payload, published_at)",
            chunk.len(),
            6,
            "ON CONFLICT DO NOTHING RETURNING service, node, item_id",
        );
        for w in chunk {
            q = q
                .bind(&w.service)
                .bind(&w.node)
                .bind(&w.item.id)
                .bind(&w.item.publisher)
                .bind(&w.item.payload)
                .bind(&w.item.published_at);
        }
        for row in q.fetch_all(&mut *conn).await? {
            fresh.insert((
                row.try_get::<String, _>(0)?,
                row.try_get::<String, _>(1)?,
                row.try_get::<String, _>(2)?,
            ));
        }
    }
    let mut trimmed = BTreeSet::new();
    for w in &items {
        let id = (w.service.clone(), w.node.clone(), w.item.id.clone());
        if !fresh.remove(&id) {
            publish_in(conn, &w.service, &w.node, &w.item, None).await?;
        }
        if let Some(max) = w.max_items {
            trimmed.insert((w.service.as_str(), w.node.as_str(), max));
        }
    }
    for (service, node, max) in trimmed {
        trim(conn, service, node, max).await?;
    }

    // Their idempotency keys (an expired key of the same name is replaced).
    let keyed: Vec<_> = live().filter_map(|b| b.key.map(|k| (b, k))).collect();
    for chunk in keyed.chunks(ROWS_PER_INSERT) {
        let mut q = multi_row(
            "INSERT INTO idempotency_keys (username, key, status_id, created_ms)",
            chunk.len(),
            4,
            "ON CONFLICT (username, key) DO UPDATE SET status_id = excluded.status_id, \
             created_ms = excluded.created_ms",
        );
        for (b, k) in chunk {
            q = q
                .bind(&b.rows.status.author)
                .bind(k.key)
                .bind(&b.rows.status.id)
                .bind(k.now_ms);
        }
        q.execute(&mut *conn).await?;
    }

    // Their webhook deliveries: the webhooks read once for the group.
    let hooks = sqlx::query("SELECT id, users, q FROM webhooks")
        .fetch_all(&mut *conn)
        .await?;
    let mut deliveries = Vec::new();
    for (b, lower) in group
        .iter()
        .zip(&lower)
        .zip(&written)
        .filter(|(_, w)| **w)
        .map(|(x, _)| x)
    {
        for h in &hooks {
            let users: Option<String> = h.try_get("users")?;
            let q: Option<String> = h.try_get("q")?;
            if webhook_matches(users.as_deref(), q.as_deref(), &b.rows.status.author, lower) {
                deliveries.push((h.try_get::<String, _>("id")?, b));
            }
        }
    }
    let created_at = crate::now_rfc3339();
    for chunk in deliveries.chunks(ROWS_PER_INSERT) {
        let mut q = multi_row(
            "INSERT INTO webhook_deliveries \
             (id, webhook_id, event, body, next_attempt_ms, created_at)",
            chunk.len(),
            6,
            "",
        );
        for (hook, b) in chunk {
            q = q
                .bind(crate::random_id())
                .bind(hook)
                .bind(&b.rows.outbox.event)
                .bind(&b.rows.outbox.body)
                .bind(b.now_ms)
                .bind(&created_at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok((written, deliveries.len() as u64))
}

/// Write one status in plain statements (inside its own savepoint); how
/// many webhook deliveries were queued. [`StoreError::Conflict`] if a live status of the author has the item id;
/// NotFound without the author.
pub(crate) async fn write_one(conn: &mut AnyConnection, b: &Built<'_>) -> Result<u64, StoreError> {
    let status = &b.rows.status;
    let text_lower = status.text.to_lowercase();
    sqlx::query(
        "INSERT INTO statuses (id, author, text, text_lower, source, created_at, item_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&status.id)
    .bind(&status.author)
    .bind(&status.text)
    .bind(&text_lower)
    .bind(&status.source)
    .bind(&status.created_at)
    .bind(&status.item_id)
    .execute(&mut *conn)
    .await
    .map_err(|e| match &e {
        // statuses_live_item: a live status of the author has the item id.
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("item {:?} of {:?}", status.item_id, status.author))
        }
        _ => StoreError::missing_user(e, &status.author),
    })?;
    if let Some(k) = b.key {
        sqlx::query(
            "INSERT INTO idempotency_keys (username, key, status_id, created_ms) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username, key) DO UPDATE SET status_id = excluded.status_id, \
             created_ms = excluded.created_ms",
        )
        .bind(&status.author)
        .bind(k.key)
        .bind(&status.id)
        .bind(k.now_ms)
        .execute(&mut *conn)
        .await?;
    }
    for w in &b.rows.items {
        crate::lock_in(conn, &w.service).await?;
        publish_in(conn, &w.service, &w.node, &w.item, w.max_items).await?;
    }
    let deliveries =
        write_outbox(conn, &status.author, &text_lower, &b.rows.outbox, b.now_ms).await?;
    Ok(deliveries)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_column_of_every_row() {
        assert_eq!(super::placeholders(1, 2), "($1, $2)");
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
