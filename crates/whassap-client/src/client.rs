//! The negotiated client session.

use std::collections::VecDeque;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use minidom::rxml::{Namespace, NcName};
use minidom::Element;
use whassap_proto::scram::{Hash, ScramClient};
use whassap_xml::{StreamEvent, NS_STREAMS};

use crate::raw::RawConnection;
use crate::{ClientError, ConnectOptions, Mechanism, TlsMode};

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_CLIENT: &str = whassap_xml::NS_CLIENT;

/// A connected, authenticated, bound session.
pub struct Client {
    conn: RawConnection,
    jid: String,
    /// Stanzas read while [`Client::iq`] waited for its answer.
    pending: VecDeque<Element>,
    /// Events read from a stanza that carried several (PubSub items).
    pub(crate) events: VecDeque<crate::Event>,
    id_prefix: String,
    next_id: u64,
    timeout: Duration,
    /// What to log in with again after a drop, if automatic
    /// reconnection is on (see `reconnect.rs`).
    pub(crate) reconnect: Option<Box<ConnectOptions>>,
    /// The last broadcast presence sent, to send again after a reconnect.
    pub(crate) presence: Option<Element>,
}

impl Client {
    /// Connect, negotiate TLS as `opts.tls` says, authenticate, restart the
    /// stream and bind a resource (server-generated if `opts.resource` is
    /// `None`). Returns after binding: no presence or session is sent. The
    /// whole exchange is limited by `opts.timeout`.
    pub async fn connect(opts: ConnectOptions) -> Result<Client, ClientError> {
        let timeout = opts.timeout;
        tokio::time::timeout(timeout, negotiate(opts))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The bound full JID.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The account's bare JID (`user@domain`).
    pub fn bare_jid(&self) -> &str {
        self.jid.split('/').next().unwrap_or(&self.jid)
    }

    /// Bytes received on this connection so far, from the first byte of
    /// the stream (negotiation included; over TLS, the decrypted bytes).
    pub fn bytes_received(&self) -> u64 {
        self.conn.bytes_read()
    }

    /// Bytes sent on this connection so far, from the first byte of the
    /// stream (over TLS, before encryption).
    pub fn bytes_sent(&self) -> u64 {
        self.conn.bytes_written()
    }

    /// Send one stanza.
    pub async fn send(&mut self, el: &Element) -> Result<(), ClientError> {
        self.conn.send(el).await
    }

    /// Send bytes as they are (for malformed or hand-written XML).
    pub async fn send_raw(&mut self, xml: &[u8]) -> Result<(), ClientError> {
        self.conn.write(xml).await
    }

    /// The next stanza, in order of arrival. A `<stream:error/>` gives
    /// [`ClientError::StreamError`]; the stream's end [`ClientError::Closed`].
    pub async fn recv(&mut self) -> Result<Element, ClientError> {
        if let Some(el) = self.pending.pop_front() {
            return Ok(el);
        }
        self.conn.read_stanza().await
    }

    /// Like [`recv`](Self::recv), but `Ok(None)` if nothing arrives within
    /// `d`. Nothing is lost when the time runs out.
    pub async fn recv_timeout(&mut self, d: Duration) -> Result<Option<Element>, ClientError> {
        match tokio::time::timeout(d, self.recv()).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Send an `<iq/>` (given a fresh `id` if it has none) and wait for the
    /// `result` or `error` with that id, which is returned either way. Other
    /// stanzas read meanwhile are kept for [`recv`](Self::recv), in order.
    /// Fails with [`ClientError::Timeout`] after the connect timeout.
    pub async fn iq(&mut self, mut iq: Element) -> Result<Element, ClientError> {
        let id = match iq.attr("id") {
            Some(id) => id.to_owned(),
            None => {
                let id = self.fresh_id();
                set_attr(&mut iq, "id", &id);
                id
            }
        };
        self.send(&iq).await?;
        let timeout = self.timeout;
        tokio::time::timeout(timeout, async {
            loop {
                let el = self.conn.read_stanza().await?;
                if is_answer(&el, &id) {
                    return Ok(el);
                }
                self.pending.push_back(el);
            }
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    /// Close the stream: send `</stream:stream>`, wait (up to the connect
    /// timeout) for the server's close, then close the connection.
    /// Stanzas still arriving are discarded.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.conn
            .write(whassap_xml::STREAM_CLOSE.as_bytes())
            .await?;
        let wait = async {
            loop {
                match self.conn.read_event().await {
                    Ok(StreamEvent::End) | Err(ClientError::Closed) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => return Err(e),
                }
            }
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| ClientError::Timeout)??;
        // The server may already have closed the socket; that is fine.
        let _ = self.conn.shutdown().await;
        Ok(())
    }

    /// Like [`iq`](Self::iq), but an `error` answer is
    /// [`ClientError::Stanza`]: the `result` is returned.
    pub async fn request(&mut self, iq: Element) -> Result<Element, ClientError> {
        let answer = self.iq(iq).await?;
        if answer.attr("type") == Some("error") {
            return Err(ClientError::Stanza(crate::StanzaError::from_stanza(
                &answer,
            )));
        }
        Ok(answer)
    }

    /// Stanzas kept while waiting for an answer, not yet handed out.
    pub(crate) fn pending(&self) -> &VecDeque<Element> {
        &self.pending
    }

    /// Take over a fresh session's connection (after a reconnect); what
    /// was queued on the old one is dropped.
    pub(crate) fn replace_connection(&mut self, fresh: Client) {
        self.conn = fresh.conn;
        self.jid = fresh.jid;
        self.pending.clear();
    }

    pub(crate) fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-{}", self.id_prefix, self.next_id)
    }
}

/// Whether `el` answers the iq with this id.
fn is_answer(el: &Element, id: &str) -> bool {
    el.name() == "iq"
        && el.attr("id") == Some(id)
        && matches!(el.attr("type"), Some("result" | "error"))
}

/// An element with attributes, e.g. `element("iq", NS_CLIENT, &[("type", "get")])`.
pub(crate) fn element(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut el = Element::bare(name, ns);
    for (k, v) in attrs {
        set_attr(&mut el, k, v);
    }
    el
}

pub(crate) fn set_attr(el: &mut Element, name: &str, value: &str) {
    let name = NcName::try_from(name).expect("attribute names here are valid");
    el.set_attr(Namespace::NONE, name, value.to_owned());
}

/// The whole login: TLS, SASL, restart, bind.
async fn negotiate(opts: ConnectOptions) -> Result<Client, ClientError> {
    let mut conn = match opts.tls {
        TlsMode::Direct => {
            RawConnection::connect_tls_from(
                opts.addr,
                opts.source_addr,
                &opts.domain,
                opts.accept_invalid_certs,
            )
            .await?
        }
        TlsMode::StartTls | TlsMode::Plain => {
            RawConnection::connect_from(opts.addr, opts.source_addr).await?
        }
    };
    let mut features = open(&mut conn, &opts.domain).await?;

    if opts.tls == TlsMode::StartTls {
        if features.get_child("starttls", NS_TLS).is_none() {
            return Err(ClientError::Protocol(
                "the server does not offer STARTTLS".into(),
            ));
        }
        conn.starttls(&opts.domain, opts.accept_invalid_certs)
            .await?;
        features = open(&mut conn, &opts.domain).await?;
    }

    let offered = mechanisms(&features);
    let is_offered = |m: Mechanism| offered.iter().any(|o| o == m.name());
    // SCRAM-SHA-256 is asked for by default; a server that only has
    // SCRAM-SHA-1 (Prosody's default) gets that, never PLAIN unasked.
    let mut opts = opts;
    if opts.mechanism == Mechanism::ScramSha256
        && !is_offered(Mechanism::ScramSha256)
        && is_offered(Mechanism::ScramSha1)
    {
        opts.mechanism = Mechanism::ScramSha1;
    }
    if !is_offered(opts.mechanism) {
        return Err(ClientError::Protocol(format!(
            "{} not offered (offered: {})",
            opts.mechanism.name(),
            if offered.is_empty() {
                "none".to_owned()
            } else {
                offered.join(", ")
            }
        )));
    }
    match opts.mechanism {
        Mechanism::Plain => auth_plain(&mut conn, &opts).await?,
        Mechanism::ScramSha256 => auth_scram(&mut conn, &opts, Hash::Sha256).await?,
        Mechanism::ScramSha1 => auth_scram(&mut conn, &opts, Hash::Sha1).await?,
    }

    let features = open(&mut conn, &opts.domain).await?;
    if features.get_child("bind", NS_BIND).is_none() {
        return Err(ClientError::Protocol("resource binding not offered".into()));
    }
    let mut client = Client {
        conn,
        jid: String::new(),
        pending: VecDeque::new(),
        events: VecDeque::new(),
        id_prefix: format!("wc{:08x}", rand::random::<u32>()),
        next_id: 0,
        timeout: opts.timeout,
        reconnect: None,
        presence: None,
    };
    let mut bind = Element::builder("bind", NS_BIND);
    if let Some(resource) = &opts.resource {
        bind = bind.append(Element::builder("resource", NS_BIND).append(resource.as_str()));
    }
    let mut iq = Element::builder("iq", NS_CLIENT)
        .append(bind.build())
        .build();
    set_attr(&mut iq, "type", "set");
    let answer = client.iq(iq).await?;
    if answer.attr("type") == Some("error") {
        return Err(ClientError::Bind(
            crate::StanzaError::from_stanza(&answer).condition,
        ));
    }
    client.jid = answer
        .get_child("bind", NS_BIND)
        .and_then(|b| b.get_child("jid", NS_BIND))
        .map(Element::text)
        .filter(|j| !j.is_empty())
        .ok_or_else(|| ClientError::Bind("no JID in the bind result".into()))?;
    Ok(client)
}

/// Open (or restart) the stream; return the server's `<stream:features/>`.
async fn open(conn: &mut RawConnection, domain: &str) -> Result<Element, ClientError> {
    conn.open_stream(domain).await?;
    match conn.read_event().await? {
        StreamEvent::Start(h) if h.stream_ns_ok => {}
        StreamEvent::Start(_) => {
            return Err(ClientError::Protocol(
                "server stream header is not a stream".into(),
            ))
        }
        StreamEvent::Stanza(el) if el.is("error", NS_STREAMS) => {
            return Err(crate::raw::stream_error(&el))
        }
        _ => return Err(ClientError::Protocol("expected a stream header".into())),
    }
    let features = conn.read_stanza().await?;
    if !features.is("features", NS_STREAMS) {
        return Err(ClientError::Protocol(format!(
            "expected <stream:features/>, got <{}/>",
            features.name()
        )));
    }
    Ok(features)
}

/// SASL mechanism names offered in `features`.
fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", NS_SASL)
        .map(|m| {
            m.children()
                .filter(|c| c.is("mechanism", NS_SASL))
                .map(|c| c.text().trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `<auth/>`, `<response/>` and the like carry base64, with `=` for empty.
fn sasl_element(name: &str, data: &[u8]) -> Element {
    let text = if data.is_empty() {
        "=".to_owned()
    } else {
        B64.encode(data)
    };
    Element::builder(name, NS_SASL).append(text).build()
}

/// Decode the base64 payload of a SASL element (`=` or nothing is empty).
fn sasl_payload(el: &Element) -> Result<Vec<u8>, ClientError> {
    let text = el.text();
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    B64.decode(text)
        .map_err(|e| ClientError::Protocol(format!("bad base64 in <{}/>: {e}", el.name())))
}

/// The condition of a SASL `<failure/>`.
fn sasl_failure(el: &Element) -> ClientError {
    let condition = el
        .children()
        .find(|c| c.has_ns(NS_SASL) && c.name() != "text")
        .map_or_else(|| "not-authorized".to_owned(), |c| c.name().to_owned());
    ClientError::AuthFailed(condition)
}

async fn auth_plain(conn: &mut RawConnection, opts: &ConnectOptions) -> Result<(), ClientError> {
    let message = format!("\0{}\0{}", opts.username, opts.password);
    let mut auth = sasl_element("auth", message.as_bytes());
    set_attr(&mut auth, "mechanism", "PLAIN");
    conn.send(&auth).await?;
    let answer = conn.read_stanza().await?;
    if answer.is("success", NS_SASL) {
        Ok(())
    } else if answer.is("failure", NS_SASL) {
        Err(sasl_failure(&answer))
    } else {
        Err(ClientError::Protocol(format!(
            "unexpected <{}/> during SASL",
            answer.name()
        )))
    }
}

async fn auth_scram(
    conn: &mut RawConnection,
    opts: &ConnectOptions,
    hash: Hash,
) -> Result<(), ClientError> {
    let mut scram = ScramClient::new(hash, &opts.username, &opts.password);
    if let Some((salt, iterations, salted)) = opts
        .scram_cache
        .as_ref()
        .and_then(|c| c.get(&opts.username, hash.mechanism()))
    {
        scram = scram.with_cached_salted_password(salt, iterations, salted);
    }
    let mut auth = sasl_element("auth", &scram.client_first());
    set_attr(&mut auth, "mechanism", hash.mechanism());
    conn.send(&auth).await?;
    let mut verified = false;
    let mut sent_final = false;
    loop {
        let answer = conn.read_stanza().await?;
        if answer.is("failure", NS_SASL) {
            return Err(sasl_failure(&answer));
        }
        let data = sasl_payload(&answer)?;
        if answer.is("challenge", NS_SASL) && !sent_final {
            let client_final = scram
                .handle_server_first(&data)
                .map_err(|e| ClientError::AuthFailed(e.to_string()))?;
            conn.send(&sasl_element("response", &client_final)).await?;
            sent_final = true;
        } else if answer.is("challenge", NS_SASL) && !verified {
            // Server-final sent as a challenge (RFC 6120 §6.3.10 allows
            // either form): verify, answer with an empty response.
            verify_server(&scram, &data)?;
            verified = true;
            conn.send(&sasl_element("response", &[])).await?;
        } else if answer.is("success", NS_SASL) && sent_final {
            if !verified {
                verify_server(&scram, &data)?;
            }
            if let (Some(cache), Some(salted)) = (&opts.scram_cache, scram.salted_password()) {
                cache.put(&opts.username, hash.mechanism(), salted);
            }
            return Ok(());
        } else {
            return Err(ClientError::Protocol(format!(
                "unexpected <{}/> during SCRAM",
                answer.name()
            )));
        }
    }
}

/// Check the server's signature: a server that cannot prove it knows the
/// password's keys is not trusted, even if it said `<success/>`.
fn verify_server(scram: &ScramClient, server_final: &[u8]) -> Result<(), ClientError> {
    scram
        .verify_server_final(server_final)
        .map_err(|e| ClientError::Protocol(format!("server signature not verified: {e}")))
}

#[cfg(test)]
mod tests;
