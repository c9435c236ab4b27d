//! Port forwards (SPEC.md 6.8): what the host, participants and the relay
//! share. A forward is a byte stream between one participant (or, for an
//! HTTP tunnel, the relay) and the host, which connects it to a published
//! port on its loopback interface. Each direction is flow-controlled by
//! credit: a sender has [`FORWARD_WINDOW`] data bytes in flight at most,
//! and the receiver gives credit back as it delivers them.

use taiku_proto::ParticipantId;
use taiku_proto::limits::{FORWARD_WINDOW, MAX_TUNNEL_PORTS};

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
    }
}
