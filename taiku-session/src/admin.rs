//! Administrative actions signed end to end (SPEC.md 4.7): a take-over
//! or a tunnel change is signed by the admin with the admin-action key,
//! over an encoding that names the admin, the host's ticket for it and a
//! counter, so that the host can tell a relay neither forged nor replayed
//! it. The relay still enforces the role; the host applies only what it
//! verified.

use taiku_proto::{ParticipantId, TerminalId};

use crate::ticket::{TICKET_LEN, Ticket};

/// An administrative action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminAction {
    /// Take control of a terminal.
    TakeOver {
        /// The terminal.
        terminal: TerminalId,
    },
    /// Publish (`enable`) or withdraw a local port.
    Tunnel {
        /// The port.
        port: u32,
        /// Publish or withdraw.
        enable: bool,
    },
}

/// The kind byte of a take-over.
const TAKE_OVER: u8 = 0x01;
/// The kind byte of a tunnel change.
const TUNNEL: u8 = 0x02;

impl AdminAction {
    /// The bytes signed: kind ‖ admin (u32 BE) ‖ ticket (16) ‖ counter
    /// (u64 BE) ‖ fields (take-over: terminal u32 BE; tunnel: port u32 BE
    /// ‖ enable 0 or 1).
    pub(crate) fn encode(&self, admin: ParticipantId, ticket: &Ticket, counter: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 4 + TICKET_LEN + 8 + 5);
        let kind = match self {
            AdminAction::TakeOver { .. } => TAKE_OVER,
            AdminAction::Tunnel { .. } => TUNNEL,
        };
        out.push(kind);
        out.extend_from_slice(&admin.0.to_be_bytes());
        out.extend_from_slice(&ticket.0);
        out.extend_from_slice(&counter.to_be_bytes());
        match *self {
            AdminAction::TakeOver { terminal } => out.extend_from_slice(&terminal.0.to_be_bytes()),
            AdminAction::Tunnel { port, enable } => {
                out.extend_from_slice(&port.to_be_bytes());
                out.push(u8::from(enable));
            }
        }
        out
    }
}

/// Why the host did not apply an administrative action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminRefusal {
    /// The requester is not an admin the host knows.
    #[error("not from an admin the host knows")]
    NotAdmin,
    /// The signature does not verify: forged, or altered on the way.
    #[error("the signature does not verify")]
    BadSignature,
    /// The counter is not above the last one accepted: replayed.
    #[error("replayed")]
    Replayed,
    /// The action names a terminal the host does not have.
    #[error("unknown terminal")]
    UnknownTerminal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use taiku_crypto::{KeySchedule, LinkSecret};
    use taiku_proto::{Role, SessionId};

    /// SPEC.md 10.3: vector `session/admin-action-1`.
    #[test]
    fn admin_action_vector() {
        let [v] = spec::vectors("session/admin-action-1").try_into().unwrap();
        let session = SessionId::new(v.get("session_id")).unwrap();
        let admin = LinkSecret::from_bytes(Role::Admin, v.hex("admin_secret").try_into().unwrap());
        let key = KeySchedule::new(&admin, &session)
            .admin_action_key()
            .unwrap();
        let ticket = Ticket::from_slice(&v.hex("ticket")).unwrap();
        let admin_id = ParticipantId(v.get("admin_participant").parse().unwrap());
        let counter: u64 = v.get("counter").parse().unwrap();
        let take_over = AdminAction::TakeOver {
            terminal: TerminalId(v.get("terminal").parse().unwrap()),
        };
        let tunnel = AdminAction::Tunnel {
            port: v.get("port").parse().unwrap(),
            enable: true,
        };
        for (action, name) in [(take_over, "take_over"), (tunnel, "tunnel")] {
            let bytes = action.encode(admin_id, &ticket, counter);
            assert_eq!(
                hex::encode(&bytes),
                hex::encode(v.hex(&format!("{name}_action")))
            );
            let signature = key.sign(&bytes);
            assert_eq!(
                hex::encode(signature),
                hex::encode(v.hex(&format!("{name}_signature")))
            );
            assert!(key.verify(&bytes, &signature).is_ok());
            // Another counter, admin or ticket is another action.
            assert!(
                key.verify(&action.encode(admin_id, &ticket, counter + 1), &signature)
                    .is_err()
            );
            assert!(
                key.verify(
                    &action.encode(ParticipantId(9), &ticket, counter),
                    &signature
                )
                .is_err()
            );
        }
    }
}
