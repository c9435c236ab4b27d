//! The host's terminals (SPEC.md 11.1, 11.3, 11.4): opening and
//! announcing them, their size, closing them, and the agent status of
//! each, set by a shell-bound command or a detector fed that terminal's
//! output.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;
use rand_core::CryptoRng;
use taiku_crypto::{StreamSealer, random_epoch};
use taiku_proto::limits::terminal_size;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Frame, ParticipantId, TerminalId};

use super::output::OutputStream;
use super::shell::ShellToken;
use super::{Host, HostError, HostTerminal, Phase};
use crate::access;
use crate::agent::AgentDetector;
use crate::bucket::TokenBucket;
use crate::screen::ScreenModel;

/// A terminal dimension (already fitted by `terminal_size`) as a model's.
fn fit_u16(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

impl<R: CryptoRng> Host<R> {
    /// A new PTY exists: announce it and return its id and the token to put
    /// in its shell's environment under [`SHELL_TOKEN_ENV`](super::SHELL_TOKEN_ENV). The size is
    /// fitted by [`terminal_size`].
    pub fn open_terminal(
        &mut self,
        owner: ParticipantId,
        rows: u32,
        cols: u32,
        label: &str,
        now: Instant,
    ) -> Result<(TerminalId, ShellToken), HostError> {
        access::may_own(self.role_of(owner)).map_err(|_| HostError::InvalidOwner(owner))?;
        if self.terminals.len() >= self.config.max_terminals {
            return Err(HostError::TooManyTerminals);
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
                hooked: false,
                detector: self.default_detector(),
                commands: TokenBucket::full(self.config.command_burst, now),
                notices: TokenBucket::full(self.config.notice_burst, now),
                screen: self.default_screen(rows, cols),
                pending: BytesMut::new(),
                pending_since: None,
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

    pub(super) fn new_sealer(
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

    pub(super) fn new_output(&mut self, term: TerminalId) -> OutputStream {
        OutputStream {
            sealer: self.new_sealer(term, Direction::Output, ParticipantId::HOST),
            backlog: VecDeque::new(),
            backlog_bytes: 0,
        }
    }

    pub(super) fn announce(&mut self, id: TerminalId) {
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
    pub(super) fn announce_all(&mut self, now: Instant) {
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

    /// Install the model of `term`'s screen that snapshots are made from,
    /// fed with this terminal's output only from now on (SPEC.md 11.6); or
    /// none, to raise [`HostEvent::SnapshotRequested`](super::HostEvent)
    /// instead.
    pub fn set_screen(
        &mut self,
        term: TerminalId,
        mut screen: Option<Box<dyn ScreenModel>>,
    ) -> Result<(), HostError> {
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        if let Some(s) = screen.as_mut() {
            s.resize(fit_u16(t.rows), fit_u16(t.cols));
        }
        t.screen = screen;
        Ok(())
    }

    /// The screen model of a terminal, if it has one.
    pub fn screen(&self, term: TerminalId) -> Option<&dyn ScreenModel> {
        self.terminals.get(&term)?.screen.as_deref()
    }

    pub(super) fn default_detector(&self) -> Option<Box<dyn AgentDetector>> {
        self.config
            .detectors
            .then(crate::agent::detect::default_detector)
    }

    pub(super) fn default_screen(&self, rows: u32, cols: u32) -> Option<Box<dyn ScreenModel>> {
        #[cfg(feature = "screen")]
        if self.config.screens {
            let screen = crate::screen::Screen::new(fit_u16(rows), fit_u16(cols));
            return Some(Box::new(screen));
        }
        let _ = (rows, cols);
        None
    }

    /// The PTY's size changed (on a participant's request or locally). The
    /// size announced is fitted by
    /// [`terminal_size`].
    pub fn resize(&mut self, term: TerminalId, rows: u32, cols: u32) -> Result<(), HostError> {
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        let (rows, cols) = terminal_size(rows, cols);
        t.rows = rows;
        t.cols = cols;
        if let Some(s) = t.screen.as_mut() {
            s.resize(fit_u16(rows), fit_u16(cols));
        }
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
        self.forget_input(term);
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
}
