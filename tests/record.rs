//! Issue 20, item 7: `record` joins `share` with the reader link and
//! writes an asciinema v2 file of terminal 1: a header with the
//! terminal's size, its output as it came (first the history it joined
//! to), its resizes; played back into a screen model it ends where the
//! host's terminal did.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portable_pty::PtySize;
use taiku_session::screen::{Screen, ScreenModel};

#[path = "support/tools.rs"]
mod tools;
use tools::{example, start_share};

#[test]
fn record_writes_a_playable_asciinema_file_with_output_and_resizes() {
    let mut sharing = start_share(&["--enable-readers"]);
    sharing.wait_for("reader link: ");
    let start = sharing.from;
    sharing.wait_for("\n");
    let reader = sharing.seen[start..sharing.from].trim().to_owned();
    sharing.writer.write_all(b"echo before-$((2*3))\r").unwrap();
    sharing.wait_for("before-6");

    let dir = std::env::temp_dir().join(format!("taiku-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cast = dir.join("demo.cast");
    let mut record = Command::new(example("record"))
        .args(["--output", cast.to_str().unwrap()])
        .env("TAIKU_LINK", &reader)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(record.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("demo.cast") {
        line.clear();
        assert!(said.read_line(&mut line).unwrap() > 0, "record stopped");
    }
    assert!(line.contains("terminal 1 (80×24)"), "{line:?}");

    sharing.writer.write_all(b"echo live-$((6*7))\r").unwrap();
    sharing.wait_for("live-42");
    sharing
        .master
        .resize(PtySize {
            rows: 30,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    // Once the recording has the resize, share has resized its shell's
    // terminal (it does before it tells the relay): `stty size` sees it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&cast)
        .unwrap_or_default()
        .contains(r#","r","100x30"]"#)
    {
        assert!(
            Instant::now() < deadline,
            "the recording never got the resize"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sharing
        .writer
        .write_all(b"stty size; echo done-$((1+2))\r")
        .unwrap();
    sharing.wait_for("done-3");
    // Wait until the recording has it, then stop the recorder (Ctrl-C).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&cast)
        .unwrap_or_default()
        .contains("done-3\\r\\n")
    {
        assert!(Instant::now() < deadline, "the recording never got done-3");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-INT", &record.id().to_string()])
        .status();
    assert!(record.wait().unwrap().success());

    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    let mut screen = Screen::new(24, 80);
    let mut last = 0.0;
    let mut resizes = Vec::new();
    for line in lines {
        let event: (f64, String, String) = serde_json::from_str(line).unwrap();
        assert!(event.0 >= last, "time went back: {line}");
        last = event.0;
        match event.1.as_str() {
            "o" => screen.feed(event.2.as_bytes()),
            "r" => {
                resizes.push(event.2.clone());
                let (cols, rows) = event.2.split_once('x').unwrap();
                screen.resize(rows.parse().unwrap(), cols.parse().unwrap());
            }
            other => panic!("unknown event {other:?}"),
        }
    }
    assert_eq!(resizes, ["100x30"]);
    let shown = screen.text().join("\n");
    // What it joined to (the history), what came live, and the new size.
    for needle in ["before-6", "live-42", "30 100", "done-3"] {
        assert!(
            shown.contains(needle),
            "{needle} not in the recording:\n{shown}"
        );
    }
    let _ = sharing.writer.write_all(&[0x1d, b'q']);
    let _ = sharing.child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
