//! [`post`] and [`delete`]: validate, write everything in one transaction,
//! then fan out.

use std::sync::Arc;

use whassap_proto::ns;
use whassap_store::{
    CreateOutcome, Idempotency, ItemRetraction, ItemWrite, NewStatusRows, OutboxEvent,
    StatusRecord, StoreError, StoredItem,
};

use super::{
    atom_entry, validate, Author, Source, Status, StatusError, StatusEvent, BOT_USERNAME,
    IDEMPOTENCY_TTL_MS,
};
use crate::core::router;
use crate::pubsub::config::NodeConfig;
use crate::pubsub::{items, read, service_jid, SharedNode, FIREHOSE_NODE};
use crate::stanza::{self, text_element};
use crate::Server;

/// A status to post.
#[derive(Clone, Debug)]
pub struct NewStatus<'a> {
    /// The author's username (an existing local account).
    pub author: &'a str,
    /// The text as given (validated and normalised here).
    pub text: &'a str,
    /// Where it comes from.
    pub source: Source,
    /// The microblog item id a client chose, if it chose one.
    pub client_item_id: Option<&'a str>,
    /// The REST `Idempotency-Key`, if given.
    pub idempotency_key: Option<&'a str>,
}

/// A posted status.
#[derive(Clone, Debug)]
pub struct Posted {
    /// The status.
    pub status: Status,
    /// It was posted earlier with the same idempotency key: nothing new
    /// was stored or sent.
    pub replayed: bool,
}

/// Post a status: validate, store durably with its PubSub items and webhook
/// outbox rows, then fan out. Returns once the status is committed.
pub async fn post(
    server: &Arc<Server>,
    author: &str,
    text: &str,
    source: Source,
    client_item_id: Option<&str>,
) -> Result<Status, StatusError> {
    post_with(
        server,
        NewStatus {
            author,
            text,
            source,
            client_item_id,
            idempotency_key: None,
        },
    )
    .await
    .map(|p| p.status)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn rfc3339_seconds(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// The author's microblog node, created with the PEP defaults if missing
/// (also when someone follows an author who has not posted yet).
pub async fn microblog_node(server: &Arc<Server>, bare: &str) -> Result<SharedNode, StoreError> {
    if let Some(node) = server.pubsub.node(server, bare, ns::MICROBLOG).await? {
        return Ok(node);
    }
    server
        .pubsub
        .create(
            server,
            bare,
            ns::MICROBLOG,
            NodeConfig::pep_default(ns::MICROBLOG),
            bare,
        )
        .await?;
    server
        .pubsub
        .node(server, bare, ns::MICROBLOG)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("microblog node of {bare}")))
}

async fn firehose_node(server: &Arc<Server>) -> Result<SharedNode, StoreError> {
    server
        .pubsub
        .node(server, &service_jid(server), FIREHOSE_NODE)
        .await?
        .ok_or_else(|| StoreError::NotFound("the firehose node".into()))
}

fn webhook_event(event: &str, status: &Status) -> OutboxEvent {
    OutboxEvent {
        event: event.to_string(),
        body: serde_json::json!({ "event": event, "status": status }).to_string(),
    }
}

/// What was built inside the store's transaction, for the fan-out.
struct Built {
    /// The status's place in the event order (slot order is commit order).
    slot: super::Reservation,
    status: Status,
    pep_item: StoredItem,
    firehose_item: StoredItem,
}

