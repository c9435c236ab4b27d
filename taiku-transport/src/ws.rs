//! WebSocket plumbing: one binary message carries exactly one taiku frame.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::endpoint::Endpoint;
use crate::tls::ClientTls;
use crate::web::{
    self, MAX_REQUEST_HEAD, REQUEST_HEAD_TIMEOUT, RESPONSE_TIMEOUT, Request, Response, Status,
    WebClient,
};

/// A byte stream a WebSocket runs over: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket connection carrying taiku frames.
pub type WsStream = WebSocketStream<Box<dyn Io>>;

fn ws_config() -> WebSocketConfig {
    // Room for one maximal frame plus WebSocket framing.
    WebSocketConfig::default()
        .max_message_size(Some(DEFAULT_MAX_FRAME_LEN + 64))
        .max_frame_size(Some(DEFAULT_MAX_FRAME_LEN + 64))
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

/// Accept a WebSocket on an accepted TCP connection (TLS first if the
/// relay has a certificate).
pub async fn accept(tcp: TcpStream, tls: Option<&TlsAcceptor>) -> io::Result<WsStream> {
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match tls {
        Some(acceptor) => Box::new(acceptor.accept(tcp).await?),
        None => Box::new(tcp),
    };
    tokio_tungstenite::accept_async_with_config(io, Some(ws_config()))
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// What an accepted connection turned out to be.
pub enum Accepted {
    /// A WebSocket to the relay endpoint.
    WebSocket(Box<WsStream>),
    /// A plain HTTP request, answered with this status and closed.
    Answered(Status),
}

/// Accept a connection on the relay's port (TLS first if the relay has a
/// certificate) and read its request head: a WebSocket upgrade to
/// [`WS_PATH`](crate::endpoint::WS_PATH) becomes a WebSocket exactly as
/// [`accept`] makes it; any other request is answered by [`web::route`]
/// with `web` and closed (SPEC.md section 12.3). A head that is too large
/// or malformed is answered `400`. Errors are IO errors and timeouts
/// ([`REQUEST_HEAD_TIMEOUT`], [`RESPONSE_TIMEOUT`]).
pub async fn accept_or_serve(
    tcp: TcpStream,
    tls: Option<&TlsAcceptor>,
    web: Option<&WebClient>,
) -> io::Result<Accepted> {
    let _ = tcp.set_nodelay(true);
    let (mut io, mut head, len) = tokio::time::timeout(REQUEST_HEAD_TIMEOUT, async {
        let mut io: Box<dyn Io> = match tls {
            Some(acceptor) => Box::new(acceptor.accept(tcp).await?),
            None => Box::new(tcp),
        };
        let mut head = vec![0u8; MAX_REQUEST_HEAD];
        let mut len = 0;
        // The limit ends the loop: a head of `MAX_REQUEST_HEAD` bytes is
        // complete or an error.
        while let Some(room) = head.get_mut(len..) {
            let n = io.read(room).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a complete request head",
                ));
            }
            len += n;
            if web::parse_request(head.get(..len).unwrap_or_default()) != Ok(None) {
                break;
            }
        }
        Ok::<_, io::Error>((io, head, len))
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head in time"))??;
    let read = head.get(..len).unwrap_or_default();
    let response = match web::parse_request(read) {
        Ok(Some(Request::WebSocket)) => {
            head.truncate(len);
            let replay = Replay {
                head,
                pos: 0,
                inner: io,
            };
            let ws = tokio_tungstenite::accept_async_with_config(
                Box::new(replay) as Box<dyn Io>,
                Some(ws_config()),
            )
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            return Ok(Accepted::WebSocket(Box::new(ws)));
        }
        Ok(Some(Request::Http { method, target })) => web::route(web, method, target),
        Ok(None) | Err(_) => Response::bad_request(),
    };
    let status = response.status;
    tokio::time::timeout(RESPONSE_TIMEOUT, async {
        io.write_all(&response.head()).await?;
        io.write_all(response.body).await?;
        io.shutdown().await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "response not written in time"))??;
    Ok(Accepted::Answered(status))
}

/// A stream that first replays the request head already read from it, so
/// the WebSocket handshake reads the request as the client sent it.
struct Replay {
    head: Vec<u8>,
    pos: usize,
    inner: Box<dyn Io>,
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.head.get(this.pos..).unwrap_or_default();
        if rest.is_empty() {
            if !this.head.is_empty() {
                this.head = Vec::new();
                this.pos = 0;
            }
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
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
