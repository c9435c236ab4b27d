//! The participant machine (SPEC.md section 11.2): joins from a link by
//! signing the relay's challenge, opens every terminal's output (replay
//! then live), tracks presence, focus, chat, layout, ownership and agent
//! status as a queryable [`View`] plus [`ParticipantEvent`]s, and seals
//! input only where its role and the ownership table allow.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message;
use rand_core::CryptoRng;
use taiku_crypto::{
    KeySchedule, Link, OpenError, Opened, Start, StreamOpener, StreamSealer, random_epoch,
};
use taiku_proto::limits::{DEFAULT_MAX_FRAME_LEN, MAX_CHAT_BYTES};
use taiku_proto::message::{
    self as m, ActionRefusal, ControlReason, EndReason, RefusalReason, control::Body, sealed_record,
};
use taiku_proto::{
    Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, Seq, SessionId, TerminalId,
};

use crate::access::{self, Action, Refusal};
use crate::admission;
use crate::agent::AgentStatus;
use crate::keepalive::Keepalive;

/// Snapshot epochs remembered to refuse a replayed snapshot.
pub const SNAPSHOTS_REMEMBERED: usize = 64;

/// Output and status runs remembered per terminal, so that a relay cannot
/// replay an earlier run as a new one.
pub const RUNS_REMEMBERED: usize = 64;

/// Chat lines kept in the view.
pub const CHAT_KEPT: usize = 200;

/// One participant as this participant sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Display name.
    pub name: String,
    /// Device label.
    pub device_label: String,
    /// Proven role.
    pub role: Role,
    /// The terminal it looks at.
    pub focus: Option<TerminalId>,
    /// Its compact layout.
    pub layout: Vec<m::Tile>,
}

/// One terminal as this participant sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalView {
    /// Owner and controller.
    pub control: access::Control,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Display label.
    pub label: String,
    /// The agent running in it, if any.
    pub agent: Option<AgentStatus>,
    /// Who holds the typing lock.
    pub lock: Option<ParticipantId>,
}

/// A chat line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// Sender.
    pub from: ParticipantId,
    /// The relay's sequence number.
    pub seq: u64,
    /// Text.
    pub text: String,
}

/// Everything a UI shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// This participant's id and role, once joined.
    pub me: Option<(ParticipantId, Role)>,
    /// Whether the host is connected.
    pub host_online: bool,
    /// Everyone present, host (id 0) included.
    pub peers: BTreeMap<ParticipantId, Peer>,
    /// The terminals.
    pub terminals: BTreeMap<TerminalId, TerminalView>,
    /// Recent chat.
    pub chat: VecDeque<ChatLine>,
}

/// Something a UI reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParticipantEvent {
    /// Admitted.
    Joined {
        /// Assigned id.
        id: ParticipantId,
        /// Proven role.
        role: Role,
    },
    /// The relay refused the join.
    Denied(RefusalReason),
    /// Terminal output, in order, exactly once.
    Output {
        /// The terminal.
        term: TerminalId,
        /// Bytes to feed the terminal emulator.
        bytes: Bytes,
    },
    /// A screen snapshot: reset the terminal's screen to it; output that
    /// follows continues from it.
    Snapshot {
        /// The terminal.
        term: TerminalId,
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
        /// Bytes that repaint the screen.
        screen: Bytes,
    },
    /// A terminal's agent status changed.
    AgentStatus {
        /// The terminal.
        term: TerminalId,
        /// The status, `None` when no agent runs.
        status: Option<AgentStatus>,
    },
    /// A terminal appeared.
    TerminalOpened(TerminalId),
    /// A terminal closed.
    TerminalClosed(TerminalId),
    /// A terminal's size changed.
    TerminalResized(TerminalId),
    /// Control of a terminal changed.
    ControlChanged {
        /// The terminal.
        term: TerminalId,
        /// Why.
        reason: ControlReason,
        /// Whose request, for adoption outcomes.
        requester: ParticipantId,
    },
    /// Somebody asks to adopt a terminal this participant owns: answer with
    /// [`Participant::answer_adoption`].
    AdoptionRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asks.
        requester: ParticipantId,
    },
    /// Presence changed (joined, updated or left).
    Presence(ParticipantId),
    /// A chat line arrived.
    Chat(ChatLine),
    /// The host came back.
    HostOnline,
    /// The host is gone for now.
    HostOffline {
        /// Milliseconds left in the grace window.
        grace_remaining_ms: u64,
    },
    /// The session (or this participant's part in it) is over.
    Ended(EndReason),
    /// The relay refused an action.
    ActionRefused {
        /// Action code (SPEC.md section 8).
        action: u32,
        /// Terminal named.
        term: TerminalId,
        /// Why.
        reason: ActionRefusal,
    },
    /// A sealed frame did not open and was dropped.
    StreamError {
        /// The terminal.
        term: TerminalId,
        /// The stream.
        direction: Direction,
        /// Why.
        error: OpenError,
    },
}

