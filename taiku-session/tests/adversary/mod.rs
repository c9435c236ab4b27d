//! A dishonest relay between the real host and participant machines.
//!
//! An honest relay machine does the routing, but everything it sends to
//! the host or to the writer passes through an adversary that can deliver,
//! drop, delay and reorder it, re-inject any frame it ever saw (from the
//! relay, from the writer, from the host), and forge any control message a
//! relay may send: leaves and joins, refusals, host status, replays. The
//! oracle is independent of the code under test: keystrokes and output
//! are numbered chunks, and what the host delivers and the writer shows
//! must be each chunk at most once, in order.
//!
//! Shared by `tests/dishonest_relay.rs` and the `dishonest_relay` fuzz
//! target: a script is just bytes.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rand_core::SeedableRng;
use taiku_crypto::Link;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, TerminalId};
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};

type Rng = chacha20::ChaCha20Rng;

const ORIGIN: &str = "https://relay.example";
const HOST: ConnId = ConnId(1);
const WRITER: ConnId = ConnId(2);

/// One move of the adversary (or of the people it sits between).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The writer types the next numbered chunk.
    Type,
    /// The host's shell prints the next numbered chunk.
    Print,
    /// Deliver the frame at this position of the host's queue.
    ToHost(u8),
    /// Deliver the frame at this position of the writer's queue.
    ToWriter(u8),
    /// Drop the frame at the front of the host's queue.
    DropToHost,
    /// Drop the frame at the front of the writer's queue.
    DropToWriter,
    /// Re-inject to the host a frame seen before (by index).
    ReplayToHost(u8),
    /// Re-inject to the writer a frame seen before (by index).
    ReplayToWriter(u8),
    /// Tell the host the writer left, then that it joined again.
    ForgeLeaveJoin,
    /// Tell the host the writer left.
    ForgeLeave,
    /// Refuse one of the writer's keystrokes, so it starts a new run.
    ForgeRefusedInput,
    /// Tell the writer the host went away and came back.
    ForgeHostResume,
    /// Replay a terminal's history to the writer unasked.
    ForgeReplayStart,
    /// Forge an admin's take-over of the writer's terminal: a bad
    /// signature, or a `ControlChanged{TAKEN_OVER}` on the relay's word.
    ForgeTakeOver(u8),
    /// Time passes.
    Advance(u8),
}

impl Step {
    /// A script from bytes: two bytes a step.
    pub fn script(bytes: &[u8]) -> Vec<Step> {
        bytes
            .chunks(2)
            .map(|pair| {
                let (kind, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
                match kind % 15 {
                    0 => Step::Type,
                    1 => Step::Print,
                    2 => Step::ToHost(arg),
                    3 => Step::ToWriter(arg),
                    4 => Step::DropToHost,
                    5 => Step::DropToWriter,
                    6 => Step::ReplayToHost(arg),
                    7 => Step::ReplayToWriter(arg),
                    8 => Step::ForgeLeaveJoin,
                    9 => Step::ForgeLeave,
                    10 => Step::ForgeRefusedInput,
                    11 => Step::ForgeHostResume,
                    12 => Step::ForgeReplayStart,
                    13 => Step::ForgeTakeOver(arg),
                    _ => Step::Advance(arg),
                }
            })
            .collect()
    }
}

/// The host, the writer, the honest relay machine and the adversary.
pub struct World {
    now: Instant,
    relay: Relay<Rng>,
    pub host: Host<Rng>,
    pub writer: Participant<Rng>,
    writer_id: ParticipantId,
    term: TerminalId,
    to_host: VecDeque<Frame>,
    to_writer: VecDeque<Frame>,
    /// Every frame the adversary saw, for re-injection.
    seen: Vec<Frame>,
    typed: u32,
    printed: u32,
    /// Keystroke bytes the host delivered from the writer.
    pub delivered: Vec<u8>,
    /// Output bytes the writer showed.
    pub shown: Vec<u8>,
}

/// Chunk numbers in `bytes` (`<tag><n>;` repeated), in order.
pub fn chunks(bytes: &[u8], tag: u8) -> Vec<u32> {
    bytes
        .split(|b| *b == b';')
        .filter(|c| !c.is_empty())
        .map(|c| {
            assert_eq!(c[0], tag, "a chunk the oracle never made: {c:?}");
            std::str::from_utf8(&c[1..])
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a mangled chunk: {c:?}"))
        })
        .collect()
}

impl World {
    /// A session with one writer that owns one terminal, everything
    /// delivered honestly so far.
    pub fn new(seed: u8) -> World {
        let options = taiku_session::SessionOptions::default();
        let now = Instant::now();
        let host = Host::generate(HostConfig::default(), options, Rng::from_seed([seed; 32]));
        let link = Link::parse(&host.link(ORIGIN, Role::Writer).unwrap().to_url()).unwrap();
        let writer = Participant::new(
            ParticipantConfig::default(),
            &link,
            Rng::from_seed([seed.wrapping_add(1); 32]),
        );
        let mut w = World {
            now,
            relay: Relay::new(
                RelayConfig::default(),
                Rng::from_seed([seed.wrapping_add(2); 32]),
            ),
            host,
            writer,
            writer_id: ParticipantId(0),
            term: TerminalId(0),
            to_host: VecDeque::new(),
            to_writer: VecDeque::new(),
            seen: Vec::new(),
            typed: 0,
            printed: 0,
            delivered: Vec::new(),
            shown: Vec::new(),
        };
        w.relay.handle_connect(HOST, now);
        w.host.connect(now);
        w.honest();
        w.relay.handle_connect(WRITER, now);
        w.writer.connect(now);
        w.honest();
        w.writer_id = w.writer.view().me.expect("the writer joined").0;
        let (term, _) = w
            .host
            .open_terminal(w.writer_id, 24, 80, "sh", now)
            .expect("a terminal");
        w.term = term;
        w.honest();
        w
    }

