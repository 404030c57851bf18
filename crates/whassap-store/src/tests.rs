//! Unit tests on a private in-memory database (plus the pragmas of a file
//! database, which need the pool).

use super::*;
use crate::test_db::{on_both, Db};

fn creds(pw: &str) -> Vec<StoredCredentials> {
    vec![
        StoredCredentials::generate(Hash::Sha1, pw, 4096),
        StoredCredentials::generate(Hash::Sha256, pw, 4096),
    ]
}

fn item(contact: &str) -> RosterItem {
    RosterItem {
        contact: contact.into(),
        name: None,
        subscription: Subscription::None,
        ask_out: false,
        approved: false,
        groups: vec![],
    }
}

async fn store_with(db: Db<'_>, users: &[&str]) -> Store {
    let s = db.open().await;
    for u in users {
        s.create_user(u, &creds("pw")).await.unwrap();
    }
    s
}

#[test]
fn store_is_shareable() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    assert_shareable::<Store>();
}

async fn users_are_created_once_listed_and_deleted(db: Db<'_>) {
    let s = store_with(db, &["carol", "alice"]).await;
    let err = s.create_user("alice", &creds("other")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The failed attempt changed nothing.
    let c = s.credentials("alice", Hash::Sha256).await.unwrap().unwrap();
    assert!(c.verify_password("pw") && !c.verify_password("other"));

    assert!(s.user_exists("alice").await.unwrap());
    assert!(!s.user_exists("bob").await.unwrap());
    assert_eq!(s.list_users().await.unwrap(), ["alice", "carol"]);
    assert!(s.delete_user("alice").await.unwrap());
    assert!(!s.delete_user("alice").await.unwrap());
    assert!(!s.user_exists("alice").await.unwrap());
    assert_eq!(s.list_users().await.unwrap(), ["carol"]);
}

async fn credentials_round_trip_and_are_replaced(db: Db<'_>) {
    let s = db.open().await;
    let original = creds("pencil");
    s.create_user("alice", &original).await.unwrap();
    for (hash, expected) in [(Hash::Sha1, &original[0]), (Hash::Sha256, &original[1])] {
        let got = s.credentials("alice", hash).await.unwrap().unwrap();
        assert_eq!(&got, expected, "stored exactly as given");
        assert!(got.verify_password("pencil"));
        assert!(!got.verify_password("pen"));
    }
    assert_eq!(s.credentials("nobody", Hash::Sha1).await.unwrap(), None);

    // A password change replaces every hash; a hash left out is gone.
    let sha256_only = vec![StoredCredentials::generate(Hash::Sha256, "new", 4096)];
    assert!(s.set_credentials("alice", &sha256_only).await.unwrap());
    let c = s.credentials("alice", Hash::Sha256).await.unwrap().unwrap();
    assert!(c.verify_password("new") && !c.verify_password("pencil"));
    assert_eq!(s.credentials("alice", Hash::Sha1).await.unwrap(), None);
    assert!(!s.set_credentials("nobody", &creds("x")).await.unwrap());
    assert!(
        !s.user_exists("nobody").await.unwrap(),
        "not created by set_credentials"
    );
}

async fn deleting_a_user_deletes_all_their_rows(db: Db<'_>) {
    let s = store_with(db, &["alice", "bob"]).await;
    let mut friend = item("bob@localhost");
    friend.groups = vec!["Friends".into()];
    s.roster_put("alice", &friend).await.unwrap();
    s.pending_in_put("alice", "carol@localhost", "<presence/>")
        .await
        .unwrap();
    s.offline_push("alice", "<message/>", "2026-01-01T00:00:00Z", 10)
        .await
        .unwrap();
    s.block("alice", &["eve@localhost".into()]).await.unwrap();
    // Bob's data, which names alice, is Bob's and stays.
    s.roster_put("bob", &item("alice@localhost")).await.unwrap();
    s.offline_push("bob", "<message/>", "2026-01-01T00:00:00Z", 10)
        .await
        .unwrap();

    assert!(s.delete_user("alice").await.unwrap());
    let pool = &s.pool;
    for sql in [
        "SELECT COUNT(*) FROM credentials WHERE username = 'alice'",
        "SELECT COUNT(*) FROM roster_items WHERE username = 'alice'",
        "SELECT COUNT(*) FROM roster_groups WHERE username = 'alice'",
        "SELECT COUNT(*) FROM pending_in WHERE username = 'alice'",
        "SELECT COUNT(*) FROM offline_messages WHERE username = 'alice'",
        "SELECT COUNT(*) FROM blocklist WHERE username = 'alice'",
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        assert_eq!(n, 0, "{sql}");
    }
    assert_eq!(s.roster("bob").await.unwrap().1.len(), 1);
    assert_eq!(s.offline_list("bob").await.unwrap().len(), 1);
    assert!(s.credentials("bob", Hash::Sha1).await.unwrap().is_some());
}

/// Roster versions count from 0 per account, as Prosody's do (its
/// presence_preapproval transcript expects version 1 after the first change);
/// a re-created account starts empty at 0 again.
async fn a_recreated_account_starts_empty_at_version_zero(db: Db<'_>) {
    let s = store_with(db, &["alice"]).await;
    assert_eq!(s.roster_version("alice").await.unwrap(), 0);
    assert_eq!(
        s.roster_put("alice", &item("bob@localhost")).await.unwrap(),
        1
    );
    s.delete_user("alice").await.unwrap();
    s.create_user("alice", &creds("pw")).await.unwrap();
    assert_eq!(s.roster("alice").await.unwrap(), (0, vec![]));
}

async fn roster_versions_count_every_change(db: Db<'_>) {
    let s = store_with(db, &["alice"]).await;
    let v0 = s.roster_version("alice").await.unwrap();
    assert_eq!(s.roster("alice").await.unwrap(), (v0, vec![]));

    let mut bob = item("bob@localhost");
    bob.name = Some("Bob".into());
    bob.groups = vec!["Work".into(), "Friends".into()];
    assert_eq!(s.roster_put("alice", &bob).await.unwrap(), v0 + 1);
    assert_eq!(
        s.roster_item("alice", "bob@localhost").await.unwrap(),
        Some(bob.clone())
    );

    // Update: every field and the groups are replaced; group order is kept.
    bob.name = None;
    bob.subscription = Subscription::Both;
    bob.ask_out = true;
    bob.approved = true;
    bob.groups = vec!["Zoo".into(), "Amis".into(), "Work".into()];
    assert_eq!(s.roster_put("alice", &bob).await.unwrap(), v0 + 2);
    assert_eq!(
        s.roster_item("alice", "bob@localhost").await.unwrap(),
        Some(bob.clone())
    );

    let carol = item("carol@localhost");
    assert_eq!(s.roster_put("alice", &carol).await.unwrap(), v0 + 3);
    assert_eq!(s.roster_version("alice").await.unwrap(), v0 + 3);
    assert_eq!(
        s.roster("alice").await.unwrap(),
        (v0 + 3, vec![bob.clone(), carol.clone()]),
        "items sorted by contact, each with its own groups"
    );

    assert_eq!(
        s.roster_remove("alice", "bob@localhost").await.unwrap(),
        Some(v0 + 4)
    );
    assert_eq!(
        s.roster_remove("alice", "bob@localhost").await.unwrap(),
        None
    );
    assert_eq!(
        s.roster_version("alice").await.unwrap(),
        v0 + 4,
        "no bump for nothing"
    );
    assert_eq!(s.roster_item("alice", "bob@localhost").await.unwrap(), None);
    assert_eq!(s.roster("alice").await.unwrap(), (v0 + 4, vec![carol]));

    // Groups of the removed item went with it: re-adding starts clean.
    s.roster_put("alice", &item("bob@localhost")).await.unwrap();
    let again = s
        .roster_item("alice", "bob@localhost")
        .await
        .unwrap()
        .unwrap();
    assert!(again.groups.is_empty());
}

async fn rosters_of_unknown_users(db: Db<'_>) {
    let s = db.open().await;
    assert_eq!(s.roster("ghost").await.unwrap(), (0, vec![]));
    assert_eq!(s.roster_version("ghost").await.unwrap(), 0);
    assert_eq!(s.roster_item("ghost", "a@b").await.unwrap(), None);
    let err = s.roster_put("ghost", &item("a@b")).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(s.roster_remove("ghost", "a@b").await.unwrap(), None);
}

#[test]
fn subscription_names() {
    for sub in [
        Subscription::None,
        Subscription::To,
        Subscription::From,
        Subscription::Both,
    ] {
        assert_eq!(sub.as_str().parse::<Subscription>(), Ok(sub.clone()));
    }
    assert_eq!(
        "remove".parse::<Subscription>(),
        Err(UnknownSubscription("remove".into()))
    );
    assert_eq!(Subscription::parse("Both"), None);
}

async fn pending_requests_keep_the_stanza(db: Db<'_>) {
    let s = store_with(db, &["bob"]).await;
    let first = "<presence type='subscribe' from='alice@localhost'><status>hi</status></presence>";
    s.pending_in_put("bob", "zed@localhost", "<presence type='subscribe'/>")
        .await
        .unwrap();
    s.pending_in_put("bob", "alice@localhost", first)
        .await
        .unwrap();
    assert_eq!(
        s.pending_in_get("bob", "alice@localhost")
            .await
            .unwrap()
            .as_deref(),
        Some(first)
    );
    assert_eq!(
        s.pending_in_get("bob", "nobody@localhost").await.unwrap(),
        None
    );

    // A newer request replaces the stanza but keeps its place in the queue.
    let newer = "<presence type='subscribe' from='zed@localhost'><nick/></presence>";
    s.pending_in_put("bob", "zed@localhost", newer)
        .await
        .unwrap();
    assert_eq!(
        s.pending_in("bob").await.unwrap(),
        vec![
            ("zed@localhost".to_string(), newer.to_string()),
            ("alice@localhost".to_string(), first.to_string()),
        ]
    );

    assert!(s.pending_in_remove("bob", "alice@localhost").await.unwrap());
    assert!(!s.pending_in_remove("bob", "alice@localhost").await.unwrap());
    assert_eq!(s.pending_in("bob").await.unwrap().len(), 1);
    let err = s
        .pending_in_put("ghost", "a@b", "<presence/>")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn offline_messages_keep_order_and_respect_the_cap(db: Db<'_>) {
    let s = store_with(db, &["bob", "carol"]).await;
    for i in 0..3 {
        let stamp = format!("2026-01-01T00:00:0{i}Z");
        assert!(s
            .offline_push("bob", &format!("<m{i}/>"), &stamp, 3)
            .await
            .unwrap());
    }
    assert!(
        !s.offline_push("bob", "<m3/>", "t", 3).await.unwrap(),
        "the fourth is refused"
    );
    assert!(
        s.offline_push("carol", "<c/>", "t", 3).await.unwrap(),
        "the cap is per user"
    );
    assert!(!s.offline_push("carol", "<c/>", "t", 0).await.unwrap());

    let list = s.offline_list("bob").await.unwrap();
    let texts: Vec<_> = list.iter().map(|m| m.stanza_xml.as_str()).collect();
    assert_eq!(texts, ["<m0/>", "<m1/>", "<m2/>"]);
    assert_eq!(list[2].stamp, "2026-01-01T00:00:02Z");
    assert!(list.windows(2).all(|w| w[0].id < w[1].id));

    // Delivered up to the second; a message stored meanwhile stays.
    s.offline_delete_upto("bob", list[1].id).await.unwrap();
    assert!(s.offline_push("bob", "<late/>", "t", 3).await.unwrap());
    let rest = s.offline_list("bob").await.unwrap();
    let texts: Vec<_> = rest.iter().map(|m| m.stanza_xml.as_str()).collect();
    assert_eq!(texts, ["<m2/>", "<late/>"]);
    assert_eq!(
        s.offline_list("carol").await.unwrap().len(),
        1,
        "other users untouched"
    );

    // Ids are never reused, even once every message is gone.
    let last = rest[1].id;
    s.offline_delete_upto("bob", last).await.unwrap();
    s.offline_delete_upto("carol", i64::MAX).await.unwrap();
    assert!(s.offline_list("bob").await.unwrap().is_empty());
    s.offline_push("bob", "<new/>", "t", 3).await.unwrap();
    assert!(s.offline_list("bob").await.unwrap()[0].id > last);

    let err = s.offline_push("ghost", "<m/>", "t", 3).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn what_waited_is_requests_and_messages_in_one_read(db: Db<'_>) {
    let s = store_with(db, &["bob", "carol"]).await;
    assert_eq!(s.waiting("bob").await.unwrap(), Waiting::default());
    assert_eq!(s.waiting("ghost").await.unwrap(), Waiting::default());
    s.pending_in_put("bob", "zed@localhost", "<presence type='subscribe'/>")
        .await
        .unwrap();
    s.offline_push("bob", "<m0/>", "2026-01-01T00:00:00Z", 9)
        .await
        .unwrap();
    s.pending_in_put(
        "bob",
        "amy@localhost",
        "<presence type='subscribe' id='a'/>",
    )
    .await
    .unwrap();
    s.offline_push("bob", "<m1/>", "2026-01-01T00:00:01Z", 9)
        .await
        .unwrap();
    s.offline_push("carol", "<c/>", "t", 9).await.unwrap();
    let w = s.waiting("bob").await.unwrap();
    assert_eq!(
        w.requests,
        s.pending_in("bob").await.unwrap(),
        "requests oldest first, with their stanzas"
    );
    assert_eq!(w.requests[0].0, "zed@localhost");
    assert_eq!(w.messages, s.offline_list("bob").await.unwrap());
    let texts: Vec<_> = w.messages.iter().map(|m| m.stanza_xml.as_str()).collect();
    assert_eq!(texts, ["<m0/>", "<m1/>"], "only bob's, oldest first");
    assert_eq!(w.messages[1].stamp, "2026-01-01T00:00:01Z");
}

async fn blocklist_add_remove_clear(db: Db<'_>) {
    let s = store_with(db, &["a"]).await;
    s.block("a", &["x@y".into(), "z".into()]).await.unwrap();
    s.block("a", &["x@y".into()]).await.unwrap();
    assert_eq!(s.blocklist("a").await.unwrap(), ["x@y", "z"]);
    s.unblock("a", &["z".into(), "never@blocked".into()])
        .await
        .unwrap();
    assert_eq!(s.blocklist("a").await.unwrap(), ["x@y"]);
    s.unblock("a", &[]).await.unwrap();
    assert!(s.blocklist("a").await.unwrap().is_empty());
    let err = s.block("ghost", &["x@y".into()]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(s.blocklist("ghost").await.unwrap().is_empty());
}

async fn secrets_are_created_once(db: Db<'_>) {
    let s = db.open().await;
    let a = s.secret("scram", 32).await.unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(s.secret("scram", 16).await.unwrap(), a, "never changes");
    let b = s.secret("other", 32).await.unwrap();
    assert_ne!(a, b);
}

async fn bot_subscribers_are_added_once_and_removed(db: Db<'_>) {
    let s = db.open().await;
    assert!(!s.is_bot_subscriber("bob@b.test").await.unwrap());
    s.bot_subscriber_add("bob@b.test").await.unwrap();
    s.bot_subscriber_add("bob@b.test").await.unwrap();
    assert!(s.is_bot_subscriber("bob@b.test").await.unwrap());
    assert!(!s.is_bot_subscriber("carol@b.test").await.unwrap());
    s.bot_subscriber_remove("bob@b.test").await.unwrap();
    s.bot_subscriber_remove("bob@b.test").await.unwrap();
    assert!(!s.is_bot_subscriber("bob@b.test").await.unwrap());
}

#[tokio::test]
async fn file_databases_use_wal_full_sync_and_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_sqlite(&dir.path().join("w.db")).await.unwrap();
    let pool = &s.pool;
    // Ask several connections: every one must have the settings.
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut c = pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1), "2 = FULL");
        assert!(busy >= 1000, "busy timeout {busy} ms");
        conns.push(c);
    }
    drop(conns);
    s.ping().await.unwrap();
    s.close().await;
    assert!(s.ping().await.is_err(), "closed");
}

