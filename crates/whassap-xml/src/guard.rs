//! The checks between rxml's events and minidom's tree builder.
//!
//! [`Driver`] pulls [`RawEvent`]s out of an [`rxml::RawParser`] and maps its
//! errors; [`ElementGuard`] builds one element (a stanza, or a standalone
//! WebSocket frame) from those events, refusing it as soon as it is too deep
//! or too large, before the tree builder sees the offending event.

use std::collections::BTreeMap;

use minidom::tree_builder::TreeBuilder;
use minidom::Element;
use rxml::error::EndOrError;
use rxml::{NcName, Parse, RawEvent, RawParser, WithOptions};

use crate::{FramingError, Limits};

/// Namespace declarations in scope: prefix (`None` = default) → URI.
pub(crate) type Declarations = BTreeMap<Option<String>, String>;

/// What [`Driver::next`] produced.
pub(crate) enum Pulled {
    /// An event.
    Event(RawEvent),
    /// The input is exhausted (see [`Driver::since_event`]).
    NeedMoreData,
    /// The document ended (only with `at_eof`).
    Eof,
}

/// An rxml raw parser plus what is needed to classify its errors.
pub(crate) struct Driver {
    parser: RawParser,
    /// The last bytes consumed by the parser, oldest first.
    recent: [u8; 3],
    /// How many bytes the parser consumed since it last produced an event.
    pub(crate) since_event: usize,
    limit: usize,
}

impl Driver {
    /// A parser for a new document.
    pub(crate) fn new(limits: &Limits) -> Driver {
        // Attribute values and names up to the stanza size must be accepted;
        // longer ones fail with a "long name" error, mapped to the size limit.
        // (rxml reserves a token buffer of this capacity per parser; pages
        // are only touched as tokens grow.)
        let options = rxml::Options {
            max_token_length: limits.max_stanza_bytes.max(64),
            comments: rxml::parser::CommentMode::Reject,
            ..Default::default()
        };
        Driver {
            parser: <RawParser as WithOptions>::with_options(options),
            recent: [0; 3],
            since_event: 0,
            limit: limits.max_stanza_bytes,
        }
    }

    /// Pull the next event out of `input`, advancing it past what was used.
    pub(crate) fn next(&mut self, input: &mut &[u8], at_eof: bool) -> Result<Pulled, FramingError> {
        let before = *input;
        let result = self.parser.parse(input, at_eof);
        let used = &before[..before.len() - input.len()];
        self.remember(used);
        match result {
            Ok(Some(ev)) => {
                self.since_event = 0;
                Ok(Pulled::Event(ev))
            }
            Ok(None) => Ok(Pulled::Eof),
            Err(EndOrError::NeedMoreData) => {
                self.since_event = self.since_event.saturating_add(used.len());
                Ok(Pulled::NeedMoreData)
            }
            Err(EndOrError::Error(e)) => Err(FramingError::from_rxml(e, &self.recent, self.limit)),
        }
    }

    /// Free the parser's temporary buffers (see
    /// [`StreamParser`](crate::StreamParser)'s idle release).
    pub(crate) fn release_temporaries(&mut self) {
        self.parser.release_temporaries();
    }

    fn remember(&mut self, used: &[u8]) {
        if used.len() >= 3 {
            self.recent.copy_from_slice(&used[used.len() - 3..]);
        } else {
            for &b in used {
                self.recent = [self.recent[1], self.recent[2], b];
            }
        }
    }
}

/// Builds one element from raw events, with the limits enforced first.
pub(crate) struct ElementGuard {
    builder: TreeBuilder,
    limits: Limits,
    /// Current nesting: 1 while inside the element's own head or content.
    depth: usize,
    /// Bytes of the events seen so far (from rxml's EventMetrics).
    bytes: usize,
    /// Whether a default namespace was in scope before this element.
    inherited_default: bool,
    /// Per open element: whether it declared a default namespace.
    default_decls: Vec<bool>,
    /// How many entries of `default_decls` are true.
    defaults_in_scope: usize,
    /// The element head being read.
    head: Head,
    /// Namespace declarations made on the outermost element itself.
    own_decls: Declarations,
    /// Whether the finished element should only carry its own declarations
    /// (inherited ones were supplied through the tree builder).
    strip_inherited: bool,
}

/// Facts about the element head currently being read.
#[derive(Default)]
struct Head {
    prefixed: bool,
    declares_default: bool,
    /// Attributes that are not namespace declarations.
    attributes: usize,
    /// Names of the namespace declarations (`None` = `xmlns`), to find
    /// duplicates, which the tree builder would silently merge.
    declared: Vec<Option<NcName>>,
}

impl ElementGuard {
    /// A guard for one element whose parent scope has `inherited`
    /// declarations (the stream header's, for a stanza).
    pub(crate) fn new(limits: &Limits, inherited: Option<Declarations>) -> ElementGuard {
        let (builder, inherited_default, strip_inherited) = match inherited {
            Some(decls) => {
                let has_default = decls.contains_key(&None);
                (
                    TreeBuilder::new().with_prefixes_stack(vec![decls.into()]),
                    has_default,
                    true,
                )
            }
            None => (TreeBuilder::new(), false, false),
        };
        ElementGuard {
            builder,
            limits: *limits,
            depth: 0,
            bytes: 0,
            inherited_default,
            default_decls: Vec::new(),
            defaults_in_scope: 0,
            head: Head::default(),
            own_decls: Declarations::new(),
            strip_inherited,
        }
    }

