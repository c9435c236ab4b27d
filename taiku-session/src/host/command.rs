//! Commands run inside a shared shell (SPEC.md 11.3, 11.7): bound to
//! their terminal by its shell token before anything happens, limited in
//! rate per terminal, then carried out on that terminal only. The local
//! channel's requests arrive here as bytes, so the transport only moves
//! them.

use std::time::Instant;

use bytes::Bytes;
use prost::Message;
use rand_core::CryptoRng;
use taiku_proto::limits::{MAX_NOTICE_BYTES, MAX_SHELL_REPLY_BYTES, MAX_SHELL_REQUEST_BYTES};
use taiku_proto::message::{self as m, control::Body, sealed_record, shell_request::Action};
use taiku_proto::{Direction, Frame, ParticipantId, Role, TerminalId};
use zeroize::Zeroizing;

use super::shell::BindError;
use super::{Host, HostError, Person, Phase, ShellAction, ShellError, ShellOutcome};
use crate::agent::{AgentStatus, cut_label, cut_text, needs_attention};

impl<R: CryptoRng> Host<R> {
    /// A command run inside a shared shell presented `token` (from its
    /// environment) and optionally named a terminal. It is bound to the
    /// token's terminal, then held to that terminal's rate, and only that
    /// terminal can be affected.
    pub fn shell_command(
        &mut self,
        token: Option<&str>,
        named: Option<TerminalId>,
        action: ShellAction,
        now: Instant,
    ) -> Result<ShellOutcome, ShellError> {
        let term = self.tokens.bind(token, named)?;
        let (command_burst, command_refill) =
            (self.config.command_burst, self.config.command_refill);
        let (notice_burst, notice_refill) = (self.config.notice_burst, self.config.notice_refill);
        let online = self.phase == Phase::Online;
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(BindError::ClosedTerminal)?;
        if matches!(action, ShellAction::Notify(_)) && !online {
            return Err(ShellError::Offline);
        }
        // A notice, and a status that asks for attention (a bell, a
        // browser notification), also take a token of the notice bucket.
        // Both buckets are checked before either is taken from: a refusal
        // changes nothing.
        let alerts = match &action {
            ShellAction::Notify(_) => true,
            ShellAction::SetAgentStatus(s) => needs_attention(t.agent.as_ref(), s.as_ref()),
            _ => false,
        };
        if !t.commands.ready(command_burst, command_refill, now)
            || (alerts && !t.notices.ready(notice_burst, notice_refill, now))
        {
            return Err(ShellError::RateLimited(term));
        }
        t.commands.take(command_burst, command_refill, now);
        if alerts {
            t.notices.take(notice_burst, notice_refill, now);
        }
        match action {
            ShellAction::SetAgentStatus(status) => {
                t.hooked = status.is_some();
                // Cleared: the detector is heard again, from what it
                // has seen meanwhile.
                let status = match status {
                    None => t.detector.as_ref().and_then(|d| d.current()),
                    set => set,
                };
                self.apply_status(term, status);
            }
            ShellAction::Notify(text) => self.send_notice(term, cut_text(text, MAX_NOTICE_BYTES)),
            ShellAction::SetLabel(label) => {
                let _ = self.set_label(term, &label);
            }
            ShellAction::Who => return Ok(ShellOutcome::People(term, self.people())),
        }
        Ok(ShellOutcome::Done(term))
    }

    /// One request of the local command channel (SPEC.md 11.7): the body
    /// of a `ShellRequest`, carried out by
    /// [`shell_command`](Self::shell_command); returns the `ShellReply` to
    /// send back. Anything that is not a request with an action is
    /// `MALFORMED`.
    pub fn handle_shell_request(&mut self, body: &[u8], now: Instant) -> m::ShellReply {
        let refused = |reason: m::ShellRefusal| m::ShellReply {
            refused: reason as i32,
            ..Default::default()
        };
        if body.len() > MAX_SHELL_REQUEST_BYTES {
            return refused(m::ShellRefusal::Malformed);
        }
        let Ok(request) = m::ShellRequest::decode(body) else {
            return refused(m::ShellRefusal::Malformed);
        };
        let action = match request.action {
            None => return refused(m::ShellRefusal::Malformed),
            // UNSPECIFIED clears; a state this host does not know is not
            // taken for a clear.
            Some(Action::SetStatus(s)) if s.state == m::AgentState::Unspecified as i32 => {
                ShellAction::SetAgentStatus(None)
            }
            Some(Action::SetStatus(s)) => match AgentStatus::from_proto(&s) {
                Some(status) => ShellAction::SetAgentStatus(Some(status)),
                None => return refused(m::ShellRefusal::Malformed),
            },
            Some(Action::Notify(text)) => ShellAction::Notify(text),
            Some(Action::SetLabel(label)) => ShellAction::SetLabel(label),
            Some(Action::Who(_)) => ShellAction::Who,
        };
        let presented = Zeroizing::new(request.token);
        let token = (!presented.is_empty()).then_some(presented.as_str());
        let named = (request.terminal_id != 0).then_some(TerminalId(request.terminal_id));
        match self.shell_command(token, named, action, now) {
            Ok(ShellOutcome::Done(term)) => m::ShellReply {
                terminal_id: term.0,
                ..Default::default()
            },
            Ok(ShellOutcome::People(term, people)) => {
                let mut reply = m::ShellReply {
                    terminal_id: term.0,
                    ..Default::default()
                };
                // As many as fit the reply's limit (all, with the default
                // max_participants), counted as they are added.
                let mut len = reply.encoded_len();
                for p in people {
                    let person = m::Person {
                        participant_id: p.id.0,
                        name: p.name,
                        role: p.role.to_proto(),
                        device_label: p.device_label,
                    };
                    // The person's bytes and its field's tag and length.
                    let more = person.encoded_len() + 4;
                    if len + more > MAX_SHELL_REPLY_BYTES {
                        break;
                    }
                    len += more;
                    reply.people.push(person);
                }
                reply
            }
            Err(e) => shell_refusal(e),
        }
    }

