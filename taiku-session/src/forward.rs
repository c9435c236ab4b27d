//! Port forwards (SPEC.md 6.8): what the host, participants and the relay
//! share. A forward is a byte stream between one participant (or, for an
//! HTTP tunnel, the relay) and the host, which connects it to a published
//! port on its loopback interface. Each direction is flow-controlled by
//! credit: a sender has [`FORWARD_WINDOW`] data bytes in flight at most,
//! and the receiver gives credit back as it delivers them.

use bytes::Bytes;
use taiku_crypto::StreamSealer;
use taiku_proto::limits::{FORWARD_WINDOW, MAX_TUNNEL_PORTS};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Frame, ParticipantId};

pub use taiku_proto::limits::{FORWARD_CHUNK, RELAY_STREAM_BASE};
pub use taiku_proto::message::ForwardEnd;

/// One forward stream: the participant it belongs to and the stream id it
/// (or, from [`RELAY_STREAM_BASE`] up, the relay) chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ForwardId {
    /// The participant that opened the forward (for an HTTP tunnel, the
    /// participant whose credential the request carried).
    pub participant: ParticipantId,
    /// The stream id.
    pub stream: u32,
}

impl core::fmt::Display for ForwardId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "forward {} of participant {}",
            self.stream, self.participant
        )
    }
}

/// What a forward stream asks of the application, the host's or a
/// participant's (`HostEvent::Forward`, `ParticipantEvent::Forward`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardEvent {
    /// The host: connect `id` to `127.0.0.1:port`, then call
    /// `Host::forward_connected` or `Host::forward_refused`. Its data may
    /// arrive before: hold it until connected.
    Requested {
        /// The stream.
        id: ForwardId,
        /// The published local port.
        port: u32,
    },
    /// A participant: the host connected `id` to its port; bytes flow both
    /// ways.
    Opened {
        /// The stream.
        id: ForwardId,
    },
    /// Bytes of `id` for the local socket, in order; once written, report
    /// them with `forward_consumed` so that credit goes back.
    Data {
        /// The stream.
        id: ForwardId,
        /// The bytes.
        data: Bytes,
    },
    /// The other end finished sending on `id`: shut down the local
    /// socket's writing side.
    Finished {
        /// The stream.
        id: ForwardId,
    },
    /// The other end gave `bytes` of credit back: that much more may be
    /// written with `forward_write`.
    Credit {
        /// The stream.
        id: ForwardId,
        /// Credit added.
        bytes: usize,
    },
    /// `id` is over: close its socket.
    Closed {
        /// The stream.
        id: ForwardId,
        /// Why.
        reason: ForwardEnd,
    },
}

impl ForwardEvent {
    /// The stream the event is about.
    pub fn id(&self) -> ForwardId {
        match self {
            ForwardEvent::Requested { id, .. }
            | ForwardEvent::Opened { id }
            | ForwardEvent::Data { id, .. }
            | ForwardEvent::Finished { id }
            | ForwardEvent::Credit { id, .. }
            | ForwardEvent::Closed { id, .. } => *id,
        }
    }
}

/// A credential for a session's HTTP tunnels (SPEC.md 12.4): a bearer
/// secret while its participant stays joined. It is not printed by
/// `Debug`, compared in constant time, and wiped when dropped.
#[derive(Clone)]
pub struct TunnelToken(pub(crate) String);

impl TunnelToken {
    /// The token, to hand to the relay's `/t/<session>/login` (and
    /// nowhere else).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for TunnelToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TunnelToken(..)")
    }
}

impl PartialEq for TunnelToken {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for TunnelToken {}

impl Drop for TunnelToken {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// A forward call the machine cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// No such forward (it ended, or never existed).
    #[error("no such forward")]
    UnknownStream,
    /// This end has finished sending already.
    #[error("the forward's sending side is finished")]
    Finished,
    /// The stream is not open yet (the host has not connected it).
    #[error("the forward is not open yet")]
    NotOpen,
}

/// A port is not one a host can publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Port 0, or above 65535.
    #[error("not a TCP port")]
    InvalidPort,
    /// [`MAX_TUNNEL_PORTS`] are published already.
    #[error("too many published ports")]
    TooMany,
}

/// Check a `TunnelPorts`: both lists valid, and the HTTP ports among the
/// published ones.
pub(crate) fn valid_tunnels(msg: &m::TunnelPorts) -> bool {
    valid_ports(&msg.ports)
        && valid_ports(&msg.http)
        && msg.http.iter().all(|p| msg.ports.binary_search(p).is_ok())
}

