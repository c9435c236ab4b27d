//! Keep-alive pings of the host and participant machines (SPEC.md 12.2):
//! one `Ping` every interval while admitted, so the relay's idle timeout
//! never closes a quiet connection.

use std::time::{Duration, Instant};

use taiku_proto::message as m;

/// The keep-alive timer of one connection.
#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Duration,
    next: Option<Instant>,
    sent: u64,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration) -> Self {
        Keepalive {
            interval,
            next: None,
            sent: 0,
        }
    }

    /// Admitted at `now`: the first ping is due one interval later.
    pub(crate) fn start(&mut self, now: Instant) {
        self.next = Some(now + self.interval);
    }

    /// Not admitted any more: no pings.
    pub(crate) fn stop(&mut self) {
        self.next = None;
    }

    /// When the next ping is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// The ping to send at `now`, if one is due; nonces count from 1.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<m::Ping> {
        if self.next.is_some_and(|t| t <= now) {
            self.sent += 1;
            self.next = Some(now + self.interval);
            Some(m::Ping { nonce: self.sent })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_follow_the_interval_only_while_started() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut k = Keepalive::new(30 * s);
        assert_eq!(k.poll(t0 + 60 * s), None);
        k.start(t0);
        assert_eq!(k.deadline(), Some(t0 + 30 * s));
        assert_eq!(k.poll(t0 + 29 * s), None);
        assert_eq!(k.poll(t0 + 31 * s), Some(m::Ping { nonce: 1 }));
        assert_eq!(k.deadline(), Some(t0 + 61 * s));
        assert_eq!(k.poll(t0 + 61 * s), Some(m::Ping { nonce: 2 }));
        k.stop();
        assert_eq!(k.deadline(), None);
        assert_eq!(k.poll(t0 + 200 * s), None);
    }
}
