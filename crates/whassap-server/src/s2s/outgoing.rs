//! Outgoing s2s: one task per remote domain drains that domain's queue
//! over a stream this server opens and authenticates (SASL EXTERNAL when
//! the peer offers it, else dialback), in order. What cannot be delivered
//! within `s2s_timeout` is bounced; an idle stream is closed and the task
//! ends (the next stanza starts another). The same connection code checks
//! dialback keys with a peer's authoritative server ([`verify`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use minidom::Element;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use whassap_xml::StreamEvent;

use super::stream::{self, Io, S2sStream, NS_SASL, NS_TLS};
use super::{dialback, Auth, Direction, Link, Peer};
use crate::c2s::transport::{EventReader, FrameWriter, TcpReader, TcpWriter, Transport};
use crate::core::router;
use crate::Server;

/// Stanzas written in one batch.
const BATCH: usize = 64;
/// How long a stream keeps sending what is queued once shutdown began.
const SHUTDOWN_DRAIN: Duration = Duration::from_millis(500);

/// Why a peer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No address answered (or none was found).
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// It answered, but the stream failed or authentication was refused.
    #[error("{0}")]
    Refused(String),
    /// It took longer than `s2s_timeout`.
    #[error("timed out")]
    Timeout,
    /// It offered SASL EXTERNAL and then refused this server's certificate
    /// (some servers close the stream then): try again with dialback.
    #[error("SASL EXTERNAL refused")]
    ExternalRefused,
}

impl Failure {
    /// The stanza error for what was queued (SPEC §6).
    pub fn condition(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "remote-server-not-found",
            Failure::Refused(_) | Failure::Timeout | Failure::ExternalRefused => {
                "remote-server-timeout"
            }
        }
    }
}

/// What the stream is opened for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Sending stanzas: authenticate this server's domain.
    Send,
    /// The same, with dialback only.
    SendDialback,
    /// Asking the peer, as authoritative server, about a dialback key.
    Verify,
}

/// Drain the queue of `domain` until the stream goes idle or fails.
pub async fn run(
    server: Arc<Server>,
    domain: String,
    peer: Arc<Peer>,
    mut rx: mpsc::Receiver<Element>,
) {
    let s2s = &server.s2s;
    let timeout = s2s.config().timeout;
    // The stanza that started the task (or the first one after a
    // connection broke) waits in the queue.
    let mut failure = None;
    while !rx.is_empty() {
        let guard = s2s.link(Direction::Out, &domain, Some(peer.clone()));
        let ours = server.config.domain.clone();
        let opening = tokio::time::timeout(timeout, async {
            match open(&server, &domain, &ours, Purpose::Send, Some(&guard.link)).await {
                Err(Failure::ExternalRefused) => {
                    open(
                        &server,
                        &domain,
                        &ours,
                        Purpose::SendDialback,
                        Some(&guard.link),
                    )
                    .await
                }
                other => other,
            }
        });
        // A server shutting down opens no new streams (its own listener,
        // which the peer would verify dialback against, is closed).
        let opened = tokio::select! {
            o = opening => o.unwrap_or(Err(Failure::Timeout)),
            _ = server.shutdown.cancelled() => Err(Failure::Refused("shutting down".into())),
        };
        match opened {
            Ok((stream, id)) => {
                tracing::info!(%domain, "s2s: outgoing stream ready");
                serve(&server, &domain, stream, &id, &mut rx, &guard.link).await;
            }
            Err(f) => {
                tracing::warn!(%domain, "s2s: {f}; bouncing what was queued");
                failure = Some(f);
                break;
            }
        }
    }
    server.s2s.peer_ended(&domain, &peer);
    rx.close();
    let condition = failure
        .as_ref()
        .map_or("remote-server-timeout", |f| f.condition());
    while let Ok(el) = rx.try_recv() {
        match &failure {
            Some(_) => router::bounce(&server, &el, condition, None).await,
            // Arrived as the stream closed: queued again, for a new stream.
            None => server.s2s.send(&server, &domain, el).await,
        }
    }
}

