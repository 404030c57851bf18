//! StreamParser behaviour through the public API.

use whassap_xml::{FramingError, Limits, StreamEvent, StreamHeader, StreamParser};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='localhost' from='alice@localhost' \
    version='1.0' xml:lang='en' id='s1'>";

/// Feed `chunks` one by one, draining events after each; stop at the first error.
fn run(limits: Limits, chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<FramingError>) {
    let mut p = StreamParser::new(limits);
    let mut events = Vec::new();
    for chunk in chunks {
        p.feed(chunk);
        loop {
            match p.next_event() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn run_all(data: &[u8]) -> (Vec<StreamEvent>, Option<FramingError>) {
    run(Limits::default(), &[data])
}

fn error_of(data: &[u8]) -> FramingError {
    match run_all(data) {
        (_, Some(e)) => e,
        (events, None) => panic!("no error; events {events:?}"),
    }
}

fn stream(body: &str) -> Vec<u8> {
    format!("{HEADER}{body}").into_bytes()
}

fn stanzas(events: &[StreamEvent]) -> Vec<&minidom::Element> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Stanza(el) => Some(el),
            _ => None,
        })
        .collect()
}

#[test]
fn header_stanzas_and_end() {
    let data = stream(
        "<message to='bob@localhost' type='chat'><body>hi &amp; bye</body></message>\
         <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>\
         </stream:stream>",
    );
    let (events, err) = run_all(&data);
    assert_eq!(err, None);
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[0],
        StreamEvent::Start(StreamHeader {
            to: Some("localhost".into()),
            from: Some("alice@localhost".into()),
            id: Some("s1".into()),
            version: Some("1.0".into()),
            lang: Some("en".into()),
            default_ns: Some("jabber:client".into()),
            stream_ns_ok: true,
        })
    );
    let StreamEvent::Stanza(msg) = &events[1] else {
        panic!()
    };
    assert!(msg.is("message", "jabber:client"));
    assert_eq!(msg.attr("to"), Some("bob@localhost"));
    assert_eq!(
        msg.get_child("body", "jabber:client").unwrap().text(),
        "hi & bye"
    );
    let StreamEvent::Stanza(features) = &events[2] else {
        panic!()
    };
    assert!(features.is("features", "http://etherx.jabber.org/streams"));
    assert!(features.has_child("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
    assert_eq!(events[3], StreamEvent::End);
}

#[test]
fn stanzas_keep_only_their_own_namespace_declarations() {
    let (events, err) = run_all(&stream("<iq xmlns:x='urn:x' type='get' id='1'><x:q/></iq>"));
    assert_eq!(err, None);
    let iq = stanzas(&events)[0];
    let declared: Vec<_> = iq.prefixes.declared_prefixes().iter().collect();
    assert_eq!(
        declared,
        vec![(&Some("x".to_string()), &"urn:x".to_string())]
    );
    assert!(iq.has_child("q", "urn:x"));
}

#[test]
fn any_split_gives_the_same_events() {
    let data = stream(
        "\n <presence/> <message to='b@l/ü' id='m&lt;1'><body>héllo ✓ 🦀 <![CDATA[a<b]]></body>\
         <x xmlns='urn:x' a='1'/></message><iq type='get' id='2'><ping xmlns='urn:xmpp:ping'/></iq>\
         </stream:stream>",
    );
    let (expected, err) = run_all(&data);
    assert_eq!(err, None);
    assert_eq!(stanzas(&expected).len(), 3);
    assert_eq!(expected.last(), Some(&StreamEvent::End));
    for at in 0..=data.len() {
        let (events, err) = run(Limits::default(), &[&data[..at], &data[at..]]);
        assert_eq!(err, None, "split at {at}");
        assert_eq!(events, expected, "split at {at}");
    }
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    let (events, err) = run(Limits::default(), &bytes);
    assert_eq!(err, None, "byte by byte");
    assert_eq!(events, expected, "byte by byte");
}

#[test]
fn whitespace_keepalives_are_ignored() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Start(_)))));
    for _ in 0..3 {
        p.feed(b" \n\t\r\n ");
        assert_eq!(p.next_event(), Ok(None));
    }
    p.feed(b"<presence/>  ");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(el))) if el.name() == "presence"));
    assert_eq!(p.next_event(), Ok(None));
}

