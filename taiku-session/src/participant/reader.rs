//! Reading the host's streams (SPEC.md 4.6, 6.5 and 11.2): each
//! terminal's output (the replay a `ReplayStart` announces, then live
//! frames, a new run only where one is explained), its agent status runs
//! and snapshots. A relay cannot present a run read before as new.

use std::collections::VecDeque;

use prost::Message;
use rand_core::CryptoRng;
use taiku_crypto::{OpenError, Opened, Start, StreamOpener};
use taiku_proto::limits::MAX_NOTICE_BYTES;
use taiku_proto::message::{self as m, sealed_record};
use taiku_proto::{Direction, Epoch, SealedFrame, Seq, TerminalId};

use super::{Participant, ParticipantEvent};
use crate::access;
use crate::agent::AgentStatus;
use crate::epochs::RecentEpochs;

/// Snapshot epochs remembered to refuse a replayed snapshot.
pub const SNAPSHOTS_REMEMBERED: usize = 64;

/// Output and status runs remembered per terminal, so that a relay cannot
/// replay an earlier run as a new one.
pub const RUNS_REMEMBERED: usize = 64;

/// Closed terminal ids a participant remembers, to refuse a relay that
/// announces one again (its runs would then be read as new).
pub const CLOSED_TERMINALS_REMEMBERED: usize = 1024;

/// How the output stream of one terminal is being read.
pub(super) struct OutputReader {
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
    /// The position the latest snapshot names: reading may jump there
    /// over frames this participant never got (SPEC.md 6.7).
    resume_at: Option<(Epoch, Seq)>,
    /// The last frame whose bytes were reported: a replay that repeats
    /// frames up to it reports nothing twice.
    shown: Option<(Epoch, Seq)>,
    /// The next planned run is the first of its `ReplayStart`, the only
    /// one that may begin anywhere.
    replay_first: bool,
    /// Epochs of runs read before; only a replay may list them again.
    past: RecentEpochs,
}

/// The status run of one terminal being read, and the runs read before.
pub(super) struct StatusReader {
    opener: Option<StreamOpener>,
    past: RecentEpochs,
    /// The status its last status record carried.
    latest: Option<AgentStatus>,
}

impl Default for OutputReader {
    fn default() -> Self {
        OutputReader {
            opener: None,
            replay: VecDeque::new(),
            left_in_run: 0,
            expect_new_run: false,
            skip_until: None,
            resume_at: None,
            shown: None,
            replay_first: false,
            past: RecentEpochs::new(RUNS_REMEMBERED),
        }
    }
}

impl Default for StatusReader {
    fn default() -> Self {
        StatusReader {
            opener: None,
            past: RecentEpochs::new(RUNS_REMEMBERED),
            latest: None,
        }
    }
}

impl OutputReader {
    /// The host resumed with fresh epochs: a new run may follow.
    pub(super) fn host_resumed(&mut self) {
        self.expect_new_run = true;
    }
}

/// The snapshot epochs read, remembered so that none is shown twice.
pub(super) fn snapshots_seen() -> RecentEpochs {
    RecentEpochs::new(SNAPSHOTS_REMEMBERED)
}

impl<R: CryptoRng> Participant<R> {
    /// `ReplayStart`: the runs that follow for one terminal.
    pub(super) fn replay_start(&mut self, r: m::ReplayStart) {
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
        reader.resume_at = None;
        self.events.push_back(ParticipantEvent::Replay {
            term,
            complete: r.complete,
        });
    }

