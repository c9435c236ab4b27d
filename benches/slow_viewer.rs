//! Issue 19, item 3: one slow and nine fast viewers of one terminal,
//! through the relay over loopback WebSockets, next to nine fast viewers
//! alone in the same run (alternating rounds).
//!
//! `cargo bench --bench slow_viewer` (TAIKU_SLOW_BYTES sets the burst,
//! 33,554,432 by default; TAIKU_SLOW_RATE the slow viewer's reading rate
//! in bytes per second, 2,000,000 by default; TAIKU_SLOW_HOST_RATE the
//! rate the host writes at, 20,000,000 by default, about what a PTY
//! delivers, see `pty_pipeline`). It prints the fast viewers'
//! throughput with and without the slow one and their ratio, and for the
//! slow viewer: whether it stayed connected, how often it was skipped
//! forward, and whether its screen ended identical to the host's.
//!
//! The slow viewer is a client of its own built on the Sans-IO
//! participant machine (`tests/support/slow_viewer.rs`), with a 32 KiB
//! socket receive buffer, reading no faster than its rate; the fast ones
//! use the transport's driver.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use taiku_crypto::Link;
use taiku_proto::{ParticipantId, Role};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_session::screen::ScreenModel;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    ClientOptions, Commander, DriverConfig, OsRng, feed_output, os_rng, spawn_host,
    spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use tokio::sync::watch;

#[path = "../tests/support/slow_viewer.rs"]
mod slow_viewer;
use slow_viewer::{Slow, slow_viewer};

const FAST: usize = 9;
const ROUNDS: usize = 3;
const CHUNK: usize = 16 * 1024;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `bytes` of numbered lines, in 16 KiB chunks.
fn burst(round: usize, bytes: usize) -> Vec<Bytes> {
    let mut text = Vec::with_capacity(bytes + 128);
    let mut i = 0;
    while text.len() < bytes {
        text.extend_from_slice(
            format!(
                "\x1b[3{}mround {round} line {i:08}\x1b[0m {}\r\n",
                i % 8,
                "=".repeat(i % 50)
            )
            .as_bytes(),
        );
        i += 1;
    }
    text.truncate(bytes);
    text.chunks(CHUNK).map(Bytes::copy_from_slice).collect()
}

struct Bench {
    _relay: RelayServer,
    addr: SocketAddr,
    origin: String,
    link: Link,
    host: Commander<Host<OsRng>>,
}

async fn setup() -> Bench {
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default())
        .await
        .expect("relay");
    let origin = relay.origin();
    let addr = relay.local_addr();
    let config = HostConfig::default().with_screens(true);
    let options = SessionOptions::default();
    let host = Host::generate(config, options, os_rng());
    let link =
        Link::parse(&host.link(&origin, Role::Reader).expect("link").to_url()).expect("link");
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).expect("endpoint"));
    let (mut host, _t) = spawn_host(host, driver);
    while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    let commander = host.commander();
    tokio::spawn(async move { while host.events.recv().await.is_some() {} });
    Bench {
        _relay: relay,
        addr,
        origin,
        link,
        host: commander,
    }
}

