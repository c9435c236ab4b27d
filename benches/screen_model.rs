//! The host's screen model (SPEC.md 11.6) at the speed a PTY produces
//! output: a recorded session (`fixtures/session.raw`, below) fed through
//! `screen::Screen` in 4 KiB reads, next to a plain byte scan of the same
//! bytes (the least any reader of the output does) as the baseline, and
//! the same for `cat SPEC.md` (scrolling text); the
//! cost of a snapshot with full scrollback; and the memory one terminal's
//! model holds.
//!
//! The fixture was recorded with `script` in a 120 × 32 terminal
//! (TERM=xterm-256color): `ls -la --color=always /usr/bin`, `top`, and
//! vim with syntax highlighting paging through SPEC.md 80 times.
//!
//! `cargo bench --bench screen_model`

#[path = "support/alloc_count.rs"]
mod alloc_count;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use taiku_session::screen::{SCROLLBACK_LINES, Screen, ScreenModel};

#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

const ROWS: u16 = 32;
const COLS: u16 = 120;
/// A PTY read.
const READ: usize = 4096;

fn fixture() -> &'static [u8] {
    include_bytes!("fixtures/session.raw")
}

/// The default agent detectors fed `output` in reads of `READ`.
fn detectors(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    output: &[u8],
) {
    use taiku_session::agent::AgentDetector;
    group.bench_function("agent detectors", |b| {
        let mut detector = taiku_session::agent::detect::OutputDetector::default();
        let now = std::time::Instant::now();
        b.iter(|| {
            for read in output.chunks(READ) {
                black_box(detector.feed(black_box(read), now));
            }
        })
    });
}

fn bench(c: &mut Criterion) {
    let session = fixture();
    let mut group = c.benchmark_group("screen_model");
    group.throughput(Throughput::Bytes(session.len() as u64));
    group.bench_function("baseline: scan for ESC", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for read in session.chunks(READ) {
                n += read.iter().filter(|&&x| x == 0x1b).count();
            }
            black_box(n)
        })
    });
    group.bench_function("feed Screen 120x32", |b| {
        let mut screen = Screen::new(ROWS, COLS);
        b.iter(|| {
            for read in session.chunks(READ) {
                screen.feed(black_box(read));
            }
        })
    });
    // The agent detectors read the same output (issue 18; every terminal
    // has them by default).
    detectors(&mut group, session);
    group.finish();

    // `cat SPEC.md` as a PTY delivers it (LF becomes CR LF): scrolling text.
    let cat: Vec<u8> = include_str!("../SPEC.md")
        .bytes()
        .flat_map(|b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    let mut group = c.benchmark_group("screen_model_cat");
    group.throughput(Throughput::Bytes(cat.len() as u64));
    group.bench_function("baseline: scan for ESC", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for read in cat.chunks(READ) {
                n += read.iter().filter(|&&x| x == 0x1b).count();
            }
            black_box(n)
        })
    });
    detectors(&mut group, &cat);
    group.bench_function("feed Screen 120x32", |b| {
        let mut screen = Screen::new(ROWS, COLS);
        b.iter(|| {
            for read in cat.chunks(READ) {
                screen.feed(black_box(read));
            }
        })
    });
    group.finish();

    let mut full = Screen::new(ROWS, COLS);
    for _ in 0..4 {
        full.feed(session);
    }
    let line = "x".repeat(usize::from(COLS));
    for _ in 0..SCROLLBACK_LINES {
        full.feed(format!("\x1b[32m{line}\x1b[0m\r\n").as_bytes());
    }
    let mut group = c.benchmark_group("screen_snapshot");
    let size = full.snapshot(1 << 20).len();
    group.throughput(Throughput::Bytes(size as u64));
    group.bench_function("snapshot with full scrollback", |b| {
        b.iter(|| black_box(full.snapshot(1 << 20)))
    });
    group.finish();

    // Memory: one model, scrollback full of 120-column coloured lines.
    let before = alloc_count::live_bytes();
    let mut one = Screen::new(ROWS, COLS);
    one.feed(session);
    for _ in 0..SCROLLBACK_LINES {
        one.feed(format!("\x1b[32m{line}\x1b[0m\r\n").as_bytes());
    }
    let held = alloc_count::live_bytes() - before;
    println!(
        "screen_model memory: {held} bytes for one {COLS}x{ROWS} terminal with {SCROLLBACK_LINES} lines of scrollback; snapshot {size} bytes"
    );
    black_box(one);
}

criterion_group!(benches, bench);
criterion_main!(benches);
