//! The host's output streams (SPEC.md 11.1, 6.6): PTY output coalesced
//! and sealed, kept until the relay acknowledges it so that a resume can
//! re-send what the relay lacks, held while offline; flow control that
//! stops the PTY instead of dropping output; snapshots.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use prost::Message;
use rand_core::CryptoRng;
use taiku_crypto::{StreamSealer, random_epoch};
use taiku_proto::message::{self as m, control::Body, sealed_record};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Seq, TerminalId};

use super::{Host, HostError, HostEvent, HostTerminal, Phase};
use crate::access;
use crate::agent::AgentStatus;

/// Pings not yet answered, each with the next output sequence number of
/// every terminal when it was sent. At most [`MAX_ACKS`] are kept (the
/// oldest are forgotten: acknowledging less is always safe).
#[derive(Default)]
pub(super) struct Acks(VecDeque<(u64, Positions)>);

/// Each terminal's output run and next sequence number.
type Positions = Vec<(TerminalId, Epoch, Seq)>;

/// Unanswered pings remembered for acknowledgement.
const MAX_ACKS: usize = 8;

impl Acks {
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

impl HostTerminal {
    /// Output held that the relay has not acknowledged.
    pub(super) fn held(&self) -> usize {
        self.pending.len() + self.output.backlog_bytes
    }
}

pub(super) struct OutputStream {
    pub(super) sealer: StreamSealer,
    /// Recent sealed plaintexts of this run, for re-sending after a resume.
    pub(super) backlog: VecDeque<(Seq, Bytes)>,
    pub(super) backlog_bytes: usize,
}

/// Room kept in a snapshot frame for the record around the screen bytes
/// (epoch, sequence number, size, field headers).
const SNAPSHOT_RECORD_OVERHEAD: usize = 64;

impl<R: CryptoRng> Host<R> {
    /// PTY output of a terminal.
    pub fn handle_output(
        &mut self,
        term: TerminalId,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), HostError> {
        let online = self.phase == Phase::Online;
        let (coalesce_bytes, echo_window, held_bytes) = (
            self.config.coalesce_bytes,
            self.config.echo_window,
            self.config.resend_bytes,
        );
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        if t.held() >= held_bytes {
            // Nothing is dropped: the application keeps these bytes and
            // stops reading the PTY until there is room (SPEC.md 11.1).
            return Err(HostError::OutputFull(term));
        }
        // A detector reads every byte, but while a command (an agent's
        // hooks) owns the status it is not heard (SPEC.md 11.4).
        let detected = t
            .detector
            .as_mut()
            .and_then(|d| d.feed(bytes, now))
            .filter(|_| !t.hooked);
        if let Some(screen) = t.screen.as_mut() {
            screen.feed(bytes);
        }
        t.pending.extend_from_slice(bytes);
        if online {
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

    /// Seal everything pending for a terminal; ask the relay to
    /// acknowledge once a quarter of the bound is waiting for it.
    pub(super) fn flush(&mut self, term: TerminalId, now: Instant) {
        self.seal_pending(term);
        let waiting = self
            .terminals
            .get(&term)
            .is_some_and(|t| t.output.backlog_bytes >= self.config.resend_bytes / 4);
        if waiting
            && self.acks.0.is_empty()
            && let Some(ping) = self.keepalive.ping_now(now)
        {
            self.send_ping(ping);
        }
    }

    fn seal_pending(&mut self, term: TerminalId) {
        if self.phase != Phase::Online {
            return;
        }
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        t.pending_since = None;
        let gap = t.lost_frames > 0;
        if gap {
            self.events.push_back(HostEvent::OutputGap {
                term,
                frames: t.lost_frames,
            });
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
        // Viewers missed frames: repaint them from the screen (SPEC.md 11.6).
        if gap {
            self.seal_screen_snapshot(term, ParticipantId::HOST);
        }
    }

    /// How many more bytes of output [`handle_output`](Self::handle_output)
    /// takes for `term` now: 0 means stop reading its PTY and ask again
    /// later (room comes back as the relay acknowledges output).
    pub fn output_room(&self, term: TerminalId) -> Result<usize, HostError> {
        let t = self
            .terminals
            .get(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        Ok(self.config.resend_bytes.saturating_sub(t.held()))
    }

    /// Send a ping and remember where every terminal's output stood.
    pub(super) fn send_ping(&mut self, ping: m::Ping) {
        let positions = self
            .terminals
            .iter()
            .map(|(id, t)| (*id, t.output.sealer.epoch(), t.output.sealer.next_seq()))
            .collect();
        if self.acks.0.len() == MAX_ACKS {
            self.acks.0.pop_front();
        }
        self.acks.0.push_back((ping.nonce, positions));
        self.out.push_back(Frame::control(Body::Ping(ping)));
    }

    /// A `Pong`: the relay has every frame sent before that ping, so the
    /// backlog before it need not be kept for a resume.
    pub(super) fn acknowledge(&mut self, nonce: u64) {
        if !self.keepalive.sent(nonce) {
            return;
        }
        let mut acked = None;
        while self.acks.0.front().is_some_and(|(n, _)| *n <= nonce) {
            acked = self.acks.0.pop_front();
        }
        let Some((_, positions)) = acked else {
            return;
        };
        for (id, epoch, next) in positions {
            let Some(t) = self.terminals.get_mut(&id) else {
                continue;
            };
            if t.output.sealer.epoch() != epoch {
                continue;
            }
            while t.output.backlog.front().is_some_and(|(seq, _)| *seq < next) {
                if let Some((_, b)) = t.output.backlog.pop_front() {
                    t.output.backlog_bytes -= b.len();
                }
            }
        }
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
        self.seal_snapshot(term, requester, screen)
    }

    /// Answer a snapshot request from the terminal's screen model, if it
    /// has one; false if it has none (the application answers).
    pub(super) fn snapshot_from_screen(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        now: Instant,
    ) -> bool {
        if self.terminals.get(&term).is_none_or(|t| t.screen.is_none()) {
            return false;
        }
        self.flush(term, now);
        self.seal_screen_snapshot(term, requester);
        true
    }

    /// Seal a snapshot of the screen model (after a flush: it reflects
    /// everything sealed), as large as a frame holds.
    fn seal_screen_snapshot(&mut self, term: TerminalId, requester: ParticipantId) {
        let Some(t) = self.terminals.get(&term) else {
            return;
        };
        let Some(screen) = t.screen.as_ref() else {
            return;
        };
        let room = t
            .output
            .sealer
            .max_plaintext_len()
            .saturating_sub(SNAPSHOT_RECORD_OVERHEAD);
        let bytes = screen.snapshot(room);
        // Too large only if the screen alone outgrows a frame: nothing sent.
        let _ = self.seal_snapshot(term, requester, &bytes);
    }

    fn seal_snapshot(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        screen: &[u8],
    ) -> Result<(), HostError> {
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
        if self.phase == Phase::Online {
            // A screen larger than a frame holds cannot be sent.
            let frame = sealer
                .seal(&record.encode_to_vec())
                .map_err(|_| HostError::SnapshotTooLarge(term))?;
            self.out.push_back(Frame::Sealed(frame));
        }
        Ok(())
    }

    // ---- resume ----------------------------------------------------------

    /// The relay's view after a resume: re-send what it lacks in fresh runs.
    pub(super) fn resume(&mut self, state: m::ResumeState, now: Instant) {
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
            // A label set while offline.
            let relabel = relay.is_some_and(|r| r.label != t.label);
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
            if relabel {
                self.send_label(id);
            }
            self.flush(id, now);
            self.send_status(id);
        }
    }

    // ---- time and output ------------------------------------------------

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::Online {
            // Admitting or resuming: only pings and the liveness deadline.
            return self.keepalive.deadline();
        }
        let delay = self.config.coalesce_delay;
        self.terminals
            .values()
            .filter_map(|t| t.pending_since.map(|since| since + delay))
            .chain(self.detector_deadline())
            .chain(self.keepalive.deadline())
            .min()
    }

    /// The earliest time a detector's state changes by silence alone.
    fn detector_deadline(&self) -> Option<Instant> {
        self.terminals
            .values()
            .filter(|t| !t.hooked)
            .filter_map(|t| t.detector.as_ref()?.poll_timeout())
            .min()
    }

    /// Detectors whose state silence changes (SPEC.md 11.4).
    fn detectors_timeout(&mut self, now: Instant) {
        let changed: Vec<(TerminalId, AgentStatus)> = self
            .terminals
            .iter_mut()
            .filter(|(_, t)| !t.hooked)
            .filter_map(|(id, t)| Some((*id, t.detector.as_mut()?.handle_timeout(now)?)))
            .collect();
        for (id, status) in changed {
            self.apply_status(id, Some(status));
        }
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
        self.detectors_timeout(now);
        if let Some(ping) = self.keepalive.poll(now) {
            self.send_ping(ping);
        }
    }

    /// Whether the driver must close the connection now: nothing arrived
    /// on it for [`HostConfig::liveness_timeout`](super::HostConfig), so it
    /// is dead even if the transport has not noticed (a half-open TCP
    /// connection, a proxy that swallows bytes). Close it, call
    /// [`handle_disconnect`](Self::handle_disconnect) and reconnect.
    /// True once per dead connection.
    pub fn poll_close(&mut self) -> bool {
        self.keepalive.take_dead()
    }
}
