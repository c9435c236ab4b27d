//! Agent detection from a terminal's output (SPEC.md 11.4), the fallback
//! for agents started without hooks: Claude Code, Codex and OpenCode.
//!
//! Conservative by design (no status beats a wrong one). Nothing is
//! reported until an agent's own banner or prompt has been seen; then only
//! phrases the agent prints itself move the state: its "esc to interrupt"
//! hint while it works, its permission questions, its exit lines. The
//! phrases come from each agent's documented terminal behaviour (the
//! Codex and OpenCode sources, Claude Code's documentation and issues);
//! they are listed in [`SIGNATURES`].
//!
//! The output is read as text: escape sequences are skipped, cursor moves
//! count as line breaks (a cursor-forward as a space), letters are
//! compared without case. A phrase split across reads is still found.

use std::time::{Duration, Instant};

use super::{AgentDetector, AgentState, AgentStatus};

/// How long an agent that was working (and redrawing its spinner) may
/// print nothing before it is taken to be waiting for the user: its turn
/// is over and its screen is still.
pub const TURN_QUIET: Duration = Duration::from_secs(3);

/// Reads of output while working that show the spinner is animated;
/// fewer (a static hint, animations turned off) and silence proves
/// nothing, so no `waiting` is inferred.
pub const ANIMATED_READS: u32 = 8;

/// Text kept between reads to find phrases split across them, in bytes.
const WINDOW: usize = 512;

/// What one agent prints, lower case.
#[derive(Debug)]
pub struct Signature {
    /// The name reported ("claude", "codex", "opencode").
    pub agent: &'static str,
    /// Printed when it starts (or idles, ready for a prompt): the agent is
    /// here.
    pub banners: &'static [&'static str],
    /// Printed while it works (the interrupt hint next to its spinner).
    pub working: &'static [&'static str],
    /// Printed when it asks the user for a decision.
    pub asking: &'static [&'static str],
    /// Printed when it exits.
    pub exits: &'static [&'static str],
}

/// The agents recognised, with their sources.
pub const SIGNATURES: [Signature; 3] = [
    // Claude Code (closed source): the welcome box of 1.x ("✻ Welcome to
    // Claude Code!") and the header of 2.x ("Claude Code v2.1.78"); the
    // spinner line "(12s · ↓ 3k tokens · esc to interrupt)"; permission
    // prompts "Do you want to proceed?" and "Do you want to make this edit
    // to <file>?"; on exit "Resume this session with: claude --resume".
    // Sources: the Claude Code quickstart and hooks documentation, and
    // screens quoted in anthropics/claude-code issues (#270, #1295,
    // #80242, #84308).
    Signature {
        agent: "claude",
        banners: &["welcome to claude code", "claude code v"],
        working: &["esc to interrupt"],
        asking: &[
            "do you want to proceed?",
            "do you want to make this edit to",
            "do you want to create",
        ],
        exits: &["resume this session with"],
    },
    // Codex (openai/codex, codex-rs/tui): the title ">_ OpenAI Codex (v…)"
    // (history_cell.rs), the status line "• Working (0s • esc to
    // interrupt)" (status_indicator_widget.rs and its snapshots), the
    // approval titles "Would you like to run the following command?" and
    // "Would you like to make the following edits?" (approval_overlay.rs),
    // and after exit "Token usage: total=…" / "To continue this session,
    // run codex resume …" (codex-rs/cli/src/main.rs).
    Signature {
        agent: "codex",
        banners: &[">_ openai codex"],
        working: &["esc to interrupt"],
        asking: &[
            "would you like to run the following command?",
            "would you like to make the following edits?",
        ],
        exits: &["to continue this session, run codex resume"],
    },
    // OpenCode (sst/opencode, packages/opencode/src/cli/cmd/tui): the
    // prompt placeholder `Ask anything... "…"` and the working hint "esc
    // interrupt" / "esc again to interrupt" (component/prompt/index.tsx),
    // the permission box "Permission required" with "Allow once"
    // (routes/session/permission.tsx), and on exit "Continue  opencode -s
    // ses_…" (seen in captures of its exit screen).
    Signature {
        agent: "opencode",
        banners: &["ask anything... \""],
        working: &["esc interrupt", "esc again to interrupt"],
        asking: &["permission required"],
        exits: &["opencode -s ses_"],
    },
];

/// The detector the host installs on every terminal by default: all the
/// [`SIGNATURES`], the last agent whose banner appeared being the one
/// followed.
pub fn default_detector() -> Box<dyn AgentDetector> {
    Box::new(OutputDetector::default())
}

/// Follows the agents of [`SIGNATURES`] in one terminal's output.
#[derive(Debug, Default)]
pub struct OutputDetector {
    text: TextReader,
    window: Vec<u8>,
    agent: Option<&'static Signature>,
    state: Option<AgentState>,
    /// Reads since the agent started working, and the last read.
    working_reads: u32,
    last_output: Option<Instant>,
}

