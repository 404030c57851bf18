//! Incoming s2s: the listener and the streams other servers open to send
//! stanzas here. A stream negotiates TLS, then its peer authenticates its
//! domain with SASL EXTERNAL or dialback; only then are its stanzas taken,
//! and only with a `from` of an authenticated domain (`invalid-from`
//! otherwise) and a `to` of this server (`host-unknown`). A peer that does
//! not authenticate within `auth_timeout_secs`, or goes quiet for
//! `s2s_idle_secs`, is closed.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use minidom::Element;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use whassap_xml::{StreamEvent, StreamHeader};

use super::stream::{self, S2sStream, NS_SASL, NS_TLS};
use super::{dialback, outgoing, Auth, Direction, Link};
use crate::core::{router, Ctx};
use crate::stanza::random_id;
use crate::Server;
use whassap_proto::s2s::{self as s2s_rules, AuthzId, PeerElement};

/// Accept s2s connections until shutdown.
pub async fn accept_loop(server: Arc<Server>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = server.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("s2s accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(admitted) = server.admit(peer, "s2s") else {
            continue;
        };
        let s = server.clone();
        server.tasks.spawn(async move {
            Box::pin(serve(s, tcp, peer)).await;
            drop(admitted);
        });
    }
}

/// How a stream ends: quietly, or with a stream error.
enum End {
    Closed,
    Error(&'static str, Option<String>),
}

/// One incoming stream, across its restarts.
struct Inbound {
    server: Arc<Server>,
    stream: S2sStream,
    /// The id this server gave the current stream (dialback keys bind to it).
    id: String,
    /// The domain the peer's header named.
    claimed: Option<String>,
    /// Which of this server's domains the peer's header addressed.
    local: String,
    /// Domains authenticated on this stream.
    authenticated: HashSet<String>,
    deadline: Instant,
}

async fn serve(server: Arc<Server>, tcp: TcpStream, peer: SocketAddr) {
    let limits = whassap_xml::Limits {
        max_stanza_bytes: server.config.max_stanza_bytes,
        max_depth: server.config.max_depth,
    };
    let guard = server.s2s.link(Direction::In, "", None);
    let mut inbound = Inbound {
        deadline: Instant::now() + server.config.auth_timeout,
        server: server.clone(),
        stream: S2sStream::plain(tcp, limits),
        id: String::new(),
        claimed: None,
        local: server.config.domain.clone(),
        authenticated: HashSet::new(),
    };
    let end = inbound.run(&guard.link).await;
    if let End::Error(condition, text) = &end {
        tracing::info!(%peer, domain = ?inbound.claimed, %condition, "s2s: closing incoming stream");
        let body = whassap_xml::stream_error(condition, text.as_deref());
        let _ = inbound.stream.send(body).await;
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        inbound.stream.send(whassap_xml::STREAM_CLOSE),
    )
    .await;
}

impl Inbound {
    /// Read the stream (and its restarts) to its end.
    async fn run(&mut self, link: &Link) -> End {
        'stream: loop {
            let header = match self.read().await {
                Ok(StreamEvent::Start(h)) => h,
                Ok(_) => return End::Error("not-well-formed", None),
                Err(end) => return end,
            };
            if let Err(end) = self.answer_header(&header).await {
                return end;
            }
            link.set(self.claimed.as_deref(), self.stream.tls, self.auth_kind());
            loop {
                let el = match self.read().await {
                    Ok(StreamEvent::Stanza(el)) => el,
                    Ok(StreamEvent::End) => return End::Closed,
                    Ok(StreamEvent::Start(_)) => return End::Error("not-well-formed", None),
                    Err(end) => return end,
                };
                link.touch();
                match self.element(el, link).await {
                    Ok(Next::Continue) => {}
                    Ok(Next::Restart) => continue 'stream,
                    Err(end) => return end,
                }
            }
        }
    }

    fn auth_kind(&self) -> Auth {
        if self.authenticated.is_empty() {
            Auth::None
        } else if self.stream.tls && self.external_ok() {
            Auth::External
        } else {
            Auth::Dialback
        }
    }

    fn external_ok(&self) -> bool {
        self.claimed
            .as_deref()
            .is_some_and(|d| self.server.s2s.tls().valid_for(&self.stream.peer_certs, d))
    }

    /// The next event, within the deadline (authentication) or the idle
    /// timeout (after it).
    async fn read(&mut self) -> Result<StreamEvent, End> {
        let limit = if self.authenticated.is_empty() {
            self.deadline
        } else {
            Instant::now() + self.server.s2s.config().idle
        };
        tokio::select! {
            r = tokio::time::timeout_at(limit, self.stream.next()) => match r {
                Ok(Ok(Some(ev))) => Ok(ev),
                Ok(Ok(None)) => Err(End::Closed),
                Ok(Err(e)) => Err(match e.condition() {
                    Some(c) => End::Error(c, None),
                    None => End::Closed,
                }),
                Err(_) if self.authenticated.is_empty() => Err(End::Error(
                    "connection-timeout",
                    Some("authenticate within the time allowed".into()),
                )),
                Err(_) => Err(End::Closed),
            },
            _ = self.server.shutdown.cancelled() => Err(End::Error("system-shutdown", None)),
        }
    }

