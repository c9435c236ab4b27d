//! One host's output routed by the relay machine to 1, 10, 100 and 1000
//! participants (cost per delivery), the relay's memory per idle
//! participant and per idle session, and the replay ring's bound.
//!
//! `cargo bench --bench relay_fanout`

#[path = "support/alloc_count.rs"]
mod alloc_count;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::admission;
use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

type Rng = chacha20::ChaCha20Rng;

fn drain(relay: &mut Relay<Rng>) -> Vec<(ConnId, Frame)> {
    let mut out = Vec::new();
    while let Some(t) = relay.poll_transmit() {
        if let Transmit::Send { conn, frame } = t {
            out.push((conn, frame));
        }
    }
    while relay.poll_event().is_some() {}
    out
}

fn admit(relay: &mut Relay<Rng>, conn: ConnId, request: Body, keys: &KeySchedule, now: Instant) {
    relay.handle_connect(conn, now);
    relay.handle_frame(conn, Frame::control(request), now);
    let challenge = drain(relay)
        .into_iter()
        .find_map(|(_, f)| match f {
            Frame::Control(m::Control { body: Some(body) }) => admission::challenge(&body),
            _ => None,
        })
        .expect("challenge");
    let proof = admission::join_proof(&keys.prover(), &challenge);
    relay.handle_frame(conn, Frame::control(proof), now);
    drain(relay);
}

fn create(relay: &mut Relay<Rng>, conn: ConnId, keys: &KeySchedule, now: Instant) {
    let options = SessionOptions::default();
    let body = admission::session_create(keys, options, None).expect("admin");
    admit(relay, conn, body, keys, now);
}

struct Setup {
    relay: Relay<Rng>,
    host: ConnId,
    now: Instant,
    keys: KeySchedule,
}

fn session_with(n: usize, config: RelayConfig) -> Setup {
    let now = Instant::now();
    let mut relay = Relay::new(config, Rng::from_seed([1; 32]));
    let keys = KeySchedule::new(
        &LinkSecret::from_bytes(Role::Admin, [9; 32]),
        &SessionId::new("bench-fanout-0001").expect("id"),
    );
    let host = ConnId(0);
    create(&mut relay, host, &keys, now);
    relay.handle_frame(
        host,
        Frame::control(Body::TerminalOpened(m::TerminalOpened {
            terminal_id: 1,
            owner: 0,
            rows: 24,
            cols: 80,
            label: String::new(),
        })),
        now,
    );
    let reader = KeySchedule::new(
        &keys.secret(Role::Reader).expect("reader"),
        keys.session_id(),
    );
    for i in 0..n {
        let req = Body::JoinRequest(m::JoinRequest {
            session_id: keys.session_id().to_string(),
            profile: None,
        });
        admit(&mut relay, ConnId(1 + i as u64), req, &reader, now);
    }
    drain(&mut relay);
    Setup {
        relay,
        host,
        now,
        keys,
    }
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay_fanout");
    for n in [1usize, 10, 100, 1000] {
        let config = RelayConfig::default().with_max_participants(1000);
        let mut s = session_with(n, config);
        let mut sealer = s
            .keys
            .sealer(
                TerminalId(1),
                Direction::Output,
                ParticipantId::HOST,
                Epoch([1; 16]),
            )
            .expect("sealer");
        let frames: Vec<Frame> = (0..1024)
            .map(|_| Frame::Sealed(sealer.seal(&[b'o'; 64]).expect("seal")))
            .collect();
        let mut i = 0;
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("deliveries", n), &n, |b, _| {
            b.iter(|| {
                let f = frames[i % frames.len()].clone();
                i += 1;
                s.relay.handle_frame(s.host, f, s.now);
                let mut delivered = 0;
                while let Some(t) = s.relay.poll_transmit() {
                    black_box(&t);
                    delivered += 1;
                }
                assert_eq!(delivered, n);
            })
        });
    }
    group.finish();

    // Memory: idle participants and idle sessions.
    let before = alloc_count::live_bytes();
    let s = session_with(0, RelayConfig::default().with_max_participants(2000));
    let one_session = alloc_count::live_bytes() - before;
    drop(s);
    let mut s = session_with(0, RelayConfig::default().with_max_participants(2000));
    let reader = KeySchedule::new(
        &s.keys.secret(Role::Reader).expect("reader"),
        s.keys.session_id(),
    );
    let before = alloc_count::live_bytes();
    for i in 0..1000u64 {
        let req = Body::JoinRequest(m::JoinRequest {
            session_id: s.keys.session_id().to_string(),
            profile: None,
        });
        admit(&mut s.relay, ConnId(10_000 + i), req, &reader, s.now);
    }
    drain(&mut s.relay);
    let per_participant = (alloc_count::live_bytes() - before) / 1000;
    let now = Instant::now();
    let mut relay = Relay::new(RelayConfig::default(), Rng::from_seed([2; 32]));
    let before = alloc_count::live_bytes();
    for i in 0..100u64 {
        let keys = KeySchedule::new(
            &LinkSecret::from_bytes(Role::Admin, [i as u8; 32]),
            &SessionId::new(&format!("bench-idle-{i:04}")).expect("id"),
        );
        create(&mut relay, ConnId(i), &keys, now);
    }
    drain(&mut relay);
    let per_session = (alloc_count::live_bytes() - before) / 100;

    // The ring never exceeds its bound.
    let config = RelayConfig::default().with_ring_bytes(2 << 20);
    let limit = config.ring_bytes;
    let mut s = session_with(0, config);
    let mut sealer = s
        .keys
        .sealer(
            TerminalId(1),
            Direction::Output,
            ParticipantId::HOST,
            Epoch([5; 16]),
        )
        .expect("sealer");
    let mut max = 0;
    for _ in 0..1000 {
        let f = sealer.seal(&[b'r'; 16 * 1024]).expect("seal");
        s.relay.handle_frame(s.host, Frame::Sealed(f), s.now);
        drain(&mut s.relay);
        max = max.max(
            s.relay
                .ring_bytes(s.keys.session_id(), TerminalId(1))
                .expect("terminal"),
        );
    }
    assert!(max <= limit);
    println!(
        "relay memory: {per_participant} bytes per idle participant, {per_session} bytes per idle session (first session incl. relay: {one_session}); ring max {max} of {limit} bytes after 16 MiB of output"
    );
}

