//! Incremental framing of an XMPP stream (RFC 6120 §4) into events.

use minidom::Element;
use rxml::{NcName, RawEvent};

use crate::guard::{Declarations, Driver, ElementGuard, Pulled};
use crate::{FramingError, Limits, NS_STREAMS};

/// Attributes of a received `<stream:stream>` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamHeader {
    /// The `to` attribute.
    pub to: Option<String>,
    /// The `from` attribute.
    pub from: Option<String>,
    /// The `id` attribute.
    pub id: Option<String>,
    /// The `version` attribute.
    pub version: Option<String>,
    /// The `xml:lang` attribute.
    pub lang: Option<String>,
    /// The default namespace declared on the root, e.g. `jabber:client`.
    pub default_ns: Option<String>,
    /// Whether the root element is `stream` in the namespace
    /// `http://etherx.jabber.org/streams` (whatever prefix is bound to it).
    /// When false the receiver should send `invalid-namespace`.
    pub stream_ns_ok: bool,
}

/// What [`StreamParser::next_event`] produced.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// The stream header was read.
    Start(StreamHeader),
    /// A complete stanza (any depth-1 child of the stream root, including
    /// `<stream:features/>` and `<stream:error/>`), with namespaces
    /// inherited from the header resolved.
    Stanza(Element),
    /// The closing `</stream:stream>` was read.
    End,
}

/// Where in the stream the parser is.
enum State {
    /// Before the root element (an XML declaration may come).
    Prolog { bytes: usize },
    /// Reading the root element's head.
    Header(HeaderBuilder),
    /// Inside the root, between stanzas.
    Open,
    /// Inside a stanza.
    Stanza(Box<ElementGuard>),
    /// The root element was closed.
    Closed,
    /// An error was returned; it is returned again.
    Failed(FramingError),
}

/// An incremental XMPP stream parser: feed bytes, take events.
pub struct StreamParser {
    limits: Limits,
    driver: Driver,
    buf: Vec<u8>,
    pos: usize,
    state: State,
    /// Namespace declarations of the stream header, inherited by stanzas.
    /// A plain boxed slice, not a map: every connected session keeps it, and
    /// a `BTreeMap` node for two entries is over 500 bytes.
    decls: Box<[(Option<String>, String)]>,
    /// An event to return before parsing further (the end of a self-closed root).
    queued: Option<StreamEvent>,
    /// Whether a leading byte order mark was looked for.
    bom_checked: bool,
    /// Whether the first byte after the mark and any white space was seen
    /// to be `<`.
    start_checked: bool,
}

/// The UTF-8 byte order mark, allowed before the XML declaration.
const BOM: &[u8] = b"\xef\xbb\xbf";

impl StreamParser {
    /// A parser waiting for a stream header.
    pub fn new(limits: Limits) -> Self {
        StreamParser {
            limits,
            driver: Driver::new(&limits),
            buf: Vec::new(),
            pos: 0,
            state: State::Prolog { bytes: 0 },
            decls: Box::default(),
            queued: None,
            bom_checked: false,
            start_checked: false,
        }
    }

