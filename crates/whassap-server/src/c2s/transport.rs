//! What a c2s stream runs over: TCP (plain or TLS) or WebSocket frames.
//!
//! The negotiation and session code is generic over [`Transport`]; each door
//! (TCP here, WebSocket in `whassap-http`) supplies one. After negotiation a
//! transport is split into an [`EventReader`] for the session loop and a
//! [`FrameWriter`] owned by the session's writer task.

use std::future::Future;
use std::io;

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use whassap_proto::ns;
use whassap_xml::{FramingError, Limits, StreamEvent, StreamParser};

use crate::stanza::escape;

/// How stream-level elements are written on a transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// RFC 6120 streams over TCP: one long `<stream:stream>` document.
    Tcp,
    /// RFC 7395: each WebSocket message is one complete element.
    WebSocket,
}

impl Framing {
    /// The server's stream header.
    pub fn open(&self, from: &str, id: &str) -> String {
        match self {
            Framing::Tcp => {
                whassap_xml::stream_header("jabber:client", Some(from), None, Some(id), Some("en"))
            }
            Framing::WebSocket => format!(
                "<open xmlns='{framing}' from='{}' id='{}' version='1.0' xml:lang='en'/>",
                escape(from),
                escape(id),
                framing = ns::FRAMING
            ),
        }
    }

    /// `<stream:features>` around already-serialised children.
    pub fn features(&self, inner: &str) -> String {
        match self {
            Framing::Tcp => format!("<stream:features>{inner}</stream:features>"),
            Framing::WebSocket => {
                format!(
                    "<stream:features xmlns:stream='{}'>{inner}</stream:features>",
                    ns::STREAM
                )
            }
        }
    }

    /// A stream error followed by the stream close, as the frames to send.
    pub fn error(&self, condition: &str, text: Option<&str>) -> Vec<Bytes> {
        let body = whassap_xml::stream_error(condition, text);
        match self {
            Framing::Tcp => vec![Bytes::from(format!("{body}{}", whassap_xml::STREAM_CLOSE))],
            Framing::WebSocket => {
                let body = body.replacen(
                    "<stream:error>",
                    &format!("<stream:error xmlns:stream='{}'>", ns::STREAM),
                    1,
                );
                vec![
                    Bytes::from(body),
                    Bytes::from_static(self.close().as_bytes()),
                ]
            }
        }
    }

    /// The stream close.
    pub fn close(&self) -> &'static str {
        match self {
            Framing::Tcp => whassap_xml::STREAM_CLOSE,
            Framing::WebSocket => "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        }
    }
}

/// Why reading from a transport stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer sent bad XML or broke a limit.
    #[error("framing: {0}")]
    Framing(#[from] FramingError),
    /// The connection failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// A frame that is not allowed here (e.g. binary WebSocket message).
    #[error("{0}")]
    BadFrame(&'static str),
}

impl ReadError {
    /// The stream error condition to send, if the peer is still there to read it.
    pub fn condition(&self) -> Option<&'static str> {
        match self {
            ReadError::Framing(e) => Some(e.condition()),
            ReadError::Io(_) => None,
            ReadError::BadFrame(_) => Some("bad-format"),
        }
    }
}

/// Reads stream events: the header, stanzas and the end.
pub trait EventReader: Send + 'static {
    /// The next event; `Ok(None)` when the connection closed.
    fn read_event(&mut self)
        -> impl Future<Output = Result<Option<StreamEvent>, ReadError>> + Send;
}

/// Writes serialised output.
pub trait FrameWriter: Send + 'static {
    /// Write these frames (each a complete element or header) and flush.
    fn write_frames(&mut self, frames: &[Bytes]) -> impl Future<Output = io::Result<()>> + Send;
    /// Close the connection.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send;
}

/// A full-duplex transport used during negotiation, split for the session.
pub trait Transport: EventReader + FrameWriter {
    /// The read side after the split.
    type Reader: EventReader;
    /// The write side after the split.
    type Writer: FrameWriter;
    /// How stream-level elements look on this transport.
    fn framing(&self) -> Framing;
    /// Forget parser state: the client restarts the stream (after SASL success).
    fn restart(&mut self);
    /// Whether STARTTLS can be offered (plain TCP).
    fn can_starttls(&self) -> bool;
    /// Split into reader and writer.
    fn split(self) -> (Self::Reader, Self::Writer);
}

/// An XMPP stream over a byte stream (TCP, or TLS over TCP).
pub struct TcpTransport<S> {
    io: S,
    reader: StreamReader,
    starttls_possible: bool,
}

/// Incremental parsing of a byte stream into events.
pub struct StreamReader {
    /// Boxed: the parser is moved from the transport into the session's
    /// reader, and a boxed one is not laid out twice in the session's future.
    parser: Box<StreamParser>,
}

/// Bytes taken from the socket in one read.
const READ_CHUNK: usize = 8192;

