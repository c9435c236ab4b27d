//! Issue 19, item 3 end to end: `share` on a real PTY, the relay process,
//! and a viewer that reads at 500 kB/s while the shell prints 11 MB. The
//! relay skips the viewer forward instead of closing it (SPEC.md 6.7), and
//! its screen ends identical to the host's.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::TerminalId;
use taiku_session::screen::{Screen, ScreenModel};
use tokio::sync::watch;

#[path = "support/tools.rs"]
mod tools;
use tools::{free_addr, relay_process, start_share};

#[path = "support/slow_viewer.rs"]
mod slow;

#[test]
fn a_slow_viewer_is_skipped_forward_and_ends_on_the_hosts_screen() {
    let addr = free_addr();
    // Skipped forward past 256 KiB queued (2 MiB by default), so that the
    // test is short.
    let mut relay = relay_process(&addr, &["--resync-bytes", "262144"]);
    let mut sharing = start_share(&["--relay", &format!("http://{addr}")]);
    let link = Link::parse(&sharing.link).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let expected: Arc<Mutex<Option<Vec<String>>>> = Arc::default();
    let wanted = expected.clone();
    let (_term, watched) = watch::channel(Some(TerminalId(1)));
    let viewer = rt.spawn(slow::slow_viewer(
        addr.parse().unwrap(),
        link,
        500_000,
        watched,
        move |screen| wanted.lock().unwrap().as_ref() == Some(&screen.text()),
    ));
    sharing.wait_for("joined");
    let start = sharing.raw.len();
    sharing
        .writer
        .write_all(b"seq 1 1500000; echo done-$((2*3))\r")
        .unwrap();
    sharing.wait_for("done-6");
    sharing.settle(Duration::from_millis(1000));
    // Output after the flood: the viewer learns it was skipped forward
    // when output goes on from a snapshot's position.
    sharing.writer.write_all(b"echo after-$((3*3))\r").unwrap();
    sharing.wait_for("after-9");
    sharing.settle(Duration::from_millis(500));
    let mut host = Screen::new(24, 80);
    host.feed(&sharing.raw[start..]);
    let text = host.text();
    assert_eq!(text[19], "1500000", "{text:?}");
    assert_eq!(text[22], "after-9", "{text:?}");
    *expected.lock().unwrap() = Some(text.clone());

    let slow = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(60), viewer).await })
        .expect("the slow viewer's screen became the host's")
        .unwrap();
    assert!(slow.connected, "the slow viewer was closed");
    assert!(
        slow.resyncs >= 1,
        "the slow viewer was never skipped forward"
    );
    assert_eq!(slow.screen.text(), text);
    let _ = sharing.writer.write_all(&[0x1d, b'q']);
    let _ = sharing.child.wait();
    let _ = relay.kill();
    let _ = relay.wait();
}
