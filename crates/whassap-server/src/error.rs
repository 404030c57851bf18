//! Errors of the XMPP core.

use std::path::Path;

/// What can stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Invalid settings.
    #[error("configuration: {0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Certificate or key problems.
    #[error("TLS: {0}")]
    Tls(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] whassap_store::StoreError),
    /// Joining the cluster failed (NATS).
    #[error("cluster: {0}")]
    Cluster(String),
}

impl ServerError {
    /// An I/O error about a path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ServerError::Io {
            context: path.display().to_string(),
            source,
        }
    }
}
