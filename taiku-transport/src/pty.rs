//! PTYs (portable-pty): spawn a shell with its shell token in the
//! environment, read its output on a thread, write input and resize it.

use std::io::{self, Read, Write};

use bytes::Bytes;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc;

/// A running shell in a PTY.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty").finish_non_exhaustive()
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The user's shell: `$SHELL`, or `/bin/sh`.
pub fn default_shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into())
}

impl Pty {
    /// Spawn `program` (with `args`) in a new PTY of `rows` × `cols`, with
    /// `env` added to its environment. Output arrives on the returned
    /// channel in chunks as the shell writes it; the channel closes when
    /// the shell exits.
    pub fn spawn(
        program: &str,
        args: &[&str],
        rows: u16,
        cols: u16,
        env: &[(&str, &str)],
    ) -> io::Result<(Pty, mpsc::Receiver<Bytes>)> {
        let system = native_pty_system();
        let pair = system
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(other)?;
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Ok(cwd) = std::env::current_dir() {
            cmd.cwd(cwd);
        }
        let child = pair.slave.spawn_command(cmd).map_err(other)?;
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().map_err(other)?;
        let writer = pair.master.take_writer().map_err(other)?;
        let (tx, rx) = mpsc::channel(64);
        std::thread::Builder::new()
            .name("taiku-pty-reader".into())
            .spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                                break;
                            }
                        }
                    }
                }
            })?;
        Ok((
            Pty {
                master: pair.master,
                writer,
                child,
            },
            rx,
        ))
    }

    /// Write input to the shell.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Resize the PTY.
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(other)
    }

    /// Kill the shell and reap it; returns its exit code if known.
    pub fn kill(&mut self) -> Option<u32> {
        let _ = self.child.kill();
        self.child.wait().ok().map(|s| s.exit_code())
    }

    /// The exit code, if the shell has exited.
    pub fn try_wait(&mut self) -> Option<u32> {
        self.child.try_wait().ok().flatten().map(|s| s.exit_code())
    }
}
