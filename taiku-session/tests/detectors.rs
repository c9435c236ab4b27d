//! The default agent detectors (SPEC.md 11.4) on output written the way
//! each agent draws its screen.
//!
//! The fixtures are not recordings: they are written here from each
//! agent's documented terminal behaviour, with escape sequences of the
//! kind its UI library emits (colours, cursor moves, erased lines), and
//! each says where its strings come from. What they prove is that the
//! detectors find those strings however the output is cut and coloured,
//! and that they stay silent on anything else.

use std::time::{Duration, Instant};

use taiku_session::agent::detect::{ANIMATED_READS, OutputDetector, TURN_QUIET};
use taiku_session::agent::{AgentDetector, AgentState, AgentStatus};

/// Feed `chunks` one read each, a few milliseconds apart; the statuses
/// reported, in order.
fn run(d: &mut OutputDetector, t: &mut Instant, chunks: &[&[u8]]) -> Vec<(String, AgentState)> {
    let mut out = Vec::new();
    for chunk in chunks {
        *t += Duration::from_millis(80);
        if let Some(s) = d.feed(chunk, *t) {
            out.push((s.agent, s.state));
        }
    }
    out
}

fn states(v: &[(String, AgentState)]) -> Vec<AgentState> {
    v.iter().map(|(_, s)| *s).collect()
}

/// Claude Code 2.x. Header "╭─── Claude Code v2.1.78 ───╮" and the
/// spinner line "✻ Combobulating… (12s · ↓ 3k tokens · esc to interrupt)"
/// with the glyphs "· ✢ ✳ ✶ ✻ ✽", as quoted in anthropics/claude-code
/// issues and the Claude Code docs; the Bash permission box "Do you want
/// to proceed?" / "❯ 1. Yes" (issues #270, #1295); on exit "Resume this
/// session with:" / "claude --resume <id>" (issue #84308).
mod claude {
    pub const HEADER: &[u8] = "\x1b[38;5;174m╭─── Claude Code \x1b[2mv2.1.78\x1b[22m ───────╮\x1b[39m\r\n│ \x1b[1mWelcome back!\x1b[22m │\r\n".as_bytes();
    pub const PROMPT: &[u8] =
        "\x1b[2m────────\x1b[22m\r\n❯\u{a0}\x1b[7m \x1b[27m\r\n\x1b[2m  ? for shortcuts\x1b[22m"
            .as_bytes();

    /// One spinner frame, redrawn in place.
    pub fn spinner(glyph: &str, verb: &str, secs: u32) -> Vec<u8> {
        format!(
            "\x1b[3A\x1b[2K\x1b[38;5;174m{glyph}\x1b[39m {verb}… \x1b[2m({secs}s · ↓ 1.2k tokens · \x1b[1mesc\x1b[22m to interrupt)\x1b[22m\x1b[3B\r"
        )
        .into_bytes()
    }

    pub const PERMISSION: &[u8] = "\x1b[2K╭──────────────╮\r\n│ Bash command │\r\n│   cargo test │\r\n│ Do you want to proceed? │\r\n│ \x1b[36m❯ 1. Yes\x1b[39m │\r\n│   2. Yes, and don't ask again │\r\n│   3. No, and tell Claude what to do differently \x1b[2m(esc)\x1b[22m │\r\n".as_bytes();
    pub const EXIT: &[u8] =
        "\x1b[?25h\r\nResume this session with:\r\nclaude --resume 3f1c2a9e-0d7b-4c11-9a57-6f0e2b8d4c10\r\n$ "
            .as_bytes();
}

/// Codex (openai/codex, codex-rs/tui): the title ">_ OpenAI Codex (v…)"
/// (history_cell.rs); "• Working (0s • esc to interrupt)"
/// (status_indicator_widget.rs and its snapshot); the exec approval
/// "Would you like to run the following command?" / "› 1. Yes, proceed
/// (y)" (snapshot approval_modal_exec); after exit "Token usage: total=…"
/// and "To continue this session, run codex resume …" (cli/src/main.rs).
/// Ratatui writes only changed cells, each run placed with a cursor move.
mod codex {
    pub const BANNER: &[u8] = "\x1b[1;1H╭───────────────────────────╮\x1b[2;1H│ \x1b[36m>_\x1b[39m \x1b[1mOpenAI Codex\x1b[22m \x1b[2m(v0.98.0)\x1b[22m │\x1b[3;1H╰───────────────────────────╯\x1b[6;1H› \x1b[2mExplain this codebase\x1b[22m".as_bytes();

