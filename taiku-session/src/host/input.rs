//! Keystrokes from participants (SPEC.md 11.1): each writer's input runs,
//! made fresh by the ticket the host gave it, opened in sequence, then
//! checked against the host's own copy of the rules before the
//! application sees them.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use rand_core::CryptoRng;
use taiku_crypto::{KeySchedule, Opened, Start, StreamOpener};
use taiku_proto::limits::MAX_NAME_BYTES;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Frame, ParticipantId, Role, SealedFrame, TerminalId};

use super::{Host, HostEvent, InputDrop};
use crate::access::{self, Action};
use crate::admin::{AdminAction, AdminRefusal};
use crate::ticket::Ticket;

/// A participant the host knows: its role, the ticket its input runs must
/// name, and its current input run into each terminal.
pub(super) struct Member {
    pub(super) role: Role,
    /// Display name and device label, for `who` (SPEC.md 11.7).
    pub(super) name: String,
    pub(super) device_label: String,
    ticket: Ticket,
    runs: BTreeMap<TerminalId, InputRun>,
    /// The last admin-action counter accepted under the ticket.
    admin_counter: u64,
}

/// The current input run of one participant into one terminal, and the
/// index of the last run accepted under the participant's ticket.
struct InputRun {
    opener: StreamOpener,
    index: u64,
}

impl Member {
    /// The participant's current ticket.
    pub(super) fn ticket(&self) -> &Ticket {
        &self.ticket
    }
}

impl<R: CryptoRng> Host<R> {
    /// A participant joined (or, after a resume, is still here). A new one
    /// gets a fresh ticket; one already known keeps its ticket, which is
    /// sent again so that it can go on typing. `false` when the host knows
    /// [`HostConfig::max_participants`](super::HostConfig) already.
    pub(super) fn member_joined(
        &mut self,
        id: ParticipantId,
        role: Role,
        profile: &m::Profile,
    ) -> bool {
        let known = self.members.get(&id).is_some_and(|m| m.role == role);
        if !known {
            if self.members.len() >= self.config.max_participants && !self.members.contains_key(&id)
            {
                return false;
            }
            let member = Member {
                role,
                name: String::new(),
                device_label: String::new(),
                ticket: Ticket::generate(&mut self.rng),
                runs: BTreeMap::new(),
                admin_counter: 0,
            };
            self.members.insert(id, member);
        }
        self.member_updated(id, profile);
        if let Some(member) = self.members.get(&id)
            && member.role >= Role::Writer
        {
            self.out
                .push_back(Frame::control(Body::InputTicket(m::InputTicket {
                    participant_id: id.0,
                    ticket: Bytes::copy_from_slice(&member.ticket.0),
                })));
        }
        true
    }

    /// Check an administrative action from `requester` (SPEC.md 4.7): an
    /// admin the host knows, a signature with the admin-action key over
    /// the action under that admin's ticket, and a counter above the last
    /// one accepted. A refusal is reported as `AdminActionRejected`.
    pub(super) fn verify_admin(
        &mut self,
        requester: ParticipantId,
        action: AdminAction,
        counter: u64,
        signature: &[u8],
    ) -> bool {
        let checked = match self.members.get_mut(&requester) {
            Some(member) if member.role == Role::Admin => {
                let bytes = action.encode(requester, &member.ticket, counter);
                if self.admin_key.verify(&bytes, signature).is_err() {
                    Err(AdminRefusal::BadSignature)
                } else if counter <= member.admin_counter {
                    Err(AdminRefusal::Replayed)
                } else {
                    member.admin_counter = counter;
                    Ok(())
                }
            }
            _ => Err(AdminRefusal::NotAdmin),
        };
        match checked {
            Ok(()) => true,
            Err(reason) => {
                self.admin_rejected(requester, action, reason);
                false
            }
        }
    }

    pub(super) fn admin_rejected(
        &mut self,
        requester: ParticipantId,
        action: AdminAction,
        reason: AdminRefusal,
    ) {
        self.events.push_back(HostEvent::AdminActionRejected {
            requester,
            action,
            reason,
        });
    }

    /// A participant left: its ticket and runs die with it, so nothing it
    /// sealed before can start again.
    /// A participant's profile changed (the relay has checked its limits).
    pub(super) fn member_updated(&mut self, id: ParticipantId, profile: &m::Profile) {
        if let Some(member) = self.members.get_mut(&id) {
            member.name = crate::agent::cut_text(profile.name.clone(), MAX_NAME_BYTES);
            member.device_label = crate::agent::cut_label(profile.device_label.clone());
        }
    }

    pub(super) fn member_left(&mut self, id: ParticipantId) {
        self.members.remove(&id);
        self.forwards_of_left(id);
    }

    /// A terminal closed: nobody's input runs into it are kept.
    pub(super) fn forget_input(&mut self, term: TerminalId) {
        for member in self.members.values_mut() {
            member.runs.remove(&term);
        }
    }

