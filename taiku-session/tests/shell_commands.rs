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
    // ...until a command clears it: then what the detector has seen
    // meanwhile shows.
    let clear = Action::SetStatus(m::AgentStatus::default());
    assert_eq!(ask(&mut net, &request(Some(&token1), 0, clear)), done(t1));
    assert_eq!(
        agent(&net, t1),
        Some(AgentStatus::new("claude", AgentState::Idle, ""))
    );
    net.output(t1, b"\x1b[2K(3s \xc2\xb7 esc to interrupt)\r\n");
    assert_eq!(agent(&net, t1).map(|s| s.state), Some(AgentState::Running));
    net.output(t1, b"Do you want to proceed?\r\n");
    assert_eq!(
        agent(&net, t1).map(|s| s.state),
        Some(AgentState::WaitingForInput)
    );
    assert_eq!(agent(&net, t2).map(|s| s.state), Some(AgentState::Idle));
}

/// Notices sealed by the host in earlier runs or earlier in a run, replayed
/// by a dishonest relay (SPEC.md 11.4): never shown as news, whether
/// re-sent as they were, after a rejoin, after a forged close and reopen,
/// or as the first frame of a run; the only notice shown is a fresh one.
/// Frames are sealed here with the host's own keys, standing for frames
/// the host sealed earlier and the relay kept.
#[test]
fn a_relay_cannot_replay_notices_as_news() {
    use taiku_crypto::KeySchedule;
    use taiku_proto::message::{control::Body, sealed_record};
    use taiku_proto::{Direction, Epoch, Frame};

    let mut net = Net::new(46);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let r = net.add_peer(Role::Reader, "r");
    net.output(t1, b"first output");
    net.advance(Duration::from_millis(10));
    assert_eq!(
        ask(
            &mut net,
            &request(Some(&token1), 0, Action::Notify("live".into()))
        ),
        done(t1)
    );
    let notices = |net: &Net| -> Vec<String> {
        net.peers[r]
            .events
            .iter()
            .filter_map(|e| match e {
                ParticipantEvent::Notice { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(notices(&net), ["live"]);
    let recorded: Vec<Frame> = net
        .relay_saw
        .iter()
        .filter_map(|b| Frame::parse(b.clone(), 1 << 20).ok())
        .filter(|f| matches!(f, Frame::Sealed(s) if s.header().direction == Direction::Status))
        .collect();
    let inject = |net: &mut Net, frames: &[Frame]| {
        for f in frames {
            let now = net.now;
            net.peers[r].machine.handle_frame(f.clone(), now);
        }
        net.run();
    };
    // Replayed as they were, after more output.
    net.output(t1, b"more output");
    net.advance(Duration::from_millis(10));
    inject(&mut net, &recorded);
    // After a rejoin.
    net.drop_peer(r);
    net.connect_peer(r);
    inject(&mut net, &recorded);
    assert_eq!(notices(&net), ["live"], "a recorded notice was shown again");

    // Runs the relay never showed this participant: a notice that opens a
    // run is the latest state, not news; one bound to output it has
    // already shown is history; one bound to the output to come is news.
    let admin = net.host.link("https://relay.example", Role::Admin).unwrap();
    let keys = KeySchedule::new(admin.secret(), net.host.session_id());
    let shown = net.peers[r].screens[&t1].len();
    assert!(shown > 0);
    let output_epoch = net
        .relay_saw
        .iter()
        .filter_map(|b| Frame::parse(b.clone(), 1 << 20).ok())
        .filter_map(|f| match f {
            Frame::Sealed(s) if s.header().direction == Direction::Output => Some(s.header().epoch),
            _ => None,
        })
        .last()
        .unwrap();
    let notice = |text: &str, output_seq: u64| {
        m::SealedRecord {
            body: Some(sealed_record::Body::Notice(m::Notice {
                text: text.into(),
                output_epoch: bytes::Bytes::copy_from_slice(&output_epoch.0),
                output_seq,
            })),
        }
        .encode_to_vec()
    };
    let mut run = keys
        .sealer(
            t1,
            Direction::Status,
            ParticipantId::HOST,
            Epoch([0x5a; 16]),
        )
        .unwrap();
    let frames = [
        run.seal(&notice("opens a run", 1_000)).unwrap(),
        run.seal(&notice("old", 0)).unwrap(),
        run.seal(&notice("fresh", 1_000)).unwrap(),
    ];
    let frames: Vec<Frame> = frames.into_iter().map(Frame::Sealed).collect();
    inject(&mut net, &frames);
    assert_eq!(notices(&net), ["live", "fresh"]);

    // A forged close and reopen: the terminal does not come back, and
    // its runs are not read again.
    let opened = Frame::control(Body::TerminalOpened(m::TerminalOpened {
        terminal_id: t1.0,
        owner: 0,
        rows: 24,
        cols: 80,
        label: "sh".into(),
    }));
    let closed = Frame::control(Body::TerminalClosed(m::TerminalClosed {
        terminal_id: t1.0,
        exit_status: 0,
    }));
    inject(&mut net, &[closed, opened]);
    assert!(
        !net.peers[r].machine.view().terminals.contains_key(&t1),
        "a closed terminal came back"
    );
    inject(&mut net, &recorded);
    inject(&mut net, &frames);
    assert_eq!(notices(&net), ["live", "fresh"]);
}

#[test]
fn alerts_share_the_notice_rate_and_a_refusal_spends_nothing() {
    let mut net = Net::new(47);
    let (t1, token1) = net.open(ParticipantId::HOST);
    let limited = m::ShellRefusal::RateLimited as i32;
    // Five notices, then the sixth is refused...
    for i in 0..5 {
        let reply = ask(
            &mut net,
            &request(Some(&token1), 0, Action::Notify(format!("n{i}"))),
        );
        assert_eq!(reply, done(t1));
    }
    let reply = ask(
        &mut net,
        &request(Some(&token1), 0, Action::Notify("n5".into())),
    );
    assert_eq!(reply.refused, limited);
    // ...without spending a command: 15 of the 20 are left.
    for _ in 0..15 {
        let reply = ask(&mut net, &request(Some(&token1), 0, Action::Who(m::Who {})));
        assert_eq!(reply.refused, 0);
    }
    let reply = ask(&mut net, &request(Some(&token1), 0, Action::Who(m::Who {})));
    assert_eq!(reply.refused, limited);

    // A status that asks for attention (a bell, a notification) is held to
    // the notice rate too: toggling waiting and running rings at most
    // notice_burst times.
    let (t2, token2) = net.open(ParticipantId::HOST);
    let mut rang = 0;
    for _ in 0..10 {
        let waiting = ask(
            &mut net,
            &request(
                Some(&token2),
                0,
                status("a", AgentState::WaitingForInput, ""),
            ),
        );
        rang += usize::from(waiting == done(t2));
        let running = ask(
            &mut net,
            &request(Some(&token2), 0, status("a", AgentState::Running, "")),
        );
        assert_eq!(running, done(t2), "work is not an alert");
    }
    assert_eq!(rang, 5);

    // A state this host does not know is not a clear.
    let unknown = Action::SetStatus(m::AgentStatus {
        agent: "a".into(),
        state: 99,
        detail: String::new(),
    });
    net.advance(Duration::from_secs(5));
    assert_eq!(
        ask(&mut net, &request(Some(&token2), 0, unknown)),
        refused(m::ShellRefusal::Malformed, 0, 0)
    );
    assert_eq!(
        net.host.agent_status(t2).map(|s| s.state),
        Some(AgentState::Running)
    );
}
