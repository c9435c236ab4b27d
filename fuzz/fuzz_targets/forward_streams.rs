//! Forward streams (SPEC.md 6.8) with a hostile peer on every side: the
//! relay, the host and a participant fed arbitrary forward messages and
//! sealed forward frames (some sealed with the writer's real keys). None
//! panics; the host raises `ForwardRequested` only for a published port
//! and only once per (participant, stream); no data event of either
//! machine exceeds a chunk, and the bytes the host reports on a stream
//! never exceed the window beyond what it credited back.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::{arbitrary, fuzz_target};
use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::limits::{FORWARD_CHUNK, FORWARD_WINDOW};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::forward::{ForwardEvent, ForwardId};
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::{ConnId, Relay, RelayConfig};

type Rng = chacha20::ChaCha20Rng;

#[derive(arbitrary::Arbitrary, Debug)]
enum Op {
    /// A control message to the host, as the relay could send it.
    HostOpen {
        stream: u32,
        port: u16,
        participant: u8,
        http: bool,
    },
    HostCredit {
        stream: u32,
        participant: u8,
        bytes: u32,
    },
    HostClose {
        stream: u32,
        participant: u8,
        reason: i32,
    },
    HostData {
        stream: u32,
        participant: u8,
        len: u16,
        fin: bool,
    },
    /// A sealed forward frame to the host, under the writer's keys.
    HostSealed {
        stream: u32,
        participant: u8,
        epoch: u8,
        seq_skip: u8,
        start: bool,
        len: u16,
        fin: bool,
    },
    /// The host's side of a stream.
    HostConnect {
        stream: u32,
        participant: u8,
    },
    HostWrite {
        stream: u32,
        participant: u8,
        len: u16,
    },
    HostConsume {
        stream: u32,
        participant: u8,
        n: u32,
    },
    Publish(u16),
    Withdraw(u16),
    /// The participant's side.
    PeerOpen(u16),
    PeerWrite {
        stream: u32,
        len: u16,
    },
    PeerMessage {
        kind: u8,
        stream: u32,
        value: u32,
    },
    PeerSealed {
        stream: u32,
        epoch: u8,
        len: u16,
    },
    /// Raw frames to the relay from a participant connection.
    RelayRaw(Vec<u8>),
    RelayOpen {
        stream: u32,
        port: u16,
    },
    Advance(u16),
}

