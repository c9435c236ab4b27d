//! What the host machine reports to its application, and the errors of
//! its local API.

use bytes::Bytes;
use taiku_crypto::OpenError;
use taiku_proto::message::{ActionRefusal, EndReason, RefusalReason};
use taiku_proto::{ActionCode, ParticipantId, Role, TerminalId};

use super::shell::BindError;
use crate::access::Refusal;
use crate::admin::{AdminAction, AdminRefusal};
use crate::agent::AgentStatus;
use crate::forward::ForwardEvent;

/// Why the host dropped an input frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputDrop {
    /// It did not open: not under the input key (a reader cannot make
    /// one), tampered, replayed, reordered or out of sequence.
    #[error("input did not open: {0}")]
    Open(#[from] OpenError),
    /// The terminal does not exist here.
    #[error("input for an unknown terminal")]
    UnknownTerminal,
    /// The host's own copy of the rules refuses it.
    #[error("input not allowed: {0}")]
    NotAllowed(Refusal),
    /// The sender is not a participant the host knows.
    #[error("input from an unknown participant")]
    UnknownSender,
    /// A new input run that does not start with a run start naming the
    /// sender's current ticket and a higher run index: a replayed or stale
    /// run (SPEC.md 11.1).
    #[error("input run that is not fresh")]
    StaleRun,
}

/// What a shell command asks for, once bound to its terminal (SPEC.md
/// 11.7).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShellAction {
    /// Set (or with `None`, clear) the agent status of the command's own
    /// terminal. A status set this way is exact (an agent's hooks): the
    /// terminal's detector is not heard until a command clears it.
    SetAgentStatus(Option<AgentStatus>),
    /// Notify everyone, from the command's own terminal; the text is cut
    /// to [`MAX_NOTICE_BYTES`](taiku_proto::limits::MAX_NOTICE_BYTES).
    Notify(String),
    /// Set the command's own terminal's label; cut to
    /// [`MAX_LABEL_BYTES`](taiku_proto::limits::MAX_LABEL_BYTES).
    SetLabel(String),
    /// List the people present.
    Who,
}

/// What a shell command got back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShellOutcome {
    /// Done, in this terminal.
    Done(TerminalId),
    /// The people present (for [`ShellAction::Who`]): the host first,
    /// then every participant by id.
    People(TerminalId, Vec<Person>),
}

/// One person present, as the host knows them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Person {
    /// Their id ([`ParticipantId::HOST`] for the host).
    pub id: ParticipantId,
    /// Display name (display only, never permission).
    pub name: String,
    /// Their proven role.
    pub role: Role,
    /// Device label.
    pub device_label: String,
}

/// Why a shell command was refused. Nothing happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShellError {
    /// The command could not be bound to its terminal.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The terminal sent more commands, or notices, than its rate allows
    /// ([`HostConfig::command_burst`](super::HostConfig) and the fields
    /// after it).
    #[error("terminal {0} sends too many commands; slow down")]
    RateLimited(TerminalId),
    /// The host is not connected to the relay, so a notice cannot be sent
    /// now (a status or label is kept and sent on reconnect).
    #[error("the host is not connected to the relay; the notice was not sent")]
    Offline,
}