/// Why a local request was refused before anything was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Not admitted (yet, or any more).
    #[error("not joined")]
    NotJoined,
    /// The role or ownership table does not allow it.
    #[error("not allowed: {0}")]
    Refused(#[from] Refusal),
    /// A chat message over the limit.
    #[error("chat message too long")]
    TooLong,
}

/// Participant tuning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantConfig {
    /// Display name.
    pub name: String,
    /// Device label.
    pub device_label: String,
    /// Largest frame body (must match the relay's).
    pub max_frame_len: usize,
    /// Interval of keep-alive pings (below the relay's idle timeout).
    pub keepalive: Duration,
}

impl Default for ParticipantConfig {
    fn default() -> Self {
        ParticipantConfig {
            name: "guest".into(),
            device_label: String::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            keepalive: Duration::from_secs(30),
        }
    }
}

/// How the output stream of one terminal is being read.
#[derive(Default)]
struct OutputReader {
    opener: Option<StreamOpener>,
    /// Runs announced by ReplayStart still to come, and frames left in the
    /// current one.
    replay: VecDeque<m::ReplayRun>,
    left_in_run: u32,
    /// A new run may start (after a host resume or a FIN).
    expect_new_run: bool,
    /// Output of this epoch before this sequence number is already in a
    /// snapshot.
    skip_until: Option<(Epoch, Seq)>,
    /// The last frame whose bytes were reported: a replay that repeats
    /// frames up to it reports nothing twice.
    shown: Option<(Epoch, Seq)>,
    /// The next planned run is the first of its `ReplayStart`, the only
    /// one that may begin anywhere.
    replay_first: bool,
    /// Epochs of runs read before; only a replay may list them again.
    past: Runs,
}

/// Epochs of the last [`RUNS_REMEMBERED`] runs of one stream.
#[derive(Default)]
struct Runs(VecDeque<Epoch>);

impl Runs {
    fn contains(&self, epoch: Epoch) -> bool {
        self.0.contains(&epoch)
    }

    fn remember(&mut self, epoch: Epoch) {
        if !self.contains(epoch) {
            if self.0.len() == RUNS_REMEMBERED {
                self.0.pop_front();
            }
            self.0.push_back(epoch);
        }
    }
}

