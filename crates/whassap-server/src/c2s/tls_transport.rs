//! c2s over TLS (STARTTLS and direct TLS) on rustls's unbuffered API, so
//! that an idle session holds no TLS buffer.
//!
//! Why not tokio-rustls here: it drives rustls's buffered connection, which
//! keeps a receive buffer of at least 4 KiB per connection for the
//! connection's whole life (rustls resizes it to one read ahead and never
//! below). With tens of thousands of idle clients that buffer was a quarter
//! of an idle STARTTLS session's memory. On the unbuffered API the caller
//! owns the buffers: ciphertext is read into a buffer on the stack of one
//! read, decrypted records go straight to the XML parser, only a record
//! that arrived in part is kept on the heap, and encrypted output lives
//! only until it is written. rustls still does all of TLS (handshake,
//! records, alerts, key updates); this module only moves bytes. Server to
//! server streams, far fewer, keep tokio-rustls.
//!
//! After the split the reader and the writer share the rustls connection
//! behind a mutex that is never held across an await. Only the writer
//! writes to the socket: TLS output the reader causes (an alert, the answer
//! to a key update) is queued in the shared buffer and leaves, in order,
//! with the writer's next write or at shutdown.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use whassap_xml::{Limits, StreamEvent, StreamParser};

use super::transport::{EventReader, FrameWriter, Framing, ReadError, Transport};

/// Ciphertext taken from the socket in one read (on the stack).
const READ_CHUNK: usize = 8192;

/// The rustls connection and the TLS bytes waiting to be written, shared by
/// the reader and the writer.
struct Shared {
    conn: UnbufferedServerConnection,
    /// Encrypted output not yet handed to the socket (released when empty).
    out: Vec<u8>,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> MutexGuard<'_, Shared> {
    // A panic while holding it leaves rustls' state as it was: keep going.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// What processing the received records led to.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// Every complete record is processed: read more.
    NeedMore,
    /// The peer closed the TLS stream (close_notify).
    Closed,
}

/// Process the records in `incoming`, feeding application data to `parser`
/// and queueing TLS output in `out`; returns how many bytes were used.
fn process(
    conn: &mut UnbufferedServerConnection,
    incoming: &mut [u8],
    out: &mut Vec<u8>,
    parser: &mut StreamParser,
) -> io::Result<(usize, Flow)> {
    let mut used = 0;
    loop {
        let UnbufferedStatus { mut discard, state } =
            conn.process_tls_records(&mut incoming[used..]);
        let flow = match state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(mut records) => {
                while let Some(record) = records.next_record() {
                    let record = record.map_err(tls_error)?;
                    discard += record.discard;
                    parser.feed(record.payload);
                }
                None
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                append(out, 1024, |buf| encode.encode(buf), encode_needs)?;
                None
            }
            // The bytes are in `out`, which the caller writes before it
            // reads again.
            ConnectionState::TransmitTlsData(transmit) => {
                transmit.done();
                None
            }
            ConnectionState::WriteTraffic(_) | ConnectionState::BlockedHandshake => {
                Some(Flow::NeedMore)
            }
            ConnectionState::PeerClosed | ConnectionState::Closed => Some(Flow::Closed),
            // Early data is off in the server's configuration.
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected TLS state {other:?}"),
                ))
            }
        };
        used += discard;
        if let Some(flow) = flow {
            return Ok((used, flow));
        }
    }
}

/// Let `write` fill the end of `out`, starting with `room` bytes and
/// growing to what rustls asks for (`needs` reads it from the error).
fn append<E: std::fmt::Display>(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needs: fn(&E) -> Option<usize>,
) -> io::Result<()> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(e) => match needs(&e) {
                Some(more) if more > room => room = more,
                _ => {
                    out.truncate(start);
                    return Err(io::Error::other(e.to_string()));
                }
            },
        }
    }
}

