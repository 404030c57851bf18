//! The status bot `whassap@localhost` through the project's XMPP client:
//! subscriptions both ways and its presence, disco, the chat commands,
//! statuses set by IM (thanked once, visible over REST with source `im`),
//! polite refusals, messages it ignores, and remote senders.

use std::time::Duration;

use minidom::Element;
use serde_json::Value;
use whassap_client::Client;
use whassap_tests::rest::Api;
use whassap_tests::*;

const BOT: &str = "whassap@localhost";

fn body(m: &Element) -> String {
    m.get_child("body", "jabber:client")
        .map(|b| b.text())
        .unwrap_or_default()
}

/// Say `text` to the bot; its answer.
async fn ask(c: &mut Client, text: &str) -> String {
    let mut m = xml(&format!(
        "<message to='{BOT}' type='chat'><body/></message>"
    ));
    m.get_child_mut("body", "jabber:client")
        .unwrap()
        .append_text(text);
    c.send(&m).await.unwrap();
    let reply = recv_matching(c, "a chat message from the bot", |e| {
        e.name() == "message" && e.attr("from") == Some(BOT)
    })
    .await;
    assert_eq!(reply.attr("type"), Some("chat"));
    body(&reply)
}

async fn online(s: &TestServer, user: &str) -> Client {
    let mut c = s.client(user).await;
    c.iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    go_online(&mut c).await;
    c
}

async fn profile(api: &Api, user: &str) -> Value {
    api.get(&format!("/api/v1/users/{user}")).await.json
}

#[tokio::test]
async fn subscribing_to_the_bot_is_accepted_and_returned() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = online(&s, "alice").await;
    a.send(&xml(&format!("<presence to='{BOT}' type='subscribe'/>")))
        .await
        .unwrap();
    recv_matching(&mut a, "subscribed", |e| {
        e.name() == "presence"
            && e.attr("type") == Some("subscribed")
            && e.attr("from") == Some(BOT)
    })
    .await;
    let p = recv_matching(&mut a, "the bot's presence", |e| {
        e.name() == "presence" && e.attr("type").is_none()
    })
    .await;
    assert_eq!(p.attr("from"), Some("whassap@localhost/bot"));
    recv_matching(&mut a, "subscribe back", |e| {
        e.name() == "presence" && e.attr("type") == Some("subscribe") && e.attr("from") == Some(BOT)
    })
    .await;
    a.send(&xml(&format!("<presence to='{BOT}' type='subscribed'/>")))
        .await
        .unwrap();
    // Mutual now; the bot answers the probe that follows.
    recv_matching(&mut a, "available after approval", |e| {
        e.name() == "presence" && e.attr("from") == Some("whassap@localhost/bot")
    })
    .await;
    let roster = a
        .iq(xml("<iq type='get'><query xmlns='jabber:iq:roster'/></iq>"))
        .await
        .unwrap();
    let item = roster
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .find(|i| i.attr("jid") == Some(BOT))
        .expect("the bot in the roster");
    assert_eq!(item.attr("subscription"), Some("both"));
    a.close().await.unwrap();
    // The next login sees the bot online at once.
    let mut a = s.client("alice").await;
    a.send(&xml("<presence/>")).await.unwrap();
    recv_matching(&mut a, "the bot online at login", |e| {
        e.name() == "presence"
            && e.attr("from") == Some("whassap@localhost/bot")
            && e.attr("type").is_none()
    })
    .await;
    // disco#info: a bot; pings answered; anything else refused.
    let info = a
        .iq(xml(&format!(
            "<iq type='get' to='{BOT}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
        )))
        .await
        .unwrap();
    let identity = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .and_then(|q| q.get_child("identity", "http://jabber.org/protocol/disco#info"))
        .expect("an identity");
    assert_eq!(
        (identity.attr("category"), identity.attr("type")),
        (Some("client"), Some("bot"))
    );
    let ping = a
        .iq(xml(&format!(
            "<iq type='get' to='{BOT}'><ping xmlns='urn:xmpp:ping'/></iq>"
        )))
        .await
        .unwrap();
    assert_eq!(ping.attr("type"), Some("result"));
    let other = a
        .iq(xml(&format!(
            "<iq type='get' to='{BOT}'><query xmlns='jabber:iq:version'/></iq>"
        )))
        .await
        .unwrap();
    assert_eq!(other.attr("type"), Some("error"));
    s.stop().await;
}

