//! The XEP-0277 Atom entry of a status, exactly as SPEC §4 shows it, and
//! the text of an entry a client published.

use minidom::{Element, Node};
use whassap_proto::ns;

use super::Status;
use crate::stanza::{element, text_element};

/// The canonical entry of a status, published on the author's microblog
/// node and on the firehose.
pub fn atom_entry(status: &Status, domain: &str) -> Element {
    let date = status.created_at.get(..10).unwrap_or(&status.created_at);
    let mut entry = Element::bare("entry", ns::ATOM);
    let mut title = element("title", ns::ATOM, &[("type", "text")]);
    title.append_text(&status.text);
    entry.append_child(title);
    entry.append_child(text_element(
        "id",
        ns::ATOM,
        &format!("tag:{domain},{date}:status/{}", status.id),
    ));
    entry.append_child(text_element("published", ns::ATOM, &status.created_at));
    entry.append_child(text_element("updated", ns::ATOM, &status.created_at));
    let mut author = Element::bare("author", ns::ATOM);
    author.append_child(text_element("name", ns::ATOM, &status.author.display_name));
    author.append_child(text_element(
        "uri",
        ns::ATOM,
        &format!("xmpp:{}", status.author.jid),
    ));
    entry.append_child(author);
    entry.append_child(element(
        "link",
        ns::ATOM,
        &[
            ("rel", "alternate"),
            ("type", "text/html"),
            ("href", &status.url),
        ],
    ));
    entry
}

/// The status text of an Atom entry a client published: its `title` (all
/// of its text, should it hold XHTML). None without a title.
pub fn entry_text(entry: &Element) -> Option<String> {
    let title = entry.get_child("title", ns::ATOM)?;
    let mut out = String::new();
    collect_text(title, &mut out);
    Some(out)
}

fn collect_text(el: &Element, out: &mut String) {
    for node in el.nodes() {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element(e) => collect_text(e, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statuses::{Author, Source};

    #[test]
    fn the_entry_is_the_canonical_one() {
        let s = Status {
            id: "01JD3Q0T6ZC8W2XQ4Y7M3N1K9B".into(),
            author: Author {
                username: "alice".into(),
                jid: "alice@localhost".into(),
                display_name: "Alice".into(),
            },
            text: "at the pub & <more>".into(),
            source: Source::Api,
            created_at: "2026-11-24T19:00:00Z".into(),
            url: "http://localhost:3000/alice/statuses/01JD3Q0T6ZC8W2XQ4Y7M3N1K9B".into(),
            item_id: "01JD3Q0T6ZC8W2XQ4Y7M3N1K9B".into(),
        };
        let e = atom_entry(&s, "localhost");
        let xml = String::from_utf8(whassap_xml::to_bytes(&e).to_vec()).unwrap();
        for part in [
            "<title type=\"text\">at the pub &amp; &lt;more&gt;</title>",
            "<id>tag:localhost,2026-11-24:status/01JD3Q0T6ZC8W2XQ4Y7M3N1K9B</id>",
            "<published>2026-11-24T19:00:00Z</published>",
            "<updated>2026-11-24T19:00:00Z</updated>",
            "<author><name>Alice</name><uri>xmpp:alice@localhost</uri></author>",
            "href=\"http://localhost:3000/alice/statuses/01JD3Q0T6ZC8W2XQ4Y7M3N1K9B\"",
            "rel=\"alternate\"",
        ] {
            let alt = part.replace('"', "'");
            assert!(xml.contains(part) || xml.contains(&alt), "{part} in {xml}");
        }
        assert_eq!(entry_text(&e).as_deref(), Some("at the pub & <more>"));
    }

    #[test]
    fn xhtml_titles_give_their_text() {
        let e: Element = "<entry xmlns='http://www.w3.org/2005/Atom'><title type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>hi <b>there</b></div></title></entry>".parse().unwrap();
        assert_eq!(entry_text(&e).as_deref(), Some("hi there"));
        let none: Element = "<entry xmlns='http://www.w3.org/2005/Atom'/>"
            .parse()
            .unwrap();
        assert_eq!(entry_text(&none), None);
    }
}
