//! The drivers over each transport and at their limits: a relay
//! configured for larger frames carries them (WebSocket and byte
//! stream), the byte-stream relay keeps the pre-admission bound, a client
//! loop whose application lags behind on events still runs its commands,
//! and PTY input and reaping never block an async worker thread.

use std::time::Duration;

use bytes::Bytes;
use taiku_crypto::Link;
use taiku_proto::{ParticipantId, Role, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::{RelayServer, ServerOptions};
use taiku_transport::drive::{
    ClientHandle, ClientOptions, DriverConfig, OsRng, ShellSpec, Terminals, feed_output, os_rng,
    spawn_client, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::frames::tcp_connector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);
const BIG_FRAMES: usize = 4 << 20;

fn options() -> SessionOptions {
    SessionOptions::default()
}

fn relay_config(max_frame_len: usize) -> RelayConfig {
    let mut config = RelayConfig::default();
    config.max_frame_len = max_frame_len;
    // Room for such frames in the ring and the queues (SPEC.md 7.2), and
    // a viewer with one of them queued is not yet slow (6.7).
    config.ring_bytes = 2 * max_frame_len;
    config.max_queue_bytes = 5 * max_frame_len;
    config.resync_queue_bytes = 2 * max_frame_len;
    config
}

fn host(max_frame_len: usize) -> Host<OsRng> {
    let mut config = HostConfig::default();
    config.max_frame_len = max_frame_len;
    config.resend_bytes = 8 << 20;
    Host::generate(config, options(), os_rng())
}

fn participant(link: &Link, max_frame_len: usize) -> Participant<OsRng> {
    let mut config = ParticipantConfig::default();
    config.max_frame_len = max_frame_len;
    Participant::new(config, link, os_rng())
}

async fn online(host: &mut ClientHandle<Host<OsRng>>) {
    timeout(WAIT, async {
        while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    })
    .await
    .expect("the host came online");
}

async fn open_terminal(host: &ClientHandle<Host<OsRng>>) -> TerminalId {
    host.call(|h, now| {
        h.open_terminal(ParticipantId::HOST, 24, 80, "sh", now)
            .map(|(t, _)| t)
    })
    .await
    .expect("host loop")
    .expect("terminal")
}

async fn joined(viewer: &mut ClientHandle<Participant<OsRng>>) {
    timeout(WAIT, async {
        while !matches!(
            viewer.events.recv().await,
            Some(ParticipantEvent::Joined { .. })
        ) {}
    })
    .await
    .expect("joined");
}

/// A byte-stream relay on loopback, and its address.
async fn stream_relay(config: RelayConfig) -> (RelayServer, std::net::SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay =
        RelayServer::serve_stream(listener, None, config, ServerOptions::default()).unwrap();
    (relay, addr)
}

/// A relay with default limits on loopback and a host online there.
struct Online {
    _relay: RelayServer,
    driver: DriverConfig,
    /// A reader link of the host's session.
    link: Link,
    host: ClientHandle<Host<OsRng>>,
}

async fn online_host() -> Online {
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default())
        .await
        .unwrap();
    let origin = relay.origin();
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).unwrap());
    let h = Host::generate(HostConfig::default(), options(), os_rng());
    let link = Link::parse(&h.link(&origin, Role::Reader).unwrap().to_url()).unwrap();
    let (mut host, _task) = spawn_host(h, driver.clone());
    online(&mut host).await;
    Online {
        _relay: relay,
        driver,
        link,
        host,
    }
}

