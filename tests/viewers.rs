//! Issue 17 with the terminal tools: `join` joining a busy full-screen
//! session late shows exactly the host's screen; and a viewer whose window
//! is not the host terminal's size (`join` in a 100 × 30 window watching
//! the host's 120 × 32 shell) sees the part of it that fits, around the
//! cursor, with a line saying what is shown: never the host's lines
//! wrapped into the narrower window.

use std::io::Write;
use std::time::{Duration, Instant};

use taiku_session::screen::{Screen, ScreenModel};

#[path = "support/tools.rs"]
mod tools;
use tools::{
    free_addr, relay_process, start_share, start_share_sized, start_tool, start_tool_sized,
};

/// What a 30 × 100 terminal shows after `bytes`.
fn window(bytes: &[u8]) -> Vec<String> {
    let mut screen = Screen::new(30, 100);
    screen.feed(bytes);
    screen.text()
}

#[test]
fn a_smaller_viewer_sees_the_part_that_fits_never_wrapped_lines() {
    let mut sharing = start_share_sized(&["--approve-all"], 32, 120);
    let mut joiner = start_tool_sized("join", &[], &[("TAIKU_LINK", &sharing.link)], 30, 100);
    joiner.wait_for("Joined as Writer");
    joiner.wait_for("terminal 1 opened (120×32)");
    // The host fills its screen with lines wider than the viewer's window.
    sharing
        .writer
        .write_all(b"clear; for r in $(seq 10 40); do printf 'r%d-%0110dEND\\n' $r 0; done\r")
        .unwrap();
    sharing.wait_for("r40-");
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        joiner.settle(Duration::from_millis(500));
        let rows = window(&joiner.raw);
        // The prompt after the last line is on screen.
        if rows.get(28).is_some_and(|r| r.contains(['$', '#'])) || Instant::now() > deadline {
            break rows;
        }
    };
    let shown = format!(
        "{}\n--- last bytes: {:?}",
        rows.join("\n"),
        String::from_utf8_lossy(&joiner.raw[joiner.raw.len().saturating_sub(1500)..])
    );
    // The last line says what part is shown.
    assert!(
        rows[29].starts_with(
            "[taiku] terminal 1 is 120×32, this window 100×30: columns 1–100, rows 4–32"
        ),
        "{shown}"
    );
    // Above it, the host's rows 4 to 31 cut at column 100, then its prompt.
    for (i, row) in rows[..28].iter().enumerate() {
        assert_eq!(
            row,
            &format!("r{}-{}", 13 + i, "0".repeat(96)),
            "row {i}:\n{shown}"
        );
    }
    assert!(rows[28].contains(['$', '#']), "the prompt: {shown}");
    assert!(
        !shown.contains("END"),
        "a line was wrapped into the window:\n{shown}"
    );
    let _ = joiner.writer.write_all(&[0x1d, b'q']);
    let _ = sharing.writer.write_all(&[0x1d, b'q']);
    let _ = joiner.child.wait();
    let _ = sharing.child.wait();
}

/// `join` starts after the relay has evicted megabytes of a full-screen
/// session whose header was drawn long before (above a scroll region the
/// megabytes went through): its window shows what the host's own terminal
/// shows, row for row, header included, which only a snapshot carries.
#[test]
fn join_late_shows_exactly_the_hosts_screen() {
    let addr = free_addr();
    let mut relay = relay_process(&addr, &["--ring-bytes", "2097152"]);
    let mut sharing = start_share(&["--relay", &format!("http://{addr}")]);
    let start = sharing.raw.len();
    sharing
        .writer
        .write_all(b"printf '\\033[?1049h\\033[H\\033[1;31mHEADER-top\\033[0m\\033[3;22r\\033[22;1H'; seq 1 500000; echo done-$((2*3))\r")
        .unwrap();
    sharing.wait_for("done-6");
    sharing.settle(Duration::from_millis(1000));
    let mut host = Screen::new(24, 80);
    host.feed(&sharing.raw[start..]);
    let expected = host.text();
    assert_eq!(expected[0], "HEADER-top", "{expected:?}");

    let mut joiner = start_tool("join", &[], &[("TAIKU_LINK", &sharing.link)]);
    joiner.wait_for("Joined as Writer");
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        joiner.settle(Duration::from_millis(500));
        let mut screen = Screen::new(24, 80);
        screen.feed(&joiner.raw);
        if screen.text() == expected || Instant::now() > deadline {
            break screen.text();
        }
    };
    assert_eq!(got, expected, "join's screen is not the host's");
    let _ = joiner.writer.write_all(&[0x1d, b'q']);
    let _ = sharing.writer.write_all(&[0x1d, b'q']);
    let _ = joiner.child.wait();
    let _ = sharing.child.wait();
    let _ = relay.kill();
    let _ = relay.wait();
}
