//! Features of the server, one per file. IQ payloads are dispatched through
//! the tables in [`iq`]: adding a XEP is a new file and one line there.

pub mod blocking;
pub mod caps;
pub mod disco;
pub mod iq;
pub mod message;
pub mod offline;
pub mod ping;
pub mod presence;
pub mod register;
pub mod roster;
pub mod version;
