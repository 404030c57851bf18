//! XEP-0060 publish-subscribe storage: nodes (with an opaque configuration
//! the server serialises), affiliations, subscriptions and items.
//!
//! Every operation touches only the rows it names, through the primary keys
//! and the `(service, node, seq)` index, so its cost does not grow with the
//! number of subscribers or items of the node.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Store, StoreError};

/// A stored item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredItem {
    /// Publication order within the store (only grows).
    pub seq: i64,
    /// The item id.
    pub id: String,
    /// Bare or full JID of whoever published it.
    pub publisher: String,
    /// The serialised payload (the item's child element), opaque here.
    pub payload: String,
    /// When it was published (RFC 3339 UTC, as given by the caller).
    pub published_at: String,
}

/// A stored subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSubscription {
    /// The subscribed JID (bare or full).
    pub jid: String,
    /// The subscription id.
    pub subid: String,
    /// `subscribed`, `pending` or `unconfigured`.
    pub state: String,
}

/// Where a page of items starts (XEP-0059 on the publication order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemsPage {
    /// The newest `max` items.
    Newest,
    /// The `max` items published just before the item with this `seq`.
    Before(i64),
    /// The `max` items published just after the item with this `seq`.
    After(i64),
}

fn item(row: &AnyRow) -> Result<StoredItem, StoreError> {
    Ok(StoredItem {
        seq: row.try_get("seq")?,
        id: row.try_get("item_id")?,
        publisher: row.try_get("publisher")?,
        payload: row.try_get("payload")?,
        published_at: row.try_get("published_at")?,
    })
}

/// A static `SELECT` of item columns from one node's items, then `$rest`.
macro_rules! select_items {
    ($rest:literal) => {
        concat!(
            "SELECT seq, item_id, publisher, payload, published_at FROM pubsub_items \
             WHERE service = $1 AND node = $2 ",
            $rest
        )
    };
}

fn subscription(r: &AnyRow) -> Result<StoredSubscription, StoreError> {
    Ok(StoredSubscription {
        jid: r.try_get("jid")?,
        subid: r.try_get("subid")?,
        state: r.try_get("state")?,
    })
}

impl Store {
    /// Create a node with its configuration and owner. False (and nothing
    /// changed) when the node exists. `pep_user` ties a PEP node to its
    /// account (deleted with it).
    pub async fn pubsub_create_node(
        &self,
        service: &str,
        node: &str,
        pep_user: Option<&str>,
        config: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write(service).await?;
        let r = sqlx::query(
            "INSERT INTO pubsub_nodes (service, node, pep_user, config, created_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (service, node) DO NOTHING",
        )
        .bind(service)
        .bind(node)
        .bind(pep_user)
        .bind(config)
        .bind(crate::now_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::missing_user(e, pep_user.unwrap_or_default()))?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO pubsub_affiliations (service, node, jid, affiliation) \
                     VALUES ($1, $2, $3, 'owner')",
        )
        .bind(service)
        .bind(node)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A node's configuration, if the node exists.
    pub async fn pubsub_node_config(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Option<String>, StoreError> {
        let pool = &self.pool;
        Ok(
            sqlx::query("SELECT config FROM pubsub_nodes WHERE service = $1 AND node = $2")
                .bind(service)
                .bind(node)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get("config"))
                .transpose()?,
        )
    }

