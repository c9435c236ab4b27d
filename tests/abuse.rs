//! The relay under attack, as a separate process (the `relay` example),
//! from attackers on other loopback addresses (127.0.0.2 …) than the
//! legitimate clients (127.0.0.1). Each attack is bounded in count and
//! time and stops by itself. While it runs, the relay's resident memory is
//! sampled and a legitimate viewer joins a legitimate session and a
//! legitimate host creates one: each must get in within `PROBE_LIMIT`.
//! After it, the relay's memory must come back near where it started.
//!
//! The tests run one at a time (`SERIAL`), so that no attack slows
//! another's probe. `ABUSE_REPORT=1` prints the measures (BENCHMARKS.md
//! reports them from a release build).

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, Role, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::ParticipantEvent;
use taiku_transport::drive::{Machine, os_rng, spawn_host, spawn_participant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

#[path = "support/relay.rs"]
mod relay;
use relay::{
    BIG_ASSET, RelayProcess, RssWatch, WAIT, attacker_session, connection_budget, drive_until,
    driver, flush, participant, report, tcp_from, ws_from,
};

/// The longest a legitimate probe may take to get in under attack.
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// Held by each test: a tokio mutex, which does not care which runtime
/// waits on it.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---- legitimate clients ----------------------------------------------------

/// A legitimate session: its host online from 127.0.0.1, its events
/// counted, and a legitimate viewer in it.
struct Legit {
    origin: String,
    reader_link: String,
    writer_link: String,
    host_online: tokio::sync::watch::Receiver<usize>,
    viewer_joined: tokio::sync::watch::Receiver<usize>,
    _host: JoinHandle<()>,
    _viewer: JoinHandle<()>,
}

impl Legit {
    async fn start(relay: &RelayProcess) -> Legit {
        let origin = relay.origin();
        let options = SessionOptions::default();
        let host = Host::generate(HostConfig::default(), options, os_rng());
        let link = |role| host.link(&origin, role).unwrap().to_url().to_string();
        let (reader_link, writer_link) = (link(Role::Reader), link(Role::Writer));
        let (mut handle, _) = spawn_host(host, driver(&origin));
        let (online_tx, mut host_online) = tokio::sync::watch::channel(0usize);
        let host_task = tokio::spawn(async move {
            while let Some(e) = handle.events.recv().await {
                if matches!(e, HostEvent::Online { .. }) {
                    online_tx.send_modify(|n| *n += 1);
                }
            }
        });
        timeout(WAIT, host_online.wait_for(|n| *n == 1))
            .await
            .expect("the legitimate host comes online")
            .unwrap();
        let viewer = participant(&reader_link, "viewer");
        let (mut viewer, _) = spawn_participant(viewer, driver(&origin));
        let (joined_tx, mut viewer_joined) = tokio::sync::watch::channel(0usize);
        let viewer_task = tokio::spawn(async move {
            while let Some(e) = viewer.events.recv().await {
                if matches!(
                    e,
                    ParticipantEvent::Joined { .. } | ParticipantEvent::Rejoined { .. }
                ) {
                    joined_tx.send_modify(|n| *n += 1);
                }
            }
        });
        timeout(WAIT, viewer_joined.wait_for(|n| *n == 1))
            .await
            .expect("the legitimate viewer joins")
            .unwrap();
        Legit {
            origin,
            reader_link,
            writer_link,
            host_online,
            viewer_joined,
            _host: host_task,
            _viewer: viewer_task,
        }
    }

    /// A new viewer joins, and a new host creates a session: how long
    /// each took. Panics if either fails.
    async fn probe(&self) -> (Duration, Duration) {
        let started = Instant::now();
        let p = participant(&self.reader_link, "probe");
        let (mut handle, task) = spawn_participant(p, driver(&self.origin));
        let joined = timeout(WAIT, async {
            loop {
                match handle.events.recv().await {
                    Some(ParticipantEvent::Joined { .. }) => return,
                    Some(ParticipantEvent::Denied(reason)) => panic!("probe denied: {reason:?}"),
                    Some(_) => {}
                    None => panic!("probe ended"),
                }
            }
        })
        .await;
        let join = started.elapsed();
        joined.expect("the probe joins");
        task.abort();
        let started = Instant::now();
        let host = Host::generate(HostConfig::default(), Default::default(), os_rng());
        let (mut handle, task) = spawn_host(host, driver(&self.origin));
        let online = timeout(WAIT, async {
            loop {
                match handle.events.recv().await {
                    Some(HostEvent::Online { .. }) => return,
                    Some(HostEvent::Refused(reason)) => panic!("probe host refused: {reason:?}"),
                    Some(_) => {}
                    None => panic!("probe host ended"),
                }
            }
        })
        .await;
        let create = started.elapsed();
        online.expect("the probe host comes online");
        task.abort();
        (join, create)
    }

    /// Probe, and require both to be in time.
    async fn assert_probe(&self, attack: &str) -> Duration {
        let (join, create) = self.probe().await;
        report(format!("{attack}: probe join {join:?}, create {create:?}"));
        assert!(
            join < PROBE_LIMIT,
            "{attack}: the probe joined after {join:?}"
        );
        assert!(
            create < PROBE_LIMIT,
            "{attack}: the probe host came online after {create:?}"
        );
        join.max(create)
    }

    /// Neither the legitimate host nor its viewer lost its connection.
    fn assert_undisturbed(&self, attack: &str) {
        assert_eq!(
            *self.host_online.borrow(),
            1,
            "{attack}: the host reconnected"
        );
        assert_eq!(
            *self.viewer_joined.borrow(),
            1,
            "{attack}: the viewer reconnected"
        );
    }
}

/// Run `attack` while probing from the start; returns the attack's
/// output.
async fn during<T>(legit: &Legit, name: &str, attack: impl Future<Output = T>) -> T {
    let (out, _) = tokio::join!(attack, async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        legit.assert_probe(name).await
    });
    out
}

