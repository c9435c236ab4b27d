//! The participant's stream rules against a relay that misbehaves: frames
//! are fed to the machine by hand, sealed with the host's keys.

use std::time::Instant;

use taiku_crypto::{KeySchedule, Link, LinkSecret, StreamSealer};
use taiku_proto::SealedFrame;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};

type Rng = chacha20::ChaCha20Rng;
const T: TerminalId = TerminalId(1);

fn host_keys() -> KeySchedule {
    let sid = SessionId::new("stream-rules-0001").unwrap();
    KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [3; 32]), &sid)
}

/// A reader admitted to a session with terminal 1.
fn joined_reader(host: &KeySchedule, now: Instant) -> Participant<Rng> {
    use rand_core::SeedableRng;
    let secret = host.secret(Role::Reader).unwrap();
    let link = Link::new("http://127.0.0.1:1", host.session_id().clone(), secret).unwrap();
    let mut p = Participant::new(ParticipantConfig::default(), &link, Rng::from_seed([5; 32]));
    p.connect(now);
    let accepted = m::Accepted {
        participant_id: 4,
        role: taiku_proto::Role::Reader.to_proto(),
        options: None,
        host_online: true,
    };
    for body in [
        Body::JoinResult(m::JoinResult {
            outcome: Some(m::join_result::Outcome::Accepted(accepted)),
        }),
        Body::TerminalOpened(m::TerminalOpened {
            terminal_id: T.0,
            owner: 0,
            rows: 24,
            cols: 80,
            label: String::new(),
        }),
    ] {
        p.handle_frame(Frame::control(body), now);
    }
    while p.poll_event().is_some() {}
    while p.poll_transmit().is_some() {}
    p
}

fn sealer(host: &KeySchedule, direction: Direction, epoch: u8) -> StreamSealer {
    host.sealer(T, direction, ParticipantId::HOST, Epoch([epoch; 16]))
        .unwrap()
}

fn events(p: &mut Participant<Rng>) -> Vec<ParticipantEvent> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn outputs(events: &[ParticipantEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::Output { bytes, .. } => Some(bytes.to_vec()),
            _ => None,
        })
        .collect()
}

fn errors(events: &[ParticipantEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::StreamError { error, .. } => Some(format!("{error:?}")),
            _ => None,
        })
        .collect()
}

/// Run a (one frame, then FIN) and the first frame of run b, of terminal 1's output.
struct TwoRuns {
    a0: SealedFrame,
    a_end: SealedFrame,
    b0: SealedFrame,
    b: StreamSealer,
}

fn two_runs(host: &KeySchedule) -> TwoRuns {
    let mut a = sealer(host, Direction::Output, 0xa);
    let a0 = a.seal(b"a0").unwrap();
    let a_end = a.finish().unwrap();
    let mut b = sealer(host, Direction::Output, 0xb);
    let b0 = b.seal(b"b0").unwrap();
    TwoRuns { a0, a_end, b0, b }
}

#[test]
fn a_finished_run_cannot_be_replayed_as_a_new_one() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let TwoRuns {
        a0,
        a_end,
        b0,
        mut b,
    } = two_runs(&host);
    let b_end = b.finish().unwrap();
    for f in [a0.clone(), a_end, b0, b_end, a0] {
        p.handle_frame(Frame::Sealed(f), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"a0".to_vec(), b"b0".to_vec()]);
    assert_eq!(errors(&ev), ["Replayed(Seq(0))"]);
}

#[test]
fn only_the_first_replayed_run_may_begin_anywhere() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let mut a = sealer(&host, Direction::Output, 0xa);
    let a_frames: Vec<_> = (0..5).map(|i| a.seal(&[b'a', b'0' + i]).unwrap()).collect();
    a.finish().unwrap();
    let mut b = sealer(&host, Direction::Output, 0xb);
    let b_frames: Vec<_> = (0..3).map(|i| b.seal(&[b'b', b'0' + i]).unwrap()).collect();
    let run = |epoch: u8, first_seq: u64, frame_count: u32| m::ReplayRun {
        epoch: vec![epoch; 16].into(),
        first_seq,
        frame_count,
    };
    // The ring lost the start of run a (fine) and, the relay claims, of
    // run b (not possible for a later run: refused).
    p.handle_frame(
        Frame::control(Body::ReplayStart(m::ReplayStart {
            terminal_id: T.0,
            runs: vec![run(0xa, 3, 2), run(0xb, 2, 1)],
            complete: false,
        })),
        now,
    );
    for f in [&a_frames[3], &a_frames[4], &b_frames[2]] {
        p.handle_frame(Frame::Sealed(f.clone()), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"a3".to_vec(), b"a4".to_vec()]);
    assert_eq!(errors(&ev), ["NotAtStart(Seq(2))"]);
}

