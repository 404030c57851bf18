//! Arbitrary bytes into the stream framer and the standalone element parser.
//!
//! The first input byte chooses the chunk size (1 to 64 bytes) in which the
//! rest is fed to a `StreamParser`, so the same document is also exercised
//! split at many different offsets. Small limits make the depth and size
//! guards easy to reach. Every stanza that parses must serialise with
//! `to_bytes` into XML that parses back to an equal element.

#![no_main]

use libfuzzer_sys::fuzz_target;
use whassap_xml::{parse_element, to_bytes, Element, Limits, StreamEvent, StreamParser};

const LIMITS: Limits = Limits {
    max_stanza_bytes: 4096,
    max_depth: 16,
};

/// Serialised output may be longer than the input (escaping, declarations),
/// but never deeper.
const ROUND_TRIP: Limits = Limits {
    max_stanza_bytes: 1 << 20,
    max_depth: 16,
};

fn round_trip(el: &Element) {
    let bytes = to_bytes(el);
    match parse_element(&bytes, &ROUND_TRIP) {
        Ok(back) => assert_eq!(
            &back,
            el,
            "round trip changed {}",
            String::from_utf8_lossy(&bytes)
        ),
        Err(e) => panic!(
            "to_bytes wrote unparseable XML ({e}): {}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;

    let mut parser = StreamParser::new(LIMITS);
    'feed: for piece in rest.chunks(chunk) {
        parser.feed(piece);
        loop {
            match parser.next_event() {
                Ok(Some(StreamEvent::Stanza(el))) => round_trip(&el),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    // Every error has a stream error condition, and stays.
                    assert!(!e.condition().is_empty());
                    assert_eq!(parser.next_event(), Err(e));
                    break 'feed;
                }
            }
        }
        // Everything fed was consumed, except at most the start of a
        // byte order mark that is still being looked for.
        assert!(
            parser.buffered() <= 2,
            "{} bytes left buffered",
            parser.buffered()
        );
    }

    if let Ok(el) = parse_element(rest, &LIMITS) {
        round_trip(&el);
    }
});
