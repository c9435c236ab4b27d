//! Issue 18: commands from inside a shared shell, end to end. `share` runs
//! in a pseudo-terminal with real shells; `taiku` is the command it puts on
//! their PATH; a participant decrypts what the command set. The request
//! goes over the real socket and is bound to the token of the shell it
//! came from; agents' hooks (the configurations shipped in docs/agents)
//! are fired by a stand-in agent.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/tools.rs"]
mod tools;
use taiku_crypto::Link;
use taiku_proto::TerminalId;
use taiku_session::agent::{AgentState, AgentStatus};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_transport::drive::{ClientHandle, DriverConfig, OsRng, os_rng, spawn_participant};
use taiku_transport::endpoint::Endpoint;
use tools::{Sharing, start_share, start_tool};

type Viewer = ClientHandle<Participant<OsRng>>;

fn viewer(sharing: &Sharing) -> (Viewer, tokio::task::JoinHandle<()>) {
    let link = Link::parse(&sharing.link).unwrap();
    spawn_participant(
        Participant::new(ParticipantConfig::default(), &link, os_rng()),
        DriverConfig::new(Endpoint::from_origin(link.origin(), false).unwrap()),
    )
}

/// What a viewer saw of agents: status changes and notices per terminal,
/// the terminals it was told of and those whose label changed.
#[derive(Default, Debug)]
struct Seen {
    statuses: BTreeMap<TerminalId, Vec<Option<AgentStatus>>>,
    notices: Vec<(TerminalId, String)>,
    opened: Vec<TerminalId>,
    labeled: Vec<TerminalId>,
}

/// Collect the viewer's events until `done` holds (within 20 s).
async fn watch(viewer: &mut Viewer, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
    let finished = tokio::time::timeout(Duration::from_secs(20), async {
        while !done(seen) {
            match viewer.events.recv().await {
                Some(ParticipantEvent::AgentStatus { term, status }) => {
                    seen.statuses.entry(term).or_default().push(status)
                }
                Some(ParticipantEvent::Notice { term, text }) => seen.notices.push((term, text)),
                Some(ParticipantEvent::TerminalOpened(term)) => seen.opened.push(term),
                Some(ParticipantEvent::TerminalLabeled(term)) => seen.labeled.push(term),
                Some(_) => {}
                None => return false,
            }
        }
        true
    })
    .await;
    assert_eq!(finished, Ok(true), "{seen:?}");
}

/// Wait until the viewer has terminal 1: from then on it sees every
/// status change the terminal's shell makes (a viewer that joins later
/// sees only what comes after).
async fn attached(viewer: &mut Viewer, seen: &mut Seen) {
    watch(viewer, seen, |s| s.opened.contains(&TerminalId(1))).await;
}

fn last(seen: &Seen, t: u32) -> Option<&AgentStatus> {
    seen.statuses.get(&TerminalId(t))?.last()?.as_ref()
}

/// Run `line` in the shell on screen and print `name` with the value of
/// `expr` (by default the exit status) under a marker the typed line does
/// not contain; that value.
fn shell_value(sharing: &mut Sharing, line: &str, name: &str, expr: &str) -> String {
    // Numbered: a repaint of the screen shows earlier answers again.
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    type_line(
        sharing,
        &format!("{line}; echo \"{name}{n}_$((6*7))={expr}\""),
    );
    sharing.wait_for(&format!("{name}{n}_42="));
    let start = sharing.from;
    sharing.wait_for("\n");
    let rest = &sharing.seen[start..sharing.from];
    rest[..rest.find(|c: char| c.is_control()).unwrap_or(rest.len())].to_owned()
}

/// The exit status of `line`.
fn status_of(sharing: &mut Sharing, line: &str) -> String {
    shell_value(sharing, line, "rc", "$?")
}

fn type_line(sharing: &mut Sharing, line: &str) {
    sharing.writer.write_all(line.as_bytes()).unwrap();
    sharing.writer.write_all(b"\r").unwrap();
}

