//! Agent status: what an AI coding agent running in a terminal is doing,
//! and the detector interface that derives it from that terminal's output.

use taiku_proto::limits::MAX_LABEL_BYTES;
use taiku_proto::message as m;

/// The state of an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Working.
    Running,
    /// Reasoning before acting.
    Thinking,
    /// Waiting for the user.
    WaitingForInput,
    /// Started, doing nothing.
    Idle,
    /// Done.
    Finished,
    /// Stopped on an error.
    Error,
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
pub(crate) fn cut_label(mut s: String) -> String {
    if s.len() > MAX_LABEL_BYTES {
        let mut end = MAX_LABEL_BYTES;
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

    pub(crate) fn to_proto(&self) -> m::AgentStatus {
        let state = match self.state {
            AgentState::Running => m::AgentState::Running,
            AgentState::Thinking => m::AgentState::Thinking,
            AgentState::WaitingForInput => m::AgentState::WaitingForInput,
            AgentState::Idle => m::AgentState::Idle,
            AgentState::Finished => m::AgentState::Finished,
            AgentState::Error => m::AgentState::Error,
        };
        m::AgentStatus {
            agent: self.agent.clone(),
            state: state as i32,
            detail: self.detail.clone(),
        }
    }

    /// `None` for an unspecified or unknown state.
    pub(crate) fn from_proto(status: &m::AgentStatus) -> Option<Self> {
        let state = match m::AgentState::try_from(status.state).ok()? {
            m::AgentState::Unspecified => return None,
            m::AgentState::Running => AgentState::Running,
            m::AgentState::Thinking => AgentState::Thinking,
            m::AgentState::WaitingForInput => AgentState::WaitingForInput,
            m::AgentState::Idle => AgentState::Idle,
            m::AgentState::Finished => AgentState::Finished,
            m::AgentState::Error => AgentState::Error,
        };
        Some(AgentStatus::new(
            status.agent.clone(),
            state,
            status.detail.clone(),
        ))
    }
}

/// Derives agent status from one terminal's output. The host feeds each
/// detector only the output of the terminal it was installed on, so a
/// detector can never attribute status to another terminal.
pub trait AgentDetector: Send {
    /// Look at the next output bytes; return a status when it changed.
    fn feed(&mut self, output: &[u8]) -> Option<AgentStatus>;
}
