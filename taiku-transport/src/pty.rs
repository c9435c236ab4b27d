//! PTYs (portable-pty): spawn a shell with its shell token in the
//! environment, read its output on a thread, write input and resize it.

use std::io::{self, Read, Write};

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// The most one read of the PTY asks for.
pub const PTY_READ_BYTES: usize = 64 * 1024;

/// Output read but not yet taken, at which the reader stops reading: the
/// program then blocks on a full PTY, as on a slow terminal, and nothing
/// is lost.
pub const PTY_GATHERED_BYTES: usize = 256 * 1024;

/// Input written to a PTY and not yet taken by its program, beyond which
/// [`Pty::write`] refuses more (`WouldBlock`): a program that stops
/// reading its input holds up nothing else, neither an async worker
/// thread nor the application's loop nor other terminals. A megabyte of
/// keystrokes is far more than anyone types ahead of a program.
pub const PTY_INPUT_QUEUE_BYTES: usize = 1 << 20;

/// What the reader thread has read and the consumer not yet taken. The
/// consumer is woken only when it finds nothing and waits: while it is
/// busy, reads pile up and are taken in one piece (a wake-up and a
/// hand-off per batch, not per read).
#[derive(Default)]
struct Gathered {
    state: Mutex<GatheredState>,
    /// Something to take, or the end.
    ready: Notify,
    /// Room again under `PTY_GATHERED_BYTES`, or the consumer is gone.
    room: Condvar,
}

#[derive(Default)]
struct GatheredState {
    bytes: BytesMut,
    /// The shell's output ended.
    ended: bool,
    /// The consumer is gone: stop reading.
    dropped: bool,
}

impl Gathered {
    fn lock(&self) -> MutexGuard<'_, GatheredState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append a read; `false` once the consumer is gone.
    fn append(&self, bytes: &[u8]) -> bool {
        let mut state = self.lock();
        while state.bytes.len() >= PTY_GATHERED_BYTES && !state.dropped {
            state = self.room.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.dropped {
            return false;
        }
        let was_empty = state.bytes.is_empty();
        state.bytes.extend_from_slice(bytes);
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
        true
    }

    fn end(&self) {
        self.lock().ended = true;
        self.ready.notify_one();
    }
}

/// The output of a PTY's shell, as its reader thread gathered it.
pub struct PtyOutput {
    gathered: Arc<Gathered>,
}

impl std::fmt::Debug for PtyOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyOutput").finish_non_exhaustive()
    }
}

impl PtyOutput {
    /// Everything read since the last call (waiting for something), or
    /// `None` once the shell's output has ended and all of it was taken.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            {
                let mut state = self.gathered.lock();
                if !state.bytes.is_empty() {
                    let bytes = state.bytes.split().freeze();
                    drop(state);
                    self.gathered.room.notify_one();
                    return Some(bytes);
                }
                if state.ended {
                    return None;
                }
            }
            // A notification given between the check and here is kept.
            self.gathered.ready.notified().await;
        }
    }
}

impl Drop for PtyOutput {
    fn drop(&mut self) {
        self.gathered.lock().dropped = true;
        self.gathered.room.notify_all();
    }
}

/// A running shell in a PTY. Input is written by a thread of its own
/// (a program that does not read its input blocks that thread only);
/// killing and reaping the shell ([`Pty::kill`]) blocks, so async code
/// runs it with `spawn_blocking` ([`Pty::kill_async`]).
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    input: std::sync::mpsc::Sender<(Bytes, OwnedSemaphorePermit)>,
    /// Bytes of room in the input queue.
    room: Arc<Semaphore>,
    child: SharedChild,
}

/// The shell's process, shared with whoever waits for its exit.
type SharedChild = Arc<Mutex<Box<dyn Child + Send + Sync>>>;

