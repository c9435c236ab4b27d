//! The host application's PTYs: open a shell per terminal with its shell
//! token in the environment, pump its output into the host machine, and
//! carry out what the machine's events ask for (write accepted input,
//! resize, close). Routing only; the rules stay in the machine.

use std::collections::HashMap;
use std::io;

use rand_core::CryptoRng;
use taiku_proto::{ParticipantId, TerminalId};
use taiku_session::host::{Host, HostError, HostEvent, SHELL_TOKEN_ENV};

use crate::drive::client::{ClientHandle, Commander};
use crate::pty::Pty;

/// `TerminalClosed.exit_status` when the shell's status is not known here
/// (SPEC.md 5): the PTY reader saw the end of output, not the exit.
const EXIT_UNKNOWN: i32 = -1;

/// First and longest wait before offering output again to a host that
/// had no room for it.
const FULL_WAIT_MIN: std::time::Duration = std::time::Duration::from_millis(2);
const FULL_WAIT_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// Hand PTY output to the host machine, waiting while it has no room:
/// the host holds a bounded amount of output the relay has not
/// acknowledged (SPEC.md 11.1), and a caller that waits here stops reading
/// its PTY, so the program blocks as on a slow terminal and nothing is
/// dropped. `false` if the host loop has ended.
pub async fn feed_output<R: CryptoRng + Send + 'static>(
    host: &Commander<Host<R>>,
    term: TerminalId,
    bytes: bytes::Bytes,
) -> bool {
    let mut wait = FULL_WAIT_MIN;
    loop {
        let chunk = bytes.clone();
        match host
            .call(move |h, now| h.handle_output(term, &chunk, now))
            .await
        {
            None => return false,
            Some(Err(HostError::OutputFull(_))) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(FULL_WAIT_MAX);
            }
            Some(_) => return true,
        }
    }
}

/// What to run in a new terminal.
pub struct ShellSpec {
    /// Who owns the terminal (the host, or the writer who asked for it).
    pub owner: ParticipantId,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// Display label.
    pub label: String,
    /// The program, usually [`default_shell`](crate::pty::default_shell).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Sees every chunk of output.
    pub tap: Option<OutputTap>,
}

impl ShellSpec {
    /// The user's shell for `owner`, 24 × 80.
    pub fn shell(owner: ParticipantId) -> Self {
        ShellSpec {
            owner,
            rows: 24,
            cols: 80,
            label: "shell".into(),
            program: crate::pty::default_shell(),
            args: Vec::new(),
            tap: None,
        }
    }
}

/// How long the end of a shell's output waits for its exit status.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The shells of a sharing host, by terminal.
#[derive(Default)]
pub struct Terminals {
    ptys: HashMap<TerminalId, Pty>,
    /// Shells whose output ended and whose terminal was closed: their
    /// PTYs are dropped at the next call.
    exited: std::sync::Arc<std::sync::Mutex<Vec<TerminalId>>>,
    /// Added to every shell's environment (the local command channel's
    /// `TAIKU_SOCKET`, `TAIKU_BIN`, `PATH`).
    env: Vec<(String, String)>,
}

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminals")
            .field("open", &self.ptys.len())
            .finish()
    }
}

/// A hook that sees every chunk of a terminal's output (the `share`
/// example mirrors its own terminal to the host's screen with it).
pub type OutputTap = Box<dyn FnMut(&[u8]) + Send>;

impl Terminals {
    /// Add `env` to the environment of every shell opened from now on,
    /// next to its shell token (for instance
    /// [`LocalChannel::shell_env`](crate::local::LocalChannel::shell_env)).
    pub fn set_shell_env(&mut self, env: Vec<(String, String)>) {
        self.env = env;
    }

