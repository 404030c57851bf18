//! Stream negotiation (RFC 6120 §4–§7): stream headers, features, STARTTLS,
//! SASL and resource binding. Runs until a resource is bound, the client asks
//! for TLS, or the stream fails.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use minidom::Element;
use whassap_proto::ns;
use whassap_proto::scram::{Hash, ScramServer};
use whassap_xml::{StreamEvent, StreamHeader};

use super::transport::{Framing, ReadError, Transport};
use crate::modules::register;
use crate::stanza::{self, escape};
use crate::Server;

/// SASL attempts allowed on one stream before it is closed.
const MAX_SASL_ATTEMPTS: u32 = 5;

/// How negotiation ended.
pub enum Negotiated {
    /// The client sent `<starttls/>` and was told to proceed: start TLS now.
    StartTls,
    /// Authenticated and bound: `username` with `resource`.
    Bound {
        /// The account.
        username: String,
        /// The bound resource.
        resource: String,
        /// The id of the bind iq, to answer once the session is registered.
        bind_iq: Element,
    },
}

/// Why negotiation stopped without a session.
#[derive(Debug)]
pub enum NegotiationError {
    /// The connection went away or broke.
    Gone,
    /// Close the stream with this stream error.
    Stream(&'static str, Option<String>),
}

impl From<ReadError> for NegotiationError {
    fn from(e: ReadError) -> Self {
        match e.condition() {
            Some(c) => NegotiationError::Stream(c, None),
            None => NegotiationError::Gone,
        }
    }
}

/// State carried across stream restarts.
pub struct Negotiation<'a, T: Transport> {
    server: &'a Arc<Server>,
    transport: &'a mut T,
    peer: IpAddr,
    secure: bool,
    /// The account once SASL succeeded.
    user: Option<String>,
    /// A server stream header was sent on the current stream.
    pub header_sent: bool,
    sasl_failures: u32,
}

impl<'a, T: Transport> Negotiation<'a, T> {
    /// Negotiate on `transport`; `secure` when it is already encrypted.
    pub fn new(server: &'a Arc<Server>, transport: &'a mut T, peer: IpAddr, secure: bool) -> Self {
        Negotiation {
            server,
            transport,
            peer,
            secure,
            user: None,
            header_sent: false,
            sasl_failures: 0,
        }
    }

    async fn write(&mut self, s: String) -> Result<(), NegotiationError> {
        self.transport
            .write_frames(&[Bytes::from(s)])
            .await
            .map_err(|_| NegotiationError::Gone)
    }

    async fn write_el(&mut self, el: &Element) -> Result<(), NegotiationError> {
        self.transport
            .write_frames(&[whassap_xml::to_bytes(el)])
            .await
            .map_err(|_| NegotiationError::Gone)
    }

    /// Send the header if needed, then a stream error and close.
    pub async fn fail(&mut self, condition: &str, text: Option<&str>) {
        let framing = self.transport.framing();
        let mut frames = Vec::with_capacity(2);
        if !self.header_sent {
            frames.push(Bytes::from(
                framing.open(&self.server.config.domain, &stanza::random_id()),
            ));
        }
        frames.extend(framing.error(condition, text));
        let _ = self.transport.write_frames(&frames).await;
        self.transport.shutdown().await;
    }

    fn check_header(&self, header: &StreamHeader) -> Result<(), NegotiationError> {
        let framing = self.transport.framing();
        if framing == Framing::Tcp && !header.stream_ns_ok {
            return Err(NegotiationError::Stream("invalid-namespace", None));
        }
        if framing == Framing::Tcp && header.default_ns.as_deref() != Some(ns::JABBER_CLIENT) {
            return Err(NegotiationError::Stream("invalid-namespace", None));
        }
        if framing == Framing::WebSocket && header.default_ns.as_deref() != Some(ns::FRAMING) {
            return Err(NegotiationError::Stream("invalid-namespace", None));
        }
        match header.to.as_deref() {
            Some(to) if to.eq_ignore_ascii_case(&self.server.config.domain) => {}
            _ => return Err(NegotiationError::Stream("host-unknown", None)),
        }
        if header
            .version
            .as_deref()
            .is_some_and(|v| !v.starts_with("1."))
        {
            return Err(NegotiationError::Stream("unsupported-version", None));
        }
        Ok(())
    }

