//! Our sealed-frame seal and open against the raw ChaCha20-Poly1305 calls
//! on the same bytes, and against ring's ChaCha20-Poly1305 as the
//! fastest-known anchor, in the same run.
//!
//! `cargo bench --bench seal_open`

use std::hint::black_box;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use taiku_crypto::{KeySchedule, LinkSecret, Start};
use taiku_proto::{Direction, Epoch, ParticipantId, Role, SessionId, TerminalId};

const SIZES: [usize; 5] = [1, 64, 1024, 16 * 1024, 64 * 1024];

fn seal_open(c: &mut Criterion) {
    let session = SessionId::new("bench-session-01").expect("session id");
    let host = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [7; 32]), &session);
    let cipher = ChaCha20Poly1305::new(&[9u8; 32].into());
    let ring_key = ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &[9u8; 32]).expect("ring key"),
    );
    let mut group = c.benchmark_group("seal_open");
    for size in SIZES {
        let plaintext = vec![0x61u8; size];
        // The same associated data length as a real header (39 bytes for
        // small frames, 41 for 64 KiB).
        let aad = [0u8; 39];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("raw_rustcrypto", size),
            &plaintext,
            |b, pt| {
                let mut seq = 0u64;
                b.iter(|| {
                    seq += 1;
                    let mut n = [0u8; 12];
                    n[4..].copy_from_slice(&seq.to_be_bytes());
                    let nonce = Nonce::from(n);
                    let mut buf = pt.clone();
                    let tag = cipher
                        .encrypt_inout_detached(&nonce, &aad, buf.as_mut_slice().into())
                        .expect("seal");
                    let mut opened = buf.clone();
                    cipher
                        .decrypt_inout_detached(&nonce, &aad, opened.as_mut_slice().into(), &tag)
                        .expect("open");
                    black_box(opened);
                });
            },
        );
        group.bench_with_input(BenchmarkId::new("raw_ring", size), &plaintext, |b, pt| {
            let mut seq = 0u64;
            b.iter(|| {
                seq += 1;
                let mut n = [0u8; 12];
                n[4..].copy_from_slice(&seq.to_be_bytes());
                let mut buf = pt.clone();
                let tag = ring_key
                    .seal_in_place_separate_tag(
                        ring::aead::Nonce::assume_unique_for_key(n),
                        ring::aead::Aad::from(&aad),
                        &mut buf,
                    )
                    .expect("seal");
                let mut opened = buf.clone();
                opened.extend_from_slice(tag.as_ref());
                let pt = ring_key
                    .open_in_place(
                        ring::aead::Nonce::assume_unique_for_key(n),
                        ring::aead::Aad::from(&aad),
                        &mut opened,
                    )
                    .expect("open");
                black_box(pt);
            });
        });
        group.bench_with_input(
            BenchmarkId::new("taiku_stream", size),
            &plaintext,
            |b, pt| {
                let epoch = Epoch([size as u8; 16]);
                let mut sealer = host
                    .sealer(TerminalId(1), Direction::Output, ParticipantId::HOST, epoch)
                    .expect("sealer");
                let mut opener = host
                    .opener(TerminalId(1), Direction::Output, Start::FromStart)
                    .expect("opener");
                b.iter(|| {
                    let frame = sealer.seal(pt).expect("seal");
                    black_box(opener.open(&frame).expect("open"));
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, seal_open);
criterion_main!(benches);
