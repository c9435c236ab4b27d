//! Reconnect backoff: bounded exponential delays with full jitter, so that
//! many clients that lost the same relay do not return in lockstep.

use core::time::Duration;

use rand_core::Rng;

/// Default first delay ceiling.
pub const DEFAULT_BASE: Duration = Duration::from_millis(250);

/// Default largest delay ceiling.
pub const DEFAULT_MAX: Duration = Duration::from_secs(15);

/// A connection that stayed up this long resets the backoff when it is
/// lost (SPEC.md 12.2).
pub const STABLE_CONNECTION: Duration = Duration::from_secs(30);

/// Exponential backoff with full jitter: attempt `n` waits a uniformly
/// random time in `[0, min(max, base * 2^n)]`.
///
/// ```
/// use core::time::Duration;
/// use rand_core::SeedableRng;
/// use taiku_transport::backoff::Backoff;
///
/// let mut rng = chacha20::ChaCha20Rng::from_seed([0; 32]);
/// let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
/// for _ in 0..10 {
///     assert!(backoff.next_delay(&mut rng) <= Duration::from_secs(2));
/// }
/// backoff.reset(); // after a connection that lasted STABLE_CONNECTION
/// assert_eq!(backoff.attempts(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(DEFAULT_BASE, DEFAULT_MAX)
    }
}

impl Backoff {
    /// A backoff whose ceiling starts at `base` and doubles up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            attempts: 0,
        }
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The ceiling of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempts.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next delay to wait before reconnecting.
    pub fn next_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let ceiling = self.ceiling();
        self.attempts = self.attempts.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        // Modulo bias is below 2^-30 for ceilings under a minute: negligible
        // for scheduling.
        Duration::from_nanos(rng.next_u64() % (nanos + 1))
    }

    /// Start over after a connection succeeded.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn ceilings_double_then_stay_bounded() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut rng = chacha20::ChaCha20Rng::from_seed([3; 32]);
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay(&mut rng);
            assert!(d <= Duration::from_millis(1000));
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        for _ in 0..100 {
            b.next_delay(&mut rng);
        }
        assert_eq!(b.ceiling(), Duration::from_millis(1000));
    }

    #[test]
    fn delays_are_jittered() {
        let mut rng = chacha20::ChaCha20Rng::from_seed([4; 32]);
        let delays: Vec<Duration> = (0..16)
            .map(|_| {
                Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay(&mut rng)
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 12, "{delays:?}");
    }

    #[test]
    fn reset_starts_over() {
        let mut rng = chacha20::ChaCha20Rng::from_seed([5; 32]);
        let mut b = Backoff::default();
        b.next_delay(&mut rng);
        b.next_delay(&mut rng);
        assert_eq!(b.ceiling(), DEFAULT_BASE * 4);
        b.reset();
        assert_eq!(b.ceiling(), DEFAULT_BASE);
    }
}