/// Check a port list as it travels in `TunnelPorts`: ascending, distinct,
/// real ports, at most [`MAX_TUNNEL_PORTS`].
pub(crate) fn valid_ports(ports: &[u32]) -> bool {
    ports.len() <= MAX_TUNNEL_PORTS
        && ports.iter().all(|p| (1..=65535).contains(p))
        && ports.windows(2).all(|w| w[0] < w[1])
}

/// Add `port` to a published set.
pub(crate) fn publish(ports: &mut Vec<u32>, port: u32) -> Result<bool, PublishError> {
    if !(1..=65535).contains(&port) {
        return Err(PublishError::InvalidPort);
    }
    match ports.binary_search(&port) {
        Ok(_) => Ok(false),
        Err(_) if ports.len() >= MAX_TUNNEL_PORTS => Err(PublishError::TooMany),
        Err(at) => {
            ports.insert(at, port);
            Ok(true)
        }
    }
}

/// One end's sending direction of a stream: sealed under its run, or (an
/// HTTP tunnel stream, at the host) in the clear as `ForwardData`.
pub(crate) struct Sending {
    id: ForwardId,
    sealer: Option<StreamSealer>,
    finished: bool,
}

impl Sending {
    /// A sealed direction.
    pub(crate) fn sealed(id: ForwardId, sealer: StreamSealer) -> Self {
        Sending {
            id,
            sealer: Some(sealer),
            finished: false,
        }
    }

    /// An HTTP tunnel stream's direction.
    pub(crate) fn plain(id: ForwardId) -> Self {
        Sending {
            id,
            sealer: None,
            finished: false,
        }
    }

    /// Whether FIN was sent.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Take what `flow`'s credit allows of `data`: how much, and its
    /// frame (none for nothing).
    pub(crate) fn write(
        &mut self,
        flow: &mut Flow,
        data: &[u8],
    ) -> Result<(usize, Option<Frame>), ForwardError> {
        if self.finished {
            return Err(ForwardError::Finished);
        }
        let n = flow.take(data.len());
        let Some(data) = data.get(..n).filter(|d| !d.is_empty()) else {
            return Ok((0, None));
        };
        let frame = match &mut self.sealer {
            Some(sealer) => Frame::Sealed(sealer.seal(data).map_err(|_| ForwardError::Finished)?),
            None => self.plain_frame(Bytes::copy_from_slice(data), false),
        };
        Ok((n, Some(frame)))
    }

    /// The end of this direction (FIN), once.
    pub(crate) fn finish(&mut self) -> Result<Option<Frame>, ForwardError> {
        if self.finished {
            return Ok(None);
        }
        self.finished = true;
        Ok(Some(match &mut self.sealer {
            Some(sealer) => Frame::Sealed(sealer.finish().map_err(|_| ForwardError::Finished)?),
            None => self.plain_frame(Bytes::new(), true),
        }))
    }

    fn plain_frame(&self, data: Bytes, fin: bool) -> Frame {
        Frame::control(Body::ForwardData(m::ForwardData {
            stream: self.id.stream,
            participant: self.id.participant.0,
            data,
            fin,
        }))
    }
}

/// `ForwardCredit` for `id`.
pub(crate) fn credit_frame(id: ForwardId, bytes: u32) -> Frame {
    Frame::control(Body::ForwardCredit(m::ForwardCredit {
        stream: id.stream,
        participant: id.participant.0,
        bytes,
    }))
}

/// `ForwardClose` for `id`.
pub(crate) fn close_frame(id: ForwardId, reason: ForwardEnd) -> Frame {
    Frame::control(Body::ForwardClose(m::ForwardClose {
        stream: id.stream,
        participant: id.participant.0,
        reason: reason as i32,
    }))
}

/// Credit given back once this much was delivered (or at the end).
const CREDIT_BATCH: usize = FORWARD_WINDOW / 4;

/// One end's flow control of one stream.
#[derive(Debug)]
pub(crate) struct Flow {
    /// Data bytes this end may still send.
    send_credit: usize,
    /// Data bytes received and not yet credited back.
    unacked: usize,
    /// Of those, delivered by the application: credited back in batches.
    delivered: usize,
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            send_credit: FORWARD_WINDOW,
            unacked: 0,
            delivered: 0,
        }
    }
}

/// The peer broke the flow control rules.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FlowViolation;

