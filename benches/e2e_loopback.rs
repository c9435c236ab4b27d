//! Host driver (no PTY) → relay → participant over real loopback
//! WebSockets: throughput of a 64 MiB output burst and keystroke round
//! trips, each next to raw WebSocket traffic over the same path (client →
//! forwarding server → client) in the same run.
//!
//! `cargo bench --bench e2e_loopback`

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use taiku_crypto::Link;
use taiku_proto::{Role, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    ClientHandle, Commander, DriverConfig, OsRng, feed_output, os_rng, spawn_host,
    spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const BURST: usize = 64 << 20;
const CHUNK: usize = 16 * 1024;
const ROUND_TRIPS: usize = 300;

struct Taiku {
    _relay: RelayServer,
    host: Commander<Host<OsRng>>,
    viewer: ClientHandle<Participant<OsRng>>,
    term: TerminalId,
}

async fn taiku_setup() -> Taiku {
    // Room for a whole burst in the viewer's queue, below the point where
    // the relay would skip it forward to a snapshot (SPEC.md 6.7): the
    // bench measures delivery, not resynchronisation, and its host
    // answers no snapshot request.
    let config = RelayConfig::default()
        .with_max_queue_bytes(128 << 20)
        .with_max_queue_frames(16 * 1024)
        .with_resync_queue_bytes(96 << 20)
        .with_ring_bytes(4 << 20);
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, config)
        .await
        .expect("relay");
    let origin = relay.origin();
    let host = Host::generate(HostConfig::default(), SessionOptions::default(), os_rng());
    let link =
        Link::parse(&host.link(&origin, Role::Writer).expect("link").to_url()).expect("link");
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).expect("endpoint"));
    let (mut host, _t) = spawn_host(host, driver.clone());
    while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    let p = Participant::new(ParticipantConfig::default(), &link, os_rng());
    let (mut viewer, _v) = spawn_participant(p, driver);
    while !matches!(
        viewer.events.recv().await,
        Some(ParticipantEvent::Joined { .. })
    ) {}
    // The writer's own terminal, so it may type; the host echoes input.
    viewer
        .run(|p, _| {
            let _ = p.create_terminal(24, 80, "bench");
        })
        .await;
    let requester = loop {
        if let Some(HostEvent::CreateRequested { requester, .. }) = host.events.recv().await {
            break requester;
        }
    };
    let term = host
        .call(move |h, now| {
            h.open_terminal(requester, 24, 80, "bench", now)
                .map(|(t, _)| t)
        })
        .await
        .expect("host")
        .expect("open");
    let commander = host.commander();
    let echo = host.commander();
    tokio::spawn(async move {
        while let Some(e) = host.events.recv().await {
            if let HostEvent::Input { term, bytes, .. } = e {
                feed_output(&echo, term, bytes).await;
            }
        }
    });
    while !matches!(
        viewer.events.recv().await,
        Some(ParticipantEvent::TerminalOpened(_))
    ) {}
    Taiku {
        _relay: relay,
        host: commander,
        viewer,
        term,
    }
}

async fn taiku_burst(t: &mut Taiku) -> Duration {
    let start = Instant::now();
    let term = t.term;
    let host = t.host.clone();
    tokio::spawn(async move {
        let chunk = Bytes::from(vec![b'x'; CHUNK]);
        for _ in 0..BURST / CHUNK {
            feed_output(&host, term, chunk.clone()).await;
        }
    });
    let mut got = 0;
    while got < BURST {
        if let Some(ParticipantEvent::Output { bytes, .. }) = t.viewer.events.recv().await {
            got += bytes.len();
        }
    }
    start.elapsed()
}

async fn taiku_round_trip(t: &mut Taiku, key: u8) -> Duration {
    let term = t.term;
    let start = Instant::now();
    t.viewer
        .run(move |p, _| {
            let _ = p.send_input(term, &[key]);
        })
        .await;
    loop {
        if let Some(ParticipantEvent::Output { bytes, .. }) = t.viewer.events.recv().await
            && bytes.as_ref() == [key]
        {
            return start.elapsed();
        }
    }
}

/// The raw baseline: a server that forwards every binary message from one
/// client to the other.
struct Raw {
    a: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    b_rx: mpsc::Receiver<Bytes>,
    b_tx: mpsc::Sender<Bytes>,
}

