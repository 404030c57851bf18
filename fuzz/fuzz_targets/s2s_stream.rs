//! Arbitrary bytes as what a peer server sends on an s2s stream: framed
//! like the s2s door frames them, the stream header checked with
//! `whassap_proto::s2s::check_header`, every element classified with
//! `classify` (dialback requests, SASL EXTERNAL, STARTTLS, stanzas), and
//! every dialback key checked against a secret.
//!
//! Besides "no panic, no hang, bounded memory", it checks properties: a
//! classified dialback element never names one of this server's domains
//! as its `from` nor another server's as its `to`, and an EXTERNAL
//! authzid, when decoded, is a domain.

#![no_main]

use libfuzzer_sys::fuzz_target;
use whassap_proto::dialback;
use whassap_proto::s2s::{check_header, classify, is_domain, AuthzId, PeerElement};
use whassap_xml::{rewrite_namespace, Limits, StreamEvent, StreamParser};

const LIMITS: Limits = Limits {
    max_stanza_bytes: 4096,
    max_depth: 16,
};

fn local(d: &str) -> bool {
    d == "a.example" || d == "pubsub.a.example"
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;
    let mut parser = StreamParser::new(LIMITS);
    for piece in rest.chunks(chunk) {
        parser.feed(piece);
        loop {
            match parser.next_event() {
                Ok(Some(StreamEvent::Start(h))) => {
                    let _ = check_header(
                        h.stream_ns_ok,
                        h.default_ns.as_deref(),
                        h.from.as_deref(),
                        h.to.as_deref(),
                        local,
                    );
                }
                Ok(Some(StreamEvent::Stanza(el))) => {
                    let el = if el.ns() == "jabber:server" {
                        rewrite_namespace(el, "jabber:server", "jabber:client")
                    } else {
                        el
                    };
                    match classify(&el, local) {
                        Ok(PeerElement::DialbackResult { from, to, key }) => {
                            assert!(!local(&from) && local(&to));
                            let _ = dialback::is_valid(b"secret", &to, &from, "id", &key);
                        }
                        Ok(PeerElement::DialbackVerify { from, to, id, key }) => {
                            assert!(!local(&from) && local(&to));
                            let _ = dialback::is_valid(b"secret", &from, &to, &id, &key);
                        }
                        Ok(PeerElement::Auth {
                            authzid: AuthzId::Domain(d),
                            ..
                        }) => assert!(is_domain(&d)),
                        _ => {}
                    }
                }
                Ok(Some(StreamEvent::End)) | Ok(None) | Err(_) => break,
            }
        }
    }
});
