//! Account management shared by the CLI, in-band registration, the REST API
//! and the web sign-up: name rules, reserved names, and SCRAM-only password
//! storage.

pub use crate::username_policy::UsernamePolicy;
use whassap_proto::scram::{Hash, StoredCredentials};
use whassap_store::{Store, StoreError};

/// Usernames nobody can register besides [`HTTP_PATHS`]: the status bot,
/// service names, and path segments browsers resolve away.
pub const RESERVED: &[&str] = &["whassap", "pubsub", "firehose", ".", ".."];

/// The fixed top-level path segments of the HTTP door, pages and API alike.
/// A user's page is `/<username>`, so a user named after one of them would
/// be hidden behind it: each is a reserved username too. The web router
/// (whassap-http) uses no other top-level path.
pub const HTTP_PATHS: &[&str] = &[
    "api",
    "healthz",
    "metrics",
    "xmpp-websocket",
    "signup",
    "login",
    "logout",
    "settings",
    "statuses",
    "static",
    "stats.json",
    "favicon.ico",
    "robots.txt",
    ".well-known",
];

/// Whether `name` (already nodeprep'd) is a reserved username.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || HTTP_PATHS.contains(&name)
}

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Not a valid JID localpart.
    #[error(
        "invalid username {0:?}: use letters, digits and . _ - (no spaces, @, /, :, quotes or <>)"
    )]
    InvalidName(String),
    /// A reserved name.
    #[error("the username {0:?} is reserved")]
    Reserved(String),
    /// A name the sign-up policy refuses ([`UsernamePolicy`]).
    #[error("the username {name:?} is not allowed here: {why}")]
    NotAllowed {
        /// The name asked for.
        name: String,
        /// Which rule it breaks.
        why: String,
    },
    /// Empty or overlong password.
    #[error("the password must be 1 to 1023 bytes")]
    InvalidPassword,
    /// Already taken.
    #[error("the username {0:?} is taken")]
    Taken(String),
    /// An unusable display name.
    #[error(
        "the display name must be 1 to {MAX_DISPLAY_NAME} characters, without control characters"
    )]
    InvalidDisplayName,
    /// No such account.
    #[error("no such user {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 64;

/// Check a display name (trimmed); the name to store.
pub fn display_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        return Err(AccountError::InvalidDisplayName);
    }
    Ok(name.to_string())
}

/// Normalise a username (nodeprep) and check it may be registered.
pub fn normalise(name: &str, allow_reserved: bool) -> Result<String, AccountError> {
    let n =
        whassap_proto::nodeprep(name).map_err(|_| AccountError::InvalidName(name.to_string()))?;
    if !allow_reserved && is_reserved(&n) {
        return Err(AccountError::Reserved(n));
    }
    Ok(n)
}

fn credentials(password: &str, iterations: u32) -> Result<Vec<StoredCredentials>, AccountError> {
    if password.is_empty() || password.len() > 1023 {
        return Err(AccountError::InvalidPassword);
    }
    Ok(vec![
        StoredCredentials::generate(Hash::Sha1, password, iterations),
        StoredCredentials::generate(Hash::Sha256, password, iterations),
    ])
}

/// Create an account; returns the normalised username.
pub async fn add(
    store: &Store,
    name: &str,
    password: &str,
    iterations: u32,
) -> Result<String, AccountError> {
    let name = normalise(name, false)?;
    let creds = credentials(password, iterations)?;
    match store.create_user(&name, &creds).await {
        Ok(()) => Ok(name),
        Err(StoreError::Conflict(_)) => Err(AccountError::Taken(name)),
        Err(e) => Err(e.into()),
    }
}

/// Create an account by self sign-up (web page, REST API, in-band
/// registration): as [`add`], and the name must also pass `policy`.
pub async fn sign_up(
    store: &Store,
    name: &str,
    password: &str,
    iterations: u32,
    policy: &UsernamePolicy,
) -> Result<String, AccountError> {
    let normalised = normalise(name, false)?;
    if let Some(why) = policy.refusal(&normalised) {
        return Err(AccountError::NotAllowed {
            name: name.to_string(),
            why,
        });
    }
    add(store, &normalised, password, iterations).await
}

/// Replace an account's password (and end its web sessions).
pub async fn set_password(
    store: &Store,
    name: &str,
    password: &str,
    iterations: u32,
) -> Result<(), AccountError> {
    let name = normalise(name, true)?;
    let creds = credentials(password, iterations)?;
    if store.set_credentials(&name, &creds).await? {
        // Whoever knew the old password is logged out of the web pages.
        store.web_sessions_delete_user(&name).await?;
        Ok(())
    } else {
        Err(AccountError::NotFound(name))
    }
}

/// Delete an account and everything stored for it.
pub async fn delete(store: &Store, name: &str) -> Result<(), AccountError> {
    let name = normalise(name, true)?;
    if store.delete_user(&name).await? {
        Ok(())
    } else {
        Err(AccountError::NotFound(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_valid_usernames_that_cannot_be_registered() {
        for name in RESERVED.iter().chain(HTTP_PATHS) {
            assert_eq!(
                normalise(name, true).unwrap(),
                *name,
                "{name} is nodeprep'd"
            );
            assert!(
                matches!(normalise(name, false), Err(AccountError::Reserved(_))),
                "{name}"
            );
            let upper = name.to_uppercase();
            assert!(
                matches!(normalise(&upper, false), Err(AccountError::Reserved(_))),
                "{upper}"
            );
        }
        assert_eq!(normalise("Alice", false).unwrap(), "alice");
    }
}