    fn features(&self) -> String {
        let cfg = &self.server.config;
        let mut f = String::new();
        if self.user.is_some() {
            f.push_str(&format!(
                "<bind xmlns='{}'/><session xmlns='{}'><optional/></session>",
                ns::BIND,
                ns::SESSION
            ));
            f.push_str("<ver xmlns='urn:xmpp:features:rosterver'/>");
            return f;
        }
        let tls_offered = self.transport.can_starttls() && !self.secure;
        if tls_offered {
            f.push_str(&format!("<starttls xmlns='{}'>", ns::TLS));
            if !cfg.allow_plaintext {
                f.push_str("<required/>");
            }
            f.push_str("</starttls>");
        }
        if self.secure || cfg.allow_plaintext || self.transport.framing() == Framing::WebSocket {
            f.push_str(&format!("<mechanisms xmlns='{}'>", ns::SASL));
            f.push_str("<mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism>");
            if self.plain_allowed() {
                f.push_str("<mechanism>PLAIN</mechanism>");
            }
            f.push_str("</mechanisms>");
            if cfg.xmpp_registration {
                f.push_str("<register xmlns='http://jabber.org/features/iq-register'/>");
            }
        }
        f
    }

    fn plain_allowed(&self) -> bool {
        self.secure || self.server.config.allow_plaintext
    }

    fn auth_allowed(&self) -> bool {
        self.secure
            || self.server.config.allow_plaintext
            || self.transport.framing() == Framing::WebSocket
    }

    /// Run until bound, STARTTLS, or failure.
    pub async fn run(&mut self) -> Result<Negotiated, NegotiationError> {
        loop {
            // A (re)started stream: header, then features.
            let header = match self.transport.read_event().await? {
                Some(StreamEvent::Start(h)) => h,
                Some(StreamEvent::End) | None => return Err(NegotiationError::Gone),
                Some(StreamEvent::Stanza(_)) => {
                    return Err(NegotiationError::Stream(
                        "not-well-formed",
                        Some("stream header expected".into()),
                    ))
                }
            };
            let framing = self.transport.framing();
            self.check_header(&header)?;
            // Two frames: on WebSocket each must be a message of its own.
            let open = framing.open(&self.server.config.domain, &stanza::random_id());
            let features = framing.features(&self.features());
            self.header_sent = true;
            self.transport
                .write_frames(&[Bytes::from(open), Bytes::from(features)])
                .await
                .map_err(|_| NegotiationError::Gone)?;
            match self.stanzas_until_restart().await? {
                Step::Restart => continue,
                Step::Done(n) => return Ok(n),
            }
        }
    }

    async fn stanzas_until_restart(&mut self) -> Result<Step, NegotiationError> {
        loop {
            let el = match self.transport.read_event().await? {
                Some(StreamEvent::Stanza(el)) => el,
                Some(StreamEvent::End) | None => return Err(NegotiationError::Gone),
                Some(StreamEvent::Start(_)) => {
                    return Err(NegotiationError::Stream(
                        "not-well-formed",
                        Some("unexpected stream header".into()),
                    ))
                }
            };
            if el.is("starttls", ns::TLS) {
                if !self.transport.can_starttls() || self.secure {
                    self.write(format!("<failure xmlns='{}'/>", ns::TLS))
                        .await?;
                    return Err(NegotiationError::Gone);
                }
                self.write(format!("<proceed xmlns='{}'/>", ns::TLS))
                    .await?;
                return Ok(Step::Done(Negotiated::StartTls));
            }
            if el.is("auth", ns::SASL) {
                if self.user.is_some() {
                    return Err(NegotiationError::Stream(
                        "policy-violation",
                        Some("already authenticated".into()),
                    ));
                }
                if !self.auth_allowed() {
                    self.write(sasl_failure("encryption-required", None))
                        .await?;
                    continue;
                }
                if self.sasl(el).await? {
                    self.transport.restart();
                    self.header_sent = false;
                    return Ok(Step::Restart);
                }
                continue;
            }
            if stanza::is_client(&el, "iq") {
                if let Some(done) = self.pre_session_iq(el).await? {
                    return Ok(Step::Done(done));
                }
                continue;
            }
            if el.ns() == ns::STREAM || el.ns() == ns::FRAMING {
                if el.name() == "close" {
                    return Err(NegotiationError::Gone);
                }
                return Err(NegotiationError::Stream("unsupported-stanza-type", None));
            }
            if self.user.is_none() {
                return Err(NegotiationError::Stream("not-authorized", None));
            }
            return Err(NegotiationError::Stream(
                "not-authorized",
                Some("bind a resource first".into()),
            ));
        }
    }