    pub fn working(secs: u32) -> Vec<u8> {
        format!("\x1b[5;1H\x1b[1m•\x1b[22m \x1b[1mWorking\x1b[22m\x1b[5;11H({secs}s • \x1b[2mesc\x1b[22m to interrupt)\x1b[K")
            .into_bytes()
    }

    /// The next frame changes only the elapsed seconds and the spinner.
    pub fn tick(glyph: &str, secs: u32) -> Vec<u8> {
        format!("\x1b[5;1H{glyph}\x1b[5;12H{secs}").into_bytes()
    }

    pub const APPROVAL: &[u8] = "\x1b[8;3HWould you like to run the following command?\x1b[10;3H$ cargo build\x1b[12;1H› 1. Yes, proceed (y)\x1b[13;3H2. Yes, and don't ask again for commands that start with `cargo build` (p)\x1b[14;3H3. No, and tell Codex what to do differently (esc)".as_bytes();
    pub const EXIT: &[u8] = "\x1b[?1049l\r\nToken usage: total=1,373 input=1,216 (+ 3,105 cached) output=156\r\nTo continue this session, run \x1b[36mcodex resume 019e977f-390f-7fe1-a2f3-9ae4fc20cfe5\x1b[39m\r\n".as_bytes();
}

/// OpenCode (sst/opencode, packages/opencode/src/cli/cmd/tui): the prompt
/// placeholder `Ask anything... "Fix a TODO in the codebase"` and the hint
/// "esc interrupt" (component/prompt/index.tsx); "△ Permission required"
/// with "Allow once / Allow always / Reject" (routes/session/permission.tsx);
/// the exit lines "Continue  opencode -s ses_…" (from captures of its exit
/// screen).
mod opencode {
    pub const PROMPT: &[u8] = "\x1b[20;3H┃  \x1b[38;2;128;128;128mAsk anything... \"Fix a TODO in the codebase\"\x1b[39m  ┃\x1b[22;3HBuild  claude-sonnet  \x1b[2mtab agents  ctrl+p commands\x1b[22m".as_bytes();

    pub fn working(glyph: &str) -> Vec<u8> {
        format!("\x1b[22;3H{glyph} \x1b[1mesc\x1b[22m \x1b[2minterrupt\x1b[22m").into_bytes()
    }

    pub const PERMISSION: &[u8] = "\x1b[12;3H\x1b[33m△\x1b[39m Permission required\x1b[13;3H# Shell command\x1b[14;3H$ rm -rf target\x1b[16;3H\x1b[7m Allow once \x1b[27m  Allow always   Reject".as_bytes();
    pub const EXIT: &[u8] = "\x1b[?1049l\r\n  \x1b[2mSession\x1b[22m   Fix the failing test\r\n  \x1b[2mContinue\x1b[22m  opencode -s ses_4f2a9c0d1e\r\n".as_bytes();
}

#[test]
fn claude_code_from_start_to_exit() {
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    let seen = run(&mut d, &mut t, &[claude::HEADER, claude::PROMPT]);
    assert_eq!(seen, [("claude".to_owned(), AgentState::Idle)]);
    let frames: Vec<Vec<u8>> = ["·", "✢", "✳", "✶", "✻", "✽", "·", "✢", "✳", "✶"]
        .iter()
        .enumerate()
        .map(|(i, g)| claude::spinner(g, "Combobulating", i as u32 / 4))
        .collect();
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    assert_eq!(states(&run(&mut d, &mut t, &chunks)), [AgentState::Running]);
    assert_eq!(
        states(&run(&mut d, &mut t, &[claude::PERMISSION])),
        [AgentState::WaitingForInput]
    );
    // Answered: it works again, then its turn ends and the screen is still.
    assert_eq!(states(&run(&mut d, &mut t, &chunks)), [AgentState::Running]);
    let due = d
        .poll_timeout()
        .expect("an animated spinner that stops means something");
    assert_eq!(due, t + TURN_QUIET);
    assert_eq!(d.handle_timeout(due - Duration::from_millis(1)), None);
    assert_eq!(
        d.handle_timeout(due),
        Some(AgentStatus::new("claude", AgentState::WaitingForInput, ""))
    );
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(
        states(&run(&mut d, &mut t, &[claude::EXIT])),
        [AgentState::Done]
    );
    // After the exit, the shell's own output means nothing.
    let after = claude::spinner("✻", "Working", 1);
    assert_eq!(run(&mut d, &mut t, &[&after, claude::PERMISSION]), []);
}

