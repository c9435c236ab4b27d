//! One relay connection, whatever carries its frames: its writer queue
//! towards the socket, and the task that moves its frames both ways
//! between the socket and the relay loop.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use taiku_proto::Frame;
use taiku_proto::limits::MAX_FRAME_LEN_LIMIT;
use taiku_session::relay::{ConnId, Source};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::{CLOSE_GRACE, CountClose, Front, Kind, WRITER_QUEUE, WRITER_QUEUE_BYTES};
use crate::drive::outbox::{OutboxRx, OutboxTx, outbox};
use crate::drive::places::{PendingPlace, Places};
use crate::frames::{FrameSink, FrameSource, StreamSink, StreamSource};
use crate::web::REQUEST_HEAD_TIMEOUT;
use crate::ws::{self, Accepted};

pub(super) enum ToRelay {
    /// A connection: its writer queue, and the signal that the
    /// machine closed it.
    Connect(ConnId, Queue, oneshot::Sender<Closing>),
    Message(ConnId, Bytes),
    Gone(ConnId),
    /// An HTTP tunnel request (SPEC.md 12.4): a connection too, if the
    /// machine opens its stream.
    Tunnel {
        id: ConnId,
        session: String,
        token: String,
        port: u32,
        queue: Queue,
        closing: oneshot::Sender<Closing>,
        reply: oneshot::Sender<Result<(), taiku_session::relay::TunnelRefusal>>,
    },
    /// A tunnel login: whether the credential is valid, and for how many
    /// seconds at most.
    Credential {
        session: String,
        token: String,
        reply: oneshot::Sender<Option<u64>>,
    },
}

pub(super) enum Outgoing {
    Frame(Frame),
    Close,
}

/// A connection's writer queue: bounded in frames by the channel and in
/// bytes by `bytes`, which the writer task lowers as it writes.
pub(super) struct Queue {
    pub(super) tx: OutboxTx<Outgoing>,
    pub(super) bytes: Arc<AtomicUsize>,
    /// Raised when the machine admits the connection: it may then send
    /// more than `ws::MAX_PRE_ADMISSION_BYTES`.
    pub(super) admitted: ws::Admitted,
    /// Where the connection comes from, for the machine's per-source
    /// limits.
    pub(super) source: Source,
}

/// The bytes a frame takes on the wire.
fn wire_len(frame: &Frame) -> usize {
    match frame {
        Frame::Sealed(sealed) => sealed.as_bytes().len(),
        Frame::Control(_) => frame.to_bytes(MAX_FRAME_LEN_LIMIT).map_or(0, |b| b.len()),
    }
}

/// The machine closed a connection: it must be gone in bounded time, since
/// the machine no longer counts it.
pub(super) enum Closing {
    /// The close is queued after the last frames: the peer gets the send
    /// timeout to take them all.
    Queued,
    /// These last frames and the close did not fit in the writer queue:
    /// the peer gets [`CLOSE_GRACE`] to take the queue and them.
    Overflow(VecDeque<Frame>),
}

pub(super) struct Writer {
    pub(super) queue: Queue,
    /// Frames the writer queue had no room for, in order; while there are
    /// any, the machine has been told the connection is blocked. Bounded
    /// by what the machine emits for a blocked connection: nothing, or
    /// its queue when it closes it.
    pub(super) stash: VecDeque<Frame>,
    /// Tells the connection the machine closed it.
    pub(super) closing: oneshot::Sender<Closing>,
}

