//! Who seals which stream (SPEC.md 6.4): output, status, snapshot and
//! forward-down frames come from the host only, input and forward-up
//! frames from a participant only, under its own id.

use taiku_proto::{Direction, ParticipantId, Role};

use super::Refusal;

/// Whether frames of `direction` are sealed by the host (output, status,
/// snapshot, forward down) rather than by a participant (input, forward
/// up).
pub fn sealed_by_host(direction: Direction) -> bool {
    !matches!(direction, Direction::Input | Direction::ForwardUp)
}

/// Whether `sender`, holding `role`, may send a sealed frame of
/// `direction`: a reader sending a host's stream is `ReadOnly`, anybody
/// else sending a stream that is not theirs `WrongDirection`.
pub fn check_sealed(
    sender: ParticipantId,
    role: Role,
    direction: Direction,
) -> Result<(), Refusal> {
    if (sender == ParticipantId::HOST) == sealed_by_host(direction) {
        Ok(())
    } else if role == Role::Reader {
        Err(Refusal::ReadOnly)
    } else {
        Err(Refusal::WrongDirection)
    }
}

/// Whether an input frame whose header names `named` may come from
/// `sender`: only under the sender's own id.
pub fn check_input_sender(named: ParticipantId, sender: ParticipantId) -> Result<(), Refusal> {
    if named == sender {
        Ok(())
    } else {
        Err(Refusal::ForgedSender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: ParticipantId = ParticipantId::HOST;
    const P: ParticipantId = ParticipantId(4);

    #[test]
    fn the_host_seals_output_status_and_snapshots_participants_input() {
        use Direction::*;
        for d in [Output, Status, Snapshot, ForwardDown] {
            assert_eq!(check_sealed(HOST, Role::Admin, d), Ok(()));
            assert_eq!(check_sealed(P, Role::Reader, d), Err(Refusal::ReadOnly));
            assert_eq!(
                check_sealed(P, Role::Writer, d),
                Err(Refusal::WrongDirection)
            );
            assert_eq!(
                check_sealed(P, Role::Admin, d),
                Err(Refusal::WrongDirection)
            );
        }
        assert_eq!(
            check_sealed(HOST, Role::Admin, Input),
            Err(Refusal::WrongDirection)
        );
        for role in Role::ALL {
            assert_eq!(check_sealed(P, role, Input), Ok(()));
            assert_eq!(check_sealed(P, role, ForwardUp), Ok(()));
        }
    }

    #[test]
    fn input_names_its_sender() {
        assert_eq!(check_input_sender(P, P), Ok(()));
        assert_eq!(
            check_input_sender(ParticipantId(5), P),
            Err(Refusal::ForgedSender)
        );
    }
}
