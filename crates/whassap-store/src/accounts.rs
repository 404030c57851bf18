//! Accounts and their SCRAM credentials (one row per user and hash).

use sqlx::Row;

use crate::{unsigned, Hash, Store, StoreError, StoredCredentials};

impl Store {
    /// Create an account with its credentials (normally one per hash).
    /// [`StoreError::Conflict`] if the username is taken.
    pub async fn create_user(
        &self,
        username: &str,
        creds: &[StoredCredentials],
    ) -> Result<(), StoreError> {
        {
            let mut tx = self.write(username).await?;
            let inserted = sqlx::query(
                "INSERT INTO users (username, roster_version, created_at) VALUES ($1, 0, $2) \
                     ON CONFLICT (username) DO NOTHING",
            )
            .bind(username)
            .bind(crate::now_rfc3339())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("user {username:?}")));
            }
            for c in creds {
                insert_credentials(&mut tx, username, c).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Delete an account and everything stored for it (credentials, roster,
    /// pending requests, offline messages, blocklist). False if there was no
    /// such account.
    pub async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Replace all of an account's credentials (a password change). False if
    /// there is no such account.
    pub async fn set_credentials(
        &self,
        username: &str,
        creds: &[StoredCredentials],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write(username).await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM credentials WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        for c in creds {
            insert_credentials(&mut tx, username, c).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whether the account exists.
    pub async fn user_exists(&self, username: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let row = sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
        Ok(row.is_some())
    }

    /// Every username, sorted.
    pub async fn list_users(&self) -> Result<Vec<String>, StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query("SELECT username FROM users ORDER BY username")
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect::<Result<_, StoreError>>()
    }

    /// The account's credentials for one hash; None if there is no such
    /// account or it has no credentials for that hash.
    pub async fn credentials(
        &self,
        username: &str,
        hash: Hash,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        let pool = &self.pool;
        let row = sqlx::query(
            "SELECT salt, iterations, stored_key, server_key FROM credentials \
                     WHERE username = $1 AND hash = $2",
        )
        .bind(username)
        .bind(hash.as_str())
        .fetch_optional(pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let creds = StoredCredentials {
            hash,
            salt: r.try_get("salt")?,
            iterations: unsigned(r.try_get("iterations")?, "iterations")?,
            stored_key: r.try_get("stored_key")?,
            server_key: r.try_get("server_key")?,
        };
        if creds.iterations == 0
            || creds.stored_key.len() != hash.output_len()
            || creds.server_key.len() != hash.output_len()
        {
            return Err(StoreError::Corrupt(format!(
                "{} credentials of {username:?}",
                hash.as_str()
            )));
        }
        Ok(Some(creds))
    }
}

/// Insert (or, for a hash given twice, replace) one credentials row.
async fn insert_credentials(
    conn: &mut sqlx::AnyConnection,
    username: &str,
    c: &StoredCredentials,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO credentials (username, hash, salt, iterations, stored_key, server_key) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (username, hash) DO UPDATE SET salt = excluded.salt, \
           iterations = excluded.iterations, stored_key = excluded.stored_key, \
           server_key = excluded.server_key",
    )
    .bind(username)
    .bind(c.hash.as_str())
    .bind(&c.salt)
    .bind(i64::from(c.iterations))
    .bind(&c.stored_key)
    .bind(&c.server_key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