    /// Append received bytes (may be any split, even mid UTF-8 sequence).
    pub fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Next complete event, `Ok(None)` if more data is needed. After an
    /// `Err` the parser is unusable: it returns the same error again.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, FramingError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.step() {
            Ok(ev) => Ok(ev),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Forget everything (used after STARTTLS and SASL success, when the
    /// stream restarts).
    pub fn reset(&mut self) {
        *self = StreamParser::new(self.limits);
    }

    /// Bytes buffered but not yet consumed (for memory accounting).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The limits this parser enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn step(&mut self) -> Result<Option<StreamEvent>, FramingError> {
        if let Some(ev) = self.queued.take() {
            return Ok(Some(ev));
        }
        if !self.bom_checked {
            let pending = &self.buf[self.pos..];
            if pending.len() < BOM.len() && BOM.starts_with(pending) {
                return Ok(None);
            }
            if pending.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.bom_checked = true;
        }
        if !self.start_checked {
            // An HTTP request or a line of text would otherwise be taken
            // for the start of a long prolog, and the stream would wait
            // for more until the authentication timeout.
            let first = self.buf[self.pos..]
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
            match first {
                None => {}
                Some(b'<') => self.start_checked = true,
                Some(_) => {
                    return Err(FramingError::NotWellFormed(
                        "the stream does not start with XML".into(),
                    ))
                }
            }
        }
        loop {
            if matches!(self.state, State::Closed) {
                // Whatever follows the end of the stream is not read.
                self.buf.clear();
                self.pos = 0;
                return Ok(None);
            }
            let mut input = &self.buf[self.pos..];
            let before = input.len();
            let pulled = self.driver.next(&mut input, false);
            self.pos += before - input.len();
            if self.pos == self.buf.len() {
                self.buf.clear();
                self.pos = 0;
            }
            match pulled? {
                Pulled::Event(ev) => {
                    if let Some(out) = self.handle(ev)? {
                        return Ok(Some(out));
                    }
                }
                Pulled::NeedMoreData | Pulled::Eof => {
                    self.check_pending()?;
                    self.release_idle_buffers();
                    return Ok(None);
                }
            }
        }
    }

    /// Between stanzas, with every received byte consumed, give back the
    /// input buffer and the XML lexer's token buffer (which rxml reserves at
    /// the token limit): an idle session then holds neither. The next read
    /// allocates them again, which costs far less than keeping them for
    /// every connected client.
    fn release_idle_buffers(&mut self) {
        if self.pos == self.buf.len() {
            self.buf = Vec::new();
            self.pos = 0;
        }
        if matches!(self.state, State::Open | State::Closed) {
            self.driver.release_temporaries();
        }
    }

    /// Refuse a stanza or header whose unfinished token already exceeds the limit.
    fn check_pending(&self) -> Result<(), FramingError> {
        let pending = self.driver.since_event;
        let bytes = match &self.state {
            State::Stanza(guard) => return guard.check_pending(pending),
            State::Prolog { bytes } => *bytes,
            State::Header(h) => h.bytes,
            _ => return Ok(()),
        };
        header_size(bytes.saturating_add(pending), &self.limits)
    }

    fn handle(&mut self, ev: RawEvent) -> Result<Option<StreamEvent>, FramingError> {
        match &mut self.state {
            State::Prolog { bytes } => {
                let bytes = bytes.saturating_add(ev.metrics().len());
                header_size(bytes, &self.limits)?;
                match ev {
                    RawEvent::XmlDeclaration(..) => self.state = State::Prolog { bytes },
                    RawEvent::ElementHeadOpen(_, name) => {
                        self.state = State::Header(HeaderBuilder::new(name, bytes));
                    }
                    _ => return Err(unexpected()),
                }
                Ok(None)
            }
            State::Header(h) => {
                h.bytes = h.bytes.saturating_add(ev.metrics().len());
                let bytes = h.bytes;
                header_size(bytes, &self.limits)?;
                match ev {
                    RawEvent::Attribute(_, name, value) => {
                        h.attributes.push((name, value));
                        Ok(None)
                    }
                    RawEvent::ElementHeadClose(_) => {
                        let State::Header(h) = std::mem::replace(&mut self.state, State::Open)
                        else {
                            unreachable!("in header state")
                        };
                        let (header, decls) = h.finish()?;
                        self.decls = decls.into_iter().collect();
                        Ok(Some(StreamEvent::Start(header)))
                    }
                    _ => Err(unexpected()),
                }
            }
            State::Open => match ev {
                RawEvent::Text(_, text) => {
                    if text
                        .bytes()
                        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                    {
                        Ok(None)
                    } else {
                        Err(FramingError::BadFormat("text between stanzas".into()))
                    }
                }
                RawEvent::ElementHeadOpen(..) => {
                    let mut guard = Box::new(ElementGuard::new(
                        &self.limits,
                        Some(self.decls.iter().cloned().collect()),
                    ));
                    guard.process(ev)?;
                    self.state = State::Stanza(guard);
                    Ok(None)
                }
                RawEvent::ElementFoot(_) => {
                    self.state = State::Closed;
                    Ok(Some(StreamEvent::End))
                }
                _ => Err(unexpected()),
            },
            State::Stanza(guard) => match guard.process(ev)? {
                Some(el) => {
                    self.state = State::Open;
                    Ok(Some(StreamEvent::Stanza(el)))
                }
                None => Ok(None),
            },
            State::Closed | State::Failed(_) => Ok(None),
        }
    }
}