impl Queue {
    /// Queue `frame` if the queue has room in frames and in bytes (an
    /// empty queue takes any frame); else hand it back.
    #[allow(clippy::result_large_err)] // the frame handed back is the point
    pub(super) fn try_send(&self, frame: Frame) -> Result<(), Frame> {
        let len = wire_len(&frame);
        let queued = self.bytes.load(Ordering::Acquire);
        if queued > 0 && queued + len > WRITER_QUEUE_BYTES {
            return Err(frame);
        }
        // Counted before the writer task can take it (and count it off).
        self.bytes.fetch_add(len, Ordering::AcqRel);
        match self.tx.try_send(Outgoing::Frame(frame)) {
            Ok(()) => Ok(()),
            Err(item) => {
                self.bytes.fetch_sub(len, Ordering::AcqRel);
                match item {
                    Outgoing::Frame(frame) => Err(frame),
                    // Only a frame went in.
                    Outgoing::Close => Ok(()),
                }
            }
        }
    }
}

impl Writer {
    /// Queue `frame` behind the stash; false if it had to be stashed.
    pub(super) fn send(&mut self, frame: Frame) -> bool {
        if self.stash.is_empty() {
            match self.queue.try_send(frame) {
                Ok(()) => return true,
                Err(frame) => self.stash.push_back(frame),
            }
        } else {
            self.stash.push_back(frame);
        }
        false
    }

    /// Move stashed frames into the queue while it has room; true when the
    /// stash is empty.
    pub(super) fn flush(&mut self) -> bool {
        while let Some(frame) = self.stash.pop_front() {
            if let Err(frame) = self.queue.try_send(frame) {
                self.stash.push_front(frame);
                return false;
            }
        }
        true
    }

    /// Close after every frame: through the queue if everything fits,
    /// else handing the connection what did not.
    pub(super) fn close(mut self) {
        let closing = if self.flush() && self.queue.tx.try_send(Outgoing::Close).is_ok() {
            Closing::Queued
        } else {
            Closing::Overflow(self.stash)
        };
        let _ = self.closing.send(closing);
    }
}

pub(super) async fn connection(
    id: ConnId,
    tcp: TcpStream,
    places: Places,
    front: Front,
    to_relay: mpsc::Sender<ToRelay>,
    send_timeout: Duration,
) {
    let _count = CountClose(front.closed.clone());
    let Places {
        mut pending,
        pending_from_source,
        from_source: held_while_connected,
    } = places;
    let source = Source(match held_while_connected.source {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    });
    let admitted = ws::Admitted::default();
    let max_frame_len = front.max_frame_len;
    let PendingPlace { evicted, .. } = &mut pending;
    let conn = Conn {
        id,
        admitted: admitted.clone(),
        source,
        to_relay: &to_relay,
        send_timeout,
        max_frame_len,
    };
    match front.kind {
        Kind::WebSocket => {
            let accepted = tokio::select! {
                accepted = ws::accept_or_serve(
                    tcp,
                    front.tls.as_ref(),
                    front.web.as_deref(),
                    &front.hosts,
                    &admitted,
                    max_frame_len,
                ) => accepted,
                _ = evicted => {
                    tracing::debug!(conn = id.0, "pending connection closed for a newcomer");
                    return;
                }
            };
            drop((pending, pending_from_source));
            let ws = match accepted {
                Ok(Accepted::WebSocket(ws)) => *ws,
                Ok(Accepted::Tunnel(request)) => {
                    return boxed(super::tunnel::serve_tunnel(conn, *request)).await;
                }
                Ok(Accepted::Answered(status)) => {
                    tracing::debug!(conn = id.0, status = status.code(), "http request answered");
                    return;
                }
                Err(e) => {
                    tracing::debug!(conn = id.0, error = %e, "handshake failed");
                    return;
                }
            };
            let (sink, stream) = ws.split();
            boxed(serve(conn, sink, stream)).await;
        }
        Kind::Stream => {
            let _ = tcp.set_nodelay(true);
            let io: Box<dyn ws::Io> = match &front.tls {
                None => Box::new(tcp),
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(REQUEST_HEAD_TIMEOUT, acceptor.accept(tcp));
                    let tls = tokio::select! {
                        tls = handshake => tls,
                        _ = evicted => {
                            tracing::debug!(conn = id.0, "pending connection closed for a newcomer");
                            return;
                        }
                    };
                    match tls {
                        Ok(Ok(tls)) => Box::new(tls),
                        _ => {
                            tracing::debug!(conn = id.0, "TLS handshake failed");
                            return;
                        }
                    }
                }
            };
            drop((pending, pending_from_source));
            let (read, write) = tokio::io::split(io);
            let Ok(stream) = StreamSource::before_admission(read, max_frame_len, admitted) else {
                return;
            };
            boxed(serve(conn, StreamSink::new(write), stream)).await;
        }
    }
}

