//! The client side: one loop that keeps a host or participant machine
//! connected to its relay, reconnecting with jittered backoff.

use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use taiku_proto::Frame;
use taiku_session::host::{Host, HostEvent};
use taiku_session::participant::{Participant, ParticipantEvent};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::backoff::{Backoff, STABLE_CONNECTION};
use crate::drive::os_rng;
use crate::endpoint::Endpoint;
use crate::frames::{Connect, FrameSink, FrameSource};
use crate::tls::ClientTls;
use crate::ws::WsConnect;

/// What the client loop needs of a machine. Implemented for the host and
/// participant machines; nothing here decides anything about the protocol.
pub trait Machine: Send + 'static {
    /// Events the machine reports.
    type Event: Send + 'static;
    /// A connection is up.
    fn connect(&mut self, now: Instant);
    /// The connection is gone.
    fn disconnect(&mut self, now: Instant);
    /// A frame arrived.
    fn frame(&mut self, frame: Frame, now: Instant);
    /// Fire timers.
    fn timeout(&mut self, now: Instant);
    /// When to fire timers next.
    fn next_timeout(&self) -> Option<Instant>;
    /// The next frame to send.
    fn transmit(&mut self) -> Option<Frame>;
    /// The next event.
    fn event(&mut self) -> Option<Self::Event>;
    /// Whether this event ends the machine's life (no reconnect).
    fn is_final(event: &Self::Event) -> bool;
    /// Whether the connection went silent and must be replaced.
    fn close(&mut self) -> bool;
    /// The longest frame body the machine sends or accepts: the loop and
    /// its transport enforce the same limit.
    fn max_frame_len(&self) -> usize;
    /// The loop will connect again, attempt `attempt` (from 1), in
    /// `delay`; the machine may report it. Does nothing by default.
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        let _ = (attempt, delay);
    }
}

impl<R: CryptoRng + Send + 'static> Machine for Host<R> {
    type Event = HostEvent;
    fn connect(&mut self, now: Instant) {
        Host::connect(self, now)
    }
    fn disconnect(&mut self, now: Instant) {
        self.handle_disconnect(now)
    }
    fn frame(&mut self, frame: Frame, now: Instant) {
        self.handle_frame(frame, now)
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now)
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn transmit(&mut self) -> Option<Frame> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<HostEvent> {
        self.poll_event()
    }
    fn is_final(event: &HostEvent) -> bool {
        matches!(event, HostEvent::Ended(_) | HostEvent::SessionLost)
    }
    fn close(&mut self) -> bool {
        self.poll_close()
    }
    fn max_frame_len(&self) -> usize {
        self.config().max_frame_len
    }
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        Host::reconnecting(self, attempt, delay)
    }
}

impl<R: CryptoRng + Send + 'static> Machine for Participant<R> {
    type Event = ParticipantEvent;
    fn connect(&mut self, now: Instant) {
        Participant::connect(self, now)
    }
    fn disconnect(&mut self, now: Instant) {
        self.handle_disconnect(now)
    }
    fn frame(&mut self, frame: Frame, now: Instant) {
        self.handle_frame(frame, now)
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now)
    }
    fn next_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
    fn transmit(&mut self) -> Option<Frame> {
        self.poll_transmit()
    }
    fn event(&mut self) -> Option<ParticipantEvent> {
        self.poll_event()
    }
    fn is_final(event: &ParticipantEvent) -> bool {
        matches!(
            event,
            ParticipantEvent::Ended(_) | ParticipantEvent::Denied(_)
        )
    }
    fn close(&mut self) -> bool {
        self.poll_close()
    }
    fn max_frame_len(&self) -> usize {
        self.config().max_frame_len
    }
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        Participant::reconnecting(self, attempt, delay)
    }
}

/// How long a machine that ended waits for the relay to close the
/// connection after it.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Events a client loop holds for the application by default. When the
/// application falls this far behind, the loop stops reading the
/// connection (the relay's backpressure takes over, SPEC.md 6.7) but
/// still runs commands and timers, so an application that calls the
/// machine before draining its events does not deadlock.
pub const EVENT_QUEUE: usize = 1024;

