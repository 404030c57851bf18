//! A bound c2s session: the reader loop that checks and stamps each stanza
//! and hands it to the core, and the writer task that drains the session's
//! bounded queue.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use minidom::Element;
use tokio::task::JoinHandle;
use whassap_proto::ns;
use whassap_xml::StreamEvent;

use super::transport::{EventReader, FrameWriter, Framing, Transport};
use crate::core::{self, Ctx};
use crate::metrics::Metrics;
use crate::registry::{Outbound, SessionHandle};
use crate::stanza::{self};
use crate::Server;

/// Frames written in one batch by the writer task.
const WRITE_BATCH: usize = 64;

/// Register the session, answer the bind request and serve it until it ends.
///
/// The setup runs when this is called; the returned future only holds what
/// the session needs while it lives (the server, its handle, the reader and
/// the writer task), so that every connected client's task stays small: an
/// `async fn` would keep its arguments (the bind request among them) for
/// the session's whole life.
pub fn run<T: Transport>(
    server: Arc<Server>,
    transport: T,
    peer: SocketAddr,
    username: String,
    resource: String,
    bind_iq: Element,
) -> impl Future<Output = ()> + Send {
    let framing = transport.framing();
    let bare = format!("{username}@{}", server.config.domain);
    let handle = Arc::new(SessionHandle::new(
        server.registry.next_id(),
        bare,
        resource,
        server.config.session_queue,
        server.config.session_queue_bytes,
    ));
    if let Some(old) = server.registry.insert(handle.clone()) {
        tracing::info!(session = %old.full, "replaced by a new session with the same resource");
        old.kill(Some("conflict"));
    }
    server.cluster.session_changed(&handle);
    server.metrics.sessions.fetch_add(1, Ordering::Relaxed);
    tracing::info!(session = %handle.full, %peer, "session started");

    let (reader, writer) = transport.split();
    let writer_task = tokio::spawn(write_loop(writer, handle.clone(), framing, server.clone()));

    let mut bound = stanza::iq_result(&bind_iq, None);
    stanza::remove_attr(&mut bound, "to");
    stanza::remove_attr(&mut bound, "from");
    let mut bind = Element::bare("bind", ns::BIND);
    bind.append_child(stanza::text_element("jid", ns::BIND, &handle.full));
    bound.append_child(bind);
    handle.send_element(&bound);

    serve(server, handle, reader, writer_task)
}

/// The session's life once set up: read until it ends, then finish. One
/// `async fn` that owns its parts, so that each is held once (an `async`
/// block handing them to another function would hold them twice).
async fn serve<R: EventReader>(
    server: Arc<Server>,
    handle: Arc<SessionHandle>,
    mut reader: R,
    writer_task: JoinHandle<()>,
) {
    read_loop(&server, &handle, &mut reader).await;
    Box::pin(finish(server, handle, writer_task)).await;
}

/// Hand each stanza the client sends to its module until the stream ends,
/// fails or the session is killed.
async fn read_loop<R: EventReader>(
    server: &Arc<Server>,
    handle: &Arc<SessionHandle>,
    reader: &mut R,
) {
    loop {
        let event = tokio::select! {
            biased;
            _ = handle.killed().cancelled() => break,
            _ = server.shutdown.cancelled() => {
                handle.kill(Some("system-shutdown"));
                break;
            }
            e = reader.read_event() => e,
        };
        match event {
            Ok(Some(StreamEvent::Stanza(el))) => {
                Metrics::inc(&server.metrics.stanzas_in);
                // Boxed: a module's future (store queries included) is
                // several KiB; inline, every session's task would be that
                // large while it waits for its next stanza.
                if let Err(condition) = Box::pin(handle_stanza(server, handle, el)).await {
                    handle.kill(Some(condition));
                    break;
                }
            }
            Ok(Some(StreamEvent::End)) | Ok(None) => {
                handle.kill(None);
                break;
            }
            Ok(Some(StreamEvent::Start(_))) => {
                handle.kill(Some("not-well-formed"));
                break;
            }
            Err(e) => {
                tracing::debug!(session = %handle.full, "read error: {e}");
                handle.kill(e.condition());
                break;
            }
        }
    }
}

/// Unregister the session, tell its contacts and let the writer finish
/// (aborted if the client does not take the last bytes in time).
async fn finish(server: Arc<Server>, handle: Arc<SessionHandle>, mut writer_task: JoinHandle<()>) {
    server.registry.remove(&handle);
    server.cluster.session_down(&handle);
    let ctx = Ctx::client(server.clone(), handle.clone());
    for h in server.hooks.session_ended_handlers() {
        h(ctx.clone()).await;
    }
    server.metrics.sessions.fetch_sub(1, Ordering::Relaxed);
    if tokio::time::timeout(Duration::from_secs(5), &mut writer_task)
        .await
        .is_err()
    {
        writer_task.abort();
    }
    // What a client that stopped reading left queued goes now, not when
    // the last reference to the handle does, and back to the system.
    let held = handle.queue().discard();
    server.reclaimer.session_released(held);
    tracing::info!(session = %handle.full, reason = handle.kill_reason().unwrap_or("closed"), "session ended");
}

