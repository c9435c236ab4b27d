//! Issue 17, item 4: a viewer whose window is not the host terminal's size.
//! `join` in a 100 × 30 window watching the host's 120 × 32 shell draws
//! the part of it that fits, around the cursor, with a line saying what is
//! shown: never the host's lines wrapped into the narrower window.

use std::io::Write;
use std::time::{Duration, Instant};

use taiku_session::screen::{Screen, ScreenModel};

#[path = "support/tools.rs"]
mod tools;
use tools::{start_share_sized, start_tool_sized};

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
