//! What an agent's hook event means for its terminal's status (SPEC.md
//! 11.7, docs/agents.md): `taiku hook claude|codex|opencode` reads the
//! event the agent hands its hooks and sets the status it implies. The
//! event formats are the agents' documented ones: Claude Code's hooks
//! (JSON on standard input with `hook_event_name`), Codex's `notify`
//! program (JSON as the last argument, `type: "agent-turn-complete"`; its
//! newer hooks use Claude Code's shape) and OpenCode's plugin events
//! (`{type, properties}`, forwarded by the plugin in docs/agents.md).

use serde_json::Value;
use taiku_session::agent::{AgentState, AgentStatus};

/// An agent whose hooks `taiku hook` understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Claude Code (`"hooks"` in its settings.json).
    Claude,
    /// Codex (`notify` in config.toml, or its hooks).
    Codex,
    /// OpenCode (a plugin that forwards its events).
    OpenCode,
}

impl Hook {
    /// The agent named on the command line.
    pub fn from_name(name: &str) -> Option<Hook> {
        match name {
            "claude" | "claude-code" => Some(Hook::Claude),
            "codex" => Some(Hook::Codex),
            "opencode" => Some(Hook::OpenCode),
            _ => None,
        }
    }

    /// The agent's name in its status.
    pub fn agent(self) -> &'static str {
        match self {
            Hook::Claude => "claude",
            Hook::Codex => "codex",
            Hook::OpenCode => "opencode",
        }
    }
}

/// Why a hook event was not understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// Not JSON.
    #[error("the hook event is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// The status a hook event implies: `Some(Some(status))` to set it,
/// `Some(None)` to clear it (the agent's session ended), `None` for an
/// event that says nothing about it.
pub fn hook_status(hook: Hook, event: &str) -> Result<Option<Option<AgentStatus>>, HookError> {
    let v: Value = serde_json::from_str(event)?;
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default();
    let set = |state, detail: &str| Ok(Some(Some(AgentStatus::new(hook.agent(), state, detail))));
    // Claude Code's hooks, and Codex's, which share their shape.
    if let Some(name) = v.get("hook_event_name").and_then(Value::as_str) {
        return match name {
            "SessionStart" => set(AgentState::Idle, ""),
            "UserPromptSubmit" => set(AgentState::Thinking, ""),
            "PreToolUse" => set(AgentState::ToolUse, text("tool_name")),
            "PostToolUse" | "PostToolUseFailure" | "SubagentStop" => set(AgentState::Running, ""),
            "PermissionRequest" => set(AgentState::WaitingForInput, text("tool_name")),
            "Notification" => match text("notification_type") {
                // Claude Code's own types that ask for the user; an
                // older Claude Code sends none.
                ""
                | "permission_prompt"
                | "idle_prompt"
                | "elicitation_dialog"
                | "elicitation_url_dialog"
                | "agent_needs_input" => set(AgentState::WaitingForInput, text("message")),
                _ => Ok(None),
            },
            "Stop" => set(AgentState::Done, ""),
            "StopFailure" => set(AgentState::Error, text("error")),
            "SessionEnd" => Ok(Some(None)),
            _ => Ok(None),
        };
    }
    match (hook, text("type")) {
        // Codex's notify program.
        (Hook::Codex, "agent-turn-complete") => set(AgentState::Done, ""),
        (Hook::Codex, "approval-requested") => set(AgentState::WaitingForInput, ""),
        // OpenCode's events (packages/opencode/src/session/status.ts and
        // the plugin documentation).
        (Hook::OpenCode, "session.status") => {
            let status = v.pointer("/properties/status/type").and_then(Value::as_str);
            match status {
                Some("busy") => set(AgentState::Running, ""),
                Some("retry") => set(AgentState::Running, "retrying"),
                Some("idle") => set(AgentState::Done, ""),
                _ => Ok(None),
            }
        }
        (Hook::OpenCode, "session.idle") => set(AgentState::Done, ""),
        (Hook::OpenCode, "session.error") => set(AgentState::Error, ""),
        (Hook::OpenCode, "permission.asked" | "permission.updated") => {
            set(AgentState::WaitingForInput, "")
        }
        (Hook::OpenCode, "permission.replied") => set(AgentState::Running, ""),
        (Hook::OpenCode, "tool.execute.before") => set(AgentState::ToolUse, text("tool")),
        (Hook::OpenCode, "tool.execute.after") => set(AgentState::Running, ""),
        (Hook::OpenCode, "session.deleted") => Ok(Some(None)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(hook: Hook, event: &str) -> Option<Option<(AgentState, String)>> {
        hook_status(hook, event)
            .unwrap()
            .map(|s| s.map(|s| (s.state, s.detail)))
    }

    #[test]
    fn claude_code_events() {
        // The examples of the Claude Code hooks reference.
        let n = r#"{"session_id":"abc123","transcript_path":"/t.jsonl","cwd":"/w","hook_event_name":"Notification","message":"Claude needs your permission","title":"Permission needed","notification_type":"permission_prompt"}"#;
        assert_eq!(
            state(Hook::Claude, n),
            Some(Some((
                AgentState::WaitingForInput,
                "Claude needs your permission".into()
            )))
        );
        let auth = r#"{"hook_event_name":"Notification","message":"ok","notification_type":"auth_success"}"#;
        assert_eq!(state(Hook::Claude, auth), None);
        let tool = r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"cargo test"}}"#;
        assert_eq!(
            state(Hook::Claude, tool),
            Some(Some((AgentState::ToolUse, "Bash".into())))
        );
        assert_eq!(
            state(
                Hook::Claude,
                r#"{"hook_event_name":"Stop","stop_hook_active":false}"#
            ),
            Some(Some((AgentState::Done, String::new())))
        );
        assert_eq!(
            state(
                Hook::Claude,
                r#"{"hook_event_name":"SessionEnd","reason":"other"}"#
            ),
            Some(None)
        );
        assert_eq!(
            state(Hook::Claude, r#"{"hook_event_name":"PreCompact"}"#),
            None
        );
        assert!(hook_status(Hook::Claude, "not json").is_err());
    }

    #[test]
    fn codex_and_opencode_events() {
        // Codex's docs/config.md example of the notify argument.
        let turn = r#"{"type":"agent-turn-complete","thread-id":"b5f6c1c2","turn-id":"12345","cwd":"/w","input-messages":["Rename `foo`"],"last-assistant-message":"Rename complete."}"#;
        assert_eq!(
            state(Hook::Codex, turn),
            Some(Some((AgentState::Done, String::new())))
        );
        let busy = r#"{"type":"session.status","properties":{"sessionID":"ses_1","status":{"type":"busy"}}}"#;
        assert_eq!(
            state(Hook::OpenCode, busy),
            Some(Some((AgentState::Running, String::new())))
        );
        let asked = r#"{"type":"permission.asked","properties":{"id":"per_1"}}"#;
        assert_eq!(
            state(Hook::OpenCode, asked),
            Some(Some((AgentState::WaitingForInput, String::new())))
        );
        let tool = r#"{"type":"tool.execute.before","tool":"bash"}"#;
        assert_eq!(
            state(Hook::OpenCode, tool),
            Some(Some((AgentState::ToolUse, "bash".into())))
        );
        assert_eq!(state(Hook::OpenCode, r#"{"type":"file.edited"}"#), None);
        // An event of one agent means nothing for another.
        assert_eq!(state(Hook::Codex, busy), None);
    }
}
