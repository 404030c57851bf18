//! XEP-0191 blocklists: the JIDs (or domains) an account blocks, stored as
//! the caller normalised them.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// The JIDs `user` blocks, sorted (empty for an unknown user).
    pub async fn blocklist(&self, user: &str) -> Result<Vec<String>, StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query("SELECT jid FROM blocklist WHERE username = $1 ORDER BY jid")
            .bind(user)
            .fetch_all(pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Add JIDs to the blocklist (already blocked ones are kept once), all or
    /// none. NotFound without such an account.
    pub async fn block(&self, user: &str, jids: &[String]) -> Result<(), StoreError> {
        let mut tx = self.write(user).await?;
        for jid in jids {
            sqlx::query(
                "INSERT INTO blocklist (username, jid) VALUES ($1, $2) \
                         ON CONFLICT (username, jid) DO NOTHING",
            )
            .bind(user)
            .bind(jid)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::missing_user(e, user))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remove JIDs from the blocklist; an empty list clears it (XEP-0191
    /// §3.4).
    pub async fn unblock(&self, user: &str, jids: &[String]) -> Result<(), StoreError> {
        let mut tx = self.write(user).await?;
        if jids.is_empty() {
            sqlx::query("DELETE FROM blocklist WHERE username = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
        }
        for jid in jids {
            sqlx::query("DELETE FROM blocklist WHERE username = $1 AND jid = $2")
                .bind(user)
                .bind(jid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