/// The longest a client loop's write of one frame may take, by default.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Commands queued towards a client loop before senders wait.
const COMMAND_QUEUE: usize = 1024;

/// How a client loop keeps its connection, whatever the transport;
/// `ClientOptions::default()` is the values of SPEC.md 12.2.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Reconnect policy.
    pub backoff: Backoff,
    /// Whether to reconnect after losing the connection (true).
    pub reconnect: bool,
    /// Longest a connection attempt may take (10 s).
    pub connect_timeout: Duration,
    /// Longest writing one frame may take ([`SEND_TIMEOUT`]): a relay
    /// that takes nothing for this long is a dead connection, replaced
    /// like one that went silent.
    pub send_timeout: Duration,
    /// Events held for the application ([`EVENT_QUEUE`]).
    pub event_queue: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            backoff: Backoff::default(),
            reconnect: true,
            connect_timeout: Duration::from_secs(10),
            send_timeout: SEND_TIMEOUT,
            event_queue: EVENT_QUEUE,
        }
    }
}

impl ClientOptions {
    /// With another reconnect policy.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Reconnecting after a lost connection, or not.
    pub fn with_reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// With another connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// With another send timeout.
    pub fn with_send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Holding up to `events` events for the application (at least one).
    pub fn with_event_queue(mut self, events: usize) -> Self {
        self.event_queue = events;
        self
    }
}

/// How a client loop reaches its relay over WebSocket.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DriverConfig {
    /// The relay's WebSocket endpoint.
    pub endpoint: Endpoint,
    /// Roots trusted for `wss://`.
    pub tls: ClientTls,
    /// Reconnecting, timeouts and limits.
    pub options: ClientOptions,
}

impl DriverConfig {
    /// Defaults for `endpoint`: webpki roots, `ClientOptions::default()`.
    pub fn new(endpoint: Endpoint) -> Self {
        DriverConfig {
            endpoint,
            tls: ClientTls::default(),
            options: ClientOptions::default(),
        }
    }

    /// With other roots (or a pinned key) for `wss://`.
    pub fn with_tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// With other options.
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// The connector this configuration describes, for frames of at
    /// most `max_frame_len` body bytes (the machine's).
    pub fn connector(&self, max_frame_len: usize) -> WsConnect {
        WsConnect {
            endpoint: self.endpoint.clone(),
            tls: self.tls.clone(),
            max_frame_len,
        }
    }
}

/// A closure run on the machine with the current time.
pub type RunOnMachine<M> = Box<dyn FnOnce(&mut M, Instant) + Send>;

/// What a [`ClientHandle`] or [`Commander`] asks of the loop running the
/// machine. A loop of an embedder's own receives these from the channel
/// it gave [`ClientHandle::new`].
#[non_exhaustive]
pub enum Command<M> {
    /// Run this closure on the machine with the current time, then drain
    /// what it queued.
    Run(RunOnMachine<M>),
    /// Drop the current connection as if the network failed.
    DropConnection,
}

impl<M> std::fmt::Debug for Command<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Run(_) => "Run(..)",
            Command::DropConnection => "DropConnection",
        })
    }
}

/// Talks to a running client loop: run closures on its machine, receive its
/// events, and cut the connection (for tests of reconnection).
pub struct ClientHandle<M: Machine> {
    commander: Commander<M>,
    /// The machine's events, in order.
    pub events: mpsc::Receiver<M::Event>,
}

impl<M: Machine> std::fmt::Debug for ClientHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle").finish_non_exhaustive()
    }
}

