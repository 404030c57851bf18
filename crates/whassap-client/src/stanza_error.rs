//! An error stanza's content (RFC 6120 §8.3), as a typed error.

use minidom::Element;

pub(crate) const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// What a server or an addressee said when it refused a stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StanzaError {
    /// The error type: `cancel`, `modify`, `auth`, `wait` or `continue`.
    pub kind: String,
    /// The defined condition, e.g. `item-not-found` or `forbidden`.
    pub condition: String,
    /// The human-readable `<text/>`, if any.
    pub text: Option<String>,
}

impl StanzaError {
    /// The error carried by an `iq`, `message` or `presence` of type
    /// `error`; `undefined-condition` if it names none.
    pub fn from_stanza(stanza: &Element) -> StanzaError {
        let error = stanza.children().find(|c| c.name() == "error");
        let condition = error
            .and_then(|e| {
                e.children()
                    .find(|c| c.has_ns(NS_STANZAS) && c.name() != "text")
            })
            .map_or_else(|| "undefined-condition".to_owned(), |c| c.name().to_owned());
        StanzaError {
            kind: error
                .and_then(|e| e.attr("type"))
                .unwrap_or("cancel")
                .to_owned(),
            condition,
            text: error
                .and_then(|e| e.get_child("text", NS_STANZAS))
                .map(Element::text),
        }
    }
}

impl std::fmt::Display for StanzaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {} ({})", self.condition, self.kind)?;
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_type_and_text_are_read() {
        let iq: Element = "<iq xmlns='jabber:client' type='error'><error type='auth'>\
            <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>not yours</text></error></iq>"
            .parse()
            .unwrap();
        let e = StanzaError::from_stanza(&iq);
        assert_eq!(e.condition, "forbidden");
        assert_eq!(e.kind, "auth");
        assert_eq!(e.text.as_deref(), Some("not yours"));
        assert_eq!(e.to_string(), "refused: forbidden (auth): not yours");
        let bare: Element = "<iq xmlns='jabber:client' type='error'/>".parse().unwrap();
        assert_eq!(
            StanzaError::from_stanza(&bare).condition,
            "undefined-condition"
        );
    }
}
