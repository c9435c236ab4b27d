//! Issue 19, item 2: a real PTY's output through the host, the relay and a
//! viewer over loopback WebSockets, next to what `script` reads from the
//! same command's PTY in the same run (the PTY's own limit).
//!
//! `cargo bench --bench pty_pipeline` (TAIKU_PTY_BYTES sets the amount,
//! 100,000,000 by default). It prints, for each way, the delivered
//! throughput, its ratio to `script`'s, CPU time per MB (this process:
//! relay, host and viewer together; `script` for the baseline) and how
//! many frames the viewer got. "host's own shell" adds what `share` does
//! with its own terminal's output: a screen model fed every chunk, off the
//! host's path.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use taiku_crypto::Link;
use taiku_proto::Role;
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_session::screen::{Screen, ScreenModel};
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    DriverConfig, ShellSpec, Terminals, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;

/// A line of 72 characters and its newline; the PTY makes it 74 bytes.
const LINE: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";

/// CPU time of this process, and of its waited-for children, in seconds
/// (`/proc/self/stat`, clock ticks of 10 ms).
fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let tick = |i: usize| fields.get(i).copied().unwrap_or(0.0) / 100.0;
    // After the ')' : state is field 0; utime 11, stime 12, cutime 13, cstime 14.
    (tick(11) + tick(12), tick(13) + tick(14))
}

fn command(bytes: usize) -> String {
    format!("yes {LINE} | head -c {bytes}")
}

/// What a PTY delivers of `bytes` of lines: every LF becomes CR LF.
fn delivered_len(bytes: usize) -> usize {
    bytes + bytes / (LINE.len() + 1)
}

struct Run {
    seconds: f64,
    cpu: f64,
    frames: usize,
}

fn script(bytes: usize) -> Run {
    let (_, children) = cpu();
    let started = Instant::now();
    let status = Command::new("script")
        .args(["-qfec", &command(bytes), "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("script (util-linux) runs");
    assert!(status.success());
    let seconds = started.elapsed().as_secs_f64();
    Run {
        seconds,
        cpu: cpu().1 - children,
        frames: 0,
    }
}

async fn taiku(bytes: usize, own_shell: bool) -> Run {
    let config = RelayConfig::default().with_max_queue_bytes(64 << 20);
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, config)
        .await
        .expect("relay");
    let origin = relay.origin();
    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let link =
        Link::parse(&host.link(&origin, Role::Reader).expect("link").to_url()).expect("link");
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).expect("endpoint"));
    let (mut host, _h) = spawn_host(host, driver.clone());
    while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    let viewer = Participant::new(ParticipantConfig::default(), &link, os_rng());
    let (mut viewer, _v) = spawn_participant(viewer, driver);
    while !matches!(
        viewer.events.recv().await,
        Some(ParticipantEvent::Joined { .. })
    ) {}
    let mut terminals = Terminals::default();
    // share's own terminal: its output also feeds a screen model on
    // another task.
    let tap = own_shell.then(|| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let mut screen = Screen::new(24, 80);
            while let Some(b) = rx.recv().await {
                screen.feed(&b);
            }
        });
        Box::new(move |b: &[u8]| {
            let _ = tx.send(b.to_vec());
        }) as taiku_transport::drive::OutputTap
    });
    let (cpu_before, _) = cpu();
    let started = Instant::now();
    let spec = ShellSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), command(bytes)],
        tap,
        ..ShellSpec::shell(taiku_proto::ParticipantId::HOST)
    };
    terminals.open_shell(&host, spec).await.expect("shell");
    let want = delivered_len(bytes);
    let (mut got, mut frames) = (0usize, 0usize);
    let done = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(e) = viewer.events.recv().await {
            match e {
                ParticipantEvent::Output { bytes, .. } => {
                    got += bytes.len();
                    frames += 1;
                    if got >= want {
                        return true;
                    }
                }
                ParticipantEvent::TerminalClosed(_) => return got >= want,
                _ => {}
            }
        }
        false
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done, Ok(true), "{got} of {want} bytes delivered");
    let cpu = cpu().0 - cpu_before;
    terminals.shutdown().await;
    relay.shutdown().await;
    Run {
        seconds,
        cpu,
        frames,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood here.
    let bytes: usize = std::env::var("TAIKU_PTY_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000);
    let mb = delivered_len(bytes) as f64 / 1e6;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Alternating runs, three each; the best of each is reported.
    let mut best: [Option<Run>; 3] = [None, None, None];
    for _ in 0..3 {
        let runs = [
            script(bytes),
            runtime.block_on(taiku(bytes, false)),
            runtime.block_on(taiku(bytes, true)),
        ];
        for (slot, run) in best.iter_mut().zip(runs) {
            if slot.as_ref().is_none_or(|b| run.seconds < b.seconds) {
                *slot = Some(run);
            }
        }
    }
    let [Some(base), Some(new), Some(own)] = best else {
        unreachable!("three runs of each")
    };
    println!("pty_pipeline: {mb:.1} MB through the PTY, best of 3 alternating runs");
    for (name, run) in [
        ("script (baseline)", &base),
        ("taiku, a new terminal", &new),
        ("taiku, the host's own shell", &own),
    ] {
        println!(
            "  {name}: {:.1} MB/s ({:.0} % of script), {:.1} ms CPU per MB, {} frames to the viewer",
            mb / run.seconds,
            100.0 * base.seconds / run.seconds,
            1000.0 * run.cpu / mb,
            run.frames,
        );
    }
}