    pub(super) fn sealed(&mut self, frame: SealedFrame, now: Instant) {
        let h = *frame.header();
        // Only participants' input and forwards travel towards the host.
        if h.direction == Direction::ForwardUp {
            return self.forward_sealed(frame);
        }
        if access::sealed_by_host(h.direction) {
            return;
        }
        let from = h.participant;
        let drop = |reason| HostEvent::InputDropped {
            term: h.terminal,
            from,
            reason,
        };
        let Some(t) = self.terminals.get_mut(&h.terminal) else {
            self.events.push_back(drop(InputDrop::UnknownTerminal));
            return;
        };
        let Some(member) = self.members.get_mut(&from) else {
            self.events.push_back(drop(InputDrop::UnknownSender));
            return;
        };
        // Open first, so that the stream's sequence stays intact even when
        // the host's own rules then drop the frame.
        let bytes = match member.open(&self.keys, &frame) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
            Err(reason) => {
                self.events.push_back(drop(reason));
                return;
            }
        };
        if let Err(refusal) = access::check(member.role, from, Action::Input, Some(&t.control)) {
            self.events.push_back(drop(InputDrop::NotAllowed(refusal)));
            return;
        }
        t.last_input = Some(now);
        self.events.push_back(HostEvent::Input {
            term: h.terminal,
            from,
            bytes,
        });
    }
}

impl Member {
    /// Open the next input frame: the bytes it carries, `None` for a run
    /// start or a FIN. A frame of the current run opens in sequence; any
    /// other starts a new run only if it is the run's first frame (seq 0),
    /// its plaintext is a run start naming this member's ticket, and its
    /// index is above the last one accepted. The current run is kept when
    /// a frame is refused.
    fn open(
        &mut self,
        keys: &KeySchedule,
        frame: &SealedFrame,
    ) -> Result<Option<Bytes>, InputDrop> {
        let h = frame.header();
        let run = self.runs.get_mut(&h.terminal);
        let last = run.as_ref().map(|r| r.index);
        if let Some(run) = run
            && run.opener.epoch() == Some(h.epoch)
        {
            return match run.opener.open(frame)? {
                Opened::Data(bytes) => Ok(Some(bytes)),
                Opened::End => Ok(None),
            };
        }
        let mut opener = match keys.opener(h.terminal, Direction::Input, Start::FromStart) {
            Ok(o) => o.expect_participant(h.participant),
            Err(_) => unreachable!("the host holds the input root"),
        };
        let Opened::Data(start) = opener.open(frame)? else {
            return Err(InputDrop::StaleRun);
        };
        match self.ticket.run_index(&start) {
            Some(index) if last.is_none_or(|last| index > last) => {
                self.runs.insert(h.terminal, InputRun { opener, index });
                Ok(None)
            }
            _ => Err(InputDrop::StaleRun),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use bytes::Bytes;
    use taiku_crypto::LinkSecret;
    use taiku_proto::SessionId;

    /// SPEC.md 10.3: the host side of `session/input-run-1`.
    #[test]
    fn the_host_accepts_the_vector_run_once() {
        let [v] = spec::vectors("session/input-run-1").try_into().unwrap();
        let session = SessionId::new(v.get("session_id")).unwrap();
        let admin = LinkSecret::from_bytes(Role::Admin, v.hex("admin_secret").try_into().unwrap());
        let keys = KeySchedule::new(&admin, &session);
        let frame = |key: &str| match Frame::parse(Bytes::from(v.hex(key)), 1 << 20).unwrap() {
            Frame::Sealed(s) => s,
            Frame::Control(_) => unreachable!("sealed"),
        };
        let (start, data) = (frame("run_start_frame"), frame("data_frame"));
        let ticket = Ticket::from_slice(&v.hex("ticket")).unwrap();
        let mut member = Member {
            role: Role::Writer,
            name: String::new(),
            device_label: String::new(),
            ticket,
            runs: BTreeMap::new(),
            admin_counter: 0,
        };
        assert_eq!(member.open(&keys, &start), Ok(None));
        assert_eq!(
            member.open(&keys, &data),
            Ok(Some(Bytes::from(v.hex("input_plaintext"))))
        );
        // The same run again: refused, and the current run goes on.
        assert!(matches!(
            member.open(&keys, &start),
            Err(InputDrop::Open(_))
        ));
        // After another run (index 2), the vector's run is stale.
        member.runs.clear();
        member.runs.insert(
            TerminalId(1),
            InputRun {
                opener: keys
                    .opener(TerminalId(1), Direction::Input, Start::FromStart)
                    .unwrap(),
                index: 2,
            },
        );
        assert_eq!(member.open(&keys, &start), Err(InputDrop::StaleRun));
        // Under another ticket it is stale too.
        let mut other = Member {
            role: Role::Writer,
            name: String::new(),
            device_label: String::new(),
            ticket: Ticket([0; 16]),
            runs: BTreeMap::new(),
            admin_counter: 0,
        };
        assert_eq!(other.open(&keys, &start), Err(InputDrop::StaleRun));
    }
}