#[tokio::test]
async fn commands_and_statuses_by_im() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    api.sign_up("alice").await;
    let bob = api.sign_up("bob").await;
    let mut a = online(&s, "alice").await;

    let help = ask(&mut a, "help").await;
    for cmd in ["help", "last", "last NAME", "delete"] {
        assert!(help.contains(cmd), "{cmd} in {help}");
    }
    assert!(ask(&mut a, "last").await.contains("no status yet"));

    // Anything else is a status: thanked once, visible with source im.
    let thanks = ask(&mut a, "at the pub").await;
    assert!(
        thanks.starts_with("Thanks for setting your status"),
        "{thanks}"
    );
    assert!(thanks.contains("at the pub"), "{thanks}");
    assert_nothing(&mut a, Duration::from_millis(400)).await;
    let status = &profile(&api, "alice").await["status"];
    assert_eq!(status["text"], "at the pub");
    assert_eq!(status["source"], "im");

    assert!(ask(&mut a, "last").await.contains("“at the pub”"));
    api.post_status(&bob, "coding").await;
    assert!(ask(&mut a, "last bob")
        .await
        .contains("bob's current status: “coding”"));
    assert!(ask(&mut a, "LAST bob@localhost").await.contains("“coding”"));
    assert!(ask(&mut a, "last nobody").await.contains("no user nobody"));

    // A status too long is refused politely, and nothing changes.
    let refusal = ask(&mut a, &"x".repeat(281)).await;
    assert!(refusal.starts_with("Sorry"), "{refusal}");
    assert!(refusal.contains("280"), "{refusal}");
    assert_eq!(profile(&api, "alice").await["status"]["text"], "at the pub");

    let deleted = ask(&mut a, "delete").await;
    assert!(
        deleted.contains("Deleted your status “at the pub”"),
        "{deleted}"
    );
    assert_eq!(profile(&api, "alice").await["status"], Value::Null);
    assert!(ask(&mut a, "delete").await.contains("no status to delete"));
    s.stop().await;
}

#[tokio::test]
async fn what_the_bot_ignores_and_remote_senders() {
    let s = TestServer::start().await;
    let api = Api::new(s.http);
    api.sign_up("alice").await;
    let mut a = online(&s, "alice").await;
    for m in [
        format!("<message to='{BOT}' type='error'><body>oops</body></message>"),
        format!("<message to='{BOT}' type='groupchat'><body>hi</body></message>"),
        format!("<message to='{BOT}' type='headline'><body>news</body></message>"),
        format!("<message to='{BOT}' type='chat'><body>  </body></message>"),
        format!("<message to='{BOT}' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>"),
    ] {
        a.send(&xml(&m)).await.unwrap();
    }
    assert_nothing(&mut a, Duration::from_millis(500)).await;
    assert_eq!(profile(&api, "alice").await["statuses_count"], 0);

    // A federated user is told that only local users can post.
    let server = s.app().server.clone();
    let from_remote = xml(&format!(
        "<message from='mallory@remote.example/x' to='{BOT}' type='chat'><body>hello</body></message>"
    ));
    let replies = whassap_server::bot::respond(&server, &from_remote).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].attr("to"), Some("mallory@remote.example/x"));
    assert!(
        body(&replies[0]).contains("only users of localhost"),
        "{:?}",
        body(&replies[0])
    );
    // Nor does the bot answer itself.
    let from_self = xml(&format!(
        "<message from='{BOT}/bot' to='{BOT}' type='chat'><body>hello</body></message>"
    ));
    assert!(whassap_server::bot::respond(&server, &from_self)
        .await
        .is_empty());
    s.stop().await;
}
