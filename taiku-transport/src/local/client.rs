//! The `taiku` command run inside a shared shell (SPEC.md 11.7): parse its
//! arguments, send one request with the shell's token over the socket in
//! `TAIKU_SOCKET`, print the answer. The token travels in the request,
//! never on a command line.
//!
//! Exit codes: 0 done; 1 refused by the host (one line on standard error
//! with the reason); 64 a usage error; 69 not inside a shared shell, or the
//! host does not answer. Never 2: Claude Code takes a hook's exit code 2
//! as "block the agent".

use std::io::{Read, Write};
use std::time::Duration;

use taiku_proto::limits::MAX_SHELL_REPLY_BYTES;
use taiku_proto::message::{self as m, shell_request::Action};
use taiku_proto::{Role, TerminalId, local};
use taiku_session::agent::{AgentState, AgentStatus};
use taiku_session::host::{BindError, SHELL_TOKEN_ENV, ShellError};
use taiku_session::participant::printable;

use super::SOCKET_ENV;
use super::hooks::{Hook, hook_status};

/// The environment variable with the path of the `taiku` command, for
/// hooks that run without the shell's `PATH`.
pub const BIN_ENV: &str = "TAIKU_BIN";

/// The agent name `taiku status` uses without `--agent`, if set.
pub const AGENT_ENV: &str = "TAIKU_AGENT";

const EXIT_REFUSED: i32 = 1;
const EXIT_USAGE: i32 = 64;
const EXIT_UNAVAILABLE: i32 = 69;

/// How long the command waits for the host.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest hook event read from standard input.
const MAX_HOOK_EVENT: u64 = 1 << 20;

const USAGE: &str = "\
usage: taiku status [--agent NAME] STATE [DETAIL...]
       taiku status clear
       taiku notify TEXT...
       taiku label TEXT...
       taiku who
       taiku hook claude|codex|opencode [EVENT-JSON]
STATE: running, thinking, tool, waiting, idle, done, error.
Run inside a shared shell; add --terminal N to check you are in terminal N.";

/// Run the command with `args` (without the program name); the process
/// exit code.
pub fn command_main(args: impl IntoIterator<Item = String>) -> i32 {
    let mut args: Vec<String> = args.into_iter().collect();
    let mut named = None;
    if let Some(i) = args.iter().position(|a| a == "--terminal") {
        match args.get(i + 1).and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n > 0 => named = Some(TerminalId(n)),
            _ => return usage("--terminal needs a terminal number"),
        }
        args.drain(i..i + 2);
    }
    let Some((command, rest)) = args.split_first() else {
        return usage("");
    };
    let action = match command.as_str() {
        "status" => match status_action(rest) {
            Ok(a) => a,
            Err(e) => return usage(&e),
        },
        "notify" if !rest.is_empty() => Action::Notify(rest.join(" ")),
        "label" if !rest.is_empty() => Action::SetLabel(rest.join(" ")),
        "who" if rest.is_empty() => Action::Who(m::Who {}),
        "hook" => return hook(rest, named),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return 0;
        }
        _ => return usage(""),
    };
    let reply = match send(action, named) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("taiku: {e}");
            return EXIT_UNAVAILABLE;
        }
    };
    if let Some(reason) = refusal(&reply) {
        eprintln!("taiku: refused: {reason}");
        return EXIT_REFUSED;
    }
    for p in &reply.people {
        let role = Role::from_proto(p.role).map_or("unknown", role_word);
        println!(
            "{}\t{role}\t{}\t{}",
            p.participant_id,
            printable(&p.name),
            printable(&p.device_label)
        );
    }
    0
}

fn usage(problem: &str) -> i32 {
    if !problem.is_empty() {
        eprintln!("taiku: {problem}");
    }
    eprintln!("{USAGE}");
    EXIT_USAGE
}

fn status_action(rest: &[String]) -> Result<Action, String> {
    let (agent, rest) = match rest {
        [flag, name, rest @ ..] if flag == "--agent" => (name.clone(), rest),
        _ => (
            std::env::var(AGENT_ENV).unwrap_or_else(|_| "agent".into()),
            rest,
        ),
    };
    let Some((word, detail)) = rest.split_first() else {
        return Err("status needs a state".into());
    };
    if word == "clear" {
        return Ok(Action::SetStatus(m::AgentStatus::default()));
    }
    let state = AgentState::from_word(word).ok_or_else(|| format!("unknown state {word:?}"))?;
    Ok(Action::SetStatus(
        AgentStatus::new(agent, state, detail.join(" ")).to_proto(),
    ))
}