fn encode_needs(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

fn encrypt_needs(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// Encrypt `plain` into `out` (and encode any handshake output rustls has
/// queued before it, such as a key update).
fn encrypt(shared: &mut Shared, plain: &[u8]) -> io::Result<()> {
    let Shared { conn, out } = shared;
    loop {
        match conn.process_tls_records(&mut []).state.map_err(tls_error)? {
            ConnectionState::EncodeTlsData(mut encode) => {
                append(out, 1024, |buf| encode.encode(buf), encode_needs)?;
            }
            ConnectionState::TransmitTlsData(transmit) => transmit.done(),
            ConnectionState::WriteTraffic(mut traffic) => {
                // Records add a header, a tag and a content type each.
                let room = plain.len() + (plain.len() / 16384 + 1) * 64;
                return append(out, room, |buf| traffic.encrypt(plain, buf), encrypt_needs);
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("TLS stream cannot send ({other:?})"),
                ))
            }
        }
    }
}

/// Handshake TLS on `tcp` (bounded by `deadline`). Application data that
/// follows the client's last handshake message in the same read (the
/// stream header, pipelined) is already in the parser.
pub async fn accept(
    tcp: TcpStream,
    config: Arc<ServerConfig>,
    limits: Limits,
    deadline: Instant,
) -> io::Result<TlsTransport> {
    let mut conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
    let (read, mut write) = tcp.into_split();
    let mut parser = Box::new(StreamParser::new(limits));
    let mut incoming = Vec::new();
    let mut out = Vec::new();
    let handshake = async {
        loop {
            let (used, flow) = process(&mut conn, &mut incoming, &mut out, &mut parser)?;
            incoming.drain(..used);
            if !out.is_empty() {
                write.write_all(&out).await?;
                out.clear();
            }
            if flow == Flow::Closed {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
            if !conn.is_handshaking() {
                return Ok(());
            }
            let more = read_then(&read, |data| incoming.extend_from_slice(data)).await?;
            if more.is_none() {
                return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
            }
        }
    };
    tokio::time::timeout_at(deadline, handshake)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    let shared = Arc::new(Mutex::new(Shared {
        conn,
        out: Vec::new(),
    }));
    Ok(TlsTransport {
        reader: TlsReader {
            io: read,
            shared: shared.clone(),
            pending: std::mem::take(&mut incoming),
            parser,
            closed: false,
        },
        writer: TlsWriter { io: write, shared },
    })
}

/// Wait for the socket, read once into a buffer on the stack of this
/// synchronous step (never kept in a future), and hand what came to
/// `then`; `None` at the end of the stream.
async fn read_then<T>(
    read: &OwnedReadHalf,
    mut then: impl FnMut(&mut [u8]) -> T,
) -> io::Result<Option<T>> {
    loop {
        read.readable().await?;
        let mut chunk = [0u8; READ_CHUNK];
        match read.try_read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(then(&mut chunk[..n]))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A c2s stream over TLS, before the split.
pub struct TlsTransport {
    reader: TlsReader,
    writer: TlsWriter,
}

/// The read side: ciphertext in, stream events out.
pub struct TlsReader {
    io: OwnedReadHalf,
    shared: SharedRef,
    /// A record that arrived in part (empty, and unallocated, when idle).
    pending: Vec<u8>,
    /// Boxed, like the plain transport's, so it moves cheaply at the split.
    parser: Box<StreamParser>,
    /// The peer closed the TLS stream; what it sent before is in the parser.
    closed: bool,
}

impl TlsReader {
    /// Read once from the socket and process what came; false at the end
    /// of the stream.
    async fn fill(&mut self) -> Result<bool, ReadError> {
        if self.closed {
            return Ok(false);
        }
        let (shared, pending, parser) = (&self.shared, &mut self.pending, &mut self.parser);
        let flow = read_then(&self.io, |data| {
            let mut shared = lock(shared);
            let Shared { conn, out } = &mut *shared;
            if pending.is_empty() {
                let (used, flow) = process(conn, data, out, parser)?;
                pending.extend_from_slice(&data[used..]);
                return Ok::<_, io::Error>(flow);
            }
            pending.extend_from_slice(data);
            let (used, flow) = process(conn, pending, out, parser)?;
            pending.drain(..used);
            if pending.is_empty() {
                *pending = Vec::new();
            }
            Ok(flow)
        })
        .await?;
        match flow {
            None => Ok(false),
            Some(flow) => {
                self.closed = flow? == Flow::Closed;
                Ok(true)
            }
        }
    }
}

impl EventReader for TlsReader {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(Some(ev));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}

/// The write side: frames in, records out.
pub struct TlsWriter {
    io: OwnedWriteHalf,
    shared: SharedRef,
}

impl TlsWriter {
    /// Encrypt (under the lock), then write without it.
    async fn send(&mut self, build: impl FnOnce(&mut Shared) -> io::Result<()>) -> io::Result<()> {
        let out = {
            let mut shared = lock(&self.shared);
            build(&mut shared)?;
            std::mem::take(&mut shared.out)
        };
        if !out.is_empty() {
            self.io.write_all(&out).await?;
        }
        Ok(())
    }
}

impl FrameWriter for TlsWriter {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        self.send(|shared| match frames {
            [one] => encrypt(shared, one),
            // Several frames (a batch, or a notification's head, address
            // and tail) make one plaintext, so that they share records.
            _ => encrypt(shared, &frames.concat()),
        })
        .await
    }

    async fn shutdown(&mut self) {
        let _ = self
            .send(|shared| {
                let Shared { conn, out } = shared;
                if let Ok(ConnectionState::WriteTraffic(mut traffic)) =
                    conn.process_tls_records(&mut []).state
                {
                    let _ = append(
                        out,
                        64,
                        |buf| traffic.queue_close_notify(buf),
                        encrypt_needs,
                    );
                }
                Ok(())
            })
            .await;
        let _ = self.io.shutdown().await;
    }
}

impl EventReader for TlsTransport {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        self.reader.read_event().await
    }
}

impl FrameWriter for TlsTransport {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        self.writer.write_frames(frames).await
    }
    async fn shutdown(&mut self) {
        self.writer.shutdown().await
    }
}

