//! The epochs of the last few runs of a stream, remembered so that a run
//! read before is never accepted again as a new one (SPEC.md 4.6, 11.1,
//! 11.2). Memory is bounded: the oldest epoch is forgotten first.

use std::collections::VecDeque;

use taiku_proto::Epoch;

/// The last `capacity` distinct epochs seen, oldest first.
#[derive(Debug)]
pub(crate) struct RecentEpochs {
    epochs: VecDeque<Epoch>,
    capacity: usize,
}

impl RecentEpochs {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentEpochs {
            epochs: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn contains(&self, epoch: Epoch) -> bool {
        self.epochs.contains(&epoch)
    }

    /// Remember `epoch` (once), forgetting the oldest beyond capacity.
    pub(crate) fn remember(&mut self, epoch: Epoch) {
        if self.capacity == 0 || self.contains(epoch) {
            return;
        }
        if self.epochs.len() == self.capacity {
            self.epochs.pop_front();
        }
        self.epochs.push_back(epoch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_distinct_epochs() {
        let mut recent = RecentEpochs::new(2);
        recent.remember(Epoch([1; 16]));
        recent.remember(Epoch([1; 16]));
        recent.remember(Epoch([2; 16]));
        assert!(recent.contains(Epoch([1; 16])));
        recent.remember(Epoch([3; 16]));
        assert!(!recent.contains(Epoch([1; 16])));
        assert!(recent.contains(Epoch([2; 16])) && recent.contains(Epoch([3; 16])));
    }
}
