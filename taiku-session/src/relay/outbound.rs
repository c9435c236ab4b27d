//! Per-connection outbound queues, bounded in frames and bytes, drained
//! round-robin across connections that are not blocked.

use std::collections::{HashMap, VecDeque};

use taiku_proto::limits::MAX_PREFIX_LEN;
use taiku_proto::{Direction, Frame, TerminalId};

use super::ConnId;

/// What the driver must do for a connection.
#[derive(Clone, Debug, PartialEq)]
// Not `#[non_exhaustive]`: a driver must carry out every transmit, so a
// new kind is a breaking change on purpose.
pub enum Transmit {
    /// Send this frame (one WebSocket binary message, or the next frame
    /// on a byte stream).
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame; sealed frames share the relay's buffers.
        frame: Frame,
    },
    /// Close the connection; nothing more will be sent on it.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// Wire size used for queue accounting.
pub(crate) fn frame_len(frame: &Frame) -> usize {
    match frame {
        Frame::Sealed(sealed) => sealed.as_bytes().len(),
        Frame::Control(control) => prost::Message::encoded_len(control) + MAX_PREFIX_LEN,
    }
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Frame>,
    bytes: usize,
    blocked: bool,
    closing: bool,
    scheduled: bool,
    /// Frames handed to the driver so far.
    sent: u64,
}

/// Output taken out of a queue by [`Outbound::drop_output`].
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    pub(crate) frames: usize,
    pub(crate) bytes: usize,
    /// The terminals whose output was dropped, each once.
    pub(crate) terminals: Vec<TerminalId>,
}

/// Queue capacity kept by an idle connection.
const IDLE_CAPACITY: usize = 8;

/// Why a push was refused.
pub(crate) struct Overflow;

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    queues: HashMap<ConnId, Queue>,
    ready: VecDeque<ConnId>,
}

impl Outbound {
    pub(crate) fn open(&mut self, conn: ConnId) {
        self.queues.entry(conn).or_default();
    }

    fn schedule(ready: &mut VecDeque<ConnId>, conn: ConnId, q: &mut Queue) {
        if !q.scheduled && (q.closing || (!q.blocked && !q.items.is_empty())) {
            q.scheduled = true;
            ready.push_back(conn);
        }
    }

    /// Queue a frame, and say how much is then queued (frames, bytes);
    /// `Err(Overflow)` when the connection's bounds would be exceeded (the
    /// frame is not queued).
    pub(crate) fn push(
        &mut self,
        conn: ConnId,
        frame: Frame,
        max_frames: usize,
        max_bytes: usize,
    ) -> Result<(usize, usize), Overflow> {
        let Some(q) = self.queues.get_mut(&conn) else {
            return Ok((0, 0));
        };
        if q.closing {
            return Ok((0, 0));
        }
        let len = frame_len(&frame);
        if q.items.len() >= max_frames || q.bytes + len > max_bytes {
            return Err(Overflow);
        }
        q.bytes += len;
        q.items.push_back(frame);
        let queued = (q.items.len(), q.bytes);
        Self::schedule(&mut self.ready, conn, q);
        Ok(queued)
    }

    /// Close after what is queued, or at once with `discard`.
    pub(crate) fn close(&mut self, conn: ConnId, discard: bool) {
        if let Some(q) = self.queues.get_mut(&conn) {
            if discard {
                q.items.clear();
                q.bytes = 0;
            }
            q.closing = true;
            Self::schedule(&mut self.ready, conn, q);
        }
    }

    pub(crate) fn set_blocked(&mut self, conn: ConnId, blocked: bool) {
        if let Some(q) = self.queues.get_mut(&conn) {
            q.blocked = blocked;
            Self::schedule(&mut self.ready, conn, q);
        }
    }

    pub(crate) fn forget(&mut self, conn: ConnId) {
        self.queues.remove(&conn);
    }

    /// Take every sealed output frame out of a connection's queue; what
    /// else is queued (control, status, snapshots) stays, in order.
    pub(crate) fn drop_output(&mut self, conn: ConnId) -> Dropped {
        let mut dropped = Dropped::default();
        let Some(q) = self.queues.get_mut(&conn) else {
            return dropped;
        };
        q.items.retain(|frame| {
            let Frame::Sealed(sealed) = frame else {
                return true;
            };
            let h = sealed.header();
            if h.direction != Direction::Output {
                return true;
            }
            dropped.frames += 1;
            dropped.bytes += sealed.as_bytes().len();
            if !dropped.terminals.contains(&h.terminal) {
                dropped.terminals.push(h.terminal);
            }
            false
        });
        q.bytes -= dropped.bytes;
        dropped
    }

    /// Frames handed to the driver on this connection so far.
    pub(crate) fn sent(&self, conn: ConnId) -> u64 {
        self.queues.get(&conn).map_or(0, |q| q.sent)
    }

    pub(crate) fn queued(&self, conn: ConnId) -> (usize, usize) {
        self.queues
            .get(&conn)
            .map_or((0, 0), |q| (q.items.len(), q.bytes))
    }

    /// The next transmit, round-robin over ready connections. A `Close`
    /// forgets the connection's queue.
    pub(crate) fn poll(&mut self) -> Option<Transmit> {
        while let Some(conn) = self.ready.pop_front() {
            let Some(q) = self.queues.get_mut(&conn) else {
                continue;
            };
            q.scheduled = false;
            if q.blocked && !q.closing {
                continue;
            }
            if let Some(frame) = q.items.pop_front() {
                q.bytes -= frame_len(&frame);
                q.sent += 1;
                // A burst (a joiner's session state) must not pin its
                // capacity for the connection's lifetime.
                if q.items.is_empty() && q.items.capacity() > IDLE_CAPACITY {
                    q.items.shrink_to(IDLE_CAPACITY);
                }
                Self::schedule(&mut self.ready, conn, q);
                return Some(Transmit::Send { conn, frame });
            }
            if q.closing {
                self.queues.remove(&conn);
                return Some(Transmit::Close { conn });
            }
        }
        None
    }
}
