//! The role and ownership rules (SPEC.md sections 6.2 and 6.3), written
//! once and applied by both the relay and the host's own copy of the
//! ownership table.
//!
//! Authority comes only from a verified role and the ownership table:
//! nothing here looks at names, labels or ids a peer supplied about itself.

use taiku_proto::message::ActionRefusal;
use taiku_proto::{ParticipantId, Role};

/// Something a participant asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open a new terminal owned by the actor.
    Create,
    /// Type into a terminal.
    Input,
    /// Change a terminal's rows and columns.
    Resize,
    /// Close a terminal.
    Close,
    /// Ask the owner for control of a terminal.
    RequestAdoption,
    /// Approve or deny a pending adoption request.
    AnswerAdoption,
    /// Hand control of a terminal to another writer.
    Grant,
    /// Take control of a terminal back.
    Revoke,
    /// Take control of any terminal without asking.
    TakeOver,
    /// Publish or withdraw tunnels.
    AdministerTunnels,
}

/// Who owns and who controls one terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Control {
    /// The creator.
    pub owner: ParticipantId,
    /// Who may type, resize and close now; the owner unless handed off.
    pub controller: ParticipantId,
}

impl Control {
    /// A new terminal: its creator owns and controls it.
    pub fn new(owner: ParticipantId) -> Self {
        Control {
            owner,
            controller: owner,
        }
    }
}

/// Why an action is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    /// Readers may only watch.
    #[error("read-only role")]
    ReadOnly,
    /// Only the terminal's controller (or owner, or an admin) may do this.
    #[error("not the terminal's controller")]
    NotController,
    /// Only the terminal's owner (or an admin) may do this.
    #[error("not the terminal's owner")]
    NotOwner,
    /// Only an admin may do this.
    #[error("admin role required")]
    NotAdmin,
    /// The action names a terminal and none was given.
    #[error("unknown terminal")]
    UnknownTerminal,
    /// Asking to adopt a terminal the actor already controls.
    #[error("already the terminal's controller")]
    AlreadyController,
}

impl Refusal {
    /// The wire reason of a `Refused` message.
    pub fn to_proto(self) -> ActionRefusal {
        match self {
            Refusal::ReadOnly => ActionRefusal::ReadOnly,
            Refusal::NotController => ActionRefusal::NotController,
            Refusal::NotOwner => ActionRefusal::NotOwner,
            Refusal::NotAdmin => ActionRefusal::NotAdmin,
            Refusal::UnknownTerminal => ActionRefusal::UnknownTerminal,
            Refusal::AlreadyController => ActionRefusal::Invalid,
        }
    }
}

