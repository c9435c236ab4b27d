//! The relay server: accepts WebSocket connections (TLS optional) and runs
//! one [`Relay`] machine for all of them. Connection tasks only move bytes;
//! every decision is the machine's. Plain HTTP requests on the same port
//! are answered by [`web::route`](crate::web::route), which serves the
//! browser client if the server has one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_session::relay::{ConnId, Event, Relay, RelayConfig, Source, Transmit};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

use crate::drive::outbox::{OutboxRx, OutboxTx, outbox};
use crate::drive::places::{PendingPlace, PendingPlaces, PerSource, Places, source_of};
use crate::drive::{OsRng, memory, os_rng};
use crate::web::{AllowedHosts, WebClient};
use crate::ws::{self, Accepted, WsStream};

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

enum ToRelay {
    /// A WebSocket connection: its writer queue, and the signal that the
    /// machine closed it.
    Connect(ConnId, Queue, oneshot::Sender<Closing>),
    Message(ConnId, Bytes),
    Gone(ConnId),
}

enum Outgoing {
    Frame(Frame),
    Close,
}

/// A connection's writer queue: bounded in frames by the channel and in
/// bytes by `bytes`, which the writer task lowers as it writes.
struct Queue {
    tx: OutboxTx<Outgoing>,
    bytes: Arc<AtomicUsize>,
    /// Raised when the machine admits the connection: it may then send
    /// more than `ws::MAX_PRE_ADMISSION_BYTES`.
    admitted: ws::Admitted,
    /// Where the connection comes from, for the machine's per-source
    /// limits.
    source: Source,
}

/// The bytes a frame takes on the wire.
fn wire_len(frame: &Frame) -> usize {
    match frame {
        Frame::Sealed(sealed) => sealed.as_bytes().len(),
        Frame::Control(_) => frame.to_bytes(DEFAULT_MAX_FRAME_LEN).map_or(0, |b| b.len()),
    }
}

/// The machine closed a connection: it must be gone in bounded time, since
/// the machine no longer counts it.
enum Closing {
    /// The close is queued after the last frames: the peer gets the send
    /// timeout to take them all.
    Queued,
    /// These last frames and the close did not fit in the writer queue:
    /// the peer gets [`CLOSE_GRACE`] to take the queue and them.
    Overflow(VecDeque<Frame>),
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
            tls,
            web: web.map(Arc::new),
            hosts,
            closed: closed.clone(),
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

/// What every connection is served with before it is a WebSocket.
#[derive(Clone)]
struct Front {
    tls: Option<TlsAcceptor>,
    web: Option<Arc<WebClient>>,
    hosts: Arc<AllowedHosts>,
    closed: Closed,
}

/// Connections closed so far, of any kind.
#[derive(Clone, Default)]
struct Closed(Arc<AtomicUsize>);

/// Counts its connection as closed when dropped, whatever way the
/// connection ends.
struct CountClose(Closed);

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

struct Writer {
    queue: Queue,
    /// Frames the writer queue had no room for, in order; while there are
    /// any, the machine has been told the connection is blocked. Bounded
    /// by what the machine emits for a blocked connection: nothing, or
    /// its queue when it closes it.
    stash: VecDeque<Frame>,
    /// Tells the connection the machine closed it.
    closing: oneshot::Sender<Closing>,
}

impl Queue {
    /// Queue `frame` if the queue has room in frames and in bytes (an
    /// empty queue takes any frame); else hand it back.
    #[allow(clippy::result_large_err)] // the frame handed back is the point
    fn try_send(&self, frame: Frame) -> Result<(), Frame> {
        let len = wire_len(&frame);
        let queued = self.bytes.load(Ordering::Acquire);
        if queued > 0 && queued + len > WRITER_QUEUE_BYTES {
            return Err(frame);
        }
        // Counted before the writer task can take it (and count it off).
        self.bytes.fetch_add(len, Ordering::AcqRel);
        match self.tx.try_send(Outgoing::Frame(frame)) {
            Ok(()) => Ok(()),
            Err(item) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                match item {
                    Outgoing::Frame(frame) => Err(frame),
                    // Only a frame went in.
                    Outgoing::Close => Ok(()),
                }
            }
        }
    }
}

impl Writer {
    /// Queue `frame` behind the stash; false if it had to be stashed.
    fn send(&mut self, frame: Frame) -> bool {
        if self.stash.is_empty() {
            match self.queue.try_send(frame) {
                Ok(()) => return true,
                Err(frame) => self.stash.push_back(frame),
            }
        } else {
            self.stash.push_back(frame);
        }
        false
    }

    /// Move stashed frames into the queue while it has room; true when the
    /// stash is empty.
    fn flush(&mut self) -> bool {
        while let Some(frame) = self.stash.pop_front() {
            if let Err(frame) = self.queue.try_send(frame) {
                self.stash.push_front(frame);
                return false;
            }
        }
        true
    }