#[test]
fn text_between_stanzas_is_bad_format() {
    let e = error_of(&stream("<presence/>hello<presence/>"));
    assert_eq!(e.condition(), "bad-format");
}

fn nested(depth: usize) -> String {
    format!(
        "<message>{}{}</message>",
        "<a>".repeat(depth - 1),
        "</a>".repeat(depth - 1)
    )
}

#[test]
fn depth_limit_is_inclusive() {
    let limits = Limits {
        max_depth: 64,
        ..Limits::default()
    };
    let (events, err) = run(limits, &[&stream(&nested(64))]);
    assert_eq!(err, None);
    assert_eq!(stanzas(&events).len(), 1);
    let (_, err) = run(limits, &[&stream(&nested(65))]);
    assert_eq!(err, Some(FramingError::TooDeep { limit: 64 }));
}

#[test]
fn depth_bomb_is_refused_without_stack_overflow() {
    // 100,000 levels: far beyond what minidom survives, refused at level 65.
    let bomb = "<a>".repeat(100_000);
    let e = error_of(&stream(&format!("<message>{bomb}")));
    assert_eq!(e.condition(), "policy-violation");
    assert!(matches!(e, FramingError::TooDeep { .. }));
    // Also when it arrives in small pieces.
    let data = stream(&format!("<message>{}", "<a>".repeat(5000)));
    let chunks: Vec<&[u8]> = data.chunks(7).collect();
    let (_, err) = run(Limits::default(), &chunks);
    assert!(matches!(err, Some(FramingError::TooDeep { limit: 64 })));
}

