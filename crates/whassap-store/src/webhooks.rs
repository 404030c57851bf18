//! Webhooks and their delivery outbox. Outbox rows are written by
//! [`Store::status_create`]/[`Store::status_delete`] in the status's own
//! transaction; the webhook worker claims the due ones and records each
//! attempt here (the delivery's outcome and a row per attempt), so
//! deliveries survive a restart.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{unsigned, Store, StoreError};

/// A registered webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Webhook id.
    pub id: String,
    /// The account that registered it.
    pub owner: String,
    /// Where events are POSTed.
    pub url: String,
    /// Only statuses of these usernames (`None`: everyone's).
    pub users: Option<Vec<String>>,
    /// Only statuses containing this, case-insensitively (`None`: all).
    pub q: Option<String>,
    /// The HMAC-SHA256 key of the signatures.
    pub secret: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// State of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet; retried at `next_attempt_ms`.
    Pending,
    /// Answered with a 2xx.
    Delivered,
    /// Given up on.
    Failed,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            other => return Err(StoreError::Corrupt(format!("delivery state {other:?}"))),
        })
    }
}

/// One delivery of one event to one webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Delivery id (the `X-Whassap-Delivery` header).
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's secret.
    pub secret: String,
    /// `status.created` or `status.deleted`.
    pub event: String,
    /// The exact JSON body.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, Unix milliseconds.
    pub next_attempt_ms: i64,
    /// HTTP status of the last attempt, if it got one.
    pub last_status: Option<u16>,
    /// What went wrong last time.
    pub last_error: Option<String>,
    /// Where it stands.
    pub state: DeliveryState,
    /// When the event happened, RFC 3339 UTC.
    pub created_at: String,
}

/// One recorded attempt at a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, Unix milliseconds.
    pub at_ms: i64,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
    /// The HTTP status answered, if any.
    pub status: Option<u16>,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// The result of one attempt, as recorded.
#[derive(Clone, Debug)]
pub struct DeliveryAttempt<'a> {
    /// The new state.
    pub state: DeliveryState,
    /// When to try again (pending only), Unix milliseconds.
    pub next_attempt_ms: i64,
    /// The HTTP status, if any.
    pub status: Option<u16>,
    /// The error, if any.
    pub error: Option<&'a str>,
    /// When the attempt started, Unix milliseconds.
    pub at_ms: i64,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

