//! Issue 19, item 5: the relay process's CPU time per MB it delivers,
//! for this build's `relay` example and, when `TAIKU_RELAY_BASELINE`
//! names another build of it (an earlier commit's), for that one too, in
//! alternating rounds of the same run.
//!
//! ```text
//! cargo build --release --example relay
//! TAIKU_RELAY_BASELINE=/path/to/old/relay cargo bench --bench relay_cpu
//! ```
//!
//! Each round: a relay process on loopback, a host (the transport's
//! driver, no PTY) and four viewers in this process, 256 MiB of output
//! (TAIKU_RELAY_CPU_BYTES)
//! from the host at 20 MB/s (about what a PTY delivers); the relay's user and system time
//! (`/proc/PID/stat`) over the burst, divided by the bytes the viewers
//! got.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use taiku_crypto::Link;
use taiku_proto::{ParticipantId, Role};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_transport::drive::{
    ClientOptions, DriverConfig, feed_output, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;

const VIEWERS: usize = 4;
const CHUNK: usize = 16 * 1024;
const ROUNDS: usize = 3;
/// Bytes per second the host writes: about what a PTY delivers.
const RATE: f64 = 20e6;

/// CPU seconds (user + system) of process `pid`.
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // After the ')': state is field 0; utime 11, stime 12 (10 ms ticks).
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn start_relay(binary: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(binary)
        .args(["--bind", &addr])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e}"));
    let mut line = String::new();
    let stdout = child.stdout.as_mut().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("relay output");
    assert!(line.contains("listening"), "{line:?}");
    (child, format!("http://{addr}"))
}

/// One burst through the relay at `binary`: its CPU seconds per MB
/// delivered.
async fn round(binary: &str, burst: usize) -> f64 {
    let (mut relay, origin) = start_relay(binary);
    let pid = relay.id();
    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let link =
        Link::parse(&host.link(&origin, Role::Reader).expect("link").to_url()).expect("link");
    // Viewers as deep as the burst: the bench measures the relay's CPU,
    // so its viewers, which share two cores with it, take everything it
    // sends whenever they get a core (a viewer that stopped reading would
    // make the relay skip it forward, or close it before resyncs).
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).expect("endpoint"))
        .with_options(ClientOptions::default().with_event_queue(1 << 16));
    let (mut host, _t) = spawn_host(host, driver.clone());
    while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    let commander = host.commander();
    tokio::spawn(async move { while host.events.recv().await.is_some() {} });
    let mut viewers = Vec::new();
    for _ in 0..VIEWERS {
        let p = Participant::new(ParticipantConfig::default(), &link, os_rng());
        let (mut v, task) = spawn_participant(p, driver.clone());
        while !matches!(v.events.recv().await, Some(ParticipantEvent::Joined { .. })) {}
        viewers.push((v, task));
    }
    let term = commander
        .call(|h, now| {
            h.open_terminal(ParticipantId::HOST, 24, 80, "bench", now)
                .map(|(t, _)| t)
        })
        .await
        .expect("host")
        .expect("open");
    let before = cpu_of(pid);
    let started = Instant::now();
    let feeder = commander.clone();
    tokio::spawn(async move {
        let chunk = Bytes::from(b"0123456789abcdef".repeat(CHUNK / 16));
        for i in 1..=burst / CHUNK {
            feed_output(&feeder, term, chunk.clone()).await;
            // No faster than a PTY delivers (pty_pipeline).
            let due = started + Duration::from_secs_f64((i * CHUNK) as f64 / RATE);
            tokio::time::sleep_until(due.into()).await;
        }
    });
    // Every viewer is read at once, as viewers on their own machines
    // would be: one left unread would fill its event queue, stop reading
    // and be skipped forward by the relay (SPEC.md 6.7, 12.2).
    let readers: Vec<_> = viewers
        .into_iter()
        .map(|(v, task)| {
            tokio::spawn(async move {
                // The whole handle lives here, not only its events: the
                // loop ends when no commander is left.
                let mut v = v;
                let mut got = 0;
                let all = tokio::time::timeout(Duration::from_secs(120), async {
                    while got < burst {
                        match v.events.recv().await {
                            Some(ParticipantEvent::Output { term: t, bytes }) if t == term => {
                                got += bytes.len()
                            }
                            Some(ParticipantEvent::Resynced { .. }) => {
                                panic!("a viewer was resynced")
                            }
                            Some(_) => {}
                            None => panic!("a viewer was closed"),
                        }
                    }
                })
                .await;
                assert!(all.is_ok(), "a viewer got {got} of {burst} bytes");
                drop(task);
                got
            })
        })
        .collect();
    let mut delivered = 0usize;
    for reader in readers {
        delivered += reader.await.expect("viewer");
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_of(pid) - before;
    let _ = relay.kill();
    let _ = relay.wait();
    let mb = delivered as f64 / 1e6;
    println!(
        "  {binary}: {:.0} MB delivered in {seconds:.2} s, relay CPU {cpu:.2} s: {:.2} ms per MB",
        mb,
        cpu * 1000.0 / mb
    );
    cpu * 1000.0 / mb
}

fn main() {
    let current = std::env::var("TAIKU_RELAY").unwrap_or_else(|_| {
        format!(
            "{}/target/release/examples/relay",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let baseline = std::env::var("TAIKU_RELAY_BASELINE").ok();
    let burst = std::env::var("TAIKU_RELAY_CPU_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256 << 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (mut now, mut then) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            if let Some(b) = &baseline {
                then.push(round(b, burst).await);
            }
            now.push(round(&current, burst).await);
        }
        let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        println!(
            "relay CPU per MB delivered ({VIEWERS} viewers, {ROUNDS} rounds): this build best {:.2} ms, mean {:.2} ms",
            best(&now),
            mean(&now)
        );
        if !then.is_empty() {
            println!(
                "baseline best {:.2} ms, mean {:.2} ms: ratio of bests {:.2}, of means {:.2}",
                best(&then),
                mean(&then),
                best(&now) / best(&then),
                mean(&now) / mean(&then)
            );
        }
    });
}
