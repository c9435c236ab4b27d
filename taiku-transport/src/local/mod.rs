//! The local command channel (SPEC.md 11.7): a Unix domain socket that
//! only the host's user can reach, through which a command run inside a
//! shared shell (`taiku status`, `notify`, `label`, `who`) talks to its
//! host. The socket lives in a fresh directory of mode 0700 and has mode
//! 0600; each shell finds it in `TAIKU_SOCKET`, next to its
//! `TAIKU_SHELL_TOKEN`. This module only moves bytes: the request is
//! bound, limited and carried out by
//! [`Host::handle_shell_request`](taiku_session::host::Host::handle_shell_request).
//!
//! Unix only: on other platforms [`LocalChannel::bind`] returns
//! [`io::ErrorKind::Unsupported`].

mod client;
mod hooks;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{AGENT_ENV, BIN_ENV, command_main};
pub use hooks::{Hook, HookError, hook_status};

use taiku_session::host::Host;

use rand_core::CryptoRng;

use crate::drive::Commander;

/// The environment variable that holds the socket's path in each shell.
pub const SOCKET_ENV: &str = "TAIKU_SOCKET";

/// Connections served at once; more wait in the socket's backlog.
pub const LOCAL_CONNECTIONS: usize = 8;

/// How long a connection may take to send its request.
pub const LOCAL_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a whole exchange may take, the reply read included.
pub const LOCAL_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The pause after a failed `accept` (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The name the command answers to (the host puts a link of that name to
/// its own executable on each shell's `PATH`).
pub const COMMAND_NAME: &str = "taiku";

/// The socket of a sharing host, its directory and the command link,
/// removed on drop.
#[derive(Debug)]
pub struct LocalChannel {
    dir: PathBuf,
    socket: PathBuf,
    #[cfg(unix)]
    listener: Option<tokio::net::UnixListener>,
}

impl LocalChannel {
    /// Create a fresh directory of mode 0700 (in `$XDG_RUNTIME_DIR`, or
    /// the temporary directory) with a socket of mode 0600 in it. Must be
    /// called inside a tokio runtime.
    #[cfg(unix)]
    pub fn bind() -> io::Result<LocalChannel> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let mut name = [0u8; 8];
        getrandom::fill(&mut name).map_err(|e| io::Error::other(e.to_string()))?;
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let dir = base.join(format!("taiku-{name}"));
        // Fails if it exists: the directory is ours alone from the start.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let socket = dir.join("shell.sock");
        let listener = tokio::net::UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        Ok(LocalChannel {
            dir,
            socket,
            listener: Some(listener),
        })
    }

    /// Unix only.
    #[cfg(not(unix))]
    pub fn bind() -> io::Result<LocalChannel> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the local command channel needs Unix domain sockets",
        ))
    }

    /// The socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The directory that holds the socket (mode 0700).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What each shared shell's environment gets, besides its own token:
    /// `TAIKU_SOCKET`, and with `exe` (the host's own executable, which
    /// answers to [`COMMAND_NAME`], see [`command_main`]) a link to it
    /// named `taiku` in the channel's directory, that directory first on
    /// `PATH`, and the link's path in `TAIKU_BIN` for hooks.
    pub fn shell_env(&self, exe: Option<&Path>) -> io::Result<Vec<(String, String)>> {
        let mut env = vec![(SOCKET_ENV.to_owned(), path_text(&self.socket)?)];
        #[cfg(unix)]
        if let Some(exe) = exe {
            let bin = self.dir.join("bin");
            std::fs::create_dir_all(&bin)?;
            let link = bin.join(COMMAND_NAME);
            // The directory is ours alone (0700); a link already there is
            // this channel's own.
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(exe, &link)?;
            }
            let path = match std::env::var_os("PATH") {
                Some(old) if !old.is_empty() => {
                    let mut dirs = vec![bin.clone()];
                    dirs.extend(std::env::split_paths(&old));
                    std::env::join_paths(dirs).map_err(io::Error::other)?
                }
                _ => bin.clone().into_os_string(),
            };
            env.push((BIN_ENV.to_owned(), path_text(&link)?));
            env.push((
                "PATH".to_owned(),
                path.into_string()
                    .map_err(|_| io::Error::other("PATH is not UTF-8"))?,
            ));
        }
        #[cfg(not(unix))]
        let _ = exe;
        Ok(env)
    }

    /// Answer requests for `host` until the host loop ends: each
    /// connection from the host's own user sends one request within
    /// [`LOCAL_REQUEST_TIMEOUT`] and gets one reply.
    #[cfg(unix)]
    pub fn serve<R: CryptoRng + Send + 'static>(
        &mut self,
        host: Commander<Host<R>>,
    ) -> tokio::task::JoinHandle<()> {
        use std::os::unix::fs::MetadataExt;

        let listener = self.listener.take();
        let owner = std::fs::metadata(&self.dir).map(|m| m.uid()).ok();
        tokio::spawn(async move {
            let Some(listener) = listener else { return };
            let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(LOCAL_CONNECTIONS));
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of descriptors, say: wait rather than spin.
                        tracing::warn!(error = %e, "local command channel: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                // The directory's mode already keeps others out; the
                // peer's credentials are checked as well.
                let peer = stream.peer_cred().ok().map(|c| c.uid());
                if owner.is_none() || peer != owner {
                    tracing::debug!("local command from another user refused");
                    continue;
                }
                let host = host.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    // The whole exchange, reply included: a peer that
                    // does not read its answer does not keep its slot.
                    match tokio::time::timeout(LOCAL_EXCHANGE_TIMEOUT, answer(stream, &host)).await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(error = %e, "local command connection"),
                        Err(_) => tracing::debug!("local command connection timed out"),
                    }
                });
            }
        })
    }

    /// Unix only.
    #[cfg(not(unix))]
    pub fn serve<R: CryptoRng + Send + 'static>(
        &mut self,
        host: Commander<Host<R>>,
    ) -> tokio::task::JoinHandle<()> {
        drop(host);
        tokio::spawn(async {})
    }
}

impl Drop for LocalChannel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_text(p: &Path) -> io::Result<String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other("the path is not UTF-8"))
}

/// One request, one reply.
#[cfg(unix)]
async fn answer<R: CryptoRng + Send + 'static>(
    mut stream: tokio::net::UnixStream,
    host: &Commander<Host<R>>,
) -> io::Result<()> {
    use taiku_proto::limits::MAX_SHELL_REQUEST_BYTES;
    use taiku_proto::local;
    use taiku_proto::message as m;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let read = async {
        let mut prefix = [0u8; local::LENGTH_LEN];
        stream.read_exact(&mut prefix).await?;
        let Ok(len) = local::body_len(prefix, MAX_SHELL_REQUEST_BYTES) else {
            return Ok(None);
        };
        // It holds the shell's token: wiped when dropped.
        let mut body = zeroize::Zeroizing::new(vec![0u8; len]);
        stream.read_exact(&mut body).await?;
        Ok::<_, io::Error>(Some(body))
    };
    let body = tokio::time::timeout(LOCAL_REQUEST_TIMEOUT, read)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))??;
    let reply = match body {
        Some(body) => host
            .call(move |h, now| h.handle_shell_request(&body, now))
            .await
            .ok_or_else(|| io::Error::other("the host loop has ended"))?,
        // Longer than a request may be: answered without reading it.
        None => m::ShellReply {
            refused: m::ShellRefusal::Malformed as i32,
            ..Default::default()
        },
    };
    stream.write_all(&local::encode(&reply)).await?;
    stream.shutdown().await
}
