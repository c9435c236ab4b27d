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
