//! History and replay (SPEC.md 6.5): a terminal's ring streamed to one
//! connection through a cursor, as fast as that connection's queue drains,
//! so that a ring of many small frames never overflows a joiner's queue.
//!
//! A replay starts with `ReplayStart` (the runs the ring holds then) and
//! the terminal's latest status, asks the host for a snapshot if the ring
//! lost frames, then sends the ring's frames from the oldest. While a
//! connection has a replay of a terminal pending, live output of that
//! terminal is not queued for it: the ring holds it, and the cursor
//! delivers it in order when it gets there. When the cursor reaches the
//! ring's end the replay is over and live output flows again, so nothing
//! is lost or sent twice between replay and live. A connection whose
//! cursor falls behind the ring's eviction is too slow and is closed.

use std::collections::VecDeque;

use rand_core::CryptoRng;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, SessionId, TerminalId};

use super::resync::snapshot_request;
use super::{ConnId, EvictReason, Relay};
use crate::access::Refusal;

/// Frames a replay keeps queued ahead for its connection; more are
/// queued as these drain.
pub const REPLAY_BATCH: usize = 256;

/// One terminal's replay to one connection.
#[derive(Debug)]
pub(super) struct Cursor {
    session: SessionId,
    terminal: TerminalId,
    requester: ParticipantId,
    /// The ring position to send next; `None` before the replay started.
    next: Option<u64>,
}

/// The replays of one connection, in the order they were asked for.
pub(super) type Cursors = VecDeque<Cursor>;

impl<R: CryptoRng> Relay<R> {
    /// Replay one terminal's ring to `conn` (after any replay already
    /// pending for it; a second replay of the same terminal while one is
    /// pending is the same replay).
    pub(super) fn replay(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        terminal: TerminalId,
        requester: ParticipantId,
    ) {
        let cursors = self.replays.entry(conn).or_default();
        if cursors
            .iter()
            .any(|c| c.terminal == terminal && c.session == *session)
        {
            return;
        }
        cursors.push_back(Cursor {
            session: session.clone(),
            terminal,
            requester,
            next: None,
        });
        self.advance_replays();
    }

    /// Whether live output of `terminal` must not be queued for `conn`
    /// now: a replay of it is pending there and will deliver it.
    pub(super) fn replaying(
        &self,
        conn: ConnId,
        session: &SessionId,
        terminal: TerminalId,
    ) -> bool {
        !self.replays.is_empty()
            && self.replays.get(&conn).is_some_and(|cursors| {
                cursors
                    .iter()
                    .any(|c| c.terminal == terminal && c.session == *session)
            })
    }

    /// Queue replay frames for every connection whose queue has room,
    /// up to [`REPLAY_BATCH`] frames and half of `max_queue_bytes`.
    pub(super) fn advance_replays(&mut self) {
        let conns: Vec<ConnId> = self.replays.keys().copied().collect();
        for conn in conns {
            self.advance_replay(conn);
        }
    }

    fn advance_replay(&mut self, conn: ConnId) {
        let max_bytes = self.config.max_queue_bytes / 2;
        loop {
            let (frames, bytes) = self.out.queued(conn);
            if frames >= REPLAY_BATCH || bytes >= max_bytes {
                return;
            }
            let Some(cursor) = self.replays.get_mut(&conn).and_then(|c| c.front_mut()) else {
                self.replays.remove(&conn);
                return;
            };
            let (session, terminal, requester) =
                (cursor.session.clone(), cursor.terminal, cursor.requester);
            let Some(t) = self
                .sessions
                .get(&session)
                .and_then(|s| s.terminals.get(&terminal))
            else {
                // The terminal or session is gone: nothing more to replay.
                self.finish_cursor(conn);
                continue;
            };
            let Some(next) = cursor.next else {
                // Start: the plan, the latest status, a snapshot request
                // if the ring lost frames.
                cursor.next = Some(t.ring.first());
                let complete = t.ring.complete();
                let start = Frame::control(Body::ReplayStart(m::ReplayStart {
                    terminal_id: terminal.0,
                    runs: t.ring.runs(),
                    complete,
                }));
                let status = t.last_status.clone();
                let host = self.sessions.get(&session).and_then(|s| s.host_conn());
                self.send(conn, start);
                if let Some(status) = status {
                    self.send(conn, Frame::Sealed(status));
                }
                if let (false, Some(host)) = (complete, host) {
                    self.send(host, snapshot_request(terminal, requester));
                }
                continue;
            };
            match t.ring.get(next) {
                Ok(Some(frame)) => {
                    let frame = Frame::Sealed(frame.clone());
                    cursor.next = Some(next + 1);
                    self.send(conn, frame);
                }
                // Caught up with the ring: live output flows again.
                Ok(None) => self.finish_cursor(conn),
                // The ring moved past what this connection has taken.
                Err(()) => {
                    self.replays.remove(&conn);
                    // Nothing more for it, not even live output: its
                    // stream has a hole. Evicted at the next settle.
                    self.out.close(conn, true);
                    self.evict(conn, EvictReason::TooSlow);
                    return;
                }
            }
        }
    }

    fn finish_cursor(&mut self, conn: ConnId) {
        if let Some(cursors) = self.replays.get_mut(&conn) {
            cursors.pop_front();
            if cursors.is_empty() {
                self.replays.remove(&conn);
            }
        }
    }

    /// `HistoryRequest`: replay one terminal again, or every terminal for
    /// id 0.
    pub(super) fn history(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        id: ParticipantId,
        request: m::HistoryRequest,
    ) -> Result<(), (TerminalId, Refusal)> {
        let Some(s) = self.sessions.get(session) else {
            return Ok(());
        };
        let ids: Vec<TerminalId> = match request.terminal_id {
            0 => s.terminals.keys().copied().collect(),
            t if s.terminals.contains_key(&TerminalId(t)) => vec![TerminalId(t)],
            t => return Err((TerminalId(t), Refusal::UnknownTerminal)),
        };
        for t in ids {
            self.replay(conn, session, t, id);
        }
        Ok(())
    }
}