/// Post a status with every option: see [`NewStatus`].
pub async fn post_with(server: &Arc<Server>, new: NewStatus<'_>) -> Result<Posted, StatusError> {
    let text = validate(new.text)?;
    let config = &server.config;
    let bare = format!("{}@{}", new.author, config.domain);
    let pep_node = microblog_node(server, &bare).await?;
    let firehose = firehose_node(server).await?;
    let pubsub = service_jid(server);
    let pep_keep = read(&pep_node, |n| {
        n.config.persist_items.then(|| n.config.max_items.limit())
    });
    let firehose_keep = read(&firehose, |n| {
        n.config.persist_items.then(|| n.config.max_items.limit())
    });
    // Run by the store's writer with the statuses' write lock held, given
    // the greatest id committed so far and the author's display name (read
    // with the group): the id is taken there (ids sort in commit order, on
    // every node), and everything else follows from it.
    let build = {
        let server = Arc::clone(server);
        let author = new.author.to_string();
        let client_item_id = new.client_item_id.map(str::to_string);
        let source = new.source;
        let (bare, pubsub) = (bare.clone(), pubsub.clone());
        move |last_id: &str, display_name: Option<&str>| {
            let config = &server.config;
            let slot = server.statuses.events.reserve();
            let (id, ms) = server.statuses.ids.next_after(last_id);
            let created_at = rfc3339_seconds(ms);
            let status = Status {
                url: super::status_url(config, &author, &id),
                author: Author {
                    username: author.clone(),
                    jid: bare.clone(),
                    display_name: display_name.unwrap_or(&author).to_string(),
                },
                item_id: client_item_id.unwrap_or_else(|| id.clone()),
                id,
                text,
                source,
                created_at,
            };
            let entry = atom_entry(&status, &config.domain);
            let pep_item = StoredItem {
                seq: 0,
                id: status.item_id.clone(),
                publisher: bare.clone(),
                payload: String::from_utf8_lossy(&whassap_xml::to_bytes(&entry)).into_owned(),
                published_at: stanza::now_stamp(),
            };
            let firehose_item = StoredItem {
                id: status.id.clone(),
                ..pep_item.clone()
            };
            let mut items = Vec::with_capacity(2);
            for (service, name, keep, item) in [
                (&bare, ns::MICROBLOG, pep_keep, &pep_item),
                (&pubsub, FIREHOSE_NODE, firehose_keep, &firehose_item),
            ] {
                if let Some(max_items) = keep {
                    items.push(ItemWrite {
                        service: service.clone(),
                        node: name.to_string(),
                        item: item.clone(),
                        max_items,
                    });
                }
            }
            let rows = NewStatusRows {
                status: StatusRecord {
                    id: status.id.clone(),
                    author: author.clone(),
                    display_name: None,
                    text: status.text.clone(),
                    source: status.source.as_str().to_string(),
                    created_at: status.created_at.clone(),
                    item_id: status.item_id.clone(),
                    deleted: false,
                },
                items,
                outbox: webhook_event("status.created", &status),
            };
            let built = Built {
                slot,
                status,
                pep_item,
                firehose_item,
            };
            (rows, built)
        }
    };
    let now = now_ms();
    let idempotency = new.idempotency_key.map(|key| Idempotency {
        key,
        now_ms: now,
        ttl_ms: IDEMPOTENCY_TTL_MS,
    });
    let outcome = server
        .store
        .status_create(new.author, idempotency.as_ref(), now, build)
        .await;
    let built = match outcome {
        Ok(CreateOutcome::Created(built)) => built,
        Ok(CreateOutcome::Replayed(earlier)) => {
            if earlier.deleted {
                return Err(StatusError::Conflict(
                    "This Idempotency-Key was used for a status that has since been deleted."
                        .into(),
                ));
            }
            if earlier.text != validate(new.text)? {
                return Err(StatusError::Conflict(
                    "This Idempotency-Key was used within the last hour for a different text."
                        .into(),
                ));
            }
            return Ok(Posted {
                status: Status::from_record(config, earlier)?,
                replayed: true,
            });
        }
        Err(StoreError::Conflict(_)) => {
            return Err(StatusError::Conflict(format!(
                "Item {:?} already holds one of your statuses.",
                new.client_item_id.unwrap_or_default()
            )))
        }
        Err(StoreError::NotFound(_)) => return Err(StatusError::NotFound),
        Err(e) => return Err(e.into()),
    };
    crate::metrics::Metrics::inc(&server.metrics.statuses_posted);
    // Committed: now tell everyone, the SSE streams first (they are the
    // quickest, and wait for no one). In a cluster every node's firehose
    // reads it from the store, in id order across nodes.
    if server.cluster.tails_statuses() {
        drop(built.slot);
        server.cluster.status_committed();
    } else {
        built
            .slot
            .publish(StatusEvent::Created(Arc::new(built.status.clone())));
    }
    let notified =
        items::notify_published(server, &bare, ns::MICROBLOG, &pep_node, &built.pep_item).await
            + items::notify_published(
                server,
                &pubsub,
                FIREHOSE_NODE,
                &firehose,
                &built.firehose_item,
            )
            .await;
    crate::metrics::Metrics::add(&server.metrics.status_xmpp_notifications, notified as u64);
    let status = built.status;
    server.statuses.outbox.notify_one();
    send_thanks(server, &status).await;
    Ok(Posted {
        status,
        replayed: false,
    })
}

