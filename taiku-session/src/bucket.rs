//! A token bucket: `burst` actions at once, one more each `refill`.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct TokenBucket {
    tokens: u32,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn full(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            refilled: now,
        }
    }

    /// Whether a token is there at `now` (refilling, taking nothing).
    pub(crate) fn ready(&mut self, burst: u32, refill: Duration, now: Instant) -> bool {
        self.refill(burst, refill, now);
        self.tokens > 0
    }

    /// Take one token at `now`; `false` when the bucket is empty.
    pub(crate) fn take(&mut self, burst: u32, refill: Duration, now: Instant) -> bool {
        if !self.ready(burst, refill, now) {
            return false;
        }
        self.tokens -= 1;
        true
    }

    fn refill(&mut self, burst: u32, refill: Duration, now: Instant) {
        let refill = refill.as_nanos().max(1);
        let elapsed = now.saturating_duration_since(self.refilled).as_nanos();
        let tokens = u32::try_from(elapsed / refill).unwrap_or(u32::MAX);
        if tokens > 0 {
            self.tokens = self.tokens.saturating_add(tokens).min(burst);
            self.refilled = now;
        }
    }
}
