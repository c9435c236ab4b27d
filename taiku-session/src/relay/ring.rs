//! The per-terminal replay ring: recent sealed output, bounded by bytes,
//! evicted from the oldest frame.

use std::collections::VecDeque;

use taiku_proto::message::ReplayRun;
use taiku_proto::{Epoch, SealedFrame, Seq};

/// Recent output frames of one terminal.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    frames: VecDeque<SealedFrame>,
    /// The position of the oldest frame held: every frame ever pushed has
    /// a position, counting from 0, so a replay cursor can tell whether
    /// the frame it needs next is still here.
    first: u64,
    bytes: usize,
    evicted: bool,
}

impl Ring {
    /// Append a frame, evicting the oldest until the ring fits `limit`. A
    /// single frame larger than the limit is not kept at all.
    pub(crate) fn push(&mut self, frame: SealedFrame, limit: usize) {
        let len = frame.as_bytes().len();
        if len > limit {
            self.first += self.frames.len() as u64 + 1;
            self.frames.clear();
            self.bytes = 0;
            self.evicted = true;
            return;
        }
        while self.bytes + len > limit {
            match self.frames.pop_front() {
                Some(old) => {
                    self.bytes -= old.as_bytes().len();
                    self.first += 1;
                    self.evicted = true;
                }
                None => break,
            }
        }
        self.bytes += len;
        self.frames.push_back(frame);
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether every output frame ever pushed is still here.
    pub(crate) fn complete(&self) -> bool {
        !self.evicted
    }

    /// The position of the oldest frame held.
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    /// The frame at `position`: `Err(())` if it was evicted, `Ok(None)`
    /// if it has not been pushed yet.
    pub(crate) fn get(&self, position: u64) -> Result<Option<&SealedFrame>, ()> {
        let offset = position.checked_sub(self.first).ok_or(())?;
        Ok(usize::try_from(offset)
            .ok()
            .and_then(|i| self.frames.get(i)))
    }

    /// The last frame's epoch and sequence number.
    pub(crate) fn last(&self) -> Option<(Epoch, Seq)> {
        self.frames
            .back()
            .map(|f| (f.header().epoch, f.header().seq))
    }

    /// The runs the replay consists of: maximal stretches of one epoch.
    pub(crate) fn runs(&self) -> Vec<ReplayRun> {
        let mut runs: Vec<ReplayRun> = Vec::new();
        for frame in &self.frames {
            let h = frame.header();
            match runs.last_mut() {
                Some(run) if run.epoch.as_ref() == h.epoch.0 => run.frame_count += 1,
                _ => runs.push(ReplayRun {
                    epoch: bytes::Bytes::copy_from_slice(&h.epoch.0),
                    first_seq: h.seq.0,
                    frame_count: 1,
                }),
            }
        }
        runs
    }
}
