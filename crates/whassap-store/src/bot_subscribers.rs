//! Other servers' users subscribed to the status bot's presence
//! (`bot_subscribers`): who the notifications API may send to. A local
//! user's subscription to the bot is an item of their roster instead.

use crate::{now_rfc3339, Store, StoreError};

impl Store {
    /// `jid` (a bare JID of another server) subscribed to the bot.
    pub async fn bot_subscriber_add(&self, jid: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bot_subscribers (jid, created_at) VALUES ($1, $2) \
             ON CONFLICT (jid) DO NOTHING",
        )
        .bind(jid)
        .bind(now_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `jid` unsubscribed from the bot (or never was subscribed).
    pub async fn bot_subscriber_remove(&self, jid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM bot_subscribers WHERE jid = $1")
            .bind(jid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Is `jid` (another server's bare JID) subscribed to the bot?
    pub async fn is_bot_subscriber(&self, jid: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM bot_subscribers WHERE jid = $1")
            .bind(jid)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}