impl<M: Machine> ClientHandle<M> {
    /// A handle to a loop of the embedder's own, which receives
    /// `commands` and sends the machine's events on `events`: then
    /// [`Terminals`](crate::drive::Terminals), [`feed_output`](crate::drive::feed_output)
    /// and everything else written for the handle work with that loop.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Instant;
    /// use taiku_proto::ParticipantId;
    /// use taiku_session::SessionOptions;
    /// use taiku_session::host::{Host, HostConfig};
    /// use taiku_transport::drive::{ClientHandle, Command, OsRng, os_rng};
    /// use tokio::sync::mpsc;
    ///
    /// let (commands, mut inbox) = mpsc::channel(64);
    /// let (events, events_rx) = mpsc::channel(64);
    /// let handle = ClientHandle::<Host<OsRng>>::new(commands, events_rx);
    /// tokio::spawn(async move {
    ///     let options = SessionOptions::default();
    ///     let mut host = Host::generate(HostConfig::default(), options, os_rng());
    ///     while let Some(command) = inbox.recv().await {
    ///         if let Command::Run(f) = command {
    ///             f(&mut host, Instant::now());
    ///         }
    ///         // Then drain transmits, timers and events as the crate docs
    ///         // of taiku-session say; here, events only.
    ///         while let Some(event) = host.poll_event() {
    ///             let _ = events.send(event).await;
    ///         }
    ///     }
    /// });
    /// let opened = handle
    ///     .call(|h, now| h.open_terminal(ParticipantId::HOST, 24, 80, "sh", now).map(|(t, _)| t))
    ///     .await;
    /// assert!(matches!(opened, Some(Ok(_))));
    /// # }
    /// ```
    pub fn new(commands: mpsc::Sender<Command<M>>, events: mpsc::Receiver<M::Event>) -> Self {
        ClientHandle {
            commander: Commander::new(commands),
            events,
        }
    }

    /// Run `f` on the machine (for instance `|host, now| host.handle_output(..)`).
    /// Waits if the loop is busy; returns `false` if the loop has ended.
    pub async fn run<F>(&self, f: F) -> bool
    where
        F: FnOnce(&mut M, Instant) + Send + 'static,
    {
        self.commander.run(f).await
    }

    /// Run `f` on the machine and return its result.
    pub async fn call<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut M, Instant) -> T + Send + 'static,
    {
        self.commander.call(f).await
    }

    /// Drop the current connection as if the network failed (the loop
    /// reconnects if configured to).
    pub async fn drop_connection(&self) {
        self.commander.drop_connection().await
    }

    /// A sender for commands, for tasks that feed the machine (a PTY
    /// reader, for instance).
    pub fn commander(&self) -> Commander<M> {
        self.commander.clone()
    }
}

/// A cloneable handle that runs closures on the machine.
pub struct Commander<M> {
    commands: mpsc::Sender<Command<M>>,
}

impl<M> Clone for Commander<M> {
    fn clone(&self) -> Self {
        Commander {
            commands: self.commands.clone(),
        }
    }
}

impl<M> std::fmt::Debug for Commander<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commander").finish_non_exhaustive()
    }
}

impl<M: Machine> Commander<M> {
    /// A commander for the loop that receives `commands`.
    pub fn new(commands: mpsc::Sender<Command<M>>) -> Self {
        Commander { commands }
    }

    /// Drop the current connection as if the network failed.
    pub async fn drop_connection(&self) {
        let _ = self.commands.send(Command::DropConnection).await;
    }

    /// Run `f` on the machine; `false` if the loop has ended.
    pub async fn run<F>(&self, f: F) -> bool
    where
        F: FnOnce(&mut M, Instant) + Send + 'static,
    {
        self.commands.send(Command::Run(Box::new(f))).await.is_ok()
    }

    /// Run `f` on the machine and return its result; `None` if the loop
    /// has ended.
    pub async fn call<T, F>(&self, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut M, Instant) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .run(move |m, now| {
                let _ = tx.send(f(m, now));
            })
            .await;
        if !sent {
            return None;
        }
        rx.await.ok()
    }
}

/// Start the client loop of a host over WebSocket, with any RNG.
pub fn spawn_host<R: CryptoRng + Send + 'static>(
    host: Host<R>,
    config: DriverConfig,
) -> (ClientHandle<Host<R>>, JoinHandle<()>) {
    let connect = config.connector(host.config().max_frame_len);
    spawn_client(host, connect, config.options)
}

/// Start the client loop of a participant over WebSocket, with any RNG.
pub fn spawn_participant<R: CryptoRng + Send + 'static>(
    participant: Participant<R>,
    config: DriverConfig,
) -> (ClientHandle<Participant<R>>, JoinHandle<()>) {
    let connect = config.connector(participant.config().max_frame_len);
    spawn_client(participant, connect, config.options)
}

