//! The typing lock of one terminal (SPEC.md 6.3): whoever's input was
//! accepted last holds it for a while, so two people do not type into one
//! shell at once. The owner's input always goes through and takes it.

use std::time::{Duration, Instant};

use taiku_proto::ParticipantId;

use super::{Control, Refusal};

/// The typing lock of one terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FocusLock {
    held: Option<(ParticipantId, Instant)>,
}

/// What taking or expiring the lock changed, for the caller to broadcast
/// and to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockChange {
    /// Nothing to tell anyone.
    None,
    /// A new holder: broadcast it. `arm` asks for a timer at the given
    /// instant (none was running).
    Taken {
        /// Call [`FocusLock::expire`] at this instant, if set.
        arm: Option<Instant>,
    },
    /// The same holder typed again; `arm` as for `Taken`.
    Renewed {
        /// Call [`FocusLock::expire`] at this instant, if set.
        arm: Option<Instant>,
    },
    /// The lock is free now: broadcast holder 0.
    Released,
    /// Not due yet: call [`FocusLock::expire`] again at this instant.
    Later(Instant),
}

impl FocusLock {
    /// The holder at `now`, if its lock has not expired.
    pub fn holder(&self, now: Instant) -> Option<ParticipantId> {
        self.held
            .filter(|(_, until)| *until > now)
            .map(|(holder, _)| holder)
    }

    /// Whether `actor`, already allowed to type into the terminal with
    /// `control` ([`check`](super::check)), may type at `now`.
    pub fn check(
        &self,
        actor: ParticipantId,
        control: &Control,
        now: Instant,
    ) -> Result<(), Refusal> {
        match self.holder(now) {
            Some(holder) if holder != actor && control.owner != actor => Err(Refusal::FocusLocked),
            _ => Ok(()),
        }
    }

    /// Input of `actor` was accepted at `now`: it holds the lock for
    /// `duration`.
    pub fn take(&mut self, actor: ParticipantId, now: Instant, duration: Duration) -> LockChange {
        let previous = self.holder(now);
        let had_timer = self.held.is_some();
        let until = now + duration;
        self.held = Some((actor, until));
        let arm = (!had_timer).then_some(until);
        if previous == Some(actor) {
            LockChange::Renewed { arm }
        } else {
            LockChange::Taken { arm }
        }
    }

    /// The lock's timer fired at `now`.
    pub fn expire(&mut self, now: Instant) -> LockChange {
        match self.held {
            Some((_, until)) if until <= now => {
                self.held = None;
                LockChange::Released
            }
            Some((_, until)) => LockChange::Later(until),
            None => LockChange::None,
        }
    }

    /// `who` left: a lock it held is released at once.
    pub fn release(&mut self, who: ParticipantId) -> LockChange {
        if self.held.is_some_and(|(holder, _)| holder == who) {
            self.held = None;
            LockChange::Released
        } else {
            LockChange::None
        }
    }
}
