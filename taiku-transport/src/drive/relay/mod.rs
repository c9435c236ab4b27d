//! The relay server: accepts connections (TLS optional) and runs one
//! [`Relay`] machine for all of them. Connection tasks only move bytes;
//! every decision is the machine's. A WebSocket server
//! ([`RelayServer::bind`]) answers plain HTTP requests on the same port
//! with [`web::route`](crate::web::route), which serves the browser client
//! if the server has one; a byte-stream server
//! ([`RelayServer::serve_stream`]) carries frames back to back on each
//! TCP connection, for native clients ([`frames::tcp_connector`](crate::frames::tcp_connector)).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taiku_session::relay::{ConnId, Event, Relay, RelayConfig, Transmit};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::drive::places::{PendingPlaces, PerSource, Places, source_of};
use crate::drive::{OsRng, memory, os_rng};
use crate::web::{AllowedHosts, WebClient};
use crate::ws;

mod connection;
mod tunnel;

use connection::{ToRelay, Writer, connection};

/// Frames queued towards one connection's socket writer before the relay
/// machine is told the connection is blocked.
pub const WRITER_QUEUE: usize = 256;

/// Bytes queued towards one connection's socket writer before the relay
/// machine is told the connection is blocked (one frame more when the
/// queue is empty), so the writer queue costs at most this on top of the
/// machine's `max_queue_bytes`.
pub const WRITER_QUEUE_BYTES: usize = 1 << 20;

/// The longest writing one WebSocket message (or the close) may take: a
/// peer that reads nothing for this long is dropped, and the machine is
/// told it is gone.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// When the machine closes a connection whose last frames did not fit in
/// its writer queue, the time the connection gets to write them before
/// its socket is dropped (a connection whose close did fit gets the send
/// timeout); also the longest a shutdown waits for connections to write
/// their last frames.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Connections at once still in the TLS handshake, the request head or
/// the HTTP response (SPEC.md section 12.3). A connection accepted when
/// all are taken takes the place of the oldest, which is closed: a
/// legitimate client sends its head within a round trip, so slow heads
/// cannot keep newcomers out.
pub const MAX_PENDING_CONNECTIONS: usize = 512;

/// Connections refused with `503` ([`ws::refuse_busy`]) at once; a
/// connection refused beyond them is closed unanswered.
pub const MAX_REFUSING: usize = 64;

/// The pause after a failed `accept` (say, out of file descriptors)
/// before the next.
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Connections that close, of any kind, before the server asks the
/// allocator to give freed memory back: once none closed for a whole
/// [`RELEASE_INTERVAL`] (the burst is over), or at once when eight times
/// as many closed (a long attack). So a relay's memory comes back near
/// its baseline after an attack of many connections ends.
pub const RELEASE_AFTER_CLOSES: usize = 256;

/// How often the server checks whether to give freed memory back.
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(1);

/// How often blocked connections' writer queues are checked for room.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// Messages from connection tasks queued towards the relay machine.
const INBOX: usize = 4096;

/// Timeouts and limits of a [`RelayServer`]'s connections;
/// `ServerOptions::default()` is the values of SPEC.md section 12.2.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// [`SEND_TIMEOUT`] by default.
    pub send_timeout: Duration,
    /// [`MAX_PENDING_CONNECTIONS`] by default.
    pub max_pending_connections: usize,
    /// Connections at once from one source (an IPv4 address, or an IPv6
    /// /64): [`MAX_CONNECTIONS_PER_SOURCE`] by default. One client cannot
    /// hold every connection the machine allows.
    pub max_connections_per_source: usize,
    /// Connections from one source before their WebSocket or answer:
    /// [`MAX_PENDING_PER_SOURCE`] by default, so slow request heads from
    /// one source cannot take every pending place.
    pub max_pending_per_source: usize,
    /// The `Host` names the server answers for (SPEC.md 12.3). `None`, the
    /// default: a server bound to a loopback address answers only for
    /// its loopback names ([`AllowedHosts::Loopback`]), so no page under
    /// another name reaches it by DNS rebinding; any other answers any
    /// `Host`. A public relay names its public origin here.
    pub allowed_hosts: Option<AllowedHosts>,
}