/// The serving future with its type erased: rustc cannot yet prove a
/// generic `async fn` with borrowed arguments `Send` for every lifetime
/// inside `tokio::spawn` (rust-lang/rust#110338); a boxed future is
/// checked once, here.
fn boxed<'a>(
    f: impl std::future::Future<Output = ()> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    Box::pin(f)
}

/// What serving one connection needs, whatever its transport.
pub(super) struct Conn<'a> {
    pub(super) id: ConnId,
    admitted: ws::Admitted,
    source: Source,
    pub(super) to_relay: &'a mpsc::Sender<ToRelay>,
    pub(super) send_timeout: Duration,
    max_frame_len: usize,
}

/// The connection's side of its writer queue, once registered.
pub(super) struct Registration {
    rx: OutboxRx<Outgoing>,
    bytes: Arc<AtomicUsize>,
    closed: oneshot::Receiver<Closing>,
}

/// A writer queue for `conn`, and the signal the machine closed it, to
/// register with the relay loop.
pub(super) fn queue_for(conn: &Conn<'_>) -> (Queue, oneshot::Sender<Closing>, Registration) {
    let (tx, rx) = outbox(WRITER_QUEUE);
    let bytes = Arc::new(AtomicUsize::new(0));
    let queue = Queue {
        tx,
        bytes: Arc::clone(&bytes),
        admitted: conn.admitted.clone(),
        source: conn.source,
    };
    let (closing, closed) = oneshot::channel();
    (queue, closing, Registration { rx, bytes, closed })
}

/// Serve one connection: register it with the relay loop, then move its
/// frames both ways until either side ends it.
async fn serve<S: FrameSink, R: FrameSource>(conn: Conn<'_>, sink: S, stream: R) {
    let (queue, closing, registration) = queue_for(&conn);
    if conn
        .to_relay
        .send(ToRelay::Connect(conn.id, queue, closing))
        .await
        .is_err()
    {
        return;
    }
    pump(conn, sink, stream, registration).await;
}

/// Move a registered connection's frames both ways until either side
/// ends it; then tell the relay loop it is gone.
pub(super) async fn pump<S: FrameSink, R: FrameSource>(
    conn: Conn<'_>,
    sink: S,
    stream: R,
    registration: Registration,
) {
    let Conn {
        id,
        to_relay,
        send_timeout,
        max_frame_len,
        ..
    } = conn;
    let Registration {
        rx,
        bytes,
        mut closed,
    } = registration;
    let mut writer = pin!(write(id, sink, rx, bytes, send_timeout, max_frame_len));
    let mut reader = pin!(read(id, stream, to_relay));
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            closing = &mut closed, if open => match closing {
                Ok(closing) => {
                    // The machine closed the connection: the peer gets its
                    // last frames if it takes them in time, then the socket
                    // is dropped, however slowly it reads.
                    let (grace, rest) = match closing {
                        Closing::Queued => (send_timeout, VecDeque::new()),
                        Closing::Overflow(rest) => (CLOSE_GRACE, rest),
                    };
                    let _ = tokio::time::timeout(grace, async {
                        if let Some(mut sink) = (&mut writer).await {
                            for frame in rest {
                                if !send(id, &mut sink, frame, send_timeout, max_frame_len).await {
                                    return;
                                }
                            }
                            let _ = tokio::time::timeout(send_timeout, FrameSink::close(&mut sink)).await;
                        }
                    })
                    .await;
                    break;
                }
                // The relay loop dropped the connection without a close.
                Err(_) => open = false,
            },
            _ = &mut writer => break,
            _ = &mut reader => break,
        }
    }
    let _ = to_relay.send(ToRelay::Gone(id)).await;
}

