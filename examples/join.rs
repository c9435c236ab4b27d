//! Join a shared terminal from a link.
//!
//! ```text
//! cargo run --release --example join [-- --allow-insecure] [--ca-cert FILE]   # asks for the link
//! TAIKU_LINK='https://HOST/s/ID#FRAGMENT' cargo run --release --example join
//! cargo run --release --example join -- 'https://HOST/s/ID#FRAGMENT'   # visible in ps
//! ```
//!
//! Shows the first terminal and forwards your keys when your role and the
//! terminal's ownership allow it. Ctrl-] then: `l` lists terminals (owner,
//! controller, agent status), `n` switches to the next one, `w` shows who
//! is here, `a` asks the owner for control (keys typed meanwhile are sent
//! in full once it is approved, or not at all), `o` opens a terminal of
//! your own, `c` chats, `q` leaves.
//!
//! `--forward 8000:3000` (writers and admins) listens on 127.0.0.1:8000
//! and carries every connection to it, sealed end to end, to port 3000 of
//! the host's machine if the host publishes it; an admin publishes and
//! withdraws ports with `--publish` and `--withdraw`.

use std::time::{Duration, Instant};

use clap::Parser;
use taiku_crypto::Link;
use taiku_examples::{
    ChatKey, ChatLine, ESCAPE, LINK_ENV, LinkSource, RawMode, Screens, fail, init_file_logging,
    notice, out, participant_driver, read_link, stdin_chunks, user_name,
};
use taiku_proto::ParticipantId;
use taiku_session::agent::{AgentStatus, needs_attention};
use taiku_session::forward::{ForwardEnd, ForwardEvent};
use taiku_session::participant::{ActionError, Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::predict::PredictMode;
use taiku_transport::drive::forwards::{Forwards, listen};
use taiku_transport::drive::{os_rng, spawn_participant};

/// A participant's name for notices: "you", "the host", or its display
/// name and id (names are chosen by participants, so two may look alike).
fn peer_name(view: &taiku_session::participant::View, id: ParticipantId) -> String {
    if view.me.is_some_and(|(me, _)| me == id) {
        return "you".to_owned();
    }
    if id == ParticipantId::HOST {
        return "the host".to_owned();
    }
    match view.peers.get(&id) {
        Some(peer) => format!("{} (#{id})", peer.name),
        None => format!("participant #{id}"),
    }
}

/// Join a shared terminal. The link is read without echo, or from
/// TAIKU_LINK, or from standard input; as an argument it is visible to
/// others in the process list.
#[derive(clap::Parser)]
#[command(name = "join", version)]
struct Cli {
    /// The link (better: paste it when asked, or set TAIKU_LINK).
    link: Option<String>,
    /// Allow plain ws:// to a relay that is not on this machine.
    #[arg(long)]
    allow_insecure: bool,
    /// Trust this PEM certificate or CA for the relay (a link that pins
    /// the relay's certificate needs none).
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// Show keys typed at a prompt before the host echoes them (underlined
    /// until it does): auto does so when the round trip is 30 ms or more.
    #[arg(long, value_enum, default_value_t = Predict::Auto)]
    predict: Predict,
    /// LOCAL:PORT: listen on 127.0.0.1:LOCAL and forward each connection,
    /// sealed end to end, to the host's published PORT (repeatable).
    #[arg(long, value_name = "LOCAL:PORT")]
    forward: Vec<String>,
    /// As an admin, publish this port of the host's machine (repeatable).
    #[arg(long, value_name = "PORT")]
    publish: Vec<u16>,
    /// As an admin, withdraw this published port (repeatable).
    #[arg(long, value_name = "PORT")]
    withdraw: Vec<u16>,
}

/// `LOCAL:PORT` of `--forward`.
fn forward_spec(text: &str) -> Option<(u16, u16)> {
    let (local, port) = text.split_once(':')?;
    Some((local.parse().ok()?, port.parse().ok().filter(|p| *p > 0)?))
}

/// `--predict`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Predict {
    Auto,
    Always,
    Never,
}