/// Start the client loop of any machine over any transport: `connect`
/// opens each connection (a [`WsConnect`], a
/// [`tcp_connector`](crate::frames::tcp_connector), or a closure).
pub fn spawn_client<M: Machine, C: Connect>(
    machine: M,
    connect: C,
    options: ClientOptions,
) -> (ClientHandle<M>, JoinHandle<()>) {
    let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
    let (events_tx, events) = mpsc::channel(options.event_queue.max(1));
    let task = tokio::spawn(client_loop(machine, connect, options, rx, events_tx));
    (ClientHandle::new(commands, events), task)
}

async fn recv_frame<R: FrameSource>(
    source: &mut Option<R>,
) -> std::io::Result<Option<bytes::Bytes>> {
    match source.as_mut() {
        Some(source) => source.recv().await,
        None => std::future::pending().await,
    }
}

/// The loops read tokio's clock, which is the one they sleep on (and
/// which a test may pause), as a std `Instant` for the machine.
fn clock() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The loop is ending: commands queued or sent from now on are dropped
/// unrun (their callers get `None` or `false`), so an application that
/// waits for a call while it should drain the last events is answered
/// instead of waiting for ever.
fn end_commands<M>(commands: &mut mpsc::Receiver<Command<M>>) {
    commands.close();
    while commands.try_recv().is_ok() {}
}

/// The events the loop has taken from the machine and not yet handed to
/// the application: at most one, held while the channel is full.
struct Outbound<E> {
    tx: mpsc::Sender<E>,
    held: Option<E>,
    /// The application dropped its receiver.
    gone: bool,
}

impl<E> Outbound<E> {
    /// Hand over the machine's events while the channel takes them;
    /// whether one of them ends the machine.
    fn drain<M: Machine<Event = E>>(&mut self, machine: &mut M) -> bool {
        let mut ended = false;
        while self.held.is_none() && !self.gone {
            let Some(event) = machine.event() else { break };
            ended |= M::is_final(&event);
            match self.tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(event)) => self.held = Some(event),
                Err(TrySendError::Closed(_)) => self.gone = true,
            }
        }
        ended || self.gone
    }

    /// Hand over everything, waiting for room: the loop is ending.
    async fn flush<M: Machine<Event = E>>(&mut self, machine: &mut M) {
        let held = self.held.take();
        for event in held
            .into_iter()
            .chain(std::iter::from_fn(|| machine.event()))
        {
            if self.tx.send(event).await.is_err() {
                return;
            }
        }
    }
}

struct Conn<C: Connect> {
    sink: C::Sink,
    source: Option<C::Source>,
}

