//! Port forwards' sockets (SPEC.md 6.8): on the host, a connection to
//! `127.0.0.1:port` for each forward the machine asks for; on a
//! participant, a local listener whose every connection becomes a
//! forward. Each socket has a reader task that hands the machine what it
//! reads (waiting while the peer has given no credit) and a writer task
//! that writes what the machine delivers and reports it written, so that
//! credit goes back. Routing only: which streams exist is the machine's.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_proto::limits::FORWARD_CHUNK;
use taiku_session::forward::{ForwardError, ForwardEvent, ForwardId};
use taiku_session::host::{Host, HostEvent};
use taiku_session::participant::{ActionError, Participant, ParticipantEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;

use crate::drive::client::{ClientHandle, Commander, Machine};

/// The longest the host waits to connect a forward to its local port
/// before it is refused.
pub const FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A machine with forwards: the host or a participant. The methods are
/// the machines' own (`Host::forward_write`, `Participant::forward_write`,
/// …); the host's connect calls do nothing on a participant.
pub trait ForwardMachine: Machine {
    /// Send bytes read from the local socket; how many were taken.
    fn forward_write(&mut self, id: ForwardId, data: &[u8]) -> Result<usize, ForwardError>;
    /// The local socket's reading side ended.
    fn forward_finish(&mut self, id: ForwardId) -> Result<(), ForwardError>;
    /// `n` bytes were written to the local socket.
    fn forward_consumed(&mut self, id: ForwardId, n: usize);
    /// The local socket failed.
    fn forward_close(&mut self, id: ForwardId);
    /// The forward's part of an event, if it is one.
    fn forward_event(event: &Self::Event) -> Option<&ForwardEvent>;
    /// The local connection for forward `id` is up (the host); false if
    /// the stream is gone meanwhile.
    fn forward_connected(&mut self, id: ForwardId) -> bool {
        let _ = id;
        false
    }
    /// Nothing answers on the forward's port (the host).
    fn forward_refused(&mut self, id: ForwardId) {
        let _ = id;
    }
}

/// The forward calls both machines have, under one name each.
macro_rules! forward_calls {
    ($machine:ident) => {
        fn forward_write(&mut self, id: ForwardId, data: &[u8]) -> Result<usize, ForwardError> {
            $machine::forward_write(self, id, data)
        }
        fn forward_finish(&mut self, id: ForwardId) -> Result<(), ForwardError> {
            $machine::forward_finish(self, id)
        }
        fn forward_consumed(&mut self, id: ForwardId, n: usize) {
            $machine::forward_consumed(self, id, n);
        }
        fn forward_close(&mut self, id: ForwardId) {
            $machine::forward_close(self, id);
        }
    };
}

impl<R: CryptoRng + Send + 'static> ForwardMachine for Host<R> {
    forward_calls!(Host);
    fn forward_connected(&mut self, id: ForwardId) -> bool {
        Host::forward_connected(self, id).is_ok()
    }
    fn forward_refused(&mut self, id: ForwardId) {
        Host::forward_refused(self, id);
    }
    fn forward_event(event: &HostEvent) -> Option<&ForwardEvent> {
        match event {
            HostEvent::Forward(forward) => Some(forward),
            _ => None,
        }
    }
}

impl<R: CryptoRng + Send + 'static> ForwardMachine for Participant<R> {
    forward_calls!(Participant);
    fn forward_event(event: &ParticipantEvent) -> Option<&ForwardEvent> {
        match event {
            ParticipantEvent::Forward(forward) => Some(forward),
            _ => None,
        }
    }
}

enum ToSocket {
    Data(Bytes),
    Finish,
}

