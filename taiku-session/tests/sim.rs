//! Relay + host + participants through an in-memory network with virtual
//! time and seeded faults: dropped connections, host restarts within and
//! after the grace window, slow viewers. Every participant's decrypted
//! output must equal what the host's PTY produced, in order, with nothing
//! lost or duplicated; no input from readers or non-controllers is
//! accepted; agent status and shell-bound commands only affect their own
//! terminal; and the relay never sees a secret or a plaintext byte.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::{Rng, SeedableRng};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId, Role};
use taiku_session::access::Control;
use taiku_session::admin::AdminRefusal;
use taiku_session::agent::{AgentDetector, AgentState, AgentStatus};
use taiku_session::host::{
    BindError, Host, HostConfig, HostError, HostEvent, InputDrop, ShellAction, ShellOutcome,
};
use taiku_session::participant::{ActionError, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_session::screen::{Screen, ScreenModel};

#[path = "support/net.rs"]
mod net;
use net::{Net, ORIGIN, Rng64};

fn marker(n: usize) -> Vec<u8> {
    format!("<plaintext-marker-{n:04}>").into_bytes()
}

#[test]
fn whole_session_as_spec_describes_it() {
    let mut net = Net::new(1);
    assert!(net.host.is_online());
    // Section 6.1 / 11.1: create, challenge, proof, accepted.
    assert_eq!(net.kinds("host", "relay"), ["SessionCreate", "JoinProof"]);
    assert_eq!(net.kinds("relay", "host"), ["Challenge", "JoinResult"]);
    let (t1, token1) = net.open(ParticipantId::HOST);
    assert_eq!(net.kinds("host", "relay")[2..], ["TerminalOpened"]);
    net.output(t1, b"first");
    net.advance(Duration::from_millis(10));
    let w = net.add_peer(Role::Writer, "wanda");
    // Section 6.1 step 5: join, then presence, terminals, replay.
    assert_eq!(net.kinds("peer0", "relay"), ["JoinRequest", "JoinProof"]);
    assert_eq!(
        net.kinds("relay", "peer0"),
        [
            "Challenge",
            "JoinResult",
            "Presence",
            "TerminalOpened",
            "ReplayStart",
            "sealed Output",
            // Section 11.1: the host answers the writer's Presence with
            // its input ticket.
            "InputTicket"
        ]
    );
    let r = net.add_peer(Role::Reader, "rex");
    let a = net.add_peer(Role::Admin, "ada");
    let wid = net.id(w);

    // Output reaches every participant exactly.
    net.output(t1, &marker(1));
    net.output(t1, b"$ ");
    net.advance(Duration::from_millis(10));
    net.assert_screens_match();

    // The writer cannot type into the host's terminal; the reader cannot at all.
    assert_eq!(
        net.peers[w].machine.send_input(t1, b"x"),
        Err(ActionError::Refused(
            taiku_session::access::Refusal::NotController
        ))
    );
    assert_eq!(
        net.peers[r].machine.send_input(t1, b"x"),
        Err(ActionError::Refused(
            taiku_session::access::Refusal::ReadOnly
        ))
    );

    // The writer creates its own terminal and types into it.
    net.peers[w]
        .machine
        .create_terminal(30, 100, "build")
        .unwrap();
    net.run();
    let req = net.host_events.iter().find_map(|e| match e {
        HostEvent::CreateRequested {
            requester,
            rows,
            cols,
            ..
        } => Some((*requester, *rows, *cols)),
        _ => None,
    });
    assert_eq!(req, Some((wid, 30, 100)));
    let (t2, _token2) = net.open(wid);
    net.peers[w].machine.send_input(t2, b"make\r").unwrap();
    net.run();
    assert_eq!(net.inputs(), vec![(t2, wid, b"make\r".to_vec())]);

    // Handoff: the writer asks for the host terminal, the host... is not a
    // participant machine here, so the admin takes it over, then grants it.
    net.peers[a].machine.take_over(t1).unwrap();
    net.run();
    let aid = net.id(a);
    assert_eq!(net.host.terminal_control(t1).unwrap().controller, aid);
    net.peers[a].machine.send_input(t1, b"ls\r").unwrap();
    net.run();
    assert_eq!(net.inputs().last().unwrap(), &(t1, aid, b"ls\r".to_vec()));

    // The writer adopts the admin-controlled host terminal? Only the owner
    // (host) answers; the writer asks and the request reaches the host.
    net.peers[w].machine.request_adoption(t2).unwrap_err();
    net.peers[w].machine.request_adoption(t1).unwrap();
    net.run();

    // Agent status, bound through the shell token of terminal 1 only.
    let status = AgentStatus::new("claude", AgentState::WaitingForInput, "");
    let env = token1.to_env_value();
    assert_eq!(
        net.host.shell_command(
            Some(&env),
            Some(t2),
            ShellAction::SetAgentStatus(Some(status.clone())),
            net.now
        ),
        Err(BindError::WrongTerminal {
            bound: t1,
            named: t2
        }
        .into())
    );
    assert_eq!(
        net.host
            .shell_command(None, None, ShellAction::SetAgentStatus(None), net.now),
        Err(BindError::NoToken.into())
    );
    assert_eq!(
        net.host.shell_command(
            Some(&env),
            None,
            ShellAction::SetAgentStatus(Some(status.clone())),
            net.now
        ),
        Ok(ShellOutcome::Done(t1))
    );
    net.run();
    for p in &net.peers {
        assert_eq!(
            p.machine.view().terminals[&t1].agent.as_ref(),
            Some(&status)
        );
        assert_eq!(p.machine.view().terminals[&t2].agent, None);
    }

    // Host reconnect within the grace window: nothing lost.
    net.output(t1, &marker(2));
    net.drop_host();
    net.host.handle_output(t1, &marker(3), net.now).unwrap();
    net.produced
        .get_mut(&t1)
        .unwrap()
        .extend_from_slice(&marker(3));
    net.advance(Duration::from_secs(60));
    let before = net.kinds("host", "relay").len();
    net.connect_host();
    assert!(net.host.is_online());
    // Section 11.1: resume, proof, then per terminal a new run opened by an
    // empty frame, the output the relay lacks, the latest status.
    let after = net.kinds("host", "relay");
    assert_eq!(
        after[before..before + 3],
        ["SessionResume", "JoinProof", "sealed Output"]
    );
    assert!(after[before..].contains(&"sealed Status"));
    net.output(t1, &marker(4));
    net.advance(Duration::from_millis(10));
    net.assert_screens_match();
    for p in &net.peers {
        assert_eq!(
            p.machine.view().terminals[&t1].agent.as_ref(),
            Some(&status),
            "status survives the resume"
        );
    }

    // A late joiner gets the whole history.
    let late = net.add_peer(Role::Reader, "late");
    net.advance(Duration::from_millis(10));
    assert_eq!(net.peers[late].screens.get(&t1), net.produced.get(&t1));

    // Closing a terminal kills its token.
    net.host.close_terminal(t1, 0, net.now).unwrap();
    net.produced.remove(&t1);
    net.run();
    assert_eq!(
        net.host
            .shell_command(Some(&env), None, ShellAction::SetAgentStatus(None), net.now),
        Err(BindError::ClosedTerminal.into())
    );
    assert!(
        net.peers
            .iter()
            .all(|p| !p.machine.view().terminals.contains_key(&t1))
    );

    let mut secrets: Vec<Vec<u8>> = (1..=4).map(marker).collect();
    secrets.push(env.as_bytes().to_vec());
    for role in Role::ALL {
        let url = net.host.link(ORIGIN, role).unwrap().to_url();
        secrets.push(url.split_once('#').unwrap().1.as_bytes().to_vec());
    }
    secrets.push(b"make\r".to_vec());
    net.assert_relay_blind(&secrets);
}

#[test]
fn after_the_grace_window_participants_are_told_the_session_ended() {
    let mut net = Net::new(2);
    let (t, _) = net.open(ParticipantId::HOST);
    let w = net.add_peer(Role::Writer, "w");
    net.output(t, b"hello");
    net.drop_host();
    net.advance(Duration::from_secs(301));
    assert!(
        net.peers[w]
            .events
            .contains(&ParticipantEvent::Ended(m::EndReason::HostGraceExpired))
    );
    net.connect_host();
    assert!(
        net.host_events
            .iter()
            .any(|e| matches!(e, HostEvent::Refused(m::RefusalReason::Denied)))
    );
}

#[test]
fn input_from_readers_and_non_controllers_never_reaches_the_pty() {
    let mut net = Net::new(3);
    let w1 = net.add_peer(Role::Writer, "w1");
    let w2 = net.add_peer(Role::Writer, "w2");
    let r = net.add_peer(Role::Reader, "r");
    let (w1id, w2id) = (net.id(w1), net.id(w2));
    let (t, _) = net.open(w1id);
    // Local refusals.
    assert!(net.peers[w2].machine.send_input(t, b"no").is_err());
    assert!(net.peers[r].machine.send_input(t, b"no").is_err());
    net.peers[w1].machine.send_input(t, b"yes").unwrap();
    net.run();
    // Handoff to w2, then w2 types.
    net.peers[w1].machine.grant(t, w2id).unwrap();
    // w1 still holds the typing lock for a moment.
    net.advance(Duration::from_secs(2));
    net.peers[w2].machine.send_input(t, b"w2").unwrap();
    net.run();
    assert_eq!(
        net.inputs(),
        vec![(t, w1id, b"yes".to_vec()), (t, w2id, b"w2".to_vec())]
    );
    assert!(
        !net.host_events
            .iter()
            .any(|e| matches!(e, HostEvent::InputDropped { .. }))
    );
}

struct Keyword;

impl AgentDetector for Keyword {
    fn feed(&mut self, output: &[u8], _now: Instant) -> Option<AgentStatus> {
        let text = String::from_utf8_lossy(output);
        text.contains("Claude is thinking")
            .then(|| AgentStatus::new("claude", AgentState::Thinking, ""))
    }
}

#[test]
fn a_detector_sees_only_its_own_terminal() {
    let mut net = Net::new(4);
    let (t1, _) = net.open(ParticipantId::HOST);
    let (t2, _) = net.open(ParticipantId::HOST);
    net.host.set_detector(t1, Box::new(Keyword)).unwrap();
    let r = net.add_peer(Role::Reader, "r");
    net.output(t2, b"Claude is thinking");
    net.advance(Duration::from_millis(10));
    assert_eq!(net.peers[r].machine.view().terminals[&t1].agent, None);
    assert_eq!(net.peers[r].machine.view().terminals[&t2].agent, None);
    net.output(t1, b"Claude is thinking");
    net.advance(Duration::from_millis(10));
    assert_eq!(
        net.peers[r].machine.view().terminals[&t1]
            .agent
            .as_ref()
            .map(|s| s.state),
        Some(AgentState::Thinking)
    );
    assert_eq!(net.peers[r].machine.view().terminals[&t2].agent, None);
}

#[test]
fn seeded_faults_never_lose_or_duplicate_output() {
    for seed in 0..24u8 {
        let mut net = Net::new(10 + seed);
        let mut rng = Rng64::from_seed([seed; 32]);
        let (t, _) = net.open(ParticipantId::HOST);
        for k in 0..3 {
            net.add_peer(if k == 0 { Role::Writer } else { Role::Reader }, "p");
        }
        let mut n = 0;
        for step in 0..60 {
            let choice = rng.next_u32() % 10;
            eprintln!(
                "seed {seed} step {step}: op {choice} (marker {n}, host online {})",
                net.host_conn.is_some()
            );
            match choice {
                0 => {
                    net.drop_host();
                    net.advance(Duration::from_secs(u64::from(rng.next_u32() % 100)));
                    net.connect_host();
                }
                1 => {
                    let i = (rng.next_u32() as usize) % net.peers.len();
                    net.drop_peer(i);
                    net.advance(Duration::from_millis(50));
                    net.connect_peer(i);
                }
                2 => {
                    let i = (rng.next_u32() as usize) % net.peers.len();
                    if let Some(c) = net.peers[i].conn {
                        net.relay.handle_blocked(c);
                        net.output(t, &marker(n));
                        n += 1;
                        net.relay.handle_unblocked(c);
                        net.run();
                    }
                }
                _ => {
                    let len = 1 + (rng.next_u32() % 200) as usize;
                    let mut bytes = marker(n);
                    bytes.resize(bytes.len() + len, b'.');
                    n += 1;
                    if net.host_conn.is_some() {
                        net.output(t, &bytes);
                    } else {
                        net.host.handle_output(t, &bytes, net.now).unwrap();
                        net.produced.get_mut(&t).unwrap().extend_from_slice(&bytes);
                    }
                    net.advance(Duration::from_millis(u64::from(rng.next_u32() % 20)));
                }
            }
        }
        if net.host_conn.is_none() {
            net.connect_host();
        }
        net.advance(Duration::from_millis(50));
        for (i, p) in net.peers.iter().enumerate() {
            for e in &p.events {
                if matches!(
                    e,
                    ParticipantEvent::StreamError { .. } | ParticipantEvent::Snapshot { .. }
                ) {
                    eprintln!("peer {i}: {e:?}");
                }
            }
        }
        net.assert_screens_match();
        let secrets: Vec<Vec<u8>> = (0..n).map(marker).collect();
        net.assert_relay_blind(&secrets);
    }
}

#[test]
fn readers_cannot_even_produce_input() {
    let mut net = Net::new(5);
    let (t, _) = net.open(ParticipantId::HOST);
    let r = net.add_peer(Role::Reader, "r");
    assert_eq!(
        net.peers[r].machine.send_input(t, b"x"),
        Err(ActionError::Refused(
            taiku_session::access::Refusal::ReadOnly
        ))
    );
    let _ = InputDrop::UnknownSender;
    let _ = Body::Ping(m::Ping::default());
}

/// The SPEC.md key-schedule vector's secrets, seeds and roots (section
/// 10.2), for a host built from its admin secret and session id.
fn spec_vector_secrets() -> Vec<Vec<u8>> {
    [
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "f56047e4240b2445a1676c7a94f55ca2551aff47e172c0a2f4b489b4ce599450",
        "daa2b1258583b79d7ea447f6bc1119f2b898e7b3ecc408bb7cf6100360d31ed7",
        "a9ee6abedd75e08f0bca67ead836c97f75855f35c95927f66713952c3006f44e",
        "8d4de2761d2b114a4e6f629c78f53f21f59d8815e0ca8aebfe8a6db94cc98457",
        "4a4abf01c3a7800d810f2f7715e2d8a280ab7289eab8c0523d2139c41990c187",
        "3d30266e9e7d32c908772b7267663eb3761e47897e21d1163c44c25259e88ba6",
        "1541091aac4b53de9e0c95e38a643c9bef1b210bdcbb6bb7bfd4fe7521f549b0",
        "1c841540077819fa3285298992d46a65806c317905536d90766ce6de6a810561",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap())
    .collect()
}

#[test]
fn the_relay_never_sees_a_secret_seed_root_or_plaintext() {
    let admin =
        taiku_crypto::LinkSecret::from_bytes(Role::Admin, core::array::from_fn(|i| i as u8));
    let session = taiku_proto::SessionId::new("spec-vector-0001").unwrap();
    let options = taiku_session::SessionOptions::default();
    let host = Host::new(
        HostConfig::default(),
        &admin,
        session,
        options,
        Rng64::from_seed([9; 32]),
    )
    .unwrap();
    let mut net = Net::with(host, RelayConfig::default(), 9);
    let (t, token) = net.open(ParticipantId::HOST);
    let w = net.add_peer(Role::Writer, "w");
    net.add_peer(Role::Reader, "r");
    net.add_peer(Role::Admin, "a");
    net.output(t, &marker(1));
    let wid = net.id(w);
    let status = AgentStatus::new("codex", AgentState::Running, "marker-status-detail");
    net.host
        .shell_command(
            Some(&token.to_env_value()),
            None,
            ShellAction::SetAgentStatus(Some(status)),
            net.now,
        )
        .unwrap();
    let (t2, _) = net.open(wid);
    net.peers[w].machine.send_input(t2, &marker(2)).unwrap();
    net.run();
    net.drop_host();
    net.connect_host();
    net.output(t, &marker(3));
    net.advance(Duration::from_millis(20));
    net.assert_screens_match();
    assert_eq!(net.inputs(), vec![(t2, wid, marker(2))]);
    let mut secrets = spec_vector_secrets();
    secrets.extend((1..=3).map(marker));
    secrets.push(b"marker-status-detail".to_vec());
    secrets.push(token.to_env_value().as_bytes().to_vec());
    net.assert_relay_blind(&secrets);
}

#[test]
fn a_late_joiner_after_the_ring_wrapped_gets_a_snapshot() {
    let options = taiku_session::SessionOptions::default();
    // No screen model (the default): the application answers (SPEC.md 11.6).
    let config = HostConfig::default();
    let host = Host::generate(config, options, Rng64::from_seed([7; 32]));
    let relay = RelayConfig::default().with_ring_bytes(4096);
    let mut net = Net::with(host, relay, 7);
    let (t, _) = net.open(ParticipantId::HOST);
    for i in 0..100 {
        net.output(t, &marker(i));
        net.advance(Duration::from_millis(10));
    }
    let late = net.add_peer(Role::Reader, "late");
    let requested = net
        .host_events
        .iter()
        .any(|e| matches!(e, HostEvent::SnapshotRequested { term, .. } if *term == t));
    assert!(requested);
    let requester = net.id(late);
    // The application renders the screen (here: the whole output so far).
    let screen = net.produced[&t].clone();
    net.host
        .send_snapshot(t, requester, &screen, net.now)
        .unwrap();
    net.run();
    net.output(t, b"after");
    net.advance(Duration::from_millis(10));
    let p = &net.peers[late];
    let snap = p.events.iter().find_map(|e| match e {
        ParticipantEvent::Snapshot { term, screen, .. } if *term == t => Some(screen.clone()),
        _ => None,
    });
    assert_eq!(snap.as_deref(), Some(screen.as_slice()));
    // What follows the snapshot continues it exactly: only "after".
    let after_snapshot: Vec<u8> = p
        .events
        .iter()
        .skip_while(|e| !matches!(e, ParticipantEvent::Snapshot { .. }))
        .filter_map(|e| match e {
            ParticipantEvent::Output { bytes, .. } => Some(bytes.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(after_snapshot, b"after");
}

/// With its screen model (`HostConfig::screens`) the host answers the snapshot
/// request itself: the late joiner's screen, built from the snapshot and
/// the output after it, is the host's, cell for cell, and stays so.
#[test]
fn the_host_repaints_a_late_joiner_from_its_screen_model() {
    let options = taiku_session::SessionOptions::default();
    let config = HostConfig::default().with_screens(true);
    let host = Host::generate(config, options, Rng64::from_seed([8; 32]));
    let relay = RelayConfig::default().with_ring_bytes(4096);
    let mut net = Net::with(host, relay, 8);
    let (t, _) = net.open(ParticipantId::HOST);
    net.host.resize(t, 6, 30).unwrap();
    // A full-screen program redrawing far past what the ring keeps.
    net.output(t, b"$ top\r\n\x1b]2;top\x07\x1b[?1049h\x1b[?1000h");
    for i in 0..400 {
        let frame = format!(
            "\x1b[H\x1b[2J\x1b[1mtasks: {i}\x1b[0m\r\n\x1b[32mcpu {}%\x1b[0m",
            i % 100
        );
        net.output(t, frame.as_bytes());
        net.advance(Duration::from_millis(5));
    }
    let late = net.add_peer(Role::Reader, "late");
    net.run();
    assert!(
        !net.host_events
            .iter()
            .any(|e| matches!(e, HostEvent::SnapshotRequested { .. })),
        "the host left the snapshot to the application"
    );
    net.output(t, b"\x1b[3;1Hlive");
    net.advance(Duration::from_millis(10));
    let mut viewer = Screen::new(6, 30);
    let mut seen_snapshot = false;
    for e in &net.peers[late].events {
        match e {
            ParticipantEvent::Snapshot {
                term,
                screen,
                rows,
                cols,
            } if *term == t => {
                assert_eq!((*rows, *cols), (6, 30));
                viewer = Screen::new(6, 30);
                viewer.feed(screen);
                seen_snapshot = true;
            }
            ParticipantEvent::Output { term, bytes } if *term == t && seen_snapshot => {
                viewer.feed(bytes)
            }
            _ => {}
        }
    }
    assert!(seen_snapshot, "no snapshot reached the late joiner");
    let host_screen = net.host.screen(t).unwrap().snapshot(1 << 20);
    assert_eq!(
        String::from_utf8_lossy(&viewer.snapshot(1 << 20)),
        String::from_utf8_lossy(&host_screen)
    );
    assert_eq!(viewer.text()[0], "tasks: 399");
    assert_eq!(viewer.text()[2], "live");
    assert_eq!(viewer.title(), "top");
}

/// SPEC.md 6.7 end to end in memory: a viewer that stops reading for a
/// while is skipped forward instead of being closed; after it reads again
/// its screen (the host's snapshot, then live output) is the host's cell
/// for cell, and a fast viewer of the same terminal got every byte.
#[test]
fn a_slow_viewer_is_skipped_forward_and_ends_on_the_hosts_screen() {
    let options = taiku_session::SessionOptions::default();
    let config = HostConfig::default().with_screens(true);
    let host = Host::generate(config, options, Rng64::from_seed([9; 32]));
    let relay = RelayConfig::default()
        .with_max_queue_bytes(1 << 20)
        .with_resync_queue_bytes(256 << 10);
    let mut net = Net::with(host, relay, 9);
    let (t, _) = net.open(ParticipantId::HOST);
    let fast = net.add_peer(Role::Reader, "fast");
    let slow = net.add_peer(Role::Reader, "slow");
    let slow_conn = net.peers[slow].conn.unwrap();
    let lines = |net: &mut Net, from: usize, to: usize| {
        for chunk in (from..to).collect::<Vec<_>>().chunks(100) {
            let text: String = chunk
                .iter()
                .map(|i| format!("\x1b[3{}mline {i}\x1b[0m\r\n", i % 8))
                .collect();
            net.output(t, text.as_bytes());
        }
    };
    lines(&mut net, 0, 100);
    net.advance(Duration::from_millis(10));
    net.relay.handle_blocked(slow_conn);
    lines(&mut net, 100, 20_000);
    net.relay.handle_unblocked(slow_conn);
    net.run();
    lines(&mut net, 20_000, 20_050);
    net.advance(Duration::from_millis(10));

    assert_eq!(
        net.peers[slow].conn,
        Some(slow_conn),
        "the slow viewer was closed"
    );
    let skips: Vec<Option<u64>> = net.peers[slow]
        .events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::Resynced { skipped, .. } => Some(*skipped),
            _ => None,
        })
        .collect();
    assert_eq!(skips.len(), 1, "{skips:?}");
    assert!(skips[0].is_some_and(|n| n > 0));
    let mut viewer = Screen::new(24, 80);
    for e in &net.peers[slow].events {
        match e {
            ParticipantEvent::Snapshot { term, screen, .. } if *term == t => {
                viewer = Screen::new(24, 80);
                viewer.feed(screen);
            }
            ParticipantEvent::Output { term, bytes } if *term == t => viewer.feed(bytes),
            _ => {}
        }
    }
    let host_screen = net.host.screen(t).unwrap().snapshot(1 << 20);
    assert_eq!(
        String::from_utf8_lossy(&viewer.snapshot(1 << 20)),
        String::from_utf8_lossy(&host_screen)
    );
    assert_eq!(viewer.text()[22], "line 20049");
    // The fast viewer read every byte, in order.
    assert_eq!(net.peers[fast].screens[&t], net.produced[&t]);
}

#[test]
fn owners_answer_adoption_requests() {
    let mut net = Net::new(6);
    let w1 = net.add_peer(Role::Writer, "w1");
    let w2 = net.add_peer(Role::Writer, "w2");
    let (w1id, w2id) = (net.id(w1), net.id(w2));
    let (t, _) = net.open(w1id);
    net.peers[w2].machine.request_adoption(t).unwrap();
    net.run();
    assert!(
        net.peers[w1]
            .events
            .contains(&ParticipantEvent::AdoptionRequested {
                term: t,
                requester: w2id
            })
    );
    // Only the owner may answer.
    assert!(
        net.peers[w2]
            .machine
            .answer_adoption(t, w2id, true)
            .is_err()
    );
    net.peers[w1]
        .machine
        .answer_adoption(t, w2id, true)
        .unwrap();
    net.run();
    assert_eq!(
        net.peers[w2].machine.view().terminals[&t]
            .control
            .controller,
        w2id
    );
    assert_eq!(net.host.terminal_control(t).unwrap().controller, w2id);
    net.peers[w2].machine.send_input(t, b"adopted").unwrap();
    net.run();
    assert_eq!(net.inputs(), vec![(t, w2id, b"adopted".to_vec())]);
    // The owner revokes; w2 is refused locally again.
    net.peers[w1].machine.revoke(t).unwrap();
    net.run();
    assert!(net.peers[w2].machine.send_input(t, b"x").is_err());
}

#[test]
fn unknown_shell_tokens_are_refused() {
    let mut net = Net::new(8);
    let (t, token) = net.open(ParticipantId::HOST);
    let set = |s| ShellAction::SetAgentStatus(Some(AgentStatus::new("x", s, "")));
    assert_eq!(
        net.host
            .shell_command(Some(&"0".repeat(64)), None, set(AgentState::Idle), net.now),
        Err(BindError::UnknownToken.into())
    );
    assert_eq!(
        net.host
            .shell_command(Some("not-hex"), None, set(AgentState::Idle), net.now),
        Err(BindError::UnknownToken.into())
    );
    assert_eq!(
        net.host.shell_command(
            Some(&token.to_env_value()),
            Some(t),
            set(AgentState::Done),
            net.now
        ),
        Ok(ShellOutcome::Done(t))
    );
    assert_eq!(
        net.host.agent_status(t).map(|s| s.state),
        Some(AgentState::Done)
    );
}

#[test]
fn a_history_request_replays_nothing_twice() {
    let mut net = Net::new(12);
    let (t, _) = net.open(ParticipantId::HOST);
    let r = net.add_peer(Role::Reader, "r");
    for i in 0..5 {
        net.output(t, &marker(i));
    }
    net.advance(Duration::from_millis(10));
    // Asking for the history again replays the ring; the participant
    // reports none of it a second time.
    net.peers[r].machine.request_history(t).unwrap();
    net.run();
    net.output(t, &marker(5));
    net.advance(Duration::from_millis(10));
    net.assert_screens_match();
}

#[test]
fn a_refused_keystroke_does_not_stop_typing() {
    let mut net = Net::new(9);
    let a = net.add_peer(Role::Admin, "a");
    let w = net.add_peer(Role::Writer, "w");
    let (aid, wid) = (net.id(a), net.id(w));
    let (t, _) = net.open(ParticipantId::HOST);
    net.host.grant(t, wid).unwrap();
    net.run();

    // The admin types and holds the typing lock: the relay refuses the
    // writer's next keystroke, whose sequence number is then missing from
    // the writer's run.
    net.peers[a].machine.send_input(t, b"admin").unwrap();
    net.run();
    net.peers[w].machine.send_input(t, b"locked").unwrap();
    net.run();
    assert!(net.peers[w].events.iter().any(|e| matches!(
        e,
        ParticipantEvent::ActionRefused {
            reason: m::ActionRefusal::FocusLocked,
            ..
        }
    )));
    net.advance(Duration::from_secs(2));
    net.peers[w].machine.send_input(t, b"one").unwrap();
    net.run();

    // The host is away: the next keystroke is refused again; after the
    // resume typing goes on.
    net.drop_host();
    net.peers[w].machine.send_input(t, b"offline").unwrap();
    net.run();
    net.connect_host();
    net.peers[w].machine.send_input(t, b"two").unwrap();
    net.run();

    assert_eq!(
        net.inputs(),
        vec![
            (t, aid, b"admin".to_vec()),
            (t, wid, b"one".to_vec()),
            (t, wid, b"two".to_vec()),
        ]
    );
    assert!(
        !net.host_events
            .iter()
            .any(|e| matches!(e, HostEvent::InputDropped { .. })),
        "{:?}",
        net.host_events
    );
}

#[test]
fn terminal_sizes_are_fitted_before_anyone_applies_them() {
    let mut net = Net::new(11);
    let w = net.add_peer(Role::Writer, "w");
    let wid = net.id(w);
    let (t, _) = net.open(wid);
    net.peers[w].machine.resize(t, 100_000, 0).unwrap();
    net.run();
    let requested = net.host_events.iter().find_map(|e| match e {
        HostEvent::ResizeRequested { rows, cols, .. } => Some((*rows, *cols)),
        _ => None,
    });
    assert_eq!(requested, Some((1000, 80)));
    net.host.resize(t, 100_000, 0).unwrap();
    net.run();
    let seen = net.peers[w].machine.view().terminals[&t].clone();
    assert_eq!((seen.rows, seen.cols), (1000, 80));
}

#[test]
fn a_new_name_reaches_everyone_and_survives_a_rejoin() {
    let mut net = Net::new(12);
    let a = net.add_peer(Role::Writer, "a");
    let b = net.add_peer(Role::Reader, "b");
    let aid = net.id(a);
    net.peers[a].machine.set_profile("ana", "laptop").unwrap();
    net.run();
    let seen = net.peers[b].machine.view().peers[&aid].clone();
    assert_eq!(
        (seen.name.as_str(), seen.device_label.as_str()),
        ("ana", "laptop")
    );
    assert!(
        net.peers[b]
            .machine
            .set_profile(&"x".repeat(100), "")
            .is_ok()
    );
    net.run();
    let bid = net.id(b);
    assert_eq!(net.peers[a].machine.view().peers[&bid].name.len(), 64);
    // A rejoin announces the new name.
    net.drop_peer(a);
    net.connect_peer(a);
    let aid = net.id(a);
    assert_eq!(net.peers[b].machine.view().peers[&aid].name, "ana");
}

/// Finding 13.2: admin actions were not signed end to end; the host
/// applied any take-over the relay reported. Now the host applies a
/// take-over only from the admin's signed `TakeOver`, once.
#[test]
fn a_relay_cannot_forge_or_replay_a_take_over() {
    let mut net = Net::new(12);
    let w = net.add_peer(Role::Writer, "w");
    let a = net.add_peer(Role::Admin, "a");
    let (wid, aid) = (net.id(w), net.id(a));
    let (t, _) = net.open(wid);
    let owner_only = Control::new(wid);
    assert_eq!(net.host.terminal_control(t), Some(owner_only));

    // Forged: a ControlChanged saying the admin took over, and TakeOvers
    // with no or a wrong signature.
    net.host.handle_frame(
        Frame::control(Body::ControlChanged(m::ControlChanged {
            terminal_id: t.0,
            owner: wid.0,
            controller: aid.0,
            reason: m::ControlReason::TakenOver as i32,
            requester: aid.0,
        })),
        net.now,
    );
    for signature in [Bytes::new(), Bytes::from(vec![7; 64])] {
        net.host.handle_frame(
            Frame::control(Body::TakeOver(m::TakeOver {
                terminal_id: t.0,
                requester: aid.0,
                counter: 1,
                signature,
            })),
            net.now,
        );
    }
    net.run();
    assert_eq!(
        net.host.terminal_control(t),
        Some(owner_only),
        "nothing forged applied"
    );
    let rejected = |net: &Net, why: AdminRefusal| {
        net.host_events
            .iter()
            .filter(
                |e| matches!(e, HostEvent::AdminActionRejected { reason, .. } if *reason == why),
            )
            .count()
    };
    assert_eq!(rejected(&net, AdminRefusal::BadSignature), 2);

    // The real one applies.
    net.peers[a].machine.take_over(t).unwrap();
    net.run();
    assert_eq!(
        net.host.terminal_control(t).map(|c| c.controller),
        Some(aid)
    );
    let take_over = net
        .host_got
        .iter()
        .rev()
        .find(|f| {
            matches!(
                f,
                Frame::Control(m::Control {
                    body: Some(Body::TakeOver(_))
                })
            )
        })
        .cloned()
        .expect("the relay forwarded the signed take-over");

    // The owner takes control back; the relay replays the take-over.
    net.peers[w].machine.revoke(t).unwrap();
    net.run();
    assert_eq!(
        net.host.terminal_control(t).map(|c| c.controller),
        Some(wid)
    );
    net.host.handle_frame(take_over.clone(), net.now);
    net.run();
    assert_eq!(
        net.host.terminal_control(t).map(|c| c.controller),
        Some(wid),
        "replay refused"
    );
    assert_eq!(rejected(&net, AdminRefusal::Replayed), 1);

    // After a forged leave and rejoin of the admin the old signature names
    // a dead ticket.
    for state in [m::presence::State::Left, m::presence::State::Joined] {
        net.host.handle_frame(
            Frame::control(Body::Presence(m::Presence {
                participant_id: aid.0,
                profile: None,
                role: Role::Admin.to_proto(),
                state: state as i32,
            })),
            net.now,
        );
    }
    net.host.handle_frame(take_over, net.now);
    net.run();
    assert_eq!(
        net.host.terminal_control(t).map(|c| c.controller),
        Some(wid)
    );
    assert_eq!(rejected(&net, AdminRefusal::BadSignature), 3);
}

/// Tunnel changes are signed the same way: a forged one raises no request.
#[test]
fn a_relay_cannot_forge_a_tunnel_change() {
    let mut net = Net::new(13);
    let a = net.add_peer(Role::Admin, "a");
    let aid = net.id(a);
    net.host.handle_frame(
        Frame::control(Body::TunnelAdmin(m::TunnelAdmin {
            port: 22,
            enable: true,
            requester: aid.0,
            counter: 1,
            signature: Bytes::from(vec![1; 64]),
        })),
        net.now,
    );
    net.run();
    let requested = |net: &Net| {
        net.host_events
            .iter()
            .filter(|e| matches!(e, HostEvent::TunnelsChanged { .. }))
            .count()
    };
    assert_eq!(requested(&net), 0);
    assert_eq!(net.host.tunnel_ports(), [0u32; 0]);
    net.peers[a].machine.administer_tunnel(3000, true).unwrap();
    net.run();
    assert_eq!(requested(&net), 1);
    assert!(net.host_events.contains(&HostEvent::TunnelsChanged {
        ports: vec![3000],
        http: vec![3000],
        by: aid,
    }));
    assert_eq!(net.host.tunnel_ports(), [3000]);
    // Everyone learns of it.
    assert_eq!(net.peers[a].machine.view().tunnels, [3000]);
}

/// Finding 13.5: `send_snapshot` dropped a seal failure silently. A screen
/// larger than a frame holds is an error the application sees.
#[test]
fn a_snapshot_too_large_for_a_frame_is_an_error() {
    let mut net = Net::new(14);
    let (t, _) = net.open(ParticipantId::HOST);
    let huge = vec![b'x'; 2 << 20];
    assert_eq!(
        net.host
            .send_snapshot(t, ParticipantId::HOST, &huge, net.now),
        Err(taiku_session::host::HostError::SnapshotTooLarge(t))
    );
    assert_eq!(
        net.host
            .send_snapshot(t, ParticipantId::HOST, b"\x1b[2Jscreen", net.now),
        Ok(())
    );
}

/// Finding 14.3: the host had no terminal limit, and `share` spawned a
/// shell per request. `HostConfig::max_terminals` caps both.
#[test]
fn the_host_opens_at_most_max_terminals() {
    let options = taiku_session::SessionOptions::default();
    let config = HostConfig::default().with_max_terminals(3);
    let host = Host::generate(config, options, Rng64::from_seed([15; 32]));
    let mut net = Net::with(host, RelayConfig::default(), 15);
    for _ in 0..3 {
        net.open(ParticipantId::HOST);
    }
    assert_eq!(
        net.host
            .open_terminal(ParticipantId::HOST, 24, 80, "one more", net.now)
            .err(),
        Some(taiku_session::host::HostError::TooManyTerminals)
    );
    // A writer's request for a fourth is not raised.
    let w = net.add_peer(Role::Writer, "w");
    net.peers[w]
        .machine
        .create_terminal(24, 80, "mine")
        .unwrap();
    net.run();
    assert!(
        !net.host_events
            .iter()
            .any(|e| matches!(e, HostEvent::CreateRequested { .. }))
    );
}

/// Issue 15, item 12: the host takes part in the chat. Its lines reach
/// everyone, and everyone's lines reach it, numbered by the relay; a
/// line over the limit is refused before it is sent.
#[test]
fn the_host_chats_with_everyone() {
    let mut net = Net::new(13);
    let a = net.add_peer(Role::Writer, "a");
    let aid = net.id(a);
    net.host.chat("hello from the host").unwrap();
    net.peers[a].machine.chat("hello back").unwrap();
    net.run();
    let lines: Vec<(ParticipantId, String)> = net.peers[a]
        .machine
        .view()
        .chat
        .iter()
        .map(|l| (l.from, l.text.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (ParticipantId::HOST, "hello from the host".to_owned()),
            (aid, "hello back".to_owned())
        ]
    );
    let heard: Vec<(ParticipantId, String)> = net
        .host_events
        .iter()
        .filter_map(|e| match e {
            HostEvent::Chat { from, text } => Some((*from, text.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(heard, lines);
    assert!(matches!(
        net.host
            .chat(&"x".repeat(taiku_proto::limits::MAX_CHAT_BYTES + 1)),
        Err(HostError::Refused(_))
    ));
}

/// Issue 16, item 1 (and 15, item 13), in the machine: keys typed while
/// a request to control waits are held and reach the PTY whole once the
/// owner approves, or never if it denies: never a suffix.
#[test]
fn keys_typed_while_asking_arrive_whole_or_not_at_all() {
    let mut net = Net::new(14);
    let w1 = net.add_peer(Role::Writer, "w1");
    let w2 = net.add_peer(Role::Writer, "w2");
    let (w1id, w2id) = (net.id(w1), net.id(w2));
    let (t, _) = net.open(w1id);
    net.run();
    // Denied: nothing of it reaches the PTY.
    net.peers[w2].machine.request_adoption(t).unwrap();
    net.peers[w2].machine.send_input(t, b"echo nope\r").unwrap();
    net.run();
    net.peers[w1]
        .machine
        .answer_adoption(t, w2id, false)
        .unwrap();
    net.run();
    assert_eq!(net.inputs(), vec![]);
    assert!(net.peers[w2].events.contains(&ParticipantEvent::HeldInput {
        term: t,
        len: 10,
        sent: false
    }));
    // Approved: all of it, once.
    net.peers[w2].machine.request_adoption(t).unwrap();
    net.peers[w2].machine.send_input(t, b"echo ").unwrap();
    net.run();
    net.peers[w2].machine.send_input(t, b"yes\r").unwrap();
    assert_eq!(
        net.peers[w2]
            .machine
            .send_input(t, &[b'x'; taiku_session::participant::HELD_INPUT_BYTES]),
        Err(ActionError::Backlog),
        "held keys are bounded"
    );
    net.peers[w1]
        .machine
        .answer_adoption(t, w2id, true)
        .unwrap();
    net.run();
    assert_eq!(net.inputs(), vec![(t, w2id, b"echo yes\r".to_vec())]);
    assert!(net.peers[w2].events.contains(&ParticipantEvent::HeldInput {
        term: t,
        len: 9,
        sent: true
    }));
}
