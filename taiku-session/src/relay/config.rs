//! Relay limits and timers, each with a documented default (SPEC.md
//! section 7.2).

use core::time::Duration;

use taiku_proto::limits::{DEFAULT_MAX_FRAME_LEN, MAX_CHAT_BYTES, MAX_PREFIX_LEN};

use super::replay::REPLAY_BATCH;

/// A configuration the relay cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A largest frame does not fit in `ring_bytes`: every such frame
    /// would empty the ring.
    #[error("ring_bytes is smaller than one largest frame")]
    RingSmallerThanFrame,
    /// A largest frame does not fit in half of `max_queue_bytes`: a replay
    /// (which fills at most half) or a burst could evict any connection.
    #[error("max_queue_bytes is smaller than two largest frames")]
    QueueSmallerThanFrames,
    /// `resync_queue_bytes` leaves less than two largest frames below
    /// `max_queue_bytes`: a queue would overflow before it is resynced.
    #[error("resync_queue_bytes is not two largest frames below max_queue_bytes")]
    ResyncAboveQueue,
    /// `max_queue_frames` leaves no room beside a replay batch.
    #[error("max_queue_frames is below twice the replay batch")]
    QueueShorterThanReplay,
    /// A bucket with no burst or no refill refuses everything, or nothing.
    #[error("a rate limit has a zero burst or refill")]
    ZeroRate,
    /// Connections would be closed before they could be admitted.
    #[error("idle_timeout is not above handshake_timeout")]
    IdleBeforeHandshake,
}

/// Everything a relay bounds. `RelayConfig::default()` is what SPEC.md
/// documents.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// Largest frame body accepted or sent.
    pub max_frame_len: usize,
    /// Connections tracked at once (admitted or not).
    pub max_connections: usize,
    /// Sessions hosted at once.
    pub max_sessions: usize,
    /// Sessions one source (as the transport reports it,
    /// [`Relay::attach_source`](super::Relay::attach_source)) may have
    /// created and still hold.
    pub max_sessions_per_source: usize,
    /// Participants per session, the host not counted.
    pub max_participants: usize,
    /// Terminals per session, counting creates forwarded to the host and
    /// not yet answered.
    pub max_terminals: usize,
    /// How long a forwarded `TerminalCreate` counts against
    /// `max_terminals` while the host has not answered it.
    pub create_timeout: Duration,
    /// Bytes of sealed output kept per terminal for replay.
    pub ring_bytes: usize,
    /// Bytes queued towards one connection before it is too slow.
    pub max_queue_bytes: usize,
    /// Frames queued towards one connection before it is too slow.
    pub max_queue_frames: usize,
    /// Bytes queued towards a participant (with no replay pending) above
    /// which its queued output is dropped and it is skipped forward with
    /// a snapshot instead (SPEC.md 6.7); so are more frames than half of
    /// `max_queue_frames`.
    pub resync_queue_bytes: usize,
    /// How long a skipped participant waits for the host's snapshot
    /// while the host is online before it is closed as too slow.
    pub resync_timeout: Duration,
    /// How long a host may be gone before its session ends.
    pub host_grace: Duration,
    /// The same for a session nobody has joined yet (at most
    /// `host_grace`).
    pub empty_host_grace: Duration,
    /// How long a connection may take to be admitted.
    pub handshake_timeout: Duration,
    /// How long an admitted connection may stay silent.
    pub idle_timeout: Duration,
    /// Failed admissions on one connection before it is closed.
    pub max_auth_failures: u32,
    /// Wait imposed after a failed admission before the next attempt,
    /// doubled after each further failure.
    pub auth_retry_delay: Duration,
    /// How long an adoption request waits for the owner's answer.
    pub adoption_timeout: Duration,
    /// How long the typing focus lock lasts after the last keystroke.
    pub focus_lock: Duration,
    /// Longest chat message in bytes.
    pub max_chat_bytes: usize,
    /// Chat messages kept and replayed to joiners.
    pub chat_history: usize,
    /// Chat messages a participant may send in a burst.
    pub chat_burst: u32,
    /// Time for one chat token to refill.
    pub chat_refill: Duration,
    /// Presence updates, focus and layout messages a participant may
    /// send in a burst (each is fanned out to the whole session).
    pub metadata_burst: u32,
    /// Time for one metadata token to refill.
    pub metadata_refill: Duration,
    /// Terminal, tunnel and hand-off requests a participant may send in a
    /// burst (each makes the host or the session do work).
    pub request_burst: u32,
    /// Time for one request token to refill.
    pub request_refill: Duration,
    /// History requests a participant may send in a burst (each replays
    /// a whole ring).
    pub history_burst: u32,
    /// Time for one history token to refill.
    pub history_refill: Duration,
    /// Tiles in one layout message.
    pub max_layout_tiles: usize,
    /// Events kept for `poll_event` before the oldest are dropped.
    pub max_events: usize,
    /// Longest identity claim from the transport, in bytes.
    pub max_identity_bytes: usize,
    /// Forward streams (sealed and HTTP tunnel) open at once per
    /// participant (SPEC.md 6.8).
    pub max_forwards_per_participant: usize,
    /// Forward streams open at once per session.
    pub max_forwards_per_session: usize,
    /// How long the host has to answer a forward (its first frame or data
    /// back) before it closes with `TIMEOUT`; an HTTP tunnel request then
    /// gets `504`.
    pub forward_answer_timeout: Duration,
    /// Longest an HTTP tunnel request may last, response included.
    pub tunnel_max_duration: Duration,
    /// Largest HTTP tunnel request (head and body) in bytes; larger ones
    /// close with `LIMIT` (`413`).
    pub max_tunnel_request_bytes: u64,
    /// Largest HTTP tunnel response in bytes.
    pub max_tunnel_response_bytes: u64,
    /// How long an HTTP tunnel credential lasts at most (it also ends
    /// when its participant leaves).
    pub tunnel_credential_ttl: Duration,
    /// Credentials kept per participant; a new one beyond replaces the
    /// oldest.
    pub max_tunnel_credentials: usize,
}

