//! What the participant machine reports to its UI.

use bytes::Bytes;
use taiku_crypto::OpenError;
use taiku_proto::message::{ActionRefusal, ControlReason, EndReason, RefusalReason};
use taiku_proto::{ActionCode, Direction, ParticipantId, Role, TerminalId};

use super::view::ChatLine;
use crate::agent::AgentStatus;
use crate::forward::{ForwardEvent, TunnelToken};

/// Something a UI reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParticipantEvent {
    /// The host publishes these ports now (ascending).
    TunnelsChanged {
        /// The ports.
        ports: Vec<u32>,
        /// Those the relay also serves as HTTP tunnels (12.4).
        http: Vec<u32>,
    },
    /// A forward stream asks something of the application (SPEC.md 6.8):
    /// it opened, write its bytes, finish or close its socket.
    Forward(ForwardEvent),
    /// A credential for the session's HTTP tunnels (SPEC.md 12.4).
    TunnelCredential {
        /// The bearer token.
        token: TunnelToken,
        /// How long it lasts at most.
        expires_in_ms: u64,
    },
    /// Admitted.
    Joined {
        /// Assigned id.
        id: ParticipantId,
        /// Proven role.
        role: Role,
    },
    /// Admitted again after a lost connection ([`Joined`](Self::Joined)
    /// is only the first admission). The relay replays buffered output:
    /// runs already shown are not shown again (6.5).
    Rejoined {
        /// Assigned id (a new one).
        id: ParticipantId,
        /// Proven role.
        role: Role,
    },
    /// The connection to the relay is gone. A driver that reconnects says
    /// so with [`Reconnecting`](Self::Reconnecting); one that does not
    /// ends after this event.
    Disconnected,
    /// The driver connects again, attempt `attempt` (from 1), in `delay`
    /// ([`Participant::reconnecting`](super::Participant::reconnecting)).
    Reconnecting {
        /// Which attempt, from 1.
        attempt: u32,
        /// How long until it.
        delay: std::time::Duration,
    },
    /// Keystrokes typed into `term` while this participant's request to
    /// control it waited: `len` bytes, all sent once control came
    /// (`sent`), or all dropped (the request was denied or expired, or the
    /// connection went). Never a part of them; a UI says which.
    HeldInput {
        /// The terminal.
        term: TerminalId,
        /// How many bytes.
        len: usize,
        /// Whether they went to the host.
        sent: bool,
    },
    /// The relay refused the join.
    Denied(RefusalReason),
    /// Terminal output, in order, exactly once.
    Output {
        /// The terminal.
        term: TerminalId,
        /// Bytes to feed the terminal emulator.
        bytes: Bytes,
    },
    /// The [`Output`](Self::Output) of `term` that follows, until its live
    /// output, is the relay's buffered history (at a join, a rejoin, or
    /// after [`Participant::request_history`](super::Participant::request_history)):
    /// a UI clears that terminal first, so history is never shown twice.
    /// `complete` is false when the oldest output was already evicted (a
    /// snapshot follows if the host is online).
    Replay {
        /// The terminal.
        term: TerminalId,
        /// Whether the relay still holds all of the terminal's output.
        complete: bool,
    },
    /// A screen snapshot: reset the terminal's screen to it; output that
    /// follows continues from it.
    Snapshot {
        /// The terminal.
        term: TerminalId,
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
        /// Bytes that repaint the screen.
        screen: Bytes,
    },
    /// The relay skipped this participant forward (it read too slowly,
    /// SPEC.md 6.7): output it never got is covered by the snapshot shown
    /// just before, and live output continues from there.
    Resynced {
        /// The terminal.
        term: TerminalId,
        /// Output frames skipped, when they were of the run that goes on.
        skipped: Option<u64>,
    },
    /// A terminal's agent status changed.
    AgentStatus {
        /// The terminal.
        term: TerminalId,
        /// The status, `None` when no agent runs.
        status: Option<AgentStatus>,
    },
    /// A terminal appeared.
    TerminalOpened(TerminalId),
    /// A terminal closed.
    TerminalClosed(TerminalId),
    /// A terminal's size changed.
    TerminalResized(TerminalId),
    /// A terminal's label changed (a command in its shell set it).
    TerminalLabeled(TerminalId),
    /// A notice from a command run in a terminal (`taiku notify`), sealed
    /// in that terminal's status stream (SPEC.md 11.4).
    Notice {
        /// The terminal it comes from.
        term: TerminalId,
        /// Its text, at most `MAX_NOTICE_BYTES`.
        text: String,
    },
    /// Control of a terminal changed.
    ControlChanged {
        /// The terminal.
        term: TerminalId,
        /// Why.
        reason: ControlReason,
        /// Whose request, for adoption outcomes.
        requester: ParticipantId,
    },
    /// Somebody asks to adopt a terminal this participant owns: answer with
    /// [`Participant::answer_adoption`](super::Participant::answer_adoption).
    AdoptionRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asks.
        requester: ParticipantId,
    },
    /// Presence changed (joined, updated or left).
    Presence(ParticipantId),
    /// A chat line arrived.
    Chat(ChatLine),
    /// The host came back.
    HostOnline,
    /// The host is gone for now.
    HostOffline {
        /// Milliseconds left in the grace window.
        grace_remaining_ms: u64,
    },
    /// The session (or this participant's part in it) is over.
    Ended(EndReason),
    /// The relay refused an action.
    ActionRefused {
        /// What was refused (SPEC.md section 8); `None` for a code this
        /// version does not know.
        action: Option<ActionCode>,
        /// Terminal named.
        term: TerminalId,
        /// Why.
        reason: ActionRefusal,
    },
    /// A sealed frame did not open and was dropped.
    StreamError {
        /// The terminal.
        term: TerminalId,
        /// The stream.
        direction: Direction,
        /// Why.
        error: OpenError,
    },
}