impl ServerOptions {
    /// With another [`send_timeout`](Self::send_timeout).
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// With another [`max_pending_connections`](Self::max_pending_connections).
    pub fn with_max_pending_connections(mut self, n: usize) -> Self {
        self.max_pending_connections = n;
        self
    }

    /// With another [`max_connections_per_source`](Self::max_connections_per_source).
    pub fn with_max_connections_per_source(mut self, n: usize) -> Self {
        self.max_connections_per_source = n;
        self
    }

    /// With another [`max_pending_per_source`](Self::max_pending_per_source).
    pub fn with_max_pending_per_source(mut self, n: usize) -> Self {
        self.max_pending_per_source = n;
        self
    }

    /// Answering only for these [`allowed_hosts`](Self::allowed_hosts).
    pub fn with_allowed_hosts(mut self, hosts: AllowedHosts) -> Self {
        self.allowed_hosts = Some(hosts);
        self
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            send_timeout: SEND_TIMEOUT,
            max_pending_connections: MAX_PENDING_CONNECTIONS,
            max_connections_per_source: MAX_CONNECTIONS_PER_SOURCE,
            max_pending_per_source: MAX_PENDING_PER_SOURCE,
            allowed_hosts: None,
        }
    }
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
        Self::serve_with(listener, tls, config, web)
    }

    /// Serve on an already bound listener, without a browser client.
    /// Fails if the listener's address cannot be read.
    pub fn serve(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
    ) -> io::Result<Self> {
        Self::serve_with(listener, tls, config, None)
    }

    /// Serve on an already bound listener, with the browser client `web`
    /// if given. Fails if the listener's address cannot be read.
    pub fn serve_with(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        web: Option<WebClient>,
    ) -> io::Result<Self> {
        Self::serve_with_options(listener, tls, config, web, ServerOptions::default())
    }

    /// [`serve_with`](Self::serve_with), with other connection timeouts
    /// and limits than the defaults.
    pub fn serve_with_options(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        web: Option<WebClient>,
        options: ServerOptions,
    ) -> io::Result<Self> {
        Self::start(listener, tls, config, web, options, Kind::WebSocket)
    }

    /// Serve frames back to back on each TCP connection (TLS first with
    /// `tls`) instead of WebSocket: a relay for native clients, which
    /// connect with [`frames::tcp_connector`](crate::frames::tcp_connector)
    /// or any [`Connect`](crate::frames::Connect) that opens such a
    /// stream. The same machine rules, limits and per-source places
    /// apply; there is no HTTP side.
    pub fn serve_stream(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        options: ServerOptions,
    ) -> io::Result<Self> {
        Self::start(listener, tls, config, None, options, Kind::Stream)
    }

    fn start(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: RelayConfig,
        web: Option<WebClient>,
        options: ServerOptions,
        kind: Kind,
    ) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let addr = listener.local_addr()?;
        let secure = tls.is_some();
        let (shutdown, shutdown_rx) = oneshot::channel();
        let (to_relay, inbox) = mpsc::channel(INBOX);
        let hosts = Arc::new(match options.allowed_hosts.clone() {
            Some(hosts) => hosts,
            None if addr.ip().is_loopback() => AllowedHosts::Loopback,
            None => AllowedHosts::Any,
        });
        let closed = Closed::default();
        let front = Front {
            kind,
            tls,
            web: web.map(Arc::new),
            hosts,
            closed: closed.clone(),
            max_frame_len: config.max_frame_len,
        };
        let accepting = tokio::spawn(accept(listener, front, to_relay, options));
        let task = tokio::spawn(run(
            inbox,
            AbortOnDrop(accepting),
            config,
            shutdown_rx,
            closed,
        ));
        Ok(RelayServer {
            addr,
            tls: secure,
            shutdown: Some(shutdown),
            task,
        })
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

    /// Shut down gracefully: accepting stops, and every participant and
    /// host is told (`SessionEnded{RELAY_SHUTDOWN}`) before its connection
    /// closes. Waits at most [`CLOSE_GRACE`] for connections to write
    /// their last frames.
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

