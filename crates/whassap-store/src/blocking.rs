//! XEP-0191 blocklists: the JIDs (or domains) an account blocks, stored as
//! the caller normalised them.

use sqlx::Row;

use crate::{sqlite_write, Backend, Store, StoreError};

impl Store {
    /// The JIDs `user` blocks, sorted (empty for an unknown user).
    pub async fn blocklist(&self, user: &str) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let rows = sqlx::query("SELECT jid FROM blocklist WHERE username = ? ORDER BY jid")
                    .bind(user)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            }
        }
    }

    /// Add JIDs to the blocklist (already blocked ones are kept once), all or
    /// none. NotFound without such an account.
    pub async fn block(&self, user: &str, jids: &[String]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = sqlite_write(pool).await?;
                for jid in jids {
                    sqlx::query(
                        "INSERT INTO blocklist (username, jid) VALUES (?, ?) \
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
        }
    }

    /// Remove JIDs from the blocklist; an empty list clears it (XEP-0191
    /// §3.4).
    pub async fn unblock(&self, user: &str, jids: &[String]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = sqlite_write(pool).await?;
                if jids.is_empty() {
                    sqlx::query("DELETE FROM blocklist WHERE username = ?")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                for jid in jids {
                    sqlx::query("DELETE FROM blocklist WHERE username = ? AND jid = ?")
                        .bind(user)
                        .bind(jid)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }
}
