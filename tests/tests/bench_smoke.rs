//! Every `whassap-bench` scenario once, at a tiny size, against the real
//! server in this process: the tool keeps working. (Figures are not
//! asserted beyond their sanity: benchmarks are for `bench/compare.sh`, not
//! for the test suite. `rest-throughput` needs `wrk` and is left to it.)

use std::time::Duration;

use whassap_bench::fanout::Via;
use whassap_bench::poll_push::{self, Mode};
use whassap_bench::{chat, fanout, floor, login, report, Outcome, Target};
use whassap_client::{Mechanism, SaltedPasswordCache, TlsMode};
use whassap_tests::*;

async fn setup(users: usize) -> (TestServer, Target) {
    let s = TestServer::start_with(|c| c.allow_plaintext = true).await;
    for i in 0..users {
        s.user(&format!("bench{i}")).await;
    }
    let target = tiny_target(&s);
    (s, target)
}

/// The generator's view of a test server: plaintext, SCRAM-SHA-1, and this
/// process as the server's (for the `/proc` figures).
fn tiny_target(s: &TestServer) -> Target {
    Target {
        label: "whassap".into(),
        addrs: vec![s.c2s],
        domain: "localhost".into(),
        pubsub: "pubsub.localhost".into(),
        prefix: "bench".into(),
        password: PASSWORD.into(),
        mechanism: Mechanism::ScramSha1,
        tls: TlsMode::Plain,
        sources: vec!["127.0.0.1".parse().unwrap()],
        pids: vec![std::process::id()],
        scram_cache: SaltedPasswordCache::default(),
        timeout: Duration::from_secs(10),
    }
}

fn check(o: &Outcome, figure: &str) {
    assert!(o.errors.is_empty(), "{}: {:?}", o.scenario, o.errors);
    assert!(
        o.figures.contains_key(figure),
        "{} has no {figure}: {:?}",
        o.scenario,
        o.figures
    );
}

#[tokio::test]
async fn every_scenario_runs_at_a_tiny_size() {
    let (s, target) = setup(11).await;
    let idle = login::run_idle(&target, 0..10, 5, Duration::from_millis(200), None).await;
    check(&idle, "server_kib_per_session");
    // The same over STARTTLS, from a second source address (idle-tls and
    // the scale runs of bench/compare.sh).
    let mut tls = target.clone();
    tls.tls = TlsMode::StartTls;
    tls.sources.push("127.0.0.2".parse().unwrap());
    let mut idle_tls = login::run_idle(&tls, 0..4, 2, Duration::ZERO, None).await;
    check(&idle_tls, "server_cpu_ms");
    // The kernel's share is only defined once the server used a tick of
    // CPU: four logins may take less than /proc's 10 ms resolution.
    if idle_tls.figures["server_cpu_ms"] > 0.0 {
        let share = idle_tls.figures["server_kernel_share"];
        assert!((0.0..=1.0).contains(&share), "kernel share {share}");
    } else {
        assert!(!idle_tls.figures.contains_key("server_kernel_share"));
    }
    assert_eq!(idle_tls.figures["logins"], 4.0);
    idle_tls.scenario = "idle-tls".into();
    let o = login::run(&target, 10, 5).await;
    check(&o, "server_cpu_ms_per_login");
    assert_eq!(o.figures["logins"], 10.0);
    assert!(target.scram_cache.len() >= 10, "salted passwords cached");
    let c = chat::run(&target, 4, 200.0, Duration::from_secs(1)).await;
    check(&c, "latency_p99_ms");
    assert!(c.figures["delivered"] > 0.0);
    assert_eq!(c.figures["lost"], 0.0, "no message lost");
    let p = fanout::run(&target, Via::PubSub, 5, 3).await;
    check(&p, "server_cpu_ms_per_1000_deliveries");
    assert_eq!(p.figures["deliveries"], 15.0, "3 items × 5 subscribers");
    let pep = fanout::run(&target, Via::Pep, 5, 3).await;
    check(&pep, "last_delivery_p99_ms");
    assert_eq!(
        pep.figures["subscribers_reached"], 5.0,
        "every contact with +notify"
    );
    assert_eq!(pep.figures["deliveries"], 15.0);

    // Two generator processes' worth of `idle` holding sessions together
    // (as over a cluster's nodes): each counts the other's sessions.
    let barrier = tempfile::tempdir().unwrap();
    let together = || {
        Some(login::Together {
            barrier: whassap_bench::barrier::Barrier::new(barrier.path().to_path_buf(), 2),
        })
    };
    let (a, b) = tokio::join!(
        login::run_idle(&target, 0..3, 3, Duration::ZERO, together()),
        login::run_idle(&target, 3..7, 3, Duration::ZERO, together()),
    );
    for held in [&a, &b] {
        check(held, "server_kib_per_session");
        assert_eq!(held.figures["logins"], 7.0, "3 + 4 sessions held together");
        assert_eq!(held.params["processes"], 2.0);
    }
    // The floor: the same bytes to 5 sockets, 3 rounds, no server.
    let f = floor::run(
        "floor",
        floor::Params {
            sessions: 5,
            items: 3,
            bytes: floor::sample_notification(),
            sources: Vec::new(),
            timeout: Duration::from_secs(10),
        },
    )
    .await;
    check(&f, "last_delivery_p99_ms");
    assert_eq!(f.figures["deliveries"], 15.0);

    let dir = tempfile::tempdir().unwrap();
    for o in [&o, &idle, &idle_tls, &c, &p, &pep, &f] {
        o.write(&dir.path().join(format!("{}.json", o.scenario)))
            .unwrap();
    }
    let md = report::markdown(&report::load(dir.path()).unwrap(), "whassap");
    for scenario in [
        "login",
        "idle",
        "idle-tls",
        "chat",
        "pubsub-fanout",
        "pep-fanout",
        "floor",
    ] {
        assert!(md.contains(&format!("### {scenario}")), "{md}");
    }
    s.stop().await;
}

