//! The `relay` example as a separate process, its memory as the kernel
//! counts it, and clients on other loopback sources (127.0.0.2 …) that
//! drive the machines over raw WebSockets (included by the test files that
//! need it with `#[path]`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use taiku_crypto::Link;
use taiku_proto::Frame;
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig};
use taiku_transport::drive::{DriverConfig, Machine, OsRng, os_rng};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::ws::WsStream;
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long an event may take when nothing is under attack.
pub const WAIT: Duration = Duration::from_secs(20);

/// How many connections this process may open for one attack: its open
/// file limit (the relay inherits it), less room for everything else.
pub fn connection_budget(wanted: usize) -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1024);
    wanted.min(soft.saturating_sub(128))
}

pub fn report(line: String) {
    if std::env::var_os("ABUSE_REPORT").is_some() {
        eprintln!("abuse: {line}");
    }
}

// ---- the relay process ---------------------------------------------------

pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The name of the large asset the relay serves.
pub const BIG_ASSET: &str = "/assets/big.js";

pub struct RelayProcess {
    pub child: Child,
    pub addr: SocketAddr,
    _web: TempDir,
}

impl RelayProcess {
    /// The `relay` example on 127.0.0.1, with a browser client holding a
    /// 4 MiB asset, and `args`.
    pub fn start(tag: &str, args: &[&str]) -> RelayProcess {
        let dir = std::env::temp_dir().join(format!("taiku-abuse-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        std::fs::write(dir.join("assets/big.js"), vec![b'/'; 4 << 20]).unwrap();
        let web = TempDir(dir);
        let exe = std::env::current_exe().unwrap();
        let relay = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples/relay");
        assert!(relay.exists(), "{} is not built", relay.display());
        let mut child = Command::new(relay)
            .args(["--bind", "127.0.0.1:0", "--web"])
            .arg(&web.0)
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next()
            .expect("the relay says where it listens")
            .unwrap();
        // "taiku relay listening on ws://127.0.0.1:PORT/ws (links: …)"
        let addr = line
            .split("ws://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        std::thread::spawn(move || for _ in lines {});
        RelayProcess {
            child,
            addr,
            _web: web,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The relay's resident memory, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }

    /// The relay's open file descriptors (connections, mostly).
    pub fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// How long the relay's RSS takes to come back within `margin` MiB of
    /// `baseline` (sampled every 100 ms, for at most 10 s), and where it
    /// is then.
    pub async fn back_near(&self, baseline: f64, margin: f64) -> (Duration, f64) {
        let started = Instant::now();
        loop {
            let now = self.rss_mib();
            if now - baseline < margin || started.elapsed() > Duration::from_secs(10) {
                return (started.elapsed(), now);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The relay's RSS once it has settled: sampled until two samples a
    /// quarter second apart agree within 1 MiB, for at most `within`.
    pub async fn settled_rss(&self, within: Duration) -> f64 {
        let deadline = Instant::now() + within;
        let mut last = self.rss_mib();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.rss_mib();
            if (now - last).abs() < 1.0 || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

/// The relay's RSS sampled every 20 ms in the background: its peak.
pub struct RssWatch {
    pub baseline: f64,
    peak_kib: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl RssWatch {
    pub async fn start(relay: &RelayProcess) -> RssWatch {
        let baseline = relay.settled_rss(Duration::from_secs(2)).await;
        let peak_kib = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (pid, peak) = (relay.child.id(), peak_kib.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        RssWatch {
            baseline,
            peak_kib,
            task,
        }
    }

    /// Report the peak, and require it within `limit` MiB of the baseline.
    pub fn check(self, attack: &str, limit: f64) {
        self.task.abort();
        let peak = self.peak_kib.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0;
        report(format!(
            "{attack}: RSS {:.1} MiB before, peak {peak:.1} MiB",
            self.baseline
        ));
        assert!(
            peak - self.baseline < limit,
            "{attack}: the relay grew {:.1} MiB",
            peak - self.baseline
        );
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn driver(origin: &str) -> DriverConfig {
    DriverConfig::new(Endpoint::from_origin(origin, false).unwrap())
}

pub fn participant(link: &str, name: &str) -> Participant<OsRng> {
    Participant::new(
        ParticipantConfig::default().with_name(name),
        &Link::parse(link).unwrap(),
        os_rng(),
    )
}

// ---- attackers -----------------------------------------------------------------

/// The attacker's source number `n`: 127.0.0.(2 + n).
pub fn attacker_ip(n: usize) -> [u8; 4] {
    [127, 0, 0, 2 + u8::try_from(n).unwrap()]
}

/// A TCP connection from attacker source `n`, with a small receive
/// buffer when `small`.
pub async fn tcp_from(n: usize, addr: SocketAddr, small: bool) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind((attacker_ip(n), 0).into())?;
    if small {
        socket.set_recv_buffer_size(4096)?;
    }
    socket.connect(addr).await
}

/// A WebSocket from attacker source `n`.
pub async fn ws_from(n: usize, addr: SocketAddr, small: bool) -> WsStream {
    let tcp = tcp_from(n, addr, small).await.unwrap();
    let io: Box<dyn taiku_transport::ws::Io> = Box::new(tcp);
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), io)
        .await
        .unwrap();
    ws
}

/// Drive `machine` over `ws` until `pred` holds for one of its events.
pub async fn drive_until<M: Machine>(
    machine: &mut M,
    ws: &mut WsStream,
    mut pred: impl FnMut(&M::Event) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        flush(machine, ws).await;
        while let Some(e) = machine.event() {
            if pred(&e) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the attacker was not admitted");
        match timeout(Duration::from_millis(100), taiku_transport::ws::recv(ws)).await {
            Ok(Some(bytes)) => {
                let frame =
                    Frame::parse(bytes, taiku_proto::limits::DEFAULT_MAX_FRAME_LEN).unwrap();
                machine.frame(frame, Instant::now());
            }
            Ok(None) => panic!("the relay closed the attacker"),
            Err(_) => machine.timeout(Instant::now()),
        }
    }
}

pub async fn flush<M: Machine>(machine: &mut M, ws: &mut WsStream) {
    while let Some(frame) = machine.transmit() {
        taiku_transport::ws::send(ws, &frame).await.unwrap();
    }
}

/// An attacker's own session, created from source `n` with self-made
/// keys: the host machine, its WebSocket, and its links.
pub async fn attacker_session(n: usize, relay: &RelayProcess) -> (Host<OsRng>, WsStream) {
    let options = SessionOptions::default();
    let mut host = Host::generate(HostConfig::default(), options, os_rng());
    let mut ws = ws_from(n, relay.addr, false).await;
    Machine::connect(&mut host, Instant::now());
    drive_until(&mut host, &mut ws, |e| {
        matches!(e, HostEvent::Online { .. })
    })
    .await;
    (host, ws)
}
