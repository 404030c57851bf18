//! Named facts about the server kept in the database (`server_settings`),
//! such as the domain it serves, for the tools that open the same store.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// The setting called `name`, if it was ever set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let pool = &self.pool;
        let row = sqlx::query("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Set (or replace) the setting called `name`.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(pool)
        .await?;
        Ok(())
    }
}