    /// Check the peer's header, send ours and the features.
    async fn answer_header(&mut self, h: &StreamHeader) -> Result<(), End> {
        if let Some(to) =
            h.to.as_deref()
                .filter(|t| router::is_local_domain(&self.server, t))
        {
            self.local = to.to_string();
        }
        self.id = random_id();
        let version = h.version.as_deref() == Some("1.0");
        let to_peer = h.from.clone();
        let header = stream::header(&self.local, to_peer.as_deref(), Some(&self.id), version);
        self.stream.send(header).await.map_err(|_| End::Closed)?;
        let server = self.server.clone();
        let is_local = |d: &str| router::is_local_domain(&server, d);
        if let Err(condition) = s2s_rules::check_header(
            h.stream_ns_ok,
            h.default_ns.as_deref(),
            h.from.as_deref(),
            h.to.as_deref(),
            is_local,
        ) {
            return Err(End::Error(condition, None));
        }
        if let Some(from) = &h.from {
            self.claimed = Some(from.clone());
        }
        if !version {
            return Ok(());
        }
        let s2s = &self.server.s2s;
        let mut features = String::new();
        if !self.stream.tls {
            features.push_str(&format!("<starttls xmlns='{NS_TLS}'>"));
            if !s2s.config().allow_plaintext {
                features.push_str("<required/>");
            }
            features.push_str("</starttls>");
        }
        let secure_enough = self.stream.tls || s2s.config().allow_plaintext;
        if self.stream.tls && self.authenticated.is_empty() && self.external_ok() {
            features.push_str(&format!(
                "<mechanisms xmlns='{NS_SASL}'><mechanism>EXTERNAL</mechanism></mechanisms>"
            ));
        }
        if secure_enough && !s2s.config().require_valid_certs {
            features.push_str(&format!(
                "<dialback xmlns='{}'><errors/></dialback>",
                dialback::NS_FEATURE
            ));
        }
        self.stream
            .send(format!("<stream:features>{features}</stream:features>"))
            .await
            .map_err(|_| End::Closed)
    }

    /// Handle one top-level element.
    async fn element(&mut self, el: Element, link: &Link) -> Result<Next, End> {
        let server = self.server.clone();
        let is_local = |d: &str| router::is_local_domain(&server, d);
        match s2s_rules::classify(&el, is_local) {
            Ok(PeerElement::StartTls) => self.starttls().await,
            Ok(PeerElement::Auth { mechanism, authzid }) => {
                self.external(&mechanism, authzid, link).await
            }
            Ok(PeerElement::DialbackResult { from, to, key }) => {
                self.dialback_result(from, to, &key, link).await
            }
            Ok(PeerElement::DialbackVerify { from, to, id, key }) => {
                self.dialback_verify(&from, &to, &id, &key).await
            }
            Ok(PeerElement::StreamError) => {
                tracing::info!(domain = ?self.claimed, error = %String::from_utf8_lossy(&whassap_xml::to_bytes(&el)), "s2s: stream error from peer");
                Err(End::Closed)
            }
            Ok(PeerElement::Stanza) => self.stanza(el).await,
            Err(condition) => Err(End::Error(condition, None)),
        }
    }

    async fn starttls(&mut self) -> Result<Next, End> {
        if self.stream.tls {
            return Err(End::Error(
                "policy-violation",
                Some("TLS is already on".into()),
            ));
        }
        self.stream
            .send(format!("<proceed xmlns='{NS_TLS}'/>"))
            .await
            .map_err(|_| End::Closed)?;
        let acceptor = self.server.s2s.tls().acceptor.clone();
        let plain = std::mem::replace(&mut self.stream, S2sStream::closed());
        let handshake = tokio::time::timeout_at(self.deadline, plain.accept_tls(&acceptor)).await;
        match handshake {
            Ok(Ok(tls)) => {
                self.stream = tls;
                Ok(Next::Restart)
            }
            _ => Err(End::Closed),
        }
    }

