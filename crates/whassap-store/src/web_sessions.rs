//! Sessions of the web pages. The cookie holds a random id; only its
//! SHA-256 is stored (as personal access tokens are), with the session's
//! CSRF synchronizer token and its expiry. Expired sessions are never
//! returned, and are purged when new ones are made.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Store, StoreError};

/// A live web session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSessionRecord {
    /// Whose it is.
    pub username: String,
    /// The synchronizer token its forms carry.
    pub csrf_token: String,
    /// When it was made, Unix milliseconds.
    pub created_ms: i64,
    /// When it ends, Unix milliseconds.
    pub expires_ms: i64,
}

fn session(row: &AnyRow) -> Result<WebSessionRecord, StoreError> {
    Ok(WebSessionRecord {
        username: row.try_get("username")?,
        csrf_token: row.try_get("csrf_token")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
    })
}

impl Store {
    /// Record a new session by the SHA-256 of its id, and forget the
    /// sessions that have expired by `now_ms`. NotFound without the account.
    pub async fn web_session_create(
        &self,
        id_sha256: &[u8],
        username: &str,
        csrf_token: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let pool = &self.pool;
        sqlx::query("DELETE FROM web_sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, username, csrf_token, created_ms, \
                     expires_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(username)
        .bind(csrf_token)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(pool)
        .await
        .map_err(|e| StoreError::missing_user(e, username))?;
        Ok(())
    }

    /// The session whose id has this SHA-256, unless it has expired by
    /// `now_ms`.
    pub async fn web_session(
        &self,
        id_sha256: &[u8],
        now_ms: i64,
    ) -> Result<Option<WebSessionRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT username, csrf_token, created_ms, expires_ms FROM web_sessions \
                 WHERE id_sha256 = $1 AND expires_ms > $2",
        )
        .bind(id_sha256)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(session)
        .transpose()
    }

    /// End a session (logging out). False if there was none.
    pub async fn web_session_delete(&self, id_sha256: &[u8]) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM web_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// End every session of an account (after a password change); how many.
    pub async fn web_sessions_delete_user(&self, username: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM web_sessions WHERE username = $1")
            .bind(username)
            .execute(pool)
            .await?;
        Ok(r.rows_affected())
    }
}
