//! A PostgreSQL outage: the server reaches its database through a TCP relay
//! the test cuts (every connection dropped, new ones refused) and restores.
//! Meanwhile requests fail with clear errors (HTTP 503 with `Retry-After`
//! and the JSON error body, `/healthz` 503, XMPP `wait`), nothing is
//! half-done, and once the database is back the server works again without
//! a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use whassap_store::testing::TempDatabase;
use whassap_tests::rest::Api;
use whassap_tests::*;

/// A TCP relay to PostgreSQL that can be cut.
struct Relay {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
    links: Arc<Mutex<JoinSet<()>>>,
}

impl Relay {
    async fn to(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(JoinSet::new()));
        let (d, l, target) = (down.clone(), links.clone(), target.to_string());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                l.lock().unwrap().spawn(async move {
                    if let Ok(mut db) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut db).await;
                    }
                });
            }
        });
        Relay { addr, down, links }
    }

    /// Drop every connection and refuse new ones.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.links.lock().unwrap().abort_all();
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_outage_gives_clear_errors_and_the_server_recovers() {
    let Some(db) = TempDatabase::create("store_outage").await else {
        return;
    };
    // postgres://user@HOST:PORT/db → the same through the relay.
    let (scheme_user, rest) = db.url.split_once('@').unwrap();
    let (hostport, path) = rest.split_once('/').unwrap();
    let relay = Relay::to(hostport).await;
    let url = format!("{scheme_user}@{}/{path}", relay.addr);
    let s = TestServer::start_with(|c| {
        c.database = url;
        c.database_timeout_secs = 1;
    })
    .await;
    let api = Api::new(s.http);
    let alice = api.sign_up("alice").await;
    let token = api.token(&alice).await;
    api.post_status(&token, "before").await;
    let mut xmpp = s.client("alice").await;

    relay.cut();
    let refused = api
        .call(
            "POST",
            "/api/v1/statuses",
            &token,
            Some(serde_json::json!({"text": "during"})),
        )
        .await;
    assert_eq!(refused.status, 503, "{:?}", refused.json);
    assert_eq!(refused.json["error"]["code"], "unavailable");
    assert!(refused.header("retry-after").is_some(), "Retry-After");
    assert_eq!(api.get("/healthz").await.status, 503);
    let roster = xmpp
        .iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    let error = roster
        .get_child("error", "jabber:client")
        .expect("an error");
    assert_eq!(error.attr("type"), Some("wait"), "{roster:?}");

    relay.restore();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let a = api
            .call(
                "POST",
                "/api/v1/statuses",
                &token,
                Some(serde_json::json!({"text": "after"})),
            )
            .await;
        if a.status == 201 {
            break;
        }
        assert_eq!(a.status, 503, "{:?}", a.json);
        assert!(tokio::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(api.get("/healthz").await.status, 200);
    let texts: Vec<String> = api
        .get("/api/v1/statuses")
        .await
        .json
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["after", "before"], "nothing of the refused post");
    s.stop().await;
}
