//! slixmpp (Python) against the real server: login over STARTTLS, roster,
//! presence, a message exchange and offline delivery. Skipped loudly when
//! slixmpp is not installed (./scripts/test.sh installs it).

use whassap_tests::*;

#[tokio::test]
async fn slixmpp_clients_chat_through_whassap() {
    if !slixmpp_available() {
        skip_interop(
            "slixmpp_clients_chat_through_whassap",
            "python3 module slixmpp not installed",
        );
        return;
    }
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let (ok, text) = run_interop_script("slixmpp_im.py", s.c2s.port()).await;
    s.stop().await;
    assert!(ok, "slixmpp interop failed:\n{text}");
    assert!(text.contains("5 passed, 0 failed"), "{text}");
}