impl RelayConfig {
    /// Refuse combinations that cannot work (SPEC.md 7.2).
    ///
    /// ```
    /// use taiku_session::relay::{ConfigError, RelayConfig};
    ///
    /// assert_eq!(RelayConfig::default().validate(), Ok(()));
    /// let tiny = RelayConfig::default().with_ring_bytes(1024);
    /// assert_eq!(tiny.validate(), Err(ConfigError::RingSmallerThanFrame));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let frame = self.max_frame_len + MAX_PREFIX_LEN;
        if self.ring_bytes < frame {
            return Err(ConfigError::RingSmallerThanFrame);
        }
        if self.max_queue_bytes < 2 * frame {
            return Err(ConfigError::QueueSmallerThanFrames);
        }
        if self.resync_queue_bytes + 2 * frame > self.max_queue_bytes {
            return Err(ConfigError::ResyncAboveQueue);
        }
        if self.max_queue_frames < 2 * REPLAY_BATCH {
            return Err(ConfigError::QueueShorterThanReplay);
        }
        let rates = [
            (self.chat_burst, self.chat_refill),
            (self.metadata_burst, self.metadata_refill),
            (self.request_burst, self.request_refill),
            (self.history_burst, self.history_refill),
        ];
        if rates
            .iter()
            .any(|(burst, refill)| *burst == 0 || refill.is_zero())
        {
            return Err(ConfigError::ZeroRate);
        }
        if self.idle_timeout <= self.handshake_timeout {
            return Err(ConfigError::IdleBeforeHandshake);
        }
        Ok(())
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_connections: 4096,
            max_sessions: 1024,
            max_sessions_per_source: 32,
            max_participants: 64,
            max_terminals: 32,
            create_timeout: Duration::from_secs(10),
            ring_bytes: 2 << 20,
            max_queue_bytes: 8 << 20,
            max_queue_frames: 8192,
            resync_queue_bytes: 2 << 20,
            resync_timeout: Duration::from_secs(10),
            host_grace: Duration::from_secs(300),
            empty_host_grace: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_auth_failures: 5,
            auth_retry_delay: Duration::from_millis(500),
            adoption_timeout: Duration::from_secs(60),
            focus_lock: Duration::from_millis(1500),
            max_chat_bytes: MAX_CHAT_BYTES,
            chat_history: 100,
            chat_burst: 5,
            chat_refill: Duration::from_secs(1),
            metadata_burst: 20,
            metadata_refill: Duration::from_millis(50),
            request_burst: 20,
            request_refill: Duration::from_millis(100),
            history_burst: 4,
            history_refill: Duration::from_secs(2),
            max_layout_tiles: 64,
            max_events: 4096,
            max_identity_bytes: 256,
            max_forwards_per_participant: 16,
            max_forwards_per_session: 64,
            forward_answer_timeout: Duration::from_secs(30),
            tunnel_max_duration: Duration::from_secs(600),
            max_tunnel_request_bytes: 16 << 20,
            max_tunnel_response_bytes: 1 << 30,
            tunnel_credential_ttl: Duration::from_secs(3600),
            max_tunnel_credentials: 4,
        }
    }
}