fn stored(id: &str, payload: &str) -> StoredItem {
    StoredItem {
        seq: 0,
        id: id.into(),
        publisher: "alice@x".into(),
        payload: payload.into(),
        published_at: "2026-11-24T00:00:00Z".into(),
    }
}

async fn pubsub_nodes_items_and_subscriptions(db: Db<'_>) {
    let s = db.open().await;
    s.create_user("alice", &[]).await.unwrap();
    assert!(s
        .pubsub_create_node("alice@x", "n", Some("alice"), "{}", "alice@x")
        .await
        .unwrap());
    assert!(
        !s.pubsub_create_node("alice@x", "n", Some("alice"), "{}", "alice@x")
            .await
            .unwrap(),
        "exists"
    );
    for (id, p) in [("a", "1"), ("b", "2"), ("c", "3")] {
        s.pubsub_publish("alice@x", "n", &stored(id, p), Some(2))
            .await
            .unwrap();
    }
    let all = s
        .pubsub_items("alice@x", "n", ItemsPage::Newest, 10)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["b", "c"], "trimmed to the 2 newest, oldest first");
    // Re-publishing an id makes it the newest.
    s.pubsub_publish("alice@x", "n", &stored("b", "4"), Some(2))
        .await
        .unwrap();
    let newest = s
        .pubsub_items("alice@x", "n", ItemsPage::Newest, 1)
        .await
        .unwrap();
    assert_eq!(
        (newest[0].id.as_str(), newest[0].payload.as_str()),
        ("b", "4")
    );
    let before = s
        .pubsub_items("alice@x", "n", ItemsPage::Before(newest[0].seq), 5)
        .await
        .unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].id, "c");
    let after = s
        .pubsub_items("alice@x", "n", ItemsPage::After(before[0].seq), 5)
        .await
        .unwrap();
    assert_eq!(after.iter().map(|i| &i.id[..]).collect::<Vec<_>>(), ["b"]);
    let by_id = s
        .pubsub_items_by_id("alice@x", "n", &["b".into(), "gone".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(
        by_id.iter().map(|i| &i.id[..]).collect::<Vec<_>>(),
        ["c", "b"],
        "the ones that exist, oldest first"
    );
    assert!(s.pubsub_retract("alice@x", "n", "c").await.unwrap());
    assert!(!s.pubsub_retract("alice@x", "n", "c").await.unwrap());

    let sub = StoredSubscription {
        jid: "bob@x".into(),
        subid: "s1".into(),
        state: "subscribed".into(),
    };
    s.pubsub_put_subscription("alice@x", "n", &sub)
        .await
        .unwrap();
    assert_eq!(
        s.pubsub_subscriptions_of("alice@x", "n", "bob@x")
            .await
            .unwrap(),
        std::slice::from_ref(&sub)
    );
    assert_eq!(s.pubsub_subscriptions("alice@x", "n").await.unwrap(), [sub]);
    assert!(s
        .pubsub_subscriptions_of("alice@x", "n", "carol@x")
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        s.pubsub_put_subscription(
            "alice@x",
            "nope",
            &StoredSubscription {
                jid: "bob@x".into(),
                subid: "s".into(),
                state: "subscribed".into()
            }
        )
        .await,
        Err(StoreError::NotFound(_))
    ));
    // Deleting the account deletes its PEP nodes and everything in them.
    s.delete_user("alice").await.unwrap();
    assert_eq!(s.pubsub_node_config("alice@x", "n").await.unwrap(), None);
    assert!(s
        .pubsub_subscriptions("alice@x", "n")
        .await
        .unwrap()
        .is_empty());
}

async fn settings_are_set_and_replaced(db: Db<'_>) {
    let s = db.open().await;
    assert_eq!(s.setting("domain").await.unwrap(), None);
    s.set_setting("domain", "a.example").await.unwrap();
    s.set_setting("domain", "b.example").await.unwrap();
    assert_eq!(
        s.setting("domain").await.unwrap().as_deref(),
        Some("b.example")
    );
}

on_both!(
    users_are_created_once_listed_and_deleted,
    credentials_round_trip_and_are_replaced,
    deleting_a_user_deletes_all_their_rows,
    a_recreated_account_starts_empty_at_version_zero,
    roster_versions_count_every_change,
    rosters_of_unknown_users,
    pending_requests_keep_the_stanza,
    offline_messages_keep_order_and_respect_the_cap,
    what_waited_is_requests_and_messages_in_one_read,
    blocklist_add_remove_clear,
    secrets_are_created_once,
    bot_subscribers_are_added_once_and_removed,
    pubsub_nodes_items_and_subscriptions,
    settings_are_set_and_replaced,
);
