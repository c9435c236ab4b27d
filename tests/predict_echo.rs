//! Issue 19, item 4 end to end: `join` behind a loopback proxy that adds
//! 75 ms each way (a 150 ms round trip) types at `share`'s shell prompt.
//! With predictive echo (SPEC.md 11.8) most keys appear within 10 ms,
//! underlined, instead of after the round trip; and once the host's echo
//! is in, join's screen shows the line exactly as the host's does.

use std::io::Write;
use std::time::{Duration, Instant};

use taiku_session::screen::{Screen, ScreenModel};

#[path = "support/tools.rs"]
mod tools;
use tools::{Sharing, free_addr, relay_process, start_share, start_tool};

#[path = "support/delay_proxy.rs"]
mod delay_proxy;

/// Write `key` and wait until join prints it; how long that took.
fn key_shown(joiner: &mut Sharing, key: u8) -> Duration {
    let start = Instant::now();
    let from = joiner.raw.len();
    joiner.writer.write_all(&[key]).unwrap();
    joiner.writer.flush().unwrap();
    loop {
        if joiner.raw[from..].contains(&key) {
            return start.elapsed();
        }
        let chunk = joiner
            .output
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("join never showed {:?}", char::from(key)));
        joiner.seen.push_str(&String::from_utf8_lossy(&chunk));
        joiner.raw.extend_from_slice(&chunk);
    }
}

/// The rows of `screen` from the one holding `needle`.
fn rows_from(screen: &Screen, needle: &str) -> Vec<String> {
    let text = screen.text();
    let at = text
        .iter()
        .rposition(|row| row.ends_with(needle))
        .unwrap_or_else(|| panic!("no row holds {needle:?}: {text:?}"));
    text[at..at + 3].to_vec()
}

#[test]
fn keys_show_at_once_over_a_slow_link_and_end_as_the_host_echoes_them() {
    let addr = free_addr();
    let mut relay = relay_process(&addr, &[]);
    let mut sharing = start_share(&["--relay", &format!("http://{addr}"), "--approve-all"]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = delay_proxy::start(&rt, addr.parse().unwrap(), Duration::from_millis(75));
    let link = sharing.link.replace(&addr, &proxy.to_string());
    let mut joiner = start_tool("join", &["--predict", "auto"], &[("TAIKU_LINK", &link)]);
    joiner.wait_for("Joined as Writer");
    joiner.writer.write_all(&[0x1d, b'a']).unwrap();
    joiner.wait_for("controlled by you");
    std::thread::sleep(Duration::from_millis(500));
    joiner.settle(Duration::from_millis(300));

    // The first key of a line waits for the round trip: nothing is known
    // yet of this line's echo.
    let first = key_shown(&mut joiner, b'e');
    assert!(first >= Duration::from_millis(140), "{first:?}");
    joiner.settle(Duration::from_millis(300));
    let mut times = vec![first];
    // Then each key as it is typed, 60 ms apart. None of them is a letter
    // of an escape sequence join writes (m, C, X, H).
    for &key in b"abcdfghijklnopqrstuvwxyz" {
        times.push(key_shown(&mut joiner, key));
        std::thread::sleep(Duration::from_millis(60));
    }
    let quick = times
        .iter()
        .filter(|t| **t < Duration::from_millis(10))
        .count();
    assert!(
        quick * 100 >= times.len() * 70,
        "{quick} of {} keys shown within 10 ms: {times:?}",
        times.len()
    );
    joiner.writer.write_all(b"\r").unwrap();
    sharing.wait_for("not found");
    sharing.settle(Duration::from_millis(500));
    joiner.settle(Duration::from_millis(1000));

    let mut host = Screen::new(24, 80);
    host.feed(&sharing.raw);
    let mut seen = Screen::new(24, 80);
    seen.feed(&joiner.raw);
    let line = "eabcdfghijklnopqrstuvwxyz";
    let rows = rows_from(&host, line);
    assert_eq!(rows_from(&seen, line), rows);
    // Nothing is left underlined.
    let (_, row, _) = seen.cursor();
    for r in 0..=row {
        let painted = String::from_utf8_lossy(&seen.viewport(r, 0, 1, 80)).into_owned();
        assert!(!painted.contains(";4m"), "row {r}: {painted:?}");
    }
    eprintln!(
        "shown within 10 ms: {quick} of {}; times {times:?}",
        times.len()
    );

    let _ = joiner.writer.write_all(&[0x1d, b'q']);
    let _ = sharing.writer.write_all(&[0x1d, b'q']);
    let _ = joiner.child.wait();
    let _ = sharing.child.wait();
    let _ = relay.kill();
    let _ = relay.wait();
}