    /// IQs before binding: registration (before auth) and the bind request.
    async fn pre_session_iq(
        &mut self,
        iq: Element,
    ) -> Result<Option<Negotiated>, NegotiationError> {
        let Some(user) = self.user.clone() else {
            if self.server.config.xmpp_registration && self.auth_allowed() {
                if let Some(query) = iq.get_child("query", ns::REGISTER) {
                    let reply = register::pre_auth(self.server, &iq, query).await;
                    self.write_el(&reply).await?;
                    return Ok(None);
                }
            }
            return Err(NegotiationError::Stream("not-authorized", None));
        };
        if let Some(bind) = iq.get_child("bind", ns::BIND) {
            if stanza::stanza_type(&iq) != "set" {
                self.write_el(&stanza::error(&iq, "bad-request")).await?;
                return Ok(None);
            }
            let requested = bind
                .get_child("resource", ns::BIND)
                .map(|r| r.text())
                .unwrap_or_default();
            let resource = match requested.trim() {
                "" => stanza::random_id(),
                r => match whassap_proto::resourceprep(r) {
                    Ok(r) => r,
                    Err(_) => {
                        self.write_el(&stanza::error(&iq, "bad-request")).await?;
                        return Ok(None);
                    }
                },
            };
            // RFC 6120 §7.6.2.1: an account at its limit of resources
            // gets resource-constraint (rebinding a bound resource
            // replaces that session, so it is always allowed).
            let bare = format!("{user}@{}", self.server.config.domain);
            let bound = self.server.registry.sessions(&bare);
            if bound.len() >= self.server.config.max_sessions_per_account
                && !bound.iter().any(|s| s.resource() == resource)
            {
                tracing::info!(user = %user, sessions = bound.len(), "bind refused: max_sessions_per_account");
                let text = format!(
                    "this account already has {} sessions, the most this server allows",
                    bound.len()
                );
                self.write_el(&stanza::error_reply(
                    &iq,
                    "wait",
                    "resource-constraint",
                    Some(&text),
                ))
                .await?;
                return Ok(None);
            }
            return Ok(Some(Negotiated::Bound {
                username: user,
                resource,
                bind_iq: iq,
            }));
        }
        // Anything else before binding is refused without closing the stream.
        self.write_el(&stanza::error_reply(&iq, "wait", "not-authorized", None))
            .await?;
        Ok(None)
    }

    /// One SASL exchange. Ok(true) on success.
    async fn sasl(&mut self, auth: Element) -> Result<bool, NegotiationError> {
        let mechanism = auth.attr("mechanism").unwrap_or("").to_string();
        let initial = match decode_sasl(&auth.text()) {
            Ok(d) => d,
            Err(()) => {
                self.write(sasl_failure("incorrect-encoding", None)).await?;
                return Ok(false);
            }
        };
        let delay = self.server.throttle.delay(self.peer, None);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let outcome = match mechanism.as_str() {
            "PLAIN" if self.plain_allowed() => self.sasl_plain(initial).await?,
            "PLAIN" => Err(("encryption-required", None)),
            m => match Hash::from_mechanism(m) {
                Some(hash) => self.sasl_scram(hash, initial).await?,
                None => Err(("invalid-mechanism", None)),
            },
        };
        match outcome {
            Ok((username, additional)) => {
                self.server.throttle.succeeded(self.peer, &username);
                crate::metrics::Metrics::inc(&self.server.metrics.auth_successes);
                let data = match additional {
                    Some(d) => base64::engine::general_purpose::STANDARD.encode(d),
                    None => String::new(),
                };
                self.write(format!("<success xmlns='{}'>{data}</success>", ns::SASL))
                    .await?;
                tracing::info!(user = %username, peer = %self.peer, mechanism = %mechanism, "authenticated");
                self.user = Some(username);
                Ok(true)
            }
            Err((condition, account)) => {
                if condition == "aborted" {
                    self.write(sasl_failure("aborted", None)).await?;
                    return Ok(false);
                }
                crate::metrics::Metrics::inc(&self.server.metrics.auth_failures);
                self.server.throttle.failed(self.peer, account.as_deref());
                self.sasl_failures += 1;
                tracing::info!(peer = %self.peer, account = account.as_deref().unwrap_or("?"), %condition, "authentication failed");
                self.write(sasl_failure(condition, None)).await?;
                if self.sasl_failures >= MAX_SASL_ATTEMPTS {
                    return Err(NegotiationError::Stream(
                        "policy-violation",
                        Some("too many failed authentication attempts".into()),
                    ));
                }
                Ok(false)
            }
        }
    }

