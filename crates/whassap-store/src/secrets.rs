//! Random secrets shared by every node that uses the database, created on
//! first use: e.g. the key of SCRAM's fake salts for unknown users, which
//! must be the same on every node and across restarts.

use rand::RngCore;
use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// The secret called `name`, created with `len` random bytes the first
    /// time it is asked for. Once created it never changes, whatever `len`
    /// later callers give; concurrent first calls all get the same value.
    pub async fn secret(&self, name: &str, len: usize) -> Result<Vec<u8>, StoreError> {
        let mut fresh = vec![0u8; len];
        rand::thread_rng().fill_bytes(&mut fresh);
        let pool = &self.pool;
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&fresh)
        .execute(pool)
        .await?;
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}
