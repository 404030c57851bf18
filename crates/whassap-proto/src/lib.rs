//! Protocol pieces with no I/O: SASL SCRAM (server and client) and PLAIN,
//! server-to-server stream rules and dialback keys, JID part preparation, namespace constants, and the pinned `xmpp-parsers`
//! (with `jid` and `minidom`) re-exported so that upgrades touch only this
//! crate: other crates use `whassap_proto::xmpp_parsers`, never their own
//! dependency on it.

#![warn(missing_docs)]

pub mod dialback;
pub mod ns;
pub mod plain;
mod prep;
pub mod s2s;
pub mod scram;

pub use jid;
pub use minidom;
pub use prep::{nodeprep, resourceprep, valid_username, PrepError, MAX_PART_BYTES};
pub use xmpp_parsers;
