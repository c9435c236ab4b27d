//! WebSocket plumbing: one binary message carries exactly one taiku frame.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::endpoint::Endpoint;
use crate::frames::Connect;
use crate::tls::ClientTls;
use crate::web::{
    self, DRAIN_TIMEOUT, MAX_DRAIN_BYTES, MAX_REQUEST_HEAD, REQUEST_HEAD_TIMEOUT, RESPONSE_TIMEOUT,
    Request, Response, Status, WebClient,
};

/// Bytes of WebSocket data a connection may send before the relay admits
/// it (SPEC.md 12.2): several times any admission message, far below a
/// whole message, so a connection that never proves a
/// role cannot make the relay buffer much. More is a closed connection.
pub const MAX_PRE_ADMISSION_BYTES: usize = 16 * 1024;

/// Set once the relay machine has admitted a connection: from then on it
/// may send whole messages.
#[derive(Clone, Debug, Default)]
pub struct Admitted(Arc<AtomicBool>);

impl Admitted {
    /// The machine admitted the connection.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the machine admitted the connection.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A server connection's byte stream, counting what it reads until the
/// connection is admitted.
struct Metered {
    inner: Box<dyn Io>,
    read: usize,
    scan: FrameScan,
    admitted: Admitted,
}

/// Follows the WebSocket frame headers a connection sends before it is
/// admitted, so that a header announcing more than the connection may
/// still send is refused before the WebSocket layer sees it: that layer
/// reserves room for a whole frame as soon as it reads the header
/// (tungstenite offers no per-connection limit that can be raised
/// after admission, hence this check here).
#[derive(Default)]
struct FrameScan {
    /// Bytes of the current header seen so far (at most 14).
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to pass.
    skip: u64,
    /// Bytes scanned in all.
    scanned: u64,
}

impl FrameScan {
    /// Scan `bytes`, the next the peer sent; false once a header
    /// announces a frame that would end beyond `limit` bytes in all.
    fn feed(&mut self, mut bytes: &[u8], limit: u64) -> bool {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() as u64);
                self.skip -= n;
                self.scanned += n;
                bytes = bytes.get(n as usize..).unwrap_or_default();
                continue;
            }
            let Some((&byte, rest)) = bytes.split_first() else {
                break;
            };
            bytes = rest;
            self.scanned += 1;
            // A header is complete at 14 bytes at the latest, so there is
            // always room for the next byte.
            if let Some(slot) = self.header.get_mut(self.header_len) {
                *slot = byte;
                self.header_len += 1;
            }
            let seen = self.header.get(..self.header_len).unwrap_or_default();
            let Some(payload) = parse_header(seen) else {
                continue;
            };
            self.header_len = 0;
            if self.scanned.saturating_add(payload) > limit {
                return false;
            }
            self.skip = payload;
        }
        true
    }
}