fn temp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("taiku-commands-{}-{name}", std::process::id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_acts_on_its_own_terminal_only() {
    let mut sharing = start_share(&[]);
    let (mut viewer, _task) = viewer(&sharing);
    let mut seen = Seen::default();
    attached(&mut viewer, &mut seen).await;

    // The socket and its directory: only the host's user.
    let socket = PathBuf::from(shell_value(&mut sharing, "true", "sock", "$TAIKU_SOCKET"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);

    // In terminal 1, from any directory.
    let rc = status_of(
        &mut sharing,
        "cd / && taiku status --agent claude waiting needs review",
    );
    assert_eq!(rc, "0");
    watch(&mut viewer, &mut seen, |s| last(s, 1).is_some()).await;
    assert_eq!(
        last(&seen, 1),
        Some(&AgentStatus::new(
            "claude",
            AgentState::WaitingForInput,
            "needs review"
        ))
    );
    type_line(
        &mut sharing,
        "taiku notify build done; taiku label api server; taiku who; echo who-$((1+1))",
    );
    sharing.wait_for("0\tadmin\t");
    sharing.wait_for("who-2");
    // The notice comes before the label (the order the shell ran them):
    // wait for both.
    watch(&mut viewer, &mut seen, |s| {
        !s.notices.is_empty() && s.labeled.contains(&TerminalId(1))
    })
    .await;
    assert_eq!(seen.notices, [(TerminalId(1), "build done".to_owned())]);
    let label = viewer
        .call(|p, _| {
            p.view()
                .terminals
                .get(&TerminalId(1))
                .map(|t| t.label.clone())
        })
        .await
        .flatten();
    assert_eq!(label.as_deref(), Some("api server"));

    // Terminal 1's token exported into terminal 2 acts on terminal 1.
    let token1 = temp_file("token1");
    let token2 = temp_file("token2");
    // Written (the shell has run the line) before terminal 2 reads it.
    let rc = status_of(
        &mut sharing,
        &format!("echo \"$TAIKU_SHELL_TOKEN\" > {}", token1.display()),
    );
    assert_eq!(rc, "0");
    sharing.writer.write_all(&[0x1d, b'n']).unwrap();
    sharing.wait_for("opened terminal 2");
    sharing.writer.write_all(&[0x1d, b't']).unwrap();
    sharing.wait_for("showing terminal 2");
    type_line(
        &mut sharing,
        &format!("echo \"$TAIKU_SHELL_TOKEN\" > {}", token2.display()),
    );
    let line = format!(
        "TAIKU_SHELL_TOKEN=$(cat {}) taiku status --agent codex running",
        token1.display()
    );
    let rc = status_of(&mut sharing, &line);
    assert_eq!(rc, "0", "{}", sharing.seen);
    watch(&mut viewer, &mut seen, |s| {
        last(s, 1).is_some_and(|a| a.state == AgentState::Running)
    })
    .await;
    assert_eq!(
        seen.statuses.get(&TerminalId(2)),
        None,
        "terminal 2 is untouched"
    );
    // Naming terminal 2 with terminal 1's token is refused, typed.
    let refused = |sharing: &mut Sharing, token: &Path, args: &str, reason: &str| {
        let line = format!("TAIKU_SHELL_TOKEN=$(cat {}) taiku {args}", token.display());
        assert_eq!(status_of(sharing, &line), "1");
        assert!(sharing.seen.contains(&format!("taiku: refused: {reason}")));
    };
    refused(
        &mut sharing,
        &token1,
        "--terminal 2 status idle",
        "the command names terminal 2, but it runs in terminal 1",
    );
    // Terminal 2 closes; its token is refused as closed.
    type_line(&mut sharing, "exit");
    sharing.wait_for("terminal 2 closed");
    refused(
        &mut sharing,
        &token2,
        "status idle",
        "the shell token's terminal has closed",
    );

    // A process outside any shared shell: no token, then no socket.
    let taiku = socket.parent().unwrap().join("bin/taiku");
    let outside = Command::new(&taiku)
        .args(["status", "done"])
        .env_clear()
        .env("TAIKU_SOCKET", &socket)
        .output()
        .unwrap();
    assert_eq!(outside.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&outside.stderr),
        "taiku: refused: no shell token: the command did not run inside a shared shell\n"
    );
    let nowhere = Command::new(&taiku)
        .args(["who"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(&nowhere.stderr),
        "taiku: not inside a shared shell (TAIKU_SOCKET is not set)\n"
    );
    // Nothing of that reached terminal 1's status.
    assert_eq!(last(&seen, 1).map(|s| s.state), Some(AgentState::Running));

    // A runaway loop is held to the terminal's rate: a burst of 20, one
    // more each 100 ms (SPEC.md 11.7). Timed from before the line is typed
    // to after its answer, which holds every request of the loop: at most
    // 20 tokens at the start, and at most elapsed / 100 ms + 1 refilled
    // meanwhile (the bucket may have been part-way to its next token);
    // one more spare.
    let started = Instant::now();
    let limited: u32 = shell_value(
        &mut sharing,
        "n=0; for i in $(seq 40); do taiku status running 2>/dev/null || n=$((n+1)); done",
        "limited",
        "$n",
    )
    .parse()
    .unwrap();
    let elapsed = started.elapsed();
    let allowed = 40u32.saturating_sub(limited);
    let refills = u32::try_from(elapsed.as_millis() / 100).unwrap_or(u32::MAX);
    let bound = refills.saturating_add(20 + 1 + 1);
    assert!(
        allowed <= bound,
        "{allowed} of 40 allowed in {elapsed:?} (at most {bound})"
    );
    // Terminal 1 took 5 tokens before (status, notify, label, who,
    // status): the start of the loop gets through.
    assert!(allowed >= 15, "{allowed} of 40 allowed in {elapsed:?}");
    // Some refused: certain when the loop ran faster than the bucket
    // refills (on a machine too slow for that, the bound above is what
    // holds).
    if bound < 40 {
        assert!(
            limited >= 40 - bound,
            "{limited} of 40 refused in {elapsed:?}"
        );
    } else {
        eprintln!("the loop took {elapsed:?}: too slow to run the bucket dry");
    }

    let _ = std::fs::remove_file(token1);
    let _ = std::fs::remove_file(token2);
    sharing.writer.write_all(&[0x1d, b'q']).unwrap();
    assert!(sharing.child.wait().unwrap().success());
    assert!(!socket.exists(), "the socket is removed when sharing stops");
}

/// The hook command configured for `event` in the shipped Claude Code
/// settings.
fn claude_hook(settings: &serde_json::Value, event: &str) -> String {
    settings["hooks"][event][0]["hooks"][0]["command"]
        .as_str()
        .unwrap_or_else(|| panic!("no {event} hook"))
        .to_owned()
}

fn quoted(s: &str) -> String {
    assert!(!s.contains('\''));
    format!("'{s}'")
}

/// A stand-in agent, run inside the shared shell: it fires the hooks the
/// shipped configurations install, with the events each agent documents,
/// in the order a session produces them.
fn standin_script() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let settings: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/agents/claude-settings.json")).unwrap(),
    )
    .unwrap();
    let mut script = String::from("set -e\n");
    // Claude Code: the event JSON on standard input (the hooks reference).
    for (event, json) in [
        (
            "SessionStart",
            r#"{"session_id":"s1","hook_event_name":"SessionStart","source":"startup"}"#,
        ),
        (
            "UserPromptSubmit",
            r#"{"session_id":"s1","hook_event_name":"UserPromptSubmit","prompt":"fix the test"}"#,
        ),
        (
            "PreToolUse",
            r#"{"session_id":"s1","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"cargo test"}}"#,
        ),
        (
            "PostToolUse",
            r#"{"session_id":"s1","hook_event_name":"PostToolUse","tool_name":"Bash"}"#,
        ),
        (
            "Notification",
            r#"{"session_id":"s1","hook_event_name":"Notification","message":"Claude needs your permission to use Bash","notification_type":"permission_prompt"}"#,
        ),
        (
            "Stop",
            r#"{"session_id":"s1","hook_event_name":"Stop","stop_hook_active":false}"#,
        ),
        (
            "SessionEnd",
            r#"{"session_id":"s1","hook_event_name":"SessionEnd","reason":"other"}"#,
        ),
    ] {
        let command = claude_hook(&settings, event);
        script.push_str(&format!(
            "printf '%s' {} | sh -c {}\n",
            quoted(json),
            quoted(&command)
        ));
    }
    // Codex: the notify program with the event as its last argument.
    let codex = std::fs::read_to_string(root.join("docs/agents/codex-config.toml")).unwrap();
    let notify = codex
        .lines()
        .find_map(|l| l.strip_prefix("notify = "))
        .expect("a notify line");
    let argv: Vec<String> = serde_json::from_str(notify).unwrap();
    let turn = r#"{"type":"agent-turn-complete","thread-id":"t1","turn-id":"1","cwd":"/","input-messages":["rename"],"last-assistant-message":"done"}"#;
    let args: Vec<String> = argv.iter().map(|a| quoted(a)).collect();
    script.push_str(&format!("{} {}\n", args.join(" "), quoted(turn)));
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_hooks_drive_the_status_end_to_end() {
    let mut sharing = start_share(&[]);
    let (mut viewer, _task) = viewer(&sharing);
    let mut seen = Seen::default();
    attached(&mut viewer, &mut seen).await;
    let script = temp_file("standin.sh");
    std::fs::write(&script, standin_script()).unwrap();
    let line = format!("sh {}", script.display());
    assert_eq!(status_of(&mut sharing, &line), "0");
    let want = [
        Some(("claude", AgentState::Idle, "")),
        Some(("claude", AgentState::Thinking, "")),
        Some(("claude", AgentState::ToolUse, "Bash")),
        Some(("claude", AgentState::Running, "")),
        Some((
            "claude",
            AgentState::WaitingForInput,
            "Claude needs your permission to use Bash",
        )),
        Some(("claude", AgentState::Done, "")),
        None,
        Some(("codex", AgentState::Done, "")),
    ];
    watch(&mut viewer, &mut seen, |s| {
        s.statuses.get(&TerminalId(1)).map_or(0, Vec::len) >= want.len()
    })
    .await;
    let got: Vec<Option<(String, AgentState, String)>> = seen.statuses[&TerminalId(1)]
        .iter()
        .map(|s| {
            s.as_ref()
                .map(|s| (s.agent.clone(), s.state, s.detail.clone()))
        })
        .collect();
    let want: Vec<Option<(String, AgentState, String)>> = want
        .iter()
        .map(|w| w.map(|(a, s, d)| (a.to_owned(), s, d.to_owned())))
        .collect();
    assert_eq!(got, want);

    // OpenCode's plugin runs in OpenCode's JavaScript runtime; Node stands
    // in for it where it is installed (CI installs it).
    if Command::new("node").arg("--version").output().is_ok() {
        let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/agents/opencode-taiku.js");
        let runner = temp_file("opencode.mjs");
        std::fs::write(
            &runner,
            format!(
                "const {{ Taiku }} = await import({plugin:?});\n\
                 const hooks = await Taiku({{}});\n\
                 await hooks.event({{ event: {{ type: 'session.status', properties: {{ sessionID: 's', status: {{ type: 'busy' }} }} }} }});\n\
                 await hooks['tool.execute.before']({{ tool: 'bash', sessionID: 's', callID: 'c' }}, {{ args: {{}} }});\n\
                 await hooks.event({{ event: {{ type: 'message.part.updated', properties: {{}} }} }});\n\
                 await hooks.event({{ event: {{ type: 'permission.asked', properties: {{ id: 'p' }} }} }});\n\
                 await hooks.event({{ event: {{ type: 'session.idle', properties: {{ sessionID: 's' }} }} }});\n",
                plugin = plugin.display().to_string()
            ),
        )
        .unwrap();
        let line = format!("node {}", runner.display());
        assert_eq!(status_of(&mut sharing, &line), "0");
        let before = seen.statuses[&TerminalId(1)].len();
        watch(&mut viewer, &mut seen, |s| {
            s.statuses[&TerminalId(1)].len() >= before + 4
        })
        .await;
        let states: Vec<(String, AgentState)> = seen.statuses[&TerminalId(1)][before..]
            .iter()
            .flatten()
            .map(|s| (s.agent.clone(), s.state))
            .collect();
        assert_eq!(
            states,
            [
                ("opencode".to_owned(), AgentState::Running),
                ("opencode".to_owned(), AgentState::ToolUse),
                ("opencode".to_owned(), AgentState::WaitingForInput),
                ("opencode".to_owned(), AgentState::Done),
            ]
        );
        let _ = std::fs::remove_file(runner);
    } else {
        eprintln!("node is not installed: the OpenCode plugin is not run");
    }
    let _ = std::fs::remove_file(script);
    sharing.writer.write_all(&[0x1d, b'q']).unwrap();
    assert!(sharing.child.wait().unwrap().success());
}

#[test]
fn join_shows_the_agent_rings_the_bell_and_lists_it() {
    let mut sharing = start_share(&[]);
    let mut joiner = start_tool("join", &[], &[("TAIKU_LINK", &sharing.link)]);
    joiner.wait_for("Joined as Writer");
    joiner.wait_for("terminal 1 opened");
    type_line(
        &mut sharing,
        "taiku status --agent claude waiting needs review",
    );
    joiner.wait_for("\x07");
    joiner.wait_for("[taiku] terminal 1: claude: waiting for input (needs review)");
    // A notice rings too; a label is announced; Ctrl-] l lists the agent.
    type_line(
        &mut sharing,
        "taiku notify tests pass; taiku label api server",
    );
    joiner.wait_for("\x07");
    joiner.wait_for("[taiku] terminal 1 says: tests pass");
    joiner.wait_for("[taiku] terminal 1 is now \"api server\"");
    joiner.writer.write_all(&[0x1d, b'l']).unwrap();
    joiner.wait_for(
        "terminal 1 \"api server\": owner 0, controller 0, claude: waiting for input (needs review)",
    );
    // Text from others never reaches join's terminal as control bytes.
    type_line(
        &mut sharing,
        "taiku label \"$(printf 'x\\033]0;pwned\\007y')\"",
    );
    joiner.wait_for("[taiku] terminal 1 is now \"x?]0;pwned?y\"");
    assert!(!joiner.raw.windows(7).any(|w| w == b"\x1b]0;pwn"));
    // Working again is news without the bell.
    type_line(&mut sharing, "taiku status --agent claude running");
    joiner.wait_for("[taiku] terminal 1: claude: running");
    let tail = &joiner.seen[joiner.seen.rfind("says: tests pass").unwrap()..];
    assert_eq!(tail.matches('\x07').count(), 0, "{tail:?}");
    joiner.writer.write_all(&[0x1d, b'q']).unwrap();
    let _ = joiner.child.wait();
    sharing.writer.write_all(&[0x1d, b'q']).unwrap();
    assert!(sharing.child.wait().unwrap().success());
}