    pub(super) fn sealed(&mut self, frame: SealedFrame) {
        let h = *frame.header();
        // Only the host's streams travel towards participants.
        if !access::sealed_by_host(h.direction) {
            return;
        }
        if h.direction == Direction::ForwardDown {
            return self.forward_sealed(&frame);
        }
        // Output and status are sealed under participant 0, a snapshot
        // under its target (0: everyone); anything else is not for us.
        let mine = self.view.me.map(|(id, _)| id);
        let addressed = match h.direction {
            Direction::Snapshot => h.participant.0 == 0 || Some(h.participant) == mine,
            _ => h.participant.0 == 0,
        };
        let result = if !addressed {
            Err(OpenError::WrongParticipant)
        } else {
            match h.direction {
                Direction::Status => self.agent_status(&frame),
                Direction::Snapshot => self.snapshot(&frame),
                _ => self.output(&frame),
            }
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
        // The frame a snapshot named, where this participant's reading
        // is elsewhere: the relay skipped it forward (6.7). The snapshot,
        // sealed by the host, covers everything in between.
        let jump = reader.resume_at == Some((h.epoch, h.seq))
            && !reader
                .opener
                .as_ref()
                .is_some_and(|o| o.epoch() == Some(h.epoch) && o.next_seq() == Some(h.seq));
        let skipped = match &reader.opener {
            Some(o) if jump => Some((o.epoch() == Some(h.epoch)).then(|| {
                o.next_seq()
                    .map_or(0, |next| h.seq.0.saturating_sub(next.0))
            })),
            _ => None,
        };
        if jump {
            reader.replay.clear();
            reader.left_in_run = 0;
        }
        // Does this frame start a run, and how may that run begin?
        let mut planned = None;
        let start = if jump {
            Some(Start::Anywhere)
        } else if reader.left_in_run == 0 {
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
                if let Some(epoch) = reader
                    .opener
                    .replace(opener)
                    .and_then(|o| o.epoch())
                    .filter(|e| *e != h.epoch)
                {
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
        if reader
            .resume_at
            .is_some_and(|(epoch, at)| epoch == h.epoch && h.seq >= at)
        {
            reader.resume_at = None;
        }
        if let Some(skipped) = skipped {
            self.events.push_back(ParticipantEvent::Resynced {
                term: h.terminal,
                skipped,
            });
        }
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
        // Whether this frame opened the run: its record is then the
        // latest state, never news (SPEC.md 11.4).
        let mut first = false;
        let opened = match reader.opener.as_mut() {
            // The frame read last, again: what a relay sends a participant
            // that rejoins (the reader outlives the connection).
            Some(o)
                if o.epoch() == Some(h.epoch)
                    && o.next_seq()
                        .is_some_and(|n| n.0 == h.seq.0.saturating_add(1)) =>
            {
                let latest = reader.latest.clone();
                self.show_status(h.terminal, latest);
                return Ok(());
            }
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
                first = true;
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
            Ok(m::SealedRecord {
                body: Some(sealed_record::Body::Notice(n)),
            }) => {
                // News only from a run being read live, and only if no
                // output after it has been shown: otherwise it is history
                // (a relay replaying it).
                let shown = self.outputs.get(&h.terminal).and_then(|r| r.shown);
                let fresh = match shown {
                    None => true,
                    Some((epoch, seq)) => {
                        n.output_epoch.as_ref() == epoch.0 && n.output_seq > seq.0
                    }
                };
                if !first && fresh {
                    self.events.push_back(ParticipantEvent::Notice {
                        term: h.terminal,
                        text: crate::agent::cut_text(n.text, MAX_NOTICE_BYTES),
                    });
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        if let Some(reader) = self.status.get_mut(&h.terminal) {
            reader.latest.clone_from(&status);
        }
        self.show_status(h.terminal, status);
        Ok(())
    }

    fn show_status(&mut self, term: TerminalId, status: Option<AgentStatus>) {
        if let Some(t) = self.view.terminals.get_mut(&term)
            && t.agent != status
        {
            t.agent = status.clone();
            self.events
                .push_back(ParticipantEvent::AgentStatus { term, status });
        }
    }

    fn snapshot(&mut self, frame: &SealedFrame) -> Result<(), OpenError> {
        let h = *frame.header();
        if self.snapshots_seen.contains(h.epoch) {
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
        self.snapshots_seen.remember(h.epoch);
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
            let at = (Epoch(epoch), Seq(snap.output_seq));
            reader.skip_until = Some(at);
            // Reading may jump to the position it names, never back to a
            // run read before nor behind what was read.
            let current = reader.opener.as_ref().filter(|o| o.epoch() == Some(at.0));
            let behind = current.is_some_and(|o| o.next_seq().is_some_and(|next| next >= at.1));
            let old = current.is_none() && reader.past.contains(at.0);
            reader.resume_at = (!behind && !old).then_some(at);
        }
        self.events.push_back(ParticipantEvent::Snapshot {
            term: h.terminal,
            rows: snap.rows,
            cols: snap.cols,
            screen: snap.screen,
        });
        Ok(())
    }
}
