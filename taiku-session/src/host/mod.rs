//! The host machine (SPEC.md section 11.1): owns the admin secret, creates
//! or resumes the session, seals each terminal's output, opens and checks
//! input, answers snapshot requests, and binds shell commands and agent
//! status to the terminal they come from.
//!
//! Sans-IO: the application reports PTY output, relay frames, disconnects
//! and time; it drains frames for the relay, timeouts and [`HostEvent`]s.

mod shell;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use prost::Message;
use rand_core::CryptoRng;
use taiku_crypto::{
    KeySchedule, Link, LinkError, LinkSecret, OpenError, Opened, RoleNotHeld, Start, StreamOpener,
    StreamSealer, random_epoch,
};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::limits::terminal_size;
use taiku_proto::message::{
    self as m, ActionRefusal, EndReason, RefusalReason, control::Body, sealed_record,
};
use taiku_proto::{
    Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, Seq, SessionId, TerminalId,
};

pub use shell::{BindError, CLOSED_TOKENS_REMEMBERED, SHELL_TOKEN_ENV, ShellToken};

use crate::access::{self, Action, Refusal};
use crate::admission;
use crate::agent::{AgentDetector, AgentStatus};
use crate::keepalive::Keepalive;

/// Host tuning, with documented defaults (SPEC.md section 11.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Longest a small PTY read waits to be coalesced with the next.
    pub coalesce_delay: Duration,
    /// Pending output at which a frame is sealed at once.
    pub coalesce_bytes: usize,
    /// Output this soon after accepted input is echo: sealed at once.
    pub echo_window: Duration,
    /// Sealed output kept per terminal to re-send after a resume.
    pub resend_bytes: usize,
    /// Output buffered per terminal while the relay is unreachable.
    pub offline_bytes: usize,
    /// Largest frame body (must match the relay's).
    pub max_frame_len: usize,
    /// Interval of keep-alive pings (below the relay's idle timeout).
    pub keepalive: Duration,
    /// The host's display profile.
    pub name: String,
    /// The host's device label.
    pub device_label: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            coalesce_delay: Duration::from_millis(5),
            coalesce_bytes: 16 * 1024,
            echo_window: Duration::from_millis(50),
            resend_bytes: 1 << 20,
            offline_bytes: 1 << 20,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            keepalive: Duration::from_secs(30),
            name: "host".into(),
            device_label: String::new(),
        }
    }
}

/// Why the host dropped an input frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputDrop {
    /// It did not open: not under the input key (a reader cannot make
    /// one), tampered, replayed, reordered or out of sequence.
    #[error("input did not open: {0}")]
    Open(#[from] OpenError),
    /// The terminal does not exist here.
    #[error("input for an unknown terminal")]
    UnknownTerminal,
    /// The host's own copy of the rules refuses it.
    #[error("input not allowed: {0}")]
    NotAllowed(Refusal),
    /// The sender is not a participant the host knows.
    #[error("input from an unknown participant")]
    UnknownSender,
}

/// What a shell command asks for, once bound to its terminal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellAction {
    /// Set (or with `None`, clear) the agent status of the command's own
    /// terminal.
    SetAgentStatus(Option<AgentStatus>),
}

