//! WebSocket plumbing: one binary message carries exactly one taiku frame.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
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
use crate::tls::ClientTls;
use crate::web::{
    self, DRAIN_TIMEOUT, MAX_DRAIN_BYTES, MAX_REQUEST_HEAD, REQUEST_HEAD_TIMEOUT, RESPONSE_TIMEOUT,
    Request, Response, Status, WebClient,
};

/// Bytes of WebSocket data a connection may send before the relay admits
/// it (SPEC.md 12.2): several times any admission message, far below a
/// whole message (`MAX_MESSAGE`), so a connection that never proves a
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
    admitted: Admitted,
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.admitted.get() && this.read >= MAX_PRE_ADMISSION_BYTES {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too much data before admission",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.read = this.read.saturating_add(buf.filled().len() - before);
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

/// A byte stream a WebSocket runs over: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket connection carrying taiku frames.
pub type WsStream = WebSocketStream<Box<dyn Io>>;

/// The largest WebSocket message: one maximal frame plus framing.
const MAX_MESSAGE: usize = DEFAULT_MAX_FRAME_LEN + 64;

/// Bytes a WebSocket connection gathers before writing them to its
/// socket.
const WRITE_BUFFER: usize = 128 * 1024;

/// The most a WebSocket connection holds unwritten while its peer does
/// not read: its write buffer and one message. A send beyond it fails and
/// the connection is dropped; replies to the peer's WebSocket pings wait
/// (the newest only) instead of piling up.
pub const MAX_WRITE_BUFFER: usize = WRITE_BUFFER + MAX_MESSAGE;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
}

/// Why a client connection failed. Messages name the endpoint, never a
/// secret.
#[derive(Debug, thiserror::Error)]
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
    /// The WebSocket handshake failed.
    #[error("WebSocket handshake with {endpoint} failed: {reason}")]
    Handshake {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
}

/// Connect to a relay's WebSocket endpoint.
pub async fn connect(endpoint: &Endpoint, tls: &ClientTls) -> Result<WsStream, ConnectError> {
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
    let (ws, _) = tokio_tungstenite::client_async_with_config(name.as_str(), io, Some(ws_config()))
        .await
        .map_err(|e| ConnectError::Handshake {
            endpoint: name.clone(),
            reason: e.to_string(),
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
            let io: Box<dyn Io> = Box::new(Metered {
                inner: io,
                read: early.len(),
                admitted: admitted.clone(),
            });
            let ws =
                WebSocketStream::from_partially_read(io, early, Role::Server, Some(ws_config()))
                    .await;
            return Ok(Accepted::WebSocket(Box::new(ws)));
        }
        Ok(Some(Request::BadUpgrade(error))) => Response::upgrade_refused(error),
        Ok(Some(Request::Misdirected)) => Response::misdirected(),
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

/// Send one frame as one binary message.
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
