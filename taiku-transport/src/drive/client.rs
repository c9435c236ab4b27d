//! The client side: one loop that keeps a host or participant machine
//! connected to its relay, reconnecting with jittered backoff.

use std::time::{Duration, Instant};

use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_session::host::{Host, HostEvent};
use taiku_session::participant::{Participant, ParticipantEvent};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::backoff::{Backoff, STABLE_CONNECTION};
use crate::drive::{OsRng, os_rng};
use crate::endpoint::Endpoint;
use crate::tls::ClientTls;
use crate::ws::{self, WsStream};

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
    /// The loop will connect again, attempt `attempt` (from 1), in
    /// `delay`; the machine may report it. Does nothing by default.
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        let _ = (attempt, delay);
    }
}

impl Machine for Host<OsRng> {
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
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        Host::reconnecting(self, attempt, delay)
    }
}

impl Machine for Participant<OsRng> {
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
    fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        Participant::reconnecting(self, attempt, delay)
    }
}

/// How long a machine that ended waits for the relay to close the
/// connection after it.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// How a client loop connects.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The relay's WebSocket endpoint.
    pub endpoint: Endpoint,
    /// Roots trusted for `wss://`.
    pub tls: ClientTls,
    /// Reconnect policy.
    pub backoff: Backoff,
    /// Whether to reconnect after losing the connection.
    pub reconnect: bool,
    /// Longest a connection attempt may take.
    pub connect_timeout: Duration,
}