/// Decide whether `actor`, holding the verified `role`, may perform
/// `action` on a terminal with ownership `terminal` (`None` for actions on
/// no terminal, or a terminal that does not exist).
///
/// ```
/// use taiku_proto::{ParticipantId, Role};
/// use taiku_session::access::{check, Action, Control, Refusal};
///
/// let alice = ParticipantId(1);
/// let bob = ParticipantId(2);
/// let term = Control::new(alice);
/// assert_eq!(check(Role::Writer, alice, Action::Input, Some(&term)), Ok(()));
/// assert_eq!(check(Role::Writer, bob, Action::Input, Some(&term)), Err(Refusal::NotController));
/// assert_eq!(check(Role::Reader, alice, Action::Input, Some(&term)), Err(Refusal::ReadOnly));
/// ```
pub fn check(
    role: Role,
    actor: ParticipantId,
    action: Action,
    terminal: Option<&Control>,
) -> Result<(), Refusal> {
    if role == Role::Reader {
        return Err(Refusal::ReadOnly);
    }
    let admin = role == Role::Admin;
    let on_terminal = || terminal.ok_or(Refusal::UnknownTerminal);
    match action {
        Action::Create => Ok(()),
        Action::RequestAdoption => {
            if on_terminal()?.controller == actor {
                Err(Refusal::AlreadyController)
            } else {
                Ok(())
            }
        }
        Action::Input | Action::Resize | Action::Close => {
            let t = on_terminal()?;
            if admin || actor == t.controller || actor == t.owner {
                Ok(())
            } else {
                Err(Refusal::NotController)
            }
        }
        Action::AnswerAdoption | Action::Grant | Action::Revoke => {
            let t = on_terminal()?;
            if admin || actor == t.owner {
                Ok(())
            } else {
                Err(Refusal::NotOwner)
            }
        }
        Action::TakeOver => {
            on_terminal()?;
            if admin {
                Ok(())
            } else {
                Err(Refusal::NotAdmin)
            }
        }
        Action::AdministerTunnels => {
            if admin {
                Ok(())
            } else {
                Err(Refusal::NotAdmin)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: ParticipantId = ParticipantId(1);
    const CONTROLLER: ParticipantId = ParticipantId(2);
    const OTHER: ParticipantId = ParticipantId(3);

    const ALL: [Action; 10] = [
        Action::Create,
        Action::Input,
        Action::Resize,
        Action::Close,
        Action::RequestAdoption,
        Action::AnswerAdoption,
        Action::Grant,
        Action::Revoke,
        Action::TakeOver,
        Action::AdministerTunnels,
    ];

    fn handed_off() -> Control {
        Control {
            owner: OWNER,
            controller: CONTROLLER,
        }
    }

    #[test]
    fn readers_are_refused_everything() {
        for action in ALL {
            for actor in [OWNER, CONTROLLER, OTHER] {
                assert_eq!(
                    check(Role::Reader, actor, action, Some(&handed_off())),
                    Err(Refusal::ReadOnly)
                );
            }
        }
    }

    #[test]
    fn writer_table() {
        use Refusal::*;
        let t = handed_off();
        // (action, owner, controller, other) outcomes for a writer.
        type Outcome = Result<(), Refusal>;
        let table: [(Action, Outcome, Outcome, Outcome); 10] = [
            (Action::Create, Ok(()), Ok(()), Ok(())),
            (Action::Input, Ok(()), Ok(()), Err(NotController)),
            (Action::Resize, Ok(()), Ok(()), Err(NotController)),
            (Action::Close, Ok(()), Ok(()), Err(NotController)),
            (
                Action::RequestAdoption,
                Ok(()),
                Err(AlreadyController),
                Ok(()),
            ),
            (Action::AnswerAdoption, Ok(()), Err(NotOwner), Err(NotOwner)),
            (Action::Grant, Ok(()), Err(NotOwner), Err(NotOwner)),
            (Action::Revoke, Ok(()), Err(NotOwner), Err(NotOwner)),
            (
                Action::TakeOver,
                Err(NotAdmin),
                Err(NotAdmin),
                Err(NotAdmin),
            ),
            (
                Action::AdministerTunnels,
                Err(NotAdmin),
                Err(NotAdmin),
                Err(NotAdmin),
            ),
        ];
        for (action, owner, controller, other) in table {
            assert_eq!(
                check(Role::Writer, OWNER, action, Some(&t)),
                owner,
                "{action:?} owner"
            );
            assert_eq!(
                check(Role::Writer, CONTROLLER, action, Some(&t)),
                controller,
                "{action:?} controller"
            );
            assert_eq!(
                check(Role::Writer, OTHER, action, Some(&t)),
                other,
                "{action:?} other"
            );
        }
    }

    #[test]
    fn admins_may_do_everything() {
        for action in ALL {
            assert_eq!(
                check(Role::Admin, OTHER, action, Some(&handed_off())),
                Ok(()),
                "{action:?}"
            );
        }
    }

    #[test]
    fn terminal_actions_need_a_terminal() {
        for action in [
            Action::Input,
            Action::Resize,
            Action::Close,
            Action::Grant,
            Action::TakeOver,
        ] {
            assert_eq!(
                check(Role::Admin, OWNER, action, None),
                Err(Refusal::UnknownTerminal),
                "{action:?}"
            );
        }
        assert_eq!(check(Role::Writer, OWNER, Action::Create, None), Ok(()));
    }

    #[test]
    fn refusals_map_to_wire_reasons() {
        assert_eq!(Refusal::ReadOnly.to_proto() as i32, 1);
        assert_eq!(Refusal::NotController.to_proto() as i32, 2);
        assert_eq!(Refusal::NotOwner.to_proto() as i32, 3);
        assert_eq!(Refusal::NotAdmin.to_proto() as i32, 4);
        assert_eq!(Refusal::UnknownTerminal.to_proto() as i32, 5);
    }
}