    /// SASL EXTERNAL (XEP-0178): the certificate must be valid for the
    /// domain asked for.
    async fn external(
        &mut self,
        mechanism: &str,
        authzid: AuthzId,
        link: &Link,
    ) -> Result<Next, End> {
        let failure =
            |condition: &str| format!("<failure xmlns='{NS_SASL}'><{condition}/></failure>");
        if mechanism != "EXTERNAL" || !self.stream.tls {
            self.stream
                .send(failure("invalid-mechanism"))
                .await
                .map_err(|_| End::Closed)?;
            return Ok(Next::Continue);
        }
        let asked = match authzid {
            AuthzId::Header => self.claimed.clone(),
            AuthzId::Domain(d) => Some(d),
            AuthzId::Invalid => None,
        };
        let domain = match asked {
            Some(d) if self.server.s2s.tls().valid_for(&self.stream.peer_certs, &d) => d,
            _ => {
                self.stream
                    .send(failure("not-authorized"))
                    .await
                    .map_err(|_| End::Closed)?;
                return Ok(Next::Continue);
            }
        };
        self.stream
            .send(format!("<success xmlns='{NS_SASL}'/>"))
            .await
            .map_err(|_| End::Closed)?;
        tracing::info!(%domain, "s2s: incoming stream authenticated with SASL EXTERNAL");
        link.set(Some(&domain), true, Auth::External);
        self.claimed = Some(domain.clone());
        self.authenticated.insert(domain);
        self.stream.restart();
        Ok(Next::Restart)
    }

    /// A `db:result` with a key: check it with the peer's authoritative
    /// server, and tell the peer.
    async fn dialback_result(
        &mut self,
        from: String,
        ours: String,
        key: &str,
        link: &Link,
    ) -> Result<Next, End> {
        let s2s = &self.server.s2s;
        if s2s.config().require_valid_certs {
            let refusal = stream::db("result", &ours, &from, None, Some("error"), None).replace(
                "/>",
                "><error type='cancel'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
            );
            self.stream.send(refusal).await.map_err(|_| End::Closed)?;
            return Err(End::Error(
                "not-authorized",
                Some("this server accepts only certificates valid for the peer's domain".into()),
            ));
        }
        if !self.stream.tls && !s2s.config().allow_plaintext {
            return Err(End::Error(
                "policy-violation",
                Some("start TLS first".into()),
            ));
        }
        let verdict = outgoing::verify(&self.server, &ours, &from, &self.id, key).await;
        match verdict {
            Ok(true) => {
                self.stream
                    .send(stream::db(
                        "result",
                        &ours,
                        &from,
                        None,
                        Some("valid"),
                        None,
                    ))
                    .await
                    .map_err(|_| End::Closed)?;
                tracing::info!(domain = %from, "s2s: incoming stream authenticated with dialback");
                link.set(Some(&from), self.stream.tls, Auth::Dialback);
                self.authenticated.insert(from);
                Ok(Next::Continue)
            }
            Ok(false) => {
                let _ = self
                    .stream
                    .send(stream::db(
                        "result",
                        &ours,
                        &from,
                        None,
                        Some("invalid"),
                        None,
                    ))
                    .await;
                Err(End::Error(
                    "not-authorized",
                    Some("dialback key not valid".into()),
                ))
            }
            Err(f) => {
                tracing::info!(domain = %from, "s2s: dialback verification failed: {f}");
                let answer = stream::db("result", &ours, &from, None, Some("error"), None).replace(
                    "/>",
                    &format!(
                        "><error type='cancel'><{} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
                        f.condition()
                    ),
                );
                self.stream.send(answer).await.map_err(|_| End::Closed)?;
                Ok(Next::Continue)
            }
        }
    }

    /// A `db:verify` from a receiving server checking a key this server
    /// made (this server is the authoritative one).
    async fn dialback_verify(
        &mut self,
        from: &str,
        ours: &str,
        id: &str,
        key: &str,
    ) -> Result<Next, End> {
        let valid = dialback::is_valid(&self.server.s2s.secret, from, ours, id, key);
        let answer = stream::db(
            "verify",
            ours,
            from,
            Some(id),
            Some(if valid { "valid" } else { "invalid" }),
            None,
        );
        self.stream.send(answer).await.map_err(|_| End::Closed)?;
        Ok(Next::Continue)
    }

    /// A stanza from an authenticated domain: into the core.
    async fn stanza(&mut self, el: Element) -> Result<Next, End> {
        if self.authenticated.is_empty() {
            return Err(End::Error("not-authorized", None));
        }
        let from_domain = el
            .attr("from")
            .and_then(|f| jid::Jid::new(f).ok())
            .map(|j| j.domain().to_string());
        let Some(domain) = from_domain.filter(|d| self.authenticated.contains(d)) else {
            return Err(End::Error(
                "invalid-from",
                Some("from is not of a domain authenticated on this stream".into()),
            ));
        };
        let server = &self.server;
        let local = el
            .attr("to")
            .and_then(|t| jid::Jid::new(t).ok())
            .is_some_and(|j| router::is_local_domain(server, j.domain().as_str()));
        if !local {
            return Err(End::Error("host-unknown", None));
        }
        server
            .s2s
            .traffic(&domain)
            .stanzas_in
            .fetch_add(1, Ordering::Relaxed);
        router::route_from(Ctx::remote(server.clone(), domain), el).await;
        Ok(Next::Continue)
    }
}

/// What to do after an element.
enum Next {
    /// Read the next one.
    Continue,
    /// The stream restarts (after TLS or SASL): a new header comes.
    Restart,
}
