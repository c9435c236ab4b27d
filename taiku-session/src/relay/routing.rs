//! Routing (SPEC.md 6.4): what the host and each participant may send in
//! the session, and where it goes. Sealed frames are forwarded byte for
//! byte; plaintext coordination goes to [`control`](super::control).

use std::time::Instant;

use rand_core::CryptoRng;
use taiku_proto::message::{self as m, EndReason, control::Body};
use taiku_proto::{
    ActionCode, Direction, Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId,
};

use super::session::{Terminal, focus_lock, millis};
use super::{ConnId, Relay, Timer};
use crate::access::{self, Action, LockChange, Refusal};

impl<R: CryptoRng> Relay<R> {
    pub(super) fn host_frame(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        frame: Frame,
        now: Instant,
    ) {
        let host = ParticipantId::HOST;
        let body = match frame {
            Frame::Sealed(sealed) => return self.host_sealed(conn, session, sealed, now),
            Frame::Control(m::Control { body: None }) => return,
            Frame::Control(m::Control { body: Some(body) }) => body,
        };
        let code = ActionCode::of(&body);
        let result = match body {
            Body::TerminalOpened(msg) => self.terminal_opened(session, msg),
            Body::TerminalClosed(msg) => self.terminal_closed(session, msg),
            Body::TerminalResize(msg) => self.terminal_resized(session, msg),
            Body::TerminalLabel(msg) => self.terminal_labeled(session, msg),
            Body::InputTicket(msg) => {
                self.input_ticket(session, msg);
                Ok(())
            }
            Body::TunnelPorts(msg) => self.tunnel_ports(session, msg),
            body @ (Body::ForwardCredit(_) | Body::ForwardClose(_) | Body::ForwardData(_)) => {
                self.host_forward(session, body);
                Ok(())
            }
            Body::SessionEnded(_) => {
                self.end_session(session, EndReason::HostEnded);
                Ok(())
            }
            Body::Ping(p) => {
                self.pong(conn, p);
                Ok(())
            }
            Body::Pong(_) | Body::Error(_) => Ok(()),
            other @ (Body::Presence(_)
            | Body::Focus(_)
            | Body::Chat(_)
            | Body::Layout(_)
            | Body::AdoptionAnswer(_)
            | Body::ControlGrant(_)
            | Body::ControlRevoke(_)
            | Body::TakeOver(_)) => self.member_control(session, host, Role::Admin, other, now),
            _ => {
                self.violation(conn);
                Ok(())
            }
        };
        if let Err((terminal, reason)) = result {
            self.refuse(conn, session, host, code, terminal, reason);
        }
    }

    fn terminal_opened(
        &mut self,
        session: &SessionId,
        msg: m::TerminalOpened,
    ) -> Result<(), (TerminalId, Refusal)> {
        let id = TerminalId(msg.terminal_id);
        let max = self.config.max_terminals;
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let owner = ParticipantId(msg.owner);
        if id.0 == 0 || s.terminals.contains_key(&id) || access::check_label(&msg.label).is_err() {
            return Err((id, Refusal::Invalid));
        }
        if s.terminals.len() >= max {
            return Err((id, Refusal::LimitReached));
        }
        access::may_own(s.role_of(owner)).map_err(|r| (id, r))?;
        if owner != ParticipantId::HOST {
            // The answer to a create: it no longer counts as pending.
            s.pending_creates.pop_front();
        }
        s.terminals.insert(id, Terminal::new(&msg, owner));
        self.send_to_participants(session, &Frame::control(Body::TerminalOpened(msg)));
        Ok(())
    }