/// Something the application must know or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// The relay accepted the host (`resumed` after a reconnect).
    Online {
        /// Whether this was a resume.
        resumed: bool,
    },
    /// The connection to the relay is gone; reconnect within the grace
    /// window and call [`Host::connect`].
    Offline,
    /// The relay refused the create or resume.
    Refused(RefusalReason),
    /// The session is over.
    Ended(EndReason),
    /// A participant joined.
    Joined {
        /// Its id.
        participant: ParticipantId,
        /// Its proven role.
        role: Role,
        /// Its display name.
        name: String,
    },
    /// A participant left.
    Left {
        /// Its id.
        participant: ParticipantId,
    },
    /// Keystrokes for a terminal, checked and opened.
    Input {
        /// The terminal.
        term: TerminalId,
        /// The sender.
        from: ParticipantId,
        /// The bytes to write to the PTY.
        bytes: Bytes,
    },
    /// An input frame was dropped.
    InputDropped {
        /// The terminal it named.
        term: TerminalId,
        /// The sender the relay routed it from.
        from: ParticipantId,
        /// Why.
        reason: InputDrop,
    },
    /// A writer asks for a new terminal it will own: call
    /// [`Host::open_terminal`] with `owner = requester`, or ignore it. The
    /// size is already fitted by
    /// [`terminal_size`](taiku_proto::limits::terminal_size).
    CreateRequested {
        /// Who asked (the future owner).
        requester: ParticipantId,
        /// Requested rows.
        rows: u32,
        /// Requested columns.
        cols: u32,
        /// Requested label.
        label: String,
    },
    /// The controller asks to close a terminal.
    CloseRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asked.
        requester: ParticipantId,
    },
    /// The controller asks for a new size; apply it to the PTY and call
    /// [`Host::resize`]. The size is already fitted by
    /// [`terminal_size`](taiku_proto::limits::terminal_size).
    ResizeRequested {
        /// The terminal.
        term: TerminalId,
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
        /// Who asked.
        requester: ParticipantId,
    },
    /// A participant needs a screen snapshot: call [`Host::send_snapshot`].
    SnapshotRequested {
        /// The terminal.
        term: TerminalId,
        /// Who needs it.
        requester: ParticipantId,
    },
    /// A participant asks to control one of the host's own terminals:
    /// answer with [`Host::answer_adoption`].
    AdoptionRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asks.
        requester: ParticipantId,
    },
    /// An admin asks to publish or withdraw a tunnel.
    TunnelRequested {
        /// Local port.
        port: u32,
        /// Publish or withdraw.
        enable: bool,
    },
    /// Control of a terminal changed.
    ControlChanged {
        /// The terminal.
        term: TerminalId,
        /// Its owner.
        owner: ParticipantId,
        /// Its controller.
        controller: ParticipantId,
    },
    /// Output was lost before the relay could have it (offline buffer or
    /// re-send backlog overflowed); a snapshot repairs viewers' screens.
    OutputGap {
        /// The terminal.
        term: TerminalId,
        /// Output bytes dropped while offline.
        bytes: usize,
        /// Sealed frames the relay never received and the re-send backlog
        /// no longer held.
        frames: u64,
    },
    /// The relay refused one of the host's own frames.
    ActionRefused {
        /// The action code (SPEC.md section 8).
        action: u32,
        /// The terminal named.
        term: TerminalId,
        /// Why.
        reason: ActionRefusal,
    },
}

/// Errors of the host's local API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// No such terminal.
    #[error("unknown terminal {0}")]
    UnknownTerminal(TerminalId),
    /// The owner named is not the host or a writer or admin here.
    #[error("owner {0} is not a writer or admin in the session")]
    InvalidOwner(ParticipantId),
    /// Terminal ids are exhausted.
    #[error("no terminal ids left")]
    TerminalIdsExhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Never admitted yet: the next connect creates the session.
    New,
    /// Waiting for the challenge or the result.
    Admitting {
        resume: bool,
    },
    Online,
    Offline,
    Ended,
}

struct OutputStream {
    sealer: StreamSealer,
    /// Recent sealed plaintexts of this run, for re-sending after a resume.
    backlog: VecDeque<(Seq, Bytes)>,
    backlog_bytes: usize,
}

