//! Rosters (RFC 6121 §2) with a per-user version, and pending inbound
//! subscription requests (RFC 6121 §3.1.3) kept with their full stanza.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{unsigned, Store, StoreError};

/// Subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// Neither way.
    None,
    /// The user receives the contact's presence.
    To,
    /// The contact receives the user's presence.
    From,
    /// Both ways.
    Both,
}

/// A subscription value that is none of `none`, `to`, `from`, `both`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown subscription state {0:?}")]
pub struct UnknownSubscription(pub String);

impl Subscription {
    /// The value of the `subscription` attribute.
    pub fn as_str(&self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Parse an attribute value; None for anything else (including
    /// `remove`, which is a request, not a state).
    pub fn parse(s: &str) -> Option<Subscription> {
        match s {
            "none" => Some(Subscription::None),
            "to" => Some(Subscription::To),
            "from" => Some(Subscription::From),
            "both" => Some(Subscription::Both),
            _ => None,
        }
    }
}

impl std::str::FromStr for Subscription {
    type Err = UnknownSubscription;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Subscription::parse(s).ok_or_else(|| UnknownSubscription(s.to_string()))
    }
}

/// One contact in a user's roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's bare JID.
    pub contact: String,
    /// Display name chosen by the user.
    pub name: Option<String>,
    /// Subscription state.
    pub subscription: Subscription,
    /// The user asked to subscribe and awaits an answer (`ask='subscribe'`).
    pub ask_out: bool,
    /// The user pre-approved the contact's subscription (RFC 6121 §3.4).
    pub approved: bool,
    /// Groups, in the order given.
    pub groups: Vec<String>,
}

/// An item from a row with the columns contact, name, subscription, ask_out
/// and approved, without its groups.
fn item_from_row(r: &AnyRow) -> Result<RosterItem, StoreError> {
    let sub: String = r.try_get("subscription")?;
    Ok(RosterItem {
        contact: r.try_get("contact")?,
        name: r.try_get("name")?,
        subscription: sub
            .parse()
            .map_err(|e: UnknownSubscription| StoreError::Corrupt(e.to_string()))?,
        ask_out: r.try_get::<i64, _>("ask_out")? != 0,
        approved: r.try_get::<i64, _>("approved")? != 0,
        groups: Vec::new(),
    })
}

/// Increment the user's roster version inside `tx`; NotFound without account.
async fn bump_version(conn: &mut sqlx::AnyConnection, user: &str) -> Result<u64, StoreError> {
    let row = sqlx::query(
        "UPDATE users SET roster_version = roster_version + 1 WHERE username = $1 \
         RETURNING roster_version",
    )
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("user {user:?}")))?;
    unsigned(row.try_get(0)?, "roster_version")
}

