//! Features of the server, one per file. Each has a `register` function
//! that fills the hook table; [`register_all`] calls them, so adding a XEP
//! is a new file and one line there.

pub mod blocking;
pub mod caps;
pub mod disco;
pub mod message;
pub mod offline;
pub mod ping;
pub mod presence;
pub mod register;
pub mod roster;
pub mod version;

use crate::core::Hooks;
use crate::ServerConfig;

/// Fill the hook table with every feature of the server.
pub fn register_all(hooks: &mut Hooks, config: &ServerConfig) {
    disco::register(hooks);
    ping::register(hooks);
    version::register(hooks);
    register::register(hooks, config);
    roster::register(hooks);
    blocking::register(hooks);
    message::register(hooks);
    presence::register(hooks);
    offline::register(hooks);
    caps::register(hooks);
    crate::pubsub::hooks::register(hooks);
    crate::bot::register(hooks);
}
