//! The relay machine (SPEC.md section 6): admits peers against the
//! session's verifiers, routes frames and enforces every access rule,
//! without ever holding a key.
//!
//! It is Sans-IO: a driver reports connections, frames, disconnects and
//! time, and drains [`Transmit`]s, timeouts and [`Event`]s.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};
//! use taiku_proto::{Frame, message::{Ping, control::Body}};
//! use rand_core::SeedableRng;
//!
//! /// One turn of a driver: `now` comes from the driver's clock.
//! fn turn(relay: &mut Relay<chacha20::ChaCha20Rng>, now: Instant) {
//!     let conn = ConnId(1);
//!     relay.handle_connect(conn, now);
//!     let ping = Frame::control(Body::Ping(Ping { nonce: 9 }));
//!     relay.handle_frame(conn, ping, now);
//!     // Send what the relay wants sent, then sleep until its timeout.
//!     while let Some(transmit) = relay.poll_transmit() {
//!         match transmit {
//!             Transmit::Send { conn, frame } => { /* write `frame` to `conn` */ let _ = (conn, frame); }
//!             Transmit::Close { conn } => { /* close `conn` */ let _ = conn; }
//!         }
//!     }
//!     assert!(relay.poll_timeout().is_some_and(|t| t <= now + Duration::from_secs(10)));
//! }
//!
//! let mut relay = Relay::new(RelayConfig::default(), chacha20::ChaCha20Rng::from_seed([0; 32]));
//! // Only the driver reads the clock; the machine never does.
//! turn(&mut relay, Instant::now());
//! ```

mod admission;
mod config;
mod conn;
mod control;
mod event;
mod forward;
mod outbound;
mod replay;
mod resync;
mod ring;
mod routing;
mod session;
mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_crypto::Verifiers;
use taiku_proto::message::{self as m, EndReason, ErrorCode, control::Body};
use taiku_proto::{ActionCode, Frame, ParticipantId, Role, SessionId, TerminalId};

pub use config::{ConfigError, RelayConfig};
pub use event::{Event, EvictReason};
pub use forward::TunnelRefusal;
pub use outbound::Transmit;
pub use replay::REPLAY_BATCH;

use crate::access::{self, Refusal};
use conn::{Conn, ConnState};
use outbound::Outbound;
use session::Session;
use timers::Timer;

/// A connection, named by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Where a connection comes from, as the transport groups it (an IPv4
/// address, an IPv6 /64, as 16 bytes), for per-source limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(pub [u8; 16]);

/// The identity claim is longer than [`RelayConfig::max_identity_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("identity claim too long")]
pub struct IdentityTooLong;

/// The relay state machine.
pub struct Relay<R> {
    config: RelayConfig,
    rng: R,
    conns: HashMap<ConnId, Conn>,
    sessions: HashMap<SessionId, Session>,
    out: Outbound,
    events: VecDeque<Event>,
    events_dropped: u64,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    evictions: Vec<(ConnId, EvictReason)>,
    /// Live sessions per creating source.
    created_by: HashMap<Source, usize>,
    /// Replays in progress, per connection (see `replay`).
    replays: HashMap<ConnId, replay::Cursors>,
    /// HTTP tunnel credentials by the SHA-256 of their token.
    credentials: HashMap<[u8; 32], forward::Credential>,
    decoy: Verifiers,
}