/// One forward's socket tasks. Dropped (the forward closed, or both its
/// sides finished), the reader stops and the writer writes what is queued,
/// then closes the socket.
struct Socket {
    to_socket: mpsc::UnboundedSender<ToSocket>,
    credit: Arc<Notify>,
    reader: Option<AbortHandle>,
    /// Sides finished: the reading one (the local end's EOF) and the
    /// writing one (the peer's FIN); at two the socket is forgotten.
    finished: Arc<std::sync::atomic::AtomicU8>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

/// One side of `id` finished; forget the socket once both did.
fn side_finished(sockets: &Sockets, id: ForwardId, finished: &std::sync::atomic::AtomicU8) {
    if finished.fetch_add(1, std::sync::atomic::Ordering::AcqRel) == 1 {
        lock(sockets).remove(&id);
    }
}

type Sockets = Arc<Mutex<HashMap<ForwardId, Socket>>>;

/// The sockets of one machine's forwards. Cheap to clone: clones share
/// the sockets.
pub struct Forwards<M> {
    sockets: Sockets,
    commander: Commander<M>,
}

impl<M> Clone for Forwards<M> {
    fn clone(&self) -> Self {
        Forwards {
            sockets: Arc::clone(&self.sockets),
            commander: self.commander.clone(),
        }
    }
}

impl<M> std::fmt::Debug for Forwards<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.sockets.lock().map_or(0, |s| s.len());
        f.debug_struct("Forwards").field("open", &open).finish()
    }
}

fn lock(sockets: &Sockets) -> std::sync::MutexGuard<'_, HashMap<ForwardId, Socket>> {
    sockets.lock().unwrap_or_else(|e| e.into_inner())
}

impl<M: ForwardMachine> Forwards<M> {
    /// Forwards of the machine behind `handle`.
    pub fn new(handle: &ClientHandle<M>) -> Self {
        Forwards {
            sockets: Arc::default(),
            commander: handle.commander(),
        }
    }

    /// Forwards open now.
    pub fn open(&self) -> usize {
        lock(&self.sockets).len()
    }

    /// Carry out what a machine event asks of the sockets; `true` if it
    /// was a forward's event.
    pub fn handle_event(&self, event: &M::Event) -> bool {
        let Some(event) = M::forward_event(event) else {
            return false;
        };
        let id = event.id();
        match event {
            ForwardEvent::Requested { port, .. } => self.connect(id, *port),
            ForwardEvent::Data { data, .. } => {
                if let Some(s) = lock(&self.sockets).get(&id) {
                    let _ = s.to_socket.send(ToSocket::Data(data.clone()));
                }
            }
            ForwardEvent::Finished { .. } => {
                let finished = lock(&self.sockets).get(&id).map(|s| {
                    let _ = s.to_socket.send(ToSocket::Finish);
                    Arc::clone(&s.finished)
                });
                if let Some(finished) = finished {
                    side_finished(&self.sockets, id, &finished);
                }
            }
            ForwardEvent::Credit { .. } => {
                if let Some(s) = lock(&self.sockets).get(&id) {
                    s.credit.notify_one();
                }
            }
            ForwardEvent::Closed { .. } => {
                lock(&self.sockets).remove(&id);
            }
            _ => {}
        }
        true
    }

    /// Host side: connect forward `id` to `127.0.0.1:port`. What arrives
    /// meanwhile waits in the socket's queue (the machine's window bounds
    /// it).
    fn connect(&self, id: ForwardId, port: u32) {
        let (queued, credit) = self.register(id);
        let forwards = self.clone();
        tokio::spawn(async move {
            let Ok(port) = u16::try_from(port) else {
                return;
            };
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let connected = tokio::time::timeout(FORWARD_CONNECT_TIMEOUT, TcpStream::connect(addr))
                .await
                .ok()
                .and_then(Result::ok);
            let Some(tcp) = connected else {
                tracing::debug!(port, "forward refused: nothing answers on the port");
                lock(&forwards.sockets).remove(&id);
                forwards
                    .commander
                    .run(move |m, _| m.forward_refused(id))
                    .await;
                return;
            };
            let accepted = forwards
                .commander
                .call(move |m, _| m.forward_connected(id))
                .await;
            if accepted == Some(true) {
                forwards.start(id, tcp, queued, credit);
            } else {
                lock(&forwards.sockets).remove(&id);
            }
        });
    }

    /// Participant side: `tcp` carries forward `id`, just opened.
    pub fn attach(&self, id: ForwardId, tcp: TcpStream) {
        let (queued, credit) = self.register(id);
        self.start(id, tcp, queued, credit);
    }