/// The status run of one terminal being read, and the runs read before.
#[derive(Default)]
struct StatusReader {
    opener: Option<StreamOpener>,
    past: Runs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
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
    inputs: BTreeMap<TerminalId, StreamSealer>,
    snapshots_seen: VecDeque<Epoch>,
    /// Terminals whose history this participant asked for and whose
    /// `ReplayStart` has not come yet.
    history_asked: BTreeSet<TerminalId>,
    host_was_offline: bool,
    keepalive: Keepalive,
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
        let keepalive = Keepalive::new(config.keepalive);
        Participant {
            config,
            rng,
            keys: KeySchedule::new(link.secret(), link.session_id()),
            phase: Phase::Idle,
            view: View::default(),
            outputs: BTreeMap::new(),
            status: BTreeMap::new(),
            inputs: BTreeMap::new(),
            snapshots_seen: VecDeque::new(),
            history_asked: BTreeSet::new(),
            host_was_offline: false,
            keepalive,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
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
    pub fn connect(&mut self, _now: Instant) {
        if self.phase == Phase::Ended {
            return;
        }
        self.reset();
        self.phase = Phase::Joining;
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
        self.view = View::default();
        self.outputs.clear();
        self.status.clear();
        self.inputs.clear();
        self.out.clear();
        self.history_asked.clear();
        self.host_was_offline = false;
    }

    /// The transport connection closed.
    pub fn handle_disconnect(&mut self, _now: Instant) {
        if self.phase != Phase::Ended {
            self.phase = Phase::Idle;
        }
        self.out.clear();
        self.view.me = None;
        self.keepalive.stop();
    }

    /// A frame from the relay.
    pub fn handle_frame(&mut self, frame: Frame, now: Instant) {
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
            Body::JoinResult(r) => match r.outcome {
                Some(m::join_result::Outcome::Accepted(a)) => {
                    let id = ParticipantId(a.participant_id);
                    let role = Role::from_proto(a.role).unwrap_or(Role::Reader);
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
                    self.events.push_back(ParticipantEvent::Joined { id, role });
                }
                Some(m::join_result::Outcome::Refused(r)) => {
                    self.phase = Phase::Idle;
                    self.events.push_back(ParticipantEvent::Denied(
                        RefusalReason::try_from(r).unwrap_or(RefusalReason::Unspecified),
                    ));
                }
                None => {}
            },
            Body::Presence(p) => {
                let id = ParticipantId(p.participant_id);
                match m::presence::State::try_from(p.state) {
                    Ok(m::presence::State::Left) => {
                        self.view.peers.remove(&id);
                    }
                    Ok(_) => {
                        let profile = p.profile.unwrap_or_default();
                        let role = Role::from_proto(p.role).unwrap_or(Role::Reader);
                        let peer = self.view.peers.entry(id).or_insert_with(|| Peer {
                            name: String::new(),
                            device_label: String::new(),
                            role,
                            focus: None,
                            layout: Vec::new(),
                        });
                        peer.name = profile.name;
                        peer.device_label = profile.device_label;
                        peer.role = role;
                    }
                    Err(_) => return,
                }
                self.events.push_back(ParticipantEvent::Presence(id));
            }
            Body::HostStatus(s) => {
                self.view.host_online = s.online;
                if s.online {
                    if self.host_was_offline {
                        // The host resumed with fresh epochs: new runs follow.
                        for reader in self.outputs.values_mut() {
                            reader.expect_new_run = true;
                        }
                        // Input in flight to the old connection is lost:
                        // keystrokes continue in new runs.
                        self.inputs.clear();
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
                self.events.push_back(ParticipantEvent::Ended(
                    EndReason::try_from(e.reason).unwrap_or(EndReason::Unspecified),
                ));
            }
            Body::TerminalOpened(o) => {
                let term = TerminalId(o.terminal_id);
                self.view.terminals.insert(
                    term,
                    TerminalView {
                        control: access::Control::new(ParticipantId(o.owner)),
                        rows: o.rows,
                        cols: o.cols,
                        label: o.label,
                        agent: None,
                        lock: None,
                    },
                );
                self.outputs.entry(term).or_default();
                self.events
                    .push_back(ParticipantEvent::TerminalOpened(term));
            }
            Body::TerminalClosed(c) => {
                let term = TerminalId(c.terminal_id);
                self.view.terminals.remove(&term);
                self.outputs.remove(&term);
                self.status.remove(&term);
                self.inputs.remove(&term);
                self.events
                    .push_back(ParticipantEvent::TerminalClosed(term));
            }
            Body::TerminalResize(r) => {
                let term = TerminalId(r.terminal_id);
                if let Some(t) = self.view.terminals.get_mut(&term) {
                    t.rows = r.rows;
                    t.cols = r.cols;
                    self.events
                        .push_back(ParticipantEvent::TerminalResized(term));
                }
            }
            Body::ControlChanged(c) => {
                let term = TerminalId(c.terminal_id);
                if let Some(t) = self.view.terminals.get_mut(&term) {
                    t.control = access::Control {
                        owner: ParticipantId(c.owner),
                        controller: ParticipantId(c.controller),
                    };
                }
                self.events.push_back(ParticipantEvent::ControlChanged {
                    term,
                    reason: ControlReason::try_from(c.reason).unwrap_or(ControlReason::Unspecified),
                    requester: ParticipantId(c.requester),
                });
            }
            Body::AdoptionRequest(a) => {
                self.events.push_back(ParticipantEvent::AdoptionRequested {
                    term: TerminalId(a.terminal_id),
                    requester: ParticipantId(a.requester),
                })
            }
            Body::FocusLock(l) => {
                if let Some(t) = self.view.terminals.get_mut(&TerminalId(l.terminal_id)) {
                    t.lock = (l.holder != 0).then_some(ParticipantId(l.holder));
                }
            }
            Body::Focus(f) => {
                if let Some(peer) = self.view.peers.get_mut(&ParticipantId(f.participant_id)) {
                    peer.focus = (f.terminal_id != 0).then_some(TerminalId(f.terminal_id));
                }
            }
            Body::Layout(l) => {
                if let Some(peer) = self.view.peers.get_mut(&ParticipantId(l.participant_id)) {
                    peer.layout = l.tiles;
                }
            }
            Body::Chat(c) => {
                let line = ChatLine {
                    from: ParticipantId(c.from),
                    seq: c.seq,
                    text: c.text,
                };
                if self.view.chat.len() == CHAT_KEPT {
                    self.view.chat.pop_front();
                }
                self.view.chat.push_back(line.clone());
                self.events.push_back(ParticipantEvent::Chat(line));
            }
            Body::ReplayStart(r) => {
                let term = TerminalId(r.terminal_id);
                let asked = self.history_asked.remove(&term);
                let reader = self.outputs.entry(term).or_default();
                // A replay begins a terminal's reading (at join) or answers
                // this participant's own HistoryRequest; any other would let
                // a relay present old output as new (SPEC.md 6.5).
                let unread = reader.opener.is_none() && reader.left_in_run == 0;
                if !asked && !unread {
                    return;
                }
                reader.replay = r
                    .runs
                    .into_iter()
                    .filter(|run| run.frame_count > 0)
                    .collect();
                reader.left_in_run = 0;
                reader.replay_first = true;
                if let Some(epoch) = reader.opener.take().and_then(|o| o.epoch()) {
                    reader.past.remember(epoch);
                }
                reader.skip_until = None;
            }
            Body::Refused(r) => {
                let term = TerminalId(r.terminal_id);
                if r.action == crate::relay::sealed_action(Direction::Input) {
                    // The refused frame's number is missing from the run:
                    // the next keystroke starts a new one (SPEC.md 11.2).
                    self.inputs.remove(&term);
                }
                self.events.push_back(ParticipantEvent::ActionRefused {
                    action: r.action,
                    term,
                    reason: ActionRefusal::try_from(r.reason).unwrap_or(ActionRefusal::Unspecified),
                });
            }
            Body::Ping(p) => self
                .out
                .push_back(Frame::control(Body::Pong(m::Pong { nonce: p.nonce }))),
            _ => {}
        }
    }

    fn sealed(&mut self, frame: SealedFrame) {
        let h = *frame.header();
        let result = match h.direction {
            Direction::Output => self.output(&frame),
            Direction::Status => self.agent_status(&frame),
            Direction::Snapshot => self.snapshot(&frame),
            // Input never travels towards participants.
            Direction::Input => Ok(()),
        };
        if let Err(error) = result {
            self.events.push_back(ParticipantEvent::StreamError {
                term: h.terminal,
                direction: h.direction,
                error,
            });
        }
    }

    fn output(&mut self, frame: &SealedFrame) -> Result<(), OpenError> {
        let h = *frame.header();
        let Some(reader) = self.outputs.get_mut(&h.terminal) else {
            return Ok(());
        };
        // Does this frame start a run, and how may that run begin?
        let mut planned = None;
        let start = if reader.left_in_run == 0 {
            if let Some(run) = reader.replay.front() {
                if run.epoch.as_ref() != h.epoch.0 || run.first_seq != h.seq.0 {
                    // Not the replay the relay announced: drop the plan.
                    let expected = Seq(run.first_seq);
                    reader.replay.clear();
                    return Err(OpenError::Gap {
                        expected,
                        got: h.seq,
                    });
                }
                planned = Some(run.frame_count);
                // Only the oldest run may have lost its start to the ring.
                Some(if reader.replay_first {
                    Start::Anywhere
                } else {
                    Start::FromStart
                })
            } else {
                match &reader.opener {
                    // Live output of a terminal with nothing to replay.
                    None => Some(Start::Anywhere),
                    Some(o) if o.epoch() == Some(h.epoch) => None,
                    // A new run only where one is explained: after a host
                    // resume or the end of the previous run, and never one
                    // read before.
                    Some(o) if reader.expect_new_run || o.is_finished() => {
                        if reader.past.contains(h.epoch) {
                            return Err(OpenError::Replayed(h.seq));
                        }
                        Some(Start::FromStart)
                    }
                    Some(_) => None,
                }
            }
        } else {
            None
        };
        let opened = match start {
            Some(start) => {
                let mut opener = match self.keys.opener(h.terminal, Direction::Output, start) {
                    Ok(o) => o,
                    Err(_) => unreachable!("every role holds the output root"),
                };
                let opened = opener.open(frame)?;
                if let Some(epoch) = reader.opener.replace(opener).and_then(|o| o.epoch()) {
                    reader.past.remember(epoch);
                }
                reader.expect_new_run = false;
                if let Some(count) = planned {
                    reader.replay.pop_front();
                    reader.left_in_run = count;
                    reader.replay_first = false;
                }
                opened
            }
            None => match reader.opener.as_mut() {
                Some(o) => o.open(frame)?,
                None => return Ok(()),
            },
        };
        reader.left_in_run = reader.left_in_run.saturating_sub(1);
        if let Opened::Data(bytes) = opened {
            let in_snapshot = reader
                .skip_until
                .is_some_and(|(epoch, next)| epoch == h.epoch && h.seq < next);
            let seen = reader
                .shown
                .is_some_and(|(epoch, last)| epoch == h.epoch && h.seq <= last);
            if !seen {
                reader.shown = Some((h.epoch, h.seq));
            }
            if !in_snapshot && !seen && !bytes.is_empty() {
                self.events.push_back(ParticipantEvent::Output {
                    term: h.terminal,
                    bytes,
                });
            }
        }
        Ok(())
    }

    fn agent_status(&mut self, frame: &SealedFrame) -> Result<(), OpenError> {
        let h = *frame.header();
        if !self.view.terminals.contains_key(&h.terminal) {
            return Ok(());
        }
        let reader = self.status.entry(h.terminal).or_default();
        let opened = match reader.opener.as_mut() {
            Some(o) if o.epoch() == Some(h.epoch) => o.open(frame)?,
            // The latest status wins: a new run may begin at any time and
            // anywhere (a joiner gets only its last frame), but never a
            // run read before. The current run changes only on success.
            _ => {
                if reader.past.contains(h.epoch) {
                    return Err(OpenError::Replayed(h.seq));
                }
                let mut opener =
                    match self
                        .keys
                        .opener(h.terminal, Direction::Status, Start::Anywhere)
                    {
                        Ok(o) => o,
                        Err(_) => unreachable!("every role holds the output root"),
                    };
                let opened = opener.open(frame)?;
                if let Some(old) = reader.opener.replace(opener).and_then(|o| o.epoch()) {
                    reader.past.remember(old);
                }
                opened
            }
        };
        let Opened::Data(plaintext) = opened else {
            return Ok(());
        };
        let status = match m::SealedRecord::decode(plaintext) {
            Ok(m::SealedRecord {
                body: Some(sealed_record::Body::AgentStatus(s)),
            }) => AgentStatus::from_proto(&s),
            _ => return Ok(()),
        };
        if let Some(t) = self.view.terminals.get_mut(&h.terminal)
            && t.agent != status
        {
            t.agent = status.clone();
            self.events.push_back(ParticipantEvent::AgentStatus {
                term: h.terminal,
                status,
            });
        }
        Ok(())
    }

    fn snapshot(&mut self, frame: &SealedFrame) -> Result<(), OpenError> {
        let h = *frame.header();
        if self.snapshots_seen.contains(&h.epoch) {
            return Err(OpenError::Replayed(h.seq));
        }
        let mut opener = match self
            .keys
            .opener(h.terminal, Direction::Snapshot, Start::FromStart)
        {
            Ok(o) => o,
            Err(_) => unreachable!("every role holds the output root"),
        };
        let Opened::Data(plaintext) = opener.open(frame)? else {
            return Ok(());
        };
        if self.snapshots_seen.len() == SNAPSHOTS_REMEMBERED {
            self.snapshots_seen.pop_front();
        }
        self.snapshots_seen.push_back(h.epoch);
        let Ok(m::SealedRecord {
            body: Some(sealed_record::Body::Snapshot(snap)),
        }) = m::SealedRecord::decode(plaintext)
        else {
            return Ok(());
        };
        let Ok(epoch) = <[u8; 16]>::try_from(snap.output_epoch.as_ref()) else {
            return Ok(());
        };
        if let Some(reader) = self.outputs.get_mut(&h.terminal) {
            reader.skip_until = Some((Epoch(epoch), Seq(snap.output_seq)));
        }
        self.events.push_back(ParticipantEvent::Snapshot {
            term: h.terminal,
            rows: snap.rows,
            cols: snap.cols,
            screen: snap.screen,
        });
        Ok(())
    }

    // ---- actions -----------------------------------------------------------

    fn me(&self) -> Result<(ParticipantId, Role), ActionError> {
        match (self.phase, self.view.me) {
            (Phase::Joined, Some(me)) => Ok(me),
            _ => Err(ActionError::NotJoined),
        }
    }

    fn allowed(
        &self,
        action: Action,
        term: Option<TerminalId>,
    ) -> Result<ParticipantId, ActionError> {
        let (id, role) = self.me()?;
        let control = term
            .and_then(|t| self.view.terminals.get(&t))
            .map(|t| &t.control);
        access::check(role, id, action, control)?;
        Ok(id)
    }

    /// Type into a terminal this participant may control.
    pub fn send_input(&mut self, term: TerminalId, bytes: &[u8]) -> Result<(), ActionError> {
        let id = self.allowed(Action::Input, Some(term))?;
        let sealer = match self.inputs.entry(term) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let epoch = random_epoch(&mut self.rng);
                let sealer = self
                    .keys
                    .sealer(term, Direction::Input, id, epoch)
                    .map_err(|_| ActionError::Refused(Refusal::ReadOnly))?;
                v.insert(sealer.with_max_frame_len(self.config.max_frame_len))
            }
        };
        let chunk = sealer.max_plaintext_len().max(1);
        for piece in bytes.chunks(chunk) {
            match sealer.seal(piece) {
                Ok(frame) => self.out.push_back(Frame::Sealed(frame)),
                Err(_) => return Err(ActionError::TooLong),
            }
        }
        Ok(())
    }