/// The accepting task, stopped when the relay loop ends.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connections at once from one source, by default.
pub const MAX_CONNECTIONS_PER_SOURCE: usize = 256;

/// Pending connections from one source, by default.
pub const MAX_PENDING_PER_SOURCE: usize = 32;

/// What carries a server's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One WebSocket message per frame, HTTP on the same port.
    WebSocket,
    /// Frames back to back on the (TLS) stream.
    Stream,
}

/// What every connection is served with before it carries frames.
#[derive(Clone)]
struct Front {
    kind: Kind,
    tls: Option<TlsAcceptor>,
    web: Option<Arc<WebClient>>,
    hosts: Arc<AllowedHosts>,
    closed: Closed,
    /// The machine's frame limit, which the transport enforces too.
    max_frame_len: usize,
}

/// Connections closed so far, of any kind.
#[derive(Clone, Default)]
pub(super) struct Closed(Arc<AtomicUsize>);

/// Counts its connection as closed when dropped, whatever way the
/// connection ends.
pub(super) struct CountClose(pub(super) Closed);

impl Drop for CountClose {
    fn drop(&mut self) {
        self.0.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Accept connections and give each a task, while fewer than
/// `max_pending_connections` are before their WebSocket or answer.
/// Connection tasks reach the relay loop through `to_relay`, so a burst
/// of accept errors never holds up the relay machine.
async fn accept(
    listener: TcpListener,
    front: Front,
    to_relay: mpsc::Sender<ToRelay>,
    options: ServerOptions,
) {
    let pending = PendingPlaces::new(options.max_pending_connections);
    let (per_source, pending_per_source) = (PerSource::default(), PerSource::default());
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut next_conn = 0u64;
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let source = source_of(peer.ip());
                let places = per_source
                    .take(source, options.max_connections_per_source)
                    .zip(pending_per_source.take(source, options.max_pending_per_source));
                let Some((from_source, pending_from_source)) = places else {
                    tracing::debug!(%peer, "too many connections from this source, refused");
                    // Plain TCP only: over TLS the answer would take a
                    // whole handshake.
                    if front.tls.is_none()
                        && let Ok(permit) = Arc::clone(&refusing).try_acquire_owned()
                    {
                        tokio::spawn(async move {
                            ws::refuse_busy(tcp).await;
                            drop(permit);
                        });
                    }
                    continue;
                };
                next_conn += 1;
                let places = Places {
                    pending: pending.take(next_conn),
                    pending_from_source,
                    from_source,
                };
                let id = ConnId(next_conn);
                tracing::debug!(conn = id.0, %peer, "connection accepted");
                tokio::spawn(connection(
                    id,
                    tcp,
                    places,
                    front.clone(),
                    to_relay.clone(),
                    options.send_timeout,
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
    }
}

async fn run(
    mut inbox: mpsc::Receiver<ToRelay>,
    mut accepting: AbortOnDrop,
    config: RelayConfig,
    mut shutdown: oneshot::Receiver<()>,
    closed: Closed,
) {
    let mut relay: Relay<OsRng> = Relay::new(config, os_rng());
    let mut writers: HashMap<ConnId, Writer> = HashMap::new();
    // Connections whose stash is not empty.
    let mut blocked: HashSet<ConnId> = HashSet::new();
    // WebSocket connection tasks that have not said they are gone.
    let mut live: HashSet<ConnId> = HashSet::new();
    let mut stopping = false;
    let mut flushed_by: Option<tokio::time::Instant> = None;
    let mut retry = tokio::time::interval(RETRY_INTERVAL);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut release = tokio::time::interval(RELEASE_INTERVAL);
    release.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Closed connections counted when memory was last given back, and at
    // the last check.
    let (mut released_at, mut checked_at) = (0usize, 0usize);
    loop {
        let deadline = relay.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            Some(msg) = inbox.recv() => {
                let now = tokio::time::Instant::now().into_std();
                match msg {
                    ToRelay::Connect(id, queue, closing) => {
                        live.insert(id);
                        // While stopping, the queue and signal are dropped:
                        // the connection closes.
                        if !stopping {
                            let source = queue.source;
                            writers.insert(id, Writer { queue, stash: VecDeque::new(), closing });
                            relay.handle_connect(id, now);
                            relay.attach_source(id, source);
                        }
                    }
                    ToRelay::Message(id, bytes) => {
                        relay.handle_message(id, bytes, now);
                        if let Some(w) = writers.get(&id)
                            && !w.queue.admitted.get()
                            && relay.is_admitted(id)
                        {
                            w.queue.admitted.set();
                        }
                    }
                    ToRelay::Tunnel { id, session, token, port, queue, closing, reply } => {
                        let opened = if stopping {
                            Err(taiku_session::relay::TunnelRefusal::HostOffline)
                        } else {
                            relay.open_tunnel(id, &session, &token, port, now)
                        };
                        if opened.is_ok() {
                            live.insert(id);
                            let source = queue.source;
                            writers.insert(id, Writer { queue, stash: VecDeque::new(), closing });
                            relay.attach_source(id, source);
                        }
                        let _ = reply.send(opened);
                    }
                    ToRelay::Credential { session, token, reply } => {
                        let valid = relay.tunnel_credential_valid(&session, &token, now);
                        let ttl = relay.config().tunnel_credential_ttl.as_secs();
                        let _ = reply.send(valid.then_some(ttl));
                    }
                    ToRelay::Gone(id) => {
                        live.remove(&id);
                        blocked.remove(&id);
                        // A connection the machine closed (its writer is
                        // gone already) is forgotten there: nothing to tell.
                        if writers.remove(&id).is_some() {
                            relay.handle_disconnect(id, now);
                        }
                    }
                }
            }
            _ = sleep_until(deadline) => relay.handle_timeout(tokio::time::Instant::now().into_std()),
            _ = retry.tick(), if !blocked.is_empty() => {
                blocked.retain(|id| {
                    let drained = writers.get_mut(id).is_none_or(Writer::flush);
                    if drained {
                        relay.handle_unblocked(*id);
                    }
                    !drained
                });
            }
            _ = release.tick() => {
                let total = closed.0.load(Ordering::Relaxed);
                let unreleased = total.wrapping_sub(released_at);
                let quiet = total == checked_at;
                checked_at = total;
                if unreleased >= 8 * RELEASE_AFTER_CLOSES
                    || (quiet && unreleased >= RELEASE_AFTER_CLOSES)
                {
                    released_at = total;
                    memory::release_free_memory();
                }
                continue;
            }
            _ = &mut shutdown, if !stopping => {
                tracing::info!("relay shutting down");
                accepting.0.abort();
                let _ = (&mut accepting.0).await;
                stopping = true;
                relay.shutdown(tokio::time::Instant::now().into_std());
            }
            _ = sleep_until(flushed_by), if flushed_by.is_some() => return,
        }
        while let Some(t) = relay.poll_transmit() {
            match t {
                Transmit::Send { conn, frame } => {
                    if let Some(w) = writers.get_mut(&conn)
                        && !w.send(frame)
                        && blocked.insert(conn)
                    {
                        relay.handle_blocked(conn);
                    }
                }
                Transmit::Close { conn } => {
                    // The machine has forgotten the connection.
                    blocked.remove(&conn);
                    if let Some(w) = writers.remove(&conn) {
                        w.close();
                    }
                }
            }
        }
        while let Some(event) = relay.poll_event() {
            log_event(&event);
        }
        if stopping && writers.is_empty() {
            if live.is_empty() {
                return;
            }
            // Give connections a moment to write their last frames.
            flushed_by.get_or_insert_with(|| tokio::time::Instant::now() + CLOSE_GRACE);
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
        // The identity stays out of the log (SPEC.md 12.2); an embedder
        // that wants it in an audit log has it in the event.
        Event::Joined {
            session,
            participant,
            role,
            ..
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