/// Delete a status (only its author may): mark it deleted, retract its
/// items and write the webhook outbox rows in one transaction, then send
/// the retractions and the event. Returns the status as it was.
pub async fn delete(
    server: &Arc<Server>,
    requester: &str,
    id: &str,
) -> Result<Status, StatusError> {
    let record = server
        .store
        .status(id)
        .await?
        .ok_or(StatusError::NotFound)?;
    if record.author != requester {
        return Err(StatusError::Forbidden);
    }
    let status = Status::from_record(&server.config, record)?;
    let bare = status.author.jid.clone();
    let pubsub = service_jid(server);
    let retract = [
        ItemRetraction {
            service: bare.clone(),
            node: ns::MICROBLOG.to_string(),
            item_id: status.item_id.clone(),
        },
        ItemRetraction {
            service: pubsub.clone(),
            node: FIREHOSE_NODE.to_string(),
            item_id: status.id.clone(),
        },
    ];
    // Deletions queue behind every post already writing: a listener never
    // sees a deletion before the status it deletes.
    let slot = server.statuses.events.reserve();
    if !server
        .store
        .status_delete(
            &status.id,
            &retract,
            &webhook_event("status.deleted", &status),
            now_ms(),
        )
        .await?
    {
        return Err(StatusError::NotFound);
    }
    crate::metrics::Metrics::inc(&server.metrics.statuses_deleted);
    slot.publish(StatusEvent::Deleted(Arc::new(status.clone())));
    server.cluster.status_deleted(&status);
    if let Some(node) = server.pubsub.node(server, &bare, ns::MICROBLOG).await? {
        items::notify_retracted(server, &bare, ns::MICROBLOG, &node, &status.item_id).await;
    }
    if let Ok(node) = firehose_node(server).await {
        items::notify_retracted(server, &pubsub, FIREHOSE_NODE, &node, &status.id).await;
    }
    server.statuses.outbox.notify_one();
    Ok(status)
}

/// The bot thanks the author for a new status: a chat message from
/// `whassap@<domain>` that begins `Thanks for setting your status` and
/// quotes it, marked `<no-store/>` (XEP-0334): the sessions online now
/// get it, offline storage keeps it not.
pub async fn send_thanks(server: &Arc<Server>, status: &Status) {
    // Nobody online to thank: nothing to route (and no account lookup).
    if crate::core::deliver::available(server, &status.author.jid).is_empty() {
        return;
    }
    let bot = format!("{BOT_USERNAME}@{}", server.config.domain);
    let mut message = stanza::element(
        "message",
        ns::JABBER_CLIENT,
        &[
            ("type", "chat"),
            ("from", &bot),
            ("to", &status.author.jid),
            ("id", &stanza::random_id()),
        ],
    );
    message.append_child(text_element(
        "body",
        ns::JABBER_CLIENT,
        &format!("Thanks for setting your status: “{}”", status.text),
    ));
    // A courtesy for the sessions online now: kept offline, a burst of
    // posts made elsewhere would fill the author's offline storage and
    // push out messages from people.
    message.append_child(stanza::element("no-store", ns::HINTS, &[]));
    router::route(server.clone(), message).await;
}
