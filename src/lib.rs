//! Examples and benchmarks of taiku-rs, and the small pieces the example
//! programs share (the local terminal, links, relay checks). This package is
//! not published.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use std::time::Instant;

use taiku_proto::TerminalId;
use taiku_session::predict::{PredictMode, Predictor};
use taiku_session::screen::{Screen, ScreenModel};

use taiku_session::participant::printable;
use taiku_transport::endpoint::{Endpoint, EndpointError};
use taiku_transport::tls::ClientTls;
use taiku_transport::web::WebClient;
use taiku_transport::ws::ConnectError;

/// Print a one-line error and exit with `code`. Messages never carry a
/// secret: callers pass errors whose texts name endpoints and reasons only.
pub fn fail(code: i32, message: impl std::fmt::Display) -> ! {
    let _ = crossterm::terminal::disable_raw_mode();
    let mut err = std::io::stderr();
    let _ = writeln!(err, "error: {message}");
    std::process::exit(code)
}

/// Logging to stderr, `warn` and above unless `RUST_LOG` says otherwise:
/// for programs that own no terminal screen (the relay).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The environment variable naming the log file of `share` and `join`.
pub const LOG_FILE_ENV: &str = "TAIKU_LOG_FILE";

/// Logging for programs that draw on the terminal (`share`, `join`):
/// nothing by default, so no log line ever lands in a shared screen. With
/// `RUST_LOG` set, logs go to a file: [`LOG_FILE_ENV`] if set, else
/// `taiku-PROGRAM.log` in the temporary directory. Returns the file's
/// path when logging is on.
pub fn init_file_logging(program: &str) -> Option<std::path::PathBuf> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().ok()?;
    let path = std::env::var_os(LOG_FILE_ENV)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("taiku-{program}.log")));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| {
            fail(
                1,
                format!("cannot open the log file {}: {e}", path.display()),
            )
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Some(path)
}

/// The relay endpoint of `origin`, or exit 2 with a message that names
/// the flag that fixes the problem.
pub fn endpoint_or_fail(origin: &str, allow_insecure: bool) -> Endpoint {
    Endpoint::from_origin(origin, allow_insecure).unwrap_or_else(|e| match e {
        EndpointError::InsecureRemote => fail(
            2,
            format!(
                "plain ws:// to a relay that is not on this machine ({origin}): the network \
                 would see who connects where; use an https:// relay, or pass --allow-insecure"
            ),
        ),
        e => fail(2, format!("{e} ({origin})")),
    })
}

/// What a client trusts for the relay: the link's pin if it has one (no
/// CA needed), plus the certificates of `--ca-cert FILE` if given.
pub fn client_tls(ca_cert: Option<&Path>, link: Option<&taiku_crypto::Link>) -> ClientTls {
    if let Some(link) = link
        && link.relay_pin().is_some()
    {
        return ClientTls::for_link(link);
    }
    match ca_cert {
        Some(path) => {
            let failed =
                |e: std::io::Error| -> ! { fail(1, format!("--ca-cert {}: {e}", path.display())) };
            let pem = std::fs::read(path).unwrap_or_else(|e| failed(e));
            ClientTls::default()
                .with_extra_roots(&pem)
                .unwrap_or_else(|e| failed(e))
        }
        None => ClientTls::default(),
    }
}

/// Connect once to the relay, so that a failure is reported in one line
/// that says what to do, before the driver (which retries) takes over.
pub async fn check_relay(endpoint: &Endpoint, tls: &ClientTls) {
    let attempt = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        taiku_transport::ws::connect(endpoint, tls),
    )
    .await;
    match attempt {
        Ok(Ok(_)) => {}
        Ok(Err(ConnectError::Tls { source, .. })) => {
            let reason = source.to_string();
            if reason.contains("UnknownIssuer")
                || reason.contains("NotValidForName")
                || reason.contains("invalid peer certificate")
            {
                fail(
                    1,
                    format!(
                        "the relay at {endpoint} has a certificate this machine does not trust \
                         ({reason}): use a link that pins it (share --bind prints one), or pass \
                         --ca-cert FILE with the relay's certificate or CA"
                    ),
                )
            }
            fail(
                1,
                format!("TLS with the relay at {endpoint} failed: {reason}"),
            )
        }
        Ok(Err(e)) => fail(1, e),
        Err(_) => fail(
            1,
            format!("cannot reach the relay at {endpoint}: no answer in 10 s"),
        ),
    }
}