impl DriverConfig {
    /// Defaults for `endpoint`: reconnect with the default backoff, 10 s
    /// connect timeout, webpki roots.
    pub fn new(endpoint: Endpoint) -> Self {
        DriverConfig {
            endpoint,
            tls: ClientTls::default(),
            backoff: Backoff::default(),
            reconnect: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

type Command<M> = Box<dyn FnOnce(&mut M, Instant) + Send>;

/// Talks to a running client loop: run closures on its machine, receive its
/// events, and cut the connection (for tests of reconnection).
pub struct ClientHandle<M: Machine> {
    commander: Commander<M>,
    /// The machine's events, in order.
    pub events: mpsc::UnboundedReceiver<M::Event>,
}

enum Control<M> {
    Run(Command<M>),
    Drop,
}

impl<M: Machine> ClientHandle<M> {
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
    commands: mpsc::Sender<Control<M>>,
}

impl<M> Clone for Commander<M> {
    fn clone(&self) -> Self {
        Commander {
            commands: self.commands.clone(),
        }
    }
}

impl<M: Machine> Commander<M> {
    /// Drop the current connection as if the network failed.
    pub async fn drop_connection(&self) {
        let _ = self.commands.send(Control::Drop).await;
    }

    /// Run `f` on the machine; `false` if the loop has ended.
    pub async fn run<F>(&self, f: F) -> bool
    where
        F: FnOnce(&mut M, Instant) + Send + 'static,
    {
        self.commands.send(Control::Run(Box::new(f))).await.is_ok()
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

/// Start the client loop of a host.
pub fn spawn_host(
    host: Host<OsRng>,
    config: DriverConfig,
) -> (ClientHandle<Host<OsRng>>, JoinHandle<()>) {
    spawn(host, config)
}

/// Start the client loop of a participant.
pub fn spawn_participant(
    participant: Participant<OsRng>,
    config: DriverConfig,
) -> (ClientHandle<Participant<OsRng>>, JoinHandle<()>) {
    spawn(participant, config)
}

fn spawn<M: Machine>(machine: M, config: DriverConfig) -> (ClientHandle<M>, JoinHandle<()>) {
    let (commands, rx) = mpsc::channel(1024);
    let (events_tx, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(client_loop(machine, config, rx, events_tx));
    let commander = Commander { commands };
    (ClientHandle { commander, events }, task)
}

async fn recv_frame(ws: &mut Option<WsStream>) -> Option<bytes::Bytes> {
    match ws.as_mut() {
        Some(ws) => ws::recv(ws).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn client_loop<M: Machine>(
    mut machine: M,
    mut config: DriverConfig,
    mut commands: mpsc::Receiver<Control<M>>,
    events: mpsc::UnboundedSender<M::Event>,
) {
    let mut rng = os_rng();
    let mut ws: Option<WsStream> = None;
    let mut next_attempt = Some(Instant::now());
    let mut connected_at: Option<Instant> = None;
    let endpoint = config.endpoint.to_string();
    // When to try again after a failed attempt or a lost connection. The
    // backoff starts over only after a connection that lasted: a relay
    // that accepts and drops at once is not hammered.
    // The machine is told when the next attempt is, so a UI can say so.
    let mut retry =
        |config: &mut DriverConfig, connected_at: &mut Option<Instant>, machine: &mut M| {
            if connected_at
                .take()
                .is_some_and(|t| t.elapsed() >= STABLE_CONNECTION)
            {
                config.backoff.reset();
            }
            if !config.reconnect {
                return None;
            }
            let delay = config.backoff.next_delay(&mut rng);
            machine.reconnecting(config.backoff.attempts(), delay);
            Some(Instant::now() + delay)
        };
    loop {
        // Without a connection and without another attempt to come (no
        // reconnecting), the loop is over: the machine's last events
        // (`Disconnected`) go out, then the event channel closes.
        if ws.is_none() && next_attempt.is_none() {
            while let Some(event) = machine.event() {
                let _ = events.send(event);
            }
            return;
        }
        let now = Instant::now();
        if ws.is_none() && next_attempt.is_some_and(|t| t <= now) {
            match tokio::time::timeout(
                config.connect_timeout,
                ws::connect(&config.endpoint, &config.tls),
            )
            .await
            {
                Ok(Ok(stream)) => {
                    tracing::info!(%endpoint, "connected to relay");
                    ws = Some(stream);
                    next_attempt = None;
                    connected_at = Some(Instant::now());
                    machine.connect(Instant::now());
                }
                Ok(Err(e)) => {
                    if config.reconnect {
                        tracing::warn!(error = %e, "connection failed; retrying");
                    } else {
                        tracing::debug!(error = %e, "connection failed");
                    }
                    next_attempt = retry(&mut config, &mut connected_at, &mut machine);
                }
                Err(_) => {
                    tracing::warn!(%endpoint, "connection attempt timed out");
                    next_attempt = retry(&mut config, &mut connected_at, &mut machine);
                }
            }
        }
        // Send what the machine has for the relay.
        if let Some(stream) = ws.as_mut() {
            let mut failed = false;
            while let Some(frame) = machine.transmit() {
                if ws::send(stream, &frame).await.is_err() {
                    failed = true;
                    break;
                }
            }
            if failed {
                ws = None;
                machine.disconnect(Instant::now());
                next_attempt = retry(&mut config, &mut connected_at, &mut machine);
            }
        }
        let mut ended = false;
        while let Some(event) = machine.event() {
            ended |= M::is_final(&event);
            if events.send(event).is_err() {
                ended = true;
            }
        }
        if ended {
            if let Some(mut stream) = ws.take() {
                let _ = stream.close(None).await;
                // Wait (briefly) for the relay to close too: then it has
                // handled everything sent before, a `SessionEnded` among
                // them, even if it shuts down right after.
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while ws::recv(&mut stream).await.is_some() {}
                })
                .await;
            }
            return;
        }
        if machine.close() && ws.take().is_some() {
            // Nothing, not even a Pong, for the liveness timeout: the
            // connection is half-open or black-holed (SPEC.md 12.2).
            tracing::warn!(%endpoint, "the relay went silent; reconnecting");
            machine.disconnect(Instant::now());
            next_attempt = retry(&mut config, &mut connected_at, &mut machine);
            continue;
        }
        let deadline = [
            machine.next_timeout(),
            if ws.is_none() { next_attempt } else { None },
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            msg = recv_frame(&mut ws) => match msg {
                Some(bytes) => match Frame::parse(bytes, DEFAULT_MAX_FRAME_LEN) {
                    Ok(frame) => machine.frame(frame, Instant::now()),
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed frame from the relay; reconnecting");
                        ws = None;
                        machine.disconnect(Instant::now());
                        next_attempt = retry(&mut config, &mut connected_at, &mut machine);
                    }
                },
                None => {
                    tracing::info!(%endpoint, "connection to the relay closed");
                    ws = None;
                    machine.disconnect(Instant::now());
                    next_attempt = retry(&mut config, &mut connected_at, &mut machine);
                }
            },
            cmd = commands.recv() => match cmd {
                Some(Control::Run(f)) => f(&mut machine, Instant::now()),
                Some(Control::Drop) => {
                    if ws.take().is_some() {
                        machine.disconnect(Instant::now());
                        next_attempt = retry(&mut config, &mut connected_at, &mut machine);
                    }
                }
                None => return,
            },
            _ = sleep_until(deadline) => machine.timeout(Instant::now()),
        }
    }
}
