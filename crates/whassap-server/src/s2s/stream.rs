//! An s2s stream on the wire: the `jabber:server` header with the `db`
//! prefix bound, stanzas read with their namespace rewritten to
//! `jabber:client` (the only one xmpp-parsers and the modules know) and
//! written back in `jabber:server`, and STARTTLS on either side.

use std::io;

use bytes::Bytes;
use minidom::Element;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use whassap_proto::ns;
use whassap_xml::{Limits, StreamEvent};

use super::dialback;
use crate::c2s::transport::{EventReader, FrameWriter, ReadError, TcpTransport, Transport};
use crate::stanza::escape;

pub use whassap_proto::s2s::{NS_SASL, NS_SERVER, NS_TLS};

/// What an s2s stream runs over: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// An s2s stream before it is split for its session.
pub struct S2sStream {
    /// The framed transport.
    pub t: TcpTransport<Box<dyn Io>>,
    /// Whether TLS is on.
    pub tls: bool,
    /// The certificate chain the peer presented, if any.
    pub peer_certs: Vec<CertificateDer<'static>>,
    limits: Limits,
}

impl S2sStream {
    /// A stream on a fresh TCP connection.
    pub fn plain(tcp: TcpStream, limits: Limits) -> S2sStream {
        let _ = tcp.set_nodelay(true);
        S2sStream {
            t: TcpTransport::new(Box::new(tcp), limits, true),
            tls: false,
            peer_certs: Vec::new(),
            limits,
        }
    }

    /// A stand-in while the real stream is being upgraded to TLS.
    pub fn closed() -> S2sStream {
        let limits = Limits {
            max_stanza_bytes: 1,
            max_depth: 1,
        };
        S2sStream {
            t: TcpTransport::new(Box::new(tokio::io::duplex(1).0), limits, false),
            tls: false,
            peer_certs: Vec::new(),
            limits,
        }
    }

    /// Write serialised markup.
    pub async fn send(&mut self, data: impl Into<Bytes>) -> io::Result<()> {
        self.t.write_frames(&[data.into()]).await
    }

    /// The next event, stanzas in `jabber:client`.
    pub async fn next(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        Ok(self.t.read_event().await?.map(to_client))
    }

    /// Expect a stream restart: the next header starts a new document.
    pub fn restart(&mut self) {
        self.t.restart();
    }

    /// Start TLS as the connecting side, for `domain`.
    pub async fn connect_tls(self, connector: &TlsConnector, domain: &str) -> io::Result<Self> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = connector.connect(name, self.t.into_inner()).await?;
        let peer_certs = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Ok(S2sStream {
            t: TcpTransport::new(Box::new(tls), self.limits, false),
            tls: true,
            peer_certs,
            limits: self.limits,
        })
    }

    /// Start TLS as the accepting side.
    pub async fn accept_tls(self, acceptor: &TlsAcceptor) -> io::Result<Self> {
        let tls = acceptor.accept(self.t.into_inner()).await?;
        let peer_certs = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        Ok(S2sStream {
            t: TcpTransport::new(Box::new(tls), self.limits, false),
            tls: true,
            peer_certs,
            limits: self.limits,
        })
    }
}

/// A stanza in `jabber:server` as the core knows it, in `jabber:client`.
fn to_client(ev: StreamEvent) -> StreamEvent {
    match ev {
        StreamEvent::Stanza(el) if el.ns() == NS_SERVER => StreamEvent::Stanza(
            whassap_xml::rewrite_namespace(el, NS_SERVER, ns::JABBER_CLIENT),
        ),
        other => other,
    }
}

/// A stanza from the core, serialised for an s2s stream.
pub fn to_server_bytes(el: &Element) -> Bytes {
    whassap_xml::to_bytes(&whassap_xml::rewrite_namespace(
        el.clone(),
        ns::JABBER_CLIENT,
        NS_SERVER,
    ))
}

/// An s2s stream header (with the `db` prefix bound for dialback).
pub fn header(from: &str, to: Option<&str>, id: Option<&str>, version: bool) -> String {
    let mut h = format!(
        "<?xml version='1.0'?><stream:stream xmlns='{NS_SERVER}' xmlns:stream='{}' xmlns:db='{}' from='{}'",
        ns::STREAM,
        dialback::NS,
        escape(from)
    );
    if let Some(to) = to {
        h.push_str(&format!(" to='{}'", escape(to)));
    }
    if let Some(id) = id {
        h.push_str(&format!(" id='{}'", escape(id)));
    }
    if version {
        h.push_str(" version='1.0'");
    }
    h.push('>');
    h
}

/// A dialback element (`result` or `verify`), serialised.
pub fn db(
    name: &str,
    from: &str,
    to: &str,
    id: Option<&str>,
    kind: Option<&str>,
    key: Option<&str>,
) -> String {
    let mut s = format!("<db:{name} from='{}' to='{}'", escape(from), escape(to));
    if let Some(id) = id {
        s.push_str(&format!(" id='{}'", escape(id)));
    }
    if let Some(kind) = kind {
        s.push_str(&format!(" type='{}'", escape(kind)));
    }
    match key {
        Some(k) => s.push_str(&format!(">{}</db:{name}>", escape(k))),
        None => s.push_str("/>"),
    }
    s
}

/// Does a `<stream:features/>` offer this child?
pub fn offers(features: &Element, name: &str, namespace: &str) -> bool {
    features.get_child(name, namespace).is_some()
}

/// The SASL mechanisms a `<stream:features/>` offers.
pub fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", NS_SASL)
        .map(|m| {
            m.children()
                .filter(|c| c.is("mechanism", NS_SASL))
                .map(|c| c.text().trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}