fn webhook(row: &AnyRow) -> Result<WebhookRecord, StoreError> {
    let users: Option<String> = row.try_get("users")?;
    Ok(WebhookRecord {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        url: row.try_get("url")?,
        users: users.map(|u| u.split(',').map(str::to_owned).collect()),
        q: row.try_get("q")?,
        secret: row.try_get("secret")?,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery(row: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    let last_status: Option<i64> = row.try_get("last_status")?;
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        webhook_id: row.try_get("webhook_id")?,
        url: row.try_get("url")?,
        secret: row.try_get("secret")?,
        event: row.try_get("event")?,
        body: row.try_get("body")?,
        attempts: unsigned(row.try_get("attempts")?, "attempts")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        last_status: last_status
            .map(|s| unsigned(s, "last_status"))
            .transpose()?,
        last_error: row.try_get("last_error")?,
        state: DeliveryState::parse(row.try_get("state")?)?,
        created_at: row.try_get("created_at")?,
    })
}

fn attempt(row: &AnyRow) -> Result<AttemptRecord, StoreError> {
    let status: Option<i64> = row.try_get("status")?;
    Ok(AttemptRecord {
        delivery_id: row.try_get("delivery_id")?,
        attempt: unsigned(row.try_get("attempt")?, "attempt")?,
        at_ms: row.try_get("at_ms")?,
        duration_ms: unsigned(row.try_get("duration_ms")?, "duration_ms")?,
        status: status.map(|s| unsigned(s, "status")).transpose()?,
        error: row.try_get("error")?,
    })
}

macro_rules! select_deliveries {
    ($rest:literal) => {
        concat!(
            "SELECT d.id, d.webhook_id, w.url, w.secret, d.event, d.body, d.attempts, \
             d.next_attempt_ms, d.last_status, d.last_error, d.state, d.created_at \
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id ",
            $rest
        )
    };
}

impl Store {
    /// Register a webhook (usernames must not contain commas).
    pub async fn webhook_create(
        &self,
        owner: &str,
        url: &str,
        users: Option<&[String]>,
        q: Option<&str>,
        secret: &str,
    ) -> Result<WebhookRecord, StoreError> {
        let users = users.map(|u| u.join(","));
        let pool = &self.pool;
        let row = sqlx::query(
            "INSERT INTO webhooks (id, owner, url, users, q, secret, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING id, owner, url, users, q, secret, created_at",
        )
        .bind(crate::random_id())
        .bind(owner)
        .bind(url)
        .bind(users)
        .bind(q)
        .bind(secret)
        .bind(crate::now_rfc3339())
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::missing_user(e, owner))?;
        webhook(&row)
    }

    /// An account's webhooks, oldest first.
    pub async fn webhooks(&self, owner: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT id, owner, url, users, q, secret, created_at FROM webhooks \
                 WHERE owner = $1 ORDER BY created_at, id",
        )
        .bind(owner)
        .fetch_all(pool)
        .await?
        .iter()
        .map(webhook)
        .collect()
    }

    /// Delete one of an account's webhooks with its pending deliveries.
    /// False if it has no such webhook.
    pub async fn webhook_delete(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let pool = &self.pool;
        let r = sqlx::query("DELETE FROM webhooks WHERE owner = $1 AND id = $2")
            .bind(owner)
            .bind(id)
            .execute(pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Pending deliveries due at `now_ms`, oldest due first, at most `limit`.
    pub async fn deliveries_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(select_deliveries!(
            "WHERE d.state = 'pending' AND d.next_attempt_ms <= $1 \
                 ORDER BY d.next_attempt_ms, d.id LIMIT $2"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<i64>, StoreError> {
        let pool = &self.pool;
        Ok(sqlx::query(
            "SELECT MIN(next_attempt_ms) FROM webhook_deliveries WHERE state = 'pending'",
        )
        .fetch_one(pool)
        .await?
        .try_get(0)?)
    }

    /// The deliveries of one webhook, oldest first.
    pub async fn webhook_deliveries(
        &self,
        webhook_id: &str,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(select_deliveries!(
            "WHERE d.webhook_id = $1 ORDER BY d.created_at, d.rowid"
        ))
        .bind(webhook_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    /// Claim up to `limit` pending deliveries due at `now_ms`, oldest due
    /// first: each is leased until `lease_until_ms` (not due again before
    /// then, so an attempt in flight is not started twice; should the
    /// process die during the attempt, the delivery is due again once the
    /// lease runs out). Record the attempt with [`Store::delivery_attempted`].
    pub async fn deliveries_claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut tx = self.write("webhook_deliveries").await?;
        let due = sqlx::query(select_deliveries!(
            "WHERE d.state = 'pending' AND d.next_attempt_ms <= $1 \
                     ORDER BY d.next_attempt_ms, d.id LIMIT $2"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(delivery)
        .collect::<Result<Vec<_>, _>>()?;
        for d in &due {
            sqlx::query("UPDATE webhook_deliveries SET next_attempt_ms = $1 WHERE id = $2")
                .bind(lease_until_ms)
                .bind(&d.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Record an attempt at a delivery: one more attempt, its outcome on
    /// the delivery and a row in its attempt log. False if the delivery is
    /// gone (its webhook was deleted meanwhile).
    pub async fn delivery_attempted(
        &self,
        id: &str,
        attempt: &DeliveryAttempt<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write(id).await?;
        let row = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, state = $1, \
                     next_attempt_ms = $2, last_status = $3, last_error = $4 WHERE id = $5 \
                     RETURNING attempts",
        )
        .bind(attempt.state.as_str())
        .bind(attempt.next_attempt_ms)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let n: i64 = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO webhook_delivery_attempts \
                     (delivery_id, attempt, at_ms, duration_ms, status, error) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(n)
        .bind(attempt.at_ms)
        .bind(i64::from(attempt.duration_ms))
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The latest `limit` deliveries of one webhook, newest first.
    pub async fn webhook_deliveries_recent(
        &self,
        webhook_id: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(select_deliveries!(
            "WHERE d.webhook_id = $1 ORDER BY d.created_at DESC, d.rowid DESC LIMIT $2"
        ))
        .bind(webhook_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(delivery)
        .collect()
    }

    /// The attempts at a delivery, first first.
    pub async fn delivery_attempts(
        &self,
        delivery_id: &str,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT delivery_id, attempt, at_ms, duration_ms, status, error \
                 FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(delivery_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(attempt)
        .collect()
    }

    /// One webhook of an account.
    pub async fn webhook(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let pool = &self.pool;
        sqlx::query(
            "SELECT id, owner, url, users, q, secret, created_at FROM webhooks \
                 WHERE owner = $1 AND id = $2",
        )
        .bind(owner)
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
    }
}