#[test]
fn status_runs_change_only_on_success_and_never_go_back() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let record = |agent: &str| {
        use prost::Message;
        m::SealedRecord {
            body: Some(m::sealed_record::Body::AgentStatus(m::AgentStatus {
                agent: agent.into(),
                state: m::AgentState::Running as i32,
                detail: String::new(),
            })),
        }
        .encode_to_vec()
    };
    let mut s1 = sealer(&host, Direction::Status, 1);
    let mut s2 = sealer(&host, Direction::Status, 2);
    let old = s1.seal(&record("old")).unwrap();
    let new0 = s2.seal(&record("new")).unwrap();
    let new1 = s2.seal(&record("newer")).unwrap();
    // A frame of a third run that does not authenticate.
    let mut forged = sealer(&host, Direction::Status, 3)
        .seal(&record("x"))
        .unwrap();
    let mut bytes = forged.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    forged = taiku_proto::SealedFrame::from_bytes(bytes.into(), 1 << 20).unwrap();

    for f in [old.clone(), new0, forged, new1, old] {
        p.handle_frame(Frame::Sealed(f), now);
    }
    let ev = events(&mut p);
    let agents: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::AgentStatus {
                status: Some(s), ..
            } => Some(s.agent.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(agents, ["old", "new", "newer"]);
    assert_eq!(errors(&ev), ["Forged", "Replayed(Seq(0))"]);
}

#[test]
fn a_replay_nobody_asked_for_is_ignored() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let TwoRuns { a0, a_end, b0, .. } = two_runs(&host);
    let replay_a = || {
        Frame::control(Body::ReplayStart(m::ReplayStart {
            terminal_id: T.0,
            runs: vec![m::ReplayRun {
                epoch: vec![0xa; 16].into(),
                first_seq: 0,
                frame_count: 2,
            }],
            complete: true,
        }))
    };
    for f in [a0.clone(), a_end.clone(), b0] {
        p.handle_frame(Frame::Sealed(f), now);
    }
    // The relay re-lists run a unasked: ignored, its frames are refused.
    p.handle_frame(replay_a(), now);
    p.handle_frame(Frame::Sealed(a0.clone()), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"a0".to_vec(), b"b0".to_vec()]);
    assert_eq!(errors(&ev).len(), 1, "{ev:?}");

    // Asked for, the same replay is read.
    p.request_history(T).unwrap();
    p.handle_frame(replay_a(), now);
    p.handle_frame(Frame::Sealed(a0), now);
    p.handle_frame(Frame::Sealed(a_end), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"a0".to_vec()]);
    assert_eq!(errors(&ev), Vec::<String>::new());
}

#[test]
fn keep_alive_pings_follow_the_interval_only_while_joined() {
    let t0 = Instant::now();
    let s = std::time::Duration::from_secs(1);
    let host = host_keys();
    let mut p = joined_reader(&host, t0);
    let pings = |p: &mut Participant<Rng>| -> Vec<u64> {
        std::iter::from_fn(|| p.poll_transmit())
            .filter_map(|f| match f {
                Frame::Control(m::Control {
                    body: Some(Body::Ping(ping)),
                }) => Some(ping.nonce),
                _ => None,
            })
            .collect()
    };
    assert_eq!(p.poll_timeout(), Some(t0 + 30 * s));
    p.handle_timeout(t0 + 29 * s);
    assert_eq!(pings(&mut p), Vec::<u64>::new());
    p.handle_timeout(t0 + 31 * s);
    assert_eq!(pings(&mut p), [1]);
    // The relay answers; a connection silent for the liveness timeout
    // would be closed instead (see the next test).
    p.handle_frame(
        Frame::control(Body::Pong(m::Pong { nonce: 1 })),
        t0 + 31 * s,
    );
    assert_eq!(p.poll_timeout(), Some(t0 + 61 * s));
    p.handle_timeout(t0 + 61 * s);
    assert_eq!(pings(&mut p), [2]);
    p.handle_disconnect(t0 + 62 * s);
    assert_eq!(p.poll_timeout(), None);
    p.handle_timeout(t0 + 200 * s);
    assert_eq!(pings(&mut p), Vec::<u64>::new());
}