// ---- the attacks -----------------------------------------------------------

/// A masked binary WebSocket frame header announcing `len` bytes, with a
/// zero mask (so the payload goes as is).
fn frame_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x82];
    if len < 126 {
        h.push(0x80 | len as u8);
    } else if len <= 0xffff {
        h.push(0x80 | 126);
        h.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        h.push(0x80 | 127);
        h.extend_from_slice(&len.to_be_bytes());
    }
    h.extend_from_slice(&[0; 4]);
    h
}

/// `count` WebSockets from attacker sources (250 each, from
/// `first_source` on), each sending
/// the start of a message announcing `announce` bytes, `send` of them,
/// then nothing. The connections, held until dropped, and how many the
/// relay had already closed.
async fn stall_pre_admission(
    relay: &RelayProcess,
    first_source: usize,
    count: usize,
    announce: u64,
    send: usize,
) -> Vec<TcpStream> {
    let addr = relay.addr;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let mut message = frame_header(announce);
    message.extend(std::iter::repeat_n(0u8, send));
    let mut tasks = Vec::new();
    for source in 0..count.div_ceil(250) {
        let (request, message) = (request.clone(), message.clone());
        let n = (count - source * 250).min(250);
        tasks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..n {
                let Ok(mut tcp) = tcp_from(first_source + source, addr, false).await else {
                    continue;
                };
                if tcp.write_all(request.as_bytes()).await.is_err() {
                    continue;
                }
                // The 101's head, then the message.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match tcp.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let _ = tcp.write_all(&message).await;
                held.push(tcp);
            }
            held
        }));
    }
    let mut held = Vec::new();
    for task in tasks {
        held.extend(task.await.unwrap());
    }
    held
}