/// Send what is queued until the queue closes, the stream breaks, or
/// nothing is sent or received for `s2s_idle`.
async fn serve(
    server: &Arc<Server>,
    domain: &str,
    stream: S2sStream,
    stream_id: &str,
    rx: &mut mpsc::Receiver<Element>,
    link: &Link,
) {
    let idle = server.s2s.config().idle;
    let traffic = server.s2s.traffic(domain);
    let (mut reader, mut writer) = stream.t.split();
    // This server's domains the peer has accepted on this stream: the
    // main one from the start, `pubsub.<domain>` with dialback when it
    // first sends (XEP-0220 §2.4 allows several on one stream).
    let mut accepted: HashSet<String> = HashSet::from([server.config.domain.clone()]);
    let mut last = Instant::now();
    let mut batch: Vec<Element> = Vec::new();
    // At shutdown what is queued (the unavailable presence of the users
    // leaving, say) still goes, for a moment.
    let mut closing = std::pin::pin!(async {
        server.shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_DRAIN).await;
    });
    loop {
        if server.shutdown.is_cancelled() && rx.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut closing => break,
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    break;
                }
                for local in from_domains(&batch) {
                    if accepted.contains(&local) || !router::is_local_domain(server, &local) {
                        continue;
                    }
                    match more_dialback(server, &mut reader, &mut writer, domain, &local, stream_id).await {
                        Ok(true) => {
                            accepted.insert(local);
                        }
                        Ok(false) => tracing::warn!(%domain, %local, "s2s: the peer refused a second domain"),
                        Err(()) => return,
                    }
                }
                let mut refused = Vec::new();
                batch.retain(|el| {
                    let ok = from_domain(el).is_some_and(|d| accepted.contains(&d));
                    if !ok {
                        refused.push(el.clone());
                    }
                    ok
                });
                for el in refused {
                    router::bounce(server, &el, "remote-server-timeout", None).await;
                }
                let n = batch.len();
                let frames: Vec<Bytes> = batch.iter().map(stream::to_server_bytes).collect();
                if let Err(e) = writer.write_frames(&frames).await {
                    // Without stream management there is no telling what
                    // the peer got: the batch is logged, not bounced twice.
                    tracing::warn!(%domain, lost = batch.len(), "s2s: write failed: {e}");
                    return;
                }
                traffic.stanzas_out.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                batch.clear();
                last = Instant::now();
                link.touch();
            }
            ev = reader.read_event() => match ev {
                Ok(Some(StreamEvent::Stanza(el))) => {
                    if el.is("error", whassap_proto::ns::STREAM) {
                        tracing::warn!(%domain, error = %String::from_utf8_lossy(&whassap_xml::to_bytes(&el)), "s2s: stream error from peer");
                        return;
                    }
                    // Nothing else is expected on a stream this server opened.
                    last = Instant::now();
                }
                Ok(Some(StreamEvent::Start(_))) => return,
                Ok(Some(StreamEvent::End)) | Ok(None) | Err(_) => return,
            },
            _ = tokio::time::sleep_until(last + idle) => {
                tracing::debug!(%domain, "s2s: closing idle outgoing stream");
                break;
            }
        }
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        writer.write_frames(&[Bytes::from_static(whassap_xml::STREAM_CLOSE.as_bytes())]),
    )
    .await;
    writer.shutdown().await;
}

/// The domain of a stanza's `from`.
fn from_domain(el: &Element) -> Option<String> {
    el.attr("from")
        .and_then(|f| jid::Jid::new(f).ok())
        .map(|j| j.domain().to_string())
}

