//! A store that fails: a failed read is an error (`internal-server-error`,
//! type `wait`), never "no such item", and nothing changes. The fault is
//! real: a table of the server's database (SQLite, or PostgreSQL when the
//! suite runs on it) is renamed under it by a second connection, so every
//! statement on it fails until it is renamed back.

use std::time::Duration;

use minidom::Element;
use sqlx::Connection;
use whassap_client::Client;
use whassap_tests::*;

const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// A table of the server's database, out of order while this lives.
struct Broken {
    conn: sqlx::AnyConnection,
    table: &'static str,
}

impl Broken {
    async fn table(s: &TestServer, table: &'static str) -> Broken {
        let url = match s.config().postgres_url() {
            Some(url) => url.to_string(),
            None => format!("sqlite://{}", s.data_dir().join("whassap.db").display()),
        };
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&url)
            .await
            .expect("open the server's database");
        // The table names are this file's constants.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} RENAME TO {table}_out_of_order"
        )))
        .execute(&mut conn)
        .await
        .expect("break the table");
        Broken { conn, table }
    }

    async fn repair(mut self) {
        let t = self.table;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {t}_out_of_order RENAME TO {t}"
        )))
        .execute(&mut self.conn)
        .await
        .expect("repair the table");
    }
}

/// `(type, condition)` of an error stanza.
fn error_of(el: &Element) -> (Option<String>, Option<String>) {
    assert_eq!(el.attr("type"), Some("error"), "an error: {el:?}");
    let e = el.get_child("error", "jabber:client").expect("<error/>");
    let condition = e
        .children()
        .find(|c| c.ns() == STANZAS && c.name() != "text")
        .map(|c| c.name().to_string());
    (e.attr("type").map(str::to_owned), condition)
}

fn wait_internal() -> (Option<String>, Option<String>) {
    (Some("wait".into()), Some("internal-server-error".into()))
}

/// The subscription alice's roster shows for `contact`.
async fn subscription(c: &mut Client, contact: &str) -> Option<String> {
    let r = get_roster(c).await;
    r.get_child("query", "jabber:iq:roster")?
        .children()
        .find(|i| i.attr("jid") == Some(contact))?
        .attr("subscription")
        .map(str::to_owned)
}

