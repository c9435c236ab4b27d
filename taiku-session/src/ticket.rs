//! Input tickets and run starts (SPEC.md 11.1): what makes every input
//! run fresh. The host gives each writer a random ticket and remembers,
//! per terminal, the highest run index it accepted under it; every input
//! run opens with a sealed run start naming that ticket and a higher
//! index. A relay can replay a recorded run, but never make the host start
//! it again: its run start names a ticket the host no longer holds, or an
//! index it has passed. Memory is one ticket per participant and one index
//! per participant and terminal, whatever the relay does.

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

/// Length of a ticket.
pub const TICKET_LEN: usize = 16;

/// Length of a run start: ticket ‖ run index (u64, big-endian).
pub const RUN_START_LEN: usize = TICKET_LEN + 8;

/// Length of a forward's start up: ticket ‖ stream id (u64, big-endian) ‖
/// port (u32, big-endian), SPEC.md 6.8.
pub const FORWARD_START_LEN: usize = TICKET_LEN + 8 + 4;

/// One participant's input ticket.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(pub(crate) [u8; TICKET_LEN]);

impl core::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Ticket(..)")
    }
}

impl Ticket {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; TICKET_LEN];
        rng.fill_bytes(&mut bytes);
        Ticket(bytes)
    }

    /// A ticket from the wire, `None` unless it is [`TICKET_LEN`] bytes.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Ticket)
    }

    /// The plaintext of the first frame of run `index`.
    pub(crate) fn run_start(&self, index: u64) -> [u8; RUN_START_LEN] {
        let mut out = [0u8; RUN_START_LEN];
        out[..TICKET_LEN].copy_from_slice(&self.0);
        out[TICKET_LEN..].copy_from_slice(&index.to_be_bytes());
        out
    }

    /// The plaintext of the first frame up of forward `stream` to `port`.
    pub(crate) fn forward_start(&self, stream: u32, port: u32) -> [u8; FORWARD_START_LEN] {
        let mut out = [0u8; FORWARD_START_LEN];
        out[..RUN_START_LEN].copy_from_slice(&self.run_start(u64::from(stream)));
        out[RUN_START_LEN..].copy_from_slice(&port.to_be_bytes());
        out
    }

    /// Whether `plaintext` is the start of forward `stream` to `port`
    /// under this ticket (the ticket compared in constant time).
    pub(crate) fn is_forward_start(&self, plaintext: &[u8], stream: u32, port: u32) -> bool {
        let Some((run, named_port)) = plaintext
            .split_at_checked(RUN_START_LEN)
            .filter(|(_, p)| p.len() == 4)
        else {
            return false;
        };
        self.run_index(run) == Some(u64::from(stream)) && named_port == port.to_be_bytes()
    }

    /// The run index of a run start under this ticket; `None` if the
    /// plaintext is not a run start or names another ticket (compared in
    /// constant time).
    pub(crate) fn run_index(&self, plaintext: &[u8]) -> Option<u64> {
        let start: &[u8; RUN_START_LEN] = plaintext.try_into().ok()?;
        let (ticket, index) = start.split_at(TICKET_LEN);
        if !bool::from(ticket.ct_eq(&self.0)) {
            return None;
        }
        Some(u64::from_be_bytes(index.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_start_names_its_ticket_and_index() {
        let ticket = Ticket([7; TICKET_LEN]);
        let start = ticket.run_start(0x0102);
        assert_eq!(&start[..TICKET_LEN], &[7; TICKET_LEN]);
        assert_eq!(&start[TICKET_LEN..], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(ticket.run_index(&start), Some(0x0102));
        assert_eq!(Ticket([8; TICKET_LEN]).run_index(&start), None);
        assert_eq!(ticket.run_index(&start[..RUN_START_LEN - 1]), None);
        assert_eq!(ticket.run_index(b"ls\r"), None);
        assert_eq!(Ticket::from_slice(&[1; 15]), None);
    }

    #[test]
    fn a_forward_start_names_its_ticket_stream_and_port() {
        let ticket = Ticket([7; TICKET_LEN]);
        let start = ticket.forward_start(3, 8080);
        assert_eq!(
            &start[TICKET_LEN..],
            &[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0x1f, 0x90]
        );
        assert!(ticket.is_forward_start(&start, 3, 8080));
        assert!(!ticket.is_forward_start(&start, 3, 3000));
        assert!(!ticket.is_forward_start(&start, 4, 8080));
        assert!(!Ticket([8; TICKET_LEN]).is_forward_start(&start, 3, 8080));
        assert!(!ticket.is_forward_start(&start[..FORWARD_START_LEN - 1], 3, 8080));
    }
}

/// The SPEC.md vector `session/input-run-1`.
#[cfg(test)]
mod vector {
    use super::*;
    use crate::spec;
    use taiku_crypto::{KeySchedule, LinkSecret};
    use taiku_proto::{Direction, Epoch, ParticipantId, Role, SessionId, TerminalId};

    #[test]
    fn input_run_vector() {
        let [v] = spec::vectors("session/input-run-1").try_into().unwrap();
        let session = SessionId::new(v.get("session_id")).unwrap();
        let admin = LinkSecret::from_bytes(Role::Admin, v.hex("admin_secret").try_into().unwrap());
        let host = KeySchedule::new(&admin, &session);
        let writer = KeySchedule::new(&host.secret(Role::Writer).unwrap(), &session);
        let ticket = Ticket::from_slice(&v.hex("ticket")).unwrap();
        let index: u64 = v.get("run_index").parse().unwrap();
        let start = ticket.run_start(index);
        let mut sealer = writer
            .sealer(
                TerminalId(v.get("terminal").parse().unwrap()),
                Direction::Input,
                ParticipantId(v.get("input_participant").parse().unwrap()),
                Epoch(v.hex("input_epoch").try_into().unwrap()),
            )
            .unwrap();
        let first = sealer.seal(&start).unwrap();
        let data = sealer.seal(&v.hex("input_plaintext")).unwrap();
        assert_eq!(
            hex::encode(first.as_bytes()),
            hex::encode(v.hex("run_start_frame"))
        );
        assert_eq!(
            hex::encode(data.as_bytes()),
            hex::encode(v.hex("data_frame"))
        );
        assert_eq!(
            hex::encode(start),
            hex::encode(v.hex("run_start_plaintext"))
        );
        assert_eq!(ticket.run_index(&start), Some(index));
    }
}