    /// Check that `extra` bytes consumed but not yet part of an event still
    /// fit in the limit, so an overlong token is refused while it arrives.
    pub(crate) fn check_pending(&self, extra: usize) -> Result<(), FramingError> {
        if self.bytes.saturating_add(extra) > self.limits.max_stanza_bytes {
            return Err(FramingError::StanzaTooLarge {
                limit: self.limits.max_stanza_bytes,
            });
        }
        Ok(())
    }

    /// Process one event; returns the element when its end tag was read.
    pub(crate) fn process(&mut self, ev: RawEvent) -> Result<Option<Element>, FramingError> {
        self.bytes = self.bytes.saturating_add(ev.metrics().len());
        self.check_pending(0)?;
        match &ev {
            RawEvent::XmlDeclaration(..) => return Ok(None),
            RawEvent::ElementHeadOpen(_, (prefix, _)) => {
                self.depth += 1;
                if self.depth > self.limits.max_depth {
                    return Err(FramingError::TooDeep {
                        limit: self.limits.max_depth,
                    });
                }
                self.head.prefixed = prefix.is_some();
                self.head.declares_default = false;
                self.head.attributes = 0;
                self.head.declared.clear();
            }
            RawEvent::Attribute(_, (prefix, name), value) => match prefix {
                None if name.as_str() == "xmlns" => {
                    self.head.declares_default = true;
                    self.head.declared.push(None);
                    if self.depth == 1 {
                        self.own_decls.insert(None, value.clone());
                    }
                }
                Some(p) if p.as_str() == "xmlns" => {
                    self.head.declared.push(Some(name.clone()));
                    if self.depth == 1 {
                        self.own_decls
                            .insert(Some(name.as_str().to_owned()), value.clone());
                    }
                }
                _ => self.head.attributes += 1,
            },
            RawEvent::ElementHeadClose(_) => return self.close_head(ev).map(|()| None),
            RawEvent::ElementFoot(_) => {
                self.builder.process_event(ev).map_err(tree_error)?;
                self.depth -= 1;
                if self.default_decls.pop() == Some(true) {
                    self.defaults_in_scope -= 1;
                }
                if self.depth == 0 {
                    return self.finish().map(Some);
                }
                return Ok(None);
            }
            RawEvent::Text(..) => {}
        }
        self.builder.process_event(ev).map_err(tree_error)?;
        Ok(None)
    }

    fn close_head(&mut self, ev: RawEvent) -> Result<(), FramingError> {
        let declared = &mut self.head.declared;
        declared.sort_unstable();
        if declared.windows(2).any(|w| w[0] == w[1]) {
            return Err(FramingError::NotWellFormed(
                "namespace declared twice on one element".into(),
            ));
        }
        let default_in_scope =
            self.inherited_default || self.defaults_in_scope > 0 || self.head.declares_default;
        if !self.head.prefixed && !default_in_scope {
            return Err(FramingError::InvalidNamespace(
                "element without a namespace".into(),
            ));
        }
        self.builder.process_event(ev).map_err(tree_error)?;
        let kept = self.builder.top().map_or(0, |el| el.attrs().len());
        if kept != self.head.attributes {
            return Err(FramingError::NotWellFormed("duplicate attribute".into()));
        }
        self.default_decls.push(self.head.declares_default);
        if self.head.declares_default {
            self.defaults_in_scope += 1;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Element, FramingError> {
        let mut el = self
            .builder
            .root
            .take()
            .ok_or_else(|| FramingError::NotWellFormed("element ended twice".into()))?;
        if self.strip_inherited {
            // The tree builder copies the stream header's declarations onto
            // the stanza; keep only what the stanza itself declared.
            el.prefixes = std::mem::take(&mut self.own_decls).into();
        }
        Ok(el)
    }
}

/// Map a tree builder error: its only semantic failure is an unbound prefix.
fn tree_error(e: minidom::Error) -> FramingError {
    match e {
        minidom::Error::MissingNamespace => {
            FramingError::NotWellFormed("namespace prefix not declared".into())
        }
        other => FramingError::NotWellFormed(other.to_string()),
    }
}

/// Parse one complete, standalone element (RFC 7395 WebSocket frames: each
/// WebSocket text message is one element such as
/// `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' .../>`, a stanza, or
/// `<close/>`), with the same guards as [`crate::StreamParser`]. An XML
/// declaration (after an optional UTF-8 byte order mark) and surrounding
/// whitespace are allowed; anything else around
/// the element is an error.
pub fn parse_element(data: &[u8], limits: &Limits) -> Result<Element, FramingError> {
    if data.len() > limits.max_stanza_bytes {
        return Err(FramingError::StanzaTooLarge {
            limit: limits.max_stanza_bytes,
        });
    }
    let mut driver = Driver::new(limits);
    let mut guard = ElementGuard::new(limits, None);
    let mut input = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let mut root = None;
    loop {
        match driver.next(&mut input, true)? {
            Pulled::Event(ev) => {
                if let Some(el) = guard.process(ev)? {
                    root = Some(el);
                }
            }
            Pulled::Eof => break,
            Pulled::NeedMoreData => {
                return Err(FramingError::NotWellFormed("incomplete element".into()))
            }
        }
    }
    root.ok_or_else(|| FramingError::NotWellFormed("no element".into()))
}
