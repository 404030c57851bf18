//! Operations: health, metrics, graceful shutdown, XMPP over WebSocket.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use whassap_client::ClientError;
use whassap_proto::scram::{Hash, ScramClient};
use whassap_tests::*;

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn healthz_and_metrics() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let (status, body) = http_get(s.http, "/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains("ok"));
    let mut a = s.client("alice").await;
    go_online(&mut a).await;
    let mut bad = s.options("alice");
    bad.password = "nope".into();
    assert!(whassap_client::Client::connect(bad).await.is_err());
    let (status, metrics) = http_get(s.http, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("whassap_sessions 1"), "{metrics}");
    assert!(
        metrics.contains("whassap_auth_failures_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE whassap_stanzas_in_total counter"));
    s.stop().await;
}

#[tokio::test]
async fn shutdown_closes_streams_politely() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let mut a = s.client("alice").await;
    let server_task = tokio::spawn(s.stop());
    match a.recv_timeout(Duration::from_secs(10)).await {
        Err(ClientError::StreamError { condition, .. }) => assert_eq!(condition, "system-shutdown"),
        other => panic!("expected system-shutdown, got {other:?}"),
    }
    server_task.await.unwrap();
}

fn ws_text(m: Message) -> String {
    match m {
        Message::Text(t) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn ws_login(
    s: &TestServer,
    user: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut req = format!("ws://{}/xmpp-websocket", s.http)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    req.headers_mut()
        .insert("Origin", "https://somewhere-else.example".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("WebSocket upgrade");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "xmpp"
    );
    let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
    ws.send(Message::text(open)).await.unwrap();
    let header = ws_text(ws.next().await.unwrap().unwrap());
    assert!(header.starts_with("<open"), "{header}");
    let features = ws_text(ws.next().await.unwrap().unwrap());
    assert!(features.contains("SCRAM-SHA-256"));
    assert!(
        !features.contains(">PLAIN<"),
        "no PLAIN over plain-HTTP WebSocket: {features}"
    );
    let mut scram = ScramClient::new(Hash::Sha256, user, PASSWORD);
    let first = b64.encode(scram.client_first());
    ws.send(Message::text(format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>{first}</auth>"
    )))
    .await
    .unwrap();
    let challenge = xml(&ws_text(ws.next().await.unwrap().unwrap()));
    let server_first = b64.decode(challenge.text().trim()).unwrap();
    let client_final = b64.encode(scram.handle_server_first(&server_first).unwrap());
    ws.send(Message::text(format!(
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{client_final}</response>"
    )))
    .await
    .unwrap();
    let success = xml(&ws_text(ws.next().await.unwrap().unwrap()));
    assert_eq!(success.name(), "success");
    scram
        .verify_server_final(&b64.decode(success.text().trim()).unwrap())
        .unwrap();
    ws.send(Message::text(open)).await.unwrap();
    ws_text(ws.next().await.unwrap().unwrap());
    let features = ws_text(ws.next().await.unwrap().unwrap());
    assert!(features.contains("urn:ietf:params:xml:ns:xmpp-bind"));
    ws.send(Message::text("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>")).await.unwrap();
    let bound = ws_text(ws.next().await.unwrap().unwrap());
    assert!(bound.contains(&format!("{user}@localhost/web")), "{bound}");
    ws
}

#[tokio::test]
async fn websocket_login_and_message_exchange() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let mut ws = ws_login(&s, "alice").await;
    let mut bob = s.client("bob").await;
    go_online(&mut bob).await;

    ws.send(Message::text("<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>from the web</body></message>")).await.unwrap();
    let m = recv_named(&mut bob, "message").await;
    assert_eq!(m.attr("from"), Some("alice@localhost/web"));
    assert_eq!(
        m.get_child("body", "jabber:client").unwrap().text(),
        "from the web"
    );

    bob.send(&xml(
        "<message to='alice@localhost/web' type='chat'><body>back to the web</body></message>",
    ))
    .await
    .unwrap();
    let frame = ws_text(ws.next().await.unwrap().unwrap());
    let reply = xml(&frame);
    assert_eq!(reply.name(), "message");
    assert_eq!(
        reply.get_child("body", "jabber:client").unwrap().text(),
        "back to the web"
    );

    // A PubSub event (one shared serialisation, addressed by the writer)
    // arrives as one whole frame.
    ws.send(Message::text("<iq xmlns='jabber:client' type='set' id='s' to='pubsub.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='firehose' jid='alice@localhost/web'/></pubsub></iq>")).await.unwrap();
    assert!(ws_text(ws.next().await.unwrap().unwrap()).contains("subscribed"));
    let server = s.app().server.clone();
    let entry: minidom::Element =
        "<entry xmlns='http://www.w3.org/2005/Atom'><title>hi</title></entry>"
            .parse()
            .unwrap();
    whassap_server::pubsub::items::publish_as_server(&server, "firehose", "w1", &entry)
        .await
        .unwrap();
    let event = xml(&ws_text(ws.next().await.unwrap().unwrap()));
    assert_eq!(event.name(), "message");
    assert_eq!(event.attr("to"), Some("alice@localhost/web"));
    assert!(event
        .get_child("event", "http://jabber.org/protocol/pubsub#event")
        .is_some());

    ws.send(Message::text(
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
    ))
    .await
    .unwrap();
    let close = ws_text(ws.next().await.unwrap().unwrap());
    assert!(close.starts_with("<close"), "{close}");
    s.stop().await;
}

/// A WebSocket client that stops reading is bounded like a TCP one: its
/// session's queue holds at most `session_queue_bytes`, and it is
/// disconnected once that is full, long before the stanza count bound.
#[tokio::test]
async fn a_websocket_client_that_stops_reading_is_disconnected() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    // alice logs in over WebSocket and never reads again.
    let ws = ws_login(&s, "alice").await;
    let mut bob = s.client("bob").await;
    let server = s.app().server.clone();
    // 400 messages: far below the 1,024-stanza bound, 40 MiB in all.
    let kicked = flood_until_disconnected(
        &mut bob,
        &server,
        "alice@localhost/web",
        "headline",
        100 * 1024,
        400,
        20,
    )
    .await;
    assert!(
        kicked,
        "the WebSocket session that stopped reading was closed"
    );
    assert!(server
        .metrics
        .render()
        .contains("whassap_slow_consumers_total 1"));
    drop(ws);
    s.stop().await;
}