    /// Close after every frame: through the queue if everything fits,
    /// else handing the connection what did not.
    fn close(mut self) {
        let closing = if self.flush() && self.queue.tx.try_send(Outgoing::Close).is_ok() {
            Closing::Queued
        } else {
            Closing::Overflow(self.stash)
        };
        let _ = self.closing.send(closing);
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
                let now = Instant::now();
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
                    ToRelay::Gone(id) => {
                        live.remove(&id);
                        writers.remove(&id);
                        blocked.remove(&id);
                        relay.handle_disconnect(id, now);
                    }
                }
            }
            _ = sleep_until(deadline) => relay.handle_timeout(Instant::now()),
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
                relay.shutdown(Instant::now());
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
    places: Places,
    front: Front,
    to_relay: mpsc::Sender<ToRelay>,
    send_timeout: Duration,
) {
    let _count = CountClose(front.closed.clone());
    let Places {
        mut pending,
        pending_from_source,
        from_source: held_while_connected,
    } = places;
    let source = Source(match held_while_connected.source {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    });
    let admitted = ws::Admitted::default();
    let PendingPlace { evicted, .. } = &mut pending;
    let accepted = tokio::select! {
        accepted = ws::accept_or_serve(
            tcp,
            front.tls.as_ref(),
            front.web.as_deref(),
            &front.hosts,
            &admitted,
        ) => accepted,
        _ = evicted => {
            tracing::debug!(conn = id.0, "pending connection closed for a newcomer");
            return;
        }
    };
    drop((pending, pending_from_source));
    let ws = match accepted {
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
    let (tx, rx) = outbox(WRITER_QUEUE);
    let bytes = Arc::new(AtomicUsize::new(0));
    let queue = Queue {
        tx,
        bytes: Arc::clone(&bytes),
        admitted,
        source,
    };
    let (closing, mut closed) = oneshot::channel();
    if to_relay
        .send(ToRelay::Connect(id, queue, closing))
        .await
        .is_err()
    {
        return;
    }
    let (sink, stream) = ws.split();
    let mut writer = pin!(write(id, sink, rx, bytes, send_timeout));
    let mut reader = pin!(read(id, stream, &to_relay));
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            closing = &mut closed, if open => match closing {
                Ok(closing) => {
                    // The machine closed the connection: the peer gets its
                    // last frames if it takes them in time, then the socket
                    // is dropped, however slowly it reads.
                    let (grace, rest) = match closing {
                        Closing::Queued => (send_timeout, VecDeque::new()),
                        Closing::Overflow(rest) => (CLOSE_GRACE, rest),
                    };
                    let _ = tokio::time::timeout(grace, async {
                        if let Some(mut sink) = (&mut writer).await {
                            for frame in rest {
                                if !send(id, &mut sink, frame, send_timeout).await {
                                    return;
                                }
                            }
                            let _ = tokio::time::timeout(send_timeout, sink.close()).await;
                        }
                    })
                    .await;
                    break;
                }
                // The relay loop dropped the connection without a close.
                Err(_) => open = false,
            },
            _ = &mut writer => break,
            _ = &mut reader => break,
        }
    }
    let _ = to_relay.send(ToRelay::Gone(id)).await;
}

type Sink = SplitSink<WsStream, Message>;

/// Write what the relay queues; the sink back when the queue is closed
/// (the relay loop dropped it), `None` once the connection is closed or
/// failed.
async fn write(
    id: ConnId,
    mut sink: Sink,
    mut rx: OutboxRx<Outgoing>,
    queued: Arc<AtomicUsize>,
    send_timeout: Duration,
) -> Option<Sink> {
    while let Some(item) = rx.recv().await {
        match item {
            Outgoing::Frame(frame) => {
                let len = wire_len(&frame);
                let sent = send(id, &mut sink, frame, send_timeout).await;
                queued.fetch_sub(len, Ordering::AcqRel);
                if !sent {
                    return None;
                }
            }
            Outgoing::Close => {
                let _ = tokio::time::timeout(send_timeout, sink.close()).await;
                return None;
            }
        }
    }
    Some(sink)
}

/// Send one frame within `send_timeout`; false if the connection is done.
async fn send(id: ConnId, sink: &mut Sink, frame: Frame, send_timeout: Duration) -> bool {
    let Ok(bytes) = frame.to_bytes(DEFAULT_MAX_FRAME_LEN) else {
        return true;
    };
    match tokio::time::timeout(send_timeout, sink.send(Message::Binary(bytes))).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::debug!(conn = id.0, "peer not reading, dropped");
            false
        }
    }
}

/// Hand every binary message to the relay until the peer closes.
async fn read(id: ConnId, mut stream: SplitStream<WsStream>, to_relay: &mpsc::Sender<ToRelay>) {
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
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use taiku_proto::{Direction, Epoch, ParticipantId, SessionId, TerminalId};

    fn big_frame(len: usize) -> Frame {
        let keys = taiku_crypto::KeySchedule::new(
            &taiku_crypto::LinkSecret::from_bytes(taiku_proto::Role::Admin, [4; 32]),
            &SessionId::new("writer-queue-test").unwrap(),
        );
        let mut sealer = keys
            .sealer(
                TerminalId(1),
                Direction::Output,
                ParticipantId::HOST,
                Epoch([1; 16]),
            )
            .unwrap();
        Frame::Sealed(sealer.seal(&vec![0; len]).unwrap())
    }

    /// Finding 14.7: the writer queue held 256 frames whatever their
    /// size, so one slow viewer of 1 MB frames cost 287 MiB. It is bounded
    /// in bytes too: an empty queue takes one frame, then only what fits.
    #[test]
    fn the_writer_queue_is_bounded_in_bytes() {
        let (tx, _rx) = outbox(WRITER_QUEUE);
        let queue = Queue {
            tx,
            bytes: Arc::new(AtomicUsize::new(0)),
            admitted: ws::Admitted::default(),
            source: Source([0; 16]),
        };
        let frame = big_frame(900_000);
        assert!(
            queue.try_send(frame.clone()).is_ok(),
            "an empty queue takes a frame"
        );
        assert!(
            queue.try_send(frame.clone()).is_err(),
            "a second does not fit"
        );
        let small = big_frame(10);
        assert!(queue.try_send(small).is_ok(), "a small one does");
        assert!(queue.bytes.load(Ordering::Acquire) <= WRITER_QUEUE_BYTES);
        // As the writer task writes, room comes back.
        queue.bytes.store(0, Ordering::Release);
        assert!(queue.try_send(frame).is_ok());
    }
}
