//! The participant's keystrokes (SPEC.md 11.2): sealed input runs, each
//! opened by a run start that names the host's ticket for this
//! participant and a run index that only grows, so that the host can tell
//! every run is fresh. Keystrokes typed before the ticket arrives wait,
//! within a bound.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use rand_core::CryptoRng;
use taiku_crypto::{StreamSealer, random_epoch};
use taiku_proto::message as m;
use taiku_proto::{Direction, Frame, TerminalId};

use super::{ActionError, Participant};
use crate::access::{Action, Refusal};
use crate::admin::AdminAction;
use crate::ticket::Ticket;

/// Keystrokes kept, over all terminals, while no input ticket has arrived.
pub const PENDING_INPUT_BYTES: usize = 64 * 1024;

/// Keystrokes held per terminal while this participant's request to
/// control it waits (SPEC.md 11.2): sent whole once control comes, or
/// dropped whole.
pub const HELD_INPUT_BYTES: usize = 4 * 1024;

/// The input side of a participant.
#[derive(Default)]
pub(super) struct Inputs {
    /// The host's ticket for this participant on this connection.
    ticket: Option<Ticket>,
    /// The current run into each terminal.
    runs: BTreeMap<TerminalId, StreamSealer>,
    /// The index of the last run started; never decreases.
    last_index: u64,
    /// The counter of the last administrative action signed; never
    /// decreases.
    admin_counter: u64,
    /// Keystrokes typed before the ticket arrived.
    pending: BTreeMap<TerminalId, Vec<u8>>,
    pending_bytes: usize,
    /// Keystrokes typed into terminals whose control this participant
    /// asked for and does not have yet.
    pub(super) held: BTreeMap<TerminalId, Vec<u8>>,
}

impl Inputs {
    /// The host's ticket for this participant, once it arrived.
    pub(super) fn ticket(&self) -> Option<Ticket> {
        self.ticket
    }

    /// A new connection: no ticket yet, no runs, nothing pending.
    pub(super) fn reset(&mut self) {
        self.ticket = None;
        self.runs.clear();
        self.pending.clear();
        self.pending_bytes = 0;
    }

    /// The next keystroke to `term` starts a new run.
    pub(super) fn end_run(&mut self, term: TerminalId) {
        self.runs.remove(&term);
    }

    /// Every terminal's next keystroke starts a new run.
    pub(super) fn end_runs(&mut self) {
        self.runs.clear();
    }

    /// `term` closed.
    pub(super) fn forget(&mut self, term: TerminalId) {
        self.runs.remove(&term);
        if let Some(bytes) = self.pending.remove(&term) {
            self.pending_bytes -= bytes.len();
        }
    }
}

impl<R: CryptoRng> Participant<R> {
    /// Keystrokes held for `term` (its control was asked for) go out, or
    /// are dropped, as its control now is: sent whole if this participant
    /// controls it, dropped whole if its request was answered otherwise.
    pub(super) fn settle_held(&mut self, term: TerminalId, answered: bool) {
        let mine = self.view.me.map(|(id, _)| id);
        let controls = self
            .view
            .terminals
            .get(&term)
            .is_some_and(|t| Some(t.control.controller) == mine);
        if !controls && !answered {
            return;
        }
        let Some(bytes) = self.inputs.held.remove(&term) else {
            return;
        };
        let sent = controls && (bytes.is_empty() || self.send_input(term, &bytes).is_ok());
        self.events.push_back(super::ParticipantEvent::HeldInput {
            term,
            len: bytes.len(),
            sent,
        });
    }

    /// Every held keystroke is dropped (the connection is gone, or the
    /// terminal closed).
    pub(super) fn drop_held(&mut self) {
        for (term, bytes) in std::mem::take(&mut self.inputs.held) {
            self.events.push_back(super::ParticipantEvent::HeldInput {
                term,
                len: bytes.len(),
                sent: false,
            });
        }
    }

    /// Type into a terminal this participant may control. While its own
    /// request to control `term` waits, keystrokes are held (at most
    /// [`HELD_INPUT_BYTES`]) and go out whole once control comes, or are
    /// dropped whole: never a part of them (SPEC.md 11.2).
    pub fn send_input(&mut self, term: TerminalId, bytes: &[u8]) -> Result<(), ActionError> {
        if let Some(held) = self.inputs.held.get_mut(&term) {
            if held.len() + bytes.len() > HELD_INPUT_BYTES {
                return Err(ActionError::Backlog);
            }
            held.extend_from_slice(bytes);
            return Ok(());
        }
        self.allowed(Action::Input, Some(term))?;
        if self.inputs.ticket.is_none() {
            let inputs = &mut self.inputs;
            if inputs.pending_bytes + bytes.len() > PENDING_INPUT_BYTES {
                return Err(ActionError::Backlog);
            }
            inputs.pending_bytes += bytes.len();
            inputs
                .pending
                .entry(term)
                .or_default()
                .extend_from_slice(bytes);
            return Ok(());
        }
        self.seal_input(term, bytes)
    }

    fn seal_input(&mut self, term: TerminalId, bytes: &[u8]) -> Result<(), ActionError> {
        let id = self.allowed(Action::Input, Some(term))?;
        let Some(ticket) = self.inputs.ticket else {
            return Ok(());
        };
        let sealer = match self.inputs.runs.entry(term) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let epoch = random_epoch(&mut self.rng);
                let mut sealer = self
                    .keys
                    .sealer(term, Direction::Input, id, epoch)
                    .map_err(|_| ActionError::Refused(Refusal::ReadOnly))?
                    .with_max_frame_len(self.config.max_frame_len);
                self.inputs.last_index += 1;
                let start = ticket.run_start(self.inputs.last_index);
                let frame = sealer.seal(&start).map_err(|_| ActionError::TooLong)?;
                self.out.push_back(Frame::Sealed(frame));
                v.insert(sealer)
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

    /// The counter and signature of an administrative action under this
    /// participant's ticket.
    pub(super) fn sign_admin(
        &mut self,
        action: AdminAction,
    ) -> Result<(u64, bytes::Bytes), ActionError> {
        let (id, _) = self.me()?;
        let ticket = self.inputs.ticket.ok_or(ActionError::NotReady)?;
        let key = self
            .keys
            .admin_action_key()
            .map_err(|_| ActionError::Refused(Refusal::NotAdmin))?;
        self.inputs.admin_counter += 1;
        let counter = self.inputs.admin_counter;
        let signature = key.sign(&action.encode(id, &ticket, counter));
        Ok((counter, bytes::Bytes::copy_from_slice(&signature)))
    }

    /// `InputTicket`: the ticket this participant's runs must name. A new
    /// ticket ends every run (the host forgot the old ones); keystrokes
    /// that waited for it are sent, where they are still allowed.
    pub(super) fn input_ticket(&mut self, msg: m::InputTicket) {
        let mine = self
            .view
            .me
            .is_some_and(|(id, _)| id.0 == msg.participant_id);
        let Some(ticket) = Ticket::from_slice(&msg.ticket).filter(|_| mine) else {
            return;
        };
        if self.inputs.ticket != Some(ticket) {
            self.inputs.end_runs();
            self.inputs.ticket = Some(ticket);
        }
        let pending = core::mem::take(&mut self.inputs.pending);
        self.inputs.pending_bytes = 0;
        for (term, bytes) in pending {
            let _ = self.seal_input(term, &bytes);
        }
    }
}