/// How a participant reaches `link`'s relay (its own pinned key or
/// `ca_cert` for TLS), once the relay answers; exits with a message if it
/// does not.
pub async fn participant_driver(
    link: &taiku_crypto::Link,
    ca_cert: Option<&Path>,
    allow_insecure: bool,
) -> taiku_transport::drive::DriverConfig {
    let endpoint = endpoint_or_fail(link.origin(), allow_insecure);
    let tls = client_tls(ca_cert, Some(link));
    check_relay(&endpoint, &tls).await;
    taiku_transport::drive::DriverConfig::new(endpoint).with_tls(tls)
}

/// The environment variable that may carry a link, so it is not in the
/// process list.
pub const LINK_ENV: &str = "TAIKU_LINK";

/// Where a link came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkSource {
    /// The command line: visible to other users in the process list.
    Argument,
    /// [`LINK_ENV`].
    Environment,
    /// Standard input (typed without echo on a terminal, or piped).
    Stdin,
}

/// The link to join: the argument if given, else [`LINK_ENV`], else one
/// line of standard input (read without echo when it is a terminal).
pub fn read_link(argument: Option<&str>) -> (String, LinkSource) {
    use std::io::IsTerminal;
    if let Some(link) = argument {
        return (link.to_owned(), LinkSource::Argument);
    }
    if let Ok(link) = std::env::var(LINK_ENV)
        && !link.trim().is_empty()
    {
        return (link.trim().to_owned(), LinkSource::Environment);
    }
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        eprint!("Paste the link (it is not shown): ");
        let line = read_hidden_line();
        eprintln!();
        line
    } else {
        let mut line = String::new();
        let _ = stdin.read_line(&mut line);
        line
    };
    let line = line.trim().to_owned();
    if line.is_empty() {
        fail(
            2,
            format!("no link: pass it on standard input or in {LINK_ENV}"),
        );
    }
    (line, LinkSource::Stdin)
}

/// One line from the terminal without echo (raw mode, Enter ends it,
/// Backspace edits, Ctrl-C aborts).
fn read_hidden_line() -> String {
    use std::io::Read;
    let raw = RawMode::enter();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while let Ok(1) = std::io::stdin().read(&mut byte) {
        match byte[0] {
            b'\r' | b'\n' => break,
            0x03 => {
                drop(raw);
                fail(130, "interrupted");
            }
            0x7f | 0x08 => {
                line.pop();
            }
            b => line.push(b),
        }
    }
    drop(raw);
    String::from_utf8_lossy(&line).into_owned()
}

/// The browser client a relay serves: `--web DIR` if given (a client that
/// cannot be loaded is an error, exit 1), else the one compiled in
/// ([`WebClient::embedded`]), so a fresh clone needs no Node.
pub fn web_client(dir: Option<&Path>) -> WebClient {
    match dir {
        None => WebClient::embedded(),
        Some(dir) => {
            WebClient::load(dir).unwrap_or_else(|e| fail(1, format!("browser client: {e}")))
        }
    }
}

/// The local user's name for display.
pub fn user_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".into())
}

/// Raw mode on the local terminal while this lives (when stdin is a
/// terminal).
pub struct RawMode(bool);

impl RawMode {
    /// Enter raw mode if stdin is a terminal.
    pub fn enter() -> RawMode {
        use std::io::IsTerminal;
        let tty = std::io::stdin().is_terminal();
        RawMode(tty && crossterm::terminal::enable_raw_mode().is_ok())
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if self.0 {
            let _ = crossterm::terminal::disable_raw_mode();
        }
    }
}