/// The distinct `from` domains of a batch, in order.
fn from_domains(batch: &[Element]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in batch.iter().filter_map(from_domain) {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Authenticate one more of this server's domains on an open stream with
/// dialback. Err: the stream failed.
async fn more_dialback(
    server: &Arc<Server>,
    reader: &mut TcpReader<Box<dyn Io>>,
    writer: &mut TcpWriter<Box<dyn Io>>,
    domain: &str,
    local: &str,
    stream_id: &str,
) -> Result<bool, ()> {
    let key = dialback::key(&server.s2s.secret, domain, local, stream_id);
    let request = stream::db("result", local, domain, None, None, Some(&key));
    writer
        .write_frames(&[Bytes::from(request)])
        .await
        .map_err(|_| ())?;
    let answer = async {
        loop {
            match reader.read_event().await {
                Ok(Some(StreamEvent::Stanza(r))) if r.is("result", dialback::NS) => {
                    if r.attr("from") == Some(domain) && r.attr("to") == Some(local) {
                        return Ok(r.attr("type") == Some("valid"));
                    }
                }
                Ok(Some(StreamEvent::Stanza(_))) => {}
                _ => return Err(()),
            }
        }
    };
    tokio::time::timeout(server.s2s.config().timeout, answer)
        .await
        .unwrap_or(Err(()))
}

/// Ask `originating`'s authoritative server whether `key` is the dialback
/// key it made, for this server's domain `receiving`, for the stream
/// `stream_id` it opened here.
pub async fn verify(
    server: &Arc<Server>,
    receiving: &str,
    originating: &str,
    stream_id: &str,
    key: &str,
) -> Result<bool, Failure> {
    let ours = receiving.to_string();
    let work = async {
        let (mut stream, _) = open(server, originating, &ours, Purpose::Verify, None).await?;
        stream
            .send(stream::db(
                "verify",
                &ours,
                originating,
                Some(stream_id),
                None,
                Some(key),
            ))
            .await
            .map_err(|e| Failure::Refused(format!("writing db:verify: {e}")))?;
        loop {
            match stream.next().await {
                Ok(Some(StreamEvent::Stanza(el))) if el.is("verify", dialback::NS) => {
                    if el.attr("id") != Some(stream_id) {
                        continue;
                    }
                    let _ = stream.send(whassap_xml::STREAM_CLOSE).await;
                    return Ok(el.attr("type") == Some("valid"));
                }
                Ok(Some(StreamEvent::Stanza(_))) => continue,
                Ok(_) | Err(_) => {
                    return Err(Failure::Refused(
                        "the authoritative server closed the stream".into(),
                    ))
                }
            }
        }
    };
    tokio::time::timeout(server.s2s.config().timeout, work)
        .await
        .unwrap_or(Err(Failure::Timeout))
}

/// Connect to `domain`, start TLS and (to send) authenticate.
async fn open(
    server: &Arc<Server>,
    domain: &str,
    ours: &str,
    purpose: Purpose,
    link: Option<&Link>,
) -> Result<(S2sStream, String), Failure> {
    let s2s = &server.s2s;
    let limits = whassap_xml::Limits {
        max_stanza_bytes: server.config.max_stanza_bytes,
        max_depth: server.config.max_depth,
    };
    let mut stream = None;
    let mut candidates = Vec::new();
    for target in s2s.resolver.targets(domain).await {
        for ip in s2s.resolver.addresses(&target.host).await {
            candidates.push((std::net::SocketAddr::new(ip, target.port), target.clone()));
        }
    }
    for (addr, target) in candidates {
        let connect = TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(tcp)) => {
                let plain = S2sStream::plain(tcp, limits);
                stream = Some(if target.direct_tls {
                    match plain.connect_tls(&s2s.tls().connector, domain).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(%domain, host = %target.host, "s2s: direct TLS failed: {e}");
                            continue;
                        }
                    }
                } else {
                    plain
                });
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!(%domain, host = %target.host, port = target.port, "s2s: connect failed: {e}")
            }
            Err(_) => {
                tracing::debug!(%domain, host = %target.host, port = target.port, "s2s: connect timed out")
            }
        }
    }
    let mut stream = stream.ok_or_else(|| Failure::Unreachable(domain.to_string()))?;
    let refused = |what: &str| Failure::Refused(format!("{domain}: {what}"));
    let mut authenticated = false;
    loop {
        stream
            .send(stream::header(ours, Some(domain), None, true))
            .await
            .map_err(|e| refused(&format!("writing the header: {e}")))?;
        let header = match stream.next().await {
            Ok(Some(StreamEvent::Start(h))) => h,
            _ => return Err(refused("no stream header")),
        };
        if !header.stream_ns_ok || header.default_ns.as_deref() != Some(stream::NS_SERVER) {
            return Err(refused("not an s2s stream"));
        }
        let id = header.id.clone().unwrap_or_default();
        let features = if header.version.as_deref() == Some("1.0") {
            match stream.next().await {
                Ok(Some(StreamEvent::Stanza(f))) if f.name() == "features" => Some(f),
                _ => return Err(refused("no stream features")),
            }
        } else {
            None
        };
        if let Some(link) = link {
            link.touch();
        }
        if authenticated {
            return Ok((stream, id));
        }
        if let Some(link) = link {
            link.set(None, stream.tls, Auth::None);
        }
        let offers_tls = features
            .as_ref()
            .is_some_and(|f| stream::offers(f, "starttls", NS_TLS));
        if !stream.tls && offers_tls {
            stream
                .send(format!("<starttls xmlns='{NS_TLS}'/>"))
                .await
                .map_err(|e| refused(&format!("writing starttls: {e}")))?;
            match stream.next().await {
                Ok(Some(StreamEvent::Stanza(p))) if p.is("proceed", NS_TLS) => {}
                _ => return Err(refused("STARTTLS was not accepted")),
            }
            stream = stream
                .connect_tls(&s2s.tls().connector, domain)
                .await
                .map_err(|e| refused(&format!("TLS: {e}")))?;
            continue;
        }
        if !stream.tls && !s2s.config().allow_plaintext {
            return Err(refused("it offers no TLS (s2s_allow_plaintext is off)"));
        }
        if s2s.config().require_valid_certs && !s2s.tls().valid_for(&stream.peer_certs, domain) {
            return Err(refused("its certificate is not valid for it"));
        }
        if purpose == Purpose::Verify {
            return Ok((stream, id));
        }
        // EXTERNAL is worth trying only with a certificate this server
        // itself finds valid (a self-signed one never is).
        let external = purpose == Purpose::Send
            && s2s.own_certificate_valid(ours)
            && features
                .as_ref()
                .is_some_and(|f| stream::mechanisms(f).iter().any(|m| m == "EXTERNAL"));
        if external && stream.tls {
            let authzid = base64::engine::general_purpose::STANDARD.encode(ours);
            stream
                .send(format!(
                    "<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{authzid}</auth>"
                ))
                .await
                .map_err(|e| refused(&format!("writing auth: {e}")))?;
            match stream.next().await {
                Ok(Some(StreamEvent::Stanza(s))) if s.is("success", NS_SASL) => {
                    if let Some(link) = link {
                        link.set(None, true, Auth::External);
                    }
                    authenticated = true;
                    stream.restart();
                    continue;
                }
                Ok(Some(StreamEvent::Stanza(s))) if s.is("failure", NS_SASL) => {
                    tracing::debug!(%domain, "s2s: SASL EXTERNAL refused; trying dialback");
                    if s2s.config().require_valid_certs {
                        return Err(refused("it refused this server's certificate"));
                    }
                    return Err(Failure::ExternalRefused);
                }
                _ => return Err(refused("no answer to SASL EXTERNAL")),
            }
        }
        if s2s.config().require_valid_certs {
            return Err(refused("SASL EXTERNAL failed and dialback is off"));
        }
        let key = dialback::key(&s2s.secret, domain, ours, &id);
        stream
            .send(stream::db("result", ours, domain, None, None, Some(&key)))
            .await
            .map_err(|e| refused(&format!("writing db:result: {e}")))?;
        loop {
            match stream.next().await {
                Ok(Some(StreamEvent::Stanza(r))) if r.is("result", dialback::NS) => {
                    if r.attr("from") != Some(domain) {
                        continue;
                    }
                    return match r.attr("type") {
                        Some("valid") => {
                            if let Some(link) = link {
                                link.set(None, stream.tls, Auth::Dialback);
                            }
                            Ok((stream, id))
                        }
                        other => Err(refused(&format!(
                            "dialback answered {}",
                            other.unwrap_or("nothing")
                        ))),
                    };
                }
                Ok(Some(StreamEvent::Stanza(el))) if el.name() == "error" => {
                    return Err(refused(&format!(
                        "stream error {}",
                        String::from_utf8_lossy(&whassap_xml::to_bytes(&el))
                    )))
                }
                Ok(Some(StreamEvent::Stanza(_))) => continue,
                _ => return Err(refused("the stream closed during dialback")),
            }
        }
    }
}