/// Findings 14.4 and 14.5: 2,000 stalled pre-admission connections took
/// the relay to 2.26 GiB, and rounds of 500 stalled 1 MiB messages grew it
/// to 700 MiB for good. Stalled connections each cost a few KiB; a header
/// announcing a whole message is refused at once; and once the
/// connections are gone the relay is back near its baseline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_pre_admission_connections_cost_little_and_are_given_back() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("stalled", &[]);
    let legit = Legit::start(&relay).await;
    let baseline = relay.settled_rss(Duration::from_secs(2)).await;
    // Messages that fit the pre-admission budget, stalled before their end.
    let count = connection_budget(2_000);
    let mut held = stall_pre_admission(&relay, 0, count / 4, 12_000, 11_000).await;
    let at_quarter = relay.rss_mib();
    held.extend(
        during(
            &legit,
            "2,000 stalled pre-admission connections",
            stall_pre_admission(&relay, 2, count - count / 4, 12_000, 11_000),
        )
        .await,
    );
    let peak = relay.rss_mib();
    legit
        .assert_probe("2,000 stalled pre-admission connections")
        .await;
    report(format!(
        "stalled: {} connections held, RSS {baseline:.1} MiB before, {at_quarter:.1} MiB with {}, {peak:.1} MiB with all",
        held.len(),
        count / 4
    ));
    assert!(
        held.len() * 20 >= count * 19,
        "only {} connections of {count} opened",
        held.len()
    );
    drop(held);
    let (took, after) = relay.back_near(baseline, 16.0).await;
    report(format!(
        "stalled: {after:.1} MiB {took:?} after they closed"
    ));
    // Rounds of 500 messages announcing 1 MiB: refused at their header.
    let mut round_peak: f64 = 0.0;
    for _ in 0..7 {
        let held = stall_pre_admission(&relay, 0, connection_budget(500), 1 << 20, 64 * 1024).await;
        round_peak = round_peak.max(relay.rss_mib());
        drop(held);
    }
    let (took, after_rounds) = relay.back_near(baseline, 16.0).await;
    report(format!(
        "1 MiB rounds: peak {round_peak:.1} MiB, {after_rounds:.1} MiB {took:?} after 7 rounds of 500"
    ));
    legit.assert_probe("after the rounds").await;
    legit.assert_undisturbed("stalled connections");
    assert!(
        at_quarter < 150.0,
        "{at_quarter:.1} MiB with {} stalled",
        count / 4
    );
    assert!(
        peak - baseline < 100.0,
        "2,000 stalled connections cost {:.1} MiB",
        peak - baseline
    );
    assert!(
        after - baseline < 16.0,
        "{after:.1} MiB after, {baseline:.1} before"
    );
    assert!(
        round_peak - baseline < 64.0,
        "1 MiB rounds peaked at {round_peak:.1} MiB"
    );
    assert!(
        after_rounds - baseline < 16.0,
        "{after_rounds:.1} MiB after the rounds"
    );
}

