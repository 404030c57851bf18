//! XMPP over WebSocket (RFC 7395): each message is one element; `<open/>` and
//! `<close/>` frame the stream. Runs the same negotiation and session code as
//! the TCP door through the `Transport` traits.

use std::io;
use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use whassap_server::c2s::transport::{EventReader, FrameWriter, Framing, ReadError, Transport};
use whassap_xml::{Limits, StreamEvent, StreamHeader};

use crate::AppState;

const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let server = state.server.clone();
    let secure = state.config.websocket_secure;
    let limits = Limits {
        max_stanza_bytes: server.config.max_stanza_bytes,
        max_depth: server.config.max_depth,
    };
    ws.protocols(["xmpp"])
        .max_message_size(server.config.max_stanza_bytes + 1024)
        .on_upgrade(move |socket| async move {
            let _conn = server.connection_guard();
            let deadline = tokio::time::Instant::now() + server.config.auth_timeout;
            let t = WsTransport {
                socket: WsReader {
                    stream: None,
                    limits,
                },
                sink: None,
                whole: Some(socket),
            };
            whassap_server::c2s::serve_transport(server, t, peer, secure, deadline).await;
        })
}

/// Parse one WebSocket text message into a stream event.
fn event_of(text: &str, limits: &Limits) -> Result<StreamEvent, ReadError> {
    let el = whassap_xml::parse_element(text.as_bytes(), limits)?;
    if el.is("open", NS_FRAMING) {
        return Ok(StreamEvent::Start(StreamHeader {
            to: el.attr("to").map(str::to_owned),
            from: el.attr("from").map(str::to_owned),
            id: el.attr("id").map(str::to_owned),
            version: el.attr("version").map(str::to_owned),
            lang: el.attr("xml:lang").map(str::to_owned),
            default_ns: Some(NS_FRAMING.to_string()),
            stream_ns_ok: true,
        }));
    }
    if el.is("close", NS_FRAMING) {
        return Ok(StreamEvent::End);
    }
    Ok(StreamEvent::Stanza(el))
}

/// The read side: whole socket during negotiation, split stream after.
pub(crate) struct WsReader {
    stream: Option<SplitStream<WebSocket>>,
    limits: Limits,
}

async fn next_event<S>(stream: &mut S, limits: &Limits) -> Result<Option<StreamEvent>, ReadError>
where
    S: futures::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
            Some(Ok(Message::Text(t))) => return event_of(t.as_str(), limits).map(Some),
            Some(Ok(Message::Binary(_))) => {
                return Err(ReadError::BadFrame(
                    "binary WebSocket messages are not XMPP",
                ))
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// A WebSocket as a c2s transport.
pub(crate) struct WsTransport {
    socket: WsReader,
    sink: Option<SplitSink<WebSocket, Message>>,
    whole: Option<WebSocket>,
}

async fn send_frames<S>(sink: &mut S, frames: &[Bytes]) -> io::Result<()>
where
    S: futures::Sink<Message, Error = axum::Error> + Unpin,
{
    for f in frames {
        let text =
            std::str::from_utf8(f).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        sink.feed(Message::Text(text.into()))
            .await
            .map_err(io::Error::other)?;
    }
    sink.flush().await.map_err(io::Error::other)
}

impl EventReader for WsTransport {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        match self.whole.as_mut() {
            Some(ws) => next_event(ws, &self.socket.limits).await,
            None => self.socket.read_event().await,
        }
    }
}

impl FrameWriter for WsTransport {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        match (self.whole.as_mut(), self.sink.as_mut()) {
            (Some(ws), _) => send_frames(ws, frames).await,
            (None, Some(sink)) => send_frames(sink, frames).await,
            (None, None) => Err(io::ErrorKind::NotConnected.into()),
        }
    }
    async fn shutdown(&mut self) {
        if let Some(ws) = self.whole.as_mut() {
            let _ = ws.send(Message::Close(None)).await;
        }
    }
}

impl Transport for WsTransport {
    type Reader = WsReader;
    type Writer = WsWriter;
    fn framing(&self) -> Framing {
        Framing::WebSocket
    }
    fn restart(&mut self) {}
    fn can_starttls(&self) -> bool {
        false
    }
    fn split(mut self) -> (WsReader, WsWriter) {
        let ws = self
            .whole
            .take()
            .expect("a WebSocket transport is split once");
        let (sink, stream) = ws.split();
        self.socket.stream = Some(stream);
        (self.socket, WsWriter { sink })
    }
}

impl EventReader for WsReader {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        match self.stream.as_mut() {
            Some(s) => next_event(s, &self.limits).await,
            None => Ok(None),
        }
    }
}

/// The write side after the split.
pub(crate) struct WsWriter {
    sink: SplitSink<WebSocket, Message>,
}

impl FrameWriter for WsWriter {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        send_frames(&mut self.sink, frames).await
    }
    async fn shutdown(&mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = self.sink.close().await;
    }
}