impl<R> core::fmt::Debug for Relay<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Relay")
            .field("connections", &self.conns.len())
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Relay<R> {
    /// A relay with `config`, drawing challenges from `rng`.
    pub fn new(config: RelayConfig, mut rng: R) -> Self {
        // Verifiers of no session, checked when a join names an unknown
        // session so that it costs what a real check costs.
        let decoy_session =
            SessionId::new("decoy-session").unwrap_or_else(|_| unreachable!("valid id"));
        let decoy_secret = taiku_crypto::LinkSecret::generate_admin(&mut rng);
        let decoy = taiku_crypto::KeySchedule::new(&decoy_secret, &decoy_session)
            .verifiers()
            .unwrap_or_else(|_| unreachable!("an admin schedule has verifiers"));
        Relay {
            config,
            rng,
            conns: HashMap::new(),
            sessions: HashMap::new(),
            out: Outbound::default(),
            events: VecDeque::new(),
            events_dropped: 0,
            timers: BinaryHeap::new(),
            evictions: Vec::new(),
            replays: HashMap::new(),
            created_by: HashMap::new(),
            credentials: HashMap::new(),
            decoy,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Events dropped because nobody drained them in time.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// Sessions currently held.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Connections currently tracked.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether `conn` has been admitted (as the host or a participant).
    pub fn is_admitted(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| {
            matches!(
                c.state,
                ConnState::Host { .. } | ConnState::Participant { .. }
            )
        })
    }

    /// Frames and bytes queued towards `conn`.
    pub fn queued(&self, conn: ConnId) -> (usize, usize) {
        self.out.queued(conn)
    }

    /// Bytes held in the replay ring of a terminal, if it exists.
    pub fn ring_bytes(&self, session: &SessionId, terminal: TerminalId) -> Option<usize> {
        self.sessions
            .get(session)?
            .terminals
            .get(&terminal)
            .map(|t| t.ring.bytes())
    }

    /// The owner and controller of a terminal, as the relay enforces them.
    pub fn terminal_control(
        &self,
        session: &SessionId,
        terminal: TerminalId,
    ) -> Option<access::Control> {
        self.sessions
            .get(session)?
            .terminals
            .get(&terminal)
            .map(|t| t.control)
    }

    /// The participants of a session and their roles, host excluded.
    pub fn participants(&self, session: &SessionId) -> Vec<(ParticipantId, Role)> {
        self.sessions
            .get(session)
            .map(|s| s.members.iter().map(|(id, m)| (*id, m.role)).collect())
            .unwrap_or_default()
    }

    // ---- input ---------------------------------------------------------

    /// A transport connection opened.
    pub fn handle_connect(&mut self, conn: ConnId, now: Instant) {
        if self.conns.contains_key(&conn) {
            return;
        }
        self.out.open(conn);
        // A full relay makes room by closing the oldest connection still
        // proving its role: otherwise connections that never prove one
        // could keep out hosts resuming and viewers joining until their
        // handshake timeout, over and over.
        if self.open_conns() >= self.config.max_connections
            && let Some(oldest) = self.oldest_unadmitted()
        {
            self.evict(oldest, EvictReason::RelayFull);
            self.settle(now);
        }
        if self.open_conns() >= self.config.max_connections {
            self.emit(Event::Evicted {
                conn,
                reason: EvictReason::RelayFull,
            });
            // Say why before closing, so a client can tell a full relay
            // from a network failure.
            let (frames, bytes) = (self.config.max_queue_frames, self.config.max_queue_bytes);
            let full = Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Refused(
                    m::RefusalReason::RelayFull as i32,
                )),
            }));
            let _ = self.out.push(conn, full, frames, bytes);
            self.out.close(conn, false);
            return;
        }
        self.conns.insert(conn, Conn::new(now));
        self.arm(now + self.config.handshake_timeout, Timer::Handshake(conn));
    }

    /// Connections counted against `max_connections`: all but those
    /// closed and not yet handed to the driver.
    fn open_conns(&self) -> usize {
        if self.conns.len() < self.config.max_connections {
            return self.conns.len();
        }
        self.conns
            .values()
            .filter(|c| !matches!(c.state, ConnState::Closed))
            .count()
    }

    /// The connection that has waited longest without being admitted.
    fn oldest_unadmitted(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| matches!(c.state, ConnState::Fresh | ConnState::Challenged { .. }))
            .min_by_key(|(id, c)| (c.connected_at, **id))
            .map(|(id, _)| *id)
    }

    /// The transport tells where `conn` comes from; sessions it creates
    /// count against that source's `max_sessions_per_source`.
    pub fn attach_source(&mut self, conn: ConnId, source: Source) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.source = Some(source);
        }
    }

    /// The identity the transport attached to `conn`
    /// ([`attach_identity`](Self::attach_identity)), for allow-lists and
    /// audit logs; `None` if none was attached or the connection is gone.
    pub fn identity(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn)?.identity.as_deref()
    }

    /// The transport vouches for who is on `conn` (viewer sign-in). Must
    /// come before the join proof to count.
    pub fn attach_identity(&mut self, conn: ConnId, identity: &str) -> Result<(), IdentityTooLong> {
        if identity.len() > self.config.max_identity_bytes {
            return Err(IdentityTooLong);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identity = Some(identity.to_owned());
        }
        Ok(())
    }

    /// One message arrived (a WebSocket message, or one frame cut from a
    /// byte stream): it must hold exactly one frame. A message that does
    /// not decode closes the connection.
    pub fn handle_message(&mut self, conn: ConnId, message: Bytes, now: Instant) {
        match Frame::parse(message, self.config.max_frame_len) {
            Ok(frame) => self.handle_frame(conn, frame, now),
            Err(e) => {
                if self.conns.contains_key(&conn) {
                    let code = match e {
                        taiku_proto::DecodeError::UnknownVersion(_) => {
                            ErrorCode::UnsupportedVersion
                        }
                        _ => ErrorCode::MalformedFrame,
                    };
                    self.send(
                        conn,
                        Frame::control(Body::Error(m::Error { code: code as i32 })),
                    );
                    self.evict(conn, EvictReason::Malformed);
                    self.settle(now);
                }
            }
        }
    }

    /// A decoded frame arrived on `conn`.
    pub fn handle_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_rx = now;
        match &c.state {
            ConnState::Closed => {}
            ConnState::Fresh | ConnState::Challenged { .. } => {
                self.admission_frame(conn, frame, now)
            }
            ConnState::Host { session } => {
                let session = session.clone();
                self.host_frame(conn, &session, frame, now);
            }
            ConnState::Participant { session, id } => {
                let (session, id) = (session.clone(), *id);
                self.participant_frame(conn, &session, id, frame, now);
            }
            ConnState::Tunnel { session, id } => {
                let (session, id) = (session.clone(), *id);
                self.tunnel_frame(conn, &session, id, frame);
            }
        }
        self.settle(now);
    }

    /// The transport connection closed (or failed).
    pub fn handle_disconnect(&mut self, conn: ConnId, now: Instant) {
        self.drop_conn(conn, now);
        self.conns.remove(&conn);
        self.out.forget(conn);
        self.settle(now);
    }

    /// The driver cannot write to `conn` for now (its socket buffer is
    /// full): the relay stops handing out its frames, and its queue grows
    /// up to the configured bounds.
    pub fn handle_blocked(&mut self, conn: ConnId) {
        self.out.set_blocked(conn, true);
    }

    /// `conn` is writable again.
    pub fn handle_unblocked(&mut self, conn: ConnId) {
        self.out.set_blocked(conn, false);
    }

    /// Time passed: fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, timer))) = self.timers.pop() else {
                break;
            };
            self.fire(timer, now);
        }
        self.settle(now);
    }

    /// The relay is going down: every session ends with
    /// `SessionEnded{RELAY_SHUTDOWN}` and every connection is closed once
    /// its queue is drained.
    pub fn shutdown(&mut self, now: Instant) {
        let sessions: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for session in sessions {
            self.end_session(&session, EndReason::RelayShutdown);
        }
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.evict(conn, EvictReason::SessionEnded);
        }
        self.settle(now);
    }

    // ---- output --------------------------------------------------------

    /// The next frame to send or connection to close.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        // Replays stream as queues drain.
        if !self.replays.is_empty() {
            self.advance_replays();
        }
        let t = self.out.poll()?;
        if let Transmit::Close { conn } = &t {
            // The driver closes it now; nothing more is tracked for it.
            self.conns.remove(conn);
        }
        Some(t)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The next observability event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- internals: plumbing --------------------------------------------

    fn emit(&mut self, event: Event) {
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
    }

    fn arm(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    fn send(&mut self, conn: ConnId, frame: Frame) {
        self.send_queued(conn, frame);
    }

    /// Send, and say how much is then queued for `conn` (frames, bytes);
    /// `None` if it overflowed.
    fn send_queued(&mut self, conn: ConnId, frame: Frame) -> Option<(usize, usize)> {
        let (max_frames, max_bytes) = (self.config.max_queue_frames, self.config.max_queue_bytes);
        match self.out.push(conn, frame, max_frames, max_bytes) {
            Ok(queued) => Some(queued),
            Err(_) => {
                self.evictions.push((conn, EvictReason::TooSlow));
                None
            }
        }
    }

    /// Send to the host (if online) and every participant.
    fn broadcast(&mut self, session: &SessionId, frame: &Frame) {
        let targets = self.session_conns(session, true);
        for conn in targets {
            self.send(conn, frame.clone());
        }
    }

    /// Send to every participant, not the host.
    fn send_to_participants(&mut self, session: &SessionId, frame: &Frame) {
        let targets = self.session_conns(session, false);
        for conn in targets {
            self.send(conn, frame.clone());
        }
    }

    fn session_conns(&self, session: &SessionId, with_host: bool) -> Vec<ConnId> {
        let Some(s) = self.sessions.get(session) else {
            return Vec::new();
        };
        let host = if with_host { s.host_conn() } else { None };
        host.into_iter()
            .chain(s.members.values().map(|m| m.conn))
            .collect()
    }

    /// Close a connection after the frames already queued.
    fn evict(&mut self, conn: ConnId, reason: EvictReason) {
        self.evictions.push((conn, reason));
    }

    /// Apply queued evictions until none are left (an eviction can cause
    /// broadcasts that overflow other queues).
    fn settle(&mut self, now: Instant) {
        while let Some((conn, reason)) = self.evictions.pop() {
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if matches!(c.state, ConnState::Closed) {
                continue;
            }
            let discard = reason == EvictReason::TooSlow;
            if discard {
                self.out.close(conn, true);
            }
            self.drop_conn(conn, now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Closed;
            }
            if !discard {
                self.out.close(conn, false);
            }
            self.emit(Event::Evicted { conn, reason });
        }
    }

    /// Take a connection out of its session (it stays tracked until its
    /// Close is polled or the driver reports the disconnect).
    fn drop_conn(&mut self, conn: ConnId, now: Instant) {
        self.replays.remove(&conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = core::mem::replace(&mut c.state, ConnState::Closed);
        match state {
            ConnState::Host { session } => self.host_left(&session, conn, now),
            ConnState::Participant { session, id } => self.participant_left(&session, id),
            ConnState::Tunnel { session, id } => self.tunnel_gone(&session, id),
            _ => {}
        }
    }

    fn violation(&mut self, conn: ConnId) {
        self.send(
            conn,
            Frame::control(Body::Error(m::Error {
                code: ErrorCode::UnexpectedMessage as i32,
            })),
        );
        self.evict(conn, EvictReason::ProtocolViolation);
    }

    fn refuse(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        who: ParticipantId,
        action: ActionCode,
        terminal: TerminalId,
        reason: Refusal,
    ) {
        self.send(
            conn,
            Frame::control(Body::Refused(m::Refused {
                action: action.to_wire(),
                terminal_id: terminal.0,
                reason: reason.to_proto() as i32,
            })),
        );
        self.emit(Event::ActionRefused {
            session: session.clone(),
            participant: who,
            action,
            reason,
        });
    }

    fn pong(&mut self, conn: ConnId, ping: m::Ping) {
        self.send(
            conn,
            Frame::control(Body::Pong(m::Pong { nonce: ping.nonce })),
        );
    }
}
