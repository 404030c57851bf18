//! Every `whassap-bench` scenario once, at a tiny size, against the real
//! server in this process: the tool keeps working. (Figures are not
//! asserted: benchmarks are for `bench/compare.sh`, not for the test suite.)

use std::time::Duration;

use whassap_bench::fanout::Via;
use whassap_bench::{chat, fanout, login, report, Outcome, Target};
use whassap_client::{Mechanism, SaltedPasswordCache, TlsMode};
use whassap_tests::*;

async fn setup(users: usize) -> (TestServer, Target) {
    let s = TestServer::start_with(|c| c.allow_plaintext = true).await;
    for i in 0..users {
        s.user(&format!("bench{i}")).await;
    }
    let target = Target {
        label: "whassap".into(),
        addr: s.c2s,
        domain: "localhost".into(),
        pubsub: "pubsub.localhost".into(),
        prefix: "bench".into(),
        password: PASSWORD.into(),
        mechanism: Mechanism::ScramSha1,
        tls: TlsMode::Plain,
        sources: vec!["127.0.0.1".parse().unwrap()],
        pid: Some(std::process::id()),
        scram_cache: SaltedPasswordCache::default(),
        timeout: Duration::from_secs(10),
    };
    (s, target)
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
    let idle = login::run(&target, "idle", 10, 5, Duration::from_millis(200)).await;
    check(&idle, "server_kib_per_session");
    // The same over STARTTLS, from a second source address (idle-tls and
    // the scale runs of bench/compare.sh).
    let mut tls = target.clone();
    tls.tls = TlsMode::StartTls;
    tls.sources.push("127.0.0.2".parse().unwrap());
    let mut idle_tls = login::run(&tls, "idle", 4, 2, Duration::ZERO).await;
    check(&idle_tls, "server_kernel_share");
    assert_eq!(idle_tls.figures["logins"], 4.0);
    idle_tls.scenario = "idle-tls".into();
    let o = login::run(&target, "login", 10, 5, Duration::ZERO).await;
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

    let dir = tempfile::tempdir().unwrap();
    for o in [&o, &idle, &idle_tls, &c, &p, &pep] {
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
    ] {
        assert!(md.contains(&format!("### {scenario}")), "{md}");
    }
    s.stop().await;
}
