//! Serialisation and standalone element parsing.

use minidom::Element;
use whassap_xml::{
    parse_element, rewrite_namespace, to_bytes, FramingError, Limits, StreamEvent, StreamParser,
};

/// Parse `body` as the stanzas of a jabber:client stream.
fn stream_stanzas(body: &str) -> Vec<Element> {
    let mut p = StreamParser::new(Limits::default());
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(body.as_bytes());
    let mut out = Vec::new();
    while let Some(ev) = p.next_event().expect("valid stream") {
        if let StreamEvent::Stanza(el) = ev {
            out.push(el);
        }
    }
    out
}

fn text(el: &Element) -> String {
    String::from_utf8(to_bytes(el).to_vec()).unwrap()
}

#[test]
fn stanza_from_a_stream_serialises_without_stream_declarations() {
    let msg = &stream_stanzas("<message to='b@l'><body>hi</body></message>")[0];
    assert_eq!(
        text(msg),
        "<message xmlns='jabber:client' to='b@l'><body>hi</body></message>"
    );
}

#[test]
fn stream_elements_keep_the_stream_prefix() {
    let f = &stream_stanzas(
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>\
         </stream:features>",
    )[0];
    assert_eq!(
        text(f),
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
         <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
    );
}

#[test]
fn round_trip_preserves_the_element() {
    let body = "<message to='b@l/r' type='chat' id='a&apos;&quot;&lt;&gt;&amp;' xml:lang='fr'>\
        <body>l1&#xd;\nl2\t&lt;tag&gt; &amp; ]]&gt; ✓ 🦀</body>\
        <x xmlns='urn:x' xmlns:e='urn:e' e:attr='v&#xa;w' plain='p'><y/><e:z/>text<z xmlns=''/></x>\
        <active xmlns='http://jabber.org/protocol/chatstates'/>\
        </message>";
    let original = &stream_stanzas(body)[0];
    let bytes = to_bytes(original);
    let reparsed = parse_element(&bytes, &Limits::default()).expect("output parses");
    assert_eq!(&reparsed, original);
    assert_eq!(reparsed.attr("id"), Some("a'\"<>&"));
    assert_eq!(
        reparsed.get_child("body", "jabber:client").unwrap().text(),
        "l1\r\nl2\t<tag> & ]]> ✓ 🦀"
    );
    let x = reparsed.get_child("x", "urn:x").unwrap();
    assert_eq!(x.attr_ns("urn:e", "attr"), Some("v\nw"));
    assert!(x.has_child("z", "urn:e"));
    assert!(x.has_child("z", ""));
    // And it is stable: serialising the re-parsed element gives the same bytes.
    assert_eq!(to_bytes(&reparsed), bytes);
    // Through a stream too.
    let again = &stream_stanzas(std::str::from_utf8(&bytes).unwrap())[0];
    assert_eq!(again, original);
}

#[test]
fn attribute_prefixes_do_not_clash() {
    // Two namespaced attributes whose parsed prefixes are unknown to the writer
    // (built in code), plus a child reusing one of the namespaces.
    let child = Element::builder("c", "urn:x")
        .attr_ns("urn:b".into(), "k".try_into().unwrap(), "2")
        .build();
    let el = Element::builder("e", "urn:x")
        .attr_ns("urn:a".into(), "k".try_into().unwrap(), "1")
        .attr_ns("urn:b".into(), "k".try_into().unwrap(), "2")
        .append(child)
        .build();
    let out = text(&el);
    let back = parse_element(out.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back, el, "{out}");
    assert_eq!(back.attr_ns("urn:a", "k"), Some("1"));
    assert_eq!(back.attr_ns("urn:b", "k"), Some("2"));
}

#[test]
fn xml_prefix_declaration_does_not_panic() {
    let el = &stream_stanzas(
        "<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'><body/></message>",
    )[0];
    let out = text(el);
    assert_eq!(
        parse_element(out.as_bytes(), &Limits::default()).unwrap(),
        *el
    );
}

#[test]
fn code_built_control_characters_stay_well_formed() {
    let el = Element::builder("body", "jabber:client")
        .append("a\u{0}b")
        .build();
    let out = text(&el);
    let back = parse_element(out.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(back.text(), "a\u{fffd}b");
}

#[test]
fn rewrite_namespace_switches_only_that_namespace() {
    let el =
        &stream_stanzas("<message to='a@b'><body>x</body><x xmlns='urn:x'><body/></x></message>")
            [0];
    let server = rewrite_namespace(el.clone(), "jabber:client", "jabber:server");
    assert!(server.is("message", "jabber:server"));
    assert_eq!(server.attr("to"), Some("a@b"));
    assert_eq!(
        server.get_child("body", "jabber:server").unwrap().text(),
        "x"
    );
    assert!(server
        .get_child("x", "urn:x")
        .unwrap()
        .has_child("body", "urn:x"));
    assert_eq!(
        rewrite_namespace(server, "jabber:server", "jabber:client"),
        *el
    );
}

#[test]
fn parse_element_websocket_frames() {
    let limits = Limits::default();
    let open = parse_element(
        b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
        &limits,
    )
    .unwrap();
    assert!(open.is("open", "urn:ietf:params:xml:ns:xmpp-framing"));
    assert_eq!(open.attr("to"), Some("localhost"));
    let with_decl = parse_element(b"<?xml version='1.0'?>\n<close xmlns='urn:x'/>\n", &limits);
    assert!(with_decl.is_ok());

    let err = |data: &[u8]| parse_element(data, &limits).unwrap_err();
    assert_eq!(err(b"<message/>").condition(), "invalid-namespace");
    assert_eq!(
        err(b"<a xmlns='x'/><b xmlns='x'/>").condition(),
        "not-well-formed"
    );
    assert_eq!(err(b"<a xmlns='x'>").condition(), "not-well-formed");
    assert_eq!(err(b"").condition(), "not-well-formed");
    assert_eq!(
        err(b"<a xmlns='x'><!-- c --></a>").condition(),
        "restricted-xml"
    );
    assert_eq!(
        err(b"<!DOCTYPE a><a xmlns='x'/>").condition(),
        "restricted-xml"
    );
    assert_eq!(
        err(b"<a xmlns='x'>\xff</a>").condition(),
        "unsupported-encoding"
    );
    let deep = format!("<a xmlns='x'>{}", "<a>".repeat(10_000));
    assert!(matches!(
        err(deep.as_bytes()),
        FramingError::TooDeep { limit: 64 }
    ));
    let small = Limits {
        max_stanza_bytes: 10,
        ..limits
    };
    assert_eq!(
        parse_element(b"<a xmlns='x'>0123456789</a>", &small).unwrap_err(),
        FramingError::StanzaTooLarge { limit: 10 }
    );
}