    /// Ask the owner for control of a terminal.
    pub fn request_adoption(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.allowed(Action::RequestAdoption, Some(term))?;
        self.out
            .push_back(Frame::control(Body::AdoptionRequest(m::AdoptionRequest {
                terminal_id: term.0,
                requester: 0,
            })));
        Ok(())
    }

    /// Approve or deny an adoption request for a terminal this participant
    /// owns.
    pub fn answer_adoption(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        approve: bool,
    ) -> Result<(), ActionError> {
        self.allowed(Action::AnswerAdoption, Some(term))?;
        self.out
            .push_back(Frame::control(Body::AdoptionAnswer(m::AdoptionAnswer {
                terminal_id: term.0,
                requester: requester.0,
                approve,
            })));
        Ok(())
    }

    /// Hand control of an owned terminal to another writer.
    pub fn grant(&mut self, term: TerminalId, to: ParticipantId) -> Result<(), ActionError> {
        self.allowed(Action::Grant, Some(term))?;
        self.out
            .push_back(Frame::control(Body::ControlGrant(m::ControlGrant {
                terminal_id: term.0,
                grantee: to.0,
            })));
        Ok(())
    }

    /// Take control of an owned terminal back.
    pub fn revoke(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.allowed(Action::Revoke, Some(term))?;
        self.out
            .push_back(Frame::control(Body::ControlRevoke(m::ControlRevoke {
                terminal_id: term.0,
            })));
        Ok(())
    }

