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

mod config;
mod event;
mod outbound;
mod ring;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_crypto::{Challenge, Proof, Verifiers};
use taiku_proto::limits::{MAX_LABEL_BYTES, MAX_NAME_BYTES};
use taiku_proto::message::{
    self as m, ActionRefusal, ControlReason, EndReason, ErrorCode, RefusalReason, control::Body,
};
use taiku_proto::{Direction, Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId};

pub use config::RelayConfig;
pub use event::{Event, EvictReason};
pub use outbound::Transmit;

use crate::access::{self, Action, Refusal};
use outbound::Outbound;
use ring::Ring;

/// A connection, named by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// The identity claim is longer than [`RelayConfig::max_identity_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("identity claim too long")]
pub struct IdentityTooLong;

/// `Refused.action` of a refused sealed frame: 0x100 + direction
/// (SPEC.md section 8).
pub fn sealed_action(direction: Direction) -> u32 {
    0x100 + u32::from(direction.to_byte())
}

/// `Refused.action` of a control message: its `Control` field number.
fn control_action(body: &Body) -> u32 {
    match body {
        Body::SessionCreate(_) => 1,
        Body::SessionResume(_) => 2,
        Body::JoinRequest(_) => 3,
        Body::Challenge(_) => 4,
        Body::JoinProof(_) => 5,
        Body::JoinResult(_) => 6,
        Body::HostStatus(_) => 7,
        Body::SessionEnded(_) => 8,
        Body::ResumeState(_) => 9,
        Body::Presence(_) => 10,
        Body::Focus(_) => 11,
        Body::Chat(_) => 12,
        Body::Layout(_) => 13,
        Body::TerminalCreate(_) => 20,
        Body::TerminalOpened(_) => 21,
        Body::TerminalClose(_) => 22,
        Body::TerminalClosed(_) => 23,
        Body::TerminalResize(_) => 24,
        Body::AdoptionRequest(_) => 30,
        Body::AdoptionAnswer(_) => 31,
        Body::ControlGrant(_) => 32,
        Body::ControlRevoke(_) => 33,
        Body::TakeOver(_) => 34,
        Body::ControlChanged(_) => 35,
        Body::FocusLock(_) => 36,
        Body::HistoryRequest(_) => 40,
        Body::SnapshotRequest(_) => 41,
        Body::ReplayStart(_) => 42,
        Body::TunnelAdmin(_) => 45,
        Body::Ping(_) => 50,
        Body::Pong(_) => 51,
        Body::Refused(_) => 52,
        Body::Error(_) => 53,
    }
}

fn refusal_reason(r: Refusal) -> ActionRefusal {
    r.to_proto()
}

fn valid_profile(profile: &Option<m::Profile>) -> bool {
    profile
        .as_ref()
        .is_none_or(|p| p.name.len() <= MAX_NAME_BYTES && p.device_label.len() <= MAX_LABEL_BYTES)
}

/// What a connection asked for before proving a role.
#[derive(Debug)]
enum Intent {
    Create {
        session: SessionId,
        verifiers: Box<Verifiers>,
        options: m::SessionOptions,
        profile: m::Profile,
    },
    Resume {
        session: SessionId,
        profile: m::Profile,
    },
    Join {
        session: SessionId,
        profile: m::Profile,
    },
}

#[derive(Debug)]
enum ConnState {
    Fresh,
    Challenged {
        challenge: Challenge,
        intent: Box<Intent>,
    },
    Host {
        session: SessionId,
    },
    Participant {
        session: SessionId,
        id: ParticipantId,
    },
    Closed,
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    connected_at: Instant,
    last_rx: Instant,
    identity: Option<String>,
    auth_failures: u32,
    retry_after: Option<Instant>,
}

#[derive(Debug)]
struct Member {
    conn: ConnId,
    role: Role,
    profile: m::Profile,
    chat_tokens: u32,
    chat_refilled: Instant,
}

#[derive(Debug)]
enum HostSeat {
    Online(ConnId),
    Away { deadline: Instant },
}

#[derive(Debug)]
struct Terminal {
    control: access::Control,
    rows: u32,
    cols: u32,
    label: String,
    ring: Ring,
    last_status: Option<SealedFrame>,
    adoptions: BTreeMap<ParticipantId, Instant>,
    lock: Option<(ParticipantId, Instant)>,
}

#[derive(Debug)]
struct Session {
    verifiers: Verifiers,
    options: m::SessionOptions,
    host: HostSeat,
    host_profile: m::Profile,
    members: BTreeMap<ParticipantId, Member>,
    next_id: u32,
    terminals: BTreeMap<TerminalId, Terminal>,
    chat: VecDeque<m::Chat>,
    chat_seq: u64,
}

impl Session {
    fn host_conn(&self) -> Option<ConnId> {
        match self.host {
            HostSeat::Online(conn) => Some(conn),
            HostSeat::Away { .. } => None,
        }
    }

    /// The connection of a participant id (0 = host).
    fn conn_of(&self, id: ParticipantId) -> Option<ConnId> {
        if id == ParticipantId::HOST {
            self.host_conn()
        } else {
            self.members.get(&id).map(|m| m.conn)
        }
    }

