//! A half-open connection is noticed (SPEC.md 12.2). The host reaches a
//! real relay through a TCP proxy on loopback that, at some point, keeps
//! the host's connection open but swallows every byte both ways, as a dead
//! NAT mapping or a broken middlebox does. The host must notice within its
//! liveness timeout, reconnect (the proxy forwards new connections), resume
//! the session, and a viewer must see every line printed meanwhile, once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taiku_crypto::Link;
use taiku_proto::message as m;
use taiku_proto::{ParticipantId, Role};
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{DriverConfig, os_rng, spawn_host, spawn_participant};
use taiku_transport::endpoint::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

/// A proxy to `target`. Connections accepted before `cut` is raised past
/// their number are black-holed from then on: kept open, bytes dropped.
async fn proxy(target: SocketAddr, cut: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok((client, _)) = listener.accept().await {
            n += 1;
            let (cut, number) = (cut.clone(), n);
            tokio::spawn(async move {
                let Ok(upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = upstream.into_split();
                let a = tokio::spawn(pipe(cr, uw, cut.clone(), number));
                let b = tokio::spawn(pipe(ur, cw, cut, number));
                let _ = tokio::join!(a, b);
            });
        }
    });
    addr
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: Arc<AtomicU64>,
    number: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if number <= cut.load(Ordering::SeqCst) {
            continue; // black-holed: read and drop, never close
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_host_connection_is_replaced_and_nothing_is_lost() {
    let relay = RelayServer::bind("127.0.0.1:0".parse().unwrap(), None, RelayConfig::default())
        .await
        .unwrap();
    let cut = Arc::new(AtomicU64::new(0));
    let via = proxy(relay.local_addr(), cut.clone()).await;

    let options = m::SessionOptions {
        readers_enabled: true,
        viewer_sign_in_required: false,
    };
    let config = HostConfig {
        keepalive: Duration::from_millis(200),
        liveness_timeout: Duration::from_millis(800),
        ..HostConfig::default()
    };
    let host = Host::generate(config, options, os_rng());
    let reader_link = host
        .link(&relay.origin(), Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let via_origin = format!("http://{via}");
    let (mut host, _task) = spawn_host(
        host,
        DriverConfig::new(Endpoint::from_origin(&via_origin, false).unwrap()),
    );
    let online = |e: &HostEvent| matches!(e, HostEvent::Online { .. });
    while !online(&timeout(WAIT, host.events.recv()).await.unwrap().unwrap()) {}
    let term = host
        .call(|h, now| {
            h.open_terminal(ParticipantId::HOST, 24, 80, "t", now)
                .map(|(t, _)| t)
        })
        .await
        .unwrap()
        .unwrap();

    // The viewer talks to the relay directly.
    let link = Link::parse(&reader_link).unwrap();
    let viewer = Participant::new(ParticipantConfig::default(), &link, os_rng());
    let (mut viewer, _vtask) = spawn_participant(
        viewer,
        DriverConfig::new(Endpoint::from_origin(&relay.origin(), false).unwrap()),
    );
    while !matches!(
        timeout(WAIT, viewer.events.recv()).await.unwrap().unwrap(),
        ParticipantEvent::Joined { .. }
    ) {}
    let commander = host.commander();
    let print = |from: u32, to: u32| {
        let host = commander.clone();
        async move {
            for i in from..to {
                let line = format!("line-{i}\r\n");
                host.run(move |h, now| {
                    let _ = h.handle_output(term, line.as_bytes(), now);
                })
                .await;
            }
        }
    };
    print(0, 100).await;

    // Black-hole the host's connection and keep printing.
    cut.store(1, Ordering::SeqCst);
    let cut_at = Instant::now();
    print(100, 300).await;
    let mut resumed = None;
    while resumed.is_none() {
        let e = timeout(WAIT, host.events.recv())
            .await
            .expect("the host reconnects in time")
            .unwrap();
        if matches!(e, HostEvent::Online { resumed: true }) {
            resumed = Some(cut_at.elapsed());
        }
    }
    print(300, 400).await;

    let mut screen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !String::from_utf8_lossy(&screen).contains("line-399\r\n") {
        match tokio::time::timeout_at(deadline, viewer.events.recv()).await {
            Ok(Some(ParticipantEvent::Output { bytes, .. })) => screen.extend_from_slice(&bytes),
            Ok(Some(_)) => {}
            _ => panic!("the viewer saw {:?}", String::from_utf8_lossy(&screen)),
        }
    }
    let text = String::from_utf8_lossy(&screen);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let expected: Vec<String> = (0..400).map(|i| format!("line-{i}")).collect();
    assert_eq!(lines, expected, "every line once, in order");
    let resumed = resumed.unwrap();
    assert!(
        resumed < Duration::from_secs(5),
        "noticed and resumed after {resumed:?}"
    );
    eprintln!("black-holed connection replaced after {resumed:?}");
}
