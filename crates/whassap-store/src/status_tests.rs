//! Unit tests of statuses, tokens and webhooks on an in-memory database.

use super::*;
use crate::test_db::{on_both, Db};

async fn store_with(db: Db<'_>, users: &[&str]) -> Store {
    let s = db.open().await;
    for u in users {
        s.create_user(u, &[]).await.unwrap();
    }
    s.pubsub_create_node(
        "alice@localhost",
        "urn:xmpp:microblog:0",
        Some("alice"),
        "{}",
        "alice@localhost",
    )
    .await
    .unwrap();
    s
}

fn rows(id: &str, author: &str, text: &str, item_id: &str) -> NewStatusRows {
    NewStatusRows {
        status: StatusRecord {
            id: id.into(),
            author: author.into(),
            display_name: None,
            text: text.into(),
            source: "api".into(),
            created_at: "2026-11-24T19:00:00Z".into(),
            item_id: item_id.into(),
            deleted: false,
        },
        items: vec![ItemWrite {
            service: format!("{author}@localhost"),
            node: "urn:xmpp:microblog:0".into(),
            item: StoredItem {
                seq: 0,
                id: item_id.into(),
                publisher: format!("{author}@localhost"),
                payload: "<entry xmlns='http://www.w3.org/2005/Atom'/>".into(),
                published_at: "2026-11-24T19:00:00.000Z".into(),
            },
            max_items: None,
        }],
        outbox: OutboxEvent {
            event: "status.created".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
        },
    }
}

async fn create(
    s: &Store,
    id: &str,
    author: &str,
    text: &str,
    key: Option<(&str, i64)>,
) -> Result<CreateOutcome<()>, StoreError> {
    let k = key.map(|(key, now_ms)| Idempotency {
        key,
        now_ms,
        ttl_ms: 3_600_000,
    });
    let (id, author, text) = (id.to_string(), author.to_string(), text.to_string());
    s.status_create(&author.clone(), k.as_ref(), 0, move |_, _| {
        (rows(&id, &author, &text, &id), ())
    })
    .await
}

fn ids(v: &[StatusRecord]) -> Vec<&str> {
    v.iter().map(|s| s.id.as_str()).collect()
}

async fn timelines_page_search_and_count(db: Db<'_>) {
    let s = store_with(db, &["alice", "bob"]).await;
    s.pubsub_create_node(
        "bob@localhost",
        "urn:xmpp:microblog:0",
        Some("bob"),
        "{}",
        "bob@localhost",
    )
    .await
    .unwrap();
    for (id, who, text) in [
        ("01A", "alice", "Hello"),
        ("01B", "bob", "at the PUB"),
        ("01C", "alice", "pub again"),
        ("01D", "alice", "Été"),
    ] {
        create(&s, id, who, text, None).await.unwrap();
    }
    let q = |author, q, before, after, limit| TimelineQuery {
        author,
        q,
        before,
        after,
        limit,
    };
    assert_eq!(
        ids(&s.timeline(&q(None, None, None, None, 10)).await.unwrap()),
        ["01D", "01C", "01B", "01A"]
    );
    assert_eq!(
        ids(&s
            .timeline(&q(None, None, Some("01C"), None, 1))
            .await
            .unwrap()),
        ["01B"]
    );
    assert_eq!(
        ids(&s
            .timeline(&q(None, None, None, Some("01A"), 2))
            .await
            .unwrap()),
        ["01C", "01B"]
    );
    assert_eq!(
        ids(&s
            .timeline(&q(None, Some("pub"), None, None, 10))
            .await
            .unwrap()),
        ["01C", "01B"]
    );
    assert_eq!(
        ids(&s
            .timeline(&q(None, Some("éTÉ"), None, None, 10))
            .await
            .unwrap()),
        ["01D"]
    );
    assert_eq!(
        ids(&s
            .timeline(&q(Some("alice"), None, None, None, 10))
            .await
            .unwrap()),
        ["01D", "01C", "01A"]
    );
    assert_eq!(s.statuses_count("alice").await.unwrap(), 3);
    assert_eq!(
        s.status_by_item("alice", "01C")
            .await
            .unwrap()
            .unwrap()
            .text,
        "pub again"
    );

    // Deletion: gone from timelines and counts, its item removed, once.
    let retract = [ItemRetraction {
        service: "alice@localhost".into(),
        node: "urn:xmpp:microblog:0".into(),
        item_id: "01C".into(),
    }];
    let ev = OutboxEvent {
        event: "status.deleted".into(),
        body: "{}".into(),
    };
    assert!(s.status_delete("01C", &retract, &ev, 0).await.unwrap());
    assert!(!s.status_delete("01C", &retract, &ev, 0).await.unwrap());
    assert!(s.status("01C").await.unwrap().is_none());
    assert_eq!(s.statuses_count("alice").await.unwrap(), 2);
    assert_eq!(
        s.pubsub_item_count("alice@localhost", "urn:xmpp:microblog:0")
            .await
            .unwrap(),
        2
    );
    // Without the author nothing is written.
    assert!(matches!(
        create(&s, "01Z", "nobody", "x", None).await,
        Err(StoreError::NotFound(_))
    ));
    // A live status's item id is not reused.
    assert!(matches!(
        s.status_create("alice", None, 0, |_, _| (
            rows("01E", "alice", "x", "01D"),
            ()
        ))
        .await,
        Err(StoreError::Conflict(_))
    ));
    // The builder is given the author's display name, read with the group.
    let named = |id: &'static str| {
        s.status_create("alice", None, 0, move |_, name: Option<&str>| {
            (rows(id, "alice", "named", id), name.map(str::to_string))
        })
    };
    assert!(matches!(
        named("01F").await,
        Ok(CreateOutcome::Created(None))
    ));
    s.set_display_name("alice", Some("Alice A.")).await.unwrap();
    assert!(matches!(
        named("01G").await,
        Ok(CreateOutcome::Created(Some(n))) if n == "Alice A."
    ));
}

