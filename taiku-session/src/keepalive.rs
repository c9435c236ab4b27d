//! Keep-alive and liveness of the host and participant machines (SPEC.md
//! 6.7, 12.2): one `Ping` every interval while admitted, so the relay's
//! idle timeout never closes a quiet connection; and a connection from
//! which nothing (not even a `Pong`) arrives for the liveness timeout is
//! declared dead, so that a half-open connection is noticed and replaced.

use std::time::{Duration, Instant};

use taiku_proto::message as m;

/// The keep-alive and liveness timers of one connection.
#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Duration,
    timeout: Duration,
    next: Option<Instant>,
    /// When something last arrived, while the connection is watched.
    last_rx: Option<Instant>,
    sent: u64,
    dead: bool,
}

impl Keepalive {
    pub(crate) fn new(interval: Duration, timeout: Duration) -> Self {
        Keepalive {
            interval,
            timeout,
            next: None,
            last_rx: None,
            sent: 0,
            dead: false,
        }
    }

    /// A connection is up at `now`: from now on something must arrive
    /// within the liveness timeout.
    pub(crate) fn connected(&mut self, now: Instant) {
        self.last_rx = Some(now);
        self.dead = false;
    }

    /// Admitted at `now`: the first ping is due one interval later.
    pub(crate) fn start(&mut self, now: Instant) {
        self.next = Some(now + self.interval);
    }

    /// A frame arrived at `now`.
    pub(crate) fn received(&mut self, now: Instant) {
        if self.last_rx.is_some() {
            self.last_rx = Some(now);
        }
    }

    /// No connection any more: no pings, nothing watched.
    pub(crate) fn stop(&mut self) {
        self.next = None;
        self.last_rx = None;
        self.dead = false;
    }

    /// When the next ping or the liveness deadline is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let silent = self.last_rx.map(|t| t + self.timeout);
        [self.next, silent].into_iter().flatten().min()
    }

    /// The ping to send at `now`, if one is due; nonces count from 1.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<m::Ping> {
        if let Some(t) = self.last_rx
            && t + self.timeout <= now
        {
            self.dead = true;
            self.next = None;
            self.last_rx = None;
        }
        if self.next.is_some_and(|t| t <= now) {
            self.sent += 1;
            self.next = Some(now + self.interval);
            Some(m::Ping { nonce: self.sent })
        } else {
            None
        }
    }

    /// A ping to send now, out of schedule (the host asks the relay to
    /// acknowledge what it sent); the next scheduled one is an interval
    /// later.
    pub(crate) fn ping_now(&mut self, now: Instant) -> Option<m::Ping> {
        self.next?;
        self.sent += 1;
        self.next = Some(now + self.interval);
        Some(m::Ping { nonce: self.sent })
    }

    /// Whether `nonce` is one this connection may have sent.
    pub(crate) fn sent(&self, nonce: u64) -> bool {
        nonce <= self.sent
    }

    /// Whether the connection went silent for the liveness timeout; true
    /// once, then the driver closes it.
    pub(crate) fn take_dead(&mut self) -> bool {
        core::mem::take(&mut self.dead)
    }
}