/// The payload length a WebSocket frame header (RFC 6455 section 5.2)
/// announces, once `header` is all of it.
fn parse_header(header: &[u8]) -> Option<u64> {
    let second = *header.get(1)?;
    let masked = if second & 0x80 != 0 { 4 } else { 0 };
    let (extended, short) = match second & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let len = 2 + extended + masked;
    if header.len() < len {
        return None;
    }
    Some(short.unwrap_or_else(|| {
        header
            .get(2..2 + extended)
            .unwrap_or_default()
            .iter()
            .fold(0u64, |acc, b| acc << 8 | u64::from(*b))
    }))
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.admitted.get() && this.read >= MAX_PRE_ADMISSION_BYTES {
            return Poll::Ready(Err(too_much_before_admission()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let fresh = buf.filled().get(before..).unwrap_or_default();
        this.read = this.read.saturating_add(fresh.len());
        if !this.admitted.get() && !this.scan.feed(fresh, MAX_PRE_ADMISSION_BYTES as u64) {
            buf.set_filled(before);
            return Poll::Ready(Err(too_much_before_admission()));
        }
        polled
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn too_much_before_admission() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "too much data before admission")
}

/// A byte stream a WebSocket runs over: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket connection carrying taiku frames.
pub type WsStream = WebSocketStream<Box<dyn Io>>;

/// WebSocket framing around one frame: the largest WebSocket message is
/// the maximum frame length plus this.
const MESSAGE_OVERHEAD: usize = 64;

/// Bytes a WebSocket connection gathers before writing them to its
/// socket.
const WRITE_BUFFER: usize = 128 * 1024;

/// The receive buffer every WebSocket connection allocates at once, and
/// the most one read asks of the socket: small, since a relay holds
/// thousands of connections that mostly send keystrokes (a larger
/// message grows it while it is read).
pub const READ_BUFFER: usize = 4 * 1024;

/// The most a WebSocket connection holds unwritten while its peer does
/// not read, at the default frame limit: its write buffer and one message
/// ([`max_write_buffer`] for another limit). A send beyond it fails and
/// the connection is dropped; replies to the peer's WebSocket pings wait
/// (the newest only) instead of piling up.
pub const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + DEFAULT_MAX_FRAME_LEN + MESSAGE_OVERHEAD;

/// [`MAX_WRITE_BUFFER`] for frames of at most `max_frame_len` bytes.
pub const fn max_write_buffer(max_frame_len: usize) -> usize {
    WRITE_BUFFER + max_frame_len + MESSAGE_OVERHEAD
}

/// The WebSocket settings of a connection whose frames are at most
/// `max_frame_len` bytes (SPEC.md 12.1).
fn ws_config(max_frame_len: usize) -> WebSocketConfig {
    let max_message = max_frame_len + MESSAGE_OVERHEAD;
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(max_write_buffer(max_frame_len))
}

/// Why a client connection failed. Messages name the endpoint, never a
/// secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot reach the relay at {endpoint}: {source}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The IO error.
        source: io::Error,
    },
    /// The TLS handshake failed.
    #[error("TLS with the relay at {endpoint} failed: {source}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// The IO error.
        source: io::Error,
    },
    /// The relay answered `503 Service Unavailable`: it is up but has no
    /// room for this connection now (too many from this address); try
    /// again later.
    #[error(
        "the relay at {endpoint} is busy (too many connections from this address); try again later"
    )]
    Busy {
        /// The endpoint.
        endpoint: String,
    },
    /// The WebSocket handshake failed.
    #[error("WebSocket handshake with {endpoint} failed: {reason}")]
    Handshake {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
}

/// Connects a client loop to a relay's WebSocket endpoint
/// ([`drive::spawn_host`](crate::drive::spawn_host) builds one from its
/// [`DriverConfig`](crate::drive::DriverConfig)).
#[derive(Clone, Debug)]
pub struct WsConnect {
    /// The relay's WebSocket endpoint.
    pub endpoint: Endpoint,
    /// Roots trusted for `wss://`.
    pub tls: ClientTls,
    /// The longest frame body either side may send.
    pub max_frame_len: usize,
}

impl Connect for WsConnect {
    type Sink = SplitSink<WsStream, Message>;
    type Source = SplitStream<WsStream>;
    type Error = ConnectError;

    async fn connect(&mut self) -> Result<(Self::Sink, Self::Source), ConnectError> {
        Ok(connect_with(&self.endpoint, &self.tls, self.max_frame_len)
            .await?
            .split())
    }
}

/// Connect to a relay's WebSocket endpoint, with the default frame limit.
pub async fn connect(endpoint: &Endpoint, tls: &ClientTls) -> Result<WsStream, ConnectError> {
    connect_with(endpoint, tls, DEFAULT_MAX_FRAME_LEN).await
}

/// Connect to a relay's WebSocket endpoint, for frames of at most
/// `max_frame_len` body bytes.
pub async fn connect_with(
    endpoint: &Endpoint,
    tls: &ClientTls,
    max_frame_len: usize,
) -> Result<WsStream, ConnectError> {
    let name = endpoint.to_string();
    let tcp = TcpStream::connect(endpoint.authority())
        .await
        .map_err(|source| ConnectError::Unreachable {
            endpoint: name.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> =
        if endpoint.tls {
            let server_name = rustls_pki_types::ServerName::try_from(endpoint.host.clone())
                .map_err(|e| ConnectError::Tls {
                    endpoint: name.clone(),
                    source: io::Error::new(io::ErrorKind::InvalidInput, e),
                })?;
            let connector = tls.connector().map_err(|source| ConnectError::Tls {
                endpoint: name.clone(),
                source,
            })?;
            let stream = connector
                .connect(server_name, tcp)
                .await
                .map_err(|source| ConnectError::Tls {
                    endpoint: name.clone(),
                    source,
                })?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        name.as_str(),
        io,
        Some(ws_config(max_frame_len)),
    )
    .await
    .map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(answer)
            if answer.status().as_u16() == Status::ServiceUnavailable.code() =>
        {
            ConnectError::Busy {
                endpoint: name.clone(),
            }
        }
        e => ConnectError::Handshake {
            endpoint: name.clone(),
            reason: e.to_string(),
        },
    })?;
    Ok(ws)
}

