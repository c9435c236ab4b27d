//! The host machine (SPEC.md section 11.1): owns the admin secret, creates
//! or resumes the session, seals each terminal's output, opens and checks
//! input, answers snapshot requests, and binds shell commands and agent
//! status to the terminal they come from.
//!
//! Sans-IO: the application reports PTY output, relay frames, disconnects
//! and time; it drains frames for the relay, timeouts and [`HostEvent`]s.

mod command;
mod event;
mod forward;
mod input;
mod output;
mod shell;
mod terminal;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand_core::CryptoRng;
use taiku_crypto::{
    AdminActionKey, KeySchedule, Link, LinkError, LinkSecret, RoleNotHeld, StreamSealer,
};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::limits::terminal_size;
use taiku_proto::message::{
    self as m, ActionRefusal, ControlReason, EndReason, RefusalReason, control::Body,
};
use taiku_proto::{ActionCode, Frame, ParticipantId, Role, SessionId, TerminalId};

pub use crate::ticket::{FORWARD_START_LEN, RUN_START_LEN, TICKET_LEN};
pub use event::{HostError, HostEvent, InputDrop, Person, ShellAction, ShellError, ShellOutcome};
pub use shell::{BindError, CLOSED_TOKENS_REMEMBERED, SHELL_TOKEN_ENV, ShellToken};

use crate::SessionOptions;
use crate::access::{self, Handoff};
use crate::admin::{AdminAction, AdminRefusal};
use crate::admission;
use crate::agent::{AgentDetector, AgentStatus};
use crate::bucket::TokenBucket;
use crate::keepalive::Keepalive;
use crate::screen::ScreenModel;
use output::OutputStream;

/// Host tuning, with documented defaults (SPEC.md section 11.5).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// Longest a small PTY read waits to be coalesced with the next.
    pub coalesce_delay: Duration,
    /// Pending output at which a frame is sealed at once.
    pub coalesce_bytes: usize,
    /// Output this soon after accepted input is echo: sealed at once.
    pub echo_window: Duration,
    /// Output held per terminal that the relay has not acknowledged:
    /// pending (coalescing, or offline) and sealed but not yet covered by
    /// a `Pong`. At this bound [`Host::handle_output`] refuses more
    /// (`OutputFull`) and the application stops reading the PTY, so the
    /// program blocks as on a slow terminal and nothing is lost.
    pub resend_bytes: usize,
    /// Largest frame body (must match the relay's).
    pub max_frame_len: usize,
    /// Interval of keep-alive pings (below the relay's idle timeout).
    pub keepalive: Duration,
    /// Silence after which the connection is dead: nothing, not even a
    /// `Pong`, arrived (above `keepalive`, below the relay's idle
    /// timeout). See [`Host::poll_close`].
    pub liveness_timeout: Duration,
    /// Participants the host keeps (each with its input ticket); joins
    /// beyond are ignored.
    pub max_participants: usize,
    /// Terminals the host opens at most (the relay's `max_terminals`):
    /// [`Host::open_terminal`] refuses more, and requests for more are
    /// not raised as events.
    pub max_terminals: usize,
    /// The host's display profile.
    pub name: String,
    /// The host's device label.
    pub device_label: String,
    /// Keep a [`Screen`](crate::screen::Screen) of every terminal (needs
    /// the feature `screen`, on by default), answer snapshot requests from
    /// it, and repaint viewers after an [`HostEvent::OutputGap`] (SPEC.md
    /// 11.6). Off by default: the model reads every output byte on the
    /// host's loop (about 235 MB/s, against 390 MB/s for sealing and
    /// sending it; BENCHMARKS.md, screen_model), so an application opts in
    /// (the `share` example does). Off, snapshot requests are raised as
    /// [`HostEvent::SnapshotRequested`] unless the application installed
    /// its own model with [`Host::set_screen`].
    pub screens: bool,
    /// Install the agent detectors of
    /// [`agent::detect`](crate::agent::detect) on every terminal the host
    /// opens (SPEC.md 11.4); [`Host::set_detector`] replaces them.
    pub detectors: bool,
    /// Shell commands a terminal may send at once (SPEC.md 11.7)...
    pub command_burst: u32,
    /// ...and one more each this long.
    pub command_refill: Duration,
    /// Notices a terminal may send at once...
    pub notice_burst: u32,
    /// ...and one more each this long.
    pub notice_refill: Duration,
    /// Forward streams open at once, over all participants and HTTP
    /// tunnels (SPEC.md 6.8); more are refused with `LIMIT`.
    pub max_forwards: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            coalesce_delay: Duration::from_millis(5),
            coalesce_bytes: 16 * 1024,
            echo_window: Duration::from_millis(50),
            resend_bytes: 1 << 20,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            keepalive: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(60),
            max_participants: 1024,
            max_terminals: 32,
            name: "host".into(),
            device_label: String::new(),
            screens: false,
            detectors: true,
            command_burst: 20,
            command_refill: Duration::from_millis(100),
            notice_burst: 5,
            notice_refill: Duration::from_secs(2),
            max_forwards: 64,
        }
    }
}

