//! Record a shared terminal as an asciinema v2 file, from a reader link.
//!
//! ```text
//! TAIKU_LINK='https://HOST/s/ID#FRAGMENT' cargo run --release --example record -- --output demo.cast
//! asciinema play demo.cast
//! ```
//!
//! Joins like `join` (the link is read without echo, from `TAIKU_LINK`,
//! or from standard input), takes the first terminal (or `--terminal N`),
//! and writes its output as it comes, with its resizes, until the session
//! ends, the terminal closes or Ctrl-C. What the recorder joins to is
//! first the terminal's history or the host's snapshot of its screen.
//! Each event is flushed as it is written, so the file is playable at any
//! moment. The shortest real embedding of the participant machine: every
//! rule is the machine's, this file only writes what it reports.

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use taiku_crypto::Link;
use taiku_examples::{LinkSource, fail, participant_driver, read_link, user_name};
use taiku_proto::TerminalId;
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_transport::drive::{os_rng, spawn_participant};

/// Record a shared terminal as an asciinema v2 file.
#[derive(clap::Parser)]
#[command(name = "record", version)]
struct Cli {
    /// The link (better: paste it when asked, or set TAIKU_LINK).
    link: Option<String>,
    /// Where the recording goes.
    #[arg(long, short, value_name = "FILE", default_value = "taiku.cast")]
    output: std::path::PathBuf,
    /// The terminal to record (default: the first one announced).
    #[arg(long, value_name = "N")]
    terminal: Option<u32>,
    /// Allow plain ws:// to a relay that is not on this machine.
    #[arg(long)]
    allow_insecure: bool,
    /// Trust this PEM certificate or CA for the relay.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
}

/// Terminal output as text: UTF-8 split across frames is joined, and an
/// invalid sequence becomes U+FFFD (asciinema's events are JSON strings).
#[derive(Default)]
struct Utf8Text {
    tail: Vec<u8>,
}

impl Utf8Text {
    fn push(&mut self, bytes: &[u8]) -> String {
        let mut input = std::mem::take(&mut self.tail);
        input.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest = input.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    return text;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                        // Cut short: the next frame completes it.
                        None => {
                            self.tail = after.to_vec();
                            return text;
                        }
                    }
                }
            }
        }
    }
}

/// The `.cast` file: a header line, then one JSON array per event.
struct Cast {
    file: std::io::BufWriter<std::fs::File>,
    start: Instant,
    text: Utf8Text,
}

impl Cast {
    fn create(path: &std::path::Path, cols: u32, rows: u32, title: &str) -> std::io::Result<Cast> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = serde_json::json!({
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": timestamp,
            "title": title,
            "env": { "TERM": "xterm-256color" },
        });
        writeln!(file, "{header}")?;
        file.flush()?;
        Ok(Cast {
            file,
            start: Instant::now(),
            text: Utf8Text::default(),
        })
    }

    fn event(&mut self, kind: &str, data: &str) -> std::io::Result<()> {
        let at = self.start.elapsed().as_secs_f64();
        let line = serde_json::json!([(at * 1e6).round() / 1e6, kind, data]);
        writeln!(self.file, "{line}")?;
        self.file.flush()
    }

    fn output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let text = self.text.push(bytes);
        if text.is_empty() {
            return Ok(());
        }
        self.event("o", &text)
    }

    fn resize(&mut self, cols: u32, rows: u32) -> std::io::Result<()> {
        self.event("r", &format!("{cols}x{rows}"))
    }
}

#[tokio::main]
async fn main() {
    let args = Cli::parse();
    let (text, source) = read_link(args.link.as_deref());
    if source == LinkSource::Argument {
        eprintln!(
            "warning: a link on the command line is visible to other users of this machine (ps)"
        );
    }
    let link = Link::parse(&text).unwrap_or_else(|e| fail(2, format!("invalid link: {e}")));
    let config = ParticipantConfig::default()
        .with_name(format!("{} (recording)", user_name()))
        .with_device_label("recorder");
    let participant = Participant::new(config, &link, os_rng());
    let driver = participant_driver(&link, args.ca_cert.as_deref(), args.allow_insecure).await;
    let (mut handle, _task) = spawn_participant(participant, driver);

    let mut recorded: Option<(TerminalId, Cast)> = None;
    // Output of the terminal before its size is known (an event order
    // the machine does not promise against), up to a bound.
    const EARLY_MAX: usize = 1 << 20;
    let mut early: Vec<u8> = Vec::new();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let written = |r: std::io::Result<()>| {
        if let Err(e) = r {
            fail(1, format!("cannot write {}: {e}", args.output.display()));
        }
    };
    loop {
        let event = tokio::select! {
            _ = &mut ctrl_c => break,
            event = handle.events.recv() => event,
        };
        let Some(event) = event else { break };
        match event {
            ParticipantEvent::Joined { role, .. } => eprintln!("joined as {role:?}; recording"),
            ParticipantEvent::Denied(_) => fail(1, "the relay refused the link"),
            ParticipantEvent::TerminalOpened(t)
                if recorded.is_none() && args.terminal.is_none_or(|n| n == t.0) =>
            {
                let view = handle
                    .call(move |p, _| {
                        p.view()
                            .terminals
                            .get(&t)
                            .map(|v| (v.cols, v.rows, v.label.clone()))
                    })
                    .await
                    .flatten();
                let (cols, rows, label) = view.unwrap_or((80, 24, String::new()));
                let mut cast = Cast::create(&args.output, cols, rows, &label).unwrap_or_else(|e| {
                    fail(1, format!("cannot create {}: {e}", args.output.display()))
                });
                written(cast.output(&std::mem::take(&mut early)));
                eprintln!("terminal {t} ({cols}×{rows}) → {}", args.output.display());
                recorded = Some((t, cast));
            }
            ParticipantEvent::Output { term, bytes } => match &mut recorded {
                Some((t, cast)) if *t == term => written(cast.output(&bytes)),
                None if args.terminal.is_none_or(|n| n == term.0) => {
                    let room = EARLY_MAX.saturating_sub(early.len());
                    early.extend_from_slice(&bytes[..bytes.len().min(room)])
                }
                _ => {}
            },
            ParticipantEvent::Snapshot {
                term,
                rows,
                cols,
                screen,
            } => {
                if let Some((t, cast)) = &mut recorded
                    && *t == term
                {
                    // A snapshot repaints a terminal in its initial state.
                    written(cast.resize(cols, rows));
                    written(cast.output(b"\x1bc"));
                    written(cast.output(&screen));
                }
            }
            ParticipantEvent::TerminalResized(term) => {
                if let Some((t, cast)) = &mut recorded
                    && *t == term
                {
                    let size = handle
                        .call(move |p, _| p.view().terminals.get(&term).map(|v| (v.cols, v.rows)))
                        .await
                        .flatten();
                    if let Some((cols, rows)) = size {
                        written(cast.resize(cols, rows));
                    }
                }
            }
            ParticipantEvent::TerminalClosed(term)
                if recorded.as_ref().is_some_and(|(t, _)| *t == term) =>
            {
                eprintln!("terminal {term} closed");
                break;
            }
            ParticipantEvent::Ended(reason) => {
                eprintln!("session ended: {}", reason);
                break;
            }
            _ => {}
        }
    }
    eprintln!("recording saved in {}", args.output.display());
}