    async fn sasl_plain(
        &mut self,
        initial: Option<Vec<u8>>,
    ) -> Result<SaslOutcome, NegotiationError> {
        let data = match initial {
            Some(d) => d,
            None => match self.challenge(&[]).await? {
                Some(d) => d,
                None => return Ok(Err(("aborted", None))),
            },
        };
        let Ok((authzid, authcid, password)) = whassap_proto::plain::parse(&data) else {
            return Ok(Err(("malformed-request", None)));
        };
        let Ok(username) = whassap_proto::nodeprep(&authcid) else {
            return Ok(Err(("not-authorized", None)));
        };
        if let Some(z) = authzid.filter(|z| !z.is_empty()) {
            if z != format!("{username}@{}", self.server.config.domain) {
                return Ok(Err(("invalid-authzid", Some(username))));
            }
        }
        self.account_delay(&username).await;
        let creds = self
            .server
            .store
            .credentials(&username, Hash::Sha256)
            .await
            .map_err(|_| NegotiationError::Stream("internal-server-error", None))?;
        match creds {
            Some(c) if c.verify_password(&password) => Ok(Ok((username, None))),
            _ => Ok(Err(("not-authorized", Some(username)))),
        }
    }

    async fn account_delay(&mut self, username: &str) {
        let delay = self.server.throttle.delay(self.peer, Some(username));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    async fn sasl_scram(
        &mut self,
        hash: Hash,
        initial: Option<Vec<u8>>,
    ) -> Result<SaslOutcome, NegotiationError> {
        let mut scram = ScramServer::with_secret(hash, &self.server.scram_secret)
            .fake_iterations(self.server.config.scram_iterations);
        let first = match initial {
            Some(d) => d,
            None => match self.challenge(&[]).await? {
                Some(d) => d,
                None => return Ok(Err(("aborted", None))),
            },
        };
        let username = match scram.handle_client_first(&first) {
            Ok(u) => u,
            Err(e) => return Ok(Err((e.sasl_condition(), None))),
        };
        let Ok(username) = whassap_proto::nodeprep(&username) else {
            return Ok(Err(("not-authorized", None)));
        };
        if let Some(z) = scram.authzid().filter(|z| !z.is_empty()) {
            if z != format!("{username}@{}", self.server.config.domain) {
                return Ok(Err(("invalid-authzid", Some(username))));
            }
        }
        self.account_delay(&username).await;
        let creds = self
            .server
            .store
            .credentials(&username, hash)
            .await
            .map_err(|_| NegotiationError::Stream("internal-server-error", None))?;
        let server_first = scram.server_first(creds);
        let Some(client_final) = self.challenge(&server_first).await? else {
            return Ok(Err(("aborted", None)));
        };
        match scram.handle_client_final(&client_final) {
            Ok(server_final) => Ok(Ok((username, Some(server_final)))),
            Err(e) => Ok(Err((e.sasl_condition(), Some(username)))),
        }
    }

    /// Send a challenge and wait for the response; None if the client aborted.
    async fn challenge(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, NegotiationError> {
        let encoded = if data.is_empty() {
            "=".to_string()
        } else {
            base64::engine::general_purpose::STANDARD.encode(data)
        };
        self.write(format!(
            "<challenge xmlns='{}'>{encoded}</challenge>",
            ns::SASL
        ))
        .await?;
        let el = match self.transport.read_event().await? {
            Some(StreamEvent::Stanza(el)) => el,
            _ => return Err(NegotiationError::Gone),
        };
        if el.is("abort", ns::SASL) {
            return Ok(None);
        }
        if !el.is("response", ns::SASL) {
            return Err(NegotiationError::Stream(
                "policy-violation",
                Some("SASL response expected".into()),
            ));
        }
        match decode_sasl(&el.text()) {
            Ok(d) => Ok(Some(d.unwrap_or_default())),
            Err(()) => Ok(Some(b"\0invalid-base64".to_vec())),
        }
    }
}

type SaslOutcome = Result<(String, Option<Vec<u8>>), (&'static str, Option<String>)>;

enum Step {
    Restart,
    Done(Negotiated),
}

fn sasl_failure(condition: &str, text: Option<&str>) -> String {
    let text = text
        .map(|t| format!("<text xml:lang='en'>{}</text>", escape(t)))
        .unwrap_or_default();
    format!(
        "<failure xmlns='{}'><{condition}/>{text}</failure>",
        ns::SASL
    )
}

/// Decode SASL payload text: empty means no initial response, `=` an empty one.
fn decode_sasl(text: &str) -> Result<Option<Vec<u8>>, ()> {
    let t = text.trim();
    match t {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => base64::engine::general_purpose::STANDARD
            .decode(t)
            .map(Some)
            .map_err(|_| ()),
    }
}
