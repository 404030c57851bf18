//! A byte stream (TCP or TLS) plus a stream parser: the layer tests use to
//! drive exact transcripts.

use std::net::SocketAddr;
use std::sync::Arc;

use minidom::Element;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use whassap_xml::{Limits, StreamEvent, StreamParser, NS_CLIENT, NS_STREAMS, NS_STREAM_ERRORS};

use crate::{tls_config, ClientError};

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const READ_CHUNK: usize = 16 * 1024;

/// The transport under the XML stream.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps the transport, or after it failed.
    Gone,
}

/// An XMPP connection without any negotiation logic: write bytes, read
/// stream events. Reading is cancel-safe (a timed-out read loses nothing).
pub struct RawConnection {
    io: Io,
    parser: StreamParser,
    buf: Vec<u8>,
    /// Bytes read from and written to the stream so far (above TLS).
    read_total: u64,
    written_total: u64,
}

impl RawConnection {
    /// Connect over plain TCP (no stream opened yet).
    pub async fn connect(addr: SocketAddr) -> Result<RawConnection, ClientError> {
        Self::connect_from(addr, None).await
    }

    /// [`connect`](Self::connect) from a given local address.
    pub async fn connect_from(
        addr: SocketAddr,
        source: Option<std::net::IpAddr>,
    ) -> Result<RawConnection, ClientError> {
        let tcp = tcp_connect(addr, source).await?;
        Ok(Self::from_io(Io::Plain(tcp)))
    }

    /// Connect with TLS from the first byte (XEP-0368 direct TLS, ALPN
    /// `xmpp-client`), checking the certificate for `domain` unless
    /// `accept_invalid_certs` (see [`tls_config`]).
    pub async fn connect_tls(
        addr: SocketAddr,
        domain: &str,
        accept_invalid_certs: bool,
    ) -> Result<RawConnection, ClientError> {
        Self::connect_tls_from(addr, None, domain, accept_invalid_certs).await
    }

    /// [`connect_tls`](Self::connect_tls) from a given local address.
    pub async fn connect_tls_from(
        addr: SocketAddr,
        source: Option<std::net::IpAddr>,
        domain: &str,
        accept_invalid_certs: bool,
    ) -> Result<RawConnection, ClientError> {
        let tcp = tcp_connect(addr, source).await?;
        let config = tls_config(accept_invalid_certs, true)?;
        let tls = handshake(config, domain, tcp).await?;
        Ok(Self::from_io(Io::Tls(Box::new(tls))))
    }

    /// Wrap an already connected TCP stream.
    pub fn from_tcp(tcp: TcpStream) -> RawConnection {
        Self::from_io(Io::Plain(tcp))
    }

    fn from_io(io: Io) -> RawConnection {
        RawConnection {
            io,
            parser: StreamParser::new(Limits::default()),
            buf: vec![0; READ_CHUNK],
            read_total: 0,
            written_total: 0,
        }
    }

    /// Bytes read from the connection so far: the XML as received (over
    /// TLS, the decrypted bytes, without TLS record overhead).
    pub fn bytes_read(&self) -> u64 {
        self.read_total
    }

    /// Bytes written to the connection so far (over TLS, before
    /// encryption).
    pub fn bytes_written(&self) -> u64 {
        self.written_total
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// Open (or restart) a client stream to `domain`: forget the parser's
    /// state and send the stream header. The server's header then comes as
    /// [`StreamEvent::Start`] from [`read_event`](Self::read_event).
    pub async fn open_stream(&mut self, domain: &str) -> Result<(), ClientError> {
        self.parser.reset();
        let header = whassap_xml::stream_header(NS_CLIENT, None, Some(domain), None, Some("en"));
        self.write(header.as_bytes()).await
    }

    /// Write bytes as they are, and flush.
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ClientError> {
        match &mut self.io {
            Io::Plain(s) => {
                s.write_all(data).await?;
                s.flush().await?;
            }
            Io::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await?;
            }
            Io::Gone => return Err(ClientError::Closed),
        }
        self.written_total += data.len() as u64;
        Ok(())
    }

    /// Serialise and write one element.
    pub async fn send(&mut self, el: &Element) -> Result<(), ClientError> {
        self.write(&whassap_xml::to_bytes(el)).await
    }