    fn terminal_closed(
        &mut self,
        session: &SessionId,
        msg: m::TerminalClosed,
    ) -> Result<(), (TerminalId, Refusal)> {
        let id = TerminalId(msg.terminal_id);
        let removed = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.terminals.remove(&id));
        if removed.is_none() {
            return Err((id, Refusal::UnknownTerminal));
        }
        self.forget_resyncs(session, id);
        self.send_to_participants(session, &Frame::control(Body::TerminalClosed(msg)));
        Ok(())
    }

    fn terminal_resized(
        &mut self,
        session: &SessionId,
        msg: m::TerminalResize,
    ) -> Result<(), (TerminalId, Refusal)> {
        let id = TerminalId(msg.terminal_id);
        let t = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.terminals.get_mut(&id))
            .ok_or((id, Refusal::UnknownTerminal))?;
        t.rows = msg.rows;
        t.cols = msg.cols;
        self.send_to_participants(session, &Frame::control(Body::TerminalResize(msg)));
        Ok(())
    }

    fn terminal_labeled(
        &mut self,
        session: &SessionId,
        msg: m::TerminalLabel,
    ) -> Result<(), (TerminalId, Refusal)> {
        let id = TerminalId(msg.terminal_id);
        access::check_label(&msg.label).map_err(|r| (id, r))?;
        let t = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.terminals.get_mut(&id))
            .ok_or((id, Refusal::UnknownTerminal))?;
        t.label.clone_from(&msg.label);
        self.send_to_participants(session, &Frame::control(Body::TerminalLabel(msg)));
        Ok(())
    }

    /// The host's input ticket goes to the participant it names, and to
    /// nobody else.
    fn input_ticket(&mut self, session: &SessionId, msg: m::InputTicket) {
        let to = self
            .sessions
            .get(session)
            .and_then(|s| s.members.get(&ParticipantId(msg.participant_id)))
            .map(|member| member.conn);
        if let Some(conn) = to {
            self.send(conn, Frame::control(Body::InputTicket(msg)));
        }
    }

    fn host_sealed(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        sealed: SealedFrame,
        now: Instant,
    ) {
        let h = *sealed.header();
        let routed = if h.direction == Direction::ForwardDown {
            self.forward_down(session, sealed)
        } else {
            self.route_host_sealed(session, sealed, now)
        };
        if let Err(reason) = routed {
            let code = ActionCode::Sealed(h.direction);
            self.refuse(conn, session, ParticipantId::HOST, code, h.terminal, reason);
        }
    }

    /// The host's sealed output, status or snapshot: kept for replay where
    /// it is output or status, and sent to every participant (a snapshot
    /// to the one it names, if any).
    fn route_host_sealed(
        &mut self,
        session: &SessionId,
        sealed: SealedFrame,
        now: Instant,
    ) -> Result<(), Refusal> {
        let h = *sealed.header();
        let ring_limit = self.config.ring_bytes;
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let t = s
            .terminals
            .get_mut(&h.terminal)
            .ok_or(Refusal::UnknownTerminal)?;
        access::check_sealed(ParticipantId::HOST, Role::Admin, h.direction)?;
        let to_one = match h.direction {
            // Kept for replay: compact copies, so that a small frame does
            // not keep a large receive buffer alive (`ring_bytes` counts
            // what is really held).
            Direction::Output => {
                t.ring.push(sealed.compact(), ring_limit);
                None
            }
            Direction::Status => {
                t.last_status = Some(sealed.compact());
                None
            }
            _ if h.participant == ParticipantId::HOST => None,
            _ => Some(s.members.get(&h.participant).map(|m| m.conn)),
        };
        if h.direction == Direction::Snapshot {
            self.snapshot_arrived(session, h.terminal, h.participant);
        }
        match to_one {
            // Live output goes to everybody but connections still
            // replaying this terminal (their cursor delivers it, 6.5) and
            // participants waiting for a snapshot of it (6.7).
            None if h.direction == Direction::Output => {
                let targets: Vec<(ParticipantId, ConnId, bool)> = self
                    .sessions
                    .get(session)
                    .map(|s| {
                        let waiting = |m: &super::session::Member| {
                            m.resyncing.iter().any(|(t, _)| *t == h.terminal)
                        };
                        s.members
                            .iter()
                            .map(|(id, m)| (*id, m.conn, waiting(m)))
                            .collect()
                    })
                    .unwrap_or_default();
                for (id, conn, waiting) in targets {
                    if waiting || self.replaying(conn, session, h.terminal) {
                        continue;
                    }
                    let queued = self.send_queued(conn, Frame::Sealed(sealed.clone()));
                    if queued.is_some_and(|q| self.over_resync(q)) {
                        self.check_resync(session, id, conn, now);
                    }
                }
            }
            None => self.send_to_participants(session, &Frame::Sealed(sealed)),
            Some(Some(target)) => self.send(target, Frame::Sealed(sealed)),
            // A snapshot for somebody who left.
            Some(None) => {}
        }
        Ok(())
    }

    pub(super) fn participant_frame(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        frame: Frame,
        now: Instant,
    ) {
        let Some(role) = self.sessions.get(session).and_then(|s| s.role_of(id)) else {
            return;
        };
        let body = match frame {
            Frame::Sealed(sealed) => {
                return self.participant_sealed(conn, session, id, role, sealed, now);
            }
            Frame::Control(m::Control { body: None }) => return,
            Frame::Control(m::Control { body: Some(body) }) => body,
        };
        let code = ActionCode::of(&body);
        let result = match body {
            Body::Ping(p) => {
                self.pong(conn, p);
                Ok(())
            }
            Body::Pong(_) | Body::Error(_) => Ok(()),
            Body::ForwardOpen(msg) => self
                .within_rate(session, id, &Body::ForwardOpen(msg), now)
                .map_err(|r| (TerminalId(0), r))
                .and_then(|()| self.forward_open(conn, session, id, role, msg, now)),
            Body::TunnelCredentialRequest(msg) => self
                .within_rate(session, id, &Body::TunnelCredentialRequest(msg), now)
                .and_then(|()| self.issue_credential(conn, session, id, role, now))
                .map_err(|r| (TerminalId(0), r)),
            body @ (Body::ForwardCredit(_) | Body::ForwardClose(_)) => {
                self.participant_forward(session, id, body);
                Ok(())
            }
            Body::HistoryRequest(req) => self
                .within_rate(session, id, &Body::HistoryRequest(req), now)
                .map_err(|r| (TerminalId(req.terminal_id), r))
                .and_then(|()| self.history(conn, session, id, req)),
            other @ (Body::Presence(_)
            | Body::Focus(_)
            | Body::Chat(_)
            | Body::Layout(_)
            | Body::TerminalCreate(_)
            | Body::TerminalClose(_)
            | Body::TerminalResize(_)
            | Body::AdoptionRequest(_)
            | Body::AdoptionAnswer(_)
            | Body::ControlGrant(_)
            | Body::ControlRevoke(_)
            | Body::TakeOver(_)
            | Body::TunnelAdmin(_)) => self.member_control(session, id, role, other, now),
            _ => {
                self.violation(conn);
                Ok(())
            }
        };
        if let Err((terminal, reason)) = result {
            self.refuse(conn, session, id, code, terminal, reason);
        }
    }

    fn participant_sealed(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        sealed: SealedFrame,
        now: Instant,
    ) {
        let h = *sealed.header();
        let code = ActionCode::Sealed(h.direction);
        let routed = if h.direction == Direction::ForwardUp {
            self.forward_up(session, id, sealed)
        } else {
            self.route_input(session, id, role, sealed, now)
        };
        match routed {
            Ok(()) => {}
            Err(reason) => self.refuse(conn, session, id, code, h.terminal, reason),
        }
    }

    /// A participant's sealed input: checked (direction, role and
    /// ownership, sender id, host online, typing lock) and sent to the
    /// host; the typing lock is taken.
    fn route_input(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        role: Role,
        sealed: SealedFrame,
        now: Instant,
    ) -> Result<(), Refusal> {
        let h = *sealed.header();
        access::check_sealed(id, role, h.direction)?;
        let lock_for = self.config.focus_lock;
        let Some(s) = self.sessions.get_mut(session) else {
            return Ok(());
        };
        let host = s.host_conn();
        let t = s.terminals.get_mut(&h.terminal);
        access::check(role, id, Action::Input, t.as_ref().map(|t| &t.control))?;
        access::check_input_sender(h.participant, id)?;
        let host = host.ok_or(Refusal::HostOffline)?;
        let Some(t) = t else {
            return Err(Refusal::UnknownTerminal);
        };
        t.lock.check(id, &t.control, now)?;
        let change = t.lock.take(id, now, lock_for);
        self.send(host, Frame::Sealed(sealed));
        let arm = match change {
            LockChange::Taken { arm } => {
                self.broadcast(session, &focus_lock(h.terminal, id, millis(lock_for)));
                arm
            }
            LockChange::Renewed { arm } => arm,
            _ => None,
        };
        if let Some(at) = arm {
            self.arm(at, Timer::FocusLock(session.clone(), h.terminal));
        }
        Ok(())
    }
}
