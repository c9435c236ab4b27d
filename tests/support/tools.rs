//! The example programs run as a newcomer runs them, in pseudo-terminals
//! (included by the test files that need it with `#[path]`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// `share` running in a pseudo-terminal, and the writer link it printed.
pub struct Sharing {
    pub master: Box<dyn portable_pty::MasterPty + Send>,
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    pub writer: Box<dyn Write + Send>,
    pub link: String,
    /// What `share` prints after the link.
    pub output: mpsc::Receiver<Vec<u8>>,
    /// What it printed so far, and where the last wait ended.
    pub seen: String,
    /// The same, byte for byte.
    pub raw: Vec<u8>,
    pub from: usize,
}

impl Sharing {
    /// Wait until `share` prints `needle` (within 20 s), after what the
    /// previous wait found.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        // Where the search starts: what was searched before cannot hold
        // the needle whole (a flood of output is not searched again).
        let mut scan = self.from;
        loop {
            if let Some(at) = self.seen.get(scan..).and_then(|s| s.find(needle)) {
                self.from = scan + at + needle.len();
                return;
            }
            scan = self.seen.len().saturating_sub(needle.len()).max(self.from);
            while !self.seen.is_char_boundary(scan) {
                scan -= 1;
            }
            let chunk = self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!(
                        "share never printed {needle:?}: {:?}",
                        self.seen.get(self.from..).unwrap_or_default()
                    )
                });
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
            self.raw.extend_from_slice(&chunk);
        }
    }

    /// Take what the tool prints until it has been quiet for `quiet`.
    pub fn settle(&mut self, quiet: Duration) {
        while let Ok(chunk) = self.output.recv_timeout(quiet) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
            self.raw.extend_from_slice(&chunk);
        }
    }
}

/// One of the tools running in a 24 × 80 pseudo-terminal, with `env`.
pub fn start_tool(name: &str, args: &[&str], env: &[(&str, &str)]) -> Sharing {
    start_tool_sized(name, args, env, 24, 80)
}

/// One of the tools running in a pseudo-terminal of `rows` × `cols`.
pub fn start_tool_sized(
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
    rows: u16,
    cols: u16,
) -> Sharing {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(example(name));
    cmd.args(args);
    cmd.env("SHELL", "/bin/sh");
    for (key, value) in env {
        cmd.env(key, value);
    }
    let child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let writer = pty.master.take_writer().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    Sharing {
        master: pty.master,
        child,
        writer,
        link: String::new(),
        output: rx,
        seen: String::new(),
        raw: Vec::new(),
        from: 0,
    }
}

/// `share` with `args`, once it has printed its writer link.
pub fn start_share(args: &[&str]) -> Sharing {
    start_share_sized(args, 24, 80)
}

/// `share` with `args` in a terminal of `rows` × `cols`, once it has
/// printed its writer link.
pub fn start_share_sized(args: &[&str], rows: u16, cols: u16) -> Sharing {
    let mut sharing = start_tool_sized("share", args, &[], rows, cols);
    sharing.wait_for("writer link: ");
    let start = sharing.from;
    sharing.wait_for("\n");
    sharing.link = sharing.seen[start..sharing.from].trim().to_owned();
    sharing
}

/// A loopback address with a free port.
pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The `relay` example on `addr` with `args`, until killed.
pub fn relay_process(addr: &str, args: &[&str]) -> std::process::Child {
    let mut child = std::process::Command::new(example("relay"))
        .args(["--bind", addr])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It says where it listens once it does.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("listening"), "{line:?}");
    child
}