/// What an accepted connection turned out to be.
#[non_exhaustive]
pub enum Accepted {
    /// A WebSocket to the relay endpoint.
    WebSocket(Box<WsStream>),
    /// A plain HTTP request (or a refused WebSocket handshake), answered
    /// with this status and closed.
    Answered(Status),
    /// A request for a session's HTTP tunnels (SPEC.md 12.4), for the
    /// relay to answer.
    Tunnel(Box<TunnelRequest>),
}

/// A request under `/t/<session>/` with its connection.
pub struct TunnelRequest {
    /// The connection, its request head read.
    pub io: Box<dyn Io>,
    /// The session.
    pub session: String,
    /// What it asks for.
    pub kind: TunnelRequestKind,
    /// Whether it came over TLS (the cookie is then `Secure`).
    pub secure: bool,
}

/// What a tunnel request asks for.
pub enum TunnelRequestKind {
    /// A login: the credential (the request body).
    Login {
        /// The credential.
        token: String,
    },
    /// A request for a published port.
    Port {
        /// The port.
        port: u32,
        /// The credential from the cookie.
        token: Option<String>,
        /// The request as the local server gets it: the rewritten head,
        /// then what of its body the client sent with it.
        request: Vec<u8>,
        /// Bytes of the body still to come.
        body_left: u64,
    },
}

/// Why [`accept_or_serve`] ended without a WebSocket or an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// The client closed before a complete request head.
    #[error("closed before a complete request head")]
    Closed,
    /// No complete request head within [`REQUEST_HEAD_TIMEOUT`], TLS
    /// included.
    #[error("no complete request head in time")]
    HeadTimeout,
    /// The response (or the `101` of a WebSocket handshake) was not
    /// written within [`RESPONSE_TIMEOUT`].
    #[error("response not written in time")]
    ResponseTimeout,
    /// Reading or writing the connection failed.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
}