#[test]
fn oversized_stanza_is_refused_while_it_arrives() {
    let limits = Limits {
        max_stanza_bytes: 4096,
        ..Limits::default()
    };
    let mut p = StreamParser::new(limits);
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Start(_)))));
    // 3.5 KB of stanza already read, then a text node that keeps growing: it
    // must be refused as soon as the stanza passes 4 KiB, not when rxml
    // would end the text token.
    let start = format!("<message id='{}'><body>", "i".repeat(3500));
    p.feed(start.as_bytes());
    assert_eq!(p.next_event(), Ok(None));
    let mut stanza_bytes = start.len();
    let err = loop {
        p.feed(&[b'x'; 64]);
        stanza_bytes += 64;
        assert!(
            stanza_bytes < 16 * 1024,
            "limit not enforced while the text arrives"
        );
        match p.next_event() {
            Ok(None) => continue,
            Ok(Some(ev)) => panic!("unexpected {ev:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err, FramingError::StanzaTooLarge { limit: 4096 });
    assert_eq!(err.condition(), "policy-violation");
    assert!(
        stanza_bytes <= 4096 + 64,
        "refused only after {stanza_bytes} bytes"
    );
}

#[test]
fn stanza_size_counts_whole_stanza_not_stream() {
    let limits = Limits {
        max_stanza_bytes: 200,
        ..Limits::default()
    };
    let small = format!("<message><body>{}</body></message>", "x".repeat(100));
    let many = stream(&small.repeat(20));
    let (events, err) = run(limits, &[&many]);
    assert_eq!(err, None);
    assert_eq!(stanzas(&events).len(), 20);
    let big = format!("<message><body>{}</body></message>", "x".repeat(200));
    let (_, err) = run(limits, &[&stream(&big)]);
    assert_eq!(err, Some(FramingError::StanzaTooLarge { limit: 200 }));
}

#[test]
fn long_attribute_within_limit_is_accepted_beyond_is_refused() {
    let value = "v".repeat(100 * 1024);
    let (events, err) = run_all(&stream(&format!("<message id='{value}'/>")));
    assert_eq!(err, None);
    assert_eq!(
        stanzas(&events)[0].attr("id").map(str::len),
        Some(100 * 1024)
    );
    let value = "v".repeat(300 * 1024);
    let e = error_of(&stream(&format!("<message id='{value}'/>")));
    assert_eq!(e.condition(), "policy-violation");
}

#[test]
fn oversized_header_is_refused() {
    let limits = Limits {
        max_stanza_bytes: 1024,
        ..Limits::default()
    };
    let data = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'{}>",
        (0..300).map(|i| format!(" a{i}='1'")).collect::<String>()
    );
    let (_, err) = run(limits, &[data.as_bytes()]);
    assert_eq!(err, Some(FramingError::StanzaTooLarge { limit: 1024 }));
}

#[test]
fn restricted_xml_is_refused() {
    let cases: [&[u8]; 7] = [
        b"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]><stream:stream>",
        b"<!DOCTYPE stream:stream>",
        &stream("<!ENTITY lol 'lol'>"),
        &stream("<message><!ENTITY lol 'lol'></message>"),
        &stream("<?pi data?>"),
        &stream("<message><!-- comment --></message>"),
        &stream("<message><body>&lol;</body></message>"),
    ];
    for data in cases {
        let e = error_of(data);
        assert_eq!(
            e.condition(),
            "restricted-xml",
            "{}: {e}",
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn doctype_split_across_feeds_is_still_restricted() {
    let data = stream("<!DOCTYPE x>");
    let at = data.len() - "!DOCTYPE x>".len();
    let (_, err) = run(
        Limits::default(),
        &[&data[..at], &data[at..at + 1], &data[at + 1..]],
    );
    assert_eq!(err.map(|e| e.condition()), Some("restricted-xml"));
}

#[test]
fn invalid_utf8_is_unsupported_encoding() {
    let mut data = stream("<message><body>");
    data.extend_from_slice(&[0xc3, 0x28]);
    data.extend_from_slice(b"</body></message>");
    assert_eq!(error_of(&data).condition(), "unsupported-encoding");
    let mut data = stream("<message to='");
    data.extend_from_slice(&[0xff]);
    data.extend_from_slice(b"'/>");
    assert_eq!(error_of(&data).condition(), "unsupported-encoding");
    let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>";
    assert_eq!(error_of(latin1).condition(), "unsupported-encoding");
}

#[test]
fn malformed_xml_is_not_well_formed() {
    for body in [
        "<message><body>oops</message>",
        "<message to='a' to='b'/>",
        "<message xmlns:p='urn:a' xmlns:q='urn:a' p:x='1' q:x='2'/>",
        "<message xmlns:p='urn:a' xmlns:p='urn:b'/>",
        "<message><p:x/></message>",
        "<message p:a='1'/>",
        "<message>\u{1}</message>",
        "<message><body></message></body>",
        "<message a='<'/>",
    ] {
        let (_, err) = run_all(&stream(body));
        let err = err.unwrap_or_else(|| panic!("{body} accepted"));
        assert_eq!(err.condition(), "not-well-formed", "{body}: {err}");
    }
}

#[test]
fn stanza_in_no_namespace_is_invalid_namespace() {
    let data = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><message/>";
    let (events, err) = run_all(data.as_bytes());
    assert!(
        matches!(&events[0], StreamEvent::Start(h) if h.default_ns.is_none() && h.stream_ns_ok)
    );
    assert_eq!(err.map(|e| e.condition()), Some("invalid-namespace"));
    // An explicit namespace on the stanza is fine.
    let data = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>\
                <message xmlns='jabber:client'><body/></message>";
    let (events, err) = run_all(data.as_bytes());
    assert_eq!(err, None);
    assert!(stanzas(&events)[0].has_child("body", "jabber:client"));
}

#[test]
fn wrong_stream_namespace_is_reported_in_the_header() {
    for root in [
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/'>",
        "<stream xmlns='jabber:client'>",
        "<stream:stream2 xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    ] {
        let (events, err) = run_all(root.as_bytes());
        assert_eq!(err, None, "{root}");
        assert!(
            matches!(&events[0], StreamEvent::Start(h) if !h.stream_ns_ok),
            "{root}"
        );
    }
    let (events, _) =
        run_all(b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:server'>");
    assert!(matches!(&events[0], StreamEvent::Start(h) if h.stream_ns_ok
        && h.default_ns.as_deref() == Some("jabber:server")));
    let e = error_of(b"<stream:stream xmlns='jabber:client'>");
    assert_eq!(e.condition(), "not-well-formed");
}

#[test]
fn self_closed_root_starts_and_ends() {
    let (events, err) =
        run_all(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>");
    assert_eq!(err, None);
    assert!(matches!(
        events[..],
        [StreamEvent::Start(_), StreamEvent::End]
    ));
}

#[test]
fn nothing_is_read_after_the_end() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(&stream("</stream:stream>"));
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Start(_)))));
    assert_eq!(p.next_event(), Ok(Some(StreamEvent::End)));
    p.feed(b"<presence/>");
    assert_eq!(p.next_event(), Ok(None));
    assert_eq!(p.buffered(), 0, "data after the end is dropped, not kept");
}

#[test]
fn errors_are_sticky() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(&stream("<a><b></a>"));
    let first = loop {
        match p.next_event() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    p.feed(b"<presence/>");
    assert_eq!(p.next_event(), Err(first));
}

#[test]
fn reset_restarts_the_stream() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    p.feed(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Start(_)))));
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    p.feed(b"<partial");
    p.reset();
    assert_eq!(p.buffered(), 0);
    // A second header (and XML declaration) would be an error without the reset.
    p.feed(HEADER.as_bytes());
    p.feed(b"<iq type='set' id='b'/>");
    assert!(
        matches!(p.next_event(), Ok(Some(StreamEvent::Start(h))) if h.id.as_deref() == Some("s1"))
    );
    assert!(
        matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(el))) if el.is("iq", "jabber:client"))
    );
}

