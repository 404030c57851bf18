//! The store on a real SQLite file: data survives closing and reopening,
//! and concurrent writers through clones of one store neither fail nor
//! lose updates.

use whassap_store::{Hash, RosterItem, Store, StoredCredentials, Subscription};

fn item(contact: &str) -> RosterItem {
    RosterItem {
        contact: contact.into(),
        name: Some(format!("name of {contact}")),
        subscription: Subscription::To,
        ask_out: false,
        approved: false,
        groups: vec!["G".into()],
    }
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whassap.db");
    let creds = vec![StoredCredentials::generate(Hash::Sha256, "pw", 4096)];
    let version;
    {
        let s = Store::open_sqlite(&path).await.unwrap();
        s.create_user("alice", &creds).await.unwrap();
        s.roster_put("alice", &item("bob@localhost")).await.unwrap();
        s.pending_in_put("alice", "carol@localhost", "<presence type='subscribe'/>")
            .await
            .unwrap();
        // A waiting subscription request counts as a roster change.
        version = s.roster_version("alice").await.unwrap();
        assert_eq!(version, 2);
        s.offline_push("alice", "<message/>", "2026-01-01T00:00:00Z", 10)
            .await
            .unwrap();
        s.block("alice", &["eve@localhost".into()]).await.unwrap();
        s.close().await;
    }
    let s = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(s.list_users().await.unwrap(), ["alice"]);
    let c = s.credentials("alice", Hash::Sha256).await.unwrap().unwrap();
    assert_eq!(c, creds[0]);
    assert!(c.verify_password("pw"));
    assert_eq!(
        s.roster("alice").await.unwrap(),
        (version, vec![item("bob@localhost")])
    );
    assert_eq!(s.pending_in("alice").await.unwrap().len(), 1);
    assert_eq!(
        s.offline_list("alice").await.unwrap()[0].stanza_xml,
        "<message/>"
    );
    assert_eq!(s.blocklist("alice").await.unwrap(), ["eve@localhost"]);
    s.ping().await.unwrap();
    s.close().await;
}

#[tokio::test]
async fn data_is_readable_without_a_graceful_close() {
    // Every committed write is durable when its call returns: dropping the
    // store without close() (as a killed process would) loses nothing, and
    // a second store opened on the same file sees it at once.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whassap.db");
    let first = Store::open_sqlite(&path).await.unwrap();
    first.create_user("alice", &[]).await.unwrap();
    assert!(first.offline_push("alice", "<m/>", "t", 10).await.unwrap());
    let second = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(second.offline_list("alice").await.unwrap().len(), 1);
    drop(first);
    drop(second);
    let third = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(third.offline_list("alice").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_do_not_fail_or_lose_updates() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_sqlite(&dir.path().join("whassap.db"))
        .await
        .unwrap();
    s.create_user("alice", &[]).await.unwrap();
    let start = s.roster_version("alice").await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let contact = format!("c{t}-{i}@localhost");
                s.roster_put("alice", &item(&contact)).await.unwrap();
                // Reads interleaved with writes, as a real server does.
                assert!(s.roster_item("alice", &contact).await.unwrap().is_some());
                s.offline_push("alice", "<m/>", "t", 1000).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (version, items) = s.roster("alice").await.unwrap();
    assert_eq!(items.len(), 80);
    assert_eq!(
        version,
        start + 80,
        "every put bumped the version exactly once"
    );
    assert_eq!(s.offline_list("alice").await.unwrap().len(), 80);
    s.close().await;
}
