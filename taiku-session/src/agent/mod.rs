//! Agent status: what an AI coding agent running in a terminal is doing,
//! and the detector interface that derives it from that terminal's output.

use std::time::Instant;

use taiku_proto::limits::MAX_LABEL_BYTES;
use taiku_proto::message as m;

/// The state of an agent (SPEC.md 11.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentState {
    /// Working.
    Running,
    /// Reasoning before acting.
    Thinking,
    /// Running a tool (a shell command, an edit, a search).
    ToolUse,
    /// Waiting for the user: a question, a permission, the next prompt.
    WaitingForInput,
    /// Started, doing nothing.
    Idle,
    /// Finished its task.
    Done,
    /// Stopped on an error.
    Error,
}

impl AgentState {
    /// Every state, in the order of SPEC.md 11.4.
    pub const ALL: [AgentState; 7] = [
        AgentState::Running,
        AgentState::Thinking,
        AgentState::ToolUse,
        AgentState::WaitingForInput,
        AgentState::Idle,
        AgentState::Done,
        AgentState::Error,
    ];

    /// The word a command names the state by (`taiku status WORD`):
    /// `running`, `thinking`, `tool`, `waiting`, `idle`, `done`, `error`.
    pub fn word(self) -> &'static str {
        match self {
            AgentState::Running => "running",
            AgentState::Thinking => "thinking",
            AgentState::ToolUse => "tool",
            AgentState::WaitingForInput => "waiting",
            AgentState::Idle => "idle",
            AgentState::Done => "done",
            AgentState::Error => "error",
        }
    }

    /// The state a [`word`](Self::word) names.
    pub fn from_word(word: &str) -> Option<AgentState> {
        AgentState::ALL.into_iter().find(|s| s.word() == word)
    }

    /// How a client shows it: `running`, `thinking`, `using a tool`,
    /// `waiting for input`, `idle`, `done`, `error`.
    pub fn describe(self) -> &'static str {
        match self {
            AgentState::ToolUse => "using a tool",
            AgentState::WaitingForInput => "waiting for input",
            other => other.word(),
        }
    }
}

/// An agent's status in one terminal. It carries no terminal id: it is
/// sealed into the status stream of the terminal it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgentStatus {
    /// The agent's name ("claude", "codex", "opencode"); at most
    /// [`MAX_LABEL_BYTES`] bytes, longer names are cut at a character
    /// boundary.
    pub agent: String,
    /// What it is doing.
    pub state: AgentState,
    /// A short detail; at most [`MAX_LABEL_BYTES`] bytes, cut likewise.
    pub detail: String,
}

/// Cut a label to [`MAX_LABEL_BYTES`] at a character boundary.
pub(crate) fn cut_label(s: String) -> String {
    cut_text(s, MAX_LABEL_BYTES)
}

/// Cut a text to `max` bytes at a character boundary.
pub(crate) fn cut_text(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl AgentStatus {
    /// A status with its labels cut to their limits.
    pub fn new(agent: impl Into<String>, state: AgentState, detail: impl Into<String>) -> Self {
        AgentStatus {
            agent: cut_label(agent.into()),
            state,
            detail: cut_label(detail.into()),
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> m::AgentStatus {
        let state = match self.state {
            AgentState::Running => m::AgentState::Running,
            AgentState::Thinking => m::AgentState::Thinking,
            AgentState::WaitingForInput => m::AgentState::WaitingForInput,
            AgentState::Idle => m::AgentState::Idle,
            AgentState::Done => m::AgentState::Done,
            AgentState::Error => m::AgentState::Error,
            AgentState::ToolUse => m::AgentState::ToolUse,
        };
        m::AgentStatus {
            agent: self.agent.clone(),
            state: state as i32,
            detail: self.detail.clone(),
        }
    }

    /// From the wire form, labels cut to their limits; `None` for an
    /// unspecified or unknown state (a newer peer's).
    pub fn from_proto(status: &m::AgentStatus) -> Option<Self> {
        let state = match m::AgentState::try_from(status.state).ok()? {
            m::AgentState::Unspecified => return None,
            m::AgentState::Running => AgentState::Running,
            m::AgentState::Thinking => AgentState::Thinking,
            m::AgentState::WaitingForInput => AgentState::WaitingForInput,
            m::AgentState::Idle => AgentState::Idle,
            m::AgentState::Done => AgentState::Done,
            m::AgentState::Error => AgentState::Error,
            m::AgentState::ToolUse => AgentState::ToolUse,
        };
        Some(AgentStatus::new(
            status.agent.clone(),
            state,
            status.detail.clone(),
        ))
    }
}

/// Whether a change of a terminal's status from `before` to `after` asks
/// for the participants' attention (SPEC.md 11.4): the agent started
/// waiting for input, or is done.
pub fn needs_attention(before: Option<&AgentStatus>, after: Option<&AgentStatus>) -> bool {
    let attention = |s: Option<&AgentStatus>| {
        s.map(|s| s.state)
            .filter(|s| matches!(s, AgentState::WaitingForInput | AgentState::Done))
    };
    attention(after).is_some() && attention(after) != attention(before)
}

impl core::fmt::Display for AgentStatus {
    /// `claude: waiting for input (needs review)`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let agent = if self.agent.is_empty() {
            "agent"
        } else {
            &self.agent
        };
        write!(f, "{agent}: {}", self.state.describe())?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Derives agent status from one terminal's output. The host feeds each
/// detector only the output of the terminal it was installed on, so a
/// detector can never attribute status to another terminal.
pub trait AgentDetector: Send {
    /// Look at the next output bytes, read at `now`; return a status when
    /// it changed.
    fn feed(&mut self, output: &[u8], now: Instant) -> Option<AgentStatus>;

    /// What it makes of the output so far (the host shows it when a
    /// status set by a command is cleared).
    fn current(&self) -> Option<AgentStatus> {
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called (a
    /// state that silence changes), if ever.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Time passed without output; return a status when it changed.
    fn handle_timeout(&mut self, now: Instant) -> Option<AgentStatus> {
        let _ = now;
        None
    }
}

pub mod detect;
