//! The relay's timers (SPEC.md 6.1, 6.3, 6.6, 6.7): handshake and idle
//! timeouts, the host's grace window, adoption requests, typing locks and
//! snapshots awaited by a participant skipped forward.
//! Each fires at most once; a timer whose state moved on does nothing.

use std::time::Instant;

use rand_core::CryptoRng;
use taiku_proto::message::EndReason;
use taiku_proto::{ParticipantId, SessionId, TerminalId};

use super::conn::ConnState;
use super::session::{HostSeat, control_changed, focus_lock};
use super::{ConnId, EvictReason, Relay};
use crate::access::{self, LockChange};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    Handshake(ConnId),
    Idle(ConnId),
    HostGrace(SessionId),
    Adoption(SessionId, TerminalId, ParticipantId),
    FocusLock(SessionId, TerminalId),
    Resync(SessionId, ParticipantId, TerminalId),
    Forward(SessionId, crate::forward::ForwardId),
}

impl<R: CryptoRng> Relay<R> {
    pub(super) fn arm_idle(&mut self, conn: ConnId, now: Instant) {
        self.arm(now + self.config.idle_timeout, Timer::Idle(conn));
    }

    pub(super) fn fire(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Forward(session, id) => self.forward_timer(&session, id, now),
            Timer::Handshake(conn) => {
                if let Some(c) = self.conns.get(&conn)
                    && matches!(c.state, ConnState::Fresh | ConnState::Challenged { .. })
                    && c.connected_at + self.config.handshake_timeout <= now
                {
                    self.evict(conn, EvictReason::HandshakeTimeout);
                }
            }
            Timer::Idle(conn) => {
                if let Some(c) = self.conns.get(&conn)
                    && matches!(
                        c.state,
                        ConnState::Host { .. } | ConnState::Participant { .. }
                    )
                {
                    let due = c.last_rx + self.config.idle_timeout;
                    if due <= now {
                        self.evict(conn, EvictReason::Idle);
                    } else {
                        self.arm(due, Timer::Idle(conn));
                    }
                }
            }
            Timer::HostGrace(session) => {
                if let Some(s) = self.sessions.get(&session)
                    && let HostSeat::Away { deadline } = s.host
                    && deadline <= now
                {
                    self.end_session(&session, EndReason::HostGraceExpired);
                }
            }
            Timer::Adoption(session, terminal, requester) => {
                let Some(t) = self.terminal_mut(&session, terminal) else {
                    return;
                };
                if t.adoptions.get(&requester).is_some_and(|due| *due <= now) {
                    t.adoptions.remove(&requester);
                    let change = access::expired(&t.control, requester);
                    self.broadcast(&session, &control_changed(terminal, &change));
                }
            }
            Timer::FocusLock(session, terminal) => {
                let Some(t) = self.terminal_mut(&session, terminal) else {
                    return;
                };
                match t.lock.expire(now) {
                    LockChange::Released => {
                        self.broadcast(&session, &focus_lock(terminal, ParticipantId::HOST, 0));
                    }
                    LockChange::Later(at) => self.arm(at, Timer::FocusLock(session, terminal)),
                    _ => {}
                }
            }
            Timer::Resync(session, id, terminal) => {
                self.resync_expired(&session, id, terminal, now);
            }
        }
    }
}
