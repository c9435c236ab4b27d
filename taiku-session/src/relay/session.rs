//! One session as the relay holds it (SPEC.md 6.3 to 6.6): its verifiers,
//! host seat, members, terminals with their control, typing lock, pending
//! adoptions and replay ring, and its chat; and what happens when
//! somebody leaves or the session ends.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand_core::CryptoRng;
use taiku_crypto::Verifiers;
use taiku_proto::message::{self as m, EndReason, control::Body};
use taiku_proto::{Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId};

use super::conn::ConnState;
use super::ring::Ring;
use super::{ConnId, Event, EvictReason, Relay, Timer};
use crate::access::{self, Change, FocusLock, LockChange};
use crate::bucket::TokenBucket;

#[derive(Debug)]
pub(super) struct Member {
    pub(super) conn: ConnId,
    pub(super) role: Role,
    pub(super) profile: m::Profile,
    pub(super) chat: TokenBucket,
    pub(super) metadata: TokenBucket,
    pub(super) requests: TokenBucket,
    pub(super) history: TokenBucket,
    /// Terminals this participant was skipped forward on, waiting for the
    /// host's snapshot, each with its deadline (SPEC.md 6.7).
    pub(super) resyncing: Vec<(TerminalId, Instant)>,
    /// Frames its connection had taken at the resync since which it took
    /// none, and when that was.
    pub(super) resync_sent: Option<(u64, Instant)>,
}

#[derive(Debug)]
pub(super) enum HostSeat {
    Online(ConnId),
    Away { deadline: Instant },
}

#[derive(Debug)]
pub(super) struct Terminal {
    pub(super) control: access::Control,
    pub(super) rows: u32,
    pub(super) cols: u32,
    pub(super) label: String,
    pub(super) ring: Ring,
    pub(super) last_status: Option<SealedFrame>,
    /// Pending adoption requests: requester and deadline.
    pub(super) adoptions: BTreeMap<ParticipantId, Instant>,
    pub(super) lock: FocusLock,
}

impl Terminal {
    pub(super) fn new(opened: &m::TerminalOpened, owner: ParticipantId) -> Self {
        Terminal {
            control: access::Control::new(owner),
            rows: opened.rows,
            cols: opened.cols,
            label: opened.label.clone(),
            ring: Ring::default(),
            last_status: None,
            adoptions: BTreeMap::new(),
            lock: FocusLock::default(),
        }
    }
}

#[derive(Debug)]
pub(super) struct Session {
    pub(super) verifiers: Verifiers,
    pub(super) options: m::SessionOptions,
    pub(super) host: HostSeat,
    pub(super) host_profile: m::Profile,
    pub(super) members: BTreeMap<ParticipantId, Member>,
    pub(super) next_id: u32,
    pub(super) terminals: BTreeMap<TerminalId, Terminal>,
    /// The last chat lines, each with when the relay accepted it.
    pub(super) chat: VecDeque<(m::Chat, Instant)>,
    pub(super) chat_seq: u64,
    /// Deadlines of creates forwarded to the host and not yet answered.
    pub(super) pending_creates: VecDeque<Instant>,
    /// The source that created the session, if the transport said.
    pub(super) created_by: Option<super::Source>,
    /// Published ports and forward streams (SPEC.md 6.8).
    pub(super) forwards: super::forward::SessionForwards,
}

impl Session {
    /// The id for the next participant. Ids are never reused within a
    /// session: when they run out (after 2^32 - 1 joins) the session takes
    /// nobody new (`None`).
    pub(super) fn take_participant_id(&mut self) -> Option<ParticipantId> {
        let next = self.next_id.checked_add(1)?;
        let id = ParticipantId(self.next_id);
        self.next_id = next;
        Some(id)
    }

    pub(super) fn new(
        verifiers: Verifiers,
        options: m::SessionOptions,
        host: ConnId,
        host_profile: m::Profile,
    ) -> Self {
        Session {
            verifiers,
            options,
            host: HostSeat::Online(host),
            host_profile,
            members: BTreeMap::new(),
            next_id: 1,
            terminals: BTreeMap::new(),
            chat: VecDeque::new(),
            chat_seq: 0,
            pending_creates: VecDeque::new(),
            created_by: None,
            forwards: Default::default(),
        }
    }

    pub(super) fn host_conn(&self) -> Option<ConnId> {
        match self.host {
            HostSeat::Online(conn) => Some(conn),
            HostSeat::Away { .. } => None,
        }
    }

    /// The connection of a participant id (0 = host).
    pub(super) fn conn_of(&self, id: ParticipantId) -> Option<ConnId> {
        if id == ParticipantId::HOST {
            self.host_conn()
        } else {
            self.members.get(&id).map(|m| m.conn)
        }
    }

    /// The role of a participant id (the host is an admin); `None` for
    /// somebody not in the session.
    pub(super) fn role_of(&self, id: ParticipantId) -> Option<Role> {
        if id == ParticipantId::HOST {
            Some(Role::Admin)
        } else {
            self.members.get(&id).map(|m| m.role)
        }
    }

    /// Terminals, and creates the host has not answered yet, at `now`.
    pub(super) fn terminals_counted(&self, now: Instant) -> usize {
        self.terminals.len() + self.pending_creates.iter().filter(|t| **t > now).count()
    }