    /// The next stream event exactly as received (stream errors are
    /// ordinary [`StreamEvent::Stanza`]s here). The connection closing
    /// without `</stream:stream>` gives [`ClientError::Closed`].
    pub async fn read_event(&mut self) -> Result<StreamEvent, ClientError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(ev);
            }
            let n = match &mut self.io {
                Io::Plain(s) => s.read(&mut self.buf).await?,
                Io::Tls(s) => s.read(&mut self.buf).await?,
                Io::Gone => return Err(ClientError::Closed),
            };
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.read_total += n as u64;
            self.parser.feed(&self.buf[..n]);
        }
    }

    /// The next stanza. A `<stream:error/>` gives
    /// [`ClientError::StreamError`], the stream's end [`ClientError::Closed`],
    /// and a stream header [`ClientError::Protocol`].
    pub async fn read_stanza(&mut self) -> Result<Element, ClientError> {
        match self.read_event().await? {
            StreamEvent::Stanza(el) if el.is("error", NS_STREAMS) => Err(stream_error(&el)),
            StreamEvent::Stanza(el) => Ok(el),
            StreamEvent::End => Err(ClientError::Closed),
            StreamEvent::Start(_) => Err(ClientError::Protocol("unexpected stream header".into())),
        }
    }

    /// Upgrade with STARTTLS: send `<starttls/>`, expect `<proceed/>`, then
    /// run the TLS handshake for `domain` (see [`tls_config`] for
    /// `accept_invalid_certs`). The stream must then be reopened with
    /// [`open_stream`](Self::open_stream).
    pub async fn starttls(
        &mut self,
        domain: &str,
        accept_invalid_certs: bool,
    ) -> Result<(), ClientError> {
        if !matches!(self.io, Io::Plain(_)) {
            return Err(ClientError::Protocol("STARTTLS on a TLS connection".into()));
        }
        self.write(format!("<starttls xmlns='{NS_TLS}'/>").as_bytes())
            .await?;
        let answer = self.read_stanza().await?;
        if !answer.is("proceed", NS_TLS) {
            return Err(ClientError::Protocol(format!(
                "STARTTLS refused with <{}/>",
                answer.name()
            )));
        }
        // Anything after <proceed/> arrived in plaintext and must not be
        // read as if it came over TLS.
        if self.parser.buffered() > 0 {
            return Err(ClientError::Protocol("data after <proceed/>".into()));
        }
        let config = tls_config(accept_invalid_certs, false)?;
        let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Gone) else {
            unreachable!("checked above")
        };
        let tls = handshake(config, domain, tcp).await?;
        self.io = Io::Tls(Box::new(tls));
        self.parser.reset();
        Ok(())
    }

    /// Close the transport (TLS close_notify, then TCP shutdown).
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        match &mut self.io {
            Io::Plain(s) => s.shutdown().await?,
            Io::Tls(s) => s.shutdown().await?,
            Io::Gone => {}
        }
        Ok(())
    }
}

async fn handshake(
    config: Arc<rustls::ClientConfig>,
    domain: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let name = ServerName::try_from(domain.to_owned())
        .map_err(|e| ClientError::Tls(format!("bad server name {domain:?}: {e}")))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            if crate::tls::certificate_refused(&e) {
                ClientError::Certificate(e.to_string())
            } else {
                ClientError::Tls(e.to_string())
            }
        })
}

/// The error of a received `<stream:error/>`.
pub(crate) fn stream_error(el: &Element) -> ClientError {
    let condition = el
        .children()
        .find(|c| c.has_ns(NS_STREAM_ERRORS) && c.name() != "text")
        .map_or_else(|| "undefined-condition".to_owned(), |c| c.name().to_owned());
    let text = el.get_child("text", NS_STREAM_ERRORS).map(Element::text);
    ClientError::StreamError { condition, text }
}

/// Connect (from `source` if given) with Nagle off.
async fn tcp_connect(
    addr: SocketAddr,
    source: Option<std::net::IpAddr>,
) -> Result<TcpStream, ClientError> {
    let unreachable = |source| ClientError::Connect {
        target: addr.to_string(),
        source,
    };
    let tcp = match source {
        None => TcpStream::connect(addr).await.map_err(unreachable)?,
        Some(ip) => {
            let socket = if ip.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await.map_err(unreachable)?
        }
    };
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_error_condition_and_text() {
        let el: Element = "<error xmlns='http://etherx.jabber.org/streams'>\
            <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text>\
            <conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
            <app xmlns='urn:example'/></error>"
            .parse()
            .unwrap();
        match stream_error(&el) {
            ClientError::StreamError { condition, text } => {
                assert_eq!(condition, "conflict");
                assert_eq!(text.as_deref(), Some("bye"));
            }
            other => panic!("{other:?}"),
        }
        let bare: Element = "<error xmlns='http://etherx.jabber.org/streams'/>"
            .parse()
            .unwrap();
        assert!(matches!(stream_error(&bare),
            ClientError::StreamError { condition, text: None } if condition == "undefined-condition"));
    }
}