impl OutputDetector {
    fn status(&mut self, state: AgentState) -> Option<AgentStatus> {
        let agent = self.agent?;
        if matches!(state, AgentState::Running | AgentState::Thinking) {
            if !matches!(self.state, Some(AgentState::Running | AgentState::Thinking)) {
                self.working_reads = 0;
            }
        } else {
            self.working_reads = 0;
        }
        if self.state == Some(state) {
            return None;
        }
        self.state = Some(state);
        Some(AgentStatus::new(agent.agent, state, ""))
    }
}

impl AgentDetector for OutputDetector {
    fn feed(&mut self, output: &[u8], now: Instant) -> Option<AgentStatus> {
        let before = self.window.len();
        self.text.read(output, &mut self.window);
        let phrases = phrases();
        let from = before.saturating_sub(phrases.longest.saturating_sub(1));
        let fresh = self.window.get(from..).unwrap_or_default();
        let new_from = before - from;
        self.last_output = Some(now);
        self.working_reads = self.working_reads.saturating_add(1);

        // What the fresh text shows, the latest phrase winning: a banner
        // of any agent, or a phrase of the agent followed. A phrase found
        // in an earlier read (ending before `new_from`) is not news.
        let mut found: Option<(usize, Seen)> = None;
        for (pattern, start, end) in phrases.finder.matches(fresh) {
            if end <= new_from {
                continue;
            }
            for &(sig, kind) in &phrases.owners[pattern] {
                let sig = &SIGNATURES[sig];
                let seen = match kind {
                    Kind::Banner => Seen::Banner(sig),
                    _ if self.agent.is_none_or(|a| a.agent != sig.agent) => continue,
                    Kind::Working => {
                        let line_start = fresh[..start]
                            .iter()
                            .rposition(|&b| b == b'\n')
                            .map_or(0, |i| i + 1);
                        let line = &fresh[line_start..start];
                        Seen::Working {
                            thinking: line.windows(8).any(|w| w == b"thinking"),
                        }
                    }
                    Kind::Asking => Seen::Asking,
                    Kind::Exit => Seen::Exit,
                };
                found = Some((start, seen));
            }
        }
        if self.window.len() > WINDOW {
            let cut = self.window.len() - WINDOW;
            self.window.drain(..cut);
        }
        match found?.1 {
            Seen::Banner(sig) => {
                let changed = self.agent.is_none_or(|a| a.agent != sig.agent);
                self.agent = Some(sig);
                if changed {
                    self.state = None;
                    return self.status(AgentState::Idle);
                }
                None
            }
            Seen::Working { thinking: true } => self.status(AgentState::Thinking),
            Seen::Working { thinking: false } => self.status(AgentState::Running),
            Seen::Asking => self.status(AgentState::WaitingForInput),
            Seen::Exit => {
                let status = self.status(AgentState::Done);
                self.agent = None;
                self.state = None;
                status
            }
        }
    }

    fn current(&self) -> Option<AgentStatus> {
        Some(AgentStatus::new(self.agent?.agent, self.state?, ""))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let working = matches!(self.state, Some(AgentState::Running | AgentState::Thinking));
        if working && self.working_reads >= ANIMATED_READS {
            return self.last_output.map(|t| t + TURN_QUIET);
        }
        None
    }

