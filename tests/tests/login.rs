//! Logging in: SASL mechanisms, TLS modes, resource binding, failures.

use std::time::{Duration, Instant};

use whassap_client::{Client, ClientError, Mechanism, TlsMode};
use whassap_tests::*;

#[tokio::test]
async fn login_with_each_sasl_mechanism_over_starttls() {
    let s = TestServer::start().await;
    s.user("alice").await;
    for mechanism in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let mut o = s.options("alice");
        o.mechanism = mechanism;
        let c = Client::connect(o)
            .await
            .unwrap_or_else(|e| panic!("{mechanism:?}: {e}"));
        assert!(
            c.jid().starts_with("alice@localhost/"),
            "bound JID {}",
            c.jid()
        );
        c.close().await.unwrap();
    }
    s.stop().await;
}

#[tokio::test]
async fn login_over_direct_tls() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut o = s.options("alice");
    o.addr = s.c2s_tls;
    o.tls = TlsMode::Direct;
    let c = Client::connect(o).await.expect("direct TLS login");
    assert!(c.jid().starts_with("alice@localhost/"));
    s.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_refused_alike() {
    let s = TestServer::start().await;
    s.user("alice").await;
    for (user, mechanism) in [
        ("alice", Mechanism::ScramSha256),
        ("nobody", Mechanism::ScramSha256),
        ("alice", Mechanism::Plain),
    ] {
        let mut o = s.options(user);
        o.password = "wrong".into();
        o.mechanism = mechanism;
        match Client::connect(o).await {
            Err(ClientError::AuthFailed(cond)) => {
                assert_eq!(cond, "not-authorized", "{user} {mechanism:?}")
            }
            Err(e) => panic!("expected an authentication failure, got {e}"),
            Ok(_) => panic!("{user} logged in with a wrong password"),
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn tls_is_required_by_default() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut o = s.options("alice");
    o.tls = TlsMode::Plain;
    assert!(
        Client::connect(o).await.is_err(),
        "login without TLS must fail by default"
    );

    // Raw: before TLS only STARTTLS is offered, and it is required.
    let mut raw = Raw::connect(s.c2s).await;
    raw.open().await;
    let features = raw.element().await;
    let starttls = features
        .get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        .expect("STARTTLS offered");
    assert!(starttls
        .get_child("required", "urn:ietf:params:xml:ns:xmpp-tls")
        .is_some());
    assert!(
        features
            .get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
            .is_none(),
        "no SASL before TLS"
    );
    raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHBhc3N3b3Jk</auth>").await;
    let failure = raw.element().await;
    assert_eq!(failure.name(), "failure");
    assert!(failure
        .get_child("encryption-required", "urn:ietf:params:xml:ns:xmpp-sasl")
        .is_some());
    s.stop().await;
}

#[tokio::test]
async fn allow_plaintext_lets_clients_log_in_without_tls() {
    let s = TestServer::start_with(|c| c.allow_plaintext = true).await;
    s.user("alice").await;
    let mut o = s.options("alice");
    o.tls = TlsMode::Plain;
    let c = Client::connect(o)
        .await
        .expect("SCRAM without TLS when plaintext is allowed");
    assert!(c.jid().starts_with("alice@"));
    s.stop().await;
}

#[tokio::test]
async fn requested_resource_is_bound_and_a_duplicate_replaces_the_old_session() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut first = s.client_with_resource("alice", "laptop").await;
    assert_eq!(first.jid(), "alice@localhost/laptop");
    let second = s.client_with_resource("alice", "laptop").await;
    assert_eq!(second.jid(), "alice@localhost/laptop");
    match first.recv_timeout(WAIT).await {
        Err(ClientError::StreamError { condition, .. }) => assert_eq!(condition, "conflict"),
        other => panic!("old session should get a conflict stream error, got {other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn repeated_failures_slow_down_further_attempts() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let attempt = || async {
        let mut o = s.options("alice");
        o.password = "wrong".into();
        o.mechanism = Mechanism::Plain;
        let started = Instant::now();
        assert!(Client::connect(o).await.is_err());
        started.elapsed()
    };
    for _ in 0..3 {
        attempt().await;
    }
    // Past the free allowance (3) each attempt waits at least 250 ms.
    let slowed = attempt().await;
    assert!(
        slowed >= Duration::from_millis(250),
        "attempt after failures took only {slowed:?}"
    );
    // The right password still works, after the same delay.
    let c = s.client("alice").await;
    assert!(c.jid().starts_with("alice@"));
    s.stop().await;
}

/// Failed logins from one address slow that address down, never the
/// account's owner logging in from another: ten wrong passwords for alice
/// from 127.0.0.2 make 127.0.0.2 wait (5 s), while alice from 127.0.0.1
/// gets in at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_one_address_do_not_lock_the_owner_out() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let options = |password: &str, from: Option<std::net::IpAddr>| {
        let mut o = s.options("alice");
        o.password = password.into();
        o.mechanism = Mechanism::Plain;
        o.source_addr = from;
        o.timeout = Duration::from_secs(20);
        o
    };
    // Ten wrong passwords at once, so that the test does not wait for
    // each growing delay in turn.
    let guesses: Vec<_> = (0..10)
        .map(|_| Client::connect(options("wrong", Some(attacker))))
        .collect();
    for r in futures::future::join_all(guesses).await {
        assert!(r.is_err(), "a wrong password was refused");
    }
    let started = Instant::now();
    let owner = Client::connect(options(PASSWORD, None)).await;
    let owner_took = started.elapsed();
    assert!(owner.is_ok(), "the owner logs in: {:?}", owner.err());
    assert!(
        owner_took < Duration::from_secs(2),
        "the owner, from another address, waited {owner_took:?}"
    );
    // The attacker's address is still slowed, even with the right password.
    let started = Instant::now();
    Client::connect(options(PASSWORD, Some(attacker)))
        .await
        .expect("the right password works from there too, after the delay");
    let attacker_took = started.elapsed();
    assert!(
        attacker_took >= Duration::from_secs(4),
        "the guessing address waited only {attacker_took:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn unauthenticated_streams_are_closed_after_the_timeout() {
    let s = TestServer::start_with(|c| {
        c.allow_plaintext = true;
        c.auth_timeout_secs = 1;
    })
    .await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.open().await;
    assert_eq!(raw.stream_error().await, "connection-timeout");
    s.stop().await;
}

#[tokio::test]
async fn in_band_registration_when_enabled() {
    let s = TestServer::start_with(|c| {
        c.allow_plaintext = true;
        c.xmpp_registration = true;
    })
    .await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.open().await;
    let features = raw.element().await;
    assert!(features
        .get_child("register", "http://jabber.org/features/iq-register")
        .is_some());
    raw.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>newbie</username><password>pw</password></query></iq>").await;
    let result = raw.element().await;
    assert_eq!(result.attr("type"), Some("result"), "{result:?}");
    raw.send("<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>newbie</username><password>pw</password></query></iq>").await;
    let conflict = raw.element().await;
    assert!(conflict
        .get_child("error", "jabber:client")
        .and_then(|e| e.get_child("conflict", "urn:ietf:params:xml:ns:xmpp-stanzas"))
        .is_some());
    raw.send("<iq type='set' id='r3'><query xmlns='jabber:iq:register'><username>whassap</username><password>pw</password></query></iq>").await;
    let reserved = raw.element().await;
    assert_eq!(
        reserved.attr("type"),
        Some("error"),
        "the bot's name is reserved"
    );

    let mut o = s.options("newbie");
    o.password = "pw".into();
    let c = Client::connect(o)
        .await
        .expect("registered account logs in");
    assert!(c.jid().starts_with("newbie@"));
    s.stop().await;
}

/// XEP-0077 §3.2: a user removes their own account (with no `to`, as in
/// the XEP's example). It goes at once with everything of it, its
/// personal access tokens too, though the REST API keeps a token in memory
/// for a minute after reading it.
#[tokio::test]
async fn an_account_removed_in_band_takes_its_tokens_with_it() {
    let s = TestServer::start().await;
    let api = rest::Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let token = api.token(&alice).await;
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &token, None).await.status,
        200
    );
    let mut c = s.client("alice").await;
    let answer = c
        .iq(xml(
            "<iq type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(answer.attr("type"), Some("result"), "{answer:?}");
    assert!(!s.app().server.store.user_exists("alice").await.unwrap());
    assert_eq!(
        api.call("GET", "/api/v1/tokens", &token, None).await.status,
        401,
        "the removed account's token still works"
    );
    s.stop().await;
}

#[tokio::test]
async fn registration_is_off_by_default() {
    let s = TestServer::start_with(|c| c.allow_plaintext = true).await;
    let mut raw = Raw::connect(s.c2s).await;
    raw.open().await;
    let features = raw.element().await;
    assert!(features
        .get_child("register", "http://jabber.org/features/iq-register")
        .is_none());
    raw.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>x</username><password>pw</password></query></iq>").await;
    assert_eq!(raw.stream_error().await, "not-authorized");
    assert!(!s.app().server.store.user_exists("x").await.unwrap());
    s.stop().await;
}