fn id(participant: u8, stream: u32) -> ForwardId {
    ForwardId {
        participant: ParticipantId(u32::from(participant % 4)),
        stream,
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let session = SessionId::new("fuzz-forwards-01").expect("id");
    let admin = LinkSecret::from_bytes(Role::Admin, [9; 32]);
    let keys = KeySchedule::new(&admin, &session);
    let writer = KeySchedule::new(&keys.secret(Role::Writer).expect("admin"), &session);
    let mut host = Host::new(
        HostConfig::default(),
        &admin,
        session.clone(),
        taiku_session::SessionOptions::default(),
        Rng::from_seed([1; 32]),
    )
    .expect("admin");
    let mut now = Instant::now();
    host.connect(now);
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
                options: Some(m::SessionOptions::default()),
                host_online: true,
            })),
        })),
        now,
    );
    for p in 1..4u32 {
        host.handle_frame(
            Frame::control(Body::Presence(m::Presence {
                participant_id: p,
                profile: None,
                role: if p == 3 { 1 } else { 2 },
                state: m::presence::State::Joined as i32,
            })),
            now,
        );
    }
    while host.poll_transmit().is_some() {}
    let link = taiku_crypto::Link::new(
        "https://relay.example",
        session.clone(),
        keys.secret(Role::Writer).expect("admin"),
    )
    .expect("link");
    let mut peer: Participant<Rng> =
        Participant::new(ParticipantConfig::default(), &link, Rng::from_seed([2; 32]));
    peer.connect(now);
    peer.handle_frame(
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
    peer.handle_frame(
        Frame::control(Body::InputTicket(m::InputTicket {
            participant_id: 1,
            ticket: Bytes::from(vec![3; 16]),
        })),
        now,
    );
    let mut relay: Relay<Rng> = Relay::new(RelayConfig::default(), Rng::from_seed([3; 32]));
    relay.handle_connect(ConnId(1), now);

    let mut published: BTreeSet<u32> = BTreeSet::new();
    let mut http: BTreeSet<u32> = BTreeSet::new();
    let mut requested: BTreeSet<ForwardId> = BTreeSet::new();
    // Data the host reported minus what it was told was consumed, per stream.
    let mut outstanding: BTreeMap<ForwardId, usize> = BTreeMap::new();
    for op in ops.into_iter().take(256) {
        match op {
            Op::HostOpen {
                stream,
                port,
                participant,
                http,
            } => {
                let f = id(participant, stream);
                host.handle_frame(
                    Frame::control(Body::ForwardOpen(m::ForwardOpen {
                        stream,
                        port: u32::from(port),
                        participant: f.participant.0,
                        http,
                    })),
                    now,
                );
            }
            Op::HostCredit {
                stream,
                participant,
                bytes,
            } => {
                let f = id(participant, stream);
                host.handle_frame(
                    Frame::control(Body::ForwardCredit(m::ForwardCredit {
                        stream,
                        participant: f.participant.0,
                        bytes,
                    })),
                    now,
                );
            }
            Op::HostClose {
                stream,
                participant,
                reason,
            } => {
                let f = id(participant, stream);
                host.handle_frame(
                    Frame::control(Body::ForwardClose(m::ForwardClose {
                        stream,
                        participant: f.participant.0,
                        reason,
                    })),
                    now,
                );
            }
            Op::HostData {
                stream,
                participant,
                len,
                fin,
            } => {
                let f = id(participant, stream);
                host.handle_frame(
                    Frame::control(Body::ForwardData(m::ForwardData {
                        stream,
                        participant: f.participant.0,
                        data: Bytes::from(vec![1; usize::from(len)]),
                        fin,
                    })),
                    now,
                );
            }
            Op::HostSealed {
                stream,
                participant,
                epoch,
                seq_skip,
                start,
                len,
                fin,
            } => {
                let f = id(participant, stream);
                let mut sealer = writer
                    .sealer(
                        TerminalId(stream),
                        Direction::ForwardUp,
                        f.participant,
                        Epoch([epoch; 16]),
                    )
                    .expect("writer");
                for _ in 0..seq_skip % 4 {
                    let _ = sealer.seal(b"");
                }
                let frame = if fin {
                    sealer.finish()
                } else if start {
                    let mut plaintext = vec![3; 16];
                    plaintext.extend_from_slice(&u64::from(stream).to_be_bytes());
                    plaintext.extend_from_slice(&u32::from(len).to_be_bytes());
                    sealer.seal(&plaintext)
                } else {
                    sealer.seal(&vec![2; usize::from(len)])
                };
                if let Ok(frame) = frame {
                    host.handle_frame(Frame::Sealed(frame), now);
                }
            }
            Op::HostConnect {
                stream,
                participant,
            } => {
                let _ = host.forward_connected(id(participant, stream));
            }
            Op::HostWrite {
                stream,
                participant,
                len,
            } => {
                let taken = host.forward_write(id(participant, stream), &vec![4; usize::from(len)]);
                if let Ok(n) = taken {
                    assert!(n <= FORWARD_CHUNK);
                }
            }
            Op::HostConsume {
                stream,
                participant,
                n,
            } => {
                let f = id(participant, stream);
                let n = (n as usize).min(outstanding.get(&f).copied().unwrap_or(0));
                host.forward_consumed(f, n);
                if let Some(o) = outstanding.get_mut(&f) {
                    *o -= n;
                }
            }
            Op::Publish(port) => {
                // Odd ports are published for sealed forwards only.
                let published_now = if port % 2 == 0 {
                    host.publish(u32::from(port))
                } else {
                    host.publish_sealed(u32::from(port))
                };
                if published_now.is_ok() {
                    published.insert(u32::from(port));
                    if port % 2 == 0 {
                        http.insert(u32::from(port));
                    } else {
                        http.remove(&u32::from(port));
                    }
                }
            }
            Op::Withdraw(port) => {
                host.withdraw(u32::from(port));
                published.remove(&u32::from(port));
                http.remove(&u32::from(port));
            }
            Op::PeerOpen(port) => {
                let _ = peer.open_forward(u32::from(port));
            }
            Op::PeerWrite { stream, len } => {
                let f = ForwardId {
                    participant: ParticipantId(1),
                    stream,
                };
                if let Ok(n) = peer.forward_write(f, &vec![5; usize::from(len)]) {
                    assert!(n <= FORWARD_CHUNK);
                }
            }
            Op::PeerMessage {
                kind,
                stream,
                value,
            } => {
                let body = match kind % 4 {
                    0 => Body::TunnelPorts(m::TunnelPorts {
                        ports: vec![value % 70000, stream % 70000],
                        http: vec![value % 70000],
                    }),
                    1 => Body::ForwardCredit(m::ForwardCredit {
                        stream,
                        participant: 1,
                        bytes: value,
                    }),
                    2 => Body::ForwardClose(m::ForwardClose {
                        stream,
                        participant: 1,
                        reason: value as i32,
                    }),
                    _ => Body::TunnelCredential(m::TunnelCredential {
                        token: "t".repeat((value % 64) as usize),
                        expires_in_ms: 1,
                    }),
                };
                peer.handle_frame(Frame::control(body), now);
            }
            Op::PeerSealed { stream, epoch, len } => {
                if let Ok(mut sealer) = keys.sealer(
                    TerminalId(stream),
                    Direction::ForwardDown,
                    ParticipantId(1),
                    Epoch([epoch; 16]),
                ) {
                    if let Ok(frame) = sealer.seal(&vec![6; usize::from(len)]) {
                        peer.handle_frame(Frame::Sealed(frame), now);
                    }
                }
            }
            Op::RelayRaw(bytes) => relay.handle_message(ConnId(1), Bytes::from(bytes), now),
            Op::RelayOpen { stream, port } => relay.handle_frame(
                ConnId(1),
                Frame::control(Body::ForwardOpen(m::ForwardOpen {
                    stream,
                    port: u32::from(port),
                    participant: 0,
                    http: false,
                })),
                now,
            ),
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                host.handle_timeout(now);
                peer.handle_timeout(now);
                relay.handle_timeout(now);
            }
        }
        while host.poll_transmit().is_some() {}
        while peer.poll_transmit().is_some() {}
        while relay.poll_transmit().is_some() {}
        while relay.poll_event().is_some() {}
        while let Some(event) = peer.poll_event() {
            if let ParticipantEvent::Forward(ForwardEvent::Data { data, .. }) = event {
                assert!(data.len() <= FORWARD_CHUNK);
            }
        }
        while let Some(event) = host.poll_event() {
            match event {
                HostEvent::Forward(ForwardEvent::Requested { id, port }) => {
                    assert!(published.contains(&port), "port {port} is not published");
                    // The relay's plaintext streams reach HTTP ports only.
                    if id.stream >= taiku_proto::limits::RELAY_STREAM_BASE {
                        assert!(http.contains(&port), "port {port} is sealed only");
                    }
                    assert!(requested.insert(id), "{id:?} requested twice");
                }
                HostEvent::Forward(ForwardEvent::Data { id, data }) => {
                    assert!(data.len() <= FORWARD_CHUNK);
                    let o = outstanding.entry(id).or_default();
                    *o += data.len();
                    assert!(*o <= FORWARD_WINDOW, "past the window");
                }
                HostEvent::Forward(ForwardEvent::Closed { id, .. }) => {
                    outstanding.remove(&id);
                }
                _ => {}
            }
        }
    }
});