setters! {
    RelayConfig {
        with_max_frame_len(max_frame_len: usize),
        with_max_connections(max_connections: usize),
        with_max_sessions(max_sessions: usize),
        with_max_sessions_per_source(max_sessions_per_source: usize),
        with_max_participants(max_participants: usize),
        with_max_terminals(max_terminals: usize),
        with_create_timeout(create_timeout: Duration),
        with_ring_bytes(ring_bytes: usize),
        with_max_queue_bytes(max_queue_bytes: usize),
        with_max_queue_frames(max_queue_frames: usize),
        with_resync_queue_bytes(resync_queue_bytes: usize),
        with_resync_timeout(resync_timeout: Duration),
        with_host_grace(host_grace: Duration),
        with_empty_host_grace(empty_host_grace: Duration),
        with_handshake_timeout(handshake_timeout: Duration),
        with_idle_timeout(idle_timeout: Duration),
        with_max_auth_failures(max_auth_failures: u32),
        with_auth_retry_delay(auth_retry_delay: Duration),
        with_adoption_timeout(adoption_timeout: Duration),
        with_focus_lock(focus_lock: Duration),
        with_max_chat_bytes(max_chat_bytes: usize),
        with_chat_history(chat_history: usize),
        with_chat_burst(chat_burst: u32),
        with_chat_refill(chat_refill: Duration),
        with_metadata_burst(metadata_burst: u32),
        with_metadata_refill(metadata_refill: Duration),
        with_request_burst(request_burst: u32),
        with_request_refill(request_refill: Duration),
        with_history_burst(history_burst: u32),
        with_history_refill(history_refill: Duration),
        with_max_layout_tiles(max_layout_tiles: usize),
        with_max_events(max_events: usize),
        with_max_identity_bytes(max_identity_bytes: usize),
        with_max_forwards_per_participant(max_forwards_per_participant: usize),
        with_max_forwards_per_session(max_forwards_per_session: usize),
        with_forward_answer_timeout(forward_answer_timeout: Duration),
        with_tunnel_max_duration(tunnel_max_duration: Duration),
        with_max_tunnel_request_bytes(max_tunnel_request_bytes: u64),
        with_max_tunnel_response_bytes(max_tunnel_response_bytes: u64),
        with_tunnel_credential_ttl(tunnel_credential_ttl: Duration),
        with_max_tunnel_credentials(max_tunnel_credentials: usize),
    }
}
