//! Share your shell: the main job.
//!
//! ```text
//! cargo run --release --example share [-- --relay https://relay.example [--ca-cert FILE]]
//!     [--bind ADDRESS:PORT [--tls | --plain]]
//!     [--enable-readers] [--admin-link] [--allow-insecure] [--web DIR]
//! ```
//!
//! With no arguments it starts an embedded relay on 127.0.0.1 (a free
//! port; `--bind 192.168.1.5:8443` to let others on your network in, over
//! TLS with a certificate made at start that the printed links pin) that
//! also serves the browser client (the one compiled in, or `--web DIR`), spawns your shell in a PTY, shows it in this terminal as usual,
//! and prints the writer link. Keys: everything goes to the terminal on
//! screen (if you control it), except Ctrl-] then `n` (open another
//! terminal), `t` (show the next terminal), `l` (list them), `c` (a chat
//! line: Enter sends it, Escape drops it), `y` / `n` /
//! `a` (answer a request to type: yes, no, always) and `q` (stop
//! sharing). Sharing stops when the last terminal's shell exits.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use std::time::Duration;

use taiku_examples::{
    ChatKey, ChatLine, ESCAPE, RawMode, Screens, check_relay, client_tls, endpoint_or_fail, fail,
    init_file_logging, notice, stdin_chunks, user_name, web_client,
};
use taiku_proto::{ParticipantId, Role, TerminalId};
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::forwards::Forwards;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{DriverConfig, OutputTap, ShellSpec, Terminals, os_rng, spawn_host};
use taiku_transport::local::{COMMAND_NAME, LocalChannel, command_main};
use taiku_transport::tls::{ClientTls, self_signed};

/// A participant's name for notices: its display name and id (names are
/// chosen by participants, so two may look alike), or "you" for the host.
fn who(names: &BTreeMap<ParticipantId, String>, id: ParticipantId) -> String {
    match names.get(&id) {
        _ if id == ParticipantId::HOST => "you".to_owned(),
        Some(name) => format!("{name} (#{id})"),
        None => format!("participant #{id}"),
    }
}

/// Share your shell through a relay: everything you type goes to your
/// shell, except Ctrl-] then n (another terminal) or q (stop sharing).
#[derive(clap::Parser)]
#[command(name = "share", version)]
struct Cli {
    /// A relay to use instead of the embedded one, e.g. https://relay.example.
    #[arg(long, value_name = "URL")]
    relay: Option<String>,
    /// Trust this PEM certificate or CA for --relay (a private relay).
    #[arg(long, value_name = "FILE", requires = "relay")]
    ca_cert: Option<PathBuf>,
    /// Let others on your network in: the embedded relay listens on this
    /// address (yours, e.g. 192.168.1.5:8443), over TLS with a certificate
    /// made now, which the printed links pin.
    #[arg(long, value_name = "ADDRESS:PORT")]
    bind: Option<SocketAddr>,
    /// TLS for the embedded relay even on loopback.
    #[arg(long, conflicts_with = "plain")]
    tls: bool,
    /// No TLS for the embedded relay off loopback (joiners then need
    /// --allow-insecure).
    #[arg(long)]
    plain: bool,
    /// Print a reader link too (readers watch, never type).
    #[arg(long)]
    enable_readers: bool,
    /// Print the admin link too (take over terminals, run tunnels).
    #[arg(long)]
    admin_link: bool,
    /// Allow plain ws:// to a relay that is not on this machine.
    #[arg(long)]
    allow_insecure: bool,
    /// Serve the browser client built in DIR (`npm --prefix web run build`
    /// writes taiku-transport/client) instead of the one compiled in.
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// Approve every request to type in your terminals without asking.
    #[arg(long)]
    approve_all: bool,
    /// Also print the writer link as a QR code, to join from a phone.
    #[arg(long)]
    qr: bool,
    /// Seconds a request to type waits for your answer before it is
    /// refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    answer_within: u64,
    /// Publish these ports of this machine's loopback interface, e.g.
    /// 3000,8080: writers and admins reach them with `join --forward`
    /// (sealed end to end), or in a browser through the relay.
    #[arg(long, value_name = "PORTS", value_delimiter = ',')]
    tunnel: Vec<u16>,
    /// Publish these ports for `join --forward` only, sealed end to end:
    /// the relay can never reach them (no HTTP tunnel).
    #[arg(long, value_name = "PORTS", value_delimiter = ',')]
    tunnel_sealed: Vec<u16>,
}

