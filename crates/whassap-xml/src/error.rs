//! Framing errors and their RFC 6120 stream error conditions.

/// Why received XML was refused. Every variant is fatal for the stream.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// The data violates XML 1.0 or Namespaces in XML (unclosed or
    /// mismatched tags, unbound prefix, duplicate attribute, bad character).
    #[error("XML is not well-formed: {0}")]
    NotWellFormed(String),
    /// A feature XMPP forbids (RFC 6120 §11.1): DTD, entity declaration or
    /// reference, comment, processing instruction.
    #[error("restricted XML: {0}")]
    RestrictedXml(String),
    /// Invalid UTF-8, or an XML declaration naming another encoding.
    #[error("unsupported encoding: {0}")]
    UnsupportedEncoding(String),
    /// A stanza (or the stream header) is larger than the configured limit.
    #[error("stanza larger than {limit} bytes")]
    StanzaTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Elements are nested deeper than the configured limit.
    #[error("elements nested deeper than {limit} levels")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// An element is in no namespace at all where XMPP needs one (for
    /// example a stanza without `xmlns` in a stream without a default
    /// namespace).
    #[error("invalid namespace: {0}")]
    InvalidNamespace(String),
    /// Well-formed XML that is not a valid XMPP stream (for example text
    /// other than whitespace between stanzas).
    #[error("bad format: {0}")]
    BadFormat(String),
}

impl FramingError {
    /// RFC 6120 §4.9.3 defined condition to put in the `<stream:error/>`.
    ///
    /// Invalid UTF-8 maps to `unsupported-encoding`: RFC 6120 §11.6 says an
    /// entity that detects data in an encoding other than UTF-8 SHOULD send
    /// `<unsupported-encoding/>` (noting that some implementations send
    /// `<bad-format/>` instead).
    pub fn condition(&self) -> &'static str {
        match self {
            FramingError::NotWellFormed(_) => "not-well-formed",
            FramingError::RestrictedXml(_) => "restricted-xml",
            FramingError::UnsupportedEncoding(_) => "unsupported-encoding",
            FramingError::StanzaTooLarge { .. } | FramingError::TooDeep { .. } => {
                "policy-violation"
            }
            FramingError::InvalidNamespace(_) => "invalid-namespace",
            FramingError::BadFormat(_) => "bad-format",
        }
    }

    /// Classify an rxml error. `recent` holds the last bytes the parser
    /// consumed (oldest first), which identify markup declarations: rxml
    /// reports `<!DOCTYPE` and `<!ENTITY` only as generic syntax errors.
    pub(crate) fn from_rxml(e: rxml::Error, recent: &[u8], limit: usize) -> FramingError {
        if is_markup_declaration(recent) {
            return FramingError::RestrictedXml(
                "document type or markup declaration (<!...>)".into(),
            );
        }
        match e {
            rxml::Error::InvalidUtf8Byte(b) => {
                FramingError::UnsupportedEncoding(format!("invalid UTF-8 byte 0x{b:02x}"))
            }
            rxml::Error::UndeclaredEntity => {
                FramingError::RestrictedXml("entity reference other than the predefined".into())
            }
            // The strings below are rxml's (pinned to =0.14.0); the tests of
            // this crate fail if they change.
            rxml::Error::RestrictedXml("only utf-8 encoding is allowed") => {
                FramingError::UnsupportedEncoding(
                    "XML declaration names an encoding other than UTF-8".into(),
                )
            }
            // Token longer than max_token_length, which is set to the stanza
            // limit, or an event whose length overflows.
            rxml::Error::RestrictedXml("long name or reference" | "event too long") => {
                FramingError::StanzaTooLarge { limit }
            }
            rxml::Error::RestrictedXml(what) => FramingError::RestrictedXml(what.into()),
            other => FramingError::NotWellFormed(other.to_string()),
        }
    }
}

/// Whether the last consumed bytes are `<!` followed by a letter: the start
/// of `<!DOCTYPE`, `<!ENTITY`, `<!ELEMENT`, `<!ATTLIST` or `<!NOTATION`
/// (comments and CDATA sections continue with `-` and `[`).
fn is_markup_declaration(recent: &[u8]) -> bool {
    matches!(recent, [.., b'<', b'!', c] if c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let cases = [
            (
                FramingError::NotWellFormed(String::new()),
                "not-well-formed",
            ),
            (FramingError::RestrictedXml(String::new()), "restricted-xml"),
            (
                FramingError::UnsupportedEncoding(String::new()),
                "unsupported-encoding",
            ),
            (
                FramingError::StanzaTooLarge { limit: 1 },
                "policy-violation",
            ),
            (FramingError::TooDeep { limit: 1 }, "policy-violation"),
            (
                FramingError::InvalidNamespace(String::new()),
                "invalid-namespace",
            ),
            (FramingError::BadFormat(String::new()), "bad-format"),
        ];
        for (e, c) in cases {
            assert_eq!(e.condition(), c, "{e}");
        }
    }

    #[test]
    fn markup_declaration_detection() {
        assert!(is_markup_declaration(b"x<!D"));
        assert!(is_markup_declaration(b"<!E"));
        assert!(!is_markup_declaration(b"<!-"));
        assert!(!is_markup_declaration(b"<!["));
        assert!(!is_markup_declaration(b"!D"));
    }
}
