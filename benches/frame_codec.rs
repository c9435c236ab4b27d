//! Decoding and encoding a realistic mixed stream (keystrokes, short lines,
//! 16 KiB bursts), next to sealing the same 16 KiB payloads, and the number
//! of allocations per decoded frame (payloads are never copied).
//!
//! `cargo bench --bench frame_codec`

#[path = "support/alloc_count.rs"]
mod alloc_count;

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::{
    Direction, Epoch, Frame, FrameDecoder, FrameEncoder, ParticipantId, Role, SessionId, TerminalId,
};

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

fn stream() -> (Vec<Frame>, Vec<u8>) {
    let session = SessionId::new("bench-session-01").expect("id");
    let host = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [7; 32]), &session);
    let mut out = host
        .sealer(
            TerminalId(1),
            Direction::Output,
            ParticipantId::HOST,
            Epoch([1; 16]),
        )
        .expect("sealer");
    let writer = KeySchedule::new(&host.secret(Role::Writer).expect("writer"), &session);
    let mut input = writer
        .sealer(
            TerminalId(1),
            Direction::Input,
            ParticipantId(2),
            Epoch([2; 16]),
        )
        .expect("sealer");
    let mut frames = Vec::new();
    for i in 0..64 {
        frames.push(Frame::Sealed(input.seal(b"k").expect("seal")));
        frames.push(Frame::Sealed(out.seal(b"k").expect("seal")));
        frames.push(Frame::Sealed(
            out.seal(b"drwxr-xr-x  5 user user 4096 Nov 29 04:38 src\r\n")
                .expect("seal"),
        ));
        if i % 8 == 0 {
            frames.push(Frame::Sealed(out.seal(&[b'x'; 16 * 1024]).expect("seal")));
        }
    }
    let encoder = FrameEncoder::new();
    let mut wire = BytesMut::new();
    for f in &frames {
        encoder.encode(f, &mut wire).expect("encode");
    }
    (frames, wire.to_vec())
}

fn codec(c: &mut Criterion) {
    let (frames, wire) = stream();
    let mut group = c.benchmark_group("frame_codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode_mixed_stream", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new();
            let mut buf = BytesMut::from(&wire[..]);
            let mut n = 0;
            while let Some(f) = decoder.decode(&mut buf).expect("decode") {
                black_box(&f);
                n += 1;
            }
            assert_eq!(n, frames.len());
        })
    });
    group.bench_function("encode_mixed_stream", |b| {
        let encoder = FrameEncoder::new();
        let mut out = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            for f in &frames {
                encoder.encode(f, &mut out).expect("encode");
            }
            black_box(&out);
        })
    });
    group.finish();

    // Decode vs seal for one 16 KiB frame.
    let session = SessionId::new("bench-session-01").expect("id");
    let host = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [7; 32]), &session);
    let mut sealer = host
        .sealer(
            TerminalId(1),
            Direction::Output,
            ParticipantId::HOST,
            Epoch([3; 16]),
        )
        .expect("sealer");
    let one = sealer.seal(&[b'y'; 16 * 1024]).expect("seal");
    let one_wire = one.as_bytes().clone();
    let mut group = c.benchmark_group("decode_vs_seal_16KiB");
    group.throughput(Throughput::Bytes(16 * 1024));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(Frame::parse(one_wire.clone(), 1 << 20).expect("parse")))
    });
    group.bench_function("seal", |b| {
        b.iter(|| black_box(sealer.seal(&[b'y'; 16 * 1024]).expect("seal")))
    });
    group.finish();

    // Allocations per decoded frame, and payload copies (zero: frames point
    // into the receive buffer).
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(&wire[..]);
    let base = buf.as_ptr() as usize;
    let before = alloc_count::allocations();
    let mut decoded = Vec::with_capacity(frames.len());
    while let Some(f) = decoder.decode(&mut buf).expect("decode") {
        decoded.push(f);
    }
    let allocs = alloc_count::allocations() - before;
    let in_place = decoded
        .iter()
        .filter(|f| matches!(f, Frame::Sealed(s) if (s.as_bytes().as_ptr() as usize).wrapping_sub(base) < wire.len()))
        .count();
    println!(
        "frame_codec: {} frames, {} allocations while decoding ({:.2} per frame), {} of {} payloads share the receive buffer (0 copies)",
        decoded.len(),
        allocs,
        allocs as f64 / decoded.len() as f64,
        in_place,
        decoded.len()
    );
}

criterion_group!(benches, codec);
criterion_main!(benches);
