//! HTTP tunnel connections (SPEC.md 12.4): a browser's request under
//! `/t/<session>/` becomes a relay connection of its own that speaks
//! `ForwardData`, `ForwardCredit` and `ForwardClose` with the relay
//! machine. [`TunnelSink`] writes the host's answer to the browser (its
//! head rewritten, or a page of the relay's own when there is none);
//! [`TunnelSource`] reads the request within the host's credit. Every
//! decision (credentials, ports, limits, timeouts) is the machine's.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use taiku_proto::Frame;
use taiku_proto::limits::{FORWARD_CHUNK, MAX_FRAME_LEN_LIMIT};
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_session::relay::TunnelRefusal;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Notify, oneshot};

use super::connection::{Conn, ToRelay, pump, queue_for};
use crate::frames::{FrameSink, FrameSource};
use crate::web::tunnel::{
    TunnelFault, browser_response_head, login_answer, response_head_len, response_status,
};
use crate::ws::{Io, TunnelRequest, TunnelRequestKind};

/// What the two halves of a tunnel connection share.
#[derive(Default)]
struct Shared {
    /// Request bytes the host's credit still allows.
    credit: AtomicUsize,
    /// Response bytes taken and not yet credited back.
    taken: AtomicUsize,
    /// Something of the response was written.
    answered: AtomicBool,
    /// Wakes the reading half: credit came, or response bytes were taken.
    wake: Notify,
}

/// Serve one tunnel request.
pub(super) async fn serve_tunnel(conn: Conn<'_>, request: TunnelRequest) {
    let TunnelRequest {
        mut io,
        session,
        kind,
        secure,
    } = request;
    match kind {
        TunnelRequestKind::Login { token } => {
            let (reply, valid) = oneshot::channel();
            let asked = ToRelay::Credential {
                session: session.clone(),
                token: token.clone(),
                reply,
            };
            let answer = match conn.to_relay.send(asked).await {
                Ok(()) => match valid.await {
                    Ok(Some(max_age)) => login_answer(&session, &token, max_age, secure),
                    _ => TunnelFault::Forbidden.answer(),
                },
                Err(_) => TunnelFault::HostOffline.answer(),
            };
            let _ = tokio::time::timeout(conn.send_timeout, async {
                io.write_all(&answer).await?;
                io.shutdown().await
            })
            .await;
        }
        TunnelRequestKind::Port {
            port,
            token,
            request,
            body_left,
        } => {
            let Some(token) = token else {
                return answer(io, TunnelFault::Forbidden, &conn).await;
            };
            let prefix = format!("/t/{session}/p/{port}/");
            let (queue, closing, registration) = queue_for(&conn);
            let (reply, opened) = oneshot::channel();
            let open = ToRelay::Tunnel {
                id: conn.id,
                session,
                token,
                port,
                queue,
                closing,
                reply,
            };
            if conn.to_relay.send(open).await.is_err() {
                return answer(io, TunnelFault::HostOffline, &conn).await;
            }
            match opened.await {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => return answer(io, fault_of(refusal), &conn).await,
                Err(_) => return answer(io, TunnelFault::HostOffline, &conn).await,
            }
            let shared = Arc::new(Shared::default());
            shared
                .credit
                .store(taiku_proto::limits::FORWARD_WINDOW, Ordering::Release);
            let (read, write) = tokio::io::split(io);
            let sink = TunnelSink {
                write,
                shared: Arc::clone(&shared),
                head: Some(BytesMut::new()),
                prefix,
            };
            let source = TunnelSource {
                read,
                shared,
                pending: Bytes::from(request),
                body_left,
                finished: false,
            };
            pump(conn, sink, source, registration).await;
        }
    }
}

async fn answer(mut io: Box<dyn Io>, fault: TunnelFault, conn: &Conn<'_>) {
    let _ = tokio::time::timeout(conn.send_timeout, async {
        io.write_all(&fault.answer()).await?;
        io.shutdown().await
    })
    .await;
}

fn fault_of(refusal: TunnelRefusal) -> TunnelFault {
    match refusal {
        TunnelRefusal::Forbidden => TunnelFault::Forbidden,
        TunnelRefusal::NotPublished => TunnelFault::NotPublished,
        TunnelRefusal::HostOffline => TunnelFault::HostOffline,
        _ => TunnelFault::Busy,
    }
}

/// The page for a stream that ended before any of its answer came.
fn fault_of_end(reason: ForwardEnd) -> TunnelFault {
    match reason {
        ForwardEnd::NotPublished => TunnelFault::NotPublished,
        ForwardEnd::Limit => TunnelFault::TooLarge,
        ForwardEnd::Timeout => TunnelFault::Timeout,
        ForwardEnd::HostOffline => TunnelFault::HostOffline,
        ForwardEnd::Denied => TunnelFault::Forbidden,
        _ => TunnelFault::LocalServerDown,
    }
}

/// Writes the host's answer to the browser.
struct TunnelSink {
    write: WriteHalf<Box<dyn Io>>,
    shared: Arc<Shared>,
    /// The response head while it is incomplete; `None` once written.
    head: Option<BytesMut>,
    /// `/t/<session>/p/<port>/`, the scope of the server's cookies.
    prefix: String,
}

impl TunnelSink {
    async fn fault(&mut self, fault: TunnelFault) -> io::Result<()> {
        self.shared.answered.store(true, Ordering::Release);
        self.head = None;
        self.write.write_all(&fault.answer()).await?;
        self.write.shutdown().await
    }

