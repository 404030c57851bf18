//! Personal access tokens recently used, kept in memory so that an API
//! request does not read the store to authenticate: at a few thousand
//! posts a second, that read was one store round trip in three.
//!
//! A token is read from the store again a minute after it was last read
//! (when its `last_used_at` is written too, as before). Deleting a token or
//! its account drops its owner's tokens here at once and, in a cluster, on
//! every node. Only tokens that exist are kept, so the memory is bounded
//! by the tokens in the store; an unknown token is read every time, as
//! before.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use whassap_store::{Store, StoreError, TokenRecord};

/// How long a token read from the store is trusted without reading it
/// again (and how often its `last_used_at` can move).
pub const FRESH_FOR: Duration = Duration::from_secs(60);

/// Tokens read from the store in the last [`FRESH_FOR`], by SHA-256.
#[derive(Default)]
pub struct TokenCache {
    by_hash: DashMap<Vec<u8>, (TokenRecord, Instant)>,
}

impl TokenCache {
    /// The token with this SHA-256, from memory if read lately, else from
    /// the store (see [`Store::token_authenticate`]). None if there is no
    /// such token.
    pub async fn authenticate(
        &self,
        store: &Store,
        sha256: &[u8],
    ) -> Result<Option<TokenRecord>, StoreError> {
        if let Some(entry) = self.by_hash.get(sha256) {
            let (token, read_at) = entry.value();
            if read_at.elapsed() < FRESH_FOR {
                return Ok(Some(token.clone()));
            }
        }
        let token = store.token_authenticate(sha256).await?;
        match &token {
            Some(t) => {
                self.by_hash
                    .insert(sha256.to_vec(), (t.clone(), Instant::now()));
            }
            None => {
                self.by_hash.remove(sha256);
            }
        }
        Ok(token)
    }

    /// Drop every token of `username` (one was deleted, or the account).
    pub fn forget_user(&self, username: &str) {
        self.by_hash.retain(|_, (t, _)| t.username != username);
    }
}

impl crate::Server {
    /// Delete one of `username`'s tokens; false if it has none with this
    /// id. It stops working at once, on every node.
    pub async fn delete_token(&self, username: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = self.store.token_delete(username, id).await?;
        if deleted {
            self.forget_tokens(username);
        }
        Ok(deleted)
    }

    /// An account's tokens changed here (one deleted, or the account):
    /// drop them from memory, on every node.
    pub fn forget_tokens(&self, username: &str) {
        self.tokens.forget_user(username);
        self.cluster
            .invalidate(crate::cluster::Invalidation::Tokens {
                username: username.to_string(),
            });
    }
}
