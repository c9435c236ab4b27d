//! Connections that carry whole frames, whatever runs underneath: the
//! drivers ([`drive`](crate::drive)) read and write through these traits
//! only. Two transports are provided: WebSocket (one binary message per
//! frame, [`ws`](crate::ws)) and any byte stream, TCP or a Unix socket or
//! TLS, on which frames follow each other with no separator (SPEC.md
//! section 3): [`StreamSink`] and [`StreamSource`], cut into frames by the
//! codec of `taiku-proto`.
//!
//! A client loop gets its connections from a [`Connect`]; any
//! `FnMut() -> impl Future<Output = io::Result<(sink, source)>>` is one,
//! so a transport of an embedder's own takes a closure.

use std::future::Future;
use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use taiku_proto::FrameDecoder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_tungstenite::tungstenite::Message;

use crate::ws::{Admitted, MAX_PRE_ADMISSION_BYTES, READ_BUFFER, WsStream};

/// The sending half of a connection: whole encoded frames out, in order.
pub trait FrameSink: Send + 'static {
    /// Send one encoded frame (`Frame::to_bytes`). An error means the
    /// connection is done.
    fn send(&mut self, frame: Bytes) -> impl Future<Output = io::Result<()>> + Send;

    /// Close the connection after everything sent.
    fn close(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// The receiving half of a connection: whole frames in, in order.
pub trait FrameSource: Send + 'static {
    /// The next frame's bytes, to parse with `Frame::parse` (or hand to
    /// the relay machine); `Ok(None)` once the peer closed. An error
    /// (a failed socket, a malformed or oversized frame prefix) means
    /// the connection is done. The drivers wait on it in `select!`, so it
    /// must be cancel-safe: a call dropped before it returns loses
    /// nothing.
    fn recv(&mut self) -> impl Future<Output = io::Result<Option<Bytes>>> + Send;
}

/// Opens connections for a client loop: called for the first connection
/// and for every reconnect.
pub trait Connect: Send + 'static {
    /// The sending half.
    type Sink: FrameSink;
    /// The receiving half.
    type Source: FrameSource;
    /// Why a connection could not be made; logged by the loop, which then
    /// tries again with backoff.
    type Error: std::fmt::Display + Send;

    /// Open a connection.
    fn connect(
        &mut self,
    ) -> impl Future<Output = Result<(Self::Sink, Self::Source), Self::Error>> + Send;
}

impl<F, Fut, S, R> Connect for F
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<(S, R)>> + Send,
    S: FrameSink,
    R: FrameSource,
{
    type Sink = S;
    type Source = R;
    type Error = io::Error;

    fn connect(&mut self) -> impl Future<Output = io::Result<(S, R)>> + Send {
        self()
    }
}

impl FrameSink for SplitSink<WsStream, Message> {
    async fn send(&mut self, frame: Bytes) -> io::Result<()> {
        SinkExt::send(self, Message::Binary(frame))
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string()))
    }

    async fn close(&mut self) -> io::Result<()> {
        SinkExt::close(self)
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string()))
    }
}