/// Read stdin on a thread; chunks arrive on the channel.
pub fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    use std::io::Read;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Write to stdout and flush (terminal output and notices).
pub fn out(bytes: &[u8]) {
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

/// Whether the local terminal shows a full-screen program (the alternate
/// screen), as [`ScreenWatch`] last saw.
static FULL_SCREEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// How many notices are held while a full-screen program runs (the
/// newest; a flood of them costs no more).
pub const HELD_NOTICES: usize = 50;

/// Notices printed so far: each leaves the local cursor at the start of
/// a new line, where the terminal shown does not have it ([`Screens`]
/// puts it back in its column).
static PRINTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Notices held while a full-screen program runs.
static HELD: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A notice line on the local terminal that works in raw mode. While a
/// full-screen program (vi, less, htop) has the screen, the notice goes to
/// the terminal's title instead and is printed once the program leaves,
/// so it never lands in the middle of the program's screen.
pub fn notice(text: &str) {
    // Names, chat, labels and notices come from other people: no control
    // character of theirs reaches this terminal, nor a format character
    // that would reorder what is shown around it.
    let text = printable(text);
    let text = text.as_str();
    if FULL_SCREEN.load(std::sync::atomic::Ordering::Acquire) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() == HELD_NOTICES {
            held.remove(0);
        }
        held.push(text.to_owned());
        // The title says how many wait, never their text (a terminal
        // that reports its title would type it back).
        let waiting = match held.len() {
            1 => "1 notice waits".to_owned(),
            n => format!("{n} notices wait"),
        };
        out(format!("\x1b]0;[taiku] {waiting}\x07").as_bytes());
        return;
    }
    out(format!("\r\n\x1b[7m[taiku] {text}\x1b[0m\r\n").as_bytes());
    PRINTED.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Follows a program's output for the switches to and from the alternate
/// screen (`CSI ? 1049 h` / `l`, and the older 1047 and 47), however the
/// output is split into chunks.
#[derive(Default)]
pub struct ScreenWatch {
    /// The end of the last chunk, for a switch split across chunks.
    tail: Vec<u8>,
}

impl ScreenWatch {
    /// Look at output about to be shown; call [`ScreenWatch::shown`] after
    /// showing it.
    pub fn saw(&mut self, bytes: &[u8]) {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let mut state = None;
        let mut i = 0;
        while let Some(at) = window
            .get(i..)
            .and_then(|w| w.windows(3).position(|x| x == b"\x1b[?"))
        {
            let start = i + at + 3;
            let digits = window
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let code = window.get(start..start + digits).unwrap_or_default();
            match window.get(start + digits) {
                Some(b'h') if matches!(code, b"1049" | b"1047" | b"47") => state = Some(true),
                Some(b'l') if matches!(code, b"1049" | b"1047" | b"47") => state = Some(false),
                _ => {}
            }
            i = start;
        }
        if let Some(full) = state {
            FULL_SCREEN.store(full, std::sync::atomic::Ordering::Release);
        }
        let keep = window.len().saturating_sub(8);
        self.tail = window.split_off(keep);
    }

    /// The output was shown: notices held for a full-screen program that
    /// has left are printed now.
    pub fn shown(&self) {
        if FULL_SCREEN.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let held = std::mem::take(&mut *HELD.lock().unwrap_or_else(|e| e.into_inner()));
        for text in held {
            notice(&text);
        }
    }
}

/// The terminals a tool shows, one at a time: a model of each one's
/// screen (SPEC.md 11.6), fed its output, to repaint it when the user
/// switches to it, and which is on screen. When the local window is at
/// least the terminal's size, output goes to it as it comes; when it is
/// smaller, the terminal is drawn from its model, clipped to the window
/// around the cursor, with a line saying what part is shown (never the
/// terminal's lines wrapped into a narrower window).
#[derive(Default)]
pub struct Screens {
    models: BTreeMap<TerminalId, Screen>,
    current: Option<TerminalId>,
    watch: ScreenWatch,
    /// The top-left corner of the part shown while clipped.
    view: (usize, usize),
    /// The local window size, once asked; `None` asks the terminal.
    window: Option<(u16, u16)>,
    /// Predictive echo of each terminal (SPEC.md 11.8).
    predictors: BTreeMap<TerminalId, Predictor>,
    mode: PredictMode,
    /// The columns of the cursor's row a prediction is drawn over now.
    drawn: Option<(usize, usize)>,
    /// [`PRINTED`] when the local cursor was last in the shown terminal's
    /// column.
    printed: u64,
}

impl Screens {
    /// The terminal on screen.
    pub fn current(&self) -> Option<TerminalId> {
        self.current
    }

    /// A terminal of `rows` × `cols` exists (the first one is shown).
    pub fn opened(&mut self, term: TerminalId, rows: u32, cols: u32) {
        let size = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        self.models
            .entry(term)
            .or_insert_with(|| Screen::new(size(rows), size(cols)));
        self.current.get_or_insert(term);
    }

    /// When keys are predicted (SPEC.md 11.8).
    pub fn set_predict_mode(&mut self, mode: PredictMode) {
        self.mode = mode;
        for p in self.predictors.values_mut() {
            p.set_mode(mode);
        }
    }

    /// The user's `bytes`, sent to `term`: shown at once where they can be
    /// predicted.
    pub fn typed(&mut self, term: TerminalId, bytes: &[u8]) {
        let on_screen = self.current == Some(term) && self.clipped().is_none();
        if on_screen {
            self.undraw();
        }
        let Some(model) = self.models.get(&term) else {
            return;
        };
        let mode = self.mode;
        self.predictors
            .entry(term)
            .or_insert_with(|| Predictor::new(mode))
            .typed(bytes, model, Instant::now());
        if on_screen {
            self.draw();
        }
    }

    /// When [`Screens::handle_timeout`] should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.predictors
            .values()
            .filter_map(Predictor::poll_timeout)
            .min()
    }

    /// Predictions not confirmed in time are taken back.
    pub fn handle_timeout(&mut self) {
        self.undraw();
        let now = Instant::now();
        for p in self.predictors.values_mut() {
            p.handle_timeout(now);
        }
        self.draw();
    }

    /// After a notice, put the local cursor back in the column the shown
    /// terminal has it (on the notice's next line), so that its output
    /// goes on where it would.
    fn realign(&mut self) {
        let printed = PRINTED.load(std::sync::atomic::Ordering::Acquire);
        if printed == self.printed {
            return;
        }
        self.printed = printed;
        // The predictions drawn scrolled away with the notice.
        self.drawn = None;
        if let Some(model) = self.current.and_then(|t| self.models.get(&t)) {
            let (col, _, _) = model.cursor();
            if col > 0 && !model.alternate() {
                out(format!("\x1b[{col}C").as_bytes());
            }
        }
    }

    /// Take back the predictions drawn on the local terminal.
    fn undraw(&mut self) {
        self.realign();
        if let (Some((from, to)), Some(model)) = (
            self.drawn.take(),
            self.current.and_then(|t| self.models.get(&t)),
        ) {
            out(&model.repaint_cells(from, to));
        }
    }

    /// Draw the current terminal's predictions, underlined, from its
    /// cursor; the local cursor is left after the last one.
    fn draw(&mut self) {
        let Some(t) = self.current else {
            return;
        };
        let (Some(model), Some(p)) = (self.models.get(&t), self.predictors.get(&t)) else {
            return;
        };
        let shown = p.shown();
        let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
            return;
        };
        if self.clipped().is_some() {
            return;
        }
        let (col, _, _) = model.cursor();
        let mut bytes = Vec::new();
        if first.col > col {
            bytes.extend_from_slice(format!("\x1b[{}C", first.col - col).as_bytes());
        }
        bytes.extend_from_slice(b"\x1b[0;4m");
        bytes.extend(shown.iter().map(|p| p.ch as u8));
        bytes.extend_from_slice(b"\x1b[0m");
        out(&bytes);
        self.drawn = Some((col.min(first.col), last.col + 1));
    }

    /// `term` is now `rows` × `cols`.
    pub fn resized(&mut self, term: TerminalId, rows: u32, cols: u32) {
        let size = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        if let Some(model) = self.models.get_mut(&term) {
            model.resize(size(rows), size(cols));
        }
        if self.current == Some(term) {
            self.repaint();
        }
    }

    /// The local window changed size (or use `rows` × `cols` instead of
    /// asking the terminal, for tests).
    pub fn window_resized(&mut self, size: Option<(u16, u16)>) {
        self.window = size;
        self.repaint();
    }

    /// Output of `term`: kept, and shown if it is on screen (predictions
    /// drawn over it taken back first, and drawn again after).
    pub fn output(&mut self, term: TerminalId, bytes: &[u8]) {
        self.current.get_or_insert(term);
        let on_screen = self.current == Some(term);
        if on_screen {
            self.undraw();
        }
        let model = self
            .models
            .entry(term)
            .or_insert_with(|| Screen::new(24, 80));
        model.feed(bytes);
        if let Some(p) = self.predictors.get_mut(&term) {
            p.output(model, Instant::now());
        }
        if !on_screen {
            return;
        }
        if self.clipped().is_some() {
            self.draw_clipped();
        } else {
            self.watch.saw(bytes);
            out(bytes);
            self.watch.shown();
            self.draw();
        }
    }

    /// `term`'s screen is now `screen` (a snapshot of `rows` × `cols`).
    pub fn replace(&mut self, term: TerminalId, rows: u32, cols: u32, screen: &[u8]) {
        let size = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
        let mut model = Screen::new(size(rows), size(cols));
        model.feed(screen);
        if let Some(p) = self.predictors.get_mut(&term) {
            p.output(&model, Instant::now());
        }
        self.models.insert(term, model);
        if self.current == Some(term) {
            self.repaint();
        }
    }

    /// `term`'s history is about to be replayed: forget what was shown of
    /// it, so nothing appears twice.
    pub fn reset(&mut self, term: TerminalId) {
        let (rows, cols) = self.models.get(&term).map_or((24, 80), Screen::size);
        self.models.insert(term, Screen::new(rows, cols));
        self.current.get_or_insert(term);
        if self.current == Some(term) {
            out(b"\x1b[2J\x1b[H");
        }
    }

    /// `term` closed: the next one is shown if it was on screen. Returns
    /// the terminal now on screen.
    pub fn closed(&mut self, term: TerminalId) -> Option<TerminalId> {
        self.models.remove(&term);
        if self.current == Some(term) {
            self.current = self.models.keys().next().copied();
            self.repaint();
        }
        self.current
    }

    /// Show the terminal after the current one, in id order.
    pub fn show_next(&mut self) -> Option<TerminalId> {
        let ids: Vec<TerminalId> = self.models.keys().copied().collect();
        if let Some(pos) = self.current.and_then(|c| ids.iter().position(|t| *t == c)) {
            self.current = ids.get((pos + 1) % ids.len()).copied();
            self.repaint();
        }
        self.current
    }

    /// The terminals, in id order.
    pub fn ids(&self) -> Vec<TerminalId> {
        self.models.keys().copied().collect()
    }

    /// The local window (rows, cols), if known.
    fn window(&self) -> Option<(u16, u16)> {
        self.window.or_else(|| {
            crossterm::terminal::size()
                .ok()
                .map(|(cols, rows)| (rows, cols))
        })
    }

    /// The window's size if it is smaller than the terminal on screen.
    fn clipped(&self) -> Option<(u16, u16)> {
        let model = self.current.and_then(|t| self.models.get(&t))?;
        let (rows, cols) = model.size();
        let (wrows, wcols) = self.window()?;
        (wrows < rows || wcols < cols).then_some((wrows, wcols))
    }

    fn repaint(&mut self) {
        // A snapshot assumes a terminal in its initial state (SPEC.md
        // 11.6): reset this one (RIS) before painting.
        self.drawn = None;
        out(b"\x1bc\x1b[2J\x1b[H");
        if self.clipped().is_some() {
            self.view = (0, 0);
            self.draw_clipped();
        } else if let Some(model) = self.current.and_then(|t| self.models.get(&t)) {
            let screen = model.snapshot(usize::MAX);
            self.watch.saw(&screen);
            out(&screen);
        }
        if let Some(t) = self.current {
            notice(&format!("showing terminal {t}"));
        }
    }

    /// The part of the terminal on screen that fits the window, around
    /// its cursor, and on the last line what part that is.
    fn draw_clipped(&mut self) {
        let (Some((wrows, wcols)), Some(model)) = (
            self.clipped(),
            self.current.and_then(|t| self.models.get(&t)),
        ) else {
            return;
        };
        let (rows, cols) = model.size();
        let (rows, cols) = (usize::from(rows), usize::from(cols));
        let view_rows = usize::from(wrows.max(2)) - 1;
        let view_cols = usize::from(wcols.max(1));
        let (ccol, crow, _) = model.cursor();
        let follow = |start: usize, at: usize, span: usize, total: usize| {
            let start = if at < start {
                at
            } else if at >= start + span {
                at + 1 - span
            } else {
                start
            };
            start.min(total.saturating_sub(span))
        };
        self.view = (
            follow(self.view.0, crow, view_rows, rows),
            follow(self.view.1, ccol, view_cols, cols),
        );
        let (top, left) = self.view;
        let status = format!(
            "[taiku] terminal {} is {cols}×{rows}, this window {wcols}×{wrows}: columns {}–{}, rows {}–{}",
            self.current.map_or(0, |t| t.0),
            left + 1,
            (left + view_cols).min(cols),
            top + 1,
            (top + view_rows).min(rows),
        );
        let status: String = status.chars().take(view_cols).collect();
        let mut frame = format!("\x1b[{wrows};1H\x1b[0;7m{status}\x1b[0m\x1b[K").into_bytes();
        frame.extend_from_slice(&model.viewport(
            top,
            left,
            view_rows.min(rows),
            view_cols.min(cols),
        ));
        out(&frame);
    }
}

