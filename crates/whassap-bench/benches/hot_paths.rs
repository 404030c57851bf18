//! Micro-benchmarks of the hot paths (divan): stream framing, SCRAM
//! verification, fan-out serialisation and queueing, and the session
//! lookups of routing. `cargo bench -p whassap-bench`.

use std::sync::Arc;

use whassap_proto::scram::{Hash, ScramClient, ScramServer, StoredCredentials};
use whassap_server::pubsub::notify::{items_event, Notification};
use whassap_server::registry::{Registry, SessionHandle};
use whassap_xml::{Limits, StreamEvent, StreamParser};

fn main() {
    divan::main();
}

/// 100 chat messages as they arrive on a stream, after the header.
fn hundred_messages() -> Vec<u8> {
    let mut s = String::from("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>");
    for i in 0..100 {
        s.push_str(&format!("<message to='bob@localhost' type='chat' id='m{i}'><body>hello number {i}, how are you?</body></message>"));
    }
    s.into_bytes()
}

#[divan::bench]
fn framing_100_messages(bencher: divan::Bencher) {
    let input = hundred_messages();
    bencher.bench_local(|| {
        let mut p = StreamParser::new(Limits::default());
        p.feed(&input);
        let mut n = 0;
        while let Ok(Some(ev)) = p.next_event() {
            if matches!(ev, StreamEvent::Stanza(_)) {
                n += 1;
            }
        }
        assert_eq!(n, 100);
    });
}

#[divan::bench]
fn scram_sha1_server_verification(bencher: divan::Bencher) {
    // The client side's PBKDF2 is cached, as the load generator does: this
    // measures what the server does for one login.
    let creds = StoredCredentials::generate(Hash::Sha1, "password", 4096);
    let mut warm = ScramClient::new(Hash::Sha1, "alice", "password");
    let mut server = ScramServer::new(Hash::Sha1);
    server.handle_client_first(&warm.client_first()).unwrap();
    let first = server.server_first(Some(creds.clone()));
    warm.handle_server_first(&first).unwrap();
    let (salt, iterations, salted) = warm.salted_password().unwrap();
    bencher.bench_local(|| {
        let mut client = ScramClient::new(Hash::Sha1, "alice", "password")
            .with_cached_salted_password(salt.clone(), iterations, salted.clone());
        let mut server = ScramServer::new(Hash::Sha1);
        server.handle_client_first(&client.client_first()).unwrap();
        let first = server.server_first(Some(creds.clone()));
        let last = client.handle_server_first(&first).unwrap();
        server.handle_client_final(&last).unwrap()
    });
}

fn sessions(n: usize) -> Vec<Arc<SessionHandle>> {
    (0..n)
        .map(|i| {
            let s = SessionHandle::new(
                i as u64,
                format!("user{i}@localhost"),
                "r".into(),
                1024,
                1 << 20,
            );
            Arc::new(s)
        })
        .collect()
}

#[divan::bench]
fn fanout_serialise_once(bencher: divan::Bencher) {
    let entry: minidom::Element = "<entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>at the pub</title><id>tag:localhost,2026:status/1</id></entry>".parse().unwrap();
    bencher.bench_local(|| {
        let mut item = minidom::Element::bare("item", "http://jabber.org/protocol/pubsub#event");
        item.append_child(entry.clone());
        Notification::new(
            "alice@localhost",
            "headline",
            items_event("urn:xmpp:microblog:0", vec![item]),
        )
    });
}

#[divan::bench(args = [1000])]
fn fanout_queue_per_1000_recipients(bencher: divan::Bencher, n: usize) {
    let handles = sessions(n);
    let note = Notification::new("pubsub.localhost", "headline", items_event("n", vec![]));
    bencher.bench_local(|| {
        for s in &handles {
            note.send(s);
        }
        for s in &handles {
            s.queue().drain(usize::MAX, drop);
        }
    });
}

#[divan::bench]
fn routing_lookup_in_10000_sessions(bencher: divan::Bencher) {
    let registry = Registry::default();
    let handles = sessions(10_000);
    for h in &handles {
        registry.insert(h.clone());
    }
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 7919) % 10_000;
        registry
            .session(&format!("user{i}@localhost"), "r")
            .is_some()
    });
}
