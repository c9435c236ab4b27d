//! WebSocket plumbing: one binary message carries exactly one taiku frame.

use std::io;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::endpoint::Endpoint;
use crate::tls::ClientTls;

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