/// Output events until `want` bytes arrived; the sizes of the frames
/// they came in.
async fn read_output(viewer: &mut ClientHandle<Participant<OsRng>>, want: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    timeout(WAIT, async {
        while sizes.iter().sum::<usize>() < want {
            match viewer.events.recv().await.expect("viewer loop") {
                ParticipantEvent::Output { bytes, .. } => sizes.push(bytes.len()),
                ParticipantEvent::Ended(reason) => panic!("ended: {reason:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the output arrived");
    sizes
}

fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Issue 20, item 3: the transport used the default frame limit whatever
/// the machines were configured for, so a relay configured for 4 MiB
/// frames refused a 2.5 MiB one. Now the WebSocket limits follow the
/// configuration on both ends.
#[tokio::test]
async fn a_relay_configured_for_4_mib_frames_carries_a_2_5_mib_frame_over_websocket() {
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, relay_config(BIG_FRAMES))
        .await
        .unwrap();
    let origin = relay.origin();
    let endpoint = Endpoint::from_origin(&origin, false).unwrap();
    let driver = DriverConfig::new(endpoint);
    let h = host(BIG_FRAMES);
    let link = Link::parse(&h.link(&origin, Role::Reader).unwrap().to_url()).unwrap();
    let (mut host, _h) = spawn_host(h, driver.clone());
    online(&mut host).await;
    let term = open_terminal(&host).await;
    let (mut viewer, _v) = spawn_participant(participant(&link, BIG_FRAMES), driver);
    let big = 5 << 19; // 2.5 MiB
    assert!(feed_output(&host.commander(), term, pattern(big)).await);
    let sizes = read_output(&mut viewer, big).await;
    assert_eq!(sizes, vec![big], "one frame of 2.5 MiB");
}

/// Issue 20, item 2: the drivers run over a byte stream too. A host and a
/// viewer reach a byte-stream relay over plain TCP with
/// `spawn_client` and `tcp_connector`, and a 2.5 MiB frame passes a relay
/// configured for 4 MiB.
#[tokio::test]
async fn host_and_viewer_share_over_a_byte_stream_relay() {
    let (relay, addr) = stream_relay(relay_config(BIG_FRAMES)).await;
    let client = ClientOptions::default();
    let h = host(BIG_FRAMES);
    let link = Link::parse(
        &h.link("http://relay.invalid", Role::Reader)
            .unwrap()
            .to_url(),
    )
    .unwrap();
    let (mut host, _h) = spawn_client(h, tcp_connector(addr, BIG_FRAMES), client.clone());
    online(&mut host).await;
    let term = open_terminal(&host).await;
    let (mut viewer, _v) = spawn_client(
        participant(&link, BIG_FRAMES),
        tcp_connector(addr, BIG_FRAMES),
        client,
    );
    assert!(feed_output(&host.commander(), term, "hello\r\n".into()).await);
    assert_eq!(read_output(&mut viewer, 7).await, vec![7]);
    let big = 5 << 19;
    assert!(feed_output(&host.commander(), term, pattern(big)).await);
    assert_eq!(read_output(&mut viewer, big).await, vec![big]);
    relay.shutdown().await;
}

/// The byte-stream relay keeps SPEC.md 12.2's pre-admission bound: a
/// connection whose first frame announces more than
/// `MAX_PRE_ADMISSION_BYTES` is closed as soon as its prefix is read,
/// and one that trickles more than that in small frames without being
/// admitted is closed too.
#[tokio::test]
async fn the_byte_stream_relay_bounds_what_comes_before_admission() {
    let (_relay, addr) = stream_relay(RelayConfig::default()).await;
    // A control frame announcing 1 MiB: version, type, length varint.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&[0x01, 0x01, 0x80, 0x80, 0x40])
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");

    // Sealed-looking frames of 1 KiB, never an admission: the relay
    // machine ignores or refuses them, and the transport cuts the
    // connection at 16 KiB.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut frame = vec![0x01, 0x02, 0x80, 0x08]; // 1,024-byte body
    frame.extend(std::iter::repeat_n(0u8, 1024));
    let mut sent = 0usize;
    let closed = timeout(WAIT, async {
        loop {
            if tcp.write_all(&frame).await.is_err() {
                return;
            }
            sent += frame.len();
            if sent > 64 * 1024 {
                // Whatever the relay did, it must have closed by now.
                let mut buf = [0u8; 64];
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was closed");
    assert!(sent <= 64 * 1024 + frame.len(), "sent {sent} bytes");
}

/// Issue 20, item 3: the client's event channel is bounded. A viewer
/// whose application reads no events while 2,000 frames arrive holds at
/// most `event_queue` of them in the channel; its loop still runs
/// commands meanwhile (no deadlock for an application that calls the
/// machine before draining), and once the application reads, every
/// byte arrives, in order.
#[tokio::test]
async fn a_lagging_application_bounds_the_event_queue_and_loses_nothing() {
    let Online {
        _relay,
        driver,
        link,
        host,
    } = online_host().await;
    let term = open_terminal(&host).await;
    let queue = 8;
    let (mut viewer, _v) = spawn_participant(
        participant(&link, taiku_proto::limits::DEFAULT_MAX_FRAME_LEN),
        driver.with_options(ClientOptions::default().with_event_queue(queue)),
    );
    joined(&mut viewer).await;
    let lines = 2000;
    let feeder = {
        let host = host.commander();
        tokio::spawn(async move {
            for i in 0..lines {
                assert!(feed_output(&host, term, format!("line {i:05}\r\n").into()).await);
            }
        })
    };
    // Let output pile up while nothing is read; the loop answers calls.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let answered = timeout(Duration::from_secs(5), viewer.call(|_, _| ())).await;
        assert_eq!(
            answered,
            Ok(Some(())),
            "the loop ran a command while events waited"
        );
        assert!(
            viewer.events.len() <= queue,
            "{} events queued",
            viewer.events.len()
        );
    }
    feeder.await.unwrap();
    let want: Vec<u8> = (0..lines)
        .flat_map(|i| format!("line {i:05}\r\n").into_bytes())
        .collect();
    let mut got = Vec::new();
    timeout(WAIT, async {
        while got.len() < want.len() {
            if let ParticipantEvent::Output { bytes, .. } = viewer.events.recv().await.unwrap() {
                got.extend_from_slice(&bytes);
            }
        }
    })
    .await
    .expect("all output");
    assert_eq!(got, want);
}

/// Issue 20, item 3: a shell that cannot be spawned leaves no terminal
/// behind. The host announced it before spawning; it is closed again and
/// a viewer sees it open and close.
#[tokio::test]
async fn a_shell_that_fails_to_spawn_leaves_no_terminal() {
    let Online {
        _relay,
        driver,
        link,
        host,
    } = online_host().await;
    let (mut viewer, _v) = spawn_participant(
        participant(&link, taiku_proto::limits::DEFAULT_MAX_FRAME_LEN),
        driver,
    );
    joined(&mut viewer).await;
    let mut terminals = Terminals::default();
    let mut spec = ShellSpec::shell(ParticipantId::HOST);
    spec.program = "/nonexistent/taiku-no-such-shell".into();
    let error = terminals.open_shell(&host, spec).await;
    assert!(error.is_err(), "{error:?}");
    let left = host
        .call(|h, _| h.terminal_control(TerminalId(1)).is_some())
        .await
        .unwrap();
    assert!(!left, "the host holds no such terminal");
    timeout(WAIT, async {
        loop {
            if let ParticipantEvent::TerminalClosed(term) = viewer.events.recv().await.unwrap() {
                assert_eq!(term, TerminalId(1));
                return;
            }
        }
    })
    .await
    .expect("the viewer saw it close");
}

/// Issue 20, item 3: PTY input and reaping do not block async worker
/// threads. On a runtime with a single thread, 512 KiB of input to a
/// program that never reads it (far more than a PTY buffers) is queued
/// at once, twice; past `PTY_INPUT_QUEUE_BYTES` unread, more is refused with
/// `WouldBlock` instead of waiting; a timer still fires; and closing the
/// terminal reaps the program on the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn pty_input_and_reaping_leave_the_runtime_running() {
    let Online { _relay, host, .. } = online_host().await;
    let mut terminals = Terminals::default();
    let mut spec = ShellSpec::shell(ParticipantId::HOST);
    // Raw mode: the line discipline takes a few KiB and then no more.
    spec.program = "sh".into();
    spec.args = vec!["-c".into(), "stty raw -echo; echo ready; sleep 60".into()];
    let (ready, mut seen) = tokio::sync::mpsc::unbounded_channel();
    spec.tap = Some(Box::new(move |bytes: &[u8]| {
        let _ = ready.send(bytes.to_vec());
    }));
    let term = terminals.open_shell(&host, spec).await.unwrap();
    let mut out = Vec::new();
    while !String::from_utf8_lossy(&out).contains("ready") {
        out.extend(timeout(WAIT, seen.recv()).await.unwrap().unwrap());
    }
    // The PTY takes about 12 KiB; the queue takes the rest of a MiB.
    let input = vec![b'x'; 512 * 1024];
    terminals.write_local(term, &input).unwrap();
    terminals.write_local(term, &input).unwrap();
    let refused = terminals.write_local(term, b"more").unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock);
    timeout(
        Duration::from_secs(5),
        tokio::time::sleep(Duration::from_millis(10)),
    )
    .await
    .expect("the runtime still runs timers");
    let close = HostEvent::CloseRequested {
        term,
        requester: ParticipantId::HOST,
    };
    let handled = timeout(
        Duration::from_secs(10),
        terminals.handle_event(&host, &close),
    )
    .await;
    assert_eq!(handled, Ok(true));
    let left = host
        .call(move |h, _| h.terminal_control(term).is_some())
        .await
        .unwrap();
    assert!(!left, "the terminal is closed");
}

/// A shell that exits on its own closes its terminal with its exit
/// status, and its PTY is dropped (no zombie, no thread left).
#[tokio::test]
async fn a_shell_that_exits_closes_its_terminal_and_is_reaped() {
    let Online { _relay, host, .. } = online_host().await;
    let mut terminals = Terminals::default();
    let mut spec = ShellSpec::shell(ParticipantId::HOST);
    spec.program = "sh".into();
    spec.args = vec!["-c".into(), "exit 3".into()];
    let term = terminals.open_shell(&host, spec).await.unwrap();
    timeout(WAIT, async {
        while host
            .call(move |h, _| h.terminal_control(term).is_some())
            .await
            .unwrap()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the terminal closed");
    // The next call drops the exited PTY.
    let other = HostEvent::CloseRequested {
        term: TerminalId(99),
        requester: ParticipantId::HOST,
    };
    terminals.handle_event(&host, &other).await;
    assert_eq!(format!("{terminals:?}"), "Terminals { open: 0 }");
}
