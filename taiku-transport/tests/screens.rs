//! Issue 17 end to end: a host with its screen model (`HostConfig::screens`)
//! runs full-screen programs (vi, less, top) in a real PTY behind a relay whose replay
//! ring is small, so a participant who joins late cannot replay what drew
//! the screen. The host answers the relay's snapshot request from its
//! model; the participant's own model, built from the snapshot and the
//! output after it, must equal the host's, cell for cell (equal snapshots:
//! a snapshot is a function of the whole screen state), and stay equal as
//! the host keeps typing.

use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::{ParticipantId, Role, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_session::screen::{Screen, ScreenModel};
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    ClientHandle, DriverConfig, OsRng, ShellSpec, Terminals, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use tokio::time::{sleep, timeout};

const WAIT: Duration = Duration::from_secs(30);
const ROOM: usize = 1 << 20;
const ROWS: u16 = 24;
const COLS: u16 = 80;

/// A participant's screen: rebuilt at each snapshot, fed the output after.
struct Watcher {
    handle: ClientHandle<Participant<OsRng>>,
    screen: Screen,
    snapshots: usize,
}

impl Watcher {
    fn absorb(&mut self, t: TerminalId, e: ParticipantEvent) {
        match e {
            ParticipantEvent::Snapshot {
                term,
                rows,
                cols,
                screen,
                ..
            } if term == t => {
                let (rows, cols) = (u16::try_from(rows).unwrap(), u16::try_from(cols).unwrap());
                self.screen = Screen::new(rows, cols);
                self.screen.feed(&screen);
                self.snapshots += 1;
            }
            ParticipantEvent::Output { term, bytes } if term == t => self.screen.feed(&bytes),
            _ => {}
        }
    }

    /// Take events until the screen has been quiet for a while.
    async fn settle(&mut self, t: TerminalId) {
        loop {
            match timeout(Duration::from_millis(700), self.handle.events.recv()).await {
                Ok(Some(e)) => self.absorb(t, e),
                Ok(None) => panic!("participant loop ended"),
                Err(_) => return,
            }
        }
    }
}

async fn host_snapshot(host: &ClientHandle<Host<OsRng>>, t: TerminalId) -> String {
    let bytes = host
        .call(move |h, _| h.screen(t).map(|s| s.snapshot(ROOM)))
        .await
        .flatten()
        .expect("the host has a screen model");
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn assert_same_screen(
    host: &ClientHandle<Host<OsRng>>,
    w: &mut Watcher,
    t: TerminalId,
    what: &str,
) {
    // Both sides quiet, then equal.
    sleep(Duration::from_millis(500)).await;
    w.settle(t).await;
    let expected = host_snapshot(host, t).await;
    let got = String::from_utf8_lossy(&w.screen.snapshot(ROOM)).into_owned();
    assert_eq!(
        got, expected,
        "{what}: the participant's screen is not the host's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_sees_exactly_the_hosts_screen_in_vi_less_and_top() {
    let file = std::env::temp_dir().join(format!("taiku-screens-{}.txt", std::process::id()));
    let text: String = (1..=400)
        .map(|i| format!("line {i:03} of the shared file\n"))
        .collect();
    std::fs::write(&file, text).unwrap();
    let relay = RelayServer::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        None,
        RelayConfig::default()
            // The least a relay may keep: one largest frame.
            .with_ring_bytes(2 * taiku_proto::limits::DEFAULT_MAX_FRAME_LEN),
        None,
    )
    .await
    .unwrap();
    let origin = relay.origin();
    let options = SessionOptions::default();
    let config = HostConfig::default().with_screens(true);
    let host = Host::generate(config, options, os_rng());
    let link = host
        .link(&origin, Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let driver = DriverConfig::new(Endpoint::from_origin(&origin, false).unwrap());
    let (mut host, _host_task) = spawn_host(host, driver.clone());
    loop {
        let e = timeout(WAIT, host.events.recv()).await.unwrap().unwrap();
        if matches!(e, HostEvent::Online { .. }) {
            break;
        }
    }
    let mut terminals = Terminals::default();
    let spec = ShellSpec {
        program: "/bin/sh".into(),
        rows: ROWS,
        cols: COLS,
        ..ShellSpec::shell(ParticipantId::HOST)
    };
    let t = terminals.open_shell(&host, spec).await.unwrap();
    // Far more output than the ring keeps, then vi on the file.
    let run = format!(
        "TERM=xterm-256color; export TERM; seq 1 800000; vi -u NONE -i NONE +200 {}\r",
        file.display()
    );
    terminals.write_local(t, run.as_bytes()).unwrap();
    sleep(Duration::from_secs(2)).await;

    let p = Participant::new(
        ParticipantConfig::default(),
        &Link::parse(&link).unwrap(),
        os_rng(),
    );
    let (handle, _task) = spawn_participant(p, driver.clone());
    let mut w = Watcher {
        handle,
        screen: Screen::new(ROWS, COLS),
        snapshots: 0,
    };
    assert_same_screen(&host, &mut w, t, "vi, joined late").await;
    assert_eq!(w.snapshots, 1, "the late joiner got no snapshot");
    assert!(w.screen.alternate(), "vi runs on the alternate screen");
    assert!(
        w.screen.text().iter().any(|l| l.contains("line 200")),
        "{:?}",
        w.screen.text()
    );

    // The host types in vi: both stay equal.
    terminals.write_local(t, b"10jdd").unwrap();
    assert_same_screen(&host, &mut w, t, "vi, after typing").await;
    // Out of vi, into less: the normal screen comes back as it was.
    terminals.write_local(t, b"\x1b:q!\r").unwrap();
    sleep(Duration::from_millis(500)).await;
    let less = format!("less +300 {}\r", file.display());
    terminals.write_local(t, less.as_bytes()).unwrap();
    assert_same_screen(&host, &mut w, t, "less").await;
    assert!(
        w.screen.text().iter().any(|l| l.contains("line 3")),
        "{:?}",
        w.screen.text()
    );
    terminals.write_local(t, b" ").unwrap();
    assert_same_screen(&host, &mut w, t, "less, a page on").await;
    terminals.write_local(t, b"q").unwrap();
    assert_same_screen(&host, &mut w, t, "after less").await;
    assert!(!w.screen.alternate());
    // top, refreshing once a minute: its whole screen, in colour.
    terminals.write_local(t, b"top -d 60\r").unwrap();
    assert_same_screen(&host, &mut w, t, "top").await;
    assert!(
        w.screen.text().iter().any(|l| l.contains("PID")),
        "{:?}",
        w.screen.text()
    );
    terminals.write_local(t, b"q").unwrap();
    assert_same_screen(&host, &mut w, t, "after top").await;
    terminals.shutdown().await;
    let _ = std::fs::remove_file(&file);
    relay.shutdown().await;
}