/// A one-line editor for chat in raw mode: keys go into the line, shown
/// as a prompt, until Enter sends it or Escape drops it.
#[derive(Default)]
pub struct ChatLine {
    text: Option<String>,
}

/// What a key did to a [`ChatLine`].
#[derive(Debug, PartialEq, Eq)]
pub enum ChatKey {
    /// Not editing: the key is not the line's.
    NotEditing,
    /// Taken into the line.
    Taken,
    /// Enter: send this.
    Send(String),
    /// Escape, or Enter on an empty line: nothing to send.
    Dropped,
}

impl ChatLine {
    /// Start a line.
    pub fn start(&mut self) {
        self.text = Some(String::new());
        self.show();
    }

    /// Whether a line is being typed.
    pub fn editing(&self) -> bool {
        self.text.is_some()
    }

    /// One key.
    pub fn key(&mut self, b: u8) -> ChatKey {
        let Some(text) = self.text.as_mut() else {
            return ChatKey::NotEditing;
        };
        match b {
            b'\r' | b'\n' => {
                let line = self.text.take().unwrap_or_default();
                out(b"\r\x1b[K");
                if line.trim().is_empty() {
                    ChatKey::Dropped
                } else {
                    ChatKey::Send(line)
                }
            }
            0x1b | 0x03 => {
                self.text = None;
                out(b"\r\x1b[K");
                ChatKey::Dropped
            }
            0x7f | 0x08 => {
                text.pop();
                self.show();
                ChatKey::Taken
            }
            b if (0x20..0x7f).contains(&b) && text.len() < taiku_proto::limits::MAX_CHAT_BYTES => {
                text.push(char::from(b));
                self.show();
                ChatKey::Taken
            }
            _ => ChatKey::Taken,
        }
    }

    fn show(&self) {
        if let Some(text) = &self.text {
            out(format!("\r\x1b[K\x1b[7m[taiku] chat>\x1b[0m {text}").as_bytes());
        }
    }
}

/// The escape key of the example programs: Ctrl-].
pub const ESCAPE: u8 = 0x1d;