    /// The people present: the host, then every participant it knows.
    pub fn people(&self) -> Vec<Person> {
        let host = Person {
            id: ParticipantId::HOST,
            name: self.config.name.clone(),
            role: Role::Admin,
            device_label: self.config.device_label.clone(),
        };
        core::iter::once(host)
            .chain(self.members.iter().map(|(id, member)| Person {
                id: *id,
                name: member.name.clone(),
                role: member.role,
                device_label: member.device_label.clone(),
            }))
            .collect()
    }

    /// Set a terminal's label (cut to `MAX_LABEL_BYTES`) and tell everyone
    /// (`TerminalLabel`); sent on reconnect if the host is offline now.
    pub fn set_label(&mut self, term: TerminalId, label: &str) -> Result<(), HostError> {
        let label = cut_label(label.to_owned());
        let t = self
            .terminals
            .get_mut(&term)
            .ok_or(HostError::UnknownTerminal(term))?;
        if t.label == label {
            return Ok(());
        }
        t.label = label;
        if self.phase == Phase::Online && t.announced {
            self.send_label(term);
        }
        Ok(())
    }

    pub(super) fn send_label(&mut self, term: TerminalId) {
        if let Some(t) = self.terminals.get(&term) {
            self.out
                .push_back(Frame::control(Body::TerminalLabel(m::TerminalLabel {
                    terminal_id: term.0,
                    label: t.label.clone(),
                })));
        }
    }

    /// Seal a notice into the terminal's status run, then its status again:
    /// the relay keeps a run's last frame for joiners, and that must stay
    /// the status (SPEC.md 11.4).
    fn send_notice(&mut self, term: TerminalId, text: String) {
        let Some(t) = self.terminals.get(&term) else {
            return;
        };
        // A notice is never the first frame of a run (participants take
        // a run's first frame they read as the latest state, not news).
        if t.status.next_seq().0 == 0 {
            self.send_status(term);
        }
        let Some(t) = self.terminals.get(&term) else {
            return;
        };
        // Where the output stands binds the notice to now (SPEC.md 11.4).
        let notice = m::Notice {
            text,
            output_epoch: Bytes::copy_from_slice(&t.output.sealer.epoch().0),
            output_seq: t.output.sealer.next_seq().0,
        };
        let record = m::SealedRecord {
            body: Some(sealed_record::Body::Notice(notice)),
        };
        self.seal_status_record(term, &record.encode_to_vec());
        self.send_status(term);
    }

    pub(super) fn apply_status(&mut self, term: TerminalId, status: Option<AgentStatus>) {
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        if t.agent == status {
            return;
        }
        t.agent = status;
        self.send_status(term);
    }

    pub(super) fn send_status(&mut self, term: TerminalId) {
        let Some(t) = self.terminals.get(&term) else {
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
        self.seal_status_record(term, &record.encode_to_vec());
    }

    fn seal_status_record(&mut self, term: TerminalId, record: &[u8]) {
        if self.phase != Phase::Online {
            return;
        }
        let Some(t) = self.terminals.get_mut(&term) else {
            return;
        };
        match t.status.seal(record) {
            Ok(frame) => self.out.push_back(Frame::Sealed(frame)),
            // A status record is a few hundred bytes at most, so only an
            // exhausted run (2^64 - 1 frames) fails: go on in a new run.
            Err(_) => {
                let mut fresh = self.new_sealer(term, Direction::Status, ParticipantId::HOST);
                if let Ok(frame) = fresh.seal(record) {
                    self.out.push_back(Frame::Sealed(frame));
                }
                if let Some(t) = self.terminals.get_mut(&term) {
                    t.status = fresh;
                }
            }
        }
    }
}

/// The reply to a refused request.
fn shell_refusal(e: ShellError) -> m::ShellReply {
    let (reason, bound, named) = match e {
        ShellError::Bind(BindError::NoToken) => (m::ShellRefusal::NoToken, 0, 0),
        ShellError::Bind(BindError::UnknownToken) => (m::ShellRefusal::UnknownToken, 0, 0),
        ShellError::Bind(BindError::ClosedTerminal) => (m::ShellRefusal::ClosedTerminal, 0, 0),
        ShellError::Bind(BindError::WrongTerminal { bound, named }) => {
            (m::ShellRefusal::WrongTerminal, bound.0, named.0)
        }
        ShellError::RateLimited(term) => (m::ShellRefusal::RateLimited, term.0, 0),
        ShellError::Offline => (m::ShellRefusal::Offline, 0, 0),
    };
    m::ShellReply {
        refused: reason as i32,
        terminal_id: bound,
        named,
        people: Vec::new(),
    }
}