/// Validate addressing, stamp `from` and hand the stanza to the core.
/// Err is a stream error condition that ends the session.
async fn handle_stanza(
    server: &Arc<Server>,
    session: &Arc<SessionHandle>,
    mut el: Element,
) -> Result<(), &'static str> {
    if el.ns() != ns::JABBER_CLIENT || !matches!(el.name(), "message" | "presence" | "iq") {
        return Err("unsupported-stanza-type");
    }
    if let Some(from) = el.attr("from") {
        if from != session.full && from != session.bare() {
            return Err("invalid-from");
        }
    }
    stanza::set_attr(&mut el, "from", session.full.as_str());
    if let Some(to) = el.attr("to") {
        match jid::Jid::new(to) {
            Ok(j) => {
                let normalised = j.to_string();
                if normalised != to {
                    stanza::set_attr(&mut el, "to", normalised);
                }
            }
            Err(_) => {
                if stanza::stanza_type(&el) != "error" {
                    let mut reply = stanza::error(&el, "jid-malformed");
                    stanza::remove_attr(&mut reply, "from");
                    session.send_element(&reply);
                }
                return Ok(());
            }
        }
    }
    core::process(Ctx::client(server.clone(), session.clone()), el).await;
    Ok(())
}

async fn write_loop<W: FrameWriter>(
    mut writer: W,
    handle: Arc<SessionHandle>,
    framing: Framing,
    server: Arc<Server>,
) {
    // The batch is allocated per wake-up and dropped after the write, so an
    // idle session holds no frame buffer.
    let mut batch = Vec::new();
    loop {
        let n = handle.queue().drain(WRITE_BATCH, |item| {
            push_frames(&mut batch, item, &handle, framing)
        });
        if n == 0 {
            tokio::select! {
                biased;
                _ = handle.queue().pushed() => continue,
                _ = handle.killed().cancelled() => break,
            }
        }
        let written = {
            let write = writer.write_frames(&batch);
            tokio::pin!(write);
            tokio::select! {
                r = &mut write => r.is_ok(),
                // Killed while writing: the write under way is finished
                // (it may hold the reply that ends the session, and a
                // stanza cut in half would garble the stream error after
                // it), unless the client stopped reading.
                _ = handle.killed().cancelled() => {
                    handle.kill_reason() != Some("policy-violation")
                        && matches!(
                            tokio::time::timeout(Duration::from_secs(2), &mut write).await,
                            Ok(Ok(_))
                        )
                }
            }
        };
        batch = Vec::new();
        if !written {
            break;
        }
        server
            .metrics
            .stanzas_out
            .fetch_add(n as u64, Ordering::Relaxed);
    }
    handle.queue().close();
    // Write what is still queued (a polite close after e.g. a final error reply),
    // unless the client stopped reading, then the stream error and close.
    let reason = handle.kill_reason();
    if reason != Some("policy-violation") {
        handle.queue().drain(usize::MAX, |item| {
            push_frames(&mut batch, item, &handle, framing)
        });
    } else {
        Metrics::inc(&server.metrics.slow_consumers);
    }
    match reason {
        Some(c) => batch.extend(framing.error(c, None)),
        None => batch.push(Bytes::from_static(framing.close().as_bytes())),
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), writer.write_frames(&batch)).await;
    writer.shutdown().await;
}

/// Turn a queued item into frames: an addressed stanza becomes head, own
/// JID, tail (three writes of shared bytes on a byte stream; one message on
/// WebSocket, where a frame must hold a whole stanza).
fn push_frames(batch: &mut Vec<Bytes>, item: Outbound, handle: &SessionHandle, framing: Framing) {
    match item {
        Outbound::Data(b) => batch.push(b),
        Outbound::Addressed { head, tail } => match framing {
            Framing::Tcp => {
                batch.push(head);
                batch.push(handle.full_escaped.clone());
                batch.push(tail);
            }
            Framing::WebSocket => {
                let mut whole = bytes::BytesMut::with_capacity(
                    head.len() + handle.full_escaped.len() + tail.len(),
                );
                whole.extend_from_slice(&head);
                whole.extend_from_slice(&handle.full_escaped);
                whole.extend_from_slice(&tail);
                batch.push(whole.freeze());
            }
        },
    }
}