    fn role_of(&self, id: ParticipantId) -> Option<Role> {
        if id == ParticipantId::HOST {
            Some(Role::Admin)
        } else {
            self.members.get(&id).map(|m| m.role)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Handshake(ConnId),
    Idle(ConnId),
    HostGrace(SessionId),
    Adoption(SessionId, TerminalId, ParticipantId),
    FocusLock(SessionId, TerminalId),
}

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

/// The outcome of an admission attempt.
enum Admission {
    Accepted,
    Refused(RefusalReason),
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
        if self.conns.len() >= self.config.max_connections {
            self.emit(Event::Evicted {
                conn,
                reason: EvictReason::RelayFull,
            });
            self.out.close(conn, true);
            return;
        }
        self.conns.insert(
            conn,
            Conn {
                state: ConnState::Fresh,
                connected_at: now,
                last_rx: now,
                identity: None,
                auth_failures: 0,
                retry_after: None,
            },
        );
        self.arm(now + self.config.handshake_timeout, Timer::Handshake(conn));
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

    /// One WebSocket message arrived: it must hold exactly one frame. A
    /// message that does not decode closes the connection.
    pub fn handle_message(&mut self, conn: ConnId, message: Bytes, now: Instant) {
        match Frame::parse(message, self.config.max_frame_len) {
            Ok(frame) => self.handle_frame(conn, frame, now),
            Err(_) => {
                if self.conns.contains_key(&conn) {
                    self.send(
                        conn,
                        Frame::control(Body::Error(m::Error {
                            code: ErrorCode::MalformedFrame as i32,
                        })),
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
        let (max_frames, max_bytes) = (self.config.max_queue_frames, self.config.max_queue_bytes);
        if self.out.push(conn, frame, max_frames, max_bytes).is_err() {
            self.evictions.push((conn, EvictReason::TooSlow));
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
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let state = core::mem::replace(&mut c.state, ConnState::Closed);
        match state {
            ConnState::Host { session } => self.host_left(&session, conn, now),
            ConnState::Participant { session, id } => self.participant_left(&session, id),
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
        action: u32,
        terminal: TerminalId,
        reason: ActionRefusal,
    ) {
        self.send(
            conn,
            Frame::control(Body::Refused(m::Refused {
                action,
                terminal_id: terminal.0,
                reason: reason as i32,
            })),
        );
        self.emit(Event::ActionRefused {
            session: session.clone(),
            participant: who,
            action,
            reason,
        });
    }

    // ---- admission ------------------------------------------------------

    fn admission_frame(&mut self, conn: ConnId, frame: Frame, now: Instant) {
        let Frame::Control(m::Control { body: Some(body) }) = frame else {
            self.violation(conn);
            return;
        };
        match body {
            Body::Ping(p) => {
                self.send(conn, Frame::control(Body::Pong(m::Pong { nonce: p.nonce })))
            }
            Body::Pong(_) => {}
            Body::SessionCreate(req) => {
                let intent = (|| {
                    let v = req.verifiers.as_ref()?;
                    Some(Intent::Create {
                        session: SessionId::new(&req.session_id).ok()?,
                        verifiers: Box::new(
                            Verifiers::from_bytes(&v.reader, &v.writer, &v.admin).ok()?,
                        ),
                        options: req.options.unwrap_or_default(),
                        profile: req
                            .profile
                            .clone()
                            .filter(|_| valid_profile(&req.profile))
                            .unwrap_or_default(),
                    })
                    .filter(|_| valid_profile(&req.profile))
                })();
                self.challenge(conn, intent, now);
            }
            Body::SessionResume(req) => {
                let intent = SessionId::new(&req.session_id)
                    .ok()
                    .filter(|_| valid_profile(&req.profile))
                    .map(|session| Intent::Resume {
                        session,
                        profile: req.profile.unwrap_or_default(),
                    });
                self.challenge(conn, intent, now);
            }
            Body::JoinRequest(req) => {
                let intent = SessionId::new(&req.session_id)
                    .ok()
                    .filter(|_| valid_profile(&req.profile))
                    .map(|session| Intent::Join {
                        session,
                        profile: req.profile.unwrap_or_default(),
                    });
                self.challenge(conn, intent, now);
            }
            Body::JoinProof(proof) => self.proof(conn, proof, now),
            _ => self.violation(conn),
        }
    }

    fn challenge(&mut self, conn: ConnId, intent: Option<Intent>, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.retry_after.is_some_and(|t| now < t) {
            self.admission_failed(conn, RefusalReason::RateLimited, now);
            return;
        }
        let Some(intent) = intent else {
            self.admission_failed(conn, RefusalReason::InvalidRequest, now);
            return;
        };
        let challenge = Challenge::random(&mut self.rng);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Challenged {
                challenge,
                intent: Box::new(intent),
            };
        }
        self.send(
            conn,
            Frame::control(Body::Challenge(m::Challenge {
                nonce: Bytes::copy_from_slice(challenge.as_bytes()),
            })),
        );
    }

    fn admission_failed(&mut self, conn: ConnId, reason: RefusalReason, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.state = ConnState::Fresh;
        c.auth_failures = c.auth_failures.saturating_add(1);
        let factor = 1u32 << (c.auth_failures - 1).min(16);
        c.retry_after = Some(now + self.config.auth_retry_delay.saturating_mul(factor));
        let exhausted = c.auth_failures >= self.config.max_auth_failures;
        let reason = if exhausted {
            RefusalReason::RateLimited
        } else {
            reason
        };
        self.send(
            conn,
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Refused(reason as i32)),
            })),
        );
        self.emit(Event::Denied { conn, reason });
        if exhausted {
            self.evict(conn, EvictReason::RateLimited);
        }
    }

    fn proof(&mut self, conn: ConnId, proof: m::JoinProof, now: Instant) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let ConnState::Challenged { challenge, intent } =
            core::mem::replace(&mut c.state, ConnState::Fresh)
        else {
            self.violation(conn);
            return;
        };
        let has_identity = c.identity.is_some();
        let proof = Proof::from_wire(proof.role, &proof.signature);
        let outcome = match *intent {
            Intent::Create {
                session,
                verifiers,
                options,
                profile,
            } => self.admit_create(
                conn,
                session,
                *verifiers,
                options,
                profile,
                &challenge,
                proof.ok(),
                now,
            ),
            Intent::Resume { session, profile } => {
                self.admit_resume(conn, session, profile, &challenge, proof.ok(), now)
            }
            Intent::Join { session, profile } => self.admit_join(
                conn,
                session,
                profile,
                &challenge,
                proof.ok(),
                has_identity,
                now,
            ),
        };
        if let Admission::Refused(reason) = outcome {
            self.admission_failed(conn, reason, now);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn admit_create(
        &mut self,
        conn: ConnId,
        session: SessionId,
        verifiers: Verifiers,
        options: m::SessionOptions,
        profile: m::Profile,
        challenge: &Challenge,
        proof: Option<Proof>,
        now: Instant,
    ) -> Admission {
        let proven = proof.and_then(|p| verifiers.check(&session, challenge, &p).ok());
        if proven != Some(Role::Admin) {
            return Admission::Refused(RefusalReason::Denied);
        }
        if self.sessions.contains_key(&session) {
            return Admission::Refused(RefusalReason::SessionExists);
        }
        if self.sessions.len() >= self.config.max_sessions {
            return Admission::Refused(RefusalReason::RelayFull);
        }
        self.sessions.insert(
            session.clone(),
            Session {
                verifiers,
                options,
                host: HostSeat::Online(conn),
                host_profile: profile,
                members: BTreeMap::new(),
                next_id: 1,
                terminals: BTreeMap::new(),
                chat: VecDeque::new(),
                chat_seq: 0,
            },
        );
        self.become_host(conn, &session, options, now);
        self.emit(Event::SessionCreated {
            session: session.clone(),
        });
        self.emit(Event::Joined {
            session,
            participant: ParticipantId::HOST,
            role: Role::Admin,
        });
        Admission::Accepted
    }

    fn become_host(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        options: m::SessionOptions,
        now: Instant,
    ) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Host {
                session: session.clone(),
            };
            c.auth_failures = 0;
            c.retry_after = None;
        }
        self.arm(now + self.config.idle_timeout, Timer::Idle(conn));
        self.send(
            conn,
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Accepted(m::Accepted {
                    participant_id: ParticipantId::HOST.0,
                    role: Role::Admin.to_proto(),
                    options: Some(options),
                    host_online: true,
                })),
            })),
        );
    }

    fn admit_resume(
        &mut self,
        conn: ConnId,
        session: SessionId,
        profile: m::Profile,
        challenge: &Challenge,
        proof: Option<Proof>,
        now: Instant,
    ) -> Admission {
        let proven = match (self.sessions.get(&session), proof) {
            (Some(s), Some(p)) => s.verifiers.check(&session, challenge, &p).ok(),
            (None, Some(p)) => {
                let _ = self.decoy.check(&session, challenge, &p);
                None
            }
            _ => None,
        };
        if proven != Some(Role::Admin) {
            return Admission::Refused(RefusalReason::Denied);
        }
        let Some(s) = self.sessions.get_mut(&session) else {
            return Admission::Refused(RefusalReason::Denied);
        };
        let previous = s.host_conn();
        s.host = HostSeat::Online(conn);
        s.host_profile = profile;
        let options = s.options;
        if let Some(old) = previous {
            // A host whose old connection is not yet known dead takes its
            // seat back; the old connection is closed.
            if let Some(c) = self.conns.get_mut(&old) {
                c.state = ConnState::Closed;
            }
            self.send(
                old,
                Frame::control(Body::SessionEnded(m::SessionEnded {
                    reason: EndReason::Evicted as i32,
                })),
            );
            self.out.close(old, false);
            self.emit(Event::Evicted {
                conn: old,
                reason: EvictReason::Replaced,
            });
        }
        self.become_host(conn, &session, options, now);
        self.send_resume_state(conn, &session);
        self.send_to_participants(
            &session,
            &Frame::control(Body::HostStatus(m::HostStatus {
                online: true,
                grace_remaining_ms: 0,
            })),
        );
        self.emit(Event::HostResumed {
            session: session.clone(),
        });
        self.emit(Event::Joined {
            session,
            participant: ParticipantId::HOST,
            role: Role::Admin,
        });
        Admission::Accepted
    }

    fn send_resume_state(&mut self, conn: ConnId, session: &SessionId) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let terminals = s
            .terminals
            .iter()
            .map(|(id, t)| {
                let last = t.ring.last();
                m::TerminalState {
                    terminal_id: id.0,
                    owner: t.control.owner.0,
                    controller: t.control.controller.0,
                    rows: t.rows,
                    cols: t.cols,
                    label: t.label.clone(),
                    last_epoch: last.map_or_else(Bytes::new, |(e, _)| Bytes::copy_from_slice(&e.0)),
                    last_seq: last.map_or(0, |(_, s)| s.0),
                    has_output: last.is_some(),
                }
            })
            .collect();
        let presence: Vec<Frame> = s
            .members
            .iter()
            .map(|(id, mem)| presence(*id, mem, m::presence::State::Joined))
            .collect();
        self.send(
            conn,
            Frame::control(Body::ResumeState(m::ResumeState { terminals })),
        );
        for p in presence {
            self.send(conn, p);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn admit_join(
        &mut self,
        conn: ConnId,
        session: SessionId,
        profile: m::Profile,
        challenge: &Challenge,
        proof: Option<Proof>,
        has_identity: bool,
        now: Instant,
    ) -> Admission {
        let Some(s) = self.sessions.get(&session) else {
            if let Some(p) = proof {
                let _ = self.decoy.check(&session, challenge, &p);
            }
            return Admission::Refused(RefusalReason::Denied);
        };
        let Some(role) = proof.and_then(|p| s.verifiers.check(&session, challenge, &p).ok()) else {
            return Admission::Refused(RefusalReason::Denied);
        };
        if role == Role::Reader && !s.options.readers_enabled {
            return Admission::Refused(RefusalReason::Denied);
        }
        if s.options.viewer_sign_in_required && !has_identity {
            return Admission::Refused(RefusalReason::SignInRequired);
        }
        if s.members.len() >= self.config.max_participants {
            return Admission::Refused(RefusalReason::SessionFull);
        }
        let Some(s) = self.sessions.get_mut(&session) else {
            return Admission::Refused(RefusalReason::Denied);
        };
        let id = ParticipantId(s.next_id);
        s.next_id = s.next_id.saturating_add(1);
        let member = Member {
            conn,
            role,
            profile,
            chat_tokens: self.config.chat_burst,
            chat_refilled: now,
        };
        let joined = presence(id, &member, m::presence::State::Joined);
        s.members.insert(id, member);
        let options = s.options;
        let host_online = s.host_conn().is_some();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Participant {
                session: session.clone(),
                id,
            };
            c.auth_failures = 0;
            c.retry_after = None;
        }
        self.arm(now + self.config.idle_timeout, Timer::Idle(conn));
        self.send(
            conn,
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Accepted(m::Accepted {
                    participant_id: id.0,
                    role: role.to_proto(),
                    options: Some(options),
                    host_online,
                })),
            })),
        );
        self.send_session_state(conn, &session, id, now);
        // Everyone else learns about the joiner.
        let others: Vec<ConnId> = self
            .session_conns(&session, true)
            .into_iter()
            .filter(|c| *c != conn)
            .collect();
        for other in others {
            self.send(other, joined.clone());
        }
        self.emit(Event::Joined {
            session,
            participant: id,
            role,
        });
        Admission::Accepted
    }

    /// Everything a joiner needs: who is here, the host's state, the
    /// terminals and their control, chat history, then each terminal's
    /// replay and latest status.
    fn send_session_state(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        joiner: ParticipantId,
        now: Instant,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let mut frames = Vec::new();
        frames.push(Frame::control(Body::Presence(m::Presence {
            participant_id: ParticipantId::HOST.0,
            profile: Some(s.host_profile.clone()),
            role: Role::Admin.to_proto(),
            state: m::presence::State::Joined as i32,
        })));
        for (id, mem) in &s.members {
            if *id != joiner {
                frames.push(presence(*id, mem, m::presence::State::Joined));
            }
        }
        if let HostSeat::Away { deadline } = s.host {
            frames.push(Frame::control(Body::HostStatus(m::HostStatus {
                online: false,
                grace_remaining_ms: millis(deadline.saturating_duration_since(now)),
            })));
        }
        for (id, t) in &s.terminals {
            frames.push(opened(*id, t));
            if t.control.controller != t.control.owner {
                frames.push(control_changed(
                    *id,
                    t,
                    ControlReason::Granted,
                    ParticipantId::HOST,
                ));
            }
        }
        for chat in &s.chat {
            frames.push(Frame::control(Body::Chat(chat.clone())));
        }
        let ids: Vec<TerminalId> = s.terminals.keys().copied().collect();
        for frame in frames {
            self.send(conn, frame);
        }
        for id in ids {
            self.replay(conn, session, id, joiner);
        }
    }

    /// Replay one terminal's ring to `conn`: ReplayStart, the frames, the
    /// latest status; ask the host for a snapshot if the ring lost frames.
    fn replay(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        terminal: TerminalId,
        requester: ParticipantId,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let Some(t) = s.terminals.get(&terminal) else {
            return;
        };
        let complete = t.ring.complete();
        let mut frames = vec![Frame::control(Body::ReplayStart(m::ReplayStart {
            terminal_id: terminal.0,
            runs: t.ring.runs(),
            complete,
        }))];
        frames.extend(t.ring.frames().map(|f| Frame::Sealed(f.clone())));
        if let Some(status) = &t.last_status {
            frames.push(Frame::Sealed(status.clone()));
        }
        let host = s.host_conn();
        for frame in frames {
            self.send(conn, frame);
        }
        if let (false, Some(host)) = (complete, host) {
            self.send(
                host,
                Frame::control(Body::SnapshotRequest(m::SnapshotRequest {
                    terminal_id: terminal.0,
                    requester: requester.0,
                })),
            );
        }
    }

    // ---- leaving --------------------------------------------------------

    fn host_left(&mut self, session: &SessionId, conn: ConnId, now: Instant) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if s.host_conn() != Some(conn) {
            return;
        }
        let deadline = now + self.config.host_grace;
        s.host = HostSeat::Away { deadline };
        self.arm(deadline, Timer::HostGrace(session.clone()));
        self.send_to_participants(
            session,
            &Frame::control(Body::HostStatus(m::HostStatus {
                online: false,
                grace_remaining_ms: millis(self.config.host_grace),
            })),
        );
        self.emit(Event::HostAway {
            session: session.clone(),
        });
    }

    fn participant_left(&mut self, session: &SessionId, id: ParticipantId) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(member) = s.members.remove(&id) else {
            return;
        };
        let mut frames = Vec::new();
        for (tid, t) in s.terminals.iter_mut() {
            t.adoptions.remove(&id);
            let mut reason = None;
            if t.control.owner == id {
                t.control.owner = ParticipantId::HOST;
                reason = Some(ControlReason::OwnerLeft);
            }
            if t.control.controller == id {
                t.control.controller = t.control.owner;
                reason = Some(reason.unwrap_or(ControlReason::ControllerLeft));
            }
            if let Some(reason) = reason {
                frames.push(control_changed(*tid, t, reason, ParticipantId::HOST));
            }
            if t.lock.is_some_and(|(holder, _)| holder == id) {
                t.lock = None;
                frames.push(focus_lock(*tid, ParticipantId::HOST, 0));
            }
        }
        frames.push(presence(id, &member, m::presence::State::Left));
        for frame in frames {
            self.broadcast(session, &frame);
        }
        self.emit(Event::Left {
            session: session.clone(),
            participant: id,
        });
    }

    fn end_session(&mut self, session: &SessionId, reason: EndReason) {
        let conns = self.session_conns(session, true);
        self.sessions.remove(session);
        for conn in conns {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Closed;
            }
            self.send(
                conn,
                Frame::control(Body::SessionEnded(m::SessionEnded {
                    reason: reason as i32,
                })),
            );
            self.out.close(conn, false);
            self.emit(Event::Evicted {
                conn,
                reason: EvictReason::SessionEnded,
            });
        }
        self.emit(Event::SessionEnded {
            session: session.clone(),
            reason,
        });
    }

    // ---- timers ---------------------------------------------------------

    fn fire(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Handshake(conn) => {
                if let Some(c) = self.conns.get(&conn)
                    && matches!(c.state, ConnState::Fresh | ConnState::Challenged { .. })
                    && c.connected_at + self.config.handshake_timeout <= now
                {
                    self.evict(conn, EvictReason::HandshakeTimeout);
                }
            }
            Timer::Idle(conn) => {
                if let Some(c) = self.conns.get(&conn)
                    && matches!(
                        c.state,
                        ConnState::Host { .. } | ConnState::Participant { .. }
                    )
                {
                    let due = c.last_rx + self.config.idle_timeout;
                    if due <= now {
                        self.evict(conn, EvictReason::Idle);
                    } else {
                        self.arm(due, Timer::Idle(conn));
                    }
                }
            }
            Timer::HostGrace(session) => {
                if let Some(s) = self.sessions.get(&session)
                    && let HostSeat::Away { deadline } = s.host
                    && deadline <= now
                {
                    self.end_session(&session, EndReason::HostGraceExpired);
                }
            }
            Timer::Adoption(session, terminal, requester) => {
                let Some(t) = self
                    .sessions
                    .get_mut(&session)
                    .and_then(|s| s.terminals.get_mut(&terminal))
                else {
                    return;
                };
                if t.adoptions.get(&requester).is_some_and(|due| *due <= now) {
                    t.adoptions.remove(&requester);
                    let frame =
                        control_changed(terminal, t, ControlReason::AdoptionExpired, requester);
                    self.broadcast(&session, &frame);
                }
            }
            Timer::FocusLock(session, terminal) => {
                let Some(t) = self
                    .sessions
                    .get_mut(&session)
                    .and_then(|s| s.terminals.get_mut(&terminal))
                else {
                    return;
                };
                match t.lock {
                    Some((_, until)) if until <= now => {
                        t.lock = None;
                        self.broadcast(&session, &focus_lock(terminal, ParticipantId::HOST, 0));
                    }
                    Some((_, until)) => self.arm(until, Timer::FocusLock(session, terminal)),
                    None => {}
                }
            }
        }
    }

    // ---- the host's frames ----------------------------------------------

    fn host_frame(&mut self, conn: ConnId, session: &SessionId, frame: Frame, now: Instant) {
        let host = ParticipantId::HOST;
        match frame {
            Frame::Sealed(sealed) => self.host_sealed(conn, session, sealed),
            Frame::Control(m::Control { body: None }) => {}
            Frame::Control(m::Control { body: Some(body) }) => match body {
                Body::TerminalOpened(msg) => self.terminal_opened(conn, session, msg),
                Body::TerminalClosed(msg) => {
                    let id = TerminalId(msg.terminal_id);
                    let removed = self
                        .sessions
                        .get_mut(session)
                        .and_then(|s| s.terminals.remove(&id));
                    if removed.is_some() {
                        self.send_to_participants(
                            session,
                            &Frame::control(Body::TerminalClosed(msg)),
                        );
                    } else {
                        self.refuse(conn, session, host, 23, id, ActionRefusal::UnknownTerminal);
                    }
                }
                Body::TerminalResize(msg) => {
                    let id = TerminalId(msg.terminal_id);
                    match self
                        .sessions
                        .get_mut(session)
                        .and_then(|s| s.terminals.get_mut(&id))
                    {
                        Some(t) => {
                            t.rows = msg.rows;
                            t.cols = msg.cols;
                            self.send_to_participants(
                                session,
                                &Frame::control(Body::TerminalResize(msg)),
                            );
                        }
                        None => {
                            self.refuse(conn, session, host, 24, id, ActionRefusal::UnknownTerminal)
                        }
                    }
                }
                Body::SessionEnded(_) => self.end_session(session, EndReason::HostEnded),
                Body::Ping(p) => {
                    self.send(conn, Frame::control(Body::Pong(m::Pong { nonce: p.nonce })))
                }
                Body::Pong(_) | Body::Error(_) => {}
                other @ (Body::Presence(_)
                | Body::Focus(_)
                | Body::Chat(_)
                | Body::Layout(_)
                | Body::AdoptionAnswer(_)
                | Body::ControlGrant(_)
                | Body::ControlRevoke(_)
                | Body::TakeOver(_)) => {
                    self.member_control(conn, session, host, Role::Admin, other, now)
                }
                _ => self.violation(conn),
            },
        }
    }

    fn terminal_opened(&mut self, conn: ConnId, session: &SessionId, msg: m::TerminalOpened) {
        let id = TerminalId(msg.terminal_id);
        let max = self.config.max_terminals;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let owner = ParticipantId(msg.owner);
        let reason =
            if id.0 == 0 || s.terminals.contains_key(&id) || msg.label.len() > MAX_LABEL_BYTES {
                Some(ActionRefusal::Invalid)
            } else if s.terminals.len() >= max {
                Some(ActionRefusal::LimitReached)
            } else if s.role_of(owner).is_none_or(|r| r < Role::Writer) {
                Some(ActionRefusal::UnknownParticipant)
            } else {
                None
            };
        if let Some(reason) = reason {
            self.refuse(conn, session, ParticipantId::HOST, 21, id, reason);
            return;
        }
        s.terminals.insert(
            id,
            Terminal {
                control: access::Control::new(owner),
                rows: msg.rows,
                cols: msg.cols,
                label: msg.label.clone(),
                ring: Ring::default(),
                last_status: None,
                adoptions: BTreeMap::new(),
                lock: None,
            },
        );
        self.send_to_participants(session, &Frame::control(Body::TerminalOpened(msg)));
    }

    fn host_sealed(&mut self, conn: ConnId, session: &SessionId, sealed: SealedFrame) {
        let h = *sealed.header();
        let ring_limit = self.config.ring_bytes;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(t) = s.terminals.get_mut(&h.terminal) else {
            self.refuse(
                conn,
                session,
                ParticipantId::HOST,
                sealed_action(h.direction),
                h.terminal,
                ActionRefusal::UnknownTerminal,
            );
            return;
        };
        match h.direction {
            Direction::Output => {
                t.ring.push(sealed.clone(), ring_limit);
                self.send_to_participants(session, &Frame::Sealed(sealed));
            }
            Direction::Status => {
                t.last_status = Some(sealed.clone());
                self.send_to_participants(session, &Frame::Sealed(sealed));
            }
            Direction::Snapshot => {
                if h.participant == ParticipantId::HOST {
                    self.send_to_participants(session, &Frame::Sealed(sealed));
                } else if let Some(target) = s.members.get(&h.participant).map(|m| m.conn) {
                    self.send(target, Frame::Sealed(sealed));
                }
            }
            Direction::Input => {
                self.refuse(
                    conn,
                    session,
                    ParticipantId::HOST,
                    sealed_action(h.direction),
                    h.terminal,
                    ActionRefusal::Invalid,
                );
            }
        }
    }

    // ---- participants' frames -------------------------------------------

    fn participant_frame(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        frame: Frame,
        now: Instant,
    ) {
        let Some(role) = self.sessions.get(session).and_then(|s| s.role_of(id)) else {
            return;
        };
        match frame {
            Frame::Sealed(sealed) => self.participant_sealed(conn, session, id, role, sealed, now),
            Frame::Control(m::Control { body: None }) => {}
            Frame::Control(m::Control { body: Some(body) }) => match body {
                Body::Ping(p) => {
                    self.send(conn, Frame::control(Body::Pong(m::Pong { nonce: p.nonce })))
                }
                Body::Pong(_) | Body::Error(_) => {}
                Body::HistoryRequest(req) => {
                    let ids: Vec<TerminalId> = match req.terminal_id {
                        0 => self
                            .sessions
                            .get(session)
                            .map(|s| s.terminals.keys().copied().collect())
                            .unwrap_or_default(),
                        t => vec![TerminalId(t)],
                    };
                    for t in ids {
                        if self
                            .sessions
                            .get(session)
                            .is_some_and(|s| s.terminals.contains_key(&t))
                        {
                            self.replay(conn, session, t, id);
                        } else {
                            self.refuse(conn, session, id, 40, t, ActionRefusal::UnknownTerminal);
                        }
                    }
                }
                other @ (Body::Presence(_)
                | Body::Focus(_)
                | Body::Chat(_)
                | Body::Layout(_)
                | Body::TerminalCreate(_)
                | Body::TerminalClose(_)
                | Body::TerminalResize(_)
                | Body::AdoptionRequest(_)
                | Body::AdoptionAnswer(_)
                | Body::ControlGrant(_)
                | Body::ControlRevoke(_)
                | Body::TakeOver(_)
                | Body::TunnelAdmin(_)) => self.member_control(conn, session, id, role, other, now),
                _ => self.violation(conn),
            },
        }
    }

    fn participant_sealed(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        sealed: SealedFrame,
        now: Instant,
    ) {
        let h = *sealed.header();
        let action = sealed_action(h.direction);
        if h.direction != Direction::Input {
            let reason = if role == Role::Reader {
                ActionRefusal::ReadOnly
            } else {
                ActionRefusal::Invalid
            };
            self.refuse(conn, session, id, action, h.terminal, reason);
            return;
        }
        let lock_for = self.config.focus_lock;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let host = s.host_conn();
        let t = s.terminals.get_mut(&h.terminal);
        let checked = access::check(role, id, Action::Input, t.as_ref().map(|t| &t.control));
        let reason = match (checked, &t) {
            (Err(r), _) => Some(refusal_reason(r)),
            _ if h.participant != id => Some(ActionRefusal::Invalid),
            _ if host.is_none() => Some(ActionRefusal::HostOffline),
            (Ok(()), Some(t))
                if t.lock
                    .is_some_and(|(holder, until)| holder != id && until > now)
                    && t.control.owner != id =>
            {
                Some(ActionRefusal::FocusLocked)
            }
            _ => None,
        };
        if let Some(reason) = reason {
            self.refuse(conn, session, id, action, h.terminal, reason);
            return;
        }
        let (Some(t), Some(host)) = (t, host) else {
            return;
        };
        let previous = t
            .lock
            .filter(|(_, until)| *until > now)
            .map(|(holder, _)| holder);
        let had_timer = t.lock.is_some();
        t.lock = Some((id, now + lock_for));
        self.send(host, Frame::Sealed(sealed));
        if previous != Some(id) {
            self.broadcast(session, &focus_lock(h.terminal, id, millis(lock_for)));
        }
        if !had_timer {
            self.arm(
                now + lock_for,
                Timer::FocusLock(session.clone(), h.terminal),
            );
        }
    }

    /// Plaintext coordination from an admitted member (the host is member
    /// 0 with the admin role).
    fn member_control(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        body: Body,
        now: Instant,
    ) {
        let action_code = control_action(&body);
        let result = self.member_control_inner(session, id, role, body, now);
        if let Err((terminal, reason)) = result {
            self.refuse(conn, session, id, action_code, terminal, reason);
        }
    }

    fn member_control_inner(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        body: Body,
        now: Instant,
    ) -> Result<(), (TerminalId, ActionRefusal)> {
        let config = self.config.clone();
        let s = self
            .sessions
            .get_mut(session)
            .ok_or((TerminalId(0), ActionRefusal::Invalid))?;
        let host = s.host_conn();
        let no_term = TerminalId(0);
        let check = |s: &Session,
                     action: Action,
                     t: TerminalId|
         -> Result<(), (TerminalId, ActionRefusal)> {
            access::check(role, id, action, s.terminals.get(&t).map(|t| &t.control))
                .map_err(|r| (t, refusal_reason(r)))
        };
        match body {
            Body::Presence(p) => {
                if !valid_profile(&p.profile) {
                    return Err((no_term, ActionRefusal::TooLong));
                }
                let profile = p.profile.unwrap_or_default();
                let frame = if id == ParticipantId::HOST {
                    s.host_profile = profile.clone();
                    Frame::control(Body::Presence(m::Presence {
                        participant_id: 0,
                        profile: Some(profile),
                        role: Role::Admin.to_proto(),
                        state: m::presence::State::Updated as i32,
                    }))
                } else {
                    let mem = s
                        .members
                        .get_mut(&id)
                        .ok_or((no_term, ActionRefusal::Invalid))?;
                    mem.profile = profile;
                    presence(id, mem, m::presence::State::Updated)
                };
                self.broadcast(session, &frame);
            }
            Body::Focus(f) => {
                let frame = Frame::control(Body::Focus(m::Focus {
                    participant_id: id.0,
                    terminal_id: f.terminal_id,
                }));
                self.broadcast(session, &frame);
            }
            Body::Chat(c) => {
                if c.text.len() > config.max_chat_bytes {
                    return Err((no_term, ActionRefusal::TooLong));
                }
                if let Some(mem) = s.members.get_mut(&id) {
                    let refill = config.chat_refill.as_nanos().max(1);
                    let elapsed = now.saturating_duration_since(mem.chat_refilled).as_nanos();
                    let tokens = u32::try_from(elapsed / refill).unwrap_or(u32::MAX);
                    if tokens > 0 {
                        mem.chat_tokens = mem
                            .chat_tokens
                            .saturating_add(tokens)
                            .min(config.chat_burst);
                        mem.chat_refilled = now;
                    }
                    if mem.chat_tokens == 0 {
                        return Err((no_term, ActionRefusal::RateLimited));
                    }
                    mem.chat_tokens -= 1;
                }
                s.chat_seq += 1;
                let chat = m::Chat {
                    from: id.0,
                    seq: s.chat_seq,
                    text: c.text,
                };
                s.chat.push_back(chat.clone());
                while s.chat.len() > config.chat_history {
                    s.chat.pop_front();
                }
                self.broadcast(session, &Frame::control(Body::Chat(chat)));
            }
            Body::Layout(l) => {
                if l.tiles.len() > config.max_layout_tiles {
                    return Err((no_term, ActionRefusal::TooLong));
                }
                let frame = Frame::control(Body::Layout(m::Layout {
                    participant_id: id.0,
                    tiles: l.tiles,
                }));
                self.broadcast(session, &frame);
            }
            Body::TerminalCreate(c) => {
                check(s, Action::Create, no_term)?;
                let host = host.ok_or((no_term, ActionRefusal::HostOffline))?;
                if s.terminals.len() >= config.max_terminals {
                    return Err((no_term, ActionRefusal::LimitReached));
                }
                if c.label.len() > MAX_LABEL_BYTES {
                    return Err((no_term, ActionRefusal::TooLong));
                }
                self.send(
                    host,
                    Frame::control(Body::TerminalCreate(m::TerminalCreate {
                        requester: id.0,
                        ..c
                    })),
                );
            }
            Body::TerminalClose(c) => {
                let t = TerminalId(c.terminal_id);
                check(s, Action::Close, t)?;
                let host = host.ok_or((t, ActionRefusal::HostOffline))?;
                self.send(
                    host,
                    Frame::control(Body::TerminalClose(m::TerminalClose {
                        terminal_id: t.0,
                        requester: id.0,
                    })),
                );
            }
            Body::TerminalResize(r) => {
                let t = TerminalId(r.terminal_id);
                check(s, Action::Resize, t)?;
                let host = host.ok_or((t, ActionRefusal::HostOffline))?;
                self.send(
                    host,
                    Frame::control(Body::TerminalResize(m::TerminalResize {
                        requester: id.0,
                        ..r
                    })),
                );
            }
            Body::AdoptionRequest(r) => {
                let t = TerminalId(r.terminal_id);
                check(s, Action::RequestAdoption, t)?;
                let term = s
                    .terminals
                    .get_mut(&t)
                    .ok_or((t, ActionRefusal::UnknownTerminal))?;
                if term.control.controller == id {
                    return Err((t, ActionRefusal::Invalid));
                }
                // One pending request per writer and terminal: asking again
                // must not flood the owner.
                if term.adoptions.contains_key(&id) {
                    return Err((t, ActionRefusal::RateLimited));
                }
                let owner = term.control.owner;
                let owner_conn = s.conn_of(owner).ok_or((t, ActionRefusal::HostOffline))?;
                if let Some(term) = s.terminals.get_mut(&t) {
                    term.adoptions.insert(id, now + config.adoption_timeout);
                }
                self.arm(
                    now + config.adoption_timeout,
                    Timer::Adoption(session.clone(), t, id),
                );
                self.send(
                    owner_conn,
                    Frame::control(Body::AdoptionRequest(m::AdoptionRequest {
                        terminal_id: t.0,
                        requester: id.0,
                    })),
                );
            }
            Body::AdoptionAnswer(a) => {
                let t = TerminalId(a.terminal_id);
                check(s, Action::AnswerAdoption, t)?;
                let requester = ParticipantId(a.requester);
                let present = s.members.contains_key(&requester);
                let term = s
                    .terminals
                    .get_mut(&t)
                    .ok_or((t, ActionRefusal::UnknownTerminal))?;
                if term.adoptions.remove(&requester).is_none() {
                    return Err((t, ActionRefusal::NoPendingRequest));
                }
                let reason = if a.approve && present {
                    term.control.controller = requester;
                    ControlReason::AdoptionApproved
                } else {
                    ControlReason::AdoptionDenied
                };
                let frame = control_changed(t, term, reason, requester);
                self.broadcast(session, &frame);
            }
            Body::ControlGrant(g) => {
                let t = TerminalId(g.terminal_id);
                check(s, Action::Grant, t)?;
                let grantee = ParticipantId(g.grantee);
                match s.role_of(grantee) {
                    None => return Err((t, ActionRefusal::UnknownParticipant)),
                    Some(Role::Reader) => return Err((t, ActionRefusal::ReadOnly)),
                    Some(_) => {}
                }
                let term = s
                    .terminals
                    .get_mut(&t)
                    .ok_or((t, ActionRefusal::UnknownTerminal))?;
                term.control.controller = grantee;
                term.adoptions.remove(&grantee);
                let frame = control_changed(t, term, ControlReason::Granted, grantee);
                self.broadcast(session, &frame);
            }
            Body::ControlRevoke(r) => {
                let t = TerminalId(r.terminal_id);
                check(s, Action::Revoke, t)?;
                let term = s
                    .terminals
                    .get_mut(&t)
                    .ok_or((t, ActionRefusal::UnknownTerminal))?;
                term.control.controller = term.control.owner;
                let frame = control_changed(t, term, ControlReason::Revoked, id);
                self.broadcast(session, &frame);
            }
            Body::TakeOver(r) => {
                let t = TerminalId(r.terminal_id);
                check(s, Action::TakeOver, t)?;
                let term = s
                    .terminals
                    .get_mut(&t)
                    .ok_or((t, ActionRefusal::UnknownTerminal))?;
                term.control.controller = id;
                let frame = control_changed(t, term, ControlReason::TakenOver, id);
                self.broadcast(session, &frame);
            }
            Body::TunnelAdmin(msg) => {
                check(s, Action::AdministerTunnels, no_term)?;
                let host = host.ok_or((no_term, ActionRefusal::HostOffline))?;
                self.send(host, Frame::control(Body::TunnelAdmin(msg)));
            }
            _ => return Err((no_term, ActionRefusal::Invalid)),
        }
        Ok(())
    }
}