#[tokio::test]
async fn approving_a_request_while_requests_cannot_be_read_is_refused_and_can_be_retried() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut a = s.client("alice").await;
    let mut b = s.client("bob").await;
    get_roster(&mut a).await;
    get_roster(&mut b).await;
    go_online(&mut a).await;
    go_online(&mut b).await;
    b.send(&xml("<presence to='alice@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    recv_matching(&mut a, "subscribe", |e| e.attr("type") == Some("subscribe")).await;
    // bob's own roster push for his request, and the receipt.
    while b
        .recv_timeout(Duration::from_millis(300))
        .await
        .unwrap()
        .is_some()
    {}

    let broken = Broken::table(&s, "pending_in").await;
    a.send(&xml("<presence to='bob@localhost' type='subscribed'/>"))
        .await
        .unwrap();
    // Not taken for "no request waits" (which would make it a
    // pre-approval and lose bob's request without a word).
    let refused = recv_named(&mut a, "presence").await;
    assert_eq!(error_of(&refused), wait_internal());
    assert_nothing(&mut b, Duration::from_millis(300)).await;
    broken.repair().await;
    assert_eq!(
        subscription(&mut a, "bob@localhost").await,
        None,
        "nothing was written"
    );

    // Once the store answers again, the same approval goes through.
    a.send(&xml("<presence to='bob@localhost' type='subscribed'/>"))
        .await
        .unwrap();
    recv_matching(&mut b, "subscribed", |e| {
        e.attr("type") == Some("subscribed")
    })
    .await;
    assert_eq!(
        subscription(&mut a, "bob@localhost").await.as_deref(),
        Some("from")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_roster_that_cannot_be_read_keeps_its_subscriptions() {
    let s = TestServer::start().await;
    let (mut a, mut b) = befriended(&s).await;
    assert_eq!(
        subscription(&mut a, "bob@localhost").await.as_deref(),
        Some("both")
    );

    let broken = Broken::table(&s, "roster_items").await;
    // bob asks again: alice's server cannot tell whether he is subscribed,
    // so it answers that it cannot say now, instead of taking him for a
    // stranger.
    b.send(&xml("<presence to='alice@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    let answer = recv_named(&mut b, "presence").await;
    assert_eq!(answer.attr("from"), Some("alice@localhost"));
    assert_eq!(error_of(&answer), wait_internal());
    // alice renames bob: refused, not written over a subscription it
    // could not read.
    let r = a
        .iq(xml(
            "<iq type='set'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'/></query></iq>",
        ))
        .await
        .unwrap();
    assert_eq!(error_of(&r), wait_internal());
    // alice subscribes again: refused the same way.
    a.send(&xml("<presence to='bob@localhost' type='subscribe'/>"))
        .await
        .unwrap();
    let refused = recv_named(&mut a, "presence").await;
    assert_eq!(error_of(&refused), wait_internal());
    assert_nothing(&mut a, Duration::from_millis(300)).await;
    broken.repair().await;

    assert_eq!(
        subscription(&mut a, "bob@localhost").await.as_deref(),
        Some("both")
    );
    assert_eq!(
        subscription(&mut b, "alice@localhost").await.as_deref(),
        Some("both")
    );
    s.stop().await;
}

#[tokio::test]
async fn a_message_to_an_account_that_cannot_be_looked_up_is_bounced_to_retry() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    let broken = Broken::table(&s, "users").await;
    a.send(&xml(
        "<message to='nobody-online@localhost' type='chat'><body>hi</body></message>",
    ))
    .await
    .unwrap();
    let bounced = recv_named(&mut a, "message").await;
    // Not `service-unavailable` ("no such user"): the sender may try again.
    assert_eq!(error_of(&bounced), wait_internal());
    broken.repair().await;
    s.stop().await;
}

#[tokio::test]
async fn a_remote_subscription_to_the_bot_that_cannot_be_kept_is_refused_and_can_be_retried() {
    let (a, b) = federated_pair(|_| {}).await;
    b.user("bob").await;
    let api = rest::Api::new(a.http);
    let token = api.token(&api.sign_up("ci").await).await;
    let mut bob = b.client("bob").await;
    get_roster(&mut bob).await;
    go_online(&mut bob).await;
    let subscribe = xml("<presence to='whassap@a.test' type='subscribe'/>");
    let from_bot = |e: &Element| e.name() == "presence" && e.attr("from") == Some("whassap@a.test");

    let broken = Broken::table(&a, "bot_subscribers").await;
    bob.send(&subscribe).await.unwrap();
    let refused = recv_matching(&mut bob, "the bot's refusal", |e| {
        from_bot(e) && e.attr("type") == Some("error")
    })
    .await;
    assert_eq!(error_of(&refused), wait_internal());
    // Nor can the notifications API say whether bob accepted the bot.
    let body = serde_json::json!({"to": "bob@b.test", "body": "x"});
    let r = api
        .call("POST", "/api/v1/messages", &token, Some(body.clone()))
        .await;
    assert!(
        r.status >= 500 && r.json["error"]["code"].is_string(),
        "a JSON error: {} {:?}",
        r.status,
        r.json
    );
    broken.repair().await;

    // Nothing was kept: the API refuses until bob asks again.
    let r = api
        .call("POST", "/api/v1/messages", &token, Some(body.clone()))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    bob.send(&subscribe).await.unwrap();
    recv_matching(&mut bob, "the bot's approval", |e| {
        from_bot(e) && e.attr("type") == Some("subscribed")
    })
    .await;
    let r = api
        .call("POST", "/api/v1/messages", &token, Some(body))
        .await;
    assert_eq!(r.status, 202, "{:?}", r.json);
    a.stop().await;
    b.stop().await;
}
