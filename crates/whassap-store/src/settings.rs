//! Named facts about the server kept in the database (`server_settings`),
//! such as the domain it serves, for the tools that open the same store.

use sqlx::Row;

use crate::{Backend, Store, StoreError};

impl Store {
    /// The setting called `name`, if it was ever set.
    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let row = sqlx::query("SELECT value FROM server_settings WHERE name = ?")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }
        }
    }

    /// Set (or replace) the setting called `name`.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO server_settings (name, value) VALUES (?, ?) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(name)
                .bind(value)
                .execute(pool)
                .await?;
                Ok(())
            }
        }
    }
}
