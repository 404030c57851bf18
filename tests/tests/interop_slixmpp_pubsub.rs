//! slixmpp (Python) against the real server: XEP-0060 PubSub on
//! pubsub.localhost and XEP-0163 PEP (caps +notify, last item on coming
//! online, explicit subscription, items retrieval) through slixmpp's
//! xep_0060/xep_0163/xep_0115/xep_0030 plugins. Skipped loudly when slixmpp
//! is not installed (./scripts/test.sh installs it).

use whassap_tests::*;

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
    let (ok, text) = run_interop_script("slixmpp_pubsub.py", s.c2s.port()).await;
    s.stop().await;
    assert!(ok, "slixmpp pubsub interop failed:\n{text}");
    assert!(text.contains("12 passed, 0 failed"), "{text}");
}