/// `text` as a QR code drawn with half blocks, dark on light, for a
/// phone's camera.
fn qr_code(text: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            code.render::<Dense1x2>()
                .dark_color(Dense1x2::Light)
                .light_color(Dense1x2::Dark)
                .quiet_zone(true)
                .build()
                + "\n"
        }
        Err(e) => format!("(no QR code: {e})\n"),
    }
}

/// A request to type in one of the host's terminals, waiting for the
/// host's answer.
struct Asking {
    term: TerminalId,
    requester: ParticipantId,
    until: tokio::time::Instant,
}

/// The prompt for the first waiting request, if any.
fn prompt(asking: &VecDeque<Asking>, names: &BTreeMap<ParticipantId, String>) {
    if let Some(a) = asking.front() {
        let left = a
            .until
            .saturating_duration_since(tokio::time::Instant::now());
        notice(&format!(
            "{} asks to type in terminal {}: Ctrl-] y yes, Ctrl-] n no, Ctrl-] a always ({} s)",
            who(names, a.requester),
            a.term,
            left.as_secs_f64().ceil()
        ));
    }
}

async fn sleep_until(when: Option<tokio::time::Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

#[tokio::main]
async fn main() {
    // Run through the `taiku` link put on each shared shell's PATH, this
    // program is that shell's command to its host (SPEC.md 11.7).
    let mut argv = std::env::args();
    let program = argv.next().unwrap_or_default();
    if std::path::Path::new(&program).file_name() == Some(std::ffi::OsStr::new(COMMAND_NAME)) {
        std::process::exit(command_main(argv));
    }
    let log = init_file_logging("share");
    let args = Cli::parse();
    let mut allow_insecure = args.allow_insecure;

    // The relay: remote, or embedded (on loopback unless --bind says
    // otherwise) with the browser client.
    let mut pin = None;
    let (origin, embedded) = match args.relay.as_deref() {
        Some(_) if args.web.is_some() || args.bind.is_some() => fail(
            2,
            "--web and --bind are for the embedded relay; they do not go with --relay",
        ),
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let bind = args.bind.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            if bind.ip().is_unspecified() {
                fail(
                    2,
                    format!(
                        "--bind needs the address others reach you at (for instance \
                         192.168.1.5:8443), not {}: links name it",
                        bind.ip()
                    ),
                );
            }
            // Off this machine, TLS with a certificate made now; links pin
            // it, so joiners need no CA. Plain only when asked.
            let tls = if args.tls || (!bind.ip().is_loopback() && !args.plain) {
                let (acceptor, made) = self_signed(&[bind.ip().to_string()])
                    .unwrap_or_else(|e| fail(1, format!("cannot make a certificate: {e}")));
                pin = Some(made);
                Some(acceptor)
            } else {
                // Our own plain relay: no need to be told twice.
                allow_insecure |= args.plain;
                None
            };
            let web = Some(web_client(args.web.as_deref()));
            let relay = RelayServer::bind_with(bind, tls, RelayConfig::default(), web)
                .await
                .unwrap_or_else(|e| {
                    fail(1, format!("cannot start the embedded relay on {bind}: {e}"))
                });
            (relay.origin(), Some(relay))
        }
    };
    let endpoint = endpoint_or_fail(&origin, allow_insecure);
    let tls = match pin {
        Some(pin) => ClientTls::pinned(pin),
        None => client_tls(args.ca_cert.as_deref(), None),
    };
    if embedded.is_none() {
        check_relay(&endpoint, &tls).await;
    }

    // One reader of the keyboard for every session.
    let mut keys = stdin_chunks();
    loop {
        let outcome = run_session(
            &args,
            &mut keys,
            &origin,
            endpoint.clone(),
            tls.clone(),
            pin,
            log.as_deref(),
        )
        .await;
        if outcome == Outcome::Done {
            break;
        }
        println!("\r\nStarting a new session: the old links no longer work.\r");
    }
    if let Some(relay) = embedded {
        relay.shutdown().await;
    }
    println!("\r\nStopped sharing.");
}