impl StreamReader {
    fn new(limits: Limits) -> Self {
        StreamReader {
            parser: Box::new(StreamParser::new(limits)),
        }
    }

    async fn read_from<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
    ) -> Result<Option<StreamEvent>, ReadError> {
        loop {
            if let Some(ev) = self.parser.next_event()? {
                return Ok(Some(ev));
            }
            // The read buffer lives on the stack of one poll, not in the
            // session: an idle session, waiting here, holds no buffer at all
            // (the parser keeps only what a partial stanza needs).
            let parser = &mut self.parser;
            let n = std::future::poll_fn(|cx| {
                let mut space = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
                let mut buf = ReadBuf::uninit(&mut space);
                ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
                parser.feed(buf.filled());
                Poll::Ready(Ok::<_, io::Error>(buf.filled().len()))
            })
            .await?;
            if n == 0 {
                return Ok(None);
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TcpTransport<S> {
    /// Wrap a connected stream; `starttls_possible` for plain TCP.
    pub fn new(io: S, limits: Limits, starttls_possible: bool) -> Self {
        TcpTransport {
            io,
            reader: StreamReader::new(limits),
            starttls_possible,
        }
    }

    /// Give back the underlying stream (to start TLS on it).
    pub fn into_inner(self) -> S {
        self.io
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> EventReader for TcpTransport<S> {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        self.reader.read_from(&mut self.io).await
    }
}

/// Write every frame with vectored writes: a batch of queued stanzas (and
/// the head, JID and tail of an addressed notification) usually leaves in
/// one system call.
async fn write_all_frames<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Bytes]) -> io::Result<()> {
    let (mut index, mut offset) = (0, 0);
    loop {
        // Skip what is written (and empty frames, which would write nothing).
        while index < frames.len() && frames[index].len() == offset {
            index += 1;
            offset = 0;
        }
        if index == frames.len() {
            break;
        }
        let mut written = write_some(w, &frames[index..], offset).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while index < frames.len() && written > 0 {
            let left = frames[index].len() - offset;
            if written >= left {
                written -= left;
                index += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    w.flush().await
}

/// One vectored write of `frames`, the first from `offset`. The `iovec`
/// array is built on the stack of each poll rather than kept in the future,
/// so the writer task of an idle session stays small.
async fn write_some<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &[Bytes],
    offset: usize,
) -> io::Result<usize> {
    const MAX_SLICES: usize = 64;
    std::future::poll_fn(|cx| {
        let mut slices = [io::IoSlice::new(&[]); MAX_SLICES];
        let mut count = 0;
        for (k, f) in frames.iter().take(MAX_SLICES).enumerate() {
            slices[k] = io::IoSlice::new(if k == 0 { &f[offset..] } else { f });
            count += 1;
        }
        Pin::new(&mut *w).poll_write_vectored(cx, &slices[..count])
    })
    .await
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameWriter for TcpTransport<S> {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        write_all_frames(&mut self.io, frames).await
    }
    async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for TcpTransport<S> {
    type Reader = TcpReader<S>;
    type Writer = TcpWriter<S>;
    fn framing(&self) -> Framing {
        Framing::Tcp
    }
    fn restart(&mut self) {
        self.reader.parser.reset();
    }
    fn can_starttls(&self) -> bool {
        self.starttls_possible
    }
    fn split(self) -> (TcpReader<S>, TcpWriter<S>) {
        let (r, w) = tokio::io::split(self.io);
        (
            TcpReader {
                io: r,
                reader: self.reader,
            },
            TcpWriter { io: w },
        )
    }
}

/// Read half of a [`TcpTransport`].
pub struct TcpReader<S> {
    io: ReadHalf<S>,
    reader: StreamReader,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> EventReader for TcpReader<S> {
    async fn read_event(&mut self) -> Result<Option<StreamEvent>, ReadError> {
        self.reader.read_from(&mut self.io).await
    }
}

/// Write half of a [`TcpTransport`].
pub struct TcpWriter<S> {
    io: WriteHalf<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> FrameWriter for TcpWriter<S> {
    async fn write_frames(&mut self, frames: &[Bytes]) -> io::Result<()> {
        write_all_frames(&mut self.io, frames).await
    }
    async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use std::task::Context;

    use super::*;

    /// A writer that takes at most `chunk` bytes per call (a busy socket).
    struct Trickle {
        out: Vec<u8>,
        chunk: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_vectored_writes_keep_every_byte_in_order() {
        let frames: Vec<Bytes> = ["<message to='", "", "a@b/c", "'>hi</message>", "<x/>"]
            .into_iter()
            .map(|s: &'static str| Bytes::from_static(s.as_bytes()))
            .collect();
        for chunk in [1, 3, 7, 1000] {
            let mut w = Trickle {
                out: Vec::new(),
                chunk,
            };
            write_all_frames(&mut w, &frames).await.unwrap();
            assert_eq!(
                w.out, b"<message to='a@b/c'>hi</message><x/>",
                "chunk {chunk}"
            );
        }
    }
}