#[test]
fn buffered_counts_unconsumed_bytes() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    p.feed(b"<presence/><presence/>");
    assert_eq!(p.buffered(), HEADER.len() + 22);
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Start(_)))));
    assert!(p.buffered() <= 22);
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert_eq!(p.next_event(), Ok(None));
    assert_eq!(p.buffered(), 0);
}

#[test]
fn utf8_byte_order_mark_is_allowed_at_the_start() {
    let mut data = vec![0xef, 0xbb, 0xbf];
    data.extend_from_slice(&stream("<presence/>"));
    for at in 0..4 {
        let (events, err) = run(Limits::default(), &[&data[..at], &data[at..]]);
        assert_eq!(err, None, "split at {at}");
        assert_eq!(stanzas(&events).len(), 1, "split at {at}");
    }
    // Not elsewhere.
    let (_, err) = run_all(&stream("\u{feff}<presence/>"));
    assert_eq!(err.map(|e| e.condition()), Some("bad-format"));
}

#[test]
fn types_can_cross_threads() {
    fn send<T: Send + 'static>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    send::<StreamParser>();
    send::<StreamEvent>();
    error::<FramingError>();
}

#[test]
fn what_is_not_xml_fails_at_its_first_byte() {
    for data in [
        &b"GET / HTTP/1.1\r\nHost: example.org\r\n"[..],
        b"hello",
        b"\xef\xbb\xbfPOST",
        b"  \r\n SSH-2.0-OpenSSH_9.2",
        b"\n{\"json\": true}",
    ] {
        // The first bytes already decide: no more data is waited for.
        assert!(
            matches!(
                run(Limits::default(), &[data]).1,
                Some(FramingError::NotWellFormed(_))
            ),
            "{data:?}"
        );
    }
    // A header that comes a byte at a time is still XML.
    let chunks: Vec<&[u8]> = HEADER.as_bytes().chunks(1).collect();
    let (events, err) = run(Limits::default(), &chunks);
    assert_eq!(err, None);
    assert!(
        matches!(events.first(), Some(StreamEvent::Start(_))),
        "{events:?}"
    );
}