async fn client_loop<M: Machine, C: Connect>(
    mut machine: M,
    mut connector: C,
    mut options: ClientOptions,
    mut commands: mpsc::Receiver<Command<M>>,
    events: mpsc::Sender<M::Event>,
) {
    let mut rng = os_rng();
    let mut conn: Option<Conn<C>> = None;
    let mut out = Outbound {
        tx: events,
        held: None,
        gone: false,
    };
    let mut next_attempt = Some(clock());
    let mut connected_at: Option<Instant> = None;
    // When to try again after a failed attempt or a lost connection. The
    // backoff starts over only after a connection that lasted: a relay
    // that accepts and drops at once is not hammered.
    // The machine is told when the next attempt is, so a UI can say so.
    let mut retry =
        |options: &mut ClientOptions, connected_at: &mut Option<Instant>, machine: &mut M| {
            if connected_at
                .take()
                .is_some_and(|t| clock().saturating_duration_since(t) >= STABLE_CONNECTION)
            {
                options.backoff.reset();
            }
            if !options.reconnect {
                return None;
            }
            let delay = options.backoff.next_delay(&mut rng);
            machine.reconnecting(options.backoff.attempts(), delay);
            Some(clock() + delay)
        };
    loop {
        // Without a connection and without another attempt to come (no
        // reconnecting), the loop is over: the machine's last events
        // (`Disconnected`) go out, then the event channel closes.
        if conn.is_none() && next_attempt.is_none() {
            end_commands(&mut commands);
            out.flush(&mut machine).await;
            return;
        }
        let now = clock();
        if conn.is_none() && next_attempt.is_some_and(|t| t <= now) {
            match tokio::time::timeout(options.connect_timeout, connector.connect()).await {
                Ok(Ok((sink, source))) => {
                    tracing::info!("connected to relay");
                    conn = Some(Conn {
                        sink,
                        source: Some(source),
                    });
                    next_attempt = None;
                    connected_at = Some(clock());
                    machine.connect(clock());
                }
                Ok(Err(e)) => {
                    if options.reconnect {
                        tracing::warn!(error = %e, "connection failed; retrying");
                    } else {
                        tracing::debug!(error = %e, "connection failed");
                    }
                    next_attempt = retry(&mut options, &mut connected_at, &mut machine);
                }
                Err(_) => {
                    tracing::warn!("connection attempt timed out");
                    next_attempt = retry(&mut options, &mut connected_at, &mut machine);
                }
            }
        }
        // Send what the machine has for the relay.
        if let Some(c) = conn.as_mut() {
            let mut failed = false;
            while let Some(frame) = machine.transmit() {
                let Ok(bytes) = frame.to_bytes(machine.max_frame_len()) else {
                    // Unreachable: the machine seals within its own limit.
                    tracing::warn!("a frame over the frame limit was not sent");
                    continue;
                };
                let sent = tokio::time::timeout(options.send_timeout, c.sink.send(bytes)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    if sent.is_err() {
                        tracing::warn!("the relay takes nothing; reconnecting");
                    }
                    failed = true;
                    break;
                }
            }
            if failed {
                conn = None;
                machine.disconnect(clock());
                next_attempt = retry(&mut options, &mut connected_at, &mut machine);
            }
        }
        if out.drain(&mut machine) {
            if let Some(mut c) = conn.take() {
                let _ = c.sink.close().await;
                // Wait (briefly) for the relay to close too: then it has
                // handled everything sent before, a `SessionEnded` among
                // them, even if it shuts down right after.
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Ok(Some(_)) = recv_frame(&mut c.source).await {}
                })
                .await;
            }
            end_commands(&mut commands);
            out.flush(&mut machine).await;
            return;
        }
        // While the application is behind, the loop reads nothing, so the
        // relay's silence says nothing about the connection: it is not
        // judged until the loop reads again.
        if out.held.is_none() && machine.close() && conn.take().is_some() {
            // Nothing, not even a Pong, for the liveness timeout: the
            // connection is half-open or black-holed (SPEC.md 12.2).
            tracing::warn!("the relay went silent; reconnecting");
            machine.disconnect(clock());
            next_attempt = retry(&mut options, &mut connected_at, &mut machine);
            continue;
        }
        let deadline = [
            machine.next_timeout(),
            if conn.is_none() { next_attempt } else { None },
        ]
        .into_iter()
        .flatten()
        .min();
        let mut source = conn.as_mut().and_then(|c| c.source.take());
        let reading = out.held.is_none();
        tokio::select! {
            msg = recv_frame(&mut source), if reading => match msg {
                Ok(Some(bytes)) => match Frame::parse(bytes, machine.max_frame_len()) {
                    Ok(frame) => machine.frame(frame, clock()),
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed frame from the relay; reconnecting");
                        conn = None;
                        source = None;
                        machine.disconnect(clock());
                        next_attempt = retry(&mut options, &mut connected_at, &mut machine);
                    }
                },
                Ok(None) | Err(_) => {
                    tracing::info!("connection to the relay closed");
                    conn = None;
                    source = None;
                    machine.disconnect(clock());
                    next_attempt = retry(&mut options, &mut connected_at, &mut machine);
                }
            },
            permit = out.tx.reserve(), if !reading => match permit {
                Ok(permit) => {
                    if let Some(event) = out.held.take() {
                        permit.send(event);
                    }
                }
                Err(_) => out.gone = true,
            },
            cmd = commands.recv() => match cmd {
                Some(Command::Run(f)) => f(&mut machine, clock()),
                Some(Command::DropConnection) => {
                    if conn.take().is_some() {
                        source = None;
                        machine.disconnect(clock());
                        next_attempt = retry(&mut options, &mut connected_at, &mut machine);
                    }
                }
                None => return,
            },
            _ = sleep_until(deadline) => machine.timeout(clock()),
        }
        if let Some(c) = conn.as_mut() {
            c.source = source;
        }
    }
}
