//! What every handler gets with a stanza: the server and where the stanza
//! came from. Doors build it; modules take it and never import a door.

use std::sync::Arc;

use minidom::Element;

use crate::registry::SessionHandle;
use crate::stanza;
use crate::Server;

/// Where a stanza came from.
#[derive(Clone, Debug)]
pub enum Origin {
    /// A bound client session of this node; `from` was stamped by its door.
    Client(Arc<SessionHandle>),
    /// A remote server authenticated for `domain`; its door checked that
    /// `from` is of that domain.
    Server {
        /// The authenticated domain.
        domain: String,
    },
    /// The server itself: the router delivering between local entities, the
    /// status bot, the HTTP door.
    Local,
}

/// The server and the origin of the stanza being handled.
#[derive(Clone)]
pub struct Ctx {
    /// The server.
    pub server: Arc<Server>,
    /// Where the stanza came from.
    pub origin: Origin,
}

impl Ctx {
    /// A stanza from a client session.
    pub fn client(server: Arc<Server>, session: Arc<SessionHandle>) -> Self {
        Ctx {
            server,
            origin: Origin::Client(session),
        }
    }

    /// A stanza the server itself routes.
    pub fn local(server: Arc<Server>) -> Self {
        Ctx {
            server,
            origin: Origin::Local,
        }
    }

    /// A stanza from a remote server authenticated for `domain`.
    pub fn remote(server: Arc<Server>, domain: impl Into<String>) -> Self {
        Ctx {
            server,
            origin: Origin::Server {
                domain: domain.into(),
            },
        }
    }

    /// The client session the stanza came from, if it came from one.
    pub fn session(&self) -> Option<&Arc<SessionHandle>> {
        match &self.origin {
            Origin::Client(s) => Some(s),
            _ => None,
        }
    }

    /// The session of a request only a local client may make (to its own
    /// account or in its own name); otherwise the error to answer with.
    pub fn own_session(&self, request: &Element) -> Result<&Arc<SessionHandle>, Element> {
        self.session()
            .ok_or_else(|| stanza::error(request, "service-unavailable"))
    }

    /// Send an answer back where the request came from: straight into the
    /// client's queue (addressed to its full JID), or through the router.
    pub async fn reply(&self, mut el: Element) {
        match &self.origin {
            Origin::Client(session) => {
                if el.attr("to").is_some() {
                    stanza::set_attr(&mut el, "to", session.full.as_str());
                }
                crate::core::deliver::to_session(session, &el);
            }
            _ => crate::core::router::route(self.server.clone(), el).await,
        }
    }
}
