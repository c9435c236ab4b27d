//! Issue 19, item 1: what an idle connection costs the relay process, as
//! the kernel counts it (resident memory of the `relay` example), for
//! connections that finished the WebSocket handshake and sent nothing
//! (pre-admission) and for participants admitted to sessions that then go
//! quiet. A bench-like measure: it asserts the bound, and with
//! `ABUSE_REPORT=1` prints the figures BENCHMARKS.md reports (from a
//! release build: `cargo build --release --example relay && ABUSE_REPORT=1
//! cargo test --release --test relay_memory -- --nocapture`).

use std::time::{Duration, Instant};

use taiku_proto::Role;
use taiku_session::host::Host;
use taiku_session::participant::ParticipantEvent;
use taiku_transport::drive::{Machine, OsRng};
use taiku_transport::ws::WsStream;

#[path = "support/relay.rs"]
mod relay;
use relay::{
    RelayProcess, attacker_session, connection_budget, drive_until, participant, report, ws_from,
};

/// The most an idle connection may cost the relay process (issue 19).
const PER_CONNECTION_KIB: f64 = 16.0;

/// Connections measured, if the open file limit allows.
const CONNECTIONS: usize = 2000;

/// Readers per session (the relay's `max_participants` is 64).
const READERS_PER_SESSION: usize = 50;

/// Connections per loopback source (the relay holds 256 per source).
const PER_SOURCE: usize = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_costs_the_relay_at_most_16_kib() {
    let relay = RelayProcess::start("memory", &[]);
    let count = connection_budget(CONNECTIONS);
    assert!(
        count >= 500,
        "the open file limit allows only {count} connections"
    );

    // Pre-admission: handshaked WebSockets that send nothing (the relay
    // closes them after its 10 s handshake timeout: measured before).
    let before = relay.settled_rss(Duration::from_secs(3)).await;
    let started = Instant::now();
    let mut held: Vec<WsStream> = Vec::with_capacity(count);
    for i in 0..count {
        held.push(ws_from(i / PER_SOURCE, relay.addr, false).await);
    }
    let opened = started.elapsed();
    let during = relay.settled_rss(Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "too slow to measure before the handshake timeout"
    );
    let pending = (during - before) * 1024.0 / count as f64;
    report(format!(
        "{count} idle pre-admission connections (opened in {opened:?}): RSS {before:.1} -> \
         {during:.1} MiB, {pending:.1} KiB each"
    ));
    drop(held);
    let (_, after) = relay.back_near(before, 2.0).await;
    drop(relay);

    // Admitted, in a fresh relay process (so that nothing the first part
    // freed is reused): sessions of readers, each joined, then quiet.
    let relay = RelayProcess::start("memory-admitted", &[]);
    let sources = count.div_ceil(PER_SOURCE) + 1;
    let mut hosts: Vec<(Host<OsRng>, WsStream)> = Vec::new();
    let mut readers = Vec::with_capacity(count);
    let base = relay.settled_rss(Duration::from_secs(3)).await;
    let sessions = count.div_ceil(READERS_PER_SESSION);
    for s in 0..sessions {
        // Sessions come from the last sources, readers from the first.
        let (host, ws) = attacker_session(sources + s / 30, &relay).await;
        let link = host.link(&relay.origin(), Role::Reader).unwrap();
        let link = link.to_url().to_string();
        hosts.push((host, ws));
        for r in 0..READERS_PER_SESSION.min(count - readers.len()) {
            let n = readers.len();
            let mut p = participant(&link, &format!("r{r}"));
            let mut ws = ws_from(n / PER_SOURCE, relay.addr, false).await;
            Machine::connect(&mut p, Instant::now());
            drive_until(&mut p, &mut ws, |e| {
                matches!(e, ParticipantEvent::Joined { .. })
            })
            .await;
            readers.push((p, ws));
        }
    }
    let admitted_rss = relay.settled_rss(Duration::from_secs(3)).await;
    // The sessions' hosts are counted in, as overhead of their readers.
    let admitted = (admitted_rss - base) * 1024.0 / count as f64;
    report(format!(
        "{count} idle admitted readers in {sessions} sessions: RSS {base:.1} -> \
         {admitted_rss:.1} MiB, {admitted:.1} KiB each (pre-admission back to {after:.1} MiB)"
    ));
    assert!(
        pending <= PER_CONNECTION_KIB,
        "an idle pre-admission connection costs {pending:.1} KiB"
    );
    assert!(
        admitted <= PER_CONNECTION_KIB,
        "an idle admitted connection costs {admitted:.1} KiB"
    );
}
