//! The client library's generic jobs against another server: Debian's
//! Prosody, started by the test with its own configuration, data dir and
//! address. Messages, presence, contacts, PEP and statuses (XEP-0277) all
//! work with a server that is not Whassap. Skipped, loudly, when Prosody is
//! not installed, unless WHASSAP_TEST_REQUIRE_INTEROP=1 (CI).

use std::time::Duration;

use whassap_client::{Client, ClientError, ConnectOptions, Event};
use whassap_tests::peers::{have, Prosody};
use whassap_tests::{skip_interop, PASSWORD};

const IP: &str = "127.0.0.26";
const WAIT: Duration = Duration::from_secs(10);

async fn next<T>(c: &mut Client, what: &str, p: &Prosody, f: impl Fn(Event) -> Option<T>) -> T {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(t) = f(c.next_event().await.expect("the stream is up")) {
                return t;
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within 10 s; Prosody's log:\n{}", p.log()))
}

/// A user of Prosody, logged in as the README shows (JID, password, where
/// the server is, its self-signed certificate accepted).
async fn login(p: &Prosody, user: &str) -> Client {
    p.register(user, PASSWORD);
    let jid = format!("{user}@{}", p.domain);
    let opts = ConnectOptions::for_jid(&jid, PASSWORD, Some(&p.c2s.to_string()))
        .await
        .unwrap();
    Client::connect(opts.insecure())
        .await
        .unwrap_or_else(|e| panic!("login to Prosody: {e}\n{}", p.log()))
}

#[tokio::test]
async fn the_library_works_against_prosody() {
    if !(have("prosody") && have("prosodyctl")) {
        skip_interop(
            "the_library_works_against_prosody",
            "prosody is not installed (apt-get install prosody)",
        );
        return;
    }
    let p = Prosody::start("prosody.test", IP, &[]).await;
    let mut ann = login(&p, "ann").await;
    let mut pat = login(&p, "pat").await;

    // A wrong password is a typed error.
    let wrong = ConnectOptions::for_jid("ann@prosody.test", "wrong", Some(&p.c2s.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        Client::connect(wrong.insecure()).await,
        Err(ClientError::AuthFailed(_))
    ));

    // Contacts both ways.
    ann.contacts().await.unwrap();
    pat.contacts().await.unwrap();
    pat.set_presence(None, None).await.unwrap();
    ann.set_presence(None, None).await.unwrap();
    ann.add_contact("pat@prosody.test").await.unwrap();
    let asked = next(&mut pat, "ann's request", &p, |e| match e {
        Event::Presence(x) if x.kind.as_deref() == Some("subscribe") => Some(x.from),
        _ => None,
    })
    .await;
    assert_eq!(asked, "ann@prosody.test");
    pat.accept("ann@prosody.test").await.unwrap();
    pat.add_contact("ann@prosody.test").await.unwrap();
    next(&mut ann, "pat's request", &p, |e| match e {
        Event::Presence(x) if x.kind.as_deref() == Some("subscribe") => Some(()),
        _ => None,
    })
    .await;
    ann.accept("pat@prosody.test").await.unwrap();
    let listed = ann.contacts().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].jid, "pat@prosody.test");

    // Presence and messages.
    pat.set_presence(Some("dnd"), Some("busy")).await.unwrap();
    let busy = next(&mut ann, "pat's dnd", &p, |e| match e {
        Event::Presence(x) if x.show.as_deref() == Some("dnd") => Some(x),
        _ => None,
    })
    .await;
    assert_eq!(busy.status.as_deref(), Some("busy"));
    ann.send_message("pat@prosody.test", "hi pat")
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, pat.next_message())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, "hi pat");
    assert!(m.from.starts_with("ann@prosody.test/"), "{m:?}");

    // Statuses on Prosody's PEP: pat follows ann's microblog node, which
    // Prosody creates with ann's first status (Whassap has one for every
    // account).
    assert_eq!(pat.status_of("ann@prosody.test").await.unwrap(), None);
    ann.set_status("first").await.unwrap();
    pat.watch("ann@prosody.test").await.unwrap();
    let id = ann.set_status("on another server").await.unwrap();
    // Prosody first sends the current status on subscribing
    // (send_last_published_item); the new one follows.
    let st = next(&mut pat, "ann's new status", &p, |e| match e {
        Event::Status(s) if s.text != "first" => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(
        (st.id.as_str(), st.text.as_str()),
        (id.as_str(), "on another server")
    );
    assert_eq!(st.author.jid, "ann@prosody.test");
    let current = pat.status_of("ann@prosody.test").await.unwrap().unwrap();
    assert_eq!(current.text, "on another server");

    // PEP items, a named item, and a typed stanza error.
    let mut note = minidom::Element::bare("note", "urn:example:notes");
    note.append_text("kept");
    ann.publish(None, "urn:example:notes", Some("n1"), note)
        .await
        .unwrap();
    let items = ann
        .items(Some("ann@prosody.test"), "urn:example:notes", None)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, "n1");
    match ann
        .items(Some("ann@prosody.test"), "urn:example:none", None)
        .await
    {
        Err(ClientError::Stanza(e)) => assert_eq!(e.condition, "item-not-found"),
        other => panic!("expected item-not-found, got {other:?}"),
    }
    pat.unsubscribe(Some("ann@prosody.test"), "urn:xmpp:microblog:0")
        .await
        .unwrap();
    ann.remove_contact("pat@prosody.test").await.unwrap();
    assert!(ann.contacts().await.unwrap().is_empty());
    ann.close().await.unwrap();
    pat.close().await.unwrap();
}