setters! {
    HostConfig {
        with_coalesce_delay(coalesce_delay: Duration),
        with_coalesce_bytes(coalesce_bytes: usize),
        with_echo_window(echo_window: Duration),
        with_resend_bytes(resend_bytes: usize),
        with_max_frame_len(max_frame_len: usize),
        with_keepalive(keepalive: Duration),
        with_liveness_timeout(liveness_timeout: Duration),
        with_max_participants(max_participants: usize),
        with_max_terminals(max_terminals: usize),
        with_name(name: impl Into<String>),
        with_device_label(device_label: impl Into<String>),
        with_screens(screens: bool),
        with_detectors(detectors: bool),
        with_command_burst(command_burst: u32),
        with_command_refill(command_refill: Duration),
        with_notice_burst(notice_burst: u32),
        with_notice_refill(notice_refill: Duration),
        with_max_forwards(max_forwards: usize),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Never admitted yet: the next connect creates the session.
    New,
    /// Waiting for the challenge or the result.
    Admitting {
        resume: bool,
    },
    /// A resume was accepted; `ResumeState` is still to come. Output waits
    /// (nothing may be sealed into the old runs now).
    Resuming,
    Online,
    Offline,
    Ended,
}

pub(super) struct HostTerminal {
    control: access::Control,
    rows: u32,
    cols: u32,
    label: String,
    output: OutputStream,
    status: StreamSealer,
    agent: Option<AgentStatus>,
    /// The status was set by a shell command (hooks): the detector is not
    /// heard until a command clears it.
    hooked: bool,
    detector: Option<Box<dyn AgentDetector>>,
    /// Shell commands and notices from this terminal (SPEC.md 11.7).
    commands: TokenBucket,
    notices: TokenBucket,
    /// The terminal's screen, fed its output, for snapshots.
    screen: Option<Box<dyn ScreenModel>>,
    /// Output not yet sealed: coalescing, or offline.
    pending: BytesMut,
    pending_since: Option<Instant>,
    lost_frames: u64,
    last_input: Option<Instant>,
    /// Announced to the relay (TerminalOpened sent while online).
    announced: bool,
}

/// The host state machine.
pub struct Host<R> {
    config: HostConfig,
    rng: R,
    keys: KeySchedule,
    options: SessionOptions,
    phase: Phase,
    terminals: BTreeMap<TerminalId, HostTerminal>,
    /// Terminals closed while offline, to announce on resume.
    closed_offline: Vec<(TerminalId, i32)>,
    members: BTreeMap<ParticipantId, input::Member>,
    tokens: shell::Tokens,
    next_terminal: u32,
    keepalive: Keepalive,
    /// Checks administrative actions (the host holds the admin secret).
    admin_key: AdminActionKey,
    /// Pings sent on this connection and where each terminal's output
    /// stood then: a `Pong` acknowledges everything before its ping.
    acks: output::Acks,
    /// Published ports and forward streams.
    forwards: forward::Forwards,
    out: VecDeque<Frame>,
    events: VecDeque<HostEvent>,
}

impl<R> core::fmt::Debug for Host<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Host")
            .field("session", self.keys.session_id())
            .field("terminals", &self.terminals.len())
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Host<R> {
    /// A host for `session` from its admin secret.
    pub fn new(
        config: HostConfig,
        admin: &LinkSecret,
        session: SessionId,
        options: SessionOptions,
        rng: R,
    ) -> Result<Self, RoleNotHeld> {
        let keys = KeySchedule::new(admin, &session);
        keys.verifiers()?;
        let keepalive = Keepalive::new(config.keepalive, config.liveness_timeout);
        let admin_key = keys.admin_action_key()?;
        Ok(Host {
            config,
            rng,
            keys,
            options,
            phase: Phase::New,
            terminals: BTreeMap::new(),
            closed_offline: Vec::new(),
            members: BTreeMap::new(),
            tokens: shell::Tokens::default(),
            next_terminal: 1,
            keepalive,
            admin_key,
            acks: output::Acks::default(),
            forwards: forward::Forwards::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// A host for a brand-new session: a random 256-bit admin secret and
    /// a random 16-character session id.
    pub fn generate(config: HostConfig, options: SessionOptions, mut rng: R) -> Self {
        let secret = LinkSecret::generate_admin(&mut rng);
        let session = random_session_id(&mut rng);
        match Host::new(config, &secret, session, options, rng) {
            Ok(host) => host,
            Err(_) => unreachable!("a generated admin secret holds every role"),
        }
    }

    /// The configuration the host was made with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The session's id.
    pub fn session_id(&self) -> &SessionId {
        self.keys.session_id()
    }

    /// The link of `role` on the relay at `origin`.
    pub fn link(&self, origin: &str, role: Role) -> Result<Link, LinkError> {
        let secret = match self.keys.secret(role) {
            Ok(s) => s,
            Err(_) => unreachable!("the host holds every role"),
        };
        Link::new(origin, self.keys.session_id().clone(), secret)
    }

    /// Whether the relay has admitted the host and the connection is up.
    pub fn is_online(&self) -> bool {
        self.phase == Phase::Online
    }

    /// Owner and controller of a terminal in the host's copy of the rules.
    pub fn terminal_control(&self, term: TerminalId) -> Option<access::Control> {
        self.terminals.get(&term).map(|t| t.control)
    }

    /// The current agent status of a terminal.
    pub fn agent_status(&self, term: TerminalId) -> Option<&AgentStatus> {
        self.terminals.get(&term)?.agent.as_ref()
    }

    // ---- connection ------------------------------------------------------

    /// A transport connection to the relay is up: ask to create the
    /// session the first time, to resume it afterwards.
    pub fn connect(&mut self, now: Instant) {
        let profile = Some(m::Profile {
            name: self.config.name.clone(),
            device_label: self.config.device_label.clone(),
        });
        let session_id = self.keys.session_id().to_string();
        let (body, resume) = match self.phase {
            Phase::Ended => return,
            Phase::New | Phase::Admitting { resume: false } => {
                match admission::session_create(&self.keys, self.options, profile) {
                    Ok(body) => (body, false),
                    Err(_) => unreachable!("the host holds the admin secret"),
                }
            }
            _ => (
                Body::SessionResume(m::SessionResume {
                    session_id,
                    profile,
                }),
                true,
            ),
        };
        self.out.clear();
        self.out.push_back(Frame::control(body));
        self.phase = Phase::Admitting { resume };
        self.keepalive.connected(now);
    }

    /// The transport connection closed.
    pub fn handle_disconnect(&mut self, now: Instant) {
        // Part of the time contract; nothing here depends on it today.
        let _ = now;
        let was_admitted = matches!(
            self.phase,
            Phase::Online | Phase::Resuming | Phase::Admitting { resume: true }
        );
        match self.phase {
            Phase::Ended => return,
            Phase::Admitting { resume: false } | Phase::New => self.phase = Phase::New,
            _ => self.phase = Phase::Offline,
        }
        self.out.clear();
        self.keepalive.stop();
        self.acks.clear();
        // Pending output waits for the resume; no coalescing timer runs.
        for t in self.terminals.values_mut() {
            t.pending_since = None;
        }
        self.forwards_offline();
        if was_admitted {
            self.events.push_back(HostEvent::Offline);
        }
    }

    /// Say something in the session's chat (plaintext metadata, SPEC.md
    /// 1.1); everyone, the host included, gets it back from the relay as a
    /// [`HostEvent::Chat`].
    pub fn chat(&mut self, text: &str) -> Result<(), HostError> {
        if self.phase != Phase::Online {
            return Err(HostError::NotOnline);
        }
        access::check_chat(text, taiku_proto::limits::MAX_CHAT_BYTES)
            .map_err(HostError::Refused)?;
        self.out.push_back(Frame::control(Body::Chat(m::Chat {
            text: text.to_owned(),
            ..m::Chat::default()
        })));
        Ok(())
    }

    /// The driver will connect again, attempt `attempt` (from 1), in
    /// `delay`: reported as [`HostEvent::Reconnecting`] so an application
    /// can say so. Nothing else changes.
    pub fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        if self.phase != Phase::Ended {
            self.events
                .push_back(HostEvent::Reconnecting { attempt, delay });
        }
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) {
        self.keepalive.received(now);
        match frame {
            Frame::Sealed(sealed) => self.sealed(sealed, now),
            Frame::Control(m::Control { body: Some(body) }) => self.control(body, now),
            Frame::Control(m::Control { body: None }) => {}
        }
    }

    fn control(&mut self, body: Body, now: Instant) {
        match body {
            Body::Challenge(c) => {
                if let (Phase::Admitting { .. }, Some(challenge)) =
                    (self.phase, admission::challenge(&Body::Challenge(c)))
                {
                    self.out.push_back(Frame::control(admission::join_proof(
                        &self.keys.prover(),
                        &challenge,
                    )));
                }
            }
            Body::JoinResult(result) => match result.outcome {
                Some(m::join_result::Outcome::Accepted(_)) => match self.phase {
                    Phase::Admitting { resume: false } => {
                        self.phase = Phase::Online;
                        self.keepalive.start(now);
                        self.announce_all(now);
                        if !self.forwards_idle() {
                            self.announce_ports();
                        }
                        self.events.push_back(HostEvent::Online { resumed: false });
                    }
                    Phase::Admitting { resume: true } => {
                        self.phase = Phase::Resuming;
                        self.keepalive.start(now);
                    }
                    // Not asked for: ignored.
                    _ => {}
                },
                Some(m::join_result::Outcome::Refused(r)) => {
                    let reason = RefusalReason::try_from(r).unwrap_or(RefusalReason::Unspecified);
                    self.events.push_back(HostEvent::Refused(reason));
                    // A resume the relay denies: it no longer has the
                    // session (it restarted, or the grace window ended).
                    // Trying again cannot help.
                    if self.phase == (Phase::Admitting { resume: true })
                        && reason == RefusalReason::Denied
                    {
                        self.phase = Phase::Ended;
                        self.out.clear();
                        self.keepalive.stop();
                        self.events.push_back(HostEvent::SessionLost);
                    }
                }
                None => {}
            },
            Body::ResumeState(state) if self.phase == Phase::Resuming => {
                self.phase = Phase::Online;
                self.resume(state, now);
                self.announce_ports();
                self.events.push_back(HostEvent::Online { resumed: true });
            }
            Body::Presence(p) => {
                let id = ParticipantId(p.participant_id);
                if id == ParticipantId::HOST {
                    return;
                }
                match m::presence::State::try_from(p.state) {
                    Ok(m::presence::State::Left) => {
                        self.member_left(id);
                        self.events.push_back(HostEvent::Left { participant: id });
                    }
                    Ok(m::presence::State::Joined) => {
                        let profile = p.profile.unwrap_or_default();
                        if let Some(role) = Role::from_proto(p.role)
                            && self.member_joined(id, role, &profile)
                        {
                            self.events.push_back(HostEvent::Joined {
                                participant: id,
                                role,
                                name: profile.name,
                            });
                        }
                    }
                    Ok(m::presence::State::Updated) => {
                        self.member_updated(id, &p.profile.unwrap_or_default());
                    }
                    _ => {}
                }
            }
            // A take-over is applied from the admin's signed TakeOver
            // (below), never from the relay's word.
            Body::ControlChanged(c) if c.reason == ControlReason::TakenOver as i32 => {}
            Body::ControlChanged(c) => {
                let term = TerminalId(c.terminal_id);
                if let Some(t) = self.terminals.get_mut(&term) {
                    t.control = access::Control::from(&c);
                    self.events.push_back(HostEvent::ControlChanged {
                        term,
                        owner: t.control.owner,
                        controller: t.control.controller,
                    });
                }
            }
            // At its limit the host asks the application for nothing (the
            // relay's count of the request lapses after create_timeout).
            Body::TerminalCreate(_) if self.terminals.len() >= self.config.max_terminals => {}
            Body::TerminalCreate(c) => {
                let (rows, cols) = terminal_size(c.rows, c.cols);
                self.events.push_back(HostEvent::CreateRequested {
                    requester: ParticipantId(c.requester),
                    rows,
                    cols,
                    label: c.label,
                })
            }
            Body::TerminalClose(c) => self.events.push_back(HostEvent::CloseRequested {
                term: TerminalId(c.terminal_id),
                requester: ParticipantId(c.requester),
            }),
            Body::TerminalResize(r) => {
                let (rows, cols) = terminal_size(r.rows, r.cols);
                self.events.push_back(HostEvent::ResizeRequested {
                    term: TerminalId(r.terminal_id),
                    rows,
                    cols,
                    requester: ParticipantId(r.requester),
                })
            }
            Body::SnapshotRequest(r) => {
                let (term, requester) = (TerminalId(r.terminal_id), ParticipantId(r.requester));
                if !self.snapshot_from_screen(term, requester, now) {
                    self.events
                        .push_back(HostEvent::SnapshotRequested { term, requester });
                }
            }
            Body::AdoptionRequest(a) => self.events.push_back(HostEvent::AdoptionRequested {
                term: TerminalId(a.terminal_id),
                requester: ParticipantId(a.requester),
            }),
            Body::TakeOver(t) => {
                let terminal = TerminalId(t.terminal_id);
                let action = AdminAction::TakeOver { terminal };
                let requester = ParticipantId(t.requester);
                if !self.terminals.contains_key(&terminal) {
                    self.admin_rejected(requester, action, AdminRefusal::UnknownTerminal);
                } else if self.verify_admin(requester, action, t.counter, &t.signature)
                    && let Some(term) = self.terminals.get_mut(&terminal)
                {
                    term.control.controller = requester;
                    self.events.push_back(HostEvent::ControlChanged {
                        term: terminal,
                        owner: term.control.owner,
                        controller: term.control.controller,
                    });
                }
            }
            Body::TunnelAdmin(t) => {
                let action = AdminAction::Tunnel {
                    port: t.port,
                    enable: t.enable,
                };
                let by = ParticipantId(t.requester);
                if self.verify_admin(by, action, t.counter, &t.signature) {
                    self.tunnel_admin(by, t.port, t.enable);
                }
            }
            Body::ForwardOpen(f) => self.forward_open(f),
            Body::ForwardData(f) => self.forward_data(f),
            Body::ForwardCredit(f) => self.forward_credit(f),
            Body::ForwardClose(f) => self.forward_closed(f),
            Body::Chat(c) if self.phase == Phase::Online => {
                self.events.push_back(HostEvent::Chat {
                    from: ParticipantId(c.from),
                    text: c.text,
                });
            }
            Body::Refused(r) => self.events.push_back(HostEvent::ActionRefused {
                action: ActionCode::from_wire(r.action),
                term: TerminalId(r.terminal_id),
                reason: ActionRefusal::try_from(r.reason).unwrap_or(ActionRefusal::Unspecified),
            }),
            Body::SessionEnded(e) => {
                self.phase = Phase::Ended;
                self.out.clear();
                self.keepalive.stop();
                self.events.push_back(HostEvent::Ended(
                    EndReason::try_from(e.reason).unwrap_or(EndReason::Unspecified),
                ));
            }
            Body::Pong(p) => self.acknowledge(p.nonce),
            Body::Ping(p) => self
                .out
                .push_back(Frame::control(Body::Pong(m::Pong { nonce: p.nonce }))),
            _ => {}
        }
    }

    /// Approve or deny a participant's request to control a terminal the
    /// host owns (or any terminal: the host is an admin). Only the relay
    /// knows which requests are pending; it refuses an answer to none.
    pub fn answer_adoption(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        approve: bool,
    ) -> Result<(), HostError> {
        let pending = true;
        self.handoff(
            term,
            Handoff::Answer {
                requester,
                approve,
                pending,
            },
        )
    }

    /// Hand control of a terminal to a writer or admin directly.
    pub fn grant(&mut self, term: TerminalId, to: ParticipantId) -> Result<(), HostError> {
        let grantee_role = self.role_of(to);
        self.handoff(
            term,
            Handoff::Grant {
                grantee: to,
                grantee_role,
            },
        )
    }

    /// Take control of a terminal back.
    pub fn revoke(&mut self, term: TerminalId) -> Result<(), HostError> {
        self.handoff(term, Handoff::Revoke)
    }

    /// Ask the relay for a handoff the rules allow the host.
    fn handoff(&mut self, term: TerminalId, request: Handoff) -> Result<(), HostError> {
        let control = self
            .terminals
            .get(&term)
            .map(|t| &t.control)
            .ok_or(HostError::UnknownTerminal(term))?;
        access::handoff(Role::Admin, ParticipantId::HOST, Some(control), request)?;
        self.out.push_back(Frame::control(request.message(term)));
        Ok(())
    }

    /// The role of a participant the host knows (the host is an admin).
    fn role_of(&self, id: ParticipantId) -> Option<Role> {
        if id == ParticipantId::HOST {
            Some(Role::Admin)
        } else {
            self.members.get(&id).map(|m| m.role)
        }
    }

    /// End the session for everyone (participants get
    /// `SessionEnded{HOST_ENDED}`). The machine is finished afterwards.
    pub fn end_session(&mut self) {
        if self.phase == Phase::Online {
            self.out
                .push_back(Frame::control(Body::SessionEnded(m::SessionEnded {
                    reason: EndReason::HostEnded as i32,
                })));
        }
        self.phase = Phase::Ended;
        self.keepalive.stop();
        self.events
            .push_back(HostEvent::Ended(EndReason::HostEnded));
    }

    /// The next frame for the relay.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HostEvent> {
        self.events.pop_front()
    }
}

/// A random session id: 16 characters of the URL-safe alphabet (96 bits).
pub fn random_session_id<R: CryptoRng + ?Sized>(rng: &mut R) -> SessionId {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let id: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 0x3f)]))
        .collect();
    match SessionId::new(&id) {
        Ok(id) => id,
        Err(_) => unreachable!("16 characters of the session id alphabet"),
    }
}
