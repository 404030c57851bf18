//! The core every door goes through: a stanza and its origin ([`ctx`]),
//! the table of handlers the modules fill ([`hooks`]), IQ dispatch
//! ([`iq`]), routing ([`router`]) and delivery to local sessions
//! ([`deliver`]).
//!
//! A door (c2s today, s2s and other nodes next) frames bytes into stanzas,
//! checks and stamps `from`, builds a [`Ctx`] and calls [`process`]; it
//! never calls a module itself.

pub mod ctx;
pub mod deliver;
pub mod hooks;
pub mod iq;
pub mod router;

use minidom::Element;

pub use ctx::{Ctx, Origin};
pub use hooks::{Addressee, Flow, Hooks, Kind};

/// What an outbound filter decides about a stanza a local client sent.
pub enum Verdict {
    /// Go on.
    Pass,
    /// Drop it silently.
    Drop,
    /// Do not send it; answer the sender with this.
    Refuse(Element),
}

/// A stanza a door received, `from` checked and stamped: filtered (the
/// sender's blocklist), then handed to the IQ dispatcher or to the
/// outbound message or presence handlers.
pub async fn process(ctx: Ctx, el: Element) {
    for filter in ctx.server.hooks.outbound_filters() {
        match filter(&ctx, &el).await {
            Verdict::Pass => {}
            Verdict::Drop => return,
            Verdict::Refuse(reply) => {
                ctx.reply(reply).await;
                return;
            }
        }
    }
    let kind = match el.name() {
        "iq" => return iq::from_door(ctx, el).await,
        "message" => Kind::Message,
        _ => Kind::Presence,
    };
    run_stanza_handlers(ctx, kind, Flow::Outbound, el).await;
}

/// Hand a message or presence to every handler of its flow (the last one
/// gets the stanza itself, the others a copy).
pub async fn run_stanza_handlers(ctx: Ctx, kind: Kind, flow: Flow, el: Element) {
    let server = ctx.server.clone();
    let mut handlers = server.hooks.stanza_handlers(kind, flow).peekable();
    while let Some(h) = handlers.next() {
        if handlers.peek().is_some() {
            h(ctx.clone(), el.clone()).await;
        } else {
            h(ctx, el).await;
            return;
        }
    }
}
