//! History and replay (SPEC.md 6.5): a terminal's ring, announced by
//! `ReplayStart`, then its latest status; a snapshot request to the host
//! when the ring has lost frames.

use rand_core::CryptoRng;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, SessionId, TerminalId};

use super::{ConnId, Relay};
use crate::access::Refusal;

impl<R: CryptoRng> Relay<R> {
    /// Replay one terminal's ring to `conn`: ReplayStart, the frames, the
    /// latest status; ask the host for a snapshot if the ring lost frames.
    pub(super) fn replay(
        &mut self,
        conn: ConnId,
        session: &SessionId,
        terminal: TerminalId,
        requester: ParticipantId,
    ) {
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let Some(t) = s.terminals.get(&terminal) else {
            return;
        };
        let complete = t.ring.complete();
        let mut frames = vec![Frame::control(Body::ReplayStart(m::ReplayStart {
            terminal_id: terminal.0,
            runs: t.ring.runs(),
            complete,
        }))];
        frames.extend(t.ring.frames().map(|f| Frame::Sealed(f.clone())));
        if let Some(status) = &t.last_status {
            frames.push(Frame::Sealed(status.clone()));
        }
        let host = s.host_conn();
        for frame in frames {
            self.send(conn, frame);
        }
        if let (false, Some(host)) = (complete, host) {
            self.send(
                host,
                Frame::control(Body::SnapshotRequest(m::SnapshotRequest {
                    terminal_id: terminal.0,
                    requester: requester.0,
                })),
            );
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
