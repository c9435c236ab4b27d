//! Keystrokes from participants (SPEC.md 11.1): opened in sequence with
//! the sender's input opener, one run at a time, then checked against the
//! host's own copy of the rules before the application sees them.

use std::collections::btree_map::Entry;
use std::time::Instant;

use rand_core::CryptoRng;
use taiku_crypto::{KeySchedule, OpenError, Opened, Start, StreamOpener};
use taiku_proto::{Direction, SealedFrame, Seq};

use super::{Host, HostEvent, InputDrop};
use crate::access::{self, Action};
use crate::epochs::RecentEpochs;

impl<R: CryptoRng> Host<R> {
    pub(super) fn sealed(&mut self, frame: SealedFrame, now: Instant) {
        let h = *frame.header();
        // Only participants' input travels towards the host.
        if access::sealed_by_host(h.direction) {
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
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(InputRuns::default()),
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
}

/// Input runs of one participant for one terminal remembered by the host,
/// so that a relay cannot replay an earlier run (SPEC.md 11.1).
pub const INPUT_RUNS_REMEMBERED: usize = 32;

/// The input runs of one participant for one terminal: the current one,
/// and the epochs of earlier ones.
pub(super) struct InputRuns {
    current: Option<StreamOpener>,
    past: RecentEpochs,
}

impl Default for InputRuns {
    fn default() -> Self {
        InputRuns {
            current: None,
            past: RecentEpochs::new(INPUT_RUNS_REMEMBERED),
        }
    }
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
            Some(epoch) => epoch != h.epoch && h.seq == Seq(0) && !self.past.contains(h.epoch),
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
            self.past.remember(old);
        }
        self.current = Some(fresh);
        Ok(opened)
    }
}