async fn raw_setup() -> Raw {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (s1, _) = listener.accept().await.expect("accept");
        let (s2, _) = listener.accept().await.expect("accept");
        s1.set_nodelay(true).expect("nodelay");
        s2.set_nodelay(true).expect("nodelay");
        let ws1 = tokio_tungstenite::accept_async(s1).await.expect("ws");
        let ws2 = tokio_tungstenite::accept_async(s2).await.expect("ws");
        let (mut w1, mut r1) = ws1.split();
        let (mut w2, mut r2) = ws2.split();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = r1.next().await {
                if w2.send(msg).await.is_err() {
                    break;
                }
            }
        });
        while let Some(Ok(msg)) = r2.next().await {
            if w1.send(msg).await.is_err() {
                break;
            }
        }
    });
    let url = format!("ws://{addr}/ws");
    // Both TCP connections first: the server accepts both before either
    // WebSocket handshake.
    let tcp_a = tokio::net::TcpStream::connect(addr).await.expect("tcp a");
    let tcp_b = tokio::net::TcpStream::connect(addr).await.expect("tcp b");
    tcp_a.set_nodelay(true).expect("nodelay");
    tcp_b.set_nodelay(true).expect("nodelay");
    let (a, b) = tokio::join!(
        tokio_tungstenite::client_async(url.as_str(), tcp_a),
        tokio_tungstenite::client_async(url.as_str(), tcp_b)
    );
    let (a, _) = a.expect("a");
    let (b, _) = b.expect("b");
    // B echoes what it receives back if asked, and reports what it got.
    let (b_out_tx, b_rx) = mpsc::channel::<Bytes>(1024);
    let (b_tx, mut b_in_rx) = mpsc::channel::<Bytes>(1024);
    let (mut bw, mut br) = b.split();
    tokio::spawn(async move {
        while let Some(Ok(Message::Binary(m))) = br.next().await {
            if b_out_tx.send(m).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(m) = b_in_rx.recv().await {
            if bw.send(Message::Binary(m)).await.is_err() {
                break;
            }
        }
    });
    Raw { a, b_rx, b_tx }
}

async fn raw_burst(r: &mut Raw) -> Duration {
    let start = Instant::now();
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let send = async {
        for _ in 0..BURST / CHUNK {
            r.a.send(Message::Binary(chunk.clone()))
                .await
                .expect("send");
        }
    };
    let recv = async {
        let mut got = 0;
        while got < BURST {
            got += r.b_rx.recv().await.expect("recv").len();
        }
    };
    tokio::join!(send, recv);
    start.elapsed()
}

async fn raw_round_trip(r: &mut Raw, key: u8) -> Duration {
    let start = Instant::now();
    r.a.send(Message::Binary(Bytes::from(vec![key])))
        .await
        .expect("send");
    let m = r.b_rx.recv().await.expect("b");
    r.b_tx.send(m).await.expect("echo");
    loop {
        if let Some(Ok(Message::Binary(m))) = r.a.next().await
            && m.as_ref() == [key]
        {
            return start.elapsed();
        }
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn e2e(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut taiku = rt.block_on(taiku_setup());
    let mut raw = rt.block_on(raw_setup());
    let mut group = c.benchmark_group("e2e_loopback_64MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(BURST as u64));
    group.bench_function("raw_websocket", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(raw_burst(&mut raw))).sum())
    });
    group.bench_function("taiku", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(taiku_burst(&mut taiku)))
                .sum()
        })
    });
    group.finish();

    let mut raw_rtt: Vec<Duration> = (0..ROUND_TRIPS)
        .map(|i| rt.block_on(raw_round_trip(&mut raw, b'a' + (i % 26) as u8)))
        .collect();
    let mut taiku_rtt: Vec<Duration> = (0..ROUND_TRIPS)
        .map(|i| rt.block_on(taiku_round_trip(&mut taiku, b'a' + (i % 26) as u8)))
        .collect();
    let (r50, r99) = (
        percentile(&mut raw_rtt, 0.5),
        percentile(&mut raw_rtt, 0.99),
    );
    let (t50, t99) = (
        percentile(&mut taiku_rtt, 0.5),
        percentile(&mut taiku_rtt, 0.99),
    );
    println!(
        "keystroke round trip over {ROUND_TRIPS} samples: raw websocket p50 {r50:?} p99 {r99:?}; taiku p50 {t50:?} p99 {t99:?}; p50 ratio {:.2}",
        t50.as_secs_f64() / r50.as_secs_f64()
    );
}

criterion_group!(benches, e2e);
criterion_main!(benches);