#[test]
fn a_silent_connection_is_closed_after_the_liveness_timeout() {
    let t0 = Instant::now();
    let s = std::time::Duration::from_secs(1);
    let host = host_keys();
    let mut p = joined_reader(&host, t0);
    // Pings go out, nothing comes back.
    p.handle_timeout(t0 + 30 * s);
    assert!(!p.poll_close());
    assert_eq!(p.poll_timeout(), Some(t0 + 60 * s));
    p.handle_timeout(t0 + 59 * s);
    assert!(!p.poll_close());
    p.handle_timeout(t0 + 60 * s);
    assert!(p.poll_close(), "silent for the liveness timeout");
    assert!(!p.poll_close(), "reported once");
    // The driver closes it and reconnects; the watch starts again.
    p.handle_disconnect(t0 + 60 * s);
    assert_eq!(p.poll_timeout(), None);
    p.connect(t0 + 61 * s);
    assert_eq!(p.poll_timeout(), Some(t0 + 121 * s));
}

/// Finding 13.5: the participant took the role the relay reported instead
/// of its own link's. A relay that says "admin" to a reader grants it
/// nothing: the view and the local checks keep the link's role.
#[test]
fn the_participant_keeps_its_own_links_role() {
    use rand_core::SeedableRng;
    let now = Instant::now();
    let host = host_keys();
    let secret = host.secret(Role::Reader).unwrap();
    let link = Link::new("http://127.0.0.1:1", host.session_id().clone(), secret).unwrap();
    let mut p = Participant::new(ParticipantConfig::default(), &link, Rng::from_seed([6; 32]));
    p.connect(now);
    let accepted = m::Accepted {
        participant_id: 4,
        role: taiku_proto::Role::Admin.to_proto(),
        options: None,
        host_online: true,
    };
    p.handle_frame(
        Frame::control(Body::JoinResult(m::JoinResult {
            outcome: Some(m::join_result::Outcome::Accepted(accepted)),
        })),
        now,
    );
    assert_eq!(
        p.view().me,
        Some((taiku_proto::ParticipantId(4), Role::Reader))
    );
    assert_eq!(
        p.create_terminal(24, 80, "x"),
        Err(taiku_session::participant::ActionError::Refused(
            taiku_session::access::Refusal::ReadOnly
        ))
    );
}

/// SPEC.md 4.5 and 11.2: output and status frames name participant 0, a
/// snapshot its target or 0. A frame addressed otherwise is not read.
#[test]
fn frames_addressed_to_somebody_else_are_not_read() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let other = ParticipantId(9);
    let output = host
        .sealer(T, Direction::Output, other, Epoch([1; 16]))
        .unwrap()
        .seal(b"not for anyone")
        .unwrap();
    let snapshot = host
        .sealer(T, Direction::Snapshot, other, Epoch([2; 16]))
        .unwrap()
        .seal(b"for participant 9")
        .unwrap();
    for frame in [output, snapshot] {
        p.handle_frame(Frame::Sealed(frame), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), Vec::<Vec<u8>>::new());
    assert_eq!(errors(&ev), ["WrongParticipant", "WrongParticipant"]);
    // Its own output, under participant 0, is read.
    let ours = sealer(&host, Direction::Output, 3).seal(b"ours").unwrap();
    p.handle_frame(Frame::Sealed(ours), now);
    assert_eq!(outputs(&events(&mut p)), [b"ours".to_vec()]);
}