fn lock_child(child: &SharedChild) -> MutexGuard<'_, Box<dyn Child + Send + Sync>> {
    child.lock().unwrap_or_else(|e| e.into_inner())
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
    /// `env` added to its environment. Its output is read on a thread and
    /// taken from the returned [`PtyOutput`], everything read so far at
    /// once; it ends when the shell exits.
    pub fn spawn(
        program: &str,
        args: &[&str],
        rows: u16,
        cols: u16,
        env: &[(&str, &str)],
    ) -> io::Result<(Pty, PtyOutput)> {
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
        let mut child = pair.slave.spawn_command(cmd).map_err(other)?;
        drop(pair.slave);
        // From here on a failure must not leave the shell running.
        let mut fail = |e: io::Error| {
            let _ = child.kill();
            let _ = child.wait();
            e
        };
        let mut reader = pair.master.try_clone_reader().map_err(|e| fail(other(e)))?;
        let mut writer = pair.master.take_writer().map_err(|e| fail(other(e)))?;
        let (input, queued) = std::sync::mpsc::channel::<(Bytes, OwnedSemaphorePermit)>();
        std::thread::Builder::new()
            .name("taiku-pty-writer".into())
            .spawn(move || {
                // The permit goes back (room in the queue) once its bytes
                // are written; the thread ends with the `Pty`.
                for (bytes, permit) in queued {
                    if writer
                        .write_all(&bytes)
                        .and_then(|()| writer.flush())
                        .is_err()
                    {
                        return;
                    }
                    drop(permit);
                }
            })
            .map_err(&mut fail)?;
        let gathered = Arc::new(Gathered::default());
        let shared = Arc::clone(&gathered);
        std::thread::Builder::new()
            .name("taiku-pty-reader".into())
            .spawn(move || {
                let mut buf = vec![0u8; PTY_READ_BYTES];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if !shared.append(&buf[..n]) {
                        return;
                    }
                }
                shared.end();
            })
            .map_err(&mut fail)?;
        Ok((
            Pty {
                master: pair.master,
                input,
                room: Arc::new(Semaphore::new(PTY_INPUT_QUEUE_BYTES)),
                child: Arc::new(Mutex::new(child)),
            },
            PtyOutput { gathered },
        ))
    }

    /// Queue input for the shell, in order, without waiting. Refused
    /// with `WouldBlock` while [`PTY_INPUT_QUEUE_BYTES`] are queued and
    /// not yet taken by its program (the input is not written), with
    /// `BrokenPipe` once the PTY is gone.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        // A piece larger than the whole queue needs all of it.
        let want = u32::try_from(bytes.len().min(PTY_INPUT_QUEUE_BYTES)).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.room)
            .try_acquire_many_owned(want)
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the terminal's program is not reading its input",
                )
            })?;
        self.input
            .send((Bytes::copy_from_slice(bytes), permit))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the terminal is gone"))
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

    /// Kill the shell and reap it; returns its exit code if known. Blocks
    /// (the shell gets a moment after `SIGHUP` before `SIGKILL`).
    pub fn kill(&mut self) -> Option<u32> {
        let mut child = lock_child(&self.child);
        let _ = child.kill();
        child.wait().ok().map(|s| s.exit_code())
    }

    /// [`kill`](Self::kill) on tokio's blocking pool, off the async
    /// worker threads.
    pub async fn kill_async(mut self) -> Option<u32> {
        tokio::task::spawn_blocking(move || self.kill())
            .await
            .ok()
            .flatten()
    }

    /// The exit code, if the shell has exited.
    pub fn try_wait(&mut self) -> Option<u32> {
        lock_child(&self.child)
            .try_wait()
            .ok()
            .flatten()
            .map(|s| s.exit_code())
    }

    /// The exit code once the shell has exited, for its output's end:
    /// polls the process on the blocking pool for up to `within` (output
    /// ends a moment before the exit is known), `None` if it is still
    /// running then. The future holds no borrow of the `Pty`.
    pub fn exit_code(
        &self,
        within: std::time::Duration,
    ) -> impl std::future::Future<Output = Option<u32>> + Send + 'static {
        let child = Arc::clone(&self.child);
        async move {
            let started = tokio::time::Instant::now();
            loop {
                let child = Arc::clone(&child);
                let code = tokio::task::spawn_blocking(move || {
                    lock_child(&child)
                        .try_wait()
                        .ok()
                        .flatten()
                        .map(|s| s.exit_code())
                })
                .await
                .ok()
                .flatten();
                if code.is_some() || started.elapsed() >= within {
                    return code;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}
