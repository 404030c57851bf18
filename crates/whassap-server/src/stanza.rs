//! Small helpers over `minidom::Element` for building and answering stanzas.

use minidom::Element;
use rxml::{Namespace, NcName};
use whassap_proto::ns;

fn ncname(name: &str) -> NcName {
    NcName::try_from(name).expect("attribute names used by the server are valid NCNames")
}

/// Set (or replace) an unqualified attribute.
pub fn set_attr(el: &mut Element, name: &str, value: impl Into<String>) {
    el.set_attr(Namespace::NONE, ncname(name), value.into());
}

/// Remove an unqualified attribute.
pub fn remove_attr(el: &mut Element, name: &str) {
    el.attrs_mut().remove(&Namespace::NONE, name);
}

/// An element with attributes given as pairs.
pub fn element(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, *v);
    }
    el
}

/// An element with a text child.
pub fn text_element(name: &str, ns: &str, text: &str) -> Element {
    let mut el = Element::bare(name, ns);
    el.append_text(text);
    el
}

/// Is this a stanza-level element in `jabber:client`?
pub fn is_client(el: &Element, name: &str) -> bool {
    el.is(name, ns::JABBER_CLIENT)
}

/// The `type` attribute, or `""`.
pub fn stanza_type(el: &Element) -> &str {
    el.attr("type").unwrap_or("")
}

/// An `<iq type='result'>` answering `iq`, with an optional payload.
pub fn iq_result(iq: &Element, payload: Option<Element>) -> Element {
    let mut out = element("iq", ns::JABBER_CLIENT, &[("type", "result")]);
    copy_reply_addressing(iq, &mut out);
    if let Some(p) = payload {
        out.append_child(p);
    }
    out
}

fn copy_reply_addressing(original: &Element, reply: &mut Element) {
    if let Some(id) = original.attr("id") {
        set_attr(reply, "id", id);
    }
    if let Some(from) = original.attr("from") {
        set_attr(reply, "to", from);
    }
    if let Some(to) = original.attr("to") {
        set_attr(reply, "from", to);
    }
}

/// A stanza error (RFC 6120 §8.3) answering `original`: same kind, swapped
/// addresses, `type='error'`, with `condition` of type `kind` (cancel, modify,
/// auth, wait) and optional text.
pub fn error_reply(original: &Element, kind: &str, condition: &str, text: Option<&str>) -> Element {
    let mut reply = Element::bare(original.name(), ns::JABBER_CLIENT);
    copy_reply_addressing(original, &mut reply);
    set_attr(&mut reply, "type", "error");
    reply.append_child(error_element(kind, condition, text, None));
    reply
}

/// The `<error/>` child itself, with an optional application-specific condition.
pub fn error_element(
    kind: &str,
    condition: &str,
    text: Option<&str>,
    app: Option<Element>,
) -> Element {
    let mut error = element("error", ns::JABBER_CLIENT, &[("type", kind)]);
    error.append_child(Element::bare(condition, ns::STANZAS));
    if let Some(t) = text {
        error.append_child(text_element("text", ns::STANZAS, t));
    }
    if let Some(a) = app {
        error.append_child(a);
    }
    error
}

/// The default error type of a defined condition (RFC 6120 §8.3.3).
pub fn default_error_type(condition: &str) -> &'static str {
    match condition {
        "bad-request" | "jid-malformed" | "not-acceptable" | "policy-violation" | "redirect"
        | "gone" => "modify",
        "forbidden" | "not-authorized" | "registration-required" | "subscription-required" => {
            "auth"
        }
        "resource-constraint"
        | "unexpected-request"
        | "internal-server-error"
        | "remote-server-timeout" => "wait",
        _ => "cancel",
    }
}

/// [`error_reply`] with the condition's default type.
pub fn error(original: &Element, condition: &str) -> Element {
    error_reply(original, default_error_type(condition), condition, None)
}

/// A XEP-0203 `<delay/>` child.
pub fn delay(from: &str, stamp: &str) -> Element {
    element("delay", ns::DELAY, &[("from", from), ("stamp", stamp)])
}

/// Current time as an XEP-0082 UTC timestamp with millisecond precision.
pub fn now_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// A random identifier for server-generated stanzas and stream ids.
pub fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| {
            let n = rng.gen_range(0..36u8);
            (if n < 10 { b'0' + n } else { b'a' + n - 10 }) as char
        })
        .collect()
}

/// Escape text for inclusion in XML built by hand (attributes and text).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