/// Finding 14.6: tiny output frames that followed large discarded
/// messages pinned the messages' buffers in the replay ring (2.3 GiB for
/// 2,500). The ring holds compact copies: the relay's memory grows by
/// about the ring's bound, not by what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_frames_after_large_messages_pin_no_memory() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("pinned", &[]);
    let legit = Legit::start(&relay).await;
    let baseline = relay.settled_rss(Duration::from_secs(2)).await;
    let (mut host, mut ws) = attacker_session(0, &relay).await;
    let (term, _) = host
        .open_terminal(
            taiku_proto::ParticipantId::HOST,
            24,
            80,
            "t",
            Instant::now(),
        )
        .unwrap();
    flush(&mut host, &mut ws).await;
    // A large message the relay refuses and drops: sealed output for a
    // terminal that does not exist.
    let keys = taiku_crypto::KeySchedule::new(
        &taiku_crypto::LinkSecret::from_bytes(Role::Admin, [4; 32]),
        &taiku_proto::SessionId::new("abcdefgh12345678").unwrap(),
    );
    let mut sealer = keys
        .sealer(
            TerminalId(999),
            taiku_proto::Direction::Output,
            taiku_proto::ParticipantId::HOST,
            taiku_proto::Epoch([1; 16]),
        )
        .unwrap();
    let large = Frame::Sealed(sealer.seal(&vec![0; 1_000_000]).unwrap())
        .to_bytes(taiku_proto::limits::DEFAULT_MAX_FRAME_LEN)
        .unwrap();
    let attack = async {
        for i in 0..300u32 {
            let _ = ws.send(Message::Binary(large.clone())).await;
            host.handle_output(term, format!("{i}").as_bytes(), Instant::now())
                .unwrap();
            flush(&mut host, &mut ws).await;
            // Take what the relay sends back (acks), so it never blocks.
            while let Ok(Some(_)) = timeout(Duration::from_millis(1), ws.next()).await {}
        }
    };
    let _ = during(&legit, "pinned ring buffers", attack).await;
    let peak = relay.settled_rss(Duration::from_secs(3)).await;
    report(format!(
        "pinned: RSS {baseline:.1} MiB before, {peak:.1} MiB after 300 tiny frames behind 1 MB messages"
    ));
    legit.assert_undisturbed("pinned ring buffers");
    assert!(peak - baseline < 32.0, "{:.1} MiB held", peak - baseline);
}

/// Finding 14.8: sessions created with self-made keys and left at once
/// held every slot. On a relay of 64 sessions, attackers create 96 and
/// leave; the probe host still creates one at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_sessions_cannot_take_every_slot() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("abandoned", &["--max-sessions", "64"]);
    let legit = Legit::start(&relay).await;
    let rss = RssWatch::start(&relay).await;
    let mut refused = 0;
    for source in 0..3 {
        for _ in 0..32 {
            let mut host = Host::generate(HostConfig::default(), Default::default(), os_rng());
            let mut ws = ws_from(source, relay.addr, false).await;
            Machine::connect(&mut host, Instant::now());
            let mut online = false;
            drive_until(&mut host, &mut ws, |e| {
                online = matches!(e, HostEvent::Online { .. });
                online || matches!(e, HostEvent::Refused(_))
            })
            .await;
            refused += usize::from(!online);
            drop(ws);
        }
    }
    report(format!(
        "abandoned: 96 sessions created and left, {refused} refused"
    ));
    assert_eq!(refused, 0, "abandoned sessions kept newcomers out");
    legit
        .assert_probe("96 abandoned sessions on a relay of 64")
        .await;
    legit.assert_undisturbed("abandoned sessions");
    rss.check("abandoned sessions", 32.0);
}