    /// A socket entry for `id`, before its socket: its queue and credit.
    fn register(&self, id: ForwardId) -> (mpsc::UnboundedReceiver<ToSocket>, Arc<Notify>) {
        let (to_socket, queued) = mpsc::unbounded_channel();
        let credit = Arc::new(Notify::new());
        lock(&self.sockets).insert(
            id,
            Socket {
                to_socket,
                credit: Arc::clone(&credit),
                reader: None,
                finished: Arc::default(),
            },
        );
        (queued, credit)
    }

    fn start(
        &self,
        id: ForwardId,
        tcp: TcpStream,
        mut queued: mpsc::UnboundedReceiver<ToSocket>,
        credit: Arc<Notify>,
    ) {
        let _ = tcp.set_nodelay(true);
        let (mut read, mut write) = tcp.into_split();
        let commander = self.commander.clone();
        let Some(finished) = lock(&self.sockets)
            .get(&id)
            .map(|s| Arc::clone(&s.finished))
        else {
            return;
        };
        let sockets = Arc::clone(&self.sockets);
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; FORWARD_CHUNK];
            loop {
                let n = match read.read(&mut buf).await {
                    Ok(0) => {
                        commander
                            .run(move |m, _| {
                                let _ = m.forward_finish(id);
                            })
                            .await;
                        side_finished(&sockets, id, &finished);
                        return;
                    }
                    Ok(n) => n,
                    Err(_) => {
                        // The machine ends the stream without an event:
                        // the socket is forgotten here.
                        commander.run(move |m, _| m.forward_close(id)).await;
                        lock(&sockets).remove(&id);
                        return;
                    }
                };
                let mut chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                while !chunk.is_empty() {
                    let offer = chunk.clone();
                    match commander
                        .call(move |m, _| m.forward_write(id, &offer))
                        .await
                    {
                        Some(Ok(0)) => credit.notified().await,
                        Some(Ok(taken)) => {
                            let _ = chunk.split_to(taken.min(chunk.len()));
                        }
                        // The stream or the loop is gone.
                        _ => return,
                    }
                }
            }
        });
        let commander = self.commander.clone();
        let sockets = Arc::clone(&self.sockets);
        tokio::spawn(async move {
            while let Some(item) = queued.recv().await {
                match item {
                    ToSocket::Data(data) => {
                        if write.write_all(&data).await.is_err() {
                            commander.run(move |m, _| m.forward_close(id)).await;
                            lock(&sockets).remove(&id);
                            return;
                        }
                        let n = data.len();
                        commander.run(move |m, _| m.forward_consumed(id, n)).await;
                    }
                    ToSocket::Finish => {
                        let _ = write.shutdown().await;
                    }
                }
            }
        });
        match lock(&self.sockets).get_mut(&id) {
            Some(socket) => socket.reader = Some(reader.abort_handle()),
            None => reader.abort(),
        }
    }
}

/// Listen on `listener` for `join --forward`: every connection to it
/// becomes a sealed forward to the host's published `port`. Runs until
/// the participant loop ends. A connection made while the participant is
/// not joined, or before the host's ticket arrived, waits for them up to
/// [`FORWARD_CONNECT_TIMEOUT`]; one the machine refuses (a reader, a port
/// not published, too many open) is closed and logged.
pub async fn listen<R: CryptoRng + Send + 'static>(
    listener: TcpListener,
    port: u32,
    forwards: Forwards<Participant<R>>,
) -> io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        let forwards = forwards.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + FORWARD_CONNECT_TIMEOUT;
            loop {
                let opened: Option<Result<ForwardId, ActionError>> = forwards
                    .commander
                    .call(move |p, _| p.open_forward(port))
                    .await;
                match opened {
                    Some(Ok(id)) => return forwards.attach(id, tcp),
                    Some(Err(ActionError::NotReady | ActionError::NotJoined))
                        if tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Some(Err(e)) => {
                        return tracing::warn!(%peer, port, error = %e, "connection not forwarded");
                    }
                    None => return,
                }
            }
        });
    }
}
