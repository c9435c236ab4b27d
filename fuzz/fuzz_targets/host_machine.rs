//! The host machine fed arbitrary relay frames, valid and forged input and
//! ownership changes. Never panics, and every `Input` event it reports is
//! allowed by its own copy of the rules.

#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::{arbitrary, fuzz_target};
use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::access::{self, Action};
use taiku_session::host::{Host, HostConfig, HostEvent};

#[derive(arbitrary::Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Presence {
        id: u8,
        role: u8,
        left: bool,
    },
    Changed {
        terminal: u8,
        owner: u8,
        controller: u8,
    },
    Input {
        from: u8,
        terminal: u8,
        writer_key: bool,
        skip: bool,
    },
    Output {
        terminal: u8,
        len: u16,
    },
    Open {
        owner: u8,
    },
    Close {
        terminal: u8,
    },
    Advance {
        millis: u16,
    },
    Disconnect,
    Reconnect,
}

fuzz_target!(|ops: Vec<Op>| {
    let session = SessionId::new("fuzz-host-0001").expect("id");
    let admin = LinkSecret::from_bytes(Role::Admin, [5; 32]);
    let options = taiku_session::SessionOptions::default();
    let mut host = Host::new(
        HostConfig::default(),
        &admin,
        session.clone(),
        options,
        chacha20::ChaCha20Rng::from_seed([1; 32]),
    )
    .expect("admin");
    let mut now = Instant::now();
    let accept = |host: &mut Host<chacha20::ChaCha20Rng>, now| {
        host.handle_frame(
            Frame::control(Body::Challenge(m::Challenge {
                nonce: Bytes::from(vec![7; 32]),
            })),
            now,
        );
        host.handle_frame(
            Frame::control(Body::JoinResult(m::JoinResult {
                outcome: Some(m::join_result::Outcome::Accepted(m::Accepted {
                    participant_id: 0,
                    role: 3,
                    options: None,
                    host_online: true,
                })),
            })),
            now,
        );
    };
    host.connect(now);
    accept(&mut host, now);
    let _ = host.open_terminal(ParticipantId::HOST, 24, 80, "t", now);
    let mut roles: BTreeMap<ParticipantId, Role> = BTreeMap::new();
    let mut sealers: BTreeMap<(u8, u8, bool), taiku_crypto::StreamSealer> = BTreeMap::new();
    for op in ops.into_iter().take(128) {
        match op {
            Op::Raw(bytes) => {
                if let Ok(frame) = Frame::parse(Bytes::from(bytes), DEFAULT_MAX_FRAME_LEN) {
                    // A presence frame changes roles the invariant must know.
                    if let Frame::Control(m::Control {
                        body: Some(Body::Presence(p)),
                    }) = &frame
                    {
                        let id = ParticipantId(p.participant_id);
                        match (
                            m::presence::State::try_from(p.state),
                            Role::from_proto(p.role),
                        ) {
                            (Ok(m::presence::State::Joined), Some(r))
                                if id != ParticipantId::HOST =>
                            {
                                roles.insert(id, r);
                            }
                            (Ok(m::presence::State::Left), _) => {
                                roles.remove(&id);
                            }
                            _ => {}
                        }
                    }
                    host.handle_frame(frame, now);
                }
            }
            Op::Presence { id, role, left } => {
                let id = ParticipantId(u32::from(id % 6) + 1);
                let role = Role::ALL[usize::from(role % 3)];
                let state = if left {
                    m::presence::State::Left
                } else {
                    m::presence::State::Joined
                };
                if left {
                    roles.remove(&id);
                } else {
                    roles.insert(id, role);
                }
                host.handle_frame(
                    Frame::control(Body::Presence(m::Presence {
                        participant_id: id.0,
                        profile: None,
                        role: role.to_proto(),
                        state: state as i32,
                    })),
                    now,
                );
            }
            Op::Changed {
                terminal,
                owner,
                controller,
            } => {
                host.handle_frame(
                    Frame::control(Body::ControlChanged(m::ControlChanged {
                        terminal_id: u32::from(terminal % 4),
                        owner: u32::from(owner % 7),
                        controller: u32::from(controller % 7),
                        reason: 5,
                        requester: 0,
                    })),
                    now,
                );
            }
            Op::Input {
                from,
                terminal,
                writer_key,
                skip,
            } => {
                let from_id = ParticipantId(u32::from(from % 6) + 1);
                let t = TerminalId(u32::from(terminal % 4));
                let role = if writer_key {
                    Role::Writer
                } else {
                    Role::Reader
                };
                let keys = KeySchedule::new(
                    &KeySchedule::new(&admin, &session)
                        .secret(Role::Writer)
                        .expect("writer"),
                    &session,
                );
                let reader_keys =
                    KeySchedule::new(&keys.secret(Role::Reader).expect("reader"), &session);
                let sealer = sealers
                    .entry((from % 6, terminal % 4, writer_key))
                    .or_insert_with(|| {
                        let (k, d) = if writer_key {
                            (&keys, Direction::Input)
                        } else {
                            (&reader_keys, Direction::Output)
                        };
                        let mut s = k.sealer(t, d, from_id, Epoch([from; 16])).expect("sealer");
                        if !writer_key {
                            // A reader can only seal under the output root; claim input.
                            s = k
                                .sealer(t, Direction::Output, from_id, Epoch([from; 16]))
                                .expect("sealer");
                        }
                        s
                    });
                let _ = role;
                if skip {
                    let _ = sealer.seal(b"skipped");
                }
                if let Ok(frame) = sealer.seal(b"keys") {
                    let mut raw = frame.as_bytes().to_vec();
                    if let Some(d) = raw.get_mut(3 + 4) {
                        *d = Direction::Input.to_byte();
                    }
                    if let Ok(Frame::Sealed(f)) =
                        Frame::parse(Bytes::from(raw), DEFAULT_MAX_FRAME_LEN)
                    {
                        host.handle_frame(Frame::Sealed(f), now);
                    }
                }
            }
            Op::Output { terminal, len } => {
                let _ = host.handle_output(
                    TerminalId(u32::from(terminal % 4)),
                    &vec![b'x'; usize::from(len % 4096)],
                    now,
                );
            }
            Op::Open { owner } => {
                let _ = host.open_terminal(ParticipantId(u32::from(owner % 7)), 24, 80, "t", now);
            }
            Op::Close { terminal } => {
                let _ = host.close_terminal(TerminalId(u32::from(terminal % 4)), 0, now);
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                host.handle_timeout(now);
            }
            Op::Disconnect => host.handle_disconnect(now),
            Op::Reconnect => {
                host.connect(now);
                accept(&mut host, now);
                host.handle_frame(
                    Frame::control(Body::ResumeState(m::ResumeState {
                        terminals: Vec::new(),
                    })),
                    now,
                );
            }
        }
        while host.poll_transmit().is_some() {}
        while let Some(event) = host.poll_event() {
            if let HostEvent::Input { term, from, .. } = event {
                let role = roles
                    .get(&from)
                    .copied()
                    .expect("input only from a known participant");
                let control = host.terminal_control(term);
                assert!(
                    access::check(role, from, Action::Input, control.as_ref()).is_ok(),
                    "input the rules refuse was accepted"
                );
            }
        }
    }
});
