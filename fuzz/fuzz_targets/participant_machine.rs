//! The participant machine fed arbitrary frames and genuine output frames
//! delivered in any order, repeated or dropped. Never panics, and each
//! genuine plaintext is reported at most once, in order. (Gaps are allowed
//! only where the relay's replay announcement skips frames; the relay then
//! marks the replay incomplete and a snapshot repairs the screen.)

#![no_main]

use std::time::Instant;

use bytes::Bytes;
use libfuzzer_sys::{arbitrary, fuzz_target};
use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, Link, LinkSecret};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};

#[derive(arbitrary::Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Deliver {
        index: u8,
    },
    NewRun,
    HostStatus {
        online: bool,
    },
    Replay {
        epoch_index: u8,
        first: u8,
        count: u8,
    },
    Opened {
        terminal: u8,
    },
    Input {
        terminal: u8,
    },
    Disconnect,
}

fuzz_target!(|ops: Vec<Op>| {
    let session = SessionId::new("fuzz-part-0001").expect("id");
    let host = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [6; 32]), &session);
    let link = Link::new(
        "https://relay.example",
        session.clone(),
        host.secret(Role::Writer).expect("writer"),
    )
    .expect("link");
    let mut p = Participant::new(
        ParticipantConfig::default(),
        &link,
        chacha20::ChaCha20Rng::from_seed([2; 32]),
    );
    let now = Instant::now();
    let join = |p: &mut Participant<chacha20::ChaCha20Rng>| {
        p.connect(now);
        p.handle_frame(
            Frame::control(Body::Challenge(m::Challenge {
                nonce: Bytes::from(vec![1; 32]),
            })),
            now,
        );
        p.handle_frame(
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Accepted(m::Accepted {
                    participant_id: 1,
                    role: 2,
                    options: None,
                    host_online: true,
                })),
            })),
            now,
        );
        p.handle_frame(
            Frame::control(Body::TerminalOpened(m::TerminalOpened {
                terminal_id: 1,
                owner: 1,
                rows: 24,
                cols: 80,
                label: String::new(),
            })),
            now,
        );
    };
    join(&mut p);
    // Genuine output frames: plaintext = (run, index) so order is checkable.
    let mut runs: Vec<Vec<taiku_proto::SealedFrame>> = Vec::new();
    let mut epochs: Vec<Epoch> = Vec::new();
    let new_run = |runs: &mut Vec<Vec<taiku_proto::SealedFrame>>, epochs: &mut Vec<Epoch>| {
        let r = runs.len() as u8;
        let epoch = Epoch([r + 1; 16]);
        let mut sealer = host
            .sealer(TerminalId(1), Direction::Output, ParticipantId::HOST, epoch)
            .expect("sealer");
        runs.push(
            (0..16u8)
                .map(|i| sealer.seal(&[b'r', r, b'i', i]).expect("seal"))
                .collect(),
        );
        epochs.push(epoch);
    };
    new_run(&mut runs, &mut epochs);
    let mut last: Option<(u8, u8)> = None;
    for op in ops.into_iter().take(256) {
        match op {
            Op::Raw(bytes) => {
                if let Ok(frame) = Frame::parse(Bytes::from(bytes), DEFAULT_MAX_FRAME_LEN) {
                    p.handle_frame(frame, now);
                }
            }
            Op::Deliver { index } => {
                let run = runs.last().expect("a run");
                let frame = run[usize::from(index % 16)].clone();
                p.handle_frame(Frame::Sealed(frame), now);
            }
            Op::NewRun => {
                if runs.len() < 8 {
                    new_run(&mut runs, &mut epochs);
                }
            }
            Op::HostStatus { online } => p.handle_frame(
                Frame::control(Body::HostStatus(m::HostStatus {
                    online,
                    grace_remaining_ms: 1,
                })),
                now,
            ),
            Op::Replay {
                epoch_index,
                first,
                count,
            } => {
                let e = epochs[usize::from(epoch_index) % epochs.len()];
                p.handle_frame(
                    Frame::control(Body::ReplayStart(m::ReplayStart {
                        terminal_id: 1,
                        runs: vec![m::ReplayRun {
                            epoch: Bytes::copy_from_slice(&e.0),
                            first_seq: u64::from(first % 16),
                            frame_count: u32::from(count % 16),
                        }],
                        complete: false,
                    })),
                    now,
                );
            }
            Op::Opened { terminal } => p.handle_frame(
                Frame::control(Body::TerminalOpened(m::TerminalOpened {
                    terminal_id: u32::from(terminal % 3),
                    owner: 1,
                    rows: 1,
                    cols: 1,
                    label: String::new(),
                })),
                now,
            ),
            Op::Input { terminal } => {
                let _ = p.send_input(TerminalId(u32::from(terminal % 3)), b"x");
            }
            Op::Disconnect => {
                p.handle_disconnect(now);
                join(&mut p);
                last = None;
            }
        }
        while p.poll_transmit().is_some() {}
        while let Some(event) = p.poll_event() {
            if let ParticipantEvent::Output { term, bytes } = event {
                assert_eq!(term, TerminalId(1));
                let [b'r', r, b'i', i] = bytes[..] else {
                    panic!("output that was never sealed: {bytes:?}")
                };
                if let Some((lr, li)) = last {
                    assert!(
                        (r, i) > (lr, li),
                        "output repeated or reordered: {:?} after {:?}",
                        (r, i),
                        (lr, li)
                    );
                }
                last = Some((r, i));
            }
        }
    }
});