async fn idempotency_keys_hold_for_their_lifetime_per_author(db: Db<'_>) {
    let s = store_with(db, &["alice", "bob"]).await;
    s.pubsub_create_node(
        "bob@localhost",
        "urn:xmpp:microblog:0",
        Some("bob"),
        "{}",
        "bob@localhost",
    )
    .await
    .unwrap();
    assert_eq!(
        create(&s, "01A", "alice", "one", Some(("k", 0)))
            .await
            .unwrap(),
        CreateOutcome::Created(())
    );
    match create(&s, "01B", "alice", "one", Some(("k", 3_599_999)))
        .await
        .unwrap()
    {
        CreateOutcome::Replayed(r) => assert_eq!(r.id, "01A"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        create(&s, "01C", "bob", "one", Some(("k", 1)))
            .await
            .unwrap(),
        CreateOutcome::Created(())
    );
    // After an hour the key is free again.
    assert_eq!(
        create(&s, "01D", "alice", "one", Some(("k", 3_600_001)))
            .await
            .unwrap(),
        CreateOutcome::Created(())
    );
    assert!(
        s.status("01B").await.unwrap().is_none(),
        "the replay wrote nothing"
    );
}

/// Concurrent posts are committed in fewer transactions than posts, each
/// caller gets its own outcome (one taken item id fails alone), ids are
/// handed out in commit order above the greatest committed, and every
/// committed status is there with its PubSub item.
async fn concurrent_posts_are_committed_together(db: Db<'_>) {
    let s = store_with(db, &["alice"]).await;
    // Already committed: every new id must sort above it.
    create(&s, "01A", "alice", "first", None).await.unwrap();
    let posts = 60;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..posts {
        let s = s.clone();
        tasks.spawn(async move {
            s.status_create("alice", None, 0, move |last: &str, _| {
                assert!(
                    last >= "01A",
                    "the floor is the greatest committed id: {last:?}"
                );
                // An id just above the floor, as the server's generator makes.
                let id = format!("{last}~");
                // Post 7 reuses the item id of the first status: taken.
                let item = if n == 7 {
                    "01A".to_string()
                } else {
                    id.clone()
                };
                (rows(&id, "alice", &format!("post {n}"), &item), (n, id))
            })
            .await
        });
    }
    // In the same groups: an author who does not exist (the group is then
    // written status by status, and only this one fails), and one
    // idempotency key used twice at once (the second replays the first).
    for author in ["ghost", "alice", "alice"] {
        let s = s.clone();
        tasks.spawn(async move {
            let key = Idempotency {
                key: "twice",
                now_ms: 1,
                ttl_ms: 3_600_000,
            };
            let key = (author == "alice").then_some(&key);
            s.status_create(author, key, 0, move |last: &str, _| {
                let id = format!("{last}~");
                (rows(&id, author, "keyed", &id), (1000, id))
            })
            .await
        });
    }
    let (mut created, mut replayed, mut missing) = (Vec::new(), Vec::new(), 0);
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(CreateOutcome::Created((n, id))) => created.push((n, id)),
            Ok(CreateOutcome::Replayed(earlier)) => replayed.push(earlier.id),
            Err(StoreError::Conflict(_)) => {}
            Err(StoreError::NotFound(_)) => missing += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(missing, 1, "the ghost's status");
    let keyed: Vec<_> = created.iter().filter(|(n, _)| *n == 1000).collect();
    assert_eq!(keyed.len(), 1, "one of the two keyed posts was created");
    assert_eq!(replayed, [keyed[0].1.clone()], "the other replays it");
    created.retain(|(n, _)| *n != 1000);
    assert_eq!(created.len(), posts - 1, "all but the taken item id");
    assert!(created.iter().all(|(n, _)| *n != 7));
    let (groups, statuses) = s.status_commits();
    assert_eq!(
        statuses,
        posts as u64 + 1,
        "1 + {} new + 1 keyed",
        posts - 1
    );
    assert!(
        groups < statuses / 2,
        "{statuses} statuses in {groups} commits: concurrent posts were grouped"
    );
    let timeline = s
        .timeline(&TimelineQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(timeline.len(), posts + 1);
    let mut ids: Vec<_> = created.iter().map(|(_, id)| id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), posts - 1, "every id distinct");
    let items = s
        .pubsub_items(
            "alice@localhost",
            "urn:xmpp:microblog:0",
            ItemsPage::Newest,
            100,
        )
        .await
        .unwrap();
    assert_eq!(items.len(), posts + 1, "each status's item, and no other");

    // One at a time: one commit per status.
    s.set_status_group_limit(1);
    let before = s.status_commits().0;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..10 {
        let s = s.clone();
        tasks.spawn(async move {
            s.status_create("alice", None, 0, move |last: &str, _| {
                let id = format!("{last}~");
                (rows(&id, "alice", &format!("alone {n}"), &id), ())
            })
            .await
            .unwrap()
        });
    }
    while tasks.join_next().await.is_some() {}
    assert_eq!(s.status_commits().0 - before, 10);
}

async fn tokens_and_webhook_deliveries(db: Db<'_>) {
    let s = store_with(db, &["alice"]).await;
    let t = s.token_create("alice", "cli", b"hash").await.unwrap();
    assert_eq!(
        s.token_authenticate(b"hash").await.unwrap().unwrap().id,
        t.id
    );
    assert!(s.token_authenticate(b"other").await.unwrap().is_none());
    assert!(s.tokens("alice").await.unwrap()[0].last_used_at.is_some());
    assert!(s.token_delete("alice", &t.id).await.unwrap());
    assert!(s.token_authenticate(b"hash").await.unwrap().is_none());

    let users = vec!["alice".to_string()];
    let w = s
        .webhook_create("alice", "http://x/", Some(&users), Some("PUB"), "k")
        .await
        .unwrap();
    create(&s, "01A", "alice", "at the pub", None)
        .await
        .unwrap();
    create(&s, "01B", "alice", "at home", None).await.unwrap();
    let due = s.deliveries_due(0, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the matching status");
    assert_eq!(
        (due[0].url.as_str(), due[0].secret.as_str()),
        ("http://x/", "k")
    );
    assert_eq!(due[0].body, "{\"id\":\"01A\"}");
    assert!(s
        .delivery_attempted(
            &due[0].id,
            &DeliveryAttempt {
                state: DeliveryState::Pending,
                next_attempt_ms: 5_000,
                status: Some(500),
                error: Some("HTTP 500"),
                at_ms: 1_000,
                duration_ms: 12,
            },
        )
        .await
        .unwrap());
    assert!(s.deliveries_due(4_999, 10).await.unwrap().is_empty());
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(5_000));
    let d = &s.deliveries_due(5_000, 10).await.unwrap()[0];
    assert_eq!((d.attempts, d.last_status), (1, Some(500)));
    let log = s.delivery_attempts(&d.id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (
            log[0].attempt,
            log[0].at_ms,
            log[0].duration_ms,
            log[0].status
        ),
        (1, 1_000, 12, Some(500))
    );
    // A claim leases the delivery: not due again until the lease ends.
    let claimed = s.deliveries_claim(5_000, 20_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(s
        .deliveries_claim(19_999, 30_000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.next_delivery_due().await.unwrap(), Some(20_000));
    assert_eq!(
        s.webhook_deliveries_recent(&w.id, 10).await.unwrap()[0].id,
        d.id
    );
    assert_eq!(s.webhook_deliveries(&w.id).await.unwrap().len(), 1);
    assert!(s.webhook_delete("alice", &w.id).await.unwrap());
    assert_eq!(s.next_delivery_due().await.unwrap(), None);
    assert!(s.delivery_attempts(&d.id).await.unwrap().is_empty());
    let gone = DeliveryAttempt {
        state: DeliveryState::Delivered,
        next_attempt_ms: 0,
        status: Some(200),
        error: None,
        at_ms: 0,
        duration_ms: 0,
    };
    assert!(!s.delivery_attempted(&d.id, &gone).await.unwrap());
}

on_both!(
    timelines_page_search_and_count,
    idempotency_keys_hold_for_their_lifetime_per_author,
    tokens_and_webhook_deliveries,
    concurrent_posts_are_committed_together,
);