/// One round: the fast viewers (and the slow one if `slow`) join, a new
/// terminal gets `bytes` of output; returns the fast viewers' mean
/// throughput in MB/s and the slow viewer's report.
async fn round(
    b: &Bench,
    n: usize,
    bytes: usize,
    (rate, host_rate): (usize, usize),
    slow: bool,
) -> (f64, Option<(Slow, bool)>) {
    // Nine viewers share this process's two cores with the relay, the
    // host and the slow viewer: a deep event queue keeps a fast viewer's
    // loop reading while its application task waits for a core, as a
    // viewer in a process of its own would (the default, EVENT_QUEUE,
    // pushes back on the relay sooner, and the relay would then skip a
    // briefly starved viewer forward like a slow one).
    let driver = DriverConfig::new(Endpoint::from_origin(&b.origin, false).expect("endpoint"))
        .with_options(ClientOptions::default().with_event_queue(1 << 16));
    let mut fast = Vec::new();
    for _ in 0..FAST {
        let p = Participant::new(ParticipantConfig::default(), &b.link, os_rng());
        let (mut viewer, task) = spawn_participant(p, driver.clone());
        while !matches!(
            viewer.events.recv().await,
            Some(ParticipantEvent::Joined { .. })
        ) {}
        fast.push((viewer, task));
    }
    let (term_tx, term_rx) = watch::channel(None);
    let marker = format!("end of round {n}");
    let slow_task = slow.then(|| {
        let marker = marker.clone();
        tokio::spawn(slow_viewer(
            b.addr,
            Link::parse(&b.link.to_url()).expect("link"),
            rate,
            term_rx,
            move |screen| screen.text().iter().any(|line| line == &marker),
        ))
    });
    // Let the slow viewer join before the terminal opens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let term = b
        .host
        .call(|h, now| {
            h.open_terminal(ParticipantId::HOST, 24, 80, "bench", now)
                .map(|(t, _)| t)
        })
        .await
        .expect("host")
        .expect("open");
    term_tx.send_replace(Some(term));
    let chunks = burst(n, bytes);
    let start = Instant::now();
    let host = b.host.clone();
    let feed = tokio::spawn(async move {
        let begin = Instant::now();
        let mut fed = 0;
        for c in chunks {
            fed += c.len();
            feed_output(&host, term, c).await;
            // No faster than a PTY delivers.
            let due = begin + Duration::from_secs_f64(fed as f64 / host_rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let end = Bytes::from(format!("\r\n{marker}\r\n"));
        feed_output(&host, term, end).await;
    });
    let total = bytes + format!("\r\nend of round {n}\r\n").len();
    let mut times = Vec::new();
    for (viewer, _) in &mut fast {
        let mut got = 0;
        while got < total {
            match viewer.events.recv().await {
                Some(ParticipantEvent::Output { term: t, bytes }) if t == term => {
                    got += bytes.len()
                }
                Some(ParticipantEvent::Resynced { .. }) => panic!("a fast viewer was resynced"),
                Some(_) => {}
                None => panic!("a fast viewer was closed"),
            }
        }
        times.push(start.elapsed().as_secs_f64());
    }
    feed.await.expect("feed");
    let mean = times.iter().map(|t| total as f64 / t / 1e6).sum::<f64>() / times.len() as f64;
    let report = match slow_task {
        Some(task) => {
            let s = tokio::time::timeout(Duration::from_secs(120), task)
                .await
                .expect("the slow viewer caught up")
                .expect("slow viewer");
            let host = b
                .host
                .call(move |h, _| h.screen(term).map(|s| s.snapshot(1 << 20)))
                .await
                .flatten();
            let same = host.as_deref() == Some(s.screen.snapshot(1 << 20).as_slice());
            Some((s, same))
        }
        None => None,
    };
    let _ = b
        .host
        .call(move |h, now| h.close_terminal(term, 0, now))
        .await;
    (mean, report)
}

fn main() {
    let bytes = env("TAIKU_SLOW_BYTES", 32 << 20);
    let rate = env("TAIKU_SLOW_RATE", 2_000_000);
    let host_rate = env("TAIKU_SLOW_HOST_RATE", 20_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let b = setup().await;
        let (mut alone, mut with_slow) = (Vec::new(), Vec::new());
        let mut n = 0;
        for _ in 0..ROUNDS {
            for slow in [false, true] {
                n += 1;
                let (mbps, report) = round(&b, n, bytes, (rate, host_rate), slow).await;
                match report {
                    None => {
                        println!("round {n}: {FAST} fast viewers alone: {mbps:.1} MB/s each");
                        alone.push(mbps);
                    }
                    Some((s, same)) => {
                        println!(
                            "round {n}: {FAST} fast viewers with a slow one ({rate} B/s): {mbps:.1} MB/s each; slow viewer connected {}, skipped forward {} times, screen identical to the host's: {same}",
                            s.connected, s.resyncs
                        );
                        with_slow.push(mbps);
                    }
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "fast viewers: alone {:.1} MB/s, beside a slow viewer {:.1} MB/s: ratio {:.3}",
            mean(&alone),
            mean(&with_slow),
            mean(&with_slow) / mean(&alone)
        );
    });
}
