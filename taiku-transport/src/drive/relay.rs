//! The relay server: accepts WebSocket connections (TLS optional) and runs
//! one [`Relay`] machine for all of them. Connection tasks only move bytes;
//! every decision is the machine's. Plain HTTP requests on the same port
//! are answered by [`web::route`](crate::web::route), which serves the
//! browser client if the server has one.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_session::relay::{ConnId, Event, Relay, RelayConfig, Transmit};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

use crate::drive::{OsRng, os_rng};
use crate::web::WebClient;
use crate::ws::{self, Accepted};

/// Frames queued towards one connection's socket writer before the relay
/// machine is told the connection is blocked.
pub const WRITER_QUEUE: usize = 256;

enum ToRelay {
    Connect(ConnId, mpsc::Sender<Outgoing>),
    Message(ConnId, Bytes),
    Gone(ConnId),
}

enum Outgoing {
    Frame(Frame),
    Close,
}

/// A running relay server.
#[derive(Debug)]
pub struct RelayServer {
    addr: SocketAddr,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RelayServer {
    /// Bind `addr` and serve, without a browser client. With `tls`,
    /// connections are `wss://`.
    pub async fn bind(
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
    ) -> io::Result<Self> {
        Self::bind_with(addr, tls, config, None).await
    }

    /// Bind `addr` and serve; with `web`, links (`/s/<session-id>`) open
    /// the browser client (SPEC.md section 12.3).
    pub async fn bind_with(
        addr: SocketAddr,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        web: Option<WebClient>,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve_with(listener, tls, config, web))
    }

    /// Serve on an already bound listener, without a browser client.
    pub fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, config: RelayConfig) -> Self {
        Self::serve_with(listener, tls, config, None)
    }

    /// Serve on an already bound listener, with the browser client `web`
    /// if given.
    pub fn serve_with(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        web: Option<WebClient>,
    ) -> Self {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let secure = tls.is_some();
        let (shutdown, shutdown_rx) = oneshot::channel();
        let web = web.map(Arc::new);
        let task = tokio::spawn(run(listener, tls, config, web, shutdown_rx));
        RelayServer {
            addr,
            tls: secure,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin links should name: `http(s)://ADDR`.
    pub fn origin(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Shut down gracefully: every participant and host is told
    /// (`SessionEnded{RELAY_SHUTDOWN}`) before its connection closes.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

struct Writer {
    tx: mpsc::Sender<Outgoing>,
    /// A frame the writer queue had no room for; the machine was told the
    /// connection is blocked.
    stash: Option<Outgoing>,
}

async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    config: RelayConfig,
    web: Option<Arc<WebClient>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut relay: Relay<OsRng> = Relay::new(config, os_rng());
    let (to_relay, mut inbox) = mpsc::channel::<ToRelay>(4096);
    let mut writers: HashMap<ConnId, Writer> = HashMap::new();
    let mut next_conn = 0u64;
    let mut stopping = false;
    let mut retry = tokio::time::interval(std::time::Duration::from_millis(20));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = relay.poll_timeout().map(tokio::time::Instant::from_std);
        let blocked = writers.values().any(|w| w.stash.is_some());
        tokio::select! {
            accepted = listener.accept(), if !stopping => match accepted {
                Ok((tcp, peer)) => {
                    next_conn += 1;
                    let id = ConnId(next_conn);
                    tracing::debug!(conn = id.0, %peer, "connection accepted");
                    tokio::spawn(connection(id, tcp, tls.clone(), web.clone(), to_relay.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(msg) = inbox.recv() => {
                let now = Instant::now();
                match msg {
                    ToRelay::Connect(id, tx) => {
                        writers.insert(id, Writer { tx, stash: None });
                        relay.handle_connect(id, now);
                    }
                    ToRelay::Message(id, bytes) => relay.handle_message(id, bytes, now),
                    ToRelay::Gone(id) => {
                        writers.remove(&id);
                        relay.handle_disconnect(id, now);
                    }
                }
            }
            _ = sleep_until(deadline) => relay.handle_timeout(Instant::now()),
            _ = retry.tick(), if blocked => {
                for (id, w) in writers.iter_mut() {
                    if let Some(item) = w.stash.take() {
                        match w.tx.try_send(item) {
                            Ok(()) => relay.handle_unblocked(*id),
                            Err(mpsc::error::TrySendError::Full(item)) => w.stash = Some(item),
                            Err(mpsc::error::TrySendError::Closed(_)) => {}
                        }
                    }
                }
            }
            _ = &mut shutdown, if !stopping => {
                tracing::info!("relay shutting down");
                stopping = true;
                relay.shutdown(Instant::now());
            }
        }
        while let Some(t) = relay.poll_transmit() {
            let (id, item) = match t {
                Transmit::Send { conn, frame } => (conn, Outgoing::Frame(frame)),
                Transmit::Close { conn } => (conn, Outgoing::Close),
            };
            let Some(w) = writers.get_mut(&id) else {
                continue;
            };
            match w.tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    w.stash = Some(item);
                    relay.handle_blocked(id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        while let Some(event) = relay.poll_event() {
            log_event(&event);
        }
        if stopping && writers.is_empty() {
            return;
        }
        if stopping && relay.connection_count() == 0 {
            // Give writers a moment to flush their close frames.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            return;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Session ids and roles are public metadata; nothing else is logged.
fn log_event(event: &Event) {
    match event {
        Event::SessionCreated { session } => tracing::info!(%session, "session created"),
        Event::Joined {
            session,
            participant,
            role,
        } => {
            tracing::info!(%session, participant = participant.0, ?role, "joined")
        }
        Event::Denied { conn, reason } => {
            tracing::info!(conn = conn.0, ?reason, "admission refused")
        }
        Event::Left {
            session,
            participant,
        } => tracing::info!(%session, participant = participant.0, "left"),
        Event::HostAway { session } => tracing::info!(%session, "host away"),
        Event::HostResumed { session } => tracing::info!(%session, "host resumed"),
        Event::SessionEnded { session, reason } => {
            tracing::info!(%session, ?reason, "session ended")
        }
        Event::Evicted { conn, reason } => {
            tracing::debug!(conn = conn.0, ?reason, "connection closed")
        }
        other => tracing::debug!(?other, "relay event"),
    }
}

async fn connection(
    id: ConnId,
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    web: Option<Arc<WebClient>>,
    to_relay: mpsc::Sender<ToRelay>,
) {
    let ws = match ws::accept_or_serve(tcp, tls.as_ref(), web.as_deref()).await {
        Ok(Accepted::WebSocket(ws)) => *ws,
        Ok(Accepted::Answered(status)) => {
            tracing::debug!(conn = id.0, status = status.code(), "http request answered");
            return;
        }
        Err(e) => {
            tracing::debug!(conn = id.0, error = %e, "handshake failed");
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel(WRITER_QUEUE);
    if to_relay.send(ToRelay::Connect(id, tx)).await.is_err() {
        return;
    }
    let (mut sink, mut stream) = ws.split();
    let writer = async {
        while let Some(item) = rx.recv().await {
            match item {
                Outgoing::Frame(frame) => {
                    let Ok(bytes) = frame.to_bytes(DEFAULT_MAX_FRAME_LEN) else {
                        continue;
                    };
                    if sink.send(Message::Binary(bytes)).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    let _ = sink.close().await;
                    break;
                }
            }
        }
    };
    let reader = async {
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Binary(bytes)) => {
                    if to_relay.send(ToRelay::Message(id, bytes)).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
    let _ = to_relay.send(ToRelay::Gone(id)).await;
}