    fn handle_timeout(&mut self, now: Instant) -> Option<AgentStatus> {
        if self.poll_timeout().is_some_and(|due| due <= now) {
            return self.status(AgentState::WaitingForInput);
        }
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum Seen {
    Banner(&'static Signature),
    Working { thinking: bool },
    Asking,
    Exit,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Banner,
    Working,
    Asking,
    Exit,
}

/// Every phrase of [`SIGNATURES`] in one automaton, so that output is
/// searched once for all of them (at memory speed: this runs on every
/// byte a terminal prints), and which signatures own each.
struct Phrases {
    finder: Finder,
    owners: Vec<Vec<(usize, Kind)>>,
    longest: usize,
}

enum Finder {
    Packed(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

impl Finder {
    /// Every match in `text`, in order, as (pattern, start, end).
    fn matches<'a>(
        &'a self,
        text: &'a [u8],
    ) -> Box<dyn Iterator<Item = (usize, usize, usize)> + 'a> {
        let triple = |m: aho_corasick::Match| (m.pattern().as_usize(), m.start(), m.end());
        match self {
            Finder::Packed(s) => Box::new(s.find_iter(text).map(triple)),
            Finder::Automaton(a) => Box::new(a.find_iter(text).map(triple)),
        }
    }
}

fn phrases() -> &'static Phrases {
    static PHRASES: std::sync::OnceLock<Phrases> = std::sync::OnceLock::new();
    PHRASES.get_or_init(|| {
        let mut texts: Vec<&'static str> = Vec::new();
        let mut owners: Vec<Vec<(usize, Kind)>> = Vec::new();
        for (i, sig) in SIGNATURES.iter().enumerate() {
            for (kind, list) in [
                (Kind::Banner, sig.banners),
                (Kind::Working, sig.working),
                (Kind::Asking, sig.asking),
                (Kind::Exit, sig.exits),
            ] {
                for p in list {
                    match texts.iter().position(|t| t == p) {
                        Some(at) => owners[at].push((i, kind)),
                        None => {
                            texts.push(p);
                            owners.push(vec![(i, kind)]);
                        }
                    }
                }
            }
        }
        let longest = texts.iter().map(|t| t.len()).max().unwrap_or(0);
        // Teddy, the SIMD searcher for a few dozen literals (several GB/s),
        // where the CPU has it; else a full DFA, one table step per byte.
        let finder = match aho_corasick::packed::Searcher::new(texts.iter()) {
            Some(teddy) => Finder::Packed(teddy),
            None => match aho_corasick::AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&texts)
            {
                Ok(dfa) => Finder::Automaton(dfa),
                // A few dozen short literals are far within its limits.
                Err(_) => unreachable!("the signature phrases build an automaton"),
            },
        };
        Phrases {
            finder,
            owners,
            longest,
        }
    })
}

/// Terminal output as text: escape sequences skipped (a cursor move is a
/// line break, a cursor-forward a space), ASCII letters in lower case. Its
/// state carries over between reads.
#[derive(Debug, Default)]
struct TextReader {
    state: Escape,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    Text,
    /// After ESC.
    Esc,
    /// ESC and intermediate bytes: one final byte ends it.
    EscIntermediate,
    /// Inside a CSI, before its final byte.
    Csi,
    /// Inside an OSC, DCS, SOS, PM or APC string.
    String,
    /// ESC inside a string (an ST ends it).
    StringEsc,
}

impl TextReader {
    fn read(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        out.reserve(bytes.len());
        while let Some((&b, rest)) = bytes.split_first() {
            if self.state == Escape::Text && b >= 0x20 {
                // A run of text, copied at once.
                let run = text_run(bytes);
                let start = out.len();
                out.extend_from_slice(&bytes[..run]);
                if let Some(copied) = out.get_mut(start..) {
                    copied.make_ascii_lowercase();
                }
                bytes = &bytes[run..];
                continue;
            }
            bytes = rest;
            self.state = match (self.state, b) {
                (Escape::Text, 0x1b) => Escape::Esc,
                (Escape::Text, b'\r' | b'\n' | 0x0b | 0x0c) => {
                    out.push(b'\n');
                    Escape::Text
                }
                (Escape::Text, b'\t') => {
                    out.push(b' ');
                    Escape::Text
                }
                (Escape::Text, 0x00..=0x1f | 0x7f) => Escape::Text,
                (Escape::Text, _) => {
                    out.push(b.to_ascii_lowercase());
                    Escape::Text
                }
                (Escape::Esc, b'[') => Escape::Csi,
                (Escape::Esc, b']' | b'P' | b'X' | b'^' | b'_') => Escape::String,
                (Escape::Esc | Escape::EscIntermediate, 0x20..=0x2f) => Escape::EscIntermediate,
                (Escape::Esc | Escape::EscIntermediate, 0x1b) => Escape::Esc,
                (Escape::Esc | Escape::EscIntermediate, _) => {
                    out.push(b'\n');
                    Escape::Text
                }
                (Escape::Csi, 0x40..=0x7e) => {
                    match b {
                        b'C' => out.push(b' '),
                        b'm' => {}
                        _ => out.push(b'\n'),
                    }
                    Escape::Text
                }
                (Escape::Csi, 0x1b) => Escape::Esc,
                (Escape::Csi, _) => Escape::Csi,
                (Escape::String, 0x07) => Escape::Text,
                (Escape::String, 0x1b) => Escape::StringEsc,
                (Escape::String, _) => Escape::String,
                (Escape::StringEsc, b'\\') => Escape::Text,
                (Escape::StringEsc, _) => Escape::String,
            };
        }
    }
}

/// The length of the run of text (bytes from 0x20 up: DEL and non-ASCII
/// included, which no phrase contains) at the start of `bytes`, eight
/// bytes at a time: a word holds a byte below 0x20 when
/// `(w - 0x20…) & !w & 0x80…` is not zero (the "has less than" test).
fn text_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = 0;
    for word in bytes.chunks_exact(8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_ne_bytes(w);
        if w.wrapping_sub(ONES * 0x20) & !w & HIGHS != 0 {
            break;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&c| c < 0x20)
        .unwrap_or(bytes.len() - at)
}