/// `poll-vs-push` at a tiny size: 3 consumers following both of 2 users,
/// 2 s per mode, polling every second. Every posted status reaches every
/// follower in each mode, and the figures are filled in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_vs_push_runs_at_a_tiny_size() {
    let s = TestServer::start_with(|c| {
        c.allow_plaintext = true;
        c.api.token_requests_per_minute = 0;
        c.api.ip_requests_per_minute = 0;
    })
    .await;
    let target = tiny_target(&s);
    let params = poll_push::Params {
        http: s.http,
        consumers: 3,
        users: 2,
        follows: 2,
        rate: 2.0,
        duration: Duration::from_secs(2),
        poll_interval: Duration::from_secs(1),
        modes: vec![Mode::Poll, Mode::Pep, Mode::Sse],
        baseline: true,
    };
    let o = poll_push::run(&target, params).await;
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let f = |name: &str| {
        *o.figures
            .get(name)
            .unwrap_or_else(|| panic!("no {name}: {:?}", o.figures))
    };
    assert_eq!(f("post_only_posts"), 4.0, "2 statuses/s for 2 s");
    assert!(f("post_only_server_cpu_ms") >= 0.0);
    for mode in ["poll", "pep", "sse"] {
        let k = |name: &str| format!("{mode}_{name}");
        assert_eq!(f(&k("posts")), 4.0);
        assert_eq!(f(&k("expected")), 12.0, "{mode}: 4 statuses × 3 followers");
        assert_eq!(f(&k("delivered")), 12.0, "{mode}: every status delivered");
        assert_eq!(f(&k("lost")), 0.0);
        // CPU is read in /proc's 10 ms ticks: a short phase on a fast
        // machine may round to zero, so only its presence is certain.
        assert!(f(&k("server_cpu_ms")) >= 0.0, "{mode}: CPU measured");
        assert!(f(&k("server_cpu_us_per_status_gross")) >= 0.0);
        assert!(f(&k("bytes_received")) > 0.0, "{mode}: bytes counted");
        assert!(f(&k("staleness_max_ms")) < 5000.0);
    }
    // 3 consumers × 2 users polled every second for 2 s: about 12 polls.
    assert!(
        (6.0..=20.0).contains(&f("poll_requests")),
        "{}",
        f("poll_requests")
    );
    assert!(f("poll_bytes_sent") > 0.0, "requests counted in bytes");
    assert_eq!(f("pep_requests"), 0.0, "push needs no request per status");
    assert_eq!(f("sse_requests"), 0.0);
    assert_eq!(f("sse_setup_requests"), 3.0, "one GET per stream");
    assert_eq!(
        f("pep_setup_requests"),
        9.0,
        "presence and 2 subscriptions each"
    );
    let md = report::push::poll_vs_push(&[o], "whassap");
    assert!(md.contains("| PEP (XMPP) | 12 of 12 | 0 |"), "{md}");
    s.stop().await;
}