/// How one session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Sharing is over.
    Done,
    /// The relay lost the session and the user asked for a new one.
    Restart,
}

/// One session: a host with new links, your shell, until it ends.
#[allow(clippy::too_many_arguments)] // one call site, all different
async fn run_session(
    args: &Cli,
    keys: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
    origin: &str,
    endpoint: taiku_transport::endpoint::Endpoint,
    tls: ClientTls,
    pin: Option<[u8; taiku_crypto::PIN_LEN]>,
    log: Option<&std::path::Path>,
) -> Outcome {
    let options =
        taiku_session::SessionOptions::default().with_readers_enabled(args.enable_readers);
    let config = HostConfig::default()
        .with_name(user_name())
        .with_device_label("terminal")
        // Late joiners get the true screen (SPEC.md 11.6).
        .with_screens(true);
    let mut host = Host::generate(config, options, os_rng());
    for (port, http) in args
        .tunnel
        .iter()
        .map(|p| (*p, true))
        .chain(args.tunnel_sealed.iter().map(|p| (*p, false)))
    {
        let published = if http {
            host.publish(u32::from(port))
        } else {
            host.publish_sealed(u32::from(port))
        };
        if let Err(e) = published {
            fail(2, format!("cannot publish port {port}: {e}"));
        }
    }
    let link = |role| {
        host.link(origin, role).and_then(|link| match pin {
            Some(pin) => link.with_relay_pin(pin),
            None => Ok(link),
        })
    };
    let mut links = vec![("writer", link(Role::Writer))];
    if args.enable_readers {
        links.push(("reader", link(Role::Reader)));
    }
    if args.admin_link {
        links.push(("admin", link(Role::Admin)));
    }

    let mut driver = DriverConfig::new(endpoint);
    driver.tls = tls;
    let (mut host, host_task) = spawn_host(host, driver);
    // Wait until the relay accepts the session.
    let online = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(event) = host.events.recv().await {
            match event {
                HostEvent::Online { .. } => return Ok(()),
                HostEvent::Refused(reason) => {
                    return Err(format!("the relay refused the session ({reason:?})"));
                }
                _ => {}
            }
        }
        Err("the host stopped".to_string())
    })
    .await;
    match online {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(1, e),
        Err(_) => fail(1, format!("cannot reach the relay at {origin}")),
    }

    for (role, link) in links {
        let link = link.unwrap_or_else(|e| fail(2, e));
        println!("{role} link: {}", *link.to_url());
        if args.qr && role == "writer" {
            print!("{}", qr_code(&link.to_url()));
        }
    }
    if pin.is_some() {
        println!(
            "The relay at {origin} has a certificate made just now: the links pin it, so `join` \
             needs nothing else; a browser will warn about it once."
        );
    }
    println!(
        "Sharing your shell. Writers ask before they type (Ctrl-] a in join); you answer with Ctrl-] y or n."
    );
    println!(
        "Ctrl-] n opens another terminal, Ctrl-] t shows the next, Ctrl-] l lists them, Ctrl-] c chats, Ctrl-] q stops sharing."
    );
    for port in &args.tunnel_sealed {
        println!(
            "Publishing port {port} for `join --forward {port}:{port}` only, sealed end to end."
        );
    }
    for port in &args.tunnel {
        println!(
            "Publishing port {port}: `join --forward {port}:{port}` reaches it sealed end to end; \
             the browser's Ports list through the relay, which sees that traffic."
        );
    }
    if let Some(path) = log {
        println!("Logging to {}.", path.display());
    }

    // A pseudo-terminal nobody sized reports 0 × 0.
    let (cols, rows) = crossterm::terminal::size()
        .ok()
        .filter(|&(cols, rows)| cols > 0 && rows > 0)
        .unwrap_or((80, 24));
    let mut terminals = Terminals::default();
    let forwards = Forwards::new(&host);
    // Commands from inside the shells (`taiku status waiting`, SPEC.md
    // 11.7): a socket only you can reach, and `taiku` on each shell's PATH.
    let mut channel = LocalChannel::bind()
        .map_err(|e| notice(&format!("no `taiku` command in the shells: {e}")))
        .ok();
    let serving = channel.as_mut().map(|c| c.serve(host.commander()));
    if let Some(c) = &channel {
        match c.shell_env(std::env::current_exe().ok().as_deref()) {
            Ok(env) => terminals.set_shell_env(env),
            Err(e) => notice(&format!("no `taiku` command in the shells: {e}")),
        }
    }
    // Every terminal's output comes here, tagged, to be kept and shown
    // when it is on screen.
    let (shown_tx, mut shown) = tokio::sync::mpsc::unbounded_channel::<(u64, Vec<u8>)>();
    let tap = |tag: u64| -> OutputTap {
        let tx = shown_tx.clone();
        Box::new(move |bytes: &[u8]| {
            let _ = tx.send((tag, bytes.to_vec()));
        })
    };
    let mut tags: BTreeMap<u64, TerminalId> = BTreeMap::new();
    let mut screens = Screens::default();
    let main_spec = ShellSpec {
        rows,
        cols,
        tap: Some(tap(0)),
        ..ShellSpec::shell(ParticipantId::HOST)
    };
    let main = terminals
        .open_shell(&host, main_spec)
        .await
        .unwrap_or_else(|e| fail(1, format!("cannot start your shell: {e}")));
    tags.insert(0, main);
    screens.opened(main, u32::from(rows), u32::from(cols));
    let mut next_tag = 1u64;
    let mut last_watching: Option<std::time::Instant> = None;

    // Display names of the participants, for notices.
    let mut names: BTreeMap<ParticipantId, String> = BTreeMap::new();
    // Requests to type, oldest first, and who may always type.
    let mut asking: VecDeque<Asking> = VecDeque::new();
    let mut always: BTreeSet<ParticipantId> = BTreeSet::new();
    // Who controls each terminal, as last announced.
    let mut controllers: BTreeMap<TerminalId, ParticipantId> = BTreeMap::new();
    let raw = RawMode::enter();
    // The host's window changing size resizes the shared terminal.
    let mut window = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .unwrap_or_else(|e| fail(1, format!("cannot watch the window size: {e}")));
    let mut escape = false;
    // The relay lost the session; whether the user wants a new one.
    let (mut lost, mut restart) = (false, false);
    // A chat line being typed (Ctrl-] c).
    let mut chat = ChatLine::default();
    let mut extra = 1;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            chunk = keys.recv() => {
                let Some(chunk) = chunk else { break };
                let mut forward = Vec::with_capacity(chunk.len());
                let mut quit = false;
                for b in chunk {
                    match chat.key(b) {
                        ChatKey::NotEditing => {}
                        ChatKey::Send(line) => {
                            if let Some(Err(e)) = host.call(move |h, _| h.chat(&line)).await {
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
                            // While a request waits, y, n and a answer it.
                            b'y' | b'n' | b'a' if !asking.is_empty() => {
                                if let Some(a) = asking.pop_front() {
                                    if b == b'a' {
                                        always.insert(a.requester);
                                    }
                                    let (term, requester, yes) = (a.term, a.requester, b != b'n');
                                    if let Some(Err(e)) = host.call(move |h, _| h.answer_adoption(term, requester, yes)).await {
                                        notice(&format!("cannot answer: {e}"));
                                    } else if !yes {
                                        notice(&format!("{} may not type in terminal {term}", who(&names, requester)));
                                    }
                                }
                                prompt(&asking, &names);
                            }
                            b'q' => quit = true,
                            b'r' if lost => {
                                restart = true;
                                quit = true;
                            }
                            b'n' => {
                                extra += 1;
                                next_tag += 1;
                                let spec = ShellSpec { label: format!("shell {extra}"), tap: Some(tap(next_tag)), ..ShellSpec::shell(ParticipantId::HOST) };
                                let (rows, cols) = (u32::from(spec.rows), u32::from(spec.cols));
                                match terminals.open_shell(&host, spec).await {
                                    Ok(t) => {
                                        tags.insert(next_tag, t);
                                        screens.opened(t, rows, cols);
                                        notice(&format!("opened terminal {t}; Ctrl-] t switches to it"));
                                    }
                                    Err(e) => notice(&format!("cannot open a terminal: {e}")),
                                }
                            }
                            b't' => {
                                screens.show_next();
                            }
                            b'l' => {
                                let ids = screens.ids();
                                let list = host.call(move |h, _| {
                                    ids.iter().filter_map(|t| h.terminal_control(*t).map(|c| (*t, c, h.agent_status(*t).cloned()))).collect::<Vec<_>>()
                                }).await.unwrap_or_default();
                                for (t, c, agent) in list {
                                    let agent = agent.map(|a| format!(", {a}")).unwrap_or_default();
                                    notice(&format!("terminal {t}: owner {}, controller {}{agent}", who(&names, c.owner), who(&names, c.controller)));
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
                // Your keys go to the terminal on screen, if you control it.
                if let (Some(t), false) = (screens.current(), forward.is_empty()) {
                    let yours = host
                        .call(move |h, _| h.terminal_control(t).is_some_and(|c| c.controller == ParticipantId::HOST))
                        .await
                        .unwrap_or(false);
                    if yours {
                        let _ = terminals.write_local(t, &forward);
                    } else if last_watching.is_none_or(|at| at.elapsed() > Duration::from_secs(2)) {
                        last_watching = Some(std::time::Instant::now());
                        let controller = controllers.get(&t).copied().unwrap_or(ParticipantId::HOST);
                        notice(&format!("you are watching terminal {t}, which {} controls", who(&names, controller)));
                    }
                }
                if quit {
                    break;
                }
            }
            event = host.events.recv(), if !lost => {
                let Some(event) = event else { break };
                // A participant resized one of its terminals: so does its model here.
                if let HostEvent::ResizeRequested { term, rows, cols, .. } = &event {
                    screens.resized(*term, *rows, *cols);
                }
                if terminals.handle_event(&host, &event).await || forwards.handle_event(&event) {
                    continue;
                }
                match event {
                    HostEvent::Joined { participant, role, name } => {
                        notice(&format!("{name} joined ({role:?})"));
                        names.insert(participant, name);
                    }
                    HostEvent::Left { participant } => {
                        notice(&format!("{} left", who(&names, participant)));
                        names.remove(&participant);
                        let first = asking.front().map(|a| a.requester);
                        asking.retain(|a| a.requester != participant);
                        if first == Some(participant) {
                            prompt(&asking, &names);
                        }
                    }
                    HostEvent::Chat { from, text } if from != ParticipantId::HOST => {
                        notice(&format!("{}: {text}", who(&names, from)));
                    }
                    HostEvent::Offline => notice("connection to the relay lost"),
                    HostEvent::TunnelsChanged { ports, by, .. } => notice(&format!(
                        "{} changed the published ports: {}",
                        who(&names, by),
                        if ports.is_empty() { "none".to_owned() } else { format!("{ports:?}") }
                    )),
                    HostEvent::Reconnecting { attempt, delay } => notice(&format!(
                        "relay unreachable; retrying in {:.1} s (attempt {attempt})",
                        delay.as_secs_f32()
                    )),
                    HostEvent::Online { resumed: true } => notice("reconnected; the session continues"),
                    HostEvent::CreateRequested { requester, rows, cols, label } => {
                        next_tag += 1;
                        let spec = ShellSpec {
                            rows: u16::try_from(rows).unwrap_or(24),
                            cols: u16::try_from(cols).unwrap_or(80),
                            label,
                            tap: Some(tap(next_tag)),
                            ..ShellSpec::shell(requester)
                        };
                        let (rows, cols) = (u32::from(spec.rows), u32::from(spec.cols));
                        match terminals.open_shell(&host, spec).await {
                            Ok(t) => {
                                tags.insert(next_tag, t);
                                screens.opened(t, rows, cols);
                                notice(&format!("{} opened terminal {t}; Ctrl-] t shows it", who(&names, requester)));
                            }
                            Err(e) => notice(&format!("cannot open a terminal: {e}")),
                        }
                    }
                    HostEvent::AdoptionRequested { term, requester } => {
                        if args.approve_all || always.contains(&requester) {
                            notice(&format!("{} takes control of terminal {term}", who(&names, requester)));
                            if let Some(Err(e)) = host.call(move |h, _| h.answer_adoption(term, requester, true)).await {
                                notice(&format!("cannot hand over terminal {term}: {e}"));
                            }
                        } else if !asking.iter().any(|a| a.term == term && a.requester == requester) {
                            let until = tokio::time::Instant::now() + Duration::from_secs(args.answer_within);
                            asking.push_back(Asking { term, requester, until });
                            if asking.len() == 1 {
                                prompt(&asking, &names);
                            }
                        }
                    }
                    HostEvent::ControlChanged { term, controller, .. } => {
                        // Only a change is news (a refused request restates it).
                        let changed = controllers.insert(term, controller) != Some(controller);
                        if changed {
                            notice(&format!("terminal {term} is now controlled by {}", who(&names, controller)));
                        }
                    }
                    HostEvent::Ended(reason) => {
                        notice(&format!("the session ended: {}", reason));
                        break;
                    }
                    HostEvent::SessionLost => {
                        notice(
                            "the relay no longer knows this session (it restarted, or the grace \
                             window ended): Ctrl-] r starts a new one with new links, Ctrl-] q stops",
                        );
                        lost = true;
                    }
                    _ => {}
                }
            }
            _ = sleep_until(asking.front().map(|a| a.until)) => {
                // Not answered in time: refused.
                if let Some(a) = asking.pop_front() {
                    let (term, requester) = (a.term, a.requester);
                    let _ = host.call(move |h, _| h.answer_adoption(term, requester, false)).await;
                    notice(&format!("no answer: {} may not type in terminal {term}", who(&names, requester)));
                }
                prompt(&asking, &names);
            }
            // Shells exit quietly: look for closed terminals now and then.
            _ = tick.tick() => {}
            Some((tag, bytes)) = shown.recv() => {
                if let Some(t) = tags.get(&tag) {
                    screens.output(*t, &bytes);
                }
            }
            _ = window.recv() => {
                if let Ok((cols, rows)) = crossterm::terminal::size()
                    && cols > 0
                    && rows > 0
                {
                    screens.resized(main, u32::from(rows), u32::from(cols));
                    if let Err(e) = terminals.resize(&host, main, rows, cols).await {
                        notice(&format!("cannot resize the shared terminal: {e}"));
                    }
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
        // Terminals whose shell exited: the next one is shown; after the
        // last, sharing ends for everyone.
        let ids = screens.ids();
        let gone = host
            .call(move |h, _| {
                ids.into_iter()
                    .filter(|t| h.terminal_control(*t).is_none())
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        for t in gone {
            notice(&format!("terminal {t} closed"));
            screens.closed(t);
        }
        if screens.ids().is_empty() {
            notice("the last terminal closed: sharing stops");
            break;
        }
    }
    drop(raw);
    if let Some(serving) = serving {
        serving.abort();
    }
    drop(channel);
    if restart {
        terminals.shutdown().await;
        return Outcome::Restart;
    }
    // Graceful: participants are told, shells are reaped.
    host.run(|h, _| h.end_session()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), host_task).await;
    terminals.shutdown().await;
    Outcome::Done
}
