//! Slow participants are skipped forward, not dropped (SPEC.md 6.7).
//!
//! When a participant's queue passes `resync_queue_bytes` or half of
//! `max_queue_frames` (and no replay is pending for it), the sealed output queued for it is dropped and, for
//! each terminal whose output was dropped, the relay asks the host for a
//! snapshot targeted at it and queues none of that terminal's live output
//! until a snapshot of the terminal arrives. The host seals a snapshot
//! after everything it sealed before, so the snapshot reflects every frame
//! the participant missed; the participant repaints from it and reads live
//! output from the position it names (11.2). A connection that has taken
//! no frame since a resync `resync_timeout` or more ago has stopped
//! reading and is closed as too slow at its next resync, as is one whose
//! snapshot does not come within `resync_timeout` while the host is
//! online.

use std::time::Instant;

use rand_core::CryptoRng;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, SessionId, TerminalId};

use super::{ConnId, Event, EvictReason, Relay, Timer};

impl<R: CryptoRng> Relay<R> {
    /// Whether a queue of (frames, bytes) has passed the resync threshold.
    pub(super) fn over_resync(&self, (frames, bytes): (usize, usize)) -> bool {
        bytes > self.config.resync_queue_bytes || frames > self.config.max_queue_frames / 2
    }

    /// After queueing output for `id`: skip it forward if its queue has
    /// passed the threshold.
    pub(super) fn check_resync(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        conn: ConnId,
        now: Instant,
    ) {
        if !self.over_resync(self.out.queued(conn)) || self.replays.contains_key(&conn) {
            return;
        }
        let sent = self.out.sent(conn);
        let deadline = now + self.config.resync_timeout;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let host = s.host_conn();
        let Some(member) = s.members.get_mut(&id) else {
            return;
        };
        match member.resync_sent {
            // Nothing taken for a whole timeout: it stopped reading.
            Some((before, at)) if before == sent && now >= at + self.config.resync_timeout => {
                self.evict(conn, EvictReason::TooSlow);
                return;
            }
            // Nothing taken yet, but a slow reader's socket may still be
            // full: skipped forward again, the clock not reset.
            Some((before, _)) if before == sent => {}
            _ => member.resync_sent = Some((sent, now)),
        }
        let dropped = self.out.drop_output(conn);
        let mut asked = Vec::new();
        for &t in &dropped.terminals {
            if !member.resyncing.iter().any(|(term, _)| *term == t) {
                member.resyncing.push((t, deadline));
                asked.push(t);
            }
        }
        for &t in &asked {
            self.arm(deadline, Timer::Resync(session.clone(), id, t));
            if let Some(host) = host {
                self.send(host, snapshot_request(t, id));
            }
        }
        self.emit(Event::Resynced {
            session: session.clone(),
            participant: id,
            frames: dropped.frames,
            bytes: dropped.bytes,
        });
    }

    /// A snapshot of `t` from the host, for `target` (0: everyone): the
    /// participants it reaches were brought up to date.
    pub(super) fn snapshot_arrived(
        &mut self,
        session: &SessionId,
        t: TerminalId,
        target: ParticipantId,
    ) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        for (id, member) in &mut s.members {
            if target == ParticipantId::HOST || target == *id {
                member.resyncing.retain(|(term, _)| *term != t);
            }
        }
    }

    /// The host resumed: the snapshots asked of its previous connection
    /// are asked again, and the deadlines start over.
    pub(super) fn resume_resyncs(&mut self, session: &SessionId, now: Instant) {
        let deadline = now + self.config.resync_timeout;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let Some(host) = s.host_conn() else {
            return;
        };
        let mut asked = Vec::new();
        for (id, member) in &mut s.members {
            for (t, due) in &mut member.resyncing {
                *due = deadline;
                asked.push((*id, *t));
            }
        }
        for (id, t) in asked {
            self.arm(deadline, Timer::Resync(session.clone(), id, t));
            self.send(host, snapshot_request(t, id));
        }
    }

    /// A terminal closed: nobody waits for its snapshot any more.
    pub(super) fn forget_resyncs(&mut self, session: &SessionId, t: TerminalId) {
        if let Some(s) = self.sessions.get_mut(session) {
            for member in s.members.values_mut() {
                member.resyncing.retain(|(term, _)| *term != t);
            }
        }
    }

    /// `Timer::Resync`: the snapshot did not come in time.
    pub(super) fn resync_expired(
        &mut self,
        session: &SessionId,
        id: ParticipantId,
        t: TerminalId,
        now: Instant,
    ) {
        let timeout = self.config.resync_timeout;
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let online = s.host_conn().is_some();
        let Some(member) = s.members.get_mut(&id) else {
            return;
        };
        let Some((_, due)) = member.resyncing.iter_mut().find(|(term, _)| *term == t) else {
            return;
        };
        if *due > now {
            return;
        }
        if online {
            let conn = member.conn;
            self.evict(conn, EvictReason::TooSlow);
        } else {
            // The host is away: the request is made again when it resumes.
            *due = now + timeout;
            let at = *due;
            self.arm(at, Timer::Resync(session.clone(), id, t));
        }
    }
}

pub(super) fn snapshot_request(t: TerminalId, requester: ParticipantId) -> Frame {
    Frame::control(Body::SnapshotRequest(m::SnapshotRequest {
        terminal_id: t.0,
        requester: requester.0,
    }))
}
