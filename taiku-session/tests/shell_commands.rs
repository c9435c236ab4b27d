//! Commands from inside a shared shell (SPEC.md 11.3, 11.4, 11.7), through
//! the local channel's bytes, with a relay and participants in memory: a
//! command acts on the terminal its token belongs to and on nothing else,
//! is refused with its typed reason otherwise, is held to its rate, and
//! what it sends stays sealed from the relay.

use std::time::Duration;

use prost::Message;
use taiku_proto::message::{self as m, shell_request::Action};
use taiku_proto::{ParticipantId, Role, TerminalId};
use taiku_session::agent::{AgentState, AgentStatus};
use taiku_session::host::ShellToken;
use taiku_session::participant::ParticipantEvent;

#[path = "support/net.rs"]
mod net;
use net::Net;

fn request(token: Option<&ShellToken>, terminal: u32, action: Action) -> Vec<u8> {
    m::ShellRequest {
        token: token
            .map(|t| t.to_env_value().to_string())
            .unwrap_or_default(),
        terminal_id: terminal,
        action: Some(action),
    }
    .encode_to_vec()
}

fn status(agent: &str, state: AgentState, detail: &str) -> Action {
    Action::SetStatus(AgentStatus::new(agent, state, detail).to_proto())
}

fn ask(net: &mut Net, body: &[u8]) -> m::ShellReply {
    let reply = net.host.handle_shell_request(body, net.now);
    net.run();
    reply
}

fn refused(reason: m::ShellRefusal, terminal_id: u32, named: u32) -> m::ShellReply {
    m::ShellReply {
        refused: reason as i32,
        terminal_id,
        named,
        people: Vec::new(),
    }
}

fn done(terminal: TerminalId) -> m::ShellReply {
    refused(m::ShellRefusal::Unspecified, terminal.0, 0)
}

#[test]
fn a_command_acts_on_its_own_terminal_only() {
    let mut net = Net::new(40);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let (t2, _token2) = net.open(ParticipantId::HOST);
    let r = net.add_peer(Role::Reader, "rita");
    let waiting = status("claude", AgentState::WaitingForInput, "needs review");

    // Terminal 1's token, whichever shell it was exported into, acts on
    // terminal 1; naming terminal 2 with it is refused.
    assert_eq!(
        ask(&mut net, &request(Some(&token1), 0, waiting.clone())),
        done(t1)
    );
    assert_eq!(
        ask(&mut net, &request(Some(&token1), t2.0, waiting.clone())),
        refused(m::ShellRefusal::WrongTerminal, t1.0, t2.0)
    );
    let view = net.peers[r].machine.view();
    assert_eq!(
        view.terminals[&t1].agent,
        Some(AgentStatus::new(
            "claude",
            AgentState::WaitingForInput,
            "needs review"
        ))
    );
    assert_eq!(view.terminals[&t2].agent, None);

    // No token, a token of no terminal, and a malformed one.
    assert_eq!(
        ask(&mut net, &request(None, 0, waiting.clone())),
        refused(m::ShellRefusal::NoToken, 0, 0)
    );
    let stranger = m::ShellRequest {
        token: "ab".repeat(32),
        terminal_id: 0,
        action: Some(waiting.clone()),
    };
    assert_eq!(
        ask(&mut net, &stranger.encode_to_vec()),
        refused(m::ShellRefusal::UnknownToken, 0, 0)
    );
    // Not a request, a request without an action, one over the limit.
    for body in [
        vec![0xff; 9],
        m::ShellRequest::default().encode_to_vec(),
        vec![0; taiku_proto::limits::MAX_SHELL_REQUEST_BYTES + 1],
    ] {
        assert_eq!(
            ask(&mut net, &body),
            refused(m::ShellRefusal::Malformed, 0, 0)
        );
    }

    // A closed terminal's token is refused as closed, and nothing changes.
    net.host.close_terminal(t1, 0, net.now).unwrap();
    net.run();
    assert_eq!(
        ask(&mut net, &request(Some(&token1), 0, waiting)),
        refused(m::ShellRefusal::ClosedTerminal, 0, 0)
    );
    assert_eq!(net.peers[r].machine.view().terminals[&t2].agent, None);
}

