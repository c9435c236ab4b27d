//! What the relay tracks per connection: its admission state and timers.

use std::time::Instant;

use taiku_crypto::{Challenge, Verifiers};
use taiku_proto::message as m;
use taiku_proto::{ParticipantId, SessionId};

/// What a connection asked for before proving a role.
#[derive(Debug)]
pub(super) enum Intent {
    Create {
        session: SessionId,
        verifiers: Box<Verifiers>,
        options: m::SessionOptions,
        profile: m::Profile,
    },
    Resume {
        session: SessionId,
        profile: m::Profile,
    },
    Join {
        session: SessionId,
        profile: m::Profile,
    },
}

#[derive(Debug)]
pub(super) enum ConnState {
    Fresh,
    Challenged {
        challenge: Challenge,
        intent: Box<Intent>,
    },
    Host {
        session: SessionId,
    },
    Participant {
        session: SessionId,
        id: ParticipantId,
    },
    /// An HTTP tunnel request the driver handed over (SPEC.md 12.4).
    Tunnel {
        session: SessionId,
        id: crate::forward::ForwardId,
    },
    Closed,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) state: ConnState,
    pub(super) connected_at: Instant,
    pub(super) last_rx: Instant,
    pub(super) identity: Option<String>,
    pub(super) source: Option<super::Source>,
    pub(super) auth_failures: u32,
    pub(super) retry_after: Option<Instant>,
}

impl Conn {
    pub(super) fn new(now: Instant) -> Self {
        Conn {
            state: ConnState::Fresh,
            connected_at: now,
            last_rx: now,
            identity: None,
            source: None,
            auth_failures: 0,
            retry_after: None,
        }
    }

    /// Admitted: the admission back-off starts over.
    pub(super) fn admit(&mut self, state: ConnState) {
        self.state = state;
        self.auth_failures = 0;
        self.retry_after = None;
    }
}