impl Flow {
    /// How much of `len` bytes may be sent now (at most one chunk); taken
    /// from the credit.
    pub(crate) fn take(&mut self, len: usize) -> usize {
        let n = len.min(self.send_credit).min(FORWARD_CHUNK);
        self.send_credit -= n;
        n
    }

    /// Credit from the peer; more than a window in all is a violation.
    pub(crate) fn credited(&mut self, bytes: u32) -> Result<(), FlowViolation> {
        let total = self.send_credit.saturating_add(bytes as usize);
        if total > FORWARD_WINDOW {
            return Err(FlowViolation);
        }
        self.send_credit = total;
        Ok(())
    }

    /// `len` data bytes arrived; beyond the window is a violation.
    pub(crate) fn received(&mut self, len: usize) -> Result<(), FlowViolation> {
        if len > FORWARD_CHUNK || self.unacked + len > FORWARD_WINDOW {
            return Err(FlowViolation);
        }
        self.unacked += len;
        Ok(())
    }

    /// The application delivered `n` bytes: the credit to give back now,
    /// if a batch is complete (or `flush`, at the end of the stream).
    pub(crate) fn delivered(&mut self, n: usize, flush: bool) -> Option<u32> {
        self.delivered = (self.delivered + n).min(self.unacked);
        if self.delivered == 0 || !(flush || self.delivered >= CREDIT_BATCH) {
            return None;
        }
        let credit = self.delivered;
        self.unacked -= credit;
        self.delivered = 0;
        u32::try_from(credit).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_never_has_more_than_a_window_in_flight() {
        let mut flow = Flow::default();
        let mut sent = 0;
        while flow.take(FORWARD_CHUNK) > 0 {
            sent += FORWARD_CHUNK;
        }
        assert_eq!(sent, FORWARD_WINDOW);
        assert_eq!(flow.credited(1000), Ok(()));
        assert_eq!(flow.take(5000), 1000);
        assert_eq!(
            flow.credited((FORWARD_WINDOW + 1) as u32),
            Err(FlowViolation)
        );
    }

    #[test]
    fn credit_comes_back_in_batches_and_at_the_end() {
        let mut flow = Flow::default();
        assert_eq!(flow.received(FORWARD_CHUNK), Ok(()));
        assert_eq!(flow.delivered(CREDIT_BATCH - 1, false), None);
        assert_eq!(flow.delivered(1, false), Some(CREDIT_BATCH as u32));
        assert_eq!(flow.received(10), Ok(()));
        assert_eq!(flow.delivered(10, true), Some(10));
        assert_eq!(flow.delivered(0, true), None);
        // Nobody may deliver more than arrived.
        assert_eq!(flow.received(100), Ok(()));
        assert_eq!(flow.delivered(1 << 20, true), Some(100));
    }

    #[test]
    fn a_receiver_refuses_more_than_the_window() {
        let mut flow = Flow::default();
        for _ in 0..FORWARD_WINDOW / FORWARD_CHUNK {
            assert_eq!(flow.received(FORWARD_CHUNK), Ok(()));
        }
        assert_eq!(flow.received(1), Err(FlowViolation));
        assert_eq!(
            Flow::default().received(FORWARD_CHUNK + 1),
            Err(FlowViolation)
        );
    }

    #[test]
    fn port_lists_are_ascending_distinct_and_bounded() {
        assert!(valid_ports(&[80, 3000, 8080]));
        assert!(!valid_ports(&[3000, 80]));
        assert!(!valid_ports(&[80, 80]));
        assert!(!valid_ports(&[0]));
        assert!(!valid_ports(&[65536]));
        let many: Vec<u32> = (1..=MAX_TUNNEL_PORTS as u32 + 1).collect();
        assert!(!valid_ports(&many));
        let mut ports = Vec::new();
        assert_eq!(publish(&mut ports, 8080), Ok(true));
        assert_eq!(publish(&mut ports, 3000), Ok(true));
        assert_eq!(publish(&mut ports, 3000), Ok(false));
        assert_eq!(ports, [3000, 8080]);
        assert_eq!(publish(&mut ports, 0), Err(PublishError::InvalidPort));
        let tunnels = |ports: Vec<u32>, http: Vec<u32>| m::TunnelPorts { ports, http };
        assert!(valid_tunnels(&tunnels(vec![80, 3000], vec![3000])));
        assert!(!valid_tunnels(&tunnels(vec![80], vec![3000])));
        assert!(!valid_tunnels(&tunnels(vec![80, 3000], vec![3000, 80])));
    }
}