    /// Open a terminal on the host machine and spawn its shell in a PTY.
    /// If the shell cannot be spawned, the terminal is closed again
    /// (everyone who saw it open sees it close) and the error returned.
    pub async fn open_shell<R: CryptoRng + Send + 'static>(
        &mut self,
        host: &ClientHandle<Host<R>>,
        spec: ShellSpec,
    ) -> io::Result<TerminalId> {
        self.reap_exited();
        let ShellSpec {
            owner,
            rows,
            cols,
            label,
            program,
            args,
            mut tap,
        } = spec;
        let opened = host
            .call(move |h, now| {
                h.open_terminal(owner, u32::from(rows), u32::from(cols), &label, now)
                    .map(|(t, token)| (t, token.to_env_value()))
            })
            .await
            .ok_or_else(|| io::Error::other("the host loop has ended"))?
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (term, token) = opened;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env: Vec<(&str, &str)> = vec![(SHELL_TOKEN_ENV, token.as_str())];
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let spawned = Pty::spawn(&program, &args, rows, cols, &env);
        drop(token);
        let (pty, mut output) = match spawned {
            Ok(spawned) => spawned,
            Err(e) => {
                tracing::warn!(terminal = term.0, error = %e, "the shell could not be started");
                host.run(move |h, now| {
                    let _ = h.close_terminal(term, EXIT_UNKNOWN, now);
                })
                .await;
                return Err(e);
            }
        };
        let exit_code = pty.exit_code(EXIT_WAIT);
        self.ptys.insert(term, pty);
        let exited = std::sync::Arc::clone(&self.exited);
        let commander: Commander<Host<R>> = host.commander();
        tokio::spawn(async move {
            while let Some(bytes) = output.recv().await {
                if let Some(tap) = tap.as_mut() {
                    tap(&bytes);
                }
                if !feed_output(&commander, term, bytes).await {
                    return;
                }
            }
            // The shell exited: its status, if it is known in time.
            let code = exit_code
                .await
                .map_or(EXIT_UNKNOWN, |c| i32::try_from(c).unwrap_or(EXIT_UNKNOWN));
            tracing::debug!(terminal = term.0, code, "shell exited");
            let _ = commander
                .run(move |h, now| {
                    let _ = h.close_terminal(term, code, now);
                })
                .await;
            exited.lock().unwrap_or_else(|e| e.into_inner()).push(term);
        });
        Ok(term)
    }

    /// Write bytes typed on the host's own keyboard into a terminal;
    /// `WouldBlock` if its program has
    /// [`PTY_INPUT_QUEUE_BYTES`](crate::pty::PTY_INPUT_QUEUE_BYTES) of
    /// input unread (the bytes are not written).
    pub fn write_local(&self, term: TerminalId, bytes: &[u8]) -> io::Result<()> {
        match self.ptys.get(&term) {
            Some(pty) => pty.write(bytes),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such terminal")),
        }
    }

    /// Drop the PTYs of shells that exited (their terminals are closed).
    fn reap_exited(&mut self) {
        let exited = std::mem::take(&mut *self.exited.lock().unwrap_or_else(|e| e.into_inner()));
        for term in exited {
            self.ptys.remove(&term);
        }
    }

    /// Resize a terminal's PTY (its program gets `SIGWINCH`) and tell
    /// everyone the new size: for a resize requested by its controller, or
    /// the host's own window changing size.
    pub async fn resize<R: CryptoRng + Send + 'static>(
        &mut self,
        host: &ClientHandle<Host<R>>,
        term: TerminalId,
        rows: u16,
        cols: u16,
    ) -> io::Result<()> {
        let pty = self
            .ptys
            .get(&term)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such terminal"))?;
        pty.resize(rows, cols)?;
        host.run(move |h, _| {
            let _ = h.resize(term, u32::from(rows), u32::from(cols));
        })
        .await;
        Ok(())
    }

    /// Carry out what a host event asks of the PTYs. Returns `true` if the
    /// event was one of theirs.
    pub async fn handle_event<R: CryptoRng + Send + 'static>(
        &mut self,
        host: &ClientHandle<Host<R>>,
        event: &HostEvent,
    ) -> bool {
        self.reap_exited();
        match event {
            HostEvent::Input { term, bytes, .. } => {
                if let Some(pty) = self.ptys.get(term)
                    && let Err(e) = pty.write(bytes)
                {
                    // A program that has a megabyte of input unread loses
                    // what comes beyond it, and the log says so.
                    tracing::warn!(terminal = term.0, error = %e, bytes = bytes.len(), "input not written to the terminal");
                }
                true
            }
            HostEvent::ResizeRequested {
                term, rows, cols, ..
            } => {
                let rows = u16::try_from(*rows).unwrap_or(u16::MAX);
                let cols = u16::try_from(*cols).unwrap_or(u16::MAX);
                if let Err(e) = self.resize(host, *term, rows, cols).await {
                    tracing::debug!(terminal = term.0, error = %e, "resize failed");
                }
                true
            }
            HostEvent::CloseRequested { term, .. } => {
                if let Some(pty) = self.ptys.remove(term) {
                    let code = pty
                        .kill_async()
                        .await
                        .map_or(EXIT_UNKNOWN, |c| i32::try_from(c).unwrap_or(EXIT_UNKNOWN));
                    let term = *term;
                    host.run(move |h, now| {
                        let _ = h.close_terminal(term, code, now);
                    })
                    .await;
                }
                true
            }
            _ => false,
        }
    }

    /// Kill and reap every shell, on the blocking pool.
    pub async fn shutdown(&mut self) {
        let killed: Vec<_> = self
            .ptys
            .drain()
            .map(|(_, pty)| tokio::spawn(pty.kill_async()))
            .collect();
        for kill in killed {
            let _ = kill.await;
        }
    }
}

/// Shells still running when the `Terminals` go are killed and reaped on
/// a thread of their own, so dropping never blocks.
impl Drop for Terminals {
    fn drop(&mut self) {
        if self.ptys.is_empty() {
            return;
        }
        let ptys: Vec<Pty> = self.ptys.drain().map(|(_, pty)| pty).collect();
        let _ = std::thread::Builder::new()
            .name("taiku-pty-reaper".into())
            .spawn(move || {
                for mut pty in ptys {
                    pty.kill();
                }
            });
    }
}