    async fn data(&mut self, data: &[u8], fin: bool) -> io::Result<()> {
        let written = self.write_data(data, fin).await;
        // Credit goes back once the bytes are written (or held in the head,
        // at most MAX_RESPONSE_HEAD).
        self.shared.taken.fetch_add(data.len(), Ordering::AcqRel);
        self.shared.wake.notify_one();
        written
    }

    async fn write_data(&mut self, data: &[u8], fin: bool) -> io::Result<()> {
        if let Some(head) = self.head.as_mut() {
            head.extend_from_slice(data);
            while let Some(head) = self.head.as_mut() {
                match response_head_len(head) {
                    Ok(None) if !fin => return Ok(()),
                    Ok(Some(len)) => {
                        let status = response_status(&head[..len]).unwrap_or(0);
                        // An interim answer (100 Continue, 103 Early Hints)
                        // is dropped: the final head, rewritten, is the
                        // only one the browser gets. No upgrades.
                        if (100..200).contains(&status) && status != 101 {
                            let _ = head.split_to(len);
                            continue;
                        }
                        let rewritten = (status != 101)
                            .then(|| browser_response_head(&head[..len], &self.prefix))
                            .flatten();
                        let Some(rewritten) = rewritten else {
                            return self.fault(TunnelFault::LocalServerDown).await;
                        };
                        self.shared.answered.store(true, Ordering::Release);
                        let rest = head.split_off(len);
                        self.head = None;
                        self.write.write_all(&rewritten).await?;
                        self.write.write_all(&rest).await?;
                        break;
                    }
                    // Not HTTP, or it ended before its head did.
                    _ => return self.fault(TunnelFault::LocalServerDown).await,
                }
            }
        } else {
            self.write.write_all(data).await?;
        }
        if fin {
            self.write.flush().await?;
            self.write.shutdown().await?;
        }
        Ok(())
    }
}

impl FrameSink for TunnelSink {
    async fn send(&mut self, frame: Bytes) -> io::Result<()> {
        let Ok(Frame::Control(m::Control { body: Some(body) })) =
            Frame::parse(frame, MAX_FRAME_LEN_LIMIT)
        else {
            return Ok(());
        };
        match body {
            Body::ForwardData(d) => self.data(&d.data, d.fin).await,
            Body::ForwardCredit(c) => {
                self.shared
                    .credit
                    .fetch_add(c.bytes as usize, Ordering::AcqRel);
                self.shared.wake.notify_one();
                Ok(())
            }
            Body::ForwardClose(c) if !self.shared.answered.load(Ordering::Acquire) => {
                let reason = ForwardEnd::try_from(c.reason).unwrap_or(ForwardEnd::Closed);
                self.fault(fault_of_end(reason)).await
            }
            _ => Ok(()),
        }
    }

    async fn close(&mut self) -> io::Result<()> {
        self.write.shutdown().await
    }
}

/// Reads the browser's request within the host's credit, and gives
/// credit back for the answer as it is written.
struct TunnelSource {
    read: ReadHalf<Box<dyn Io>>,
    shared: Arc<Shared>,
    /// The rewritten head and what came with it, not yet sent.
    pending: Bytes,
    /// Bytes of the request's body still to read.
    body_left: u64,
    /// The request is all sent.
    finished: bool,
}

fn control(body: Body) -> Bytes {
    Frame::control(body)
        .to_bytes(MAX_FRAME_LEN_LIMIT)
        .unwrap_or_default()
}

fn data(data: Bytes, fin: bool) -> Bytes {
    control(Body::ForwardData(m::ForwardData {
        data,
        fin,
        ..m::ForwardData::default()
    }))
}

impl FrameSource for TunnelSource {
    async fn recv(&mut self) -> io::Result<Option<Bytes>> {
        let mut buf = vec![0u8; FORWARD_CHUNK];
        loop {
            let taken = self.shared.taken.swap(0, Ordering::AcqRel);
            if taken > 0 {
                return Ok(Some(control(Body::ForwardCredit(m::ForwardCredit {
                    bytes: u32::try_from(taken).unwrap_or(u32::MAX),
                    ..m::ForwardCredit::default()
                }))));
            }
            let credit = self
                .shared
                .credit
                .load(Ordering::Acquire)
                .min(FORWARD_CHUNK);
            if credit > 0 && !self.pending.is_empty() {
                let n = credit.min(self.pending.len());
                self.shared.credit.fetch_sub(n, Ordering::AcqRel);
                return Ok(Some(data(self.pending.split_to(n), false)));
            }
            if self.pending.is_empty() && self.body_left == 0 {
                // The whole request is sent: nothing after it is read. No
                // FIN follows: many servers take a half-closed connection
                // for a client that left, and drop the answer.
                self.finished = true;
            }
            if credit == 0 || self.finished {
                self.shared.wake.notified().await;
                continue;
            }
            let want = credit.min(usize::try_from(self.body_left).unwrap_or(usize::MAX));
            let room = buf.get_mut(..want).unwrap_or_default();
            tokio::select! {
                read = self.read.read(room) => match read? {
                    // The browser left before its request was whole.
                    0 => return Ok(None),
                    n => {
                        self.shared.credit.fetch_sub(n, Ordering::AcqRel);
                        self.body_left = self.body_left.saturating_sub(n as u64);
                        return Ok(Some(data(Bytes::copy_from_slice(buf.get(..n).unwrap_or_default()), false)));
                    }
                },
                () = self.shared.wake.notified() => {}
            }
        }
    }
}