struct HostTerminal {
    control: access::Control,
    rows: u32,
    cols: u32,
    label: String,
    output: OutputStream,
    status: StreamSealer,
    agent: Option<AgentStatus>,
    detector: Option<Box<dyn AgentDetector>>,
    /// Output not yet sealed: coalescing, or offline.
    pending: BytesMut,
    pending_since: Option<Instant>,
    lost_bytes: usize,
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
    options: m::SessionOptions,
    phase: Phase,
    terminals: BTreeMap<TerminalId, HostTerminal>,
    /// Terminals closed while offline, to announce on resume.
    closed_offline: Vec<(TerminalId, i32)>,
    members: BTreeMap<ParticipantId, Role>,
    inputs: BTreeMap<(TerminalId, ParticipantId), InputRuns>,
    tokens: shell::Tokens,
    next_terminal: u32,
    keepalive: Keepalive,
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
        options: m::SessionOptions,
        rng: R,
    ) -> Result<Self, RoleNotHeld> {
        let keys = KeySchedule::new(admin, &session);
        keys.verifiers()?;
        let keepalive = Keepalive::new(config.keepalive);
        Ok(Host {
            config,
            rng,
            keys,
            options,
            phase: Phase::New,
            terminals: BTreeMap::new(),
            closed_offline: Vec::new(),
            members: BTreeMap::new(),
            inputs: BTreeMap::new(),
            tokens: shell::Tokens::default(),
            next_terminal: 1,
            keepalive,
            out: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// A host for a brand-new session: a random 256-bit admin secret and
    /// a random 16-character session id.
    pub fn generate(config: HostConfig, options: m::SessionOptions, mut rng: R) -> Self {
        let secret = LinkSecret::generate_admin(&mut rng);
        let session = random_session_id(&mut rng);
        match Host::new(config, &secret, session, options, rng) {
            Ok(host) => host,
            Err(_) => unreachable!("a generated admin secret holds every role"),
        }
    }

    /// The session id.
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
    pub fn connect(&mut self, _now: Instant) {
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
    }

    /// The transport connection closed.
    pub fn handle_disconnect(&mut self, _now: Instant) {
        let was_admitted = matches!(
            self.phase,
            Phase::Online | Phase::Admitting { resume: true }
        );
        match self.phase {
            Phase::Ended => return,
            Phase::Admitting { resume: false } | Phase::New => self.phase = Phase::New,
            _ => self.phase = Phase::Offline,
        }
        self.out.clear();
        self.keepalive.stop();
        // Pending output waits for the resume; no coalescing timer runs.
        for t in self.terminals.values_mut() {
            t.pending_since = None;
        }
        if was_admitted {
            self.events.push_back(HostEvent::Offline);
        }
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) {
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
                Some(m::join_result::Outcome::Accepted(_)) => {
                    let resumed = self.phase == Phase::Admitting { resume: true };
                    self.phase = Phase::Online;
                    self.keepalive.start(now);
                    if !resumed {
                        self.announce_all(now);
                    }
                    self.events.push_back(HostEvent::Online { resumed });
                }
                Some(m::join_result::Outcome::Refused(r)) => {
                    let reason = RefusalReason::try_from(r).unwrap_or(RefusalReason::Unspecified);
                    self.events.push_back(HostEvent::Refused(reason));
                }
                None => {}
            },
            Body::ResumeState(state) => self.resume(state, now),
            Body::Presence(p) => {
                let id = ParticipantId(p.participant_id);
                if id == ParticipantId::HOST {
                    return;
                }
                match m::presence::State::try_from(p.state) {
                    Ok(m::presence::State::Left) => {
                        self.members.remove(&id);
                        self.inputs.retain(|(_, from), _| *from != id);
                        self.events.push_back(HostEvent::Left { participant: id });
                    }
                    Ok(m::presence::State::Joined) => {
                        if let Some(role) = Role::from_proto(p.role) {
                            self.members.insert(id, role);
                            self.events.push_back(HostEvent::Joined {
                                participant: id,
                                role,
                                name: p.profile.map(|p| p.name).unwrap_or_default(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            Body::ControlChanged(c) => {
                let term = TerminalId(c.terminal_id);
                if let Some(t) = self.terminals.get_mut(&term) {
                    t.control = access::Control {
                        owner: ParticipantId(c.owner),
                        controller: ParticipantId(c.controller),
                    };
                    self.events.push_back(HostEvent::ControlChanged {
                        term,
                        owner: t.control.owner,
                        controller: t.control.controller,
                    });
                }
            }
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
            Body::SnapshotRequest(r) => self.events.push_back(HostEvent::SnapshotRequested {
                term: TerminalId(r.terminal_id),
                requester: ParticipantId(r.requester),
            }),
            Body::AdoptionRequest(a) => self.events.push_back(HostEvent::AdoptionRequested {
                term: TerminalId(a.terminal_id),
                requester: ParticipantId(a.requester),
            }),
            Body::TunnelAdmin(t) => self.events.push_back(HostEvent::TunnelRequested {
                port: t.port,
                enable: t.enable,
            }),
            Body::Refused(r) => self.events.push_back(HostEvent::ActionRefused {
                action: r.action,
                term: TerminalId(r.terminal_id),
                reason: ActionRefusal::try_from(r.reason).unwrap_or(ActionRefusal::Unspecified),
            }),
            Body::SessionEnded(e) => {
                self.phase = Phase::Ended;
                self.out.clear();
                self.events.push_back(HostEvent::Ended(
                    EndReason::try_from(e.reason).unwrap_or(EndReason::Unspecified),
                ));
            }
            Body::Ping(p) => self
                .out
                .push_back(Frame::control(Body::Pong(m::Pong { nonce: p.nonce }))),
            _ => {}
        }
    }

    fn sealed(&mut self, frame: SealedFrame, now: Instant) {
        let h = *frame.header();
        if h.direction != Direction::Input {
            return;
        }
        let from = h.participant;
        let drop = |reason| HostEvent::InputDropped {
            term: h.terminal,
            from,
            reason,
        };
        let Some(t) = self.terminals.get_mut(&h.terminal) else {
            self.events.push_back(drop(InputDrop::UnknownTerminal));
            return;
        };
        let runs = match self.inputs.entry((h.terminal, from)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(InputRuns::default()),
        };
        // Open first, so that the stream's sequence stays intact even when
        // the host's own rules then drop the frame.
        let bytes = match runs.open(&self.keys, &frame) {
            Ok(Opened::Data(bytes)) => bytes,
            Ok(Opened::End) => return,
            Err(e) => {
                self.events.push_back(drop(InputDrop::Open(e)));
                return;
            }
        };
        let Some(role) = self.members.get(&from).copied() else {
            self.events.push_back(drop(InputDrop::UnknownSender));
            return;
        };
        if let Err(refusal) = access::check(role, from, Action::Input, Some(&t.control)) {
            self.events.push_back(drop(InputDrop::NotAllowed(refusal)));
            return;
        }
        t.last_input = Some(now);
        self.events.push_back(HostEvent::Input {
            term: h.terminal,
            from,
            bytes,
        });
    }

    /// Approve or deny a participant's request to control a terminal the
    /// host owns.
    pub fn answer_adoption(&mut self, term: TerminalId, requester: ParticipantId, approve: bool) {
        self.out
            .push_back(Frame::control(Body::AdoptionAnswer(m::AdoptionAnswer {
                terminal_id: term.0,
                requester: requester.0,
                approve,
            })));
    }

    /// Hand control of a terminal to a writer directly.
    pub fn grant(&mut self, term: TerminalId, to: ParticipantId) {
        self.out
            .push_back(Frame::control(Body::ControlGrant(m::ControlGrant {
                terminal_id: term.0,
                grantee: to.0,
            })));
    }

    /// Take control of a terminal back.
    pub fn revoke(&mut self, term: TerminalId) {
        self.out
            .push_back(Frame::control(Body::ControlRevoke(m::ControlRevoke {
                terminal_id: term.0,
            })));
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
        self.events
            .push_back(HostEvent::Ended(EndReason::HostEnded));
    }

    // ---- terminals -------------------------------------------------------

    /// A new PTY exists: announce it and return its id and the token to put
    /// in its shell's environment under [`SHELL_TOKEN_ENV`]. The size is
    /// fitted by [`terminal_size`](taiku_proto::limits::terminal_size).
    pub fn open_terminal(
        &mut self,
        owner: ParticipantId,
        rows: u32,
        cols: u32,
        label: &str,
        _now: Instant,
    ) -> Result<(TerminalId, ShellToken), HostError> {
        let owner_ok = owner == ParticipantId::HOST
            || self.members.get(&owner).is_some_and(|r| *r >= Role::Writer);
        if !owner_ok {
            return Err(HostError::InvalidOwner(owner));
        }
        let id = TerminalId(self.next_terminal);
        self.next_terminal = self
            .next_terminal
            .checked_add(1)
            .ok_or(HostError::TerminalIdsExhausted)?;
        let label = crate::agent::cut_label(label.to_owned());
        let (rows, cols) = terminal_size(rows, cols);
        let output = self.new_output(id);
        let status = self.new_sealer(id, Direction::Status, ParticipantId::HOST);
        let token = ShellToken::generate(&mut self.rng);
        self.tokens.insert(id, token.duplicate());
        self.terminals.insert(
            id,
            HostTerminal {
                control: access::Control::new(owner),
                rows,
                cols,
                label,
                output,
                status,
                agent: None,
                detector: None,
                pending: BytesMut::new(),
                pending_since: None,
                lost_bytes: 0,
                lost_frames: 0,
                last_input: None,
                announced: false,
            },
        );
        if self.phase == Phase::Online {
            self.announce(id);
        }
        Ok((id, token))
    }

    fn new_sealer(
        &mut self,
        term: TerminalId,
        direction: Direction,
        participant: ParticipantId,
    ) -> StreamSealer {
        let epoch = random_epoch(&mut self.rng);
        match self.keys.sealer(term, direction, participant, epoch) {
            Ok(s) => s.with_max_frame_len(self.config.max_frame_len),
            Err(_) => unreachable!("the host holds every root"),
        }
    }

    fn new_output(&mut self, term: TerminalId) -> OutputStream {
        OutputStream {
            sealer: self.new_sealer(term, Direction::Output, ParticipantId::HOST),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
        }
    }

    fn announce(&mut self, id: TerminalId) {
        let Some(t) = self.terminals.get_mut(&id) else {
            return;
        };
        t.announced = true;
        self.out
            .push_back(Frame::control(Body::TerminalOpened(m::TerminalOpened {
                terminal_id: id.0,
                owner: t.control.owner.0,
                rows: t.rows,
                cols: t.cols,
                label: t.label.clone(),
            })));
    }

    /// After the first admission: announce every terminal and send what
    /// was produced before.
    fn announce_all(&mut self, now: Instant) {
        let ids: Vec<TerminalId> = self.terminals.keys().copied().collect();
        for id in ids {
            self.announce(id);
            self.flush(id, now);
            self.send_status(id);
        }
    }

    /// Install a detector fed with this terminal's output only.
    pub fn set_detector(
        &mut self,
        term: TerminalId,
        detector: Box<dyn AgentDetector>,
    ) -> Result<(), HostError> {
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        t.detector = Some(detector);
        Ok(())
    }

    /// PTY output of a terminal.
    pub fn handle_output(
        &mut self,
        term: TerminalId,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), HostError> {
        let online = self.phase == Phase::Online;
        let (coalesce_bytes, echo_window, offline_bytes) = (
            self.config.coalesce_bytes,
            self.config.echo_window,
            self.config.offline_bytes,
        );
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        let detected = t.detector.as_mut().and_then(|d| d.feed(bytes));
        t.pending.extend_from_slice(bytes);
        if !online {
            // Keep the newest output; count what falls off the front.
            if t.pending.len() > offline_bytes {
                let excess = t.pending.len() - offline_bytes;
                let _ = t.pending.split_to(excess);
                t.lost_bytes += excess;
            }
        } else {
            let echo = t
                .last_input
                .is_some_and(|i| now.saturating_duration_since(i) <= echo_window);
            if echo || t.pending.len() >= coalesce_bytes {
                self.flush(term, now);
            } else if t.pending_since.is_none() {
                t.pending_since = Some(now);
            }
        }
        if let Some(status) = detected {
            self.apply_status(term, Some(status));
        }
        Ok(())
    }

    /// Seal everything pending for a terminal.
    fn flush(&mut self, term: TerminalId, _now: Instant) {
        if self.phase != Phase::Online {
            return;
        }
        let resend_bytes = self.config.resend_bytes;
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        t.pending_since = None;
        if t.lost_bytes > 0 || t.lost_frames > 0 {
            self.events.push_back(HostEvent::OutputGap {
                term,
                bytes: t.lost_bytes,
                frames: t.lost_frames,
            });
            t.lost_bytes = 0;
            t.lost_frames = 0;
        }
        let pending = t.pending.split().freeze();
        let chunk = t.output.sealer.max_plaintext_len().max(1);
        for piece in pending.chunks(chunk) {
            let seq = t.output.sealer.next_seq();
            match t.output.sealer.seal(piece) {
                Ok(frame) => {
                    let bytes = Bytes::copy_from_slice(piece);
                    t.output.backlog_bytes += bytes.len();
                    t.output.backlog.push_back((seq, bytes));
                    while t.output.backlog_bytes > resend_bytes {
                        match t.output.backlog.pop_front() {
                            Some((_, b)) => t.output.backlog_bytes -= b.len(),
                            None => break,
                        }
                    }
                    self.out.push_back(Frame::Sealed(frame));
                }
                Err(_) => {
                    // Exhausted after 2^64 - 1 frames: a new run.
                    t.output = OutputStream {
                        sealer: match self.keys.sealer(
                            term,
                            Direction::Output,
                            ParticipantId::HOST,
                            random_epoch(&mut self.rng),
                        ) {
                            Ok(s) => s.with_max_frame_len(self.config.max_frame_len),
                            Err(_) => unreachable!("the host holds every root"),
                        },
                        backlog: VecDeque::new(),
                        backlog_bytes: 0,
                    };
                }
            }
        }
    }

    /// The PTY's size changed (on a participant's request or locally). The
    /// size announced is fitted by
    /// [`terminal_size`](taiku_proto::limits::terminal_size).
    pub fn resize(&mut self, term: TerminalId, rows: u32, cols: u32) -> Result<(), HostError> {
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        let (rows, cols) = terminal_size(rows, cols);
        t.rows = rows;
        t.cols = cols;
        if self.phase == Phase::Online {
            self.out
                .push_back(Frame::control(Body::TerminalResize(m::TerminalResize {
                    terminal_id: term.0,
                    rows,
                    cols,
                    requester: 0,
                })));
        }
        Ok(())
    }

    /// The PTY exited: flush, end its streams, forget its token.
    pub fn close_terminal(
        &mut self,
        term: TerminalId,
        exit_status: i32,
        now: Instant,
    ) -> Result<(), HostError> {
        if !self.terminals.contains_key(&term) {
            return Err(HostError::UnknownTerminal(term));
        }
        self.flush(term, now);
        let Some(mut t) = self.terminals.remove(&term) else {
            return Err(HostError::UnknownTerminal(term));
        };
        self.tokens.remove(term);
        self.inputs.retain(|(id, _), _| *id != term);
        if self.phase == Phase::Online {
            for frame in [t.output.sealer.finish(), t.status.finish()]
                .into_iter()
                .flatten()
            {
                self.out.push_back(Frame::Sealed(frame));
            }
            self.out
                .push_back(Frame::control(Body::TerminalClosed(m::TerminalClosed {
                    terminal_id: term.0,
                    exit_status,
                })));
        } else if t.announced {
            self.closed_offline.push((term, exit_status));
        }
        Ok(())
    }

    /// Answer a snapshot request with a screen the application rendered
    /// (for instance from a terminal emulator fed the same output): bytes
    /// that repaint the screen from scratch. `requester` 0 sends it to
    /// every participant.
    pub fn send_snapshot(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        screen: &[u8],
        now: Instant,
    ) -> Result<(), HostError> {
        if !self.terminals.contains_key(&term) {
            return Err(HostError::UnknownTerminal(term));
        }
        // The snapshot reflects everything sealed so far.
        self.flush(term, now);
        let mut sealer = self.new_sealer(term, Direction::Snapshot, requester);
        let Some(t) = self.terminals.get(&term) else {
            return Err(HostError::UnknownTerminal(term));
        };
        let next = t.output.sealer.next_seq().0;
        let record = m::SealedRecord {
            body: Some(sealed_record::Body::Snapshot(m::Snapshot {
                output_epoch: Bytes::copy_from_slice(&t.output.sealer.epoch().0),
                // The first output frame the snapshot does not reflect.
                output_seq: next,
                rows: t.rows,
                cols: t.cols,
                screen: Bytes::copy_from_slice(screen),
            })),
        };
        if self.phase == Phase::Online
            && let Ok(frame) = sealer.seal(&record.encode_to_vec())
        {
            self.out.push_back(Frame::Sealed(frame));
        }
        Ok(())
    }

    // ---- shell binding and agent status ---------------------------------

    /// A command run inside a shared shell presented `token` (from its
    /// environment) and optionally named a terminal. It is bound to the
    /// token's terminal, and only that terminal can be affected.
    pub fn shell_command(
        &mut self,
        token: Option<&str>,
        named: Option<TerminalId>,
        action: ShellAction,
    ) -> Result<TerminalId, BindError> {
        let term = self.tokens.bind(token, named)?;
        match action {
            ShellAction::SetAgentStatus(status) => self.apply_status(term, status),
        }
        Ok(term)
    }

    fn apply_status(&mut self, term: TerminalId, status: Option<AgentStatus>) {
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        if t.agent == status {
            return;
        }
        t.agent = status;
        self.send_status(term);
    }

    fn send_status(&mut self, term: TerminalId) {
        if self.phase != Phase::Online {
            return;
        }
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        let record = m::SealedRecord {
            body: Some(sealed_record::Body::AgentStatus(
                t.agent
                    .as_ref()
                    .map(AgentStatus::to_proto)
                    .unwrap_or_default(),
            )),
        };
        if let Ok(frame) = t.status.seal(&record.encode_to_vec()) {
            self.out.push_back(Frame::Sealed(frame));
        }
    }

    // ---- resume ----------------------------------------------------------

    /// The relay's view after a resume: re-send what it lacks in fresh runs.
    fn resume(&mut self, state: m::ResumeState, now: Instant) {
        let known: BTreeMap<TerminalId, m::TerminalState> = state
            .terminals
            .into_iter()
            .map(|t| (TerminalId(t.terminal_id), t))
            .collect();
        for (id, exit_status) in core::mem::take(&mut self.closed_offline) {
            if known.contains_key(&id) {
                self.out
                    .push_back(Frame::control(Body::TerminalClosed(m::TerminalClosed {
                        terminal_id: id.0,
                        exit_status,
                    })));
            }
        }
        let ids: Vec<TerminalId> = self.terminals.keys().copied().collect();
        for id in ids {
            let relay = known.get(&id);
            let fresh = self.new_output(id);
            let status = self.new_sealer(id, Direction::Status, ParticipantId::HOST);
            let Some(t) = self.terminals.get_mut(&id) else {
                continue;
            };
            let old = core::mem::replace(&mut t.output, fresh);
            t.status = status;
            if let Some(r) = relay {
                t.control = access::Control {
                    owner: ParticipantId(r.owner),
                    controller: ParticipantId(r.controller),
                };
            }
            // What the relay does not hold of the old run.
            let held_until = relay
                .filter(|r| r.has_output && r.last_epoch.as_ref() == old.sealer.epoch().0)
                .map(|r| r.last_seq);
            let missing: Vec<Bytes> = old
                .backlog
                .iter()
                .filter(|(seq, _)| held_until.is_none_or(|last| seq.0 > last))
                .map(|(_, b)| b.clone())
                .collect();
            // Frames from the first one the relay lacks up to the first one
            // the backlog still holds are lost.
            let first_missing = held_until.map_or(0, |l| l.saturating_add(1));
            let have_from = old
                .backlog
                .front()
                .map_or(old.sealer.next_seq().0, |(s, _)| s.0);
            t.lost_frames += have_from.saturating_sub(first_missing);
            // Open the new run with an empty frame, so the relay's ring holds
            // its start and a later joiner's replay lists it as a run.
            if let Ok(frame) = t.output.sealer.seal(&[]) {
                self.out.push_back(Frame::Sealed(frame));
            }
            let mut resend = BytesMut::new();
            for b in missing {
                resend.extend_from_slice(&b);
            }
            resend.extend_from_slice(&t.pending);
            t.pending = resend;
            if relay.is_none() {
                self.announce(id);
            }
            self.flush(id, now);
            self.send_status(id);
        }
    }

    // ---- time and output ------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::Online {
            return None;
        }
        let delay = self.config.coalesce_delay;
        self.terminals
            .values()
            .filter_map(|t| t.pending_since.map(|since| since + delay))
            .chain(self.keepalive.deadline())
            .min()
    }

    /// Time passed: seal coalesced output that has waited long enough.
    pub fn handle_timeout(&mut self, now: Instant) {
        let delay = self.config.coalesce_delay;
        let due: Vec<TerminalId> = self
            .terminals
            .iter()
            .filter(|(_, t)| t.pending_since.is_some_and(|s| s + delay <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.flush(id, now);
        }
        if let Some(ping) = self.keepalive.poll(now) {
            self.out.push_back(Frame::control(Body::Ping(ping)));
        }
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

/// Input runs of one participant for one terminal remembered by the host,
/// so that a relay cannot replay an earlier run (SPEC.md 11.1).
pub const INPUT_RUNS_REMEMBERED: usize = 32;

/// The input runs of one participant for one terminal: the current one,
/// and the epochs of earlier ones.
#[derive(Default)]
struct InputRuns {
    current: Option<StreamOpener>,
    past: VecDeque<Epoch>,
}

impl InputRuns {
    /// Open the next frame. Each run is read from its start; a participant
    /// starts a new run (seq 0, an epoch never seen from it here) after the
    /// relay refused one of its frames or the host resumed, so that one
    /// lost frame does not stop its input for good.
    fn open(&mut self, keys: &KeySchedule, frame: &SealedFrame) -> Result<Opened, OpenError> {
        let h = frame.header();
        let current_epoch = self.current.as_ref().and_then(StreamOpener::epoch);
        let new_run = match current_epoch {
            None => true,
            Some(epoch) => epoch != h.epoch && h.seq == Seq(0) && !self.past.contains(&h.epoch),
        };
        if let (false, Some(current)) = (new_run, self.current.as_mut()) {
            return current.open(frame);
        }
        let mut fresh = match keys.opener(h.terminal, Direction::Input, Start::FromStart) {
            Ok(o) => o.expect_participant(h.participant),
            Err(_) => unreachable!("the host holds the input root"),
        };
        let opened = fresh.open(frame)?;
        if let Some(old) = current_epoch {
            if self.past.len() == INPUT_RUNS_REMEMBERED {
                self.past.pop_front();
            }
            self.past.push_back(old);
        }
        self.current = Some(fresh);
        Ok(opened)
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
