//! Plaintext coordination from admitted members (SPEC.md 6.3 and 6.4):
//! presence, focus, chat and layout fanned out with the sender's id;
//! terminal and tunnel requests forwarded to the host; handoffs decided by
//! [`access::handoff`] and broadcast. The host is member 0 with the admin
//! role.

use std::time::Instant;

use rand_core::CryptoRng;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, SessionId, TerminalId};

use super::session::{Terminal, control_changed, focus_lock, presence};
use super::{Relay, Timer};
use crate::access::{self, Action, Handoff, LockChange, Refusal};

/// A refusal and the terminal it names (0 for none).
type Refused = (TerminalId, Refusal);

const NO_TERMINAL: TerminalId = TerminalId(0);

impl<R: CryptoRng> Relay<R> {
    pub(super) fn member_control(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        body: Body,
        now: Instant,
    ) -> Result<(), Refused> {
        self.within_rate(session, id, &body, now)
            .map_err(|r| (NO_TERMINAL, r))?;
        match body {
            Body::Presence(p) => self.presence_update(session, id, p),
            Body::Focus(f) => {
                let frame = Frame::control(Body::Focus(m::Focus {
                    participant_id: id.0,
                    terminal_id: f.terminal_id,
                }));
                self.broadcast(session, &frame);
                Ok(())
            }
            Body::Chat(c) => self.chat(session, id, c, now),
            Body::Layout(l) => {
                access::check_layout(&l.tiles, self.config.max_layout_tiles)
                    .map_err(|r| (NO_TERMINAL, r))?;
                let frame = Frame::control(Body::Layout(m::Layout {
                    participant_id: id.0,
                    tiles: l.tiles,
                }));
                self.broadcast(session, &frame);
                Ok(())
            }
            Body::TerminalCreate(c) => {
                self.forward_to_host(session, id, role, Body::TerminalCreate(c), now)
            }
            Body::TerminalClose(c) => {
                self.forward_to_host(session, id, role, Body::TerminalClose(c), now)
            }
            Body::TerminalResize(r) => {
                self.forward_to_host(session, id, role, Body::TerminalResize(r), now)
            }
            Body::TunnelAdmin(t) => {
                self.forward_to_host(session, id, role, Body::TunnelAdmin(t), now)
            }
            Body::AdoptionRequest(r) => self.adoption_request(session, id, role, r, now),
            Body::AdoptionAnswer(a) => {
                let t = TerminalId(a.terminal_id);
                let requester = ParticipantId(a.requester);
                let pending = self
                    .terminal(session, t)
                    .is_some_and(|term| term.adoptions.contains_key(&requester));
                let request = Handoff::Answer {
                    requester,
                    approve: a.approve,
                    pending,
                };
                self.handoff(session, id, role, t, request)
            }
            Body::ControlGrant(g) => {
                let grantee = ParticipantId(g.grantee);
                let grantee_role = self.sessions.get(session).and_then(|s| s.role_of(grantee));
                let request = Handoff::Grant {
                    grantee,
                    grantee_role,
                };
                self.handoff(session, id, role, TerminalId(g.terminal_id), request)
            }
            Body::ControlRevoke(r) => self.handoff(
                session,
                id,
                role,
                TerminalId(r.terminal_id),
                Handoff::Revoke,
            ),
            Body::TakeOver(t) => self.take_over(session, id, role, t),
            _ => Err((NO_TERMINAL, Refusal::Invalid)),
        }
    }

    /// A take-over is applied here and forwarded, with the verified
    /// requester, to the host, which checks the admin's signature (SPEC.md
    /// 4.7) before it applies it to its own table: the host must be online.
    fn take_over(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        request: m::TakeOver,
    ) -> Result<(), Refused> {
        let t = TerminalId(request.terminal_id);
        let control = self.terminal(session, t).map(|term| term.control);
        access::check(role, id, Action::TakeOver, control.as_ref()).map_err(|r| (t, r))?;
        let host = self
            .sessions
            .get(session)
            .and_then(|s| s.host_conn())
            .ok_or((t, Refusal::HostOffline))?;
        self.handoff(session, id, role, t, Handoff::TakeOver)?;
        self.send(
            host,
            Frame::control(Body::TakeOver(m::TakeOver {
                requester: id.0,
                ..request
            })),
        );
        Ok(())
    }

