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
use taiku_proto::{ParticipantId, Role};
use taiku_session::SessionOptions;
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

/// A relay, a black-hole proxy in front of it, and a host that reaches
/// the relay through the proxy with short keep-alive and liveness
/// timeouts. Returns the relay, the proxy's cut, the host's handle and
/// its task, and the reader link (which names the relay itself).
async fn through_a_proxy() -> (
    RelayServer,
    Arc<AtomicU64>,
    taiku_transport::drive::ClientHandle<Host<taiku_transport::drive::OsRng>>,
    tokio::task::JoinHandle<()>,
    String,
) {
    let relay = RelayServer::bind("127.0.0.1:0".parse().unwrap(), None, RelayConfig::default())
        .await
        .unwrap();
    let cut = Arc::new(AtomicU64::new(0));
    let via = proxy(relay.local_addr(), cut.clone()).await;
    let options = SessionOptions::default();
    let config = HostConfig::default()
        .with_keepalive(Duration::from_millis(200))
        .with_liveness_timeout(Duration::from_millis(800));
    let host = Host::generate(config, options, os_rng());
    let reader_link = host
        .link(&relay.origin(), Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let (host, task) = spawn_host(
        host,
        DriverConfig::new(Endpoint::from_origin(&format!("http://{via}"), false).unwrap()),
    );
    (relay, cut, host, task, reader_link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_host_connection_is_replaced_and_nothing_is_lost() {
    let (relay, cut, mut host, _task, reader_link) = through_a_proxy().await;
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

/// Finding 13.3: with the shell printing as fast as it can, cutting the
/// host's connection lost output (the host kept 1 MiB while offline and
/// dropped the oldest). Now the host holds what the relay has not
/// acknowledged and stops reading the PTY at its bound, so the shell
/// blocks: every line reaches every viewer exactly once, across a
/// black-holed connection and a clean cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_shell_loses_nothing_when_the_host_connection_is_cut() {
    use taiku_transport::drive::{ShellSpec, Terminals};

    const LINES: u32 = 1_000_000;
    let (relay, cut, mut host, _task, reader_link) = through_a_proxy().await;
    let mut terminals = Terminals::default();
    loop {
        let e = timeout(WAIT, host.events.recv()).await.unwrap().unwrap();
        if matches!(e, HostEvent::Online { .. }) {
            break;
        }
    }
    let mut viewers = Vec::new();
    for _ in 0..2 {
        let link = Link::parse(&reader_link).unwrap();
        let p = Participant::new(ParticipantConfig::default(), &link, os_rng());
        let (mut v, _t) = spawn_participant(
            p,
            DriverConfig::new(Endpoint::from_origin(&relay.origin(), false).unwrap()),
        );
        while !matches!(
            timeout(WAIT, v.events.recv()).await.unwrap().unwrap(),
            ParticipantEvent::Joined { .. }
        ) {}
        viewers.push(v);
    }
    // The shell starts printing only once the viewers are there.
    let spec = ShellSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), format!("sleep 0.2; seq 1 {LINES}; sleep 30")],
        ..ShellSpec::shell(ParticipantId::HOST)
    };
    terminals.open_shell(&host, spec).await.unwrap();
    let commander = host.commander();
    let resumes = Arc::new(AtomicU64::new(0));
    let resumed = resumes.clone();
    let _events = tokio::spawn(async move {
        while let Some(e) = host.events.recv().await {
            terminals.handle_event(&host, &e).await;
            assert!(!matches!(e, HostEvent::OutputGap { .. }), "{e:?}");
            if matches!(e, HostEvent::Online { resumed: true }) {
                resumed.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    // Watch the first viewer; cut twice while the shell prints.
    let mut screens: Vec<Vec<u8>> = vec![Vec::new(); viewers.len()];
    let last = format!("\r\n{LINES}\r\n");
    let started = Instant::now();
    let mut cuts = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while screens
        .iter()
        .any(|s| !String::from_utf8_lossy(s).contains(&last))
    {
        for (v, screen) in viewers.iter_mut().zip(screens.iter_mut()) {
            while let Ok(e) = v.events.try_recv() {
                if let ParticipantEvent::Output { bytes, .. } = e {
                    screen.extend_from_slice(&bytes);
                }
            }
        }
        let shown = screens[0].len();
        if cuts == 0 && shown > 300_000 {
            cut.store(1, Ordering::SeqCst); // black hole
            cuts = 1;
        } else if cuts == 1 && shown > 2_500_000 {
            // Past what the host could hold while black-holed: it resumed.
            commander.drop_connection().await; // a clean cut
            cuts = 2;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewers stalled at {shown} bytes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(cuts, 2, "both cuts happened while the shell printed");
    let expected: Vec<String> = (1..=LINES).map(|i| i.to_string()).collect();
    for (i, screen) in screens.iter().enumerate() {
        let text = String::from_utf8_lossy(screen);
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        let first_wrong = lines.iter().zip(&expected).position(|(a, b)| *a != b);
        assert_eq!(
            first_wrong, None,
            "viewer {i}: line {first_wrong:?} differs"
        );
        assert_eq!(
            lines.len(),
            expected.len(),
            "viewer {i}: lines missing at the end"
        );
    }
    let printed = started.elapsed();
    let resumed_twice = tokio::time::Instant::now() + WAIT;
    while resumes.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < resumed_twice,
            "the host resumed after each cut"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resumes = resumes.load(Ordering::SeqCst);
    eprintln!(
        "{LINES} lines, two cuts ({resumes} resumes), every line once at both viewers in {printed:?}"
    );
}