fn millis(d: core::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn presence(id: ParticipantId, member: &Member, state: m::presence::State) -> Frame {
    Frame::control(Body::Presence(m::Presence {
        participant_id: id.0,
        profile: Some(member.profile.clone()),
        role: member.role.to_proto(),
        state: state as i32,
    }))
}

fn opened(id: TerminalId, t: &Terminal) -> Frame {
    Frame::control(Body::TerminalOpened(m::TerminalOpened {
        terminal_id: id.0,
        owner: t.control.owner.0,
        rows: t.rows,
        cols: t.cols,
        label: t.label.clone(),
    }))
}

fn control_changed(
    id: TerminalId,
    t: &Terminal,
    reason: ControlReason,
    requester: ParticipantId,
) -> Frame {
    Frame::control(Body::ControlChanged(m::ControlChanged {
        terminal_id: id.0,
        owner: t.control.owner.0,
        controller: t.control.controller.0,
        reason: reason as i32,
        requester: requester.0,
    }))
}

fn focus_lock(terminal: TerminalId, holder: ParticipantId, expires_in_ms: u64) -> Frame {
    Frame::control(Body::FocusLock(m::FocusLock {
        terminal_id: terminal.0,
        holder: holder.0,
        expires_in_ms: u32::try_from(expires_in_ms).unwrap_or(u32::MAX),
    }))
}
