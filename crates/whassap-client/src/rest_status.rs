//! A status as the REST API and the firehose give it (SPEC §2).

use serde::{Deserialize, Serialize};

/// A status, as `GET /api/v1/statuses/{id}` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Its id; ids sort in the order statuses were posted.
    pub id: String,
    /// Who posted it.
    pub author: StatusAuthor,
    /// The text, 1–280 characters.
    pub text: String,
    /// How it came in: `web`, `api`, `im` or `xmpp`.
    pub source: String,
    /// When (RFC 3339, UTC).
    pub created_at: String,
    /// Its page.
    pub url: String,
}

/// A status's author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAuthor {
    /// The username.
    pub username: String,
    /// The bare JID.
    pub jid: String,
    /// The display name.
    pub display_name: String,
}