/// Accept a connection on the relay's port (TLS first if the relay has a
/// certificate) and read its request head (SPEC.md section 12.3): a
/// WebSocket handshake to [`WS_PATH`](crate::endpoint::WS_PATH) that
/// [`web::parse_request`] accepts is answered `101` and becomes a
/// WebSocket; any other request to it is answered
/// [`Response::upgrade_refused`]; a request elsewhere is answered by
/// [`web::route`] with `web`; a head that is too large or malformed is
/// answered `400`. After an answer the connection is shut down and what
/// the client still sends is discarded ([`MAX_DRAIN_BYTES`],
/// [`DRAIN_TIMEOUT`]) before it is closed, so the client gets the answer.
/// The head must arrive within [`REQUEST_HEAD_TIMEOUT`] of the call, and
/// the answer (or `101`) is written within [`RESPONSE_TIMEOUT`].
pub async fn accept_or_serve(
    tcp: TcpStream,
    tls: Option<&TlsAcceptor>,
    web: Option<&WebClient>,
    hosts: &web::AllowedHosts,
    admitted: &Admitted,
    max_frame_len: usize,
) -> Result<Accepted, AcceptError> {
    let _ = tcp.set_nodelay(true);
    let head_deadline = Instant::now() + REQUEST_HEAD_TIMEOUT;
    let mut io: Box<dyn Io> = match tls {
        Some(acceptor) => Box::new(
            timeout_at(head_deadline, acceptor.accept(tcp))
                .await
                .map_err(|_| AcceptError::HeadTimeout)?
                .map_err(AcceptError::Tls)?,
        ),
        None => Box::new(tcp),
    };
    let mut buf = vec![0u8; MAX_REQUEST_HEAD];
    let mut len = 0;
    // The limit ends the loop: a head of `MAX_REQUEST_HEAD` bytes is
    // complete or an error. The head is parsed again only when a line may
    // have ended, so trickled bytes cost no more than one parse per line.
    let parsed = loop {
        let Some(room) = buf.get_mut(len..).filter(|room| !room.is_empty()) else {
            break web::parse_request_for(buf.get(..len).unwrap_or_default(), hosts);
        };
        let n = timeout_at(head_deadline, io.read(room))
            .await
            .map_err(|_| AcceptError::HeadTimeout)??;
        if n == 0 {
            return Err(AcceptError::Closed);
        }
        let fresh = buf.get(len..len + n).unwrap_or_default();
        len += n;
        if fresh.contains(&b'\n') || len >= buf.len() {
            match web::parse_request_for(buf.get(..len).unwrap_or_default(), hosts) {
                Ok(None) => {}
                done => break done,
            }
        }
    };
    let response_deadline = Instant::now() + RESPONSE_TIMEOUT;
    let response = match parsed {
        Ok(Some(Request::WebSocket { key, head_len })) => {
            let switching = switching_protocols(key);
            let early = buf.get(head_len..len).unwrap_or_default().to_vec();
            timeout_at(response_deadline, async {
                io.write_all(&switching).await?;
                io.flush().await
            })
            .await
            .map_err(|_| AcceptError::ResponseTimeout)??;
            // Until the machine admits it, the connection may send only
            // MAX_PRE_ADMISSION_BYTES.
            let mut scan = FrameScan::default();
            if !scan.feed(&early, MAX_PRE_ADMISSION_BYTES as u64) {
                return Err(AcceptError::Io(too_much_before_admission()));
            }
            let io: Box<dyn Io> = Box::new(Metered {
                inner: io,
                read: early.len(),
                scan,
                admitted: admitted.clone(),
            });
            let ws = WebSocketStream::from_partially_read(
                io,
                early,
                Role::Server,
                Some(ws_config(max_frame_len)),
            )
            .await;
            return Ok(Accepted::WebSocket(Box::new(ws)));
        }
        Ok(Some(Request::BadUpgrade(error))) => Response::upgrade_refused(error),
        Ok(Some(Request::Misdirected)) => Response::misdirected(),
        Ok(Some(Request::Http { target, .. })) if target.starts_with("/t/") => {
            let target = target.to_owned();
            let head = buf.get(..len).unwrap_or_default();
            let answer = match tunnel_request(io, &target, head, tls.is_some(), head_deadline).await
            {
                Ok(request) => return Ok(Accepted::Tunnel(Box::new(request))),
                Err((io_back, answer)) => {
                    io = io_back;
                    answer
                }
            };
            timeout_at(response_deadline, async {
                io.write_all(&answer).await?;
                io.shutdown().await
            })
            .await
            .map_err(|_| AcceptError::ResponseTimeout)??;
            return Ok(Accepted::Answered(Status::NotFound));
        }
        Ok(Some(Request::Http { method, target })) => web::route(web, method, target),
        Ok(None) | Err(_) => Response::bad_request(),
    };
    let status = response.status();
    timeout_at(response_deadline, async {
        io.write_all(&response.head()).await?;
        io.write_all(response.body()).await?;
        io.shutdown().await
    })
    .await
    .map_err(|_| AcceptError::ResponseTimeout)??;
    // Closing a socket with unread input resets the connection, and the
    // client may lose the answer: read until the client closes too.
    let drain_deadline = response_deadline.min(Instant::now() + DRAIN_TIMEOUT);
    let _ = timeout_at(drain_deadline, async {
        let mut drained = 0;
        while drained < MAX_DRAIN_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
    Ok(Accepted::Answered(status))
}

/// A request under `/t/`: a login with its body read, or a request for a
/// port with its head rewritten for the local server; anything else
/// answered here (the connection and the answer handed back).
async fn tunnel_request(
    mut io: Box<dyn Io>,
    target: &str,
    buf: &[u8],
    secure: bool,
    deadline: Instant,
) -> Result<TunnelRequest, (Box<dyn Io>, Vec<u8>)> {
    use crate::web::tunnel::{
        MAX_LOGIN_BODY, TunnelFault, TunnelTarget, local_request_head, redirect_answer,
        tunnel_head, tunnel_target,
    };
    // The plain `404` of any path the relay does not serve.
    let not_found = || {
        let r = web::route(None, "GET", "/");
        let mut out = r.head();
        out.extend_from_slice(r.body());
        out
    };
    let (Some(head), Some(parsed)) = (tunnel_head(buf), tunnel_target(target)) else {
        return Err((io, not_found()));
    };
    let early = buf.get(head.len..).unwrap_or_default();
    match parsed {
        TunnelTarget::AddSlash { location } => Err((io, redirect_answer(&location))),
        TunnelTarget::Login { session } => {
            let Some(length) = head
                .body_len
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n <= MAX_LOGIN_BODY && head.method == "POST")
            else {
                return Err((io, TunnelFault::Forbidden.answer()));
            };
            let mut body = early.to_vec();
            while body.len() < length {
                let mut more = [0u8; MAX_LOGIN_BODY];
                match timeout_at(deadline, io.read(&mut more)).await {
                    Ok(Ok(n)) if n > 0 => body.extend_from_slice(more.get(..n).unwrap_or_default()),
                    _ => return Err((io, TunnelFault::Forbidden.answer())),
                }
            }
            body.truncate(length);
            let token = String::from_utf8(body).unwrap_or_default();
            Ok(TunnelRequest {
                io,
                session: session.to_owned(),
                kind: TunnelRequestKind::Login { token },
                secure,
            })
        }
        TunnelTarget::Port {
            session,
            port,
            path,
        } => {
            let Some(body_len) = head.body_len else {
                return Err((io, TunnelFault::LengthRequired.answer()));
            };
            let Some(mut request) =
                local_request_head(buf.get(..head.len).unwrap_or_default(), path, port)
            else {
                return Err((io, not_found()));
            };
            // The body, and nothing after it (a pipelined request is not
            // forwarded).
            let early = early
                .get(
                    ..usize::try_from(body_len)
                        .unwrap_or(usize::MAX)
                        .min(early.len()),
                )
                .unwrap_or_default();
            request.extend_from_slice(early);
            Ok(TunnelRequest {
                io,
                session: session.to_owned(),
                kind: TunnelRequestKind::Port {
                    port,
                    token: head.token,
                    request,
                    body_left: body_len - early.len() as u64,
                },
                secure,
            })
        }
    }
}

/// The longest [`refuse_busy`] drains a refused connection.
pub const BUSY_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Answer `503 Service Unavailable` ([`Response::busy`]) on a plain TCP
/// connection the relay has no room for, without reading its request,
/// so the client can tell a full relay from a network failure. The
/// answer is written only if the socket takes it at once (a peer that
/// does not read gets nothing); then the connection is shut down and
/// drained like any answer, for at most [`BUSY_DRAIN_TIMEOUT`].
pub async fn refuse_busy(mut tcp: TcpStream) {
    let busy = Response::busy();
    let mut answer = busy.head();
    answer.extend_from_slice(busy.body());
    if !matches!(tcp.try_write(&answer), Ok(n) if n == answer.len()) {
        return;
    }
    let _ = tcp.shutdown().await;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(BUSY_DRAIN_TIMEOUT, async {
        let mut drained = 0;
        while drained < MAX_DRAIN_BYTES {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// The `101 Switching Protocols` head that completes a WebSocket
/// handshake with `key` (RFC 6455 section 4.2.2).
fn switching_protocols(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
    .into_bytes()
}

/// Send one frame as one binary message, under the default frame limit.
pub async fn send(ws: &mut WsStream, frame: &Frame) -> io::Result<()> {
    let bytes = frame
        .to_bytes(DEFAULT_MAX_FRAME_LEN)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    ws.send(Message::Binary(bytes))
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.to_string()))
}

/// The next binary message, `None` when the connection is closed. Text,
/// ping and pong messages are skipped.
pub async fn recv(ws: &mut WsStream) -> Option<Bytes> {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Binary(b)) => return Some(b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header announcing `len` payload bytes.
    fn header(len: u64) -> Vec<u8> {
        let mut h = vec![0x82];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    /// Findings 14.4 and 14.5: before admission, a header announcing a
    /// large frame is refused as soon as it is complete, before any of
    /// its payload (and before the WebSocket layer reserves room for it).
    #[test]
    fn a_header_announcing_too_much_is_refused_at_once() {
        let mut scan = FrameScan::default();
        let big = header(1 << 20);
        let (last, head) = big.split_last().unwrap();
        assert!(scan.feed(head, 16_384), "an incomplete header passes");
        assert!(!scan.feed(&[*last], 16_384));
    }

    /// Frames that fit pass, however the bytes are split; the frame that
    /// would end past the limit is refused at its header.
    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let mut stream = Vec::new();
        for len in [10u64, 300, 125, 126, 2000] {
            stream.extend(header(len));
            stream.extend(std::iter::repeat_n(0x5a, len as usize));
        }
        let total = stream.len() as u64;
        for chunk in [1, 3, 7, 64, 4096] {
            let mut scan = FrameScan::default();
            assert!(stream.chunks(chunk).all(|c| scan.feed(c, total)), "{chunk}");
            assert_eq!(scan.scanned, total);
        }
        let mut scan = FrameScan::default();
        assert!(!scan.feed(&stream, total - 1));
    }
}
