//! Personal access tokens of the REST API. Only the SHA-256 of a token is
//! stored: a leaked database does not leak usable tokens.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Store, StoreError};

/// A token as listed (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Token id (for listing and deletion).
    pub id: String,
    /// Whose it is.
    pub username: String,
    /// The name its owner gave it.
    pub name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When it was last used (to the minute), RFC 3339 UTC.
    pub last_used_at: Option<String>,
}

fn token(row: &AnyRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    /// Record a new token by its SHA-256. NotFound without the account.
    pub async fn token_create(
        &self,
        username: &str,
        name: &str,
        sha256: &[u8],
    ) -> Result<TokenRecord, StoreError> {
        let pool = &self.pool;
        let row = sqlx::query(
            "INSERT INTO api_tokens (id, username, name, token_sha256, created_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, username, name, created_at, last_used_at",
        )
        .bind(crate::random_id())
        .bind(username)
        .bind(name)
        .bind(sha256)
        .bind(crate::now_rfc3339())
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::missing_user(e, username))?;
        token(&row)
    }

    /// The token with this SHA-256, if any; its last use is recorded (at
    /// most once a minute, so that reads stay reads).
    pub async fn token_authenticate(
        &self,
        sha256: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        let pool = &self.pool;
        let Some(row) = sqlx::query(
            "SELECT id, username, name, created_at, last_used_at FROM api_tokens \
                     WHERE token_sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(pool)
        .await?
        else {
            return Ok(None);
        };
        let t = token(&row)?;
        // Only a use a minute after the last one recorded is written: most
        // requests stay reads, and take no write lock (SQLite has one).
        let a_minute_ago = crate::rfc3339_seconds_ago(60);
        if t.last_used_at.as_ref().is_none_or(|at| *at < a_minute_ago) {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(&t.id)
            .bind(crate::now_rfc3339())
            .bind(a_minute_ago)
            .execute(pool)
            .await?;
        }
        Ok(Some(t))
    }

    /// An account's tokens, oldest first.
    pub async fn tokens(&self, username: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT id, username, name, created_at, last_used_at FROM api_tokens \
                 WHERE username = $1 ORDER BY created_at, id",
        )
        .bind(username)
        .fetch_all(pool)
        .await?
        .iter()
        .map(token)
        .collect()
    }

    /// Revoke one of an account's tokens. False if it has no such token.
    pub async fn token_delete(&self, username: &str, id: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM api_tokens WHERE username = $1 AND id = $2")
            .bind(username)
            .bind(id)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