    /// The host's `Presence`.
    pub(super) fn host_presence(&self, state: m::presence::State) -> Frame {
        Frame::control(Body::Presence(m::Presence {
            participant_id: ParticipantId::HOST.0,
            profile: Some(self.host_profile.clone()),
            role: Role::Admin.to_proto(),
            state: state as i32,
        }))
    }
}

impl<R: CryptoRng> Relay<R> {
    pub(super) fn host_left(&mut self, session: &SessionId, conn: ConnId, now: Instant) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        if s.host_conn() != Some(conn) {
            return;
        }
        // A session nobody ever joined keeps its slot only a short while:
        // otherwise anyone could hold every slot with sessions made of
        // self-made keys whose hosts leave at once.
        let grace = if s.next_id == 1 {
            self.config.empty_host_grace.min(self.config.host_grace)
        } else {
            self.config.host_grace
        };
        let deadline = now + grace;
        s.host = HostSeat::Away { deadline };
        self.forwards_of_host(session, m::ForwardEnd::HostOffline);
        self.arm(deadline, Timer::HostGrace(session.clone()));
        self.send_to_participants(session, &host_status(false, grace));
        self.emit(Event::HostAway {
            session: session.clone(),
        });
    }

    pub(super) fn participant_left(&mut self, session: &SessionId, id: ParticipantId) {
        self.forwards_of_left(session, id);
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(member) = s.members.remove(&id) else {
            return;
        };
        let mut frames = Vec::new();
        for (tid, t) in s.terminals.iter_mut() {
            t.adoptions.remove(&id);
            if let Some(change) = access::left(&t.control, id) {
                t.control = change.control;
                frames.push(control_changed(*tid, &change));
            }
            if t.lock.release(id) == LockChange::Released {
                frames.push(focus_lock(*tid, ParticipantId::HOST, 0));
            }
        }
        frames.push(presence(id, &member, m::presence::State::Left));
        for frame in frames {
            self.broadcast(session, &frame);
        }
        self.emit(Event::Left {
            session: session.clone(),
            participant: id,
        });
    }

    pub(super) fn end_session(&mut self, session: &SessionId, reason: EndReason) {
        self.forwards_of_host(session, m::ForwardEnd::HostOffline);
        self.credentials_of_session(session);
        let conns = self.session_conns(session, true);
        if let Some(source) = self.sessions.remove(session).and_then(|s| s.created_by)
            && let Some(n) = self.created_by.get_mut(&source)
        {
            *n -= 1;
            if *n == 0 {
                self.created_by.remove(&source);
            }
        }
        for conn in conns {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Closed;
            }
            self.send(conn, session_ended(reason));
            self.out.close(conn, false);
            self.emit(Event::Evicted {
                conn,
                reason: EvictReason::SessionEnded,
            });
        }
        self.emit(Event::SessionEnded {
            session: session.clone(),
            reason,
        });
    }
}

pub(super) fn millis(d: core::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn presence(id: ParticipantId, member: &Member, state: m::presence::State) -> Frame {
    Frame::control(Body::Presence(m::Presence {
        participant_id: id.0,
        profile: Some(member.profile.clone()),
        role: member.role.to_proto(),
        state: state as i32,
    }))
}

pub(super) fn opened(id: TerminalId, t: &Terminal) -> Frame {
    Frame::control(Body::TerminalOpened(m::TerminalOpened {
        terminal_id: id.0,
        owner: t.control.owner.0,
        rows: t.rows,
        cols: t.cols,
        label: t.label.clone(),
    }))
}

pub(super) fn control_changed(id: TerminalId, change: &Change) -> Frame {
    Frame::control(Body::ControlChanged(m::ControlChanged {
        terminal_id: id.0,
        owner: change.control.owner.0,
        controller: change.control.controller.0,
        reason: change.reason as i32,
        requester: change.requester.0,
    }))
}

pub(super) fn focus_lock(terminal: TerminalId, holder: ParticipantId, expires_in_ms: u64) -> Frame {
    Frame::control(Body::FocusLock(m::FocusLock {
        terminal_id: terminal.0,
        holder: holder.0,
        expires_in_ms: u32::try_from(expires_in_ms).unwrap_or(u32::MAX),
    }))
}

pub(super) fn host_status(online: bool, grace_remaining: core::time::Duration) -> Frame {
    Frame::control(Body::HostStatus(m::HostStatus {
        online,
        grace_remaining_ms: millis(grace_remaining),
    }))
}

pub(super) fn session_ended(reason: EndReason) -> Frame {
    Frame::control(Body::SessionEnded(m::SessionEnded {
        reason: reason as i32,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use taiku_crypto::{KeySchedule, LinkSecret};
    use taiku_proto::{Role, SessionId};

    /// Finding 13.5: participant ids came from a saturating add, so after
    /// 2^32 - 1 joins every joiner got id u32::MAX. Ids are never reused:
    /// at the end of the id space the session takes nobody new.
    #[test]
    fn participant_ids_never_repeat() {
        let sid = SessionId::new("ids-never-repeat").unwrap();
        let keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [8; 32]), &sid);
        let mut s = Session::new(
            keys.verifiers().unwrap(),
            m::SessionOptions::default(),
            ConnId(1),
            m::Profile::default(),
        );
        assert_eq!(s.take_participant_id(), Some(ParticipantId(1)));
        s.next_id = u32::MAX - 1;
        assert_eq!(s.take_participant_id(), Some(ParticipantId(u32::MAX - 1)));
        assert_eq!(s.take_participant_id(), None);
        assert_eq!(s.take_participant_id(), None);
    }
}