    /// Admins: take control of any terminal.
    pub fn take_over(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.allowed(Action::TakeOver, Some(term))?;
        self.out
            .push_back(Frame::control(Body::TakeOver(m::TakeOver {
                terminal_id: term.0,
            })));
        Ok(())
    }

    /// Ask the host for a new terminal owned by this participant.
    pub fn create_terminal(
        &mut self,
        rows: u32,
        cols: u32,
        label: &str,
    ) -> Result<(), ActionError> {
        self.allowed(Action::Create, None)?;
        self.out
            .push_back(Frame::control(Body::TerminalCreate(m::TerminalCreate {
                requester: 0,
                rows,
                cols,
                label: crate::agent::cut_label(label.to_owned()),
            })));
        Ok(())
    }

    /// Ask for a new size of a controlled terminal.
    pub fn resize(&mut self, term: TerminalId, rows: u32, cols: u32) -> Result<(), ActionError> {
        self.allowed(Action::Resize, Some(term))?;
        self.out
            .push_back(Frame::control(Body::TerminalResize(m::TerminalResize {
                terminal_id: term.0,
                rows,
                cols,
                requester: 0,
            })));
        Ok(())
    }

    /// Ask to close a controlled terminal.
    pub fn close_terminal(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.allowed(Action::Close, Some(term))?;
        self.out
            .push_back(Frame::control(Body::TerminalClose(m::TerminalClose {
                terminal_id: term.0,
                requester: 0,
            })));
        Ok(())
    }

