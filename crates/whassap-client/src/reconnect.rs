//! Automatic reconnection: when the connection drops (the server
//! restarts, the network fails), [`Client::next_event`] logs in again with
//! backoff, sends the last presence again, and reports
//! [`Event::Reconnected`](crate::Event::Reconnected). PubSub subscriptions
//! and the roster live on the server and need nothing.

use std::time::Duration;

use crate::{Client, ClientError, ConnectOptions};

/// The first wait before logging in again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Client {
    /// Turn automatic reconnection on: `opts` are what to log in with
    /// again (usually those this client connected with).
    pub fn reconnect_with(&mut self, opts: ConnectOptions) {
        self.reconnect = Some(Box::new(opts));
    }

    /// Whether a failure is a lost connection worth logging in again for:
    /// not a refused login, and not another session taking over the
    /// resource (`conflict`), which would then be thrown out in turn.
    pub(crate) fn should_reconnect(&self, e: &ClientError) -> bool {
        self.reconnect.is_some()
            && match e {
                ClientError::Io(_) | ClientError::Closed | ClientError::Xml(_) => true,
                ClientError::StreamError { condition, .. } => condition != "conflict",
                _ => false,
            }
    }

    /// Log in again until it works, waiting longer after each failure; a
    /// refused password or certificate ends the attempts.
    pub(crate) async fn reconnect_now(&mut self) -> Result<(), ClientError> {
        let Some(opts) = self.reconnect.clone() else {
            return Err(ClientError::Closed);
        };
        let mut wait = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(wait).await;
            match Client::connect((*opts).clone()).await {
                Ok(fresh) => {
                    self.replace_connection(fresh);
                    if let Some(presence) = self.presence.clone() {
                        self.send(&presence).await?;
                    }
                    tracing::info!(jid = %self.jid(), "reconnected");
                    return Ok(());
                }
                Err(e) if e.is_connect_failure() || self.should_reconnect(&e) => {
                    tracing::warn!(error = %e, ?wait, "reconnecting");
                }
                Err(e) => return Err(e),
            }
            wait = (wait * 2).min(MAX_BACKOFF);
        }
    }
}