#[tokio::main]
async fn main() {
    let log = init_file_logging("join");
    let args = Cli::parse();
    let (text, source) = read_link(args.link.as_deref());
    if source == LinkSource::Argument {
        eprintln!(
            "warning: a link on the command line is visible to other users of this machine (ps); \
             pass it on standard input or in {LINK_ENV} instead"
        );
    }
    if let Some(path) = log {
        eprintln!("logging to {}", path.display());
    }
    let link = Link::parse(&text).unwrap_or_else(|e| fail(2, format!("invalid link: {e}")));
    let config = ParticipantConfig::default()
        .with_name(user_name())
        .with_device_label("terminal");
    let participant = Participant::new(config, &link, os_rng());
    let driver = participant_driver(&link, args.ca_cert.as_deref(), args.allow_insecure).await;
    // Once joined, a lost connection is retried with backoff and the
    // session rejoined.
    let (mut handle, _task) = spawn_participant(participant, driver);

    // Admission. A first attempt that fails is reported at once.
    let joined = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(event) = handle.events.recv().await {
            match event {
                ParticipantEvent::Joined { role, .. } => return Ok(role),
                ParticipantEvent::Denied(_) => {
                    return Err("the relay refused the link: wrong secret, or the session is gone");
                }
                ParticipantEvent::Reconnecting { .. } => break,
                _ => {}
            }
        }
        Err("cannot reach the relay")
    })
    .await;
    let role = match joined {
        Ok(Ok(role)) => role,
        Ok(Err(e)) => fail(1, format!("{e} ({})", link.relay_url())),
        Err(_) => fail(
            1,
            format!("no answer from the relay ({})", link.relay_url()),
        ),
    };
    println!(
        "Joined as {role:?}. Ctrl-] then l/n/o/w/a/c/q: terminals, next, open one, who, ask for control, chat, quit."
    );

    let forwards = Forwards::new(&handle);
    for spec in &args.forward {
        let (local, port) = forward_spec(spec)
            .unwrap_or_else(|| fail(2, format!("--forward {spec}: expected LOCAL:PORT")));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", local))
            .await
            .unwrap_or_else(|e| fail(1, format!("cannot listen on 127.0.0.1:{local}: {e}")));
        let bound = listener.local_addr().map_or(local, |a| a.port());
        println!("Forwarding 127.0.0.1:{bound} to the host's port {port}, sealed end to end.");
        tokio::spawn(listen(listener, u32::from(port), forwards.clone()));
    }
    for (port, enable) in args
        .publish
        .iter()
        .map(|p| (*p, true))
        .chain(args.withdraw.iter().map(|p| (*p, false)))
    {
        let commander = handle.commander();
        tokio::spawn(async move {
            // A signed action names the host's ticket, which follows the
            // admission by a moment.
            for _ in 0..50 {
                match commander
                    .call(move |p, _| p.administer_tunnel(u32::from(port), enable))
                    .await
                {
                    Some(Err(ActionError::NotReady)) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Some(Err(e)) => return notice(&format!("cannot change port {port}: {e}")),
                    _ => return,
                }
            }
        });
    }

    let raw = RawMode::enter();
    let mut keys = stdin_chunks();
    // Standard input ended (the link was piped in): watch, type nothing.
    let mut typing = true;
    let mut escape = false;
    // A chat line being typed (Ctrl-] c).
    let mut chat = ChatLine::default();
    let mut screens = Screens::default();
    screens.set_predict_mode(match args.predict {
        Predict::Auto => PredictMode::Auto,
        Predict::Always => PredictMode::Always,
        Predict::Never => PredictMode::Never,
    });
    // Each terminal's agent status, to tell when one starts waiting.
    let mut agents: std::collections::BTreeMap<taiku_proto::TerminalId, AgentStatus> =
        Default::default();
    let mut last_refusal: Option<Instant> = None;
    // A smaller or larger window changes what part of a terminal is shown.
    let mut window = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .unwrap_or_else(|e| fail(1, format!("cannot watch the window size: {e}")));
    loop {
        tokio::select! {
            _ = window.recv() => screens.window_resized(None),
            _ = sleep_until(screens.poll_timeout()) => screens.handle_timeout(),
            event = handle.events.recv() => {
                let Some(event) = event else {
                    drop(raw);
                    fail(1, "connection to the relay lost");
                };
                if let ParticipantEvent::Forward(ForwardEvent::Closed { reason, .. }) = &event
                    && *reason != ForwardEnd::Closed
                {
                    notice(&format!("a forwarded connection ended: {reason}"));
                }
                if forwards.handle_event(&event) {
                    continue;
                }
                match event {
                    ParticipantEvent::TunnelsChanged { ports, .. } => notice(&if ports.is_empty() {
                        "the host publishes no ports".to_owned()
                    } else {
                        format!("the host publishes ports {ports:?} (join --forward LOCAL:PORT)")
                    }),
                    ParticipantEvent::Output { term, bytes } => screens.output(term, &bytes),
                    ParticipantEvent::Snapshot { term, rows, cols, screen } => screens.replace(term, rows, cols, &screen),
                    ParticipantEvent::Resynced { term, skipped } => match skipped {
                        Some(n) => notice(&format!("terminal {term}: this connection fell behind; {n} frames skipped, screen brought up to date")),
                        None => notice(&format!("terminal {term}: this connection fell behind; screen brought up to date")),
                    },
                    ParticipantEvent::TerminalOpened(t) => {
                        let (rows, cols) = terminal_size(&handle, t).await;
                        screens.opened(t, rows, cols);
                        notice(&format!("terminal {t} opened ({cols}×{rows})"));
                    }
                    ParticipantEvent::TerminalResized(t) => {
                        let (rows, cols) = terminal_size(&handle, t).await;
                        screens.resized(t, rows, cols);
                    }
                    ParticipantEvent::TerminalClosed(t) => {
                        notice(&format!("terminal {t} closed"));
                        screens.closed(t);
                    }
                    ParticipantEvent::AgentStatus { term, status } => {
                        let before = agents.remove(&term);
                        // Waiting or done: the bell, so you notice.
                        if needs_attention(before.as_ref(), status.as_ref()) {
                            out(b"\x07");
                        }
                        match &status {
                            Some(s) => notice(&format!("terminal {term}: {}", s)),
                            None => notice(&format!("terminal {term}: no agent")),
                        }
                        if let Some(s) = status {
                            agents.insert(term, s);
                        }
                    }
                    ParticipantEvent::Notice { term, text } => {
                        out(b"\x07");
                        notice(&format!("terminal {term} says: {}", text));
                    }
                    ParticipantEvent::TerminalLabeled(t) => {
                        let label = handle.call(move |p, _| p.view().terminals.get(&t).map(|t| t.label.clone())).await.flatten();
                        if let Some(label) = label {
                            notice(&format!("terminal {t} is now \"{}\"", label));
                        }
                    }
                    ParticipantEvent::ControlChanged { term, .. } => {
                        let view = handle.call(move |p, _| {
                            let view = p.view();
                            view.terminals.get(&term).map(|t| peer_name(view, t.control.controller))
                        }).await.flatten();
                        if let Some(name) = view {
                            notice(&format!("terminal {term} is now controlled by {name}"));
                        }
                    }
                    // Keys typed while our request waited: all sent, or
                    // none (the machine holds them).
                    ParticipantEvent::HeldInput { len, sent: false, .. } if len > 0 => {
                        notice(&format!("refused: the {len} keys you typed while waiting were not sent"));
                    }
                    ParticipantEvent::HeldInput { sent: false, .. } => notice("your request to type was refused"),
                    ParticipantEvent::AdoptionRequested { term, requester } => {
                        let name = handle.call(move |p, _| peer_name(p.view(), requester)).await.unwrap_or_default();
                        notice(&format!("{name} asks to control terminal {term}; approving"));
                        handle.run(move |p, _| { let _ = p.answer_adoption(term, requester, true); }).await;
                    }
                    ParticipantEvent::HostOffline { grace_remaining_ms } => notice(&format!(
                        "the host is away; the session waits for it {} more seconds",
                        grace_remaining_ms / 1000
                    )),
                    ParticipantEvent::HostOnline => notice("the host is back"),
                    ParticipantEvent::Chat(line) => {
                        let (from, text) = (line.from, line.text);
                        let mine = handle.call(move |p, _| (p.view().me.map(|(me, _)| me) == Some(from), peer_name(p.view(), from))).await;
                        if let Some((false, name)) = mine {
                            notice(&format!("{name}: {text}"));
                        }
                    }
                    ParticipantEvent::Disconnected => notice("connection to the relay lost"),
                    ParticipantEvent::Denied(_) => {
                        drop(raw);
                        fail(1, "the relay no longer has this session (the relay restarted, or the session ended)");
                    }
                    ParticipantEvent::Reconnecting { attempt, delay } => notice(&format!(
                        "relay unreachable; retrying in {:.1} s (attempt {attempt})",
                        delay.as_secs_f32()
                    )),
                    ParticipantEvent::Rejoined { role, .. } => notice(&format!("reconnected as {role:?}")),
                    // History follows: repaint from it, never show it twice.
                    ParticipantEvent::Replay { term, .. } => screens.reset(term),
                    ParticipantEvent::ActionRefused { reason, .. } => notice(&format!("refused by the relay: {reason:?}")),
                    ParticipantEvent::Ended(reason) => {
                        drop(raw);
                        fail(1, format!("the session ended: {}", reason));
                    }
                    _ => {}
                }
            }
            chunk = keys.recv(), if typing => {
                let Some(chunk) = chunk else {
                    typing = false;
                    notice("standard input ended: watching only (Ctrl-C leaves)");
                    continue;
                };
                let mut forward = Vec::new();
                let mut quit = false;
                for b in chunk {
                    match chat.key(b) {
                        ChatKey::NotEditing => {}
                        ChatKey::Send(line) => {
                            if let Some(Err(e)) = handle.call(move |p, _| p.chat(&line)).await {
                                notice(&format!("chat not sent: {e}"));
                            }
                            continue;
                        }
                        ChatKey::Taken | ChatKey::Dropped => continue,
                    }
                    if escape {
                        escape = false;
                        match b {
                            b'c' => chat.start(),
                            b'q' => quit = true,
                            b'l' => {
                                let list = handle.call(|p, _| {
                                    p.view().terminals.iter().map(|(id, t)| {
                                        let agent = t.agent.as_ref().map_or(String::new(), |a| format!(", {a}"));
                                        format!("terminal {id} \"{}\": owner {}, controller {}{agent}", t.label, t.control.owner, t.control.controller)
                                    }).collect::<Vec<_>>()
                                }).await.unwrap_or_default();
                                for line in list {
                                    notice(&line);
                                }
                            }
                            b'w' => {
                                let who = handle.call(|p, _| {
                                    p.view().peers.iter().map(|(id, peer)| format!("{id}: {} ({:?})", peer.name, peer.role)).collect::<Vec<_>>()
                                }).await.unwrap_or_default();
                                notice(&who.join(", "));
                            }
                            b'n' => {
                                screens.show_next();
                            }
                            b'a' => {
                                if let Some(t) = screens.current() {
                                    match handle.call(move |p, _| p.request_adoption(t)).await {
                                        Some(Ok(())) => notice("asked the owner for control; what you type meanwhile is sent once it is approved"),
                                        Some(Err(e)) => notice(&format!("cannot ask: {e}")),
                                        None => {}
                                    }
                                } else {
                                    notice("no terminal is shown yet: nothing to ask for");
                                }
                            }
                            b'o' => {
                                let (cols, rows) = crossterm::terminal::size().unwrap_or((80, 24));
                                match handle.call(move |p, _| p.create_terminal(u32::from(rows), u32::from(cols), "join")).await {
                                    Some(Ok(())) => notice("asked the host for a terminal of your own"),
                                    Some(Err(e)) => notice(&format!("cannot open a terminal: {e}")),
                                    None => {}
                                }
                            }
                            ESCAPE => forward.push(ESCAPE),
                            _ => {}
                        }
                    } else if b == ESCAPE {
                        escape = true;
                    } else {
                        forward.push(b);
                    }
                }
                if let (Some(t), false) = (screens.current(), forward.is_empty()) {
                    let keys = forward.clone();
                    let sent = handle.call(move |p, _| p.send_input(t, &forward)).await;
                    if let Some(Ok(_)) = sent {
                        screens.typed(t, &keys);
                    }
                    if let Some(Err(e)) = sent
                        && last_refusal.is_none_or(|at| at.elapsed() > Duration::from_secs(2))
                    {
                        last_refusal = Some(Instant::now());
                        let why = match e {
                            ActionError::Refused(taiku_session::access::Refusal::ReadOnly) => {
                                "read-only: you joined with a reader link; your keys are not sent".to_string()
                            }
                            ActionError::Refused(taiku_session::access::Refusal::NotController) => {
                                "this terminal is controlled by someone else; Ctrl-] a asks for control".to_string()
                            }
                            other => format!("keys not sent: {other}"),
                        };
                        notice(&why);
                    }
                }
                if quit {
                    break;
                }
            }
        }
    }
    drop(raw);
    println!("\r\nLeft the session.");
}

/// A terminal's size as the participant's view has it.
async fn terminal_size(
    handle: &taiku_transport::drive::ClientHandle<Participant<taiku_transport::drive::OsRng>>,
    t: taiku_proto::TerminalId,
) -> (u32, u32) {
    handle
        .call(move |p, _| p.view().terminals.get(&t).map(|t| (t.rows, t.cols)))
        .await
        .flatten()
        .unwrap_or((24, 80))
}

/// Sleep until `at`, or for ever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