    /// Change this participant's display name and device label (each cut
    /// to `MAX_NAME_BYTES` / `MAX_LABEL_BYTES`): everyone is told, and a
    /// rejoin uses them. Names are display data, never permission.
    pub fn set_profile(&mut self, name: &str, device_label: &str) -> Result<(), ActionError> {
        let (id, _) = self.me()?;
        self.config.name = crate::agent::cut_label(name.to_owned());
        self.config.device_label = crate::agent::cut_label(device_label.to_owned());
        if let Some(peer) = self.view.peers.get_mut(&id) {
            peer.name = self.config.name.clone();
            peer.device_label = self.config.device_label.clone();
        }
        self.out
            .push_back(Frame::control(Body::Presence(m::Presence {
                participant_id: 0,
                profile: Some(m::Profile {
                    name: self.config.name.clone(),
                    device_label: self.config.device_label.clone(),
                }),
                role: 0,
                state: m::presence::State::Updated as i32,
            })));
        Ok(())
    }

    /// Say something in the chat.
    pub fn chat(&mut self, text: &str) -> Result<(), ActionError> {
        self.me()?;
        if text.len() > MAX_CHAT_BYTES {
            return Err(ActionError::TooLong);
        }
        self.out.push_back(Frame::control(Body::Chat(m::Chat {
            from: 0,
            seq: 0,
            text: text.to_owned(),
        })));
        Ok(())
    }

    /// Tell the others which terminal this participant looks at.
    pub fn set_focus(&mut self, term: Option<TerminalId>) -> Result<(), ActionError> {
        self.me()?;
        self.out.push_back(Frame::control(Body::Focus(m::Focus {
            participant_id: 0,
            terminal_id: term.map_or(0, |t| t.0),
        })));
        Ok(())
    }

    /// Replay a terminal's buffered output again (0 = all terminals).
    pub fn request_history(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.me()?;
        if term.0 == 0 {
            self.history_asked
                .extend(self.view.terminals.keys().copied());
        } else {
            self.history_asked.insert(term);
        }
        self.out
            .push_back(Frame::control(Body::HistoryRequest(m::HistoryRequest {
                terminal_id: term.0,
            })));
        Ok(())
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

    /// The next frame for the relay.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ParticipantEvent> {
        self.events.pop_front()
    }
}
