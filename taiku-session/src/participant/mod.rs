//! The participant machine (SPEC.md section 11.2): joins from a link by
//! signing the relay's challenge, opens every terminal's output (replay
//! then live), tracks presence, focus, chat, layout, ownership and agent
//! status as a queryable [`View`] plus [`ParticipantEvent`]s, and seals
//! input only where its role and the ownership table allow.
//!
//! - [`view`](View): what the participant knows of the session;
//! - `reader`: the host's output, status and snapshot streams;
//! - `actions`: what the participant may ask for, checked locally.

mod actions;
mod event;
mod forward;
mod input;
mod reader;
mod view;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use rand_core::CryptoRng;
use taiku_crypto::{KeySchedule, Link};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::message::{
    self as m, ActionRefusal, ControlReason, EndReason, RefusalReason, control::Body,
};
use taiku_proto::{ActionCode, Direction, Frame, ParticipantId, Role, SessionId, TerminalId};

pub use actions::ActionError;
pub use event::ParticipantEvent;
pub use forward::MAX_FORWARDS;
pub use input::{HELD_INPUT_BYTES, PENDING_INPUT_BYTES};
pub use reader::{CLOSED_TERMINALS_REMEMBERED, RUNS_REMEMBERED, SNAPSHOTS_REMEMBERED};
pub use view::{CHAT_KEPT, ChatLine, Peer, TerminalView, Tile, View, printable};

use crate::admission;
use crate::epochs::RecentEpochs;
use crate::keepalive::Keepalive;
use reader::{OutputReader, StatusReader};

/// Participant tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParticipantConfig {
    /// Display name.
    pub name: String,
    /// Device label.
    pub device_label: String,
    /// Largest frame body (must match the relay's).
    pub max_frame_len: usize,
    /// Interval of keep-alive pings (below the relay's idle timeout).
    pub keepalive: Duration,
    /// Silence after which the connection is dead (see
    /// [`Participant::poll_close`]).
    pub liveness_timeout: Duration,
}

impl Default for ParticipantConfig {
    fn default() -> Self {
        ParticipantConfig {
            name: "guest".into(),
            device_label: String::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            keepalive: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(60),
        }
    }
}