impl FrameSource for SplitStream<WsStream> {
    /// Text, ping and pong messages are skipped (SPEC.md 12.1).
    async fn recv(&mut self) -> io::Result<Option<Bytes>> {
        while let Some(msg) = self.next().await {
            match msg {
                Ok(Message::Binary(bytes)) => return Ok(Some(bytes)),
                Ok(Message::Close(_)) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        Ok(None)
    }
}

/// The sending half of a byte stream: frames written back to back.
#[derive(Debug)]
pub struct StreamSink<W> {
    io: W,
}

impl<W: AsyncWrite + Unpin + Send + 'static> StreamSink<W> {
    /// Frames onto `io`.
    pub fn new(io: W) -> Self {
        StreamSink { io }
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> FrameSink for StreamSink<W> {
    async fn send(&mut self, frame: Bytes) -> io::Result<()> {
        self.io.write_all(&frame).await?;
        self.io.flush().await
    }

    async fn close(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

/// The receiving half of a byte stream, cut into frames by
/// [`FrameDecoder::split_frame`]: each read asks for at most
/// [`READ_BUFFER`] bytes, and room for a frame is made only once its
/// valid prefix has arrived.
#[derive(Debug)]
pub struct StreamSource<R> {
    io: R,
    buf: BytesMut,
    decoder: FrameDecoder,
    max_frame_len: usize,
    /// On a relay: bytes read while the connection is not yet admitted.
    pre_admission: Option<(Admitted, usize)>,
}

impl<R: AsyncRead + Unpin + Send + 'static> StreamSource<R> {
    /// Frames of at most `max_frame_len` body bytes from `io`.
    pub fn new(io: R, max_frame_len: usize) -> io::Result<Self> {
        Ok(StreamSource {
            io,
            buf: BytesMut::new(),
            decoder: decoder(max_frame_len)?,
            max_frame_len,
            pre_admission: None,
        })
    }

    /// A relay's side of a connection: until `admitted` is set it takes
    /// at most [`MAX_PRE_ADMISSION_BYTES`] in all, and a frame announcing
    /// more than that is refused as soon as its prefix is read (SPEC.md
    /// 12.2), as on a WebSocket.
    pub fn before_admission(io: R, max_frame_len: usize, admitted: Admitted) -> io::Result<Self> {
        let mut source = Self::new(io, max_frame_len)?;
        source.decoder = decoder(MAX_PRE_ADMISSION_BYTES.min(max_frame_len))?;
        source.pre_admission = Some((admitted, 0));
        Ok(source)
    }
}

fn decoder(max_frame_len: usize) -> io::Result<FrameDecoder> {
    FrameDecoder::with_max_frame_len(max_frame_len)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl<R: AsyncRead + Unpin + Send + 'static> FrameSource for StreamSource<R> {
    async fn recv(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if let Some((admitted, _)) = &self.pre_admission
                && admitted.get()
            {
                self.pre_admission = None;
                self.decoder = decoder(self.max_frame_len)?;
            }
            match self.decoder.split_frame(&mut self.buf) {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut want = READ_BUFFER;
            if let Some((_, read)) = &self.pre_admission {
                want = want.min(MAX_PRE_ADMISSION_BYTES - *read);
                if want == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "too much data before admission",
                    ));
                }
            }
            self.buf.reserve(want);
            // `read_buf` is cancel-safe: bytes are appended only when a
            // read completes.
            let n = (&mut self.io)
                .take(want as u64)
                .read_buf(&mut self.buf)
                .await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
            if let Some((_, read)) = &mut self.pre_admission {
                *read += n;
            }
        }
    }
}

/// Both halves of a TCP connection carrying frames.
pub fn tcp(
    stream: TcpStream,
    max_frame_len: usize,
) -> io::Result<(
    StreamSink<tokio::net::tcp::OwnedWriteHalf>,
    StreamSource<tokio::net::tcp::OwnedReadHalf>,
)> {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    Ok((
        StreamSink::new(write),
        StreamSource::new(read, max_frame_len)?,
    ))
}

/// Connects a client loop to a byte-stream relay over plain TCP
/// ([`RelayServer::serve_stream`](crate::drive::relay::RelayServer::serve_stream)).
pub fn tcp_connector<A>(
    addr: A,
    max_frame_len: usize,
) -> impl Connect<
    Sink = StreamSink<tokio::net::tcp::OwnedWriteHalf>,
    Source = StreamSource<tokio::net::tcp::OwnedReadHalf>,
>
where
    A: ToSocketAddrs + Clone + Send + Sync + 'static,
{
    move || {
        let addr = addr.clone();
        async move { tcp(TcpStream::connect(addr).await?, max_frame_len) }
    }
}