/// Something the application must know or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// The relay accepted the host (`resumed` after a reconnect).
    Online {
        /// Whether this was a resume.
        resumed: bool,
    },
    /// The connection to the relay is gone; reconnect within the grace
    /// window and call [`Host::connect`](super::Host::connect).
    Offline,
    /// The driver connects again, attempt `attempt` (from 1), in `delay`
    /// ([`Host::reconnecting`](super::Host::reconnecting)).
    Reconnecting {
        /// Which attempt, from 1.
        attempt: u32,
        /// How long until it.
        delay: std::time::Duration,
    },
    /// The relay refused the create or resume.
    Refused(RefusalReason),
    /// The session is over.
    Ended(EndReason),
    /// A resume was denied: the relay no longer has this session (it
    /// restarted, or the grace window ended). Nothing more will happen; a
    /// new session needs a new [`Host`](super::Host).
    SessionLost,
    /// A participant joined.
    Joined {
        /// Its id.
        participant: ParticipantId,
        /// Its proven role.
        role: Role,
        /// Its display name.
        name: String,
    },
    /// A chat line, the host's own included, as the relay numbered it.
    Chat {
        /// Who said it.
        from: ParticipantId,
        /// What.
        text: String,
    },
    /// A participant left.
    Left {
        /// Its id.
        participant: ParticipantId,
    },
    /// Keystrokes for a terminal, checked and opened.
    Input {
        /// The terminal.
        term: TerminalId,
        /// The sender.
        from: ParticipantId,
        /// The bytes to write to the PTY.
        bytes: Bytes,
    },
    /// An input frame was dropped.
    InputDropped {
        /// The terminal it named.
        term: TerminalId,
        /// The sender the relay routed it from.
        from: ParticipantId,
        /// Why.
        reason: InputDrop,
    },
    /// A writer asks for a new terminal it will own: call
    /// [`Host::open_terminal`](super::Host::open_terminal) with `owner = requester`, or ignore it. The
    /// size is already fitted by
    /// [`terminal_size`](taiku_proto::limits::terminal_size).
    CreateRequested {
        /// Who asked (the future owner).
        requester: ParticipantId,
        /// Requested rows.
        rows: u32,
        /// Requested columns.
        cols: u32,
        /// Requested label.
        label: String,
    },
    /// The controller asks to close a terminal.
    CloseRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asked.
        requester: ParticipantId,
    },
    /// The controller asks for a new size; apply it to the PTY and call
    /// [`Host::resize`](super::Host::resize). The size is already fitted by
    /// [`terminal_size`](taiku_proto::limits::terminal_size).
    ResizeRequested {
        /// The terminal.
        term: TerminalId,
        /// Rows.
        rows: u32,
        /// Columns.
        cols: u32,
        /// Who asked.
        requester: ParticipantId,
    },
    /// A participant needs a screen snapshot: call [`Host::send_snapshot`](super::Host::send_snapshot).
    SnapshotRequested {
        /// The terminal.
        term: TerminalId,
        /// Who needs it.
        requester: ParticipantId,
    },
    /// A participant asks to control one of the host's own terminals:
    /// answer with [`Host::answer_adoption`](super::Host::answer_adoption).
    AdoptionRequested {
        /// The terminal.
        term: TerminalId,
        /// Who asks.
        requester: ParticipantId,
    },
    /// An admin published or withdrew a port (its signed `TunnelAdmin`
    /// verified, SPEC.md 4.7); the host applied it.
    TunnelsChanged {
        /// The published ports now, ascending.
        ports: Vec<u32>,
        /// Those the relay may serve as HTTP tunnels.
        http: Vec<u32>,
        /// The admin.
        by: ParticipantId,
    },
    /// A forward stream asks something of the application (SPEC.md 6.8):
    /// connect, write, finish or close its socket.
    Forward(ForwardEvent),
    /// Control of a terminal changed.
    ControlChanged {
        /// The terminal.
        term: TerminalId,
        /// Its owner.
        owner: ParticipantId,
        /// Its controller.
        controller: ParticipantId,
    },
    /// After a resume, the relay holds less than it acknowledged (it lost
    /// its state or lied): these frames are gone; a snapshot repairs
    /// viewers' screens. An honest relay never causes this.
    OutputGap {
        /// The terminal.
        term: TerminalId,
        /// Sealed frames the relay acknowledged and no longer holds.
        frames: u64,
    },
    /// An administrative action (a take-over, a tunnel change) did not
    /// verify and was not applied (SPEC.md 4.7).
    AdminActionRejected {
        /// Who the relay says sent it.
        requester: ParticipantId,
        /// What it asked for.
        action: AdminAction,
        /// Why it was not applied.
        reason: AdminRefusal,
    },
    /// The relay refused one of the host's own frames.
    ActionRefused {
        /// What was refused (SPEC.md section 8); `None` for a code this
        /// version does not know.
        action: Option<ActionCode>,
        /// The terminal named.
        term: TerminalId,
        /// Why.
        reason: ActionRefusal,
    },
}

/// Errors of the host's local API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// No such terminal.
    #[error("unknown terminal {0}")]
    UnknownTerminal(TerminalId),
    /// The owner named is not the host or a writer or admin here.
    #[error("owner {0} is not a writer or admin in the session")]
    InvalidOwner(ParticipantId),
    /// The terminal holds [`HostConfig::resend_bytes`](super::HostConfig)
    /// of output the relay has not acknowledged: keep the bytes, stop
    /// reading the PTY, and offer them again when
    /// [`Host::output_room`](super::Host::output_room) is not 0.
    #[error("terminal {0} holds all the output it may; try again later")]
    OutputFull(TerminalId),
    /// The snapshot does not fit in one frame
    /// ([`HostConfig::max_frame_len`](super::HostConfig)); nothing was sent.
    #[error("the snapshot of terminal {0} is larger than a frame")]
    SnapshotTooLarge(TerminalId),
    /// [`HostConfig::max_terminals`](super::HostConfig) are open.
    #[error("too many terminals")]
    TooManyTerminals,
    /// Terminal ids are exhausted.
    #[error("no terminal ids left")]
    TerminalIdsExhausted,
    /// Not connected to the relay now (chat is not kept for later).
    #[error("not connected to the relay")]
    NotOnline,
    /// The rules refuse the request (a grant to a reader, say); nothing
    /// was sent.
    #[error("not allowed: {0}")]
    Refused(#[from] Refusal),
}
