//! Prosody's scansion transcripts (../shared/conformance) against the real
//! server: the core IM, PEP and PubSub groups must pass. Needs python3 >=
//! 3.11 (standard library only); skipped loudly without it.

use std::path::PathBuf;
use std::process::Command;

use whassap_tests::*;

/// The core IM group of the conformance README, minus `version` (it pins
/// Prosody's software name; see docs/conformance.md).
const CORE_IM: &[&str] = &[
    "basic.scs",
    "basic_message.scs",
    "basic_roster.scs",
    "disco_self.scs",
    "issue1121.scs",
    "keep_full_sub_req.scs",
    "presence_preapproval.scs",
    "blocking.scs",
];

/// The PEP group.
const PEP: &[&str] = &[
    "pep_nickname.scs",
    "pep_publish_subscribe.scs",
    "pep_pubsub_max.scs",
    "pep_itemreply.scs",
];

/// The PubSub service group.
const PUBSUB: &[&str] = &[
    "pubsub_advanced.scs",
    "pubsub_basic.scs",
    "pubsub_config.scs",
    "pubsub_createdelete.scs",
    "pubsub_max_items.scs",
    "pubsub_multi_items.scs",
    "pubsub_preconditions.scs",
    "pubsub_resend_on_sub.scs",
];

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
}

fn python() -> Option<String> {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| "python3".to_string())
}

/// Run one script against a fresh server; Ok(()) or the runner's output.
async fn run_script(python: &str, script: &str) -> Result<(), String> {
    let dir = conformance_dir();
    let runner = dir.join("scansion_runner.py");
    let path = dir.join("prosody-scansion").join(script);
    // As the scripts assume: only the administrators (admins.txt) create
    // nodes on pubsub.localhost.
    let admins: Vec<String> = std::fs::read_to_string(dir.join("prosody-scansion/admins.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let s = TestServer::start_with(move |c| {
        c.pubsub_create = whassap::config::PubsubCreate::Admins;
        c.admins = admins;
    })
    .await;
    let list = Command::new(python)
        .arg(&runner)
        .arg("--list-accounts")
        .arg(&path)
        .output()
        .expect("runner runs");
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let mut parts = line.split_whitespace();
        if let (Some(user), Some("localhost"), password) =
            (parts.next(), parts.next(), parts.next())
        {
            s.user_with_password(user, password.unwrap_or("password"))
                .await;
        }
    }
    let port = s.c2s.port().to_string();
    let py = python.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(&runner)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--tls",
                "require",
                "--timeout",
                "5",
            ])
            .arg(&path)
            .output()
            .expect("runner runs")
    })
    .await
    .unwrap();
    s.stop().await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

/// Run a group, one fresh server per script; all must pass.
async fn run_group(test: &str, scripts: &[&str]) {
    let Some(python) = python() else {
        skip_interop(test, "python3 >= 3.11 not found");
        return;
    };
    if !conformance_dir().join("scansion_runner.py").exists() {
        skip_interop(test, "../shared/conformance is not beside the checkout");
        return;
    }
    let mut failures = Vec::new();
    for script in scripts {
        if let Err(out) = run_script(&python, script).await {
            failures.push(format!("{script}:\n{out}"));
        }
    }
    assert!(
        failures.is_empty(),
        "conformance failures:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn prosody_core_im_transcripts_pass() {
    run_group("prosody_core_im_transcripts_pass", CORE_IM).await;
}

#[tokio::test]
async fn prosody_pep_transcripts_pass() {
    run_group("prosody_pep_transcripts_pass", PEP).await;
}

#[tokio::test]
async fn prosody_pubsub_transcripts_pass() {
    run_group("prosody_pubsub_transcripts_pass", PUBSUB).await;
}
