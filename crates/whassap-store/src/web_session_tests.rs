//! Unit tests of web sessions on an in-memory database.

use super::*;
use crate::test_db::{on_both, Db};

async fn sessions_are_found_by_hash_until_they_expire_or_end(db: Db<'_>) {
    let s = db.open().await;
    s.create_user("alice", &[]).await.unwrap();
    s.web_session_create(b"h1", "alice", "csrf1", 1_000, 2_000)
        .await
        .unwrap();
    let found = s.web_session(b"h1", 1_500).await.unwrap().unwrap();
    assert_eq!(found.username, "alice");
    assert_eq!(found.csrf_token, "csrf1");
    assert_eq!((found.created_ms, found.expires_ms), (1_000, 2_000));
    assert_eq!(s.web_session(b"h1", 2_000).await.unwrap(), None, "expired");
    assert_eq!(s.web_session(b"other", 1_500).await.unwrap(), None);
    assert!(s.web_session_delete(b"h1").await.unwrap());
    assert!(!s.web_session_delete(b"h1").await.unwrap());
    assert_eq!(s.web_session(b"h1", 1_500).await.unwrap(), None);
}

async fn expired_sessions_are_purged_and_accounts_take_theirs_along(db: Db<'_>) {
    let s = db.open().await;
    s.create_user("alice", &[]).await.unwrap();
    s.web_session_create(b"old", "alice", "c", 0, 10)
        .await
        .unwrap();
    s.web_session_create(b"new", "alice", "c", 20, 100)
        .await
        .unwrap();
    // The expired one is gone even for a reader that looks in the past.
    assert_eq!(s.web_session(b"old", 5).await.unwrap(), None);
    assert!(matches!(
        s.web_session_create(b"x", "nobody", "c", 20, 100).await,
        Err(StoreError::NotFound(_))
    ));
    s.web_session_create(b"other", "alice", "c", 20, 100)
        .await
        .unwrap();
    assert_eq!(s.web_sessions_delete_user("alice").await.unwrap(), 2);
    s.web_session_create(b"again", "alice", "c", 20, 100)
        .await
        .unwrap();
    assert!(s.delete_user("alice").await.unwrap());
    assert_eq!(s.web_session(b"again", 50).await.unwrap(), None);
}

on_both!(
    sessions_are_found_by_hash_until_they_expire_or_end,
    expired_sessions_are_purged_and_accounts_take_theirs_along,
);
