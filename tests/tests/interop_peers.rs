//! The "done when", on one machine: a slixmpp user on Prosody and
//! one on ejabberd both follow a Whassap user's statuses over federation,
//! receive a status set on the web page, and chat with her; the server's
//! connection list shows both peers. Skipped, loudly, without Prosody,
//! ejabberd or slixmpp, unless WHASSAP_TEST_REQUIRE_INTEROP=1 (CI).

use whassap_tests::peers::{have, Ejabberd, Prosody, SlixmppFollower};
use whassap_tests::*;

const WHASSAP_IP: &str = "127.0.0.23";
const PROSODY_IP: &str = "127.0.0.24";
const EJABBERD_IP: &str = "127.0.0.25";

#[tokio::test]
async fn followers_on_prosody_and_ejabberd_get_a_web_status_and_chat() {
    let test = "followers_on_prosody_and_ejabberd_get_a_web_status_and_chat";
    if !(have("prosody") && have("prosodyctl") && have("ejabberdctl")) {
        skip_interop(test, "prosody or ejabberd is not installed");
        return;
    }
    if !slixmpp_available() {
        skip_interop(
            test,
            "slixmpp is not installed (pip install -r interop/requirements.txt)",
        );
        return;
    }
    let hosts = [
        ("whassap.test", WHASSAP_IP),
        ("pubsub.whassap.test", WHASSAP_IP),
    ];
    let prosody = Prosody::start("prosody.test", PROSODY_IP, &hosts).await;
    let ejabberd = Ejabberd::start("ejabberd.test", EJABBERD_IP, &hosts).await;
    let routes = vec![
        format!("prosody.test={}", prosody.s2s),
        format!("ejabberd.test={}", ejabberd.s2s),
    ];
    let w = TestServer::start_with(|c| {
        c.domain = "whassap.test".into();
        c.s2s_listen = format!("{WHASSAP_IP}:5269");
        c.s2s_route = routes;
        c.s2s_timeout_secs = 15;
    })
    .await;
    let web = whassap_tests::web::Web::new(w.http);
    web.sign_up("alice").await;
    prosody.register("sam", PASSWORD);
    ejabberd.register("eve", PASSWORD);
    let mut sam = SlixmppFollower::start(
        prosody.c2s,
        "sam@prosody.test",
        PASSWORD,
        "alice@whassap.test",
    )
    .await
    .unwrap_or_else(|e| panic!("slixmpp on Prosody: {e}\n{}", prosody.log()));
    let mut eve = SlixmppFollower::start(
        ejabberd.c2s,
        "eve@ejabberd.test",
        PASSWORD,
        "alice@whassap.test",
    )
    .await
    .unwrap_or_else(|e| panic!("slixmpp on ejabberd: {e}\n{}", ejabberd.log()));

    sam.say("expect hello, both of you").await;
    eve.say("expect hello, both of you").await;
    web.set_status("hello, both of you").await;
    for (who, f) in [("Prosody", &mut sam), ("ejabberd", &mut eve)] {
        let got = f.answer().await;
        let ms: u64 = got
            .strip_prefix("GOT ")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{who}: {got}"));
        eprintln!("web page → slixmpp on {who}: {ms} ms");
    }

    let mut alice = w.client("alice").await;
    go_online(&mut alice).await;
    for (who, f, domain) in [
        ("sam", &mut sam, "prosody.test"),
        ("eve", &mut eve, "ejabberd.test"),
    ] {
        f.say(&format!("chat hi alice, {who} here")).await;
        let m = recv_matching(&mut alice, "a message from the peer", |e| {
            e.name() == "message"
                && e.attr("from")
                    .is_some_and(|f| f.starts_with(&format!("{who}@{domain}/")))
        })
        .await;
        let from = m.attr("from").unwrap().to_string();
        alice
            .send(&xml(&format!(
                "<message to='{from}' type='chat'><body>hi {who}</body></message>"
            )))
            .await
            .unwrap();
        assert_eq!(f.answer().await, format!("REPLY hi {who}"));
    }

    // Both peers, both directions, in the server's connection list (what
    // `whassap s2s list` prints).
    let links = w.app().server.s2s.list();
    for domain in ["prosody.test", "ejabberd.test"] {
        for direction in ["in", "out"] {
            assert!(
                links
                    .iter()
                    .any(|l| l.domain == domain && l.direction == direction && l.tls),
                "{domain} {direction}: {links:?}"
            );
        }
    }
    sam.say("quit").await;
    eve.say("quit").await;
    w.stop().await;
}