impl Store {
    /// The user's roster version and items (sorted by contact). An unknown
    /// user has version 0 and no items.
    ///
    /// One statement (the account joined to its items and their groups), so
    /// the version and the items come from one snapshot at the cost of one
    /// round trip to the database thread: this runs at every login and every
    /// PEP publish.
    pub async fn roster(&self, user: &str) -> Result<(u64, Vec<RosterItem>), StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query(
            "SELECT u.roster_version, i.contact, i.name, i.subscription, i.ask_out, \
                     i.approved, g.name AS grp \
                     FROM users u \
                     LEFT JOIN roster_items i ON i.username = u.username \
                     LEFT JOIN roster_groups g \
                       ON g.username = i.username AND g.contact = i.contact \
                     WHERE u.username = $1 \
                     ORDER BY i.contact, g.position",
        )
        .bind(user)
        .fetch_all(pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok((0, Vec::new()));
        };
        let version = unsigned(first.try_get(0)?, "roster_version")?;
        let mut items: Vec<RosterItem> = Vec::new();
        for r in &rows {
            // An account without items is one row of NULL items.
            let Some(contact) = r.try_get::<Option<String>, _>("contact")? else {
                continue;
            };
            if items.last().is_none_or(|i| i.contact != contact) {
                items.push(item_from_row(r)?);
            }
            if let Some(group) = r.try_get::<Option<String>, _>("grp")? {
                if let Some(item) = items.last_mut() {
                    item.groups.push(group);
                }
            }
        }
        Ok((version, items))
    }

    /// The user's roster version (0 for an unknown user).
    pub async fn roster_version(&self, user: &str) -> Result<u64, StoreError> {
        let pool = &self.pool;
        let row = sqlx::query("SELECT roster_version FROM users WHERE username = $1")
            .bind(user)
            .fetch_optional(pool)
            .await?;
        match row {
            Some(r) => unsigned(r.try_get(0)?, "roster_version"),
            None => Ok(0),
        }
    }

    /// One item of the user's roster.
    pub async fn roster_item(
        &self,
        user: &str,
        contact: &str,
    ) -> Result<Option<RosterItem>, StoreError> {
        let pool = &self.pool;
        let mut tx = pool.begin().await?;
        let row = sqlx::query(
            "SELECT contact, name, subscription, ask_out, approved FROM roster_items \
                     WHERE username = $1 AND contact = $2",
        )
        .bind(user)
        .bind(contact)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut item = item_from_row(&row)?;
        let groups = sqlx::query(
            "SELECT name FROM roster_groups WHERE username = $1 AND contact = $2 \
                     ORDER BY position",
        )
        .bind(user)
        .bind(contact)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        item.groups = groups
            .iter()
            .map(|g| g.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(Some(item))
    }

    /// Insert or replace an item (matched on its contact) with its groups;
    /// returns the new roster version, which every call increments.
    /// NotFound without such an account.
    pub async fn roster_put(&self, user: &str, item: &RosterItem) -> Result<u64, StoreError> {
        let mut tx = self.write(user).await?;
        let version = bump_version(&mut tx, user).await?;
        sqlx::query(
            "INSERT INTO roster_items \
                       (username, contact, name, subscription, ask_out, approved) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (username, contact) DO UPDATE SET name = excluded.name, \
                       subscription = excluded.subscription, ask_out = excluded.ask_out, \
                       approved = excluded.approved",
        )
        .bind(user)
        .bind(&item.contact)
        .bind(&item.name)
        .bind(item.subscription.as_str())
        .bind(i64::from(item.ask_out))
        .bind(i64::from(item.approved))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM roster_groups WHERE username = $1 AND contact = $2")
            .bind(user)
            .bind(&item.contact)
            .execute(&mut *tx)
            .await?;
        for (position, group) in item.groups.iter().enumerate() {
            sqlx::query(
                "INSERT INTO roster_groups (username, contact, position, name) \
                         VALUES ($1, $2, $3, $4)",
            )
            .bind(user)
            .bind(&item.contact)
            .bind(position as i64)
            .bind(group)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    /// Remove an item; returns the new roster version, or None (and no
    /// version change) if the contact was not in the roster.
    pub async fn roster_remove(
        &self,
        user: &str,
        contact: &str,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.write(user).await?;
        let r = sqlx::query("DELETE FROM roster_items WHERE username = $1 AND contact = $2")
            .bind(user)
            .bind(contact)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        let version = bump_version(&mut tx, user).await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    /// Keep an inbound subscription request from `contact` (the whole
    /// stanza, for redelivery); a newer request replaces an older one.
    /// NotFound without such an account.
    pub async fn pending_in_put(
        &self,
        user: &str,
        contact: &str,
        stanza_xml: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write(user).await?;
        sqlx::query(
                    "INSERT INTO pending_in (username, contact, stanza_xml, created_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (username, contact) DO UPDATE SET stanza_xml = excluded.stanza_xml",
                )
                .bind(user)
                .bind(contact)
                .bind(stanza_xml)
                .bind(crate::now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::missing_user(e, user))?;
        // A waiting request is roster state too (as in Prosody, whose
        // roster versions the conformance transcripts pin).
        sqlx::query("UPDATE users SET roster_version = roster_version + 1 WHERE username = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forget the pending request from `contact`; true if there was one.
    pub async fn pending_in_remove(&self, user: &str, contact: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM pending_in WHERE username = $1 AND contact = $2")
            .bind(user)
            .bind(contact)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Every pending request of `user` as (contact, stanza), oldest first.
    pub async fn pending_in(&self, user: &str) -> Result<Vec<(String, String)>, StoreError> {
        let pool = &self.pool;
        let rows = sqlx::query(
            "SELECT contact, stanza_xml FROM pending_in WHERE username = $1 ORDER BY rowid",
        )
        .bind(user)
        .fetch_all(pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The pending request from `contact`, if any.
    pub async fn pending_in_get(
        &self,
        user: &str,
        contact: &str,
    ) -> Result<Option<String>, StoreError> {
        let pool = &self.pool;
        let row =
            sqlx::query("SELECT stanza_xml FROM pending_in WHERE username = $1 AND contact = $2")
                .bind(user)
                .bind(contact)
                .fetch_optional(pool)
                .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
