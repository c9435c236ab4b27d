//! What the relay reports for observability.

use taiku_proto::message::{EndReason, RefusalReason};
use taiku_proto::{ActionCode, ParticipantId, Role, SessionId};

use super::ConnId;
use crate::access::Refusal;

/// Something that happened, drained with [`Relay::poll_event`](super::Relay::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A host created a session.
    SessionCreated {
        /// The new session.
        session: SessionId,
    },
    /// Somebody was admitted.
    Joined {
        /// The session joined.
        session: SessionId,
        /// The participant id assigned (0 for the host).
        participant: ParticipantId,
        /// The role proven.
        role: Role,
        /// Its connection.
        conn: ConnId,
        /// The identity its transport attached
        /// ([`Relay::attach_identity`](super::Relay::attach_identity)), for
        /// audit logs.
        identity: Option<String>,
    },
    /// An admission was refused.
    Denied {
        /// The connection refused.
        conn: ConnId,
        /// The reason sent to it.
        reason: RefusalReason,
    },
    /// An admitted action was refused.
    ActionRefused {
        /// The session.
        session: SessionId,
        /// Who tried.
        participant: ParticipantId,
        /// What was refused.
        action: ActionCode,
        /// Why (sent as [`Refusal::to_proto`]).
        reason: Refusal,
    },
    /// A participant left.
    Left {
        /// The session left.
        session: SessionId,
        /// Who left.
        participant: ParticipantId,
    },
    /// The host's connection dropped; the grace window runs.
    HostAway {
        /// The session.
        session: SessionId,
    },
    /// The host came back within the grace window.
    HostResumed {
        /// The session.
        session: SessionId,
    },
    /// A session ended and its state was freed.
    SessionEnded {
        /// The session.
        session: SessionId,
        /// Why.
        reason: EndReason,
    },
    /// A participant's queue passed `resync_queue_bytes`: the output
    /// queued for it was dropped and it is skipped forward with snapshots
    /// (SPEC.md 6.7).
    Resynced {
        /// The session.
        session: SessionId,
        /// Who was skipped forward.
        participant: ParticipantId,
        /// Output frames dropped from its queue.
        frames: usize,
        /// Their bytes.
        bytes: usize,
    },
    /// A connection was closed by the relay.
    Evicted {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: EvictReason,
    },
}

/// Why the relay closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EvictReason {
    /// Its outbound queue overflowed.
    #[error("its outbound queue overflowed")]
    TooSlow,
    /// It sent a frame that is not allowed in its state.
    #[error("it sent a frame not allowed in its state")]
    ProtocolViolation,
    /// Too many failed admissions.
    #[error("too many failed admissions")]
    RateLimited,
    /// Admission took too long.
    #[error("admission took too long")]
    HandshakeTimeout,
    /// Nothing received for the idle timeout.
    #[error("nothing received for the idle timeout")]
    Idle,
    /// The relay has too many connections.
    #[error("the relay has too many connections")]
    RelayFull,
    /// Another connection took its host seat.
    #[error("another connection took its host seat")]
    Replaced,
    /// Its session ended.
    #[error("its session ended")]
    SessionEnded,
    /// A frame failed to decode.
    #[error("a frame failed to decode")]
    Malformed,
}