#[test]
fn notices_reach_everyone_sealed_and_attributed() {
    let mut net = Net::new(41);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let (_t2, _) = net.open(ParticipantId::HOST);
    let w = net.add_peer(Role::Writer, "wes");
    let r = net.add_peer(Role::Reader, "rae");
    let working = status("codex", AgentState::Running, "marker-status-detail");
    assert_eq!(ask(&mut net, &request(Some(&token1), 0, working)), done(t1));
    let text = "marker-notice: tests pass, please review";
    assert_eq!(
        ask(
            &mut net,
            &request(Some(&token1), 0, Action::Notify(text.into()))
        ),
        done(t1)
    );
    for p in [w, r] {
        let notices: Vec<_> = net.peers[p]
            .events
            .iter()
            .filter_map(|e| match e {
                ParticipantEvent::Notice { term, text } => Some((*term, text.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(notices, [(t1, text.to_owned())]);
    }
    // A late joiner gets the status (the last frame of the run), not the
    // notice again.
    let late = net.add_peer(Role::Reader, "late");
    net.advance(Duration::from_millis(10));
    assert_eq!(
        net.peers[late].machine.view().terminals[&t1].agent,
        Some(AgentStatus::new(
            "codex",
            AgentState::Running,
            "marker-status-detail"
        ))
    );
    assert!(
        !net.peers[late]
            .events
            .iter()
            .any(|e| matches!(e, ParticipantEvent::Notice { .. }))
    );
    // Notices are limited to notice_burst at once.
    let mut replies = Vec::new();
    for i in 0..6 {
        replies.push(ask(
            &mut net,
            &request(Some(&token1), 0, Action::Notify(format!("n{i}"))),
        ));
    }
    let limited = replies
        .iter()
        .filter(|r| r.refused == m::ShellRefusal::RateLimited as i32)
        .count();
    assert_eq!(
        (replies.len() - limited, limited),
        (4, 2),
        "1 + 4 of a burst of 5"
    );
    net.assert_relay_blind(&[b"marker-notice".to_vec(), b"marker-status-detail".to_vec()]);
}

#[test]
fn commands_are_limited_in_rate_per_terminal() {
    let mut net = Net::new(42);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let (t2, token2) = net.open(ParticipantId::HOST);
    let who = || Action::Who(m::Who {});
    let burst = 20;
    for _ in 0..burst {
        assert_eq!(ask(&mut net, &request(Some(&token1), 0, who())).refused, 0);
    }
    assert_eq!(
        ask(&mut net, &request(Some(&token1), 0, who())),
        refused(m::ShellRefusal::RateLimited, t1.0, 0)
    );
    // Another terminal has its own allowance.
    assert_eq!(
        ask(&mut net, &request(Some(&token2), 0, who())).terminal_id,
        t2.0
    );
    // One more each 100 ms.
    net.advance(Duration::from_millis(100));
    assert_eq!(ask(&mut net, &request(Some(&token1), 0, who())).refused, 0);
    assert_eq!(
        ask(&mut net, &request(Some(&token1), 0, who())).refused,
        m::ShellRefusal::RateLimited as i32
    );
}

#[test]
fn who_lists_the_people_present_and_labels_reach_everyone() {
    let mut net = Net::new(43);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let w = net.add_peer(Role::Writer, "wanda");
    let r = net.add_peer(Role::Reader, "rob");
    let reply = ask(&mut net, &request(Some(&token1), 0, Action::Who(m::Who {})));
    let people: Vec<(u32, &str, i32)> = reply
        .people
        .iter()
        .map(|p| (p.participant_id, p.name.as_str(), p.role))
        .collect();
    assert_eq!(
        people,
        [
            (0, "host", Role::Admin.to_proto()),
            (net.id(w).0, "wanda", Role::Writer.to_proto()),
            (net.id(r).0, "rob", Role::Reader.to_proto()),
        ]
    );

    let label = "tests: cargo nextest";
    assert_eq!(
        ask(
            &mut net,
            &request(Some(&token1), 0, Action::SetLabel(label.into()))
        ),
        done(t1)
    );
    assert_eq!(net.peers[r].machine.view().terminals[&t1].label, label);
    assert!(
        net.peers[w]
            .events
            .contains(&ParticipantEvent::TerminalLabeled(t1))
    );
    // A label set while the host is away reaches everyone on its resume,
    // and a later joiner sees it in the terminal's announcement.
    net.drop_host();
    assert_eq!(
        ask(
            &mut net,
            &request(Some(&token1), 0, Action::SetLabel("offline label".into()))
        ),
        done(t1)
    );
    assert_eq!(
        ask(
            &mut net,
            &request(Some(&token1), 0, Action::Notify("lost?".into()))
        ),
        refused(m::ShellRefusal::Offline, 0, 0),
        "a notice is refused, not silently dropped, while offline"
    );
    net.connect_host();
    assert_eq!(
        net.peers[r].machine.view().terminals[&t1].label,
        "offline label"
    );
    let late = net.add_peer(Role::Reader, "late");
    assert_eq!(
        net.peers[late].machine.view().terminals[&t1].label,
        "offline label"
    );
}

#[test]
fn a_status_from_hooks_silences_the_detector_until_cleared() {
    let mut net = Net::new(44);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let (t2, _) = net.open(ParticipantId::HOST);
    let r = net.add_peer(Role::Reader, "r");
    let agent = |net: &Net, t: TerminalId| net.peers[r].machine.view().terminals[&t].agent.clone();
    // The default detectors: Codex's banner in terminal 2 is terminal 2's.
    net.output(t2, ">_ OpenAI Codex (v0.98.0)\r\n".as_bytes());
    assert_eq!(
        agent(&net, t2).map(|s| (s.agent, s.state)),
        Some(("codex".into(), AgentState::Idle))
    );
    assert_eq!(agent(&net, t1), None);
    // In terminal 1 a hook set the status: the detector is not heard...
    let tool = status("claude", AgentState::ToolUse, "Bash");
    assert_eq!(ask(&mut net, &request(Some(&token1), 0, tool)), done(t1));
    net.output(t1, b"Welcome to Claude Code\r\nDo you want to proceed?\r\n");
    assert_eq!(
        agent(&net, t1),
        Some(AgentStatus::new("claude", AgentState::ToolUse, "Bash"))
    );
    // ...until a command clears it.
    let clear = Action::SetStatus(m::AgentStatus::default());
    assert_eq!(ask(&mut net, &request(Some(&token1), 0, clear)), done(t1));
    assert_eq!(agent(&net, t1), None);
    net.output(t1, b"Do you want to proceed?\r\n");
    assert_eq!(
        agent(&net, t1).map(|s| s.state),
        Some(AgentState::WaitingForInput)
    );
    assert_eq!(agent(&net, t2).map(|s| s.state), Some(AgentState::Idle));
}