/// Joining a session whose replay ring is full of 1-byte output frames
/// (finding 14.1: such a joiner used to be evicted before it saw
/// anything), against joining one with an empty ring, in the same run:
/// admission, then draining everything the relay sends the joiner.
fn busy_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("busy_join");
    group.sample_size(20);
    for (name, fill) in [("empty_ring", false), ("ring_of_1_byte_frames", true)] {
        let mut s = session_with(0, RelayConfig::default());
        let mut frames_in_ring = 0usize;
        if fill {
            let mut sealer = s
                .keys
                .sealer(
                    TerminalId(1),
                    Direction::Output,
                    ParticipantId::HOST,
                    Epoch([7; 16]),
                )
                .expect("sealer");
            let limit = RelayConfig::default().ring_bytes;
            loop {
                let f = sealer.seal(b"x").expect("seal");
                let len = f.as_bytes().len();
                let held = s
                    .relay
                    .ring_bytes(s.keys.session_id(), TerminalId(1))
                    .expect("terminal");
                if held + len > limit {
                    break;
                }
                s.relay.handle_frame(s.host, Frame::Sealed(f), s.now);
                frames_in_ring += 1;
            }
            drain(&mut s.relay);
        }
        let reader = KeySchedule::new(
            &s.keys.secret(Role::Reader).expect("reader"),
            s.keys.session_id(),
        );
        let mut next = 100u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                let conn = ConnId(next);
                next += 1;
                let req = Body::JoinRequest(m::JoinRequest {
                    session_id: s.keys.session_id().to_string(),
                    profile: None,
                });
                s.relay.handle_connect(conn, s.now);
                s.relay.handle_frame(conn, Frame::control(req), s.now);
                let challenge = drain(&mut s.relay)
                    .into_iter()
                    .find_map(|(_, f)| match f {
                        Frame::Control(m::Control { body: Some(body) }) => {
                            admission::challenge(&body)
                        }
                        _ => None,
                    })
                    .expect("challenge");
                let proof = admission::join_proof(&reader.prover(), &challenge);
                s.relay.handle_frame(conn, Frame::control(proof), s.now);
                let replayed = drain(&mut s.relay)
                    .iter()
                    .filter(|(to, f)| *to == conn && matches!(f, Frame::Sealed(_)))
                    .count();
                assert_eq!(replayed, frames_in_ring);
                s.relay.handle_disconnect(conn, s.now);
                drain(&mut s.relay);
            })
        });
        if fill {
            println!("busy_join: the ring holds {frames_in_ring} frames of 1 byte");
        }
    }
    group.finish();
}

criterion_group!(benches, fanout, busy_join);
criterion_main!(benches);