    /// Everything a participant sends at will that the relay fans out or
    /// hands to the host has a rate (SPEC.md 6.4, 7.2): metadata
    /// (presence, focus, layout), requests (terminals, tunnels, hand-offs)
    /// and history each have a token bucket per participant; chat has its
    /// own. The host is not limited.
    pub(super) fn within_rate(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        body: &Body,
        now: Instant,
    ) -> Result<(), Refusal> {
        let c = &self.config;
        let Some(member) = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.members.get_mut(&id))
        else {
            return Ok(());
        };
        let allowed = match body {
            Body::Presence(_) | Body::Focus(_) | Body::Layout(_) => {
                member
                    .metadata
                    .take(c.metadata_burst, c.metadata_refill, now)
            }
            Body::TerminalCreate(_)
            | Body::TerminalClose(_)
            | Body::TerminalResize(_)
            | Body::TunnelAdmin(_)
            | Body::ForwardOpen(_)
            | Body::TunnelCredentialRequest(_)
            | Body::AdoptionRequest(_)
            | Body::AdoptionAnswer(_)
            | Body::ControlGrant(_)
            | Body::ControlRevoke(_)
            | Body::TakeOver(_) => member.requests.take(c.request_burst, c.request_refill, now),
            Body::HistoryRequest(_) => member.history.take(c.history_burst, c.history_refill, now),
            _ => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::RateLimited)
        }
    }

    fn presence_update(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        update: m::Presence,
    ) -> Result<(), Refused> {
        access::check_profile(update.profile.as_ref()).map_err(|r| (NO_TERMINAL, r))?;
        let profile = update.profile.unwrap_or_default();
        let s = self
            .sessions
            .get_mut(session)
            .ok_or((NO_TERMINAL, Refusal::Invalid))?;
        let frame = if id == ParticipantId::HOST {
            s.host_profile = profile;
            s.host_presence(m::presence::State::Updated)
        } else {
            let member = s
                .members
                .get_mut(&id)
                .ok_or((NO_TERMINAL, Refusal::Invalid))?;
            member.profile = profile;
            presence(id, member, m::presence::State::Updated)
        };
        self.broadcast(session, &frame);
        Ok(())
    }

    fn chat(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        chat: m::Chat,
        now: Instant,
    ) -> Result<(), Refused> {
        let config = &self.config;
        access::check_chat(&chat.text, config.max_chat_bytes).map_err(|r| (NO_TERMINAL, r))?;
        let s = self
            .sessions
            .get_mut(session)
            .ok_or((NO_TERMINAL, Refusal::Invalid))?;
        if let Some(member) = s.members.get_mut(&id)
            && !member.chat.take(config.chat_burst, config.chat_refill, now)
        {
            return Err((NO_TERMINAL, Refusal::RateLimited));
        }
        s.chat_seq += 1;
        let line = m::Chat {
            from: id.0,
            seq: s.chat_seq,
            text: chat.text,
            age_ms: 0,
        };
        s.chat.push_back((line.clone(), now));
        while s.chat.len() > config.chat_history {
            s.chat.pop_front();
        }
        self.broadcast(session, &Frame::control(Body::Chat(line)));
        Ok(())
    }

    /// `TerminalCreate`, `TerminalClose`, `TerminalResize` and
    /// `TunnelAdmin`: checked, then forwarded to the host with the
    /// verified requester.
    fn forward_to_host(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        body: Body,
        now: Instant,
    ) -> Result<(), Refused> {
        let s = self
            .sessions
            .get(session)
            .ok_or((NO_TERMINAL, Refusal::Invalid))?;
        let (action, t) = match &body {
            Body::TerminalCreate(_) => (Action::Create, NO_TERMINAL),
            Body::TerminalClose(c) => (Action::Close, TerminalId(c.terminal_id)),
            Body::TerminalResize(r) => (Action::Resize, TerminalId(r.terminal_id)),
            _ => (Action::AdministerTunnels, NO_TERMINAL),
        };
        access::check(role, id, action, s.terminals.get(&t).map(|t| &t.control))
            .map_err(|r| (t, r))?;
        let host = s.host_conn().ok_or((t, Refusal::HostOffline))?;
        let forward = match body {
            Body::TerminalCreate(c) => {
                if s.terminals_counted(now) >= self.config.max_terminals {
                    return Err((t, Refusal::LimitReached));
                }
                access::check_label(&c.label).map_err(|r| (t, r))?;
                Body::TerminalCreate(m::TerminalCreate {
                    requester: id.0,
                    ..c
                })
            }
            Body::TerminalClose(c) => Body::TerminalClose(m::TerminalClose {
                requester: id.0,
                ..c
            }),
            Body::TerminalResize(r) => Body::TerminalResize(m::TerminalResize {
                requester: id.0,
                ..r
            }),
            Body::TunnelAdmin(t) => Body::TunnelAdmin(m::TunnelAdmin {
                requester: id.0,
                ..t
            }),
            other => other,
        };
        if matches!(forward, Body::TerminalCreate(_))
            && let Some(s) = self.sessions.get_mut(session)
        {
            // Counted until the host answers with TerminalOpened, or for
            // create_timeout if it never does.
            s.pending_creates.retain(|t| *t > now);
            s.pending_creates
                .push_back(now + self.config.create_timeout);
        }
        self.send(host, Frame::control(forward));
        Ok(())
    }

    fn adoption_request(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        request: m::AdoptionRequest,
        now: Instant,
    ) -> Result<(), Refused> {
        let t = TerminalId(request.terminal_id);
        let timeout = self.config.adoption_timeout;
        let s = self
            .sessions
            .get_mut(session)
            .ok_or((t, Refusal::Invalid))?;
        let term = s.terminals.get(&t);
        let pending = term.is_some_and(|term| term.adoptions.contains_key(&id));
        access::request_adoption(role, id, term.map(|t| &t.control), pending)
            .map_err(|r| (t, r))?;
        let owner = term.map_or(ParticipantId::HOST, |term| term.control.owner);
        let owner_conn = s.conn_of(owner).ok_or((t, Refusal::HostOffline))?;
        if let Some(term) = s.terminals.get_mut(&t) {
            term.adoptions.insert(id, now + timeout);
        }
        self.arm(now + timeout, Timer::Adoption(session.clone(), t, id));
        self.send(
            owner_conn,
            Frame::control(Body::AdoptionRequest(m::AdoptionRequest {
                terminal_id: t.0,
                requester: id.0,
            })),
        );
        Ok(())
    }

    /// Decide a handoff with [`access::handoff`], apply it and broadcast
    /// the change. An answered or granted request is no longer pending.
    fn handoff(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        t: TerminalId,
        request: Handoff,
    ) -> Result<(), Refused> {
        let term = self.terminal_mut(session, t);
        let control = term.as_ref().map(|term| &term.control);
        let change = access::handoff(role, id, control, request).map_err(|r| (t, r))?;
        let Some(term) = term else {
            return Err((t, Refusal::UnknownTerminal));
        };
        let before = term.control.controller;
        term.control = change.control;
        if let Handoff::Answer { requester, .. }
        | Handoff::Grant {
            grantee: requester, ..
        } = request
        {
            term.adoptions.remove(&requester);
        }
        // Whoever lost control may not type any more: its typing lock goes
        // with it, so the new controller is not locked out (SPEC.md 6.3).
        let released = before != change.control.controller
            && before != change.control.owner
            && term.lock.release(before) == LockChange::Released;
        self.broadcast(session, &control_changed(t, &change));
        if released {
            self.broadcast(session, &focus_lock(t, ParticipantId::HOST, 0));
        }
        Ok(())
    }

    pub(super) fn terminal(&self, session: &SessionId, t: TerminalId) -> Option<&Terminal> {
        self.sessions.get(session)?.terminals.get(&t)
    }

    pub(super) fn terminal_mut(
        &mut self,
        session: &SessionId,
        t: TerminalId,
    ) -> Option<&mut Terminal> {
        self.sessions.get_mut(session)?.terminals.get_mut(&t)
    }
}