impl Transport for TlsTransport {
    type Reader = TlsReader;
    type Writer = TlsWriter;
    fn framing(&self) -> Framing {
        Framing::Tcp
    }
    fn restart(&mut self) {
        self.reader.parser.reset();
    }
    fn can_starttls(&self) -> bool {
        false
    }
    fn split(self) -> (TlsReader, TlsWriter) {
        (self.reader, self.writer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    use tokio::io::AsyncReadExt;

    use super::*;

    fn configs() -> (Arc<ServerConfig>, Arc<rustls::ClientConfig>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = made.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// A stanza of several records, each larger than one read, sent right
    /// behind the handshake; an answer of several frames and records; the
    /// client's close_notify ends the stream.
    #[tokio::test]
    async fn stanzas_larger_than_a_record_and_a_read_cross_both_ways() {
        let (server_config, client_config) = configs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let big = "x".repeat(40_000);
        let sent = big.clone();
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = tokio_rustls::TlsConnector::from(client_config)
                .connect(name, tcp)
                .await
                .unwrap();
            let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";
            let stanza = format!("{header}<message><body>{sent}</body></message>");
            tls.write_all(stanza.as_bytes()).await.unwrap();
            let mut got = vec![0u8; sent.len()];
            tls.read_exact(&mut got).await.unwrap();
            assert!(got == sent.as_bytes(), "the answer came back whole");
            tls.shutdown().await.unwrap();
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let limits = Limits {
            max_stanza_bytes: 100_000,
            max_depth: 16,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let t = accept(tcp, server_config, limits, deadline).await.unwrap();
        let (mut reader, mut writer) = t.split();
        assert!(matches!(
            reader.read_event().await.unwrap(),
            Some(StreamEvent::Start(_))
        ));
        let Some(StreamEvent::Stanza(el)) = reader.read_event().await.unwrap() else {
            panic!("no stanza");
        };
        assert_eq!(el.get_child("body", "jabber:client").unwrap().text(), big);
        writer
            .write_frames(&[
                Bytes::from(big[..10].to_string()),
                Bytes::from(big[10..].to_string()),
            ])
            .await
            .unwrap();
        assert!(
            reader.read_event().await.unwrap().is_none(),
            "close_notify ends the stream"
        );
        client.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_is_not_speaking_tls_is_refused() {
        let (server_config, _) = configs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"<stream:stream to='localhost'>")
                .await
                .unwrap();
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let limits = Limits {
            max_stanza_bytes: 1000,
            max_depth: 16,
        };
        let refused = accept(tcp, server_config, limits, deadline).await;
        assert!(refused.is_err(), "plain text is not a TLS handshake");
        client.abort();
    }
}