/// Write what the relay queues; the sink back when the queue is closed
/// (the relay loop dropped it), `None` once the connection is closed or
/// failed.
async fn write<S: FrameSink>(
    id: ConnId,
    mut sink: S,
    mut rx: OutboxRx<Outgoing>,
    queued: Arc<AtomicUsize>,
    send_timeout: Duration,
    max_frame_len: usize,
) -> Option<S> {
    while let Some(item) = rx.recv().await {
        match item {
            Outgoing::Frame(frame) => {
                let len = wire_len(&frame);
                let sent = send(id, &mut sink, frame, send_timeout, max_frame_len).await;
                queued.fetch_sub(len, Ordering::AcqRel);
                if !sent {
                    return None;
                }
            }
            Outgoing::Close => {
                let _ = tokio::time::timeout(send_timeout, FrameSink::close(&mut sink)).await;
                return None;
            }
        }
    }
    Some(sink)
}

/// Send one frame within `send_timeout`; false if the connection is done.
async fn send<S: FrameSink>(
    id: ConnId,
    sink: &mut S,
    frame: Frame,
    send_timeout: Duration,
    max_frame_len: usize,
) -> bool {
    let Ok(bytes) = frame.to_bytes(max_frame_len) else {
        return true;
    };
    match tokio::time::timeout(send_timeout, sink.send(bytes)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::debug!(conn = id.0, "peer not reading, dropped");
            false
        }
    }
}

/// Hand every frame to the relay until the peer closes.
async fn read<R: FrameSource>(id: ConnId, mut stream: R, to_relay: &mpsc::Sender<ToRelay>) {
    loop {
        match stream.recv().await {
            Ok(Some(bytes)) => {
                if to_relay.send(ToRelay::Message(id, bytes)).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(conn = id.0, error = %e, "connection failed");
                break;
            }
        }
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use taiku_proto::{Direction, Epoch, ParticipantId, SessionId, TerminalId};

    fn big_frame(len: usize) -> Frame {
        let keys = taiku_crypto::KeySchedule::new(
            &taiku_crypto::LinkSecret::from_bytes(taiku_proto::Role::Admin, [4; 32]),
            &SessionId::new("writer-queue-test").unwrap(),
        );
        let mut sealer = keys
            .sealer(
                TerminalId(1),
                Direction::Output,
                ParticipantId::HOST,
                Epoch([1; 16]),
            )
            .unwrap();
        Frame::Sealed(sealer.seal(&vec![0; len]).unwrap())
    }

    /// Finding 14.7: the writer queue held 256 frames whatever their
    /// size, so one slow viewer of 1 MB frames cost 287 MiB. It is bounded
    /// in bytes too: an empty queue takes one frame, then only what fits.
    #[test]
    fn the_writer_queue_is_bounded_in_bytes() {
        let (tx, _rx) = outbox(WRITER_QUEUE);
        let queue = Queue {
            tx,
            bytes: Arc::new(AtomicUsize::new(0)),
            admitted: ws::Admitted::default(),
            source: Source([0; 16]),
        };
        let frame = big_frame(900_000);
        assert!(
            queue.try_send(frame.clone()).is_ok(),
            "an empty queue takes a frame"
        );
        assert!(
            queue.try_send(frame.clone()).is_err(),
            "a second does not fit"
        );
        let small = big_frame(10);
        assert!(queue.try_send(small).is_ok(), "a small one does");
        assert!(queue.bytes.load(Ordering::Acquire) <= WRITER_QUEUE_BYTES);
        // As the writer task writes, room comes back.
        queue.bytes.store(0, Ordering::Release);
        assert!(queue.try_send(frame).is_ok());
    }
}