/// Issue 15, item 4: a replay is announced, so a client can clear the
/// terminal before history is shown again (a rejoin replays it); an
/// unasked one is not.
#[test]
fn a_replay_is_announced_with_whether_it_is_complete() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let start = |complete| {
        Frame::control(Body::ReplayStart(m::ReplayStart {
            terminal_id: T.0,
            runs: Vec::new(),
            complete,
        }))
    };
    p.handle_frame(start(false), now);
    assert_eq!(
        events(&mut p),
        [ParticipantEvent::Replay {
            term: T,
            complete: false
        }]
    );
    // Once output was read, only an asked-for replay counts.
    let mut a = sealer(&host, Direction::Output, 0xa);
    p.handle_frame(Frame::Sealed(a.seal(b"live").unwrap()), now);
    let _ = events(&mut p);
    p.handle_frame(start(true), now);
    assert_eq!(events(&mut p), []);
    p.request_history(T).unwrap();
    p.handle_frame(start(true), now);
    assert_eq!(
        events(&mut p),
        [ParticipantEvent::Replay {
            term: T,
            complete: true
        }]
    );
}

/// SPEC.md 11.6 against a relay that replays: a snapshot the participant
/// applied, sent again (to repaint a screen to an old state, say), is
/// refused, and so is a snapshot frame at any sequence number but 0; the
/// participant's screen changes only for a fresh one.
#[test]
fn an_old_snapshot_replayed_by_the_relay_is_refused() {
    use prost::Message;
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let record = |screen: &[u8]| {
        m::SealedRecord {
            body: Some(m::sealed_record::Body::Snapshot(m::Snapshot {
                output_epoch: bytes::Bytes::copy_from_slice(&[3; 16]),
                output_seq: 0,
                rows: 24,
                cols: 80,
                screen: bytes::Bytes::copy_from_slice(screen),
            })),
        }
        .encode_to_vec()
    };
    let old = sealer(&host, Direction::Snapshot, 0x51)
        .seal(&record(b"old screen"))
        .unwrap();
    p.handle_frame(Frame::Sealed(old.clone()), now);
    let shown = |ev: &[ParticipantEvent]| -> Vec<Vec<u8>> {
        ev.iter()
            .filter_map(|e| match e {
                ParticipantEvent::Snapshot { screen, .. } => Some(screen.to_vec()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(shown(&events(&mut p)), [b"old screen".to_vec()]);
    // The relay sends it again: refused, nothing repainted.
    p.handle_frame(Frame::Sealed(old), now);
    let ev = events(&mut p);
    assert_eq!(shown(&ev), Vec::<Vec<u8>>::new());
    assert_eq!(errors(&ev), ["Replayed(Seq(0))"]);
    // A second frame of a snapshot run is not a snapshot.
    let mut run = sealer(&host, Direction::Snapshot, 0x52);
    let _first = run.seal(&record(b"first")).unwrap();
    let second = run.seal(&record(b"second")).unwrap();
    p.handle_frame(Frame::Sealed(second), now);
    let ev = events(&mut p);
    assert_eq!(shown(&ev), Vec::<Vec<u8>>::new());
    assert_eq!(errors(&ev).len(), 1, "{ev:?}");
    // A fresh one is applied.
    let fresh = sealer(&host, Direction::Snapshot, 0x53)
        .seal(&record(b"new screen"))
        .unwrap();
    p.handle_frame(Frame::Sealed(fresh), now);
    assert_eq!(shown(&events(&mut p)), [b"new screen".to_vec()]);
}

fn snapshot_at(host: &KeySchedule, snap_epoch: u8, out_epoch: u8, seq: u64) -> SealedFrame {
    use prost::Message;
    let record = m::SealedRecord {
        body: Some(m::sealed_record::Body::Snapshot(m::Snapshot {
            output_epoch: bytes::Bytes::copy_from_slice(&[out_epoch; 16]),
            output_seq: seq,
            rows: 24,
            cols: 80,
            screen: bytes::Bytes::from_static(b"screen"),
        })),
    }
    .encode_to_vec();
    sealer(host, Direction::Snapshot, snap_epoch)
        .seal(&record)
        .unwrap()
}

fn resynced(events: &[ParticipantEvent]) -> Vec<Option<u64>> {
    events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::Resynced { skipped, .. } => Some(*skipped),
            _ => None,
        })
        .collect()
}

/// SPEC.md 6.7: a relay that skipped a slow participant forward sends the
/// host's snapshot; reading then jumps to the position the snapshot names,
/// the participant is told how many frames it skipped, and output goes on
/// strictly in order from there.
#[test]
fn a_snapshot_lets_reading_skip_forward_to_its_position() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let mut out = sealer(&host, Direction::Output, 0xa);
    let frames: Vec<SealedFrame> = (0..10)
        .map(|i| out.seal(format!("f{i}").as_bytes()).unwrap())
        .collect();
    for f in &frames[..3] {
        p.handle_frame(Frame::Sealed(f.clone()), now);
    }
    p.handle_frame(Frame::Sealed(snapshot_at(&host, 0x60, 0xa, 8)), now);
    for f in &frames[8..] {
        p.handle_frame(Frame::Sealed(f.clone()), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"f0", b"f1", b"f2", b"f8", b"f9"]);
    assert_eq!(resynced(&ev), [Some(5)]);
    assert_eq!(errors(&ev), Vec::<String>::new());
    // Frames the snapshot covers, sent late, are refused.
    p.handle_frame(Frame::Sealed(frames[5].clone()), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), Vec::<Vec<u8>>::new());
    assert_eq!(
        errors(&ev),
        ["Reordered { expected: Seq(10), got: Seq(5) }"]
    );
}