    /// Replace a node's configuration. False if there is no such node.
    pub async fn pubsub_set_config(
        &self,
        service: &str,
        node: &str,
        config: &str,
    ) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("UPDATE pubsub_nodes SET config = $1 WHERE service = $2 AND node = $3")
            .bind(config)
            .bind(service)
            .bind(node)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Delete a node with its affiliations, subscriptions and items. False
    /// if there was no such node.
    pub async fn pubsub_delete_node(&self, service: &str, node: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM pubsub_nodes WHERE service = $1 AND node = $2")
            .bind(service)
            .bind(node)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The nodes of a service with their configurations, by name.
    pub async fn pubsub_nodes(&self, service: &str) -> Result<Vec<(String, String)>, StoreError> {
        let pool = &self.pool;
        sqlx::query("SELECT node, config FROM pubsub_nodes WHERE service = $1 ORDER BY node")
            .bind(service)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("node")?, r.try_get("config")?)))
            .collect()
    }

    /// Affiliations of a node: `(jid, affiliation)`.
    pub async fn pubsub_affiliations(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT jid, affiliation FROM pubsub_affiliations \
                 WHERE service = $1 AND node = $2 ORDER BY jid",
        )
        .bind(service)
        .bind(node)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("jid")?, r.try_get("affiliation")?)))
        .collect()
    }

    /// Set (`Some`) or remove (`None`) one JID's affiliation with a node.
    pub async fn pubsub_set_affiliation(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        affiliation: Option<&str>,
    ) -> Result<(), StoreError> {
        let pool = &self.pool;
        match affiliation {
            Some(a) => {
                sqlx::query(
                    "INSERT INTO pubsub_affiliations (service, node, jid, affiliation) \
                             VALUES ($1, $2, $3, $4) ON CONFLICT (service, node, jid) \
                             DO UPDATE SET affiliation = excluded.affiliation",
                )
                .bind(service)
                .bind(node)
                .bind(jid)
                .bind(a)
                .execute(pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM pubsub_affiliations \
                             WHERE service = $1 AND node = $2 AND jid = $3",
                )
                .bind(service)
                .bind(node)
                .bind(jid)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Subscriptions of a node.
    pub async fn pubsub_subscriptions(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<StoredSubscription>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT jid, subid, state FROM pubsub_subscriptions \
                 WHERE service = $1 AND node = $2",
        )
        .bind(service)
        .bind(node)
        .fetch_all(pool)
        .await?
        .iter()
        .map(subscription)
        .collect()
    }

    /// One JID's subscriptions to a node (none, one, or several subids).
    pub async fn pubsub_subscriptions_of(
        &self,
        service: &str,
        node: &str,
        jid: &str,
    ) -> Result<Vec<StoredSubscription>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT jid, subid, state FROM pubsub_subscriptions \
                 WHERE service = $1 AND node = $2 AND jid = $3",
        )
        .bind(service)
        .bind(node)
        .bind(jid)
        .fetch_all(pool)
        .await?
        .iter()
        .map(subscription)
        .collect()
    }

    /// Create or update a subscription.
    pub async fn pubsub_put_subscription(
        &self,
        service: &str,
        node: &str,
        sub: &StoredSubscription,
    ) -> Result<(), StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "INSERT INTO pubsub_subscriptions (service, node, jid, subid, state) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service, node, jid, subid) \
                     DO UPDATE SET state = excluded.state",
        )
        .bind(service)
        .bind(node)
        .bind(&sub.jid)
        .bind(&sub.subid)
        .bind(&sub.state)
        .execute(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::NotFound(format!("node {node:?}"))
            }
            _ => StoreError::Database(e),
        })?;
        Ok(())
    }

    /// Remove a JID's subscription (`subid`), or all of its subscriptions
    /// (`None`). How many were removed.
    pub async fn pubsub_remove_subscription(
        &self,
        service: &str,
        node: &str,
        jid: &str,
        subid: Option<&str>,
    ) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let r = match subid {
            Some(id) => sqlx::query(
                "DELETE FROM pubsub_subscriptions \
                         WHERE service = $1 AND node = $2 AND jid = $3 AND subid = $4",
            )
            .bind(service)
            .bind(node)
            .bind(jid)
            .bind(id),
            None => sqlx::query(
                "DELETE FROM pubsub_subscriptions \
                         WHERE service = $1 AND node = $2 AND jid = $3",
            )
            .bind(service)
            .bind(node)
            .bind(jid),
        }
        .execute(pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Store an item (replacing an item with the same id, which then counts
    /// as the newest) and trim the node to its `max_items` newest items
    /// (`None`: keep all), in one transaction. On disk when this returns.
    /// NotFound if the node does not exist.
    pub async fn pubsub_publish(
        &self,
        service: &str,
        node: &str,
        item: &StoredItem,
        max_items: Option<u64>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write(service).await?;
        let seq = publish_in(&mut tx, service, node, item, max_items).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Trim a node to its `max` newest items (after a configuration change).
    pub async fn pubsub_trim(&self, service: &str, node: &str, max: u64) -> Result<(), StoreError> {
        let mut tx = self.write(service).await?;
        trim(&mut tx, service, node, max).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete one item. False if there was no such item.
    pub async fn pubsub_retract(
        &self,
        service: &str,
        node: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query(
            "DELETE FROM pubsub_items WHERE service = $1 AND node = $2 AND item_id = $3",
        )
        .bind(service)
        .bind(node)
        .bind(id)
        .execute(pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Delete every item of a node; how many there were.
    pub async fn pubsub_purge(&self, service: &str, node: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM pubsub_items WHERE service = $1 AND node = $2")
            .bind(service)
            .bind(node)
            .execute(pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// The items with these ids that exist, oldest first.
    pub async fn pubsub_items_by_id(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
    ) -> Result<Vec<StoredItem>, StoreError> {
        let pool = &self.pool;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query(select_items!("AND item_id = $3"))
                .bind(service)
                .bind(node)
                .bind(id)
                .fetch_optional(pool)
                .await?;
            if let Some(row) = row {
                out.push(item(&row)?);
            }
        }
        out.sort_by_key(|i| i.seq);
        Ok(out)
    }

    /// Up to `max` items of a page, oldest first within the page.
    pub async fn pubsub_items(
        &self,
        service: &str,
        node: &str,
        page: ItemsPage,
        max: u64,
    ) -> Result<Vec<StoredItem>, StoreError> {
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let pool = &self.pool;
        let (sql, bound) = match page {
            ItemsPage::Newest => (select_items!("ORDER BY seq DESC LIMIT $3"), None),
            ItemsPage::Before(seq) => (
                select_items!("AND seq < $4 ORDER BY seq DESC LIMIT $3"),
                Some(seq),
            ),
            ItemsPage::After(seq) => (
                select_items!("AND seq > $4 ORDER BY seq ASC LIMIT $3"),
                Some(seq),
            ),
        };
        let mut q = sqlx::query(sql).bind(service).bind(node).bind(limit);
        if let Some(seq) = bound {
            q = q.bind(seq);
        }
        let rows = q.fetch_all(pool).await?;
        let mut out = rows.iter().map(item).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|i| i.seq);
        Ok(out)
    }

    /// How many items a node holds.
    pub async fn pubsub_item_count(&self, service: &str, node: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM pubsub_items WHERE service = $1 AND node = $2")
                .bind(service)
                .bind(node)
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        crate::unsigned(n, "item count")
    }

    /// How many nodes, on any service, have `jid` (a bare JID) as an owner.
    pub async fn pubsub_owned_count(&self, jid: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM pubsub_affiliations WHERE jid = $1 AND affiliation = 'owner'",
        )
        .bind(jid)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
        crate::unsigned(n, "node count")
    }

    /// How many items of a node were published before the item `seq`
    /// (its index in the result set, XEP-0059).
    pub async fn pubsub_items_before(
        &self,
        service: &str,
        node: &str,
        seq: i64,
    ) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM pubsub_items WHERE service = $1 AND node = $2 AND seq < $3",
        )
        .bind(service)
        .bind(node)
        .bind(seq)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
        crate::unsigned(n, "item index")
    }
}

/// Store an item inside a write transaction (replacing an item with the
/// same id) and trim the node to `max_items`; the item's `seq`.
pub(crate) async fn publish_in(
    conn: &mut sqlx::AnyConnection,
    service: &str,
    node: &str,
    item: &StoredItem,
    max_items: Option<u64>,
) -> Result<i64, StoreError> {
    // A new id (the usual case, a status's) is one statement; a re-published
    // one replaces the old item and gets a new seq (it becomes the newest).
    let mut seq = None;
    for attempt in 0..2 {
        if attempt == 1 {
            sqlx::query(
                "DELETE FROM pubsub_items WHERE service = $1 AND node = $2 AND item_id = $3",
            )
            .bind(service)
            .bind(node)
            .bind(&item.id)
            .execute(&mut *conn)
            .await?;
        }
        seq = sqlx::query(
            "INSERT INTO pubsub_items (service, node, item_id, publisher, payload, published_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (service, node, item_id) DO NOTHING RETURNING seq",
        )
        .bind(service)
        .bind(node)
        .bind(&item.id)
        .bind(&item.publisher)
        .bind(&item.payload)
        .bind(&item.published_at)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::NotFound(format!("node {node:?}"))
            }
            _ => StoreError::Database(e),
        })?
        .map(|row| row.try_get::<i64, _>(0))
        .transpose()?;
        if seq.is_some() {
            break;
        }
    }
    let seq = seq.ok_or_else(|| StoreError::Corrupt(format!("item {:?} not written", item.id)))?;
    if let Some(max) = max_items {
        trim(conn, service, node, max).await?;
    }
    Ok(seq)
}

/// Delete one item inside a write transaction; whether it existed.
pub(crate) async fn retract_in(
    conn: &mut sqlx::AnyConnection,
    service: &str,
    node: &str,
    id: &str,
) -> Result<bool, StoreError> {
    let r =
        sqlx::query("DELETE FROM pubsub_items WHERE service = $1 AND node = $2 AND item_id = $3")
            .bind(service)
            .bind(node)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(r.rows_affected() > 0)
}

/// Keep only the `max` newest items of a node.
pub(crate) async fn trim(
    conn: &mut sqlx::AnyConnection,
    service: &str,
    node: &str,
    max: u64,
) -> Result<(), StoreError> {
    let offset = i64::try_from(max).unwrap_or(i64::MAX);
    sqlx::query(
        "DELETE FROM pubsub_items WHERE service = $1 AND node = $2 AND seq <= \
         (SELECT seq FROM pubsub_items WHERE service = $3 AND node = $4 \
          ORDER BY seq DESC LIMIT 1 OFFSET $5)",
    )
    .bind(service)
    .bind(node)
    .bind(service)
    .bind(node)
    .bind(offset)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
