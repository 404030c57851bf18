//! slixmpp (Python) against the real server: XEP-0060 PubSub on
//! pubsub.localhost and XEP-0163 PEP (caps +notify, last item on coming
//! online, explicit subscription, items retrieval) through slixmpp's
//! xep_0060/xep_0163/xep_0115/xep_0030 plugins. Skipped loudly when slixmpp
//! is not installed (./scripts/test.sh installs it).

use std::path::PathBuf;
use std::process::Command;

use whassap_tests::*;

fn slixmpp_available() -> bool {
    Command::new("python3")
        .args(["-c", "import slixmpp"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test]
async fn slixmpp_pubsub_and_pep_through_whassap() {
    if !slixmpp_available() {
        skip_interop(
            "slixmpp_pubsub_and_pep_through_whassap",
            "python3 module slixmpp not installed",
        );
        return;
    }
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    s.user("carol").await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/slixmpp_pubsub.py");
    let port = s.c2s.port().to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port])
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop().await;
    assert!(
        out.status.success(),
        "slixmpp pubsub interop failed:\n{text}"
    );
    assert!(text.contains("12 passed, 0 failed"), "{text}");
}
