//! Sans-IO XMPP stream framing and writing.
//!
//! [`StreamParser`] turns received bytes (split anywhere) into
//! [`StreamEvent`]s: the `<stream:stream>` header, each complete stanza as a
//! [`minidom::Element`], and the stream end. [`parse_element`] does the same
//! for one standalone element (RFC 7395 WebSocket frames).
//!
//! Parsing is built on [`rxml::RawParser`] events fed into
//! [`minidom::tree_builder::TreeBuilder`]. Neither crate limits nesting, and
//! minidom's recursive drop/clone/compare overflow the stack on a few thousand
//! nested elements, so every event is checked *before* it reaches the tree
//! builder: nesting depth and stanza size ([`Limits`]) are enforced as soon
//! as they are crossed, and restricted XML (DTDs, entity declarations,
//! comments, processing instructions) is refused. Errors carry the RFC 6120
//! stream error condition to send ([`FramingError::condition`]).
//!
//! The writer side ([`to_bytes`], [`stream_header`], [`stream_error`]) is a
//! small serializer of its own: see the `writer` module for why minidom's
//! writer is not used.

#![warn(missing_docs)]

mod error;
mod guard;
mod stream;
mod writer;

pub use minidom::Element;

pub use error::FramingError;
pub use guard::parse_element;
pub use stream::{StreamEvent, StreamHeader, StreamParser};
pub use writer::{rewrite_namespace, stream_error, stream_header, to_bytes, STREAM_CLOSE};

/// Namespace of the stream root and of `<stream:features/>` / `<stream:error/>`.
pub const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
/// Namespace of stream error conditions and their `<text/>`.
pub const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Default namespace of client-to-server streams.
pub const NS_CLIENT: &str = "jabber:client";
/// Default namespace of server-to-server streams.
pub const NS_SERVER: &str = "jabber:server";

/// Limits applied while framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stanza (and stream header), in bytes of received XML.
    pub max_stanza_bytes: usize,
    /// Deepest nesting inside a stanza; the stanza element itself is depth 1.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 256 KiB per stanza and 64 levels, as SPEC.md §5 requires.
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
        }
    }
}