    /// Move frames through the relay machine into the adversary's queues.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.host.poll_transmit() {
                self.seen.push(f.clone());
                self.relay.handle_frame(HOST, f, self.now);
                moved = true;
            }
            while let Some(f) = self.writer.poll_transmit() {
                self.seen.push(f.clone());
                self.relay.handle_frame(WRITER, f, self.now);
                moved = true;
            }
            while let Some(t) = self.relay.poll_transmit() {
                if let Transmit::Send { conn, frame } = t {
                    self.seen.push(frame.clone());
                    match conn {
                        HOST => self.to_host.push_back(frame),
                        _ => self.to_writer.push_back(frame),
                    }
                }
            }
            while self.relay.poll_event().is_some() {}
            self.collect();
            if !moved {
                break;
            }
        }
    }

    fn collect(&mut self) {
        while let Some(e) = self.host.poll_event() {
            if let HostEvent::Input { from, bytes, .. } = e
                && from == self.writer_id
            {
                self.delivered.extend_from_slice(&bytes);
            }
        }
        while let Some(e) = self.writer.poll_event() {
            if let ParticipantEvent::Output { bytes, .. } = e {
                self.shown.extend_from_slice(&bytes);
            }
        }
    }

    /// Deliver everything queued, in order, until nothing moves.
    pub fn honest(&mut self) {
        loop {
            self.pump();
            if self.to_host.is_empty() && self.to_writer.is_empty() {
                break;
            }
            while let Some(f) = self.to_host.pop_front() {
                self.host.handle_frame(f, self.now);
            }
            while let Some(f) = self.to_writer.pop_front() {
                self.writer.handle_frame(f, self.now);
            }
        }
    }

    fn forge_to_host(&mut self, body: Body) {
        self.host.handle_frame(Frame::control(body), self.now);
    }

    fn forge_to_writer(&mut self, body: Body) {
        self.writer.handle_frame(Frame::control(body), self.now);
    }

    fn presence(&self, state: m::presence::State) -> Body {
        Body::Presence(m::Presence {
            participant_id: self.writer_id.0,
            profile: None,
            role: Role::Writer.to_proto(),
            state: state as i32,
        })
    }

    /// The writer types the next chunk: `k<n>;`.
    pub fn type_chunk(&mut self) {
        self.typed += 1;
        let chunk = format!("k{};", self.typed);
        let _ = self.writer.send_input(self.term, chunk.as_bytes());
    }

    /// The host's shell prints the next chunk: `o<n>;`.
    pub fn print_chunk(&mut self) {
        self.printed += 1;
        let chunk = format!("o{};", self.printed);
        let _ = self
            .host
            .handle_output(self.term, chunk.as_bytes(), self.now);
    }

    pub fn step(&mut self, step: Step) {
        match step {
            Step::Type => self.type_chunk(),
            Step::Print => self.print_chunk(),
            Step::ToHost(i) => {
                if !self.to_host.is_empty() {
                    let i = usize::from(i) % self.to_host.len();
                    if let Some(f) = self.to_host.remove(i) {
                        self.host.handle_frame(f, self.now);
                    }
                }
            }
            Step::ToWriter(i) => {
                if !self.to_writer.is_empty() {
                    let i = usize::from(i) % self.to_writer.len();
                    if let Some(f) = self.to_writer.remove(i) {
                        self.writer.handle_frame(f, self.now);
                    }
                }
            }
            Step::DropToHost => {
                self.to_host.pop_front();
            }
            Step::DropToWriter => {
                self.to_writer.pop_front();
            }
            Step::ReplayToHost(i) => {
                if !self.seen.is_empty() {
                    let f = self.seen[usize::from(i) * 7 % self.seen.len()].clone();
                    self.host.handle_frame(f, self.now);
                }
            }
            Step::ReplayToWriter(i) => {
                if !self.seen.is_empty() {
                    let f = self.seen[usize::from(i) * 7 % self.seen.len()].clone();
                    self.writer.handle_frame(f, self.now);
                }
            }
            Step::ForgeLeaveJoin => {
                self.forge_to_host(self.presence(m::presence::State::Left));
                self.forge_to_host(self.presence(m::presence::State::Joined));
            }
            Step::ForgeLeave => self.forge_to_host(self.presence(m::presence::State::Left)),
            Step::ForgeRefusedInput => self.forge_to_writer(Body::Refused(m::Refused {
                action: 0x102,
                terminal_id: self.term.0,
                reason: m::ActionRefusal::FocusLocked as i32,
            })),
            Step::ForgeHostResume => {
                for online in [false, true] {
                    self.forge_to_writer(Body::HostStatus(m::HostStatus {
                        online,
                        grace_remaining_ms: 1000,
                    }));
                }
            }
            Step::ForgeReplayStart => self.forge_to_writer(Body::ReplayStart(m::ReplayStart {
                terminal_id: self.term.0,
                runs: Vec::new(),
                complete: true,
            })),
            Step::ForgeTakeOver(n) => {
                let thief = ParticipantId(u32::from(n % 3) + 70);
                let body = if n % 2 == 0 {
                    Body::TakeOver(m::TakeOver {
                        terminal_id: self.term.0,
                        requester: thief.0,
                        counter: u64::from(n),
                        signature: vec![n; 64].into(),
                    })
                } else {
                    Body::ControlChanged(m::ControlChanged {
                        terminal_id: self.term.0,
                        owner: self.writer_id.0,
                        controller: thief.0,
                        reason: m::ControlReason::TakenOver as i32,
                        requester: thief.0,
                    })
                };
                self.forge_to_host(body);
            }
            Step::Advance(ms) => {
                self.now += Duration::from_millis(u64::from(ms) * 10);
                self.relay.handle_timeout(self.now);
                self.host.handle_timeout(self.now);
                self.writer.handle_timeout(self.now);
            }
        }
        self.pump();
    }

    /// Run a script, then check the invariants.
    pub fn run(&mut self, script: &[Step]) {
        for step in script {
            self.step(*step);
        }
        self.check();
    }

    /// Each keystroke chunk reaches the host at most once and in order;
    /// each output chunk is shown at most once and in order; no take-over
    /// the host did not verify moved control of the writer's terminal.
    pub fn check(&self) {
        let control = self.host.terminal_control(self.term);
        assert_eq!(
            control.map(|c| c.controller),
            Some(self.writer_id),
            "an unverified take-over was applied"
        );
        for (what, bytes, tag) in [
            ("input", &self.delivered, b'k'),
            ("output", &self.shown, b'o'),
        ] {
            let got = chunks(bytes, tag);
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "{what} delivered twice or out of order: {got:?}"
            );
        }
    }

    /// Keystroke chunks the host delivered.
    pub fn delivered_chunks(&self) -> Vec<u32> {
        chunks(&self.delivered, b'k')
    }

    /// Everything honest from here on: what was typed since reaches the
    /// host.
    pub fn settle(&mut self) {
        self.honest();
    }

    pub fn typed(&self) -> u32 {
        self.typed
    }

    /// Recorded frames, for tests that replay by hand.
    pub fn seen(&self) -> &[Frame] {
        &self.seen
    }

    /// Hand a frame to the host as the relay would.
    pub fn inject_to_host(&mut self, frame: Frame) {
        self.host.handle_frame(frame, self.now);
        self.pump();
    }

    /// The writer's participant id.
    pub fn writer_id(&self) -> ParticipantId {
        self.writer_id
    }

    /// Forge a leave and a rejoin of the writer to the host.
    pub fn forge_leave_join(&mut self) {
        self.step(Step::ForgeLeaveJoin);
    }

    /// Make the writer start a new input run (a forged refusal).
    pub fn forge_refusal(&mut self) {
        self.step(Step::ForgeRefusedInput);
    }

    /// Number of terminals' sealed input frames the writer sent.
    pub fn input_frames(&self) -> Vec<Frame> {
        self.seen
            .iter()
            .filter(|f| matches!(f, Frame::Sealed(s) if s.header().direction == taiku_proto::Direction::Input))
            .cloned()
            .collect()
    }

    /// Terminal of the session.
    pub fn terminal(&self) -> TerminalId {
        self.term
    }

    /// Delivered keystrokes by chunk number, counting repeats.
    pub fn delivery_counts(&self) -> BTreeMap<u32, usize> {
        let mut counts = BTreeMap::new();
        for c in self.delivered_chunks() {
            *counts.entry(c).or_default() += 1;
        }
        counts
    }
}