/// Against a relay that drops frames: without a snapshot there is no jump
/// (a gap is refused and nothing after it is shown), and with one the
/// jump goes to its exact position only.
#[test]
fn a_relay_cannot_skip_output_without_the_hosts_snapshot() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let mut out = sealer(&host, Direction::Output, 0xa);
    let frames: Vec<SealedFrame> = (0..8)
        .map(|i| out.seal(format!("f{i}").as_bytes()).unwrap())
        .collect();
    for i in [0, 1, 5] {
        p.handle_frame(Frame::Sealed(frames[i].clone()), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"f0", b"f1"]);
    assert_eq!(errors(&ev), ["Gap { expected: Seq(2), got: Seq(5) }"]);
    // The host's snapshot names frame 4: frame 5 still does not fit.
    p.handle_frame(Frame::Sealed(snapshot_at(&host, 0x61, 0xa, 4)), now);
    p.handle_frame(Frame::Sealed(frames[5].clone()), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), Vec::<Vec<u8>>::new());
    assert_eq!(errors(&ev), ["Gap { expected: Seq(2), got: Seq(5) }"]);
    for i in [4, 5, 6] {
        p.handle_frame(Frame::Sealed(frames[i].clone()), now);
    }
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"f4", b"f5", b"f6"]);
    assert_eq!(resynced(&ev), [Some(2)]);
}

/// A snapshot cannot move reading back within the run being read, nor
/// into a run read before: the relay cannot show old output as new by
/// pairing it with a snapshot.
#[test]
fn a_snapshot_cannot_move_reading_back_or_to_an_old_run() {
    let now = Instant::now();
    let host = host_keys();
    let mut p = joined_reader(&host, now);
    let runs = two_runs(&host);
    let mut a = sealer(&host, Direction::Output, 0xa);
    let a_frames: Vec<SealedFrame> = (0..4)
        .map(|i| a.seal(format!("a{i}").as_bytes()).unwrap())
        .collect();
    for f in &a_frames {
        p.handle_frame(Frame::Sealed(f.clone()), now);
    }
    // Back within the run: a snapshot at frame 1, then frame 1 again.
    p.handle_frame(Frame::Sealed(snapshot_at(&host, 0x62, 0xa, 1)), now);
    p.handle_frame(Frame::Sealed(a_frames[1].clone()), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"a0", b"a1", b"a2", b"a3"]);
    assert_eq!(resynced(&ev), Vec::<Option<u64>>::new());
    assert_eq!(errors(&ev), ["Reordered { expected: Seq(4), got: Seq(1) }"]);
    // Run a ends and run b begins after a host resume; then a snapshot
    // naming run a cannot bring run a back.
    let end = a.finish().unwrap();
    p.handle_frame(Frame::Sealed(end), now);
    p.handle_frame(Frame::Sealed(runs.b0.clone()), now);
    let mut late = sealer(&host, Direction::Output, 0xa);
    let late: Vec<SealedFrame> = (0..3).map(|_| late.seal(b"old").unwrap()).collect();
    p.handle_frame(Frame::Sealed(snapshot_at(&host, 0x63, 0xa, 2)), now);
    p.handle_frame(Frame::Sealed(late[2].clone()), now);
    let ev = events(&mut p);
    assert_eq!(outputs(&ev), [b"b0"]);
    assert_eq!(resynced(&ev), Vec::<Option<u64>>::new());
    assert_eq!(errors(&ev).len(), 1, "{ev:?}");
}
