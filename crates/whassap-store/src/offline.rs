//! Messages stored for accounts with no available resource (RFC 6121
//! §8.5.2.2, XEP-0160), delivered oldest first at the next login.

use sqlx::Row;

use crate::{Store, StoreError};

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Increasing id, never reused: pass the last delivered one to
    /// [`Store::offline_delete_upto`].
    pub id: i64,
    /// The serialised stanza, as given to [`Store::offline_push`].
    pub stanza_xml: String,
    /// When it was stored (RFC 3339 UTC, as given by the caller).
    pub stamp: String,
}

/// What waited for a user while none of their resources was available:
/// inbound subscription requests and offline messages, both oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Waiting {
    /// Pending subscription requests as (contact, stanza), as
    /// [`Store::pending_in`] lists them.
    pub requests: Vec<(String, String)>,
    /// Stored messages, as [`Store::offline_list`] lists them.
    pub messages: Vec<OfflineMessage>,
}

impl Store {
    /// Store a message for `user`; false (and nothing stored) when the user
    /// already has `max_per_user` messages waiting. NotFound without such
    /// an account. The message is on disk when this returns.
    pub async fn offline_push(
        &self,
        user: &str,
        stanza_xml: &str,
        stamp: &str,
        max_per_user: usize,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write(user).await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM offline_messages WHERE username = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max_per_user {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO offline_messages (username, stanza_xml, stamp) VALUES ($1, $2, $3)",
        )
        .bind(user)
        .bind(stanza_xml)
        .bind(stamp)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::missing_user(e, user))?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user's stored messages, oldest first.
    pub async fn offline_list(&self, user: &str) -> Result<Vec<OfflineMessage>, StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query(
            "SELECT id, stanza_xml, stamp FROM offline_messages \
                     WHERE username = $1 ORDER BY id",
        )
        .bind(user)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OfflineMessage {
                    id: r.try_get("id")?,
                    stanza_xml: r.try_get("stanza_xml")?,
                    stamp: r.try_get("stamp")?,
                })
            })
            .collect()
    }

    /// The subscription requests and messages waiting for `user`, in one
    /// statement: what a login's initial presence delivers, read in one
    /// round trip to the database thread instead of two.
    pub async fn waiting(&self, user: &str) -> Result<Waiting, StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query(
            "SELECT 0 AS kind, rowid AS id, contact, stanza_xml, NULL AS stamp \
                     FROM pending_in WHERE username = $1 \
                     UNION ALL \
                     SELECT 1, id, NULL, stanza_xml, stamp \
                     FROM offline_messages WHERE username = $2 \
                     ORDER BY kind, id",
        )
        .bind(user)
        .bind(user)
        .fetch_all(pool)
        .await?;
        let mut waiting = Waiting::default();
        for r in &rows {
            let stanza_xml: String = r.try_get("stanza_xml")?;
            if r.try_get::<i64, _>("kind")? == 0 {
                waiting.requests.push((r.try_get("contact")?, stanza_xml));
            } else {
                waiting.messages.push(OfflineMessage {
                    id: r.try_get("id")?,
                    stanza_xml,
                    stamp: r.try_get("stamp")?,
                });
            }
        }
        Ok(waiting)
    }

    /// Delete the user's messages up to and including `id` (once delivered);
    /// messages stored after the listing have higher ids and stay.
    pub async fn offline_delete_upto(&self, user: &str, id: i64) -> Result<(), StoreError> {
        let pool = &self.pool;
        sqlx::query("DELETE FROM offline_messages WHERE username = $1 AND id <= $2")
            .bind(user)
            .bind(id)
            .execute(pool)
            .await?;
        Ok(())
    }
}
