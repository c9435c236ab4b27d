//! The role and ownership rules (SPEC.md sections 6.2 to 6.4), each
//! written once and applied by the relay, the host and the participant.
//!
//! Authority comes only from a verified role and the ownership table:
//! nothing here looks at names, labels or ids a peer supplied about itself.
//!
//! - [`check`]: which role may perform which [`Action`] on a terminal
//!   (the table of SPEC.md 6.2);
//! - [`handoff`]: the ownership transitions of SPEC.md 6.3 as pure
//!   functions returning the [`Change`] to apply, and [`may_own`] /
//!   [`may_control`], who may own or be handed a terminal;
//! - [`FocusLock`]: the typing lock of one terminal;
//! - [`check_sealed`] and [`check_input_sender`]: who may seal frames of
//!   which direction (SPEC.md 6.4);
//! - [`check_profile`], [`check_chat`], [`check_label`] and
//!   [`check_layout`]: the size of the plaintext metadata a peer sends.

mod handoff;
mod lock;
mod metadata;
mod sealed;

pub use handoff::{
    Change, Handoff, expired, handoff, left, may_control, may_own, request_adoption,
};
pub use lock::{FocusLock, LockChange};
pub use metadata::{check_chat, check_label, check_layout, check_profile};
pub use sealed::{check_input_sender, check_sealed, sealed_by_host};

use taiku_proto::message::{self as m, ActionRefusal};
use taiku_proto::{ParticipantId, Role};

/// Something a participant asks to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// Open a forward to a published port, sealed or through an HTTP
    /// tunnel (SPEC.md 6.8): writers and admins.
    Forward,
}

/// Who owns and who controls one terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Control {
    /// The creator.
    pub owner: ParticipantId,
    /// Who may type, resize and close now; the owner unless handed off.
    pub controller: ParticipantId,
}

impl From<&m::ControlChanged> for Control {
    /// The control a `ControlChanged` announces.
    fn from(changed: &m::ControlChanged) -> Self {
        Control {
            owner: ParticipantId(changed.owner),
            controller: ParticipantId(changed.controller),
        }
    }
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

/// Why an action is refused. Each maps to one wire reason
/// ([`Refusal::to_proto`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
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
    /// The participant named (an owner or a grantee) is not one who may
    /// hold the terminal.
    #[error("unknown participant")]
    UnknownParticipant,
    /// An answer to an adoption request that is not pending.
    #[error("no pending adoption request")]
    NoPendingRequest,
    /// Asking again while the same request is pending.
    #[error("an adoption request is already pending")]
    AlreadyPending,
    /// Over a rate limit.
    #[error("rate limited")]
    RateLimited,
    /// Another participant holds the terminal's typing lock.
    #[error("another participant is typing")]
    FocusLocked,
    /// A text or list over its limit.
    #[error("too long")]
    TooLong,
    /// The host is away; the action needs it.
    #[error("the host is offline")]
    HostOffline,
    /// A per-session limit is reached.
    #[error("limit reached")]
    LimitReached,
    /// A sealed frame of a direction this sender does not seal.
    #[error("sealed frame of a direction the sender may not send")]
    WrongDirection,
    /// An input frame whose header names another participant.
    #[error("input header names another participant")]
    ForgedSender,
    /// A request the protocol does not allow (a reserved or duplicate id).
    #[error("invalid request")]
    Invalid,
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
            Refusal::UnknownParticipant => ActionRefusal::UnknownParticipant,
            Refusal::NoPendingRequest => ActionRefusal::NoPendingRequest,
            Refusal::AlreadyPending | Refusal::RateLimited => ActionRefusal::RateLimited,
            Refusal::FocusLocked => ActionRefusal::FocusLocked,
            Refusal::TooLong => ActionRefusal::TooLong,
            Refusal::HostOffline => ActionRefusal::HostOffline,
            Refusal::LimitReached => ActionRefusal::LimitReached,
            Refusal::AlreadyController
            | Refusal::WrongDirection
            | Refusal::ForgedSender
            | Refusal::Invalid => ActionRefusal::Invalid,
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
        Action::Forward => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: ParticipantId = ParticipantId(1);
    const CONTROLLER: ParticipantId = ParticipantId(2);
    const OTHER: ParticipantId = ParticipantId(3);

    const ALL: [Action; 11] = [
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
        Action::Forward,
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
        let table: [(Action, Outcome, Outcome, Outcome); 11] = [
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
            (Action::Forward, Ok(()), Ok(()), Ok(())),
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
        assert_eq!(Refusal::UnknownParticipant.to_proto() as i32, 6);
        assert_eq!(Refusal::LimitReached.to_proto() as i32, 7);
        assert_eq!(Refusal::AlreadyPending.to_proto() as i32, 8);
        assert_eq!(Refusal::RateLimited.to_proto() as i32, 8);
        assert_eq!(Refusal::TooLong.to_proto() as i32, 9);
        assert_eq!(Refusal::NoPendingRequest.to_proto() as i32, 10);
        assert_eq!(Refusal::HostOffline.to_proto() as i32, 11);
        assert_eq!(Refusal::AlreadyController.to_proto() as i32, 12);
        assert_eq!(Refusal::WrongDirection.to_proto() as i32, 12);
        assert_eq!(Refusal::ForgedSender.to_proto() as i32, 12);
        assert_eq!(Refusal::Invalid.to_proto() as i32, 12);
        assert_eq!(Refusal::FocusLocked.to_proto() as i32, 13);
    }
}
