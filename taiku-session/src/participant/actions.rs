//! What a participant may ask for (SPEC.md 11.2). Every action is checked
//! locally with the same rules as the relay ([`crate::access`]), so a
//! request the relay would refuse is never sent.

use rand_core::CryptoRng;
use taiku_proto::limits::MAX_CHAT_BYTES;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, TerminalId};

use super::{Participant, Phase};
use crate::access::{self, Action, Handoff, Refusal};
use crate::admin::AdminAction;

/// Why a local request was refused before anything was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// The host's ticket for this participant has not arrived yet; a
    /// signed action names it (SPEC.md 4.7). Try again shortly.
    #[error("the host has not sent this participant its ticket yet")]
    NotReady,
    /// Keystrokes waiting for the host's input ticket are over
    /// [`PENDING_INPUT_BYTES`](super::PENDING_INPUT_BYTES).
    #[error("too much input waiting for the host")]
    Backlog,
    /// The host does not publish that port.
    #[error("the host does not publish that port")]
    NotPublished,
    /// [`MAX_FORWARDS`](super::MAX_FORWARDS) forwards are open already.
    #[error("too many forwards open")]
    TooManyForwards,
}

impl<R: CryptoRng> Participant<R> {
    pub(super) fn me(&self) -> Result<(ParticipantId, Role), ActionError> {
        match (self.phase, self.view.me) {
            (Phase::Joined, Some(me)) => Ok(me),
            _ => Err(ActionError::NotJoined),
        }
    }

    pub(super) fn allowed(
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

    /// Ask the relay for a handoff, checked with the relay's rules.
    fn handoff(&mut self, term: TerminalId, request: Handoff) -> Result<(), ActionError> {
        let (id, role) = self.me()?;
        let control = self.view.terminals.get(&term).map(|t| &t.control);
        access::handoff(role, id, control, request)?;
        self.out.push_back(Frame::control(request.message(term)));
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
        // Keys typed meanwhile are held ([`Participant::send_input`]).
        self.inputs.held.entry(term).or_default();
        Ok(())
    }

    /// Approve or deny an adoption request for a terminal this participant
    /// owns. Only the relay knows which requests are pending; it refuses an
    /// answer to none (`NO_PENDING_REQUEST`).
    pub fn answer_adoption(
        &mut self,
        term: TerminalId,
        requester: ParticipantId,
        approve: bool,
    ) -> Result<(), ActionError> {
        let pending = true;
        self.handoff(
            term,
            Handoff::Answer {
                requester,
                approve,
                pending,
            },
        )
    }

    /// Hand control of an owned terminal to another writer or admin.
    pub fn grant(&mut self, term: TerminalId, to: ParticipantId) -> Result<(), ActionError> {
        let grantee_role = self.view.peers.get(&to).map(|p| p.role);
        self.handoff(
            term,
            Handoff::Grant {
                grantee: to,
                grantee_role,
            },
        )
    }

    /// Take control of an owned terminal back.
    pub fn revoke(&mut self, term: TerminalId) -> Result<(), ActionError> {
        self.handoff(term, Handoff::Revoke)
    }

    /// Admins: take control of any terminal. The request is signed with
    /// the admin-action key (SPEC.md 4.7), so the host applies it only if
    /// this admin sent it.
    pub fn take_over(&mut self, term: TerminalId) -> Result<(), ActionError> {
        let (id, role) = self.me()?;
        let control = self.view.terminals.get(&term).map(|t| &t.control);
        access::handoff(role, id, control, Handoff::TakeOver)?;
        let (counter, signature) = self.sign_admin(AdminAction::TakeOver { terminal: term })?;
        self.out
            .push_back(Frame::control(Body::TakeOver(m::TakeOver {
                terminal_id: term.0,
                requester: 0,
                counter,
                signature,
            })));
        Ok(())
    }

    /// Admins: publish (`enable`) or withdraw a port of the host's as a
    /// tunnel, signed like a take-over.
    pub fn administer_tunnel(&mut self, port: u32, enable: bool) -> Result<(), ActionError> {
        self.allowed(Action::AdministerTunnels, None)?;
        let (counter, signature) = self.sign_admin(AdminAction::Tunnel { port, enable })?;
        self.out
            .push_back(Frame::control(Body::TunnelAdmin(m::TunnelAdmin {
                port,
                enable,
                requester: 0,
                counter,
                signature,
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
        access::check_chat(text, MAX_CHAT_BYTES).map_err(|_| ActionError::TooLong)?;
        self.out.push_back(Frame::control(Body::Chat(m::Chat {
            text: text.to_owned(),
            ..m::Chat::default()
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
}