setters! {
    ParticipantConfig {
        with_name(name: impl Into<String>),
        with_device_label(device_label: impl Into<String>),
        with_max_frame_len(max_frame_len: usize),
        with_keepalive(keepalive: Duration),
        with_liveness_timeout(liveness_timeout: Duration),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Idle,
    Joining,
    Joined,
    Ended,
}

/// The participant state machine.
pub struct Participant<R> {
    config: ParticipantConfig,
    rng: R,
    keys: KeySchedule,
    phase: Phase,
    view: View,
    outputs: BTreeMap<TerminalId, OutputReader>,
    status: BTreeMap<TerminalId, StatusReader>,
    /// Terminals closed in this session, oldest first.
    closed: VecDeque<TerminalId>,
    inputs: input::Inputs,
    snapshots_seen: RecentEpochs,
    /// Terminals whose history this participant asked for and whose
    /// `ReplayStart` has not come yet.
    history_asked: BTreeSet<TerminalId>,
    host_was_offline: bool,
    /// Admitted at least once: a later admission is a rejoin.
    joined_before: bool,
    keepalive: Keepalive,
    forwards: forward::Forwards,
    out: VecDeque<Frame>,
    events: VecDeque<ParticipantEvent>,
}

impl<R> core::fmt::Debug for Participant<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Participant")
            .field("session", self.keys.session_id())
            .field("role", &self.keys.role())
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> Participant<R> {
    /// A participant for the session and role of `link`.
    pub fn new(config: ParticipantConfig, link: &Link, rng: R) -> Self {
        let keepalive = Keepalive::new(config.keepalive, config.liveness_timeout);
        Participant {
            config,
            rng,
            keys: KeySchedule::new(link.secret(), link.session_id()),
            phase: Phase::Idle,
            joined_before: false,
            view: View::default(),
            outputs: BTreeMap::new(),
            status: BTreeMap::new(),
            closed: VecDeque::new(),
            inputs: input::Inputs::default(),
            snapshots_seen: reader::snapshots_seen(),
            history_asked: BTreeSet::new(),
            host_was_offline: false,
            keepalive,
            forwards: forward::Forwards::default(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration the participant was made with.
    pub fn config(&self) -> &ParticipantConfig {
        &self.config
    }

    /// The session.
    pub fn session_id(&self) -> &SessionId {
        self.keys.session_id()
    }

    /// The role of the link.
    pub fn role(&self) -> Role {
        self.keys.role()
    }

    /// Everything known about the session.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// A transport connection to the relay is up: ask to join. Any earlier
    /// view is discarded (a rejoin replays history).
    pub fn connect(&mut self, now: Instant) {
        if self.phase == Phase::Ended {
            return;
        }
        self.reset();
        self.phase = Phase::Joining;
        self.keepalive.connected(now);
        self.out
            .push_back(Frame::control(Body::JoinRequest(m::JoinRequest {
                session_id: self.keys.session_id().to_string(),
                profile: Some(m::Profile {
                    name: self.config.name.clone(),
                    device_label: self.config.device_label.clone(),
                }),
            })));
    }

    fn reset(&mut self) {
        self.forwards_reset();
        self.view = View::default();
        self.outputs.clear();
        // The status readers stay: a rejoin must not let a relay replay
        // statuses or notices already read (SPEC.md 11.4).
        self.inputs.reset();
        self.out.clear();
        self.history_asked.clear();
        self.host_was_offline = false;
    }

    /// The transport connection closed.
    pub fn handle_disconnect(&mut self, now: Instant) {
        // Part of the time contract; nothing here depends on it today.
        let _ = now;
        if matches!(self.phase, Phase::Joining | Phase::Joined) {
            self.events.push_back(ParticipantEvent::Disconnected);
        }
        // A request to control dies with the connection, and so do
        // forwards.
        self.drop_held();
        self.forwards_reset();
        if self.phase != Phase::Ended {
            self.phase = Phase::Idle;
        }
        self.out.clear();
        self.view.me = None;
        self.keepalive.stop();
    }

    /// The driver will connect again, attempt `attempt` (from 1), in
    /// `delay`: reported as [`ParticipantEvent::Reconnecting`] so a UI can
    /// say so. Nothing else changes.
    pub fn reconnecting(&mut self, attempt: u32, delay: Duration) {
        if self.phase != Phase::Ended {
            self.events
                .push_back(ParticipantEvent::Reconnecting { attempt, delay });
        }
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) {
        self.keepalive.received(now);
        match frame {
            Frame::Sealed(sealed) => self.sealed(sealed),
            Frame::Control(m::Control { body: Some(body) }) => self.control(body, now),
            Frame::Control(m::Control { body: None }) => {}
        }
    }

    fn control(&mut self, body: Body, now: Instant) {
        match body {
            Body::Challenge(c) => {
                if let (Phase::Joining, Some(challenge)) =
                    (self.phase, admission::challenge(&Body::Challenge(c)))
                {
                    self.out.push_back(Frame::control(admission::join_proof(
                        &self.keys.prover(),
                        &challenge,
                    )));
                }
            }
            // Only the answer to this connection's own request counts.
            Body::JoinResult(_) if self.phase != Phase::Joining => {}
            Body::JoinResult(r) => match r.outcome {
                Some(m::join_result::Outcome::Accepted(a)) => {
                    let id = ParticipantId(a.participant_id);
                    // The role is the link's, whatever the relay says: it
                    // proved that role, and a relay claiming more grants
                    // nothing the keys do not hold.
                    let role = self.keys.role();
                    self.phase = Phase::Joined;
                    self.keepalive.start(now);
                    self.view.me = Some((id, role));
                    self.view.host_online = a.host_online;
                    self.view.peers.insert(
                        id,
                        Peer {
                            name: self.config.name.clone(),
                            device_label: self.config.device_label.clone(),
                            role,
                            focus: None,
                            layout: Vec::new(),
                        },
                    );
                    self.events.push_back(if self.joined_before {
                        ParticipantEvent::Rejoined { id, role }
                    } else {
                        ParticipantEvent::Joined { id, role }
                    });
                    self.joined_before = true;
                }
                Some(m::join_result::Outcome::Refused(r)) => {
                    self.phase = Phase::Idle;
                    self.events.push_back(ParticipantEvent::Denied(
                        RefusalReason::try_from(r).unwrap_or(RefusalReason::Unspecified),
                    ));
                }
                None => {}
            },
            Body::HostStatus(s) => {
                self.view.host_online = s.online;
                if s.online {
                    if self.host_was_offline {
                        // The host resumed with fresh epochs: new runs follow.
                        for reader in self.outputs.values_mut() {
                            reader.host_resumed();
                        }
                        // Input in flight to the old connection is lost:
                        // keystrokes continue in new runs.
                        self.inputs.end_runs();
                    }
                    self.host_was_offline = false;
                    self.events.push_back(ParticipantEvent::HostOnline);
                } else {
                    self.host_was_offline = true;
                    self.events.push_back(ParticipantEvent::HostOffline {
                        grace_remaining_ms: s.grace_remaining_ms,
                    });
                }
            }
            Body::SessionEnded(e) => {
                self.phase = Phase::Ended;
                self.out.clear();
                self.keepalive.stop();
                self.events.push_back(ParticipantEvent::Ended(
                    EndReason::try_from(e.reason).unwrap_or(EndReason::Unspecified),
                ));
            }
            // A closed terminal does not come back (SPEC.md 11.2).
            Body::TerminalOpened(o) if self.closed.contains(&TerminalId(o.terminal_id)) => {}
            Body::TerminalOpened(o) => {
                self.outputs.entry(TerminalId(o.terminal_id)).or_default();
                self.view_update(Body::TerminalOpened(o));
            }
            Body::TerminalClosed(c) => {
                let term = TerminalId(c.terminal_id);
                self.outputs.remove(&term);
                self.status.remove(&term);
                // A host never reuses a terminal id: remembered, so that a
                // relay cannot reopen it and replay its runs as new.
                if !self.closed.contains(&term) {
                    if self.closed.len() == CLOSED_TERMINALS_REMEMBERED {
                        self.closed.pop_front();
                    }
                    self.closed.push_back(term);
                }
                self.inputs.forget(term);
                self.view_update(Body::TerminalClosed(c));
            }
            Body::ReplayStart(r) => self.replay_start(r),
            Body::InputTicket(t) => self.input_ticket(t),
            other @ (Body::Presence(_)
            | Body::TerminalResize(_)
            | Body::TerminalLabel(_)
            | Body::ControlChanged(_)
            | Body::AdoptionRequest(_)
            | Body::FocusLock(_)
            | Body::Focus(_)
            | Body::Layout(_)
            | Body::Chat(_)) => self.view_update(other),
            Body::Refused(r) => {
                let term = TerminalId(r.terminal_id);
                let action = ActionCode::from_wire(r.action);
                if action == Some(ActionCode::Sealed(Direction::Input)) {
                    // The refused frame's number is missing from the run:
                    // the next keystroke starts a new one (SPEC.md 11.2).
                    self.inputs.end_run(term);
                }
                self.events.push_back(ParticipantEvent::ActionRefused {
                    action,
                    term,
                    reason: ActionRefusal::try_from(r.reason).unwrap_or(ActionRefusal::Unspecified),
                });
            }
            Body::Ping(p) => self
                .out
                .push_back(Frame::control(Body::Pong(m::Pong { nonce: p.nonce }))),
            other @ (Body::TunnelPorts(_)
            | Body::ForwardCredit(_)
            | Body::ForwardClose(_)
            | Body::TunnelCredential(_)) => self.forward_control(other),
            _ => {}
        }
    }

    fn view_update(&mut self, body: Body) {
        if let Some(event) = self.view.apply(body) {
            let settle = match &event {
                ParticipantEvent::ControlChanged {
                    term,
                    reason,
                    requester,
                } => {
                    let mine = self.view.me.map(|(id, _)| id) == Some(*requester);
                    let answered = mine
                        && matches!(
                            reason,
                            ControlReason::AdoptionDenied | ControlReason::AdoptionExpired
                        );
                    Some((*term, answered))
                }
                // Nothing to control any more.
                ParticipantEvent::TerminalClosed(term) => Some((*term, true)),
                _ => None,
            };
            self.events.push_back(event);
            if let Some((term, answered)) = settle {
                self.settle_held(term, answered);
            }
        }
    }

    // ---- output ------------------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.keepalive.deadline()
    }

    /// Time passed: send a keep-alive when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(ping) = self.keepalive.poll(now) {
            self.out.push_back(Frame::control(Body::Ping(ping)));
        }
    }

    /// Whether the driver must close the connection now: nothing arrived
    /// on it for [`ParticipantConfig::liveness_timeout`], so it is dead
    /// even if the transport has not noticed. Close it, call
    /// [`handle_disconnect`](Self::handle_disconnect) and reconnect. True
    /// once per dead connection.
    pub fn poll_close(&mut self) -> bool {
        self.keepalive.take_dead()
    }

    /// The next frame for the relay.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ParticipantEvent> {
        self.events.pop_front()
    }
}