/// `taiku hook AGENT [EVENT]`: the event from the argument (Codex appends
/// it) or standard input (Claude Code, the OpenCode plugin). Outside a
/// shared shell it does nothing and succeeds, so that hooks installed for
/// every session cost nothing elsewhere; a status the host refuses for its
/// rate is dropped quietly (the next event brings the state).
fn hook(rest: &[String], named: Option<TerminalId>) -> i32 {
    let Some(agent) = rest.first().and_then(|a| Hook::from_name(a)) else {
        return usage("hook needs claude, codex or opencode");
    };
    if std::env::var_os(SOCKET_ENV).is_none() {
        return 0;
    }
    let event = match rest.get(1) {
        Some(json) => json.clone(),
        None => {
            let mut text = String::new();
            if let Err(e) = std::io::stdin()
                .take(MAX_HOOK_EVENT)
                .read_to_string(&mut text)
            {
                eprintln!("taiku: reading the hook event: {e}");
                return EXIT_REFUSED;
            }
            text
        }
    };
    let status = match hook_status(agent, &event) {
        Ok(Some(status)) => status,
        Ok(None) => return 0,
        Err(e) => {
            eprintln!("taiku: {e}");
            return EXIT_REFUSED;
        }
    };
    let action = Action::SetStatus(
        status
            .as_ref()
            .map(AgentStatus::to_proto)
            .unwrap_or_default(),
    );
    match send(action, named) {
        Ok(reply) => match refusal(&reply) {
            None => 0,
            Some(Refusal::Shell(ShellError::RateLimited(_))) => 0,
            Some(reason) => {
                eprintln!("taiku: refused: {reason}");
                EXIT_REFUSED
            }
        },
        Err(e) => {
            eprintln!("taiku: {e}");
            EXIT_UNAVAILABLE
        }
    }
}

#[derive(Debug)]
enum Refusal {
    Shell(ShellError),
    Malformed,
    Unknown(i32),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Shell(e) => e.fmt(f),
            Refusal::Malformed => f.write_str("the host did not understand the request"),
            Refusal::Unknown(n) => write!(f, "reason {n}"),
        }
    }
}

/// The typed reason of a refused reply.
fn refusal(reply: &m::ShellReply) -> Option<Refusal> {
    let bound = TerminalId(reply.terminal_id);
    let shell = |e: BindError| Some(Refusal::Shell(ShellError::Bind(e)));
    match m::ShellRefusal::try_from(reply.refused) {
        Ok(m::ShellRefusal::Unspecified) => None,
        Ok(m::ShellRefusal::NoToken) => shell(BindError::NoToken),
        Ok(m::ShellRefusal::UnknownToken) => shell(BindError::UnknownToken),
        Ok(m::ShellRefusal::ClosedTerminal) => shell(BindError::ClosedTerminal),
        Ok(m::ShellRefusal::WrongTerminal) => shell(BindError::WrongTerminal {
            bound,
            named: TerminalId(reply.named),
        }),
        Ok(m::ShellRefusal::RateLimited) => Some(Refusal::Shell(ShellError::RateLimited(bound))),
        Ok(m::ShellRefusal::Offline) => Some(Refusal::Shell(ShellError::Offline)),
        Ok(m::ShellRefusal::Malformed) => Some(Refusal::Malformed),
        Ok(_) | Err(_) => Some(Refusal::Unknown(reply.refused)),
    }
}

/// One request to the host of this shell.
fn send(action: Action, named: Option<TerminalId>) -> Result<m::ShellReply, String> {
    let Some(path) = std::env::var_os(SOCKET_ENV) else {
        return Err(format!(
            "not inside a shared shell ({SOCKET_ENV} is not set)"
        ));
    };
    // No token is sent as none: the host refuses it with its reason.
    let token = zeroize::Zeroizing::new(std::env::var(SHELL_TOKEN_ENV).unwrap_or_default());
    let request = m::ShellRequest {
        token: token.as_str().to_owned(),
        terminal_id: named.map_or(0, |t| t.0),
        action: Some(action),
    };
    let bytes = zeroize::Zeroizing::new(local::encode(&request));
    drop(zeroize::Zeroizing::new(request.token));
    drop(token);
    exchange(std::path::Path::new(&path), &bytes)
        .map_err(|e| format!("the host does not answer: {e}"))
}

#[cfg(unix)]
fn exchange(path: &std::path::Path, request: &[u8]) -> std::io::Result<m::ShellReply> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
    stream.write_all(request)?;
    let mut prefix = [0u8; local::LENGTH_LEN];
    stream.read_exact(&mut prefix)?;
    let len = local::body_len(prefix, MAX_SHELL_REPLY_BYTES).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    local::decode(&body).map_err(std::io::Error::other)
}

#[cfg(not(unix))]
fn exchange(_path: &std::path::Path, _request: &[u8]) -> std::io::Result<m::ShellReply> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the local command channel needs Unix domain sockets",
    ))
}

fn role_word(role: Role) -> &'static str {
    match role {
        Role::Reader => "reader",
        Role::Writer => "writer",
        Role::Admin => "admin",
    }
}