#[test]
fn claude_code_thinking() {
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    run(&mut d, &mut t, &[claude::HEADER]);
    let thinking = claude::spinner("✻", "Thinking", 2);
    assert_eq!(
        states(&run(&mut d, &mut t, &[&thinking])),
        [AgentState::Thinking]
    );
    let working = claude::spinner("✶", "Reading SPEC.md", 3);
    assert_eq!(
        states(&run(&mut d, &mut t, &[&working])),
        [AgentState::Running]
    );
}

#[test]
fn codex_from_start_to_exit() {
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    assert_eq!(
        run(&mut d, &mut t, &[codex::BANNER]),
        [("codex".to_owned(), AgentState::Idle)]
    );
    let working = codex::working(0);
    let ticks: Vec<Vec<u8>> = (0..ANIMATED_READS)
        .map(|i| codex::tick(if i % 2 == 0 { "◦" } else { "•" }, i / 3))
        .collect();
    let mut chunks: Vec<&[u8]> = vec![&working];
    chunks.extend(ticks.iter().map(Vec::as_slice));
    assert_eq!(states(&run(&mut d, &mut t, &chunks)), [AgentState::Running]);
    assert_eq!(
        states(&run(&mut d, &mut t, &[codex::APPROVAL])),
        [AgentState::WaitingForInput]
    );
    assert_eq!(states(&run(&mut d, &mut t, &chunks)), [AgentState::Running]);
    assert_eq!(
        states(&run(&mut d, &mut t, &[codex::EXIT])),
        [AgentState::Done]
    );
}

#[test]
fn opencode_from_start_to_exit() {
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    assert_eq!(
        run(&mut d, &mut t, &[opencode::PROMPT]),
        [("opencode".to_owned(), AgentState::Idle)]
    );
    let frames: Vec<Vec<u8>> = ["⠋", "⠙", "⠹"]
        .iter()
        .map(|g| opencode::working(g))
        .collect();
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    assert_eq!(states(&run(&mut d, &mut t, &chunks)), [AgentState::Running]);
    assert_eq!(
        states(&run(&mut d, &mut t, &[opencode::PERMISSION])),
        [AgentState::WaitingForInput]
    );
    assert_eq!(
        states(&run(&mut d, &mut t, &[opencode::EXIT])),
        [AgentState::Done]
    );
}

#[test]
fn phrases_split_anywhere_are_found() {
    let mut stream = Vec::new();
    stream.extend_from_slice(codex::BANNER);
    stream.extend_from_slice(&codex::working(4));
    stream.extend_from_slice(codex::APPROVAL);
    for size in [1, 2, 3, 7, 64] {
        let (mut d, mut t) = (OutputDetector::default(), Instant::now());
        let chunks: Vec<&[u8]> = stream.chunks(size).collect();
        assert_eq!(
            states(&run(&mut d, &mut t, &chunks)),
            [
                AgentState::Idle,
                AgentState::Running,
                AgentState::WaitingForInput
            ],
            "reads of {size} bytes"
        );
    }
}

#[test]
fn no_banner_no_status() {
    // Someone reads about agents: every phrase, but no agent started.
    let text = "Claude shows (esc to interrupt) while it works and asks\r\n\
        Do you want to proceed? before a command; Codex asks Would you like\r\n\
        to run the following command? and OpenCode says Permission required.\r\n\
        To continue this session, run codex resume.\r\n";
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(16).collect();
    assert_eq!(run(&mut d, &mut t, &chunks), []);
    assert_eq!(d.poll_timeout(), None);
}

#[test]
fn a_still_hint_proves_nothing_by_silence() {
    // Animations off: the hint is drawn once and stays; silence then is
    // not the end of a turn.
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    run(&mut d, &mut t, &[opencode::PROMPT]);
    let working = opencode::working("[⋯]");
    assert_eq!(
        states(&run(&mut d, &mut t, &[&working])),
        [AgentState::Running]
    );
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(d.handle_timeout(t + Duration::from_secs(60)), None);
}

#[test]
fn a_phrase_already_seen_is_not_news() {
    // The permission question was answered and work resumed; a read that
    // adds nothing new must not bring the old question back.
    let (mut d, mut t) = (OutputDetector::default(), Instant::now());
    let working = claude::spinner("✻", "Working", 1);
    run(
        &mut d,
        &mut t,
        &[claude::HEADER, claude::PERMISSION, &working],
    );
    assert_eq!(run(&mut d, &mut t, &[b" ", b"\x1b[m"]), []);
}
