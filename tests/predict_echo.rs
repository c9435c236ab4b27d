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

/// The three rows of `screen` from the last one that ends with `needle`,
/// if there are.
fn rows_after(screen: &Screen, needle: &str) -> Option<Vec<String>> {
    let text = screen.text();
    let at = text.iter().rposition(|row| row.ends_with(needle))?;
    text.get(at..at + 3).map(<[String]>::to_vec)
}

/// The rows of `screen` from the one holding `needle`.
fn rows_from(screen: &Screen, needle: &str) -> Vec<String> {
    rows_after(screen, needle)
        .unwrap_or_else(|| panic!("no rows from {needle:?}: {:?}", screen.text()))
}

/// `screen` fed with all that `tool` printed, and with what it prints
/// next until `done` holds of it (within 20 s).
fn screen_when(tool: &mut Sharing, done: impl Fn(&Screen) -> bool) -> Screen {
    let mut screen = Screen::new(24, 80);
    screen.feed(&tool.raw);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&screen) {
        let chunk = tool
            .output
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the screen never got there: {:?}", screen.text()));
        screen.feed(&chunk);
        tool.seen.push_str(&String::from_utf8_lossy(&chunk));
        tool.raw.extend_from_slice(&chunk);
    }
    screen
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
    joiner.wait_for("terminal 1 opened");
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
    // The host's echo is in once its shell has said the command is not
    // found and shown its prompt again (the row below is no longer empty);
    // join's screen must come to the same rows.
    let line = "eabcdfghijklnopqrstuvwxyz";
    let host = screen_when(&mut sharing, |s| {
        rows_after(s, line).is_some_and(|r| r[1].ends_with("not found") && !r[2].is_empty())
    });
    let rows = rows_from(&host, line);
    let seen = screen_when(&mut joiner, |s| rows_after(s, line).as_ref() == Some(&rows));
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