/// Refuse a stream header larger than a stanza may be.
fn header_size(bytes: usize, limits: &Limits) -> Result<(), FramingError> {
    if bytes > limits.max_stanza_bytes {
        return Err(FramingError::StanzaTooLarge {
            limit: limits.max_stanza_bytes,
        });
    }
    Ok(())
}

fn unexpected() -> FramingError {
    FramingError::NotWellFormed("unexpected XML event".into())
}

/// The root element's head, collected until it is complete.
struct HeaderBuilder {
    name: (Option<NcName>, NcName),
    attributes: Vec<((Option<NcName>, NcName), String)>,
    bytes: usize,
}

impl HeaderBuilder {
    fn new(name: (Option<NcName>, NcName), bytes: usize) -> Self {
        HeaderBuilder {
            name,
            attributes: Vec::new(),
            bytes,
        }
    }

    /// Resolve namespaces and read the XMPP attributes.
    fn finish(self) -> Result<(StreamHeader, Declarations), FramingError> {
        let mut names: Vec<&(Option<NcName>, NcName)> =
            self.attributes.iter().map(|(n, _)| n).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(FramingError::NotWellFormed("duplicate attribute".into()));
        }

        let mut decls = Declarations::new();
        for ((prefix, local), value) in &self.attributes {
            match prefix {
                None if local.as_str() == "xmlns" => {
                    decls.insert(None, value.clone());
                }
                Some(p) if p.as_str() == "xmlns" => {
                    decls.insert(Some(local.as_str().to_owned()), value.clone());
                }
                _ => {}
            }
        }
        let bound = |prefix: &NcName| {
            prefix.as_str() == "xml"
                || prefix.as_str() == "xmlns"
                || decls.contains_key(&Some(prefix.as_str().to_owned()))
        };

        let mut header = StreamHeader {
            default_ns: decls.get(&None).cloned(),
            ..StreamHeader::default()
        };
        for ((prefix, local), value) in self.attributes {
            match (prefix.as_ref().map(NcName::as_str), local.as_str()) {
                (None, "to") => header.to = Some(value),
                (None, "from") => header.from = Some(value),
                (None, "id") => header.id = Some(value),
                (None, "version") => header.version = Some(value),
                (Some("xml"), "lang") => header.lang = Some(value),
                (Some(_), _) if !bound(prefix.as_ref().expect("prefixed")) => {
                    return Err(FramingError::NotWellFormed(
                        "attribute prefix not declared".into(),
                    ))
                }
                _ => {}
            }
        }

        let (prefix, local) = &self.name;
        let ns = match prefix {
            Some(p) => Some(
                decls
                    .get(&Some(p.as_str().to_owned()))
                    .ok_or_else(|| {
                        FramingError::NotWellFormed("stream prefix not declared".into())
                    })?
                    .as_str(),
            ),
            None => decls.get(&None).map(String::as_str),
        };
        header.stream_ns_ok = local.as_str() == "stream" && ns == Some(NS_STREAMS);
        Ok((header, decls))
    }
}