/// Finding 14.8: 512 slow request heads, re-opened as they closed, kept
/// every newcomer out. Attackers on 20 sources hold 32 slow heads each
/// (640, over the 512 pending places), re-opening every one that closes,
/// while the probe joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_cannot_keep_newcomers_out() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("slow-heads", &[]);
    let legit = Legit::start(&relay).await;
    let rss = RssWatch::start(&relay).await;
    let stop = tokio::sync::watch::channel(false);
    let addr = relay.addr;
    let mut attackers = Vec::new();
    let reopened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for source in 0..20 {
        for _ in 0..32 {
            let mut stop = stop.1.clone();
            let reopened = reopened.clone();
            attackers.push(tokio::spawn(async move {
                while !*stop.borrow() {
                    let Ok(mut tcp) = tcp_from(source, addr, false).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let _ = tcp.write_all(b"GET /s/abcdefgh12345678 HTTP/1.1\r\n").await;
                    let mut buf = [0u8; 64];
                    tokio::select! {
                        _ = tcp.read(&mut buf) => {}
                        _ = stop.changed() => {}
                    }
                    reopened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..3 {
        legit.assert_probe("640 slow request heads").await;
    }
    report(format!(
        "slow heads: the relay holds {} descriptors, {} re-opened so far",
        relay.descriptors(),
        reopened.load(std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = stop.0.send(true);
    for a in attackers {
        let _ = a.await;
    }
    report(format!(
        "slow heads: {} closed and re-opened",
        reopened.load(std::sync::atomic::Ordering::Relaxed)
    ));
    legit.assert_undisturbed("slow heads");
    rss.check("slow heads", 64.0);
}

/// Finding 14.8: 520 downloads of a 4 MiB asset that were never read
/// kept newcomers out for 58.6 s. Attackers on 20 sources start 26 each
/// and never read; the probe joins at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_downloads_cannot_keep_newcomers_out() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("downloads", &[]);
    let legit = Legit::start(&relay).await;
    let baseline = relay.settled_rss(Duration::from_secs(2)).await;
    let addr = relay.addr;
    let request = format!("GET {BIG_ASSET} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let mut held = Vec::new();
    for source in 0..20 {
        for _ in 0..26 {
            if let Ok(mut tcp) = tcp_from(source, addr, true).await {
                let _ = tcp.write_all(request.as_bytes()).await;
                held.push(tcp);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    legit.assert_probe("520 unread downloads").await;
    let peak = relay.rss_mib();
    report(format!(
        "downloads: {} unread, RSS {baseline:.1} MiB before, {peak:.1} MiB with them",
        held.len()
    ));
    assert!(held.len() >= 500);
    drop(held);
    legit.assert_undisturbed("unread downloads");
    assert!(
        peak - baseline < 64.0,
        "{:.1} MiB for unread downloads",
        peak - baseline
    );
}

/// Finding 14.8: one client holding every connection the relay allows
/// locked everyone out. One source holds at most 256; the next is told
/// `503`, and the probe is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_cannot_hold_every_connection() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("one-source", &[]);
    let legit = Legit::start(&relay).await;
    let rss = RssWatch::start(&relay).await;
    let mut held = Vec::new();
    let mut busy = 0;
    for _ in 0..300 {
        let tcp = tcp_from(0, relay.addr, false).await.unwrap();
        let io: Box<dyn taiku_transport::ws::Io> = Box::new(tcp);
        match tokio_tungstenite::client_async(format!("ws://{}/ws", relay.addr), io).await {
            Ok((ws, _)) => held.push(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(answer)) => {
                assert_eq!(answer.status().as_u16(), 503);
                busy += 1;
            }
            Err(e) => panic!("neither a WebSocket nor 503: {e}"),
        }
    }
    report(format!(
        "one source: {} connections held, {busy} told 503",
        held.len()
    ));
    assert_eq!(held.len(), 256);
    assert_eq!(busy, 44);
    legit
        .assert_probe("one source holding 256 connections")
        .await;
    legit.assert_undisturbed("one source");
    rss.check("one source", 64.0);
}

/// Finding 14.7: one slow viewer of 1 MB output frames cost the relay
/// 287 MiB. An attacker's viewer that never reads joins the attacker's
/// session while its host sends 48 MiB of output: the relay's memory
/// grows by about the viewer's queue bounds, and the viewer is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_of_large_frames_costs_its_bounds() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("slow-viewer", &[]);
    let legit = Legit::start(&relay).await;
    let baseline = relay.settled_rss(Duration::from_secs(2)).await;
    let (mut host, mut ws) = attacker_session(0, &relay).await;
    let (term, _) = host
        .open_terminal(
            taiku_proto::ParticipantId::HOST,
            24,
            80,
            "t",
            Instant::now(),
        )
        .unwrap();
    flush(&mut host, &mut ws).await;
    let origin = relay.origin();
    let link = host
        .link(&origin, Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let mut viewer = participant(&link, "slow");
    let mut slow = ws_from(1, relay.addr, true).await;
    Machine::connect(&mut viewer, Instant::now());
    drive_until(&mut viewer, &mut slow, |e| {
        matches!(e, ParticipantEvent::Joined { .. })
    })
    .await;
    let mut peak: f64 = 0.0;
    let attack = async {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..48 {
            let mut sent = 0;
            while sent < chunk.len() {
                let room = host.output_room(term).unwrap_or(0).min(chunk.len() - sent);
                if room > 0 {
                    host.handle_output(term, &chunk[sent..sent + room], Instant::now())
                        .unwrap();
                    sent += room;
                }
                flush(&mut host, &mut ws).await;
                while let Ok(Some(Ok(Message::Binary(b)))) =
                    timeout(Duration::from_millis(1), ws.next()).await
                {
                    if let Ok(frame) = Frame::parse(b, taiku_proto::limits::DEFAULT_MAX_FRAME_LEN) {
                        host.handle_frame(frame, Instant::now());
                    }
                }
                host.handle_timeout(Instant::now());
            }
            peak = peak.max(relay.rss_mib());
        }
    };
    let _ = during(&legit, "one slow viewer of large frames", attack).await;
    report(format!(
        "slow viewer: RSS {baseline:.1} MiB before, peak {peak:.1} MiB over 48 MiB of output"
    ));
    legit.assert_undisturbed("slow viewer");
    drop(slow);
    assert!(
        peak - baseline < 48.0,
        "a slow viewer cost {:.1} MiB",
        peak - baseline
    );
}

/// Finding 14.2: a reader could flood a session with metadata and
/// history requests (8,200 `Focus` evicted a momentarily blocked host).
/// A hostile reader of the legitimate session sends 4,000 of each kind as
/// fast as it can: neither the host nor the other viewer is disturbed, and
/// the probe joins at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_each_kind_disturb_nobody() {
    let _serial = SERIAL.lock().await;
    let relay = RelayProcess::start("floods", &[]);
    let legit = Legit::start(&relay).await;
    let rss = RssWatch::start(&relay).await;
    let mut hostile = participant(&legit.writer_link, "hostile");
    let mut ws = ws_from(0, relay.addr, false).await;
    Machine::connect(&mut hostile, Instant::now());
    drive_until(&mut hostile, &mut ws, |e| {
        matches!(e, ParticipantEvent::Joined { .. })
    })
    .await;
    let kinds: [(&str, Body); 5] = [
        (
            "Presence",
            Body::Presence(m::Presence {
                participant_id: 0,
                profile: Some(m::Profile {
                    name: "x".repeat(64),
                    device_label: "y".repeat(64),
                }),
                role: 0,
                state: m::presence::State::Updated as i32,
            }),
        ),
        (
            "Focus",
            Body::Focus(m::Focus {
                participant_id: 0,
                terminal_id: 1,
            }),
        ),
        (
            "Layout",
            Body::Layout(m::Layout {
                participant_id: 0,
                tiles: vec![
                    m::Tile {
                        terminal_id: 1,
                        x: 0,
                        y: 0,
                        w: 1,
                        h: 1
                    };
                    16
                ],
            }),
        ),
        (
            "HistoryRequest",
            Body::HistoryRequest(m::HistoryRequest { terminal_id: 0 }),
        ),
        (
            "Chat",
            Body::Chat(m::Chat {
                text: "z".repeat(1000),
                ..m::Chat::default()
            }),
        ),
    ];
    for (kind, body) in kinds {
        let frame = Frame::control(body);
        let name = format!("a flood of 4,000 {kind}");
        let attack = async {
            for _ in 0..4_000 {
                if taiku_transport::ws::send(&mut ws, &frame).await.is_err() {
                    break;
                }
            }
            // Take what the relay answers (refusals) as a client would.
            while let Ok(Some(_)) = timeout(Duration::from_millis(50), ws.next()).await {}
        };
        let _ = during(&legit, &name, attack).await;
        legit.assert_undisturbed(&name);
    }
    rss.check("floods", 32.0);
}
