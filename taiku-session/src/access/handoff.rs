//! Ownership and handoff (SPEC.md 6.3): who may own a terminal, who may be
//! handed it, and each transition as a pure function from the current
//! [`Control`] to the [`Change`] to apply and broadcast. The relay applies
//! the change; the host and the participant call the same functions before
//! they send a request, so a request the relay would refuse is never sent.

use taiku_proto::message::{self as m, ControlReason, control::Body};
use taiku_proto::{ParticipantId, Role, TerminalId};

use super::{Action, Control, Refusal, check};

/// A handoff a participant (or the host) asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// The owner (or an admin) answers `requester`'s adoption request.
    Answer {
        /// Who asked for control.
        requester: ParticipantId,
        /// Approve (the requester becomes the controller) or deny.
        approve: bool,
        /// Whether that request is pending (an answer to none is
        /// refused).
        pending: bool,
    },
    /// The owner (or an admin) hands control to `grantee`.
    Grant {
        /// Who is to control the terminal.
        grantee: ParticipantId,
        /// The grantee's role in the session, `None` if it is not there.
        grantee_role: Option<Role>,
    },
    /// The owner (or an admin) takes control back.
    Revoke,
    /// An admin takes control without asking.
    TakeOver,
}

impl Handoff {
    /// The message that asks the relay for this handoff on `term`.
    pub fn message(&self, term: TerminalId) -> Body {
        let terminal_id = term.0;
        match *self {
            Handoff::Answer {
                requester, approve, ..
            } => Body::AdoptionAnswer(m::AdoptionAnswer {
                terminal_id,
                requester: requester.0,
                approve,
            }),
            Handoff::Grant { grantee, .. } => Body::ControlGrant(m::ControlGrant {
                terminal_id,
                grantee: grantee.0,
            }),
            Handoff::Revoke => Body::ControlRevoke(m::ControlRevoke { terminal_id }),
            // Unsigned: the admin adds its counter and signature (4.7).
            Handoff::TakeOver => Body::TakeOver(m::TakeOver {
                terminal_id,
                ..Default::default()
            }),
        }
    }
}

/// A change of control, as `ControlChanged` broadcasts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Owner and controller after the change.
    pub control: Control,
    /// Why.
    pub reason: ControlReason,
    /// The participant the change is about: the requester of an adoption,
    /// the grantee, the admin or owner who took control, or the host (0)
    /// for a change after somebody left.
    pub requester: ParticipantId,
}

/// Decide a handoff by `actor`, holding `role`, on a terminal with control
/// `terminal` (`None` if it does not exist).
///
/// ```
/// use taiku_proto::{ParticipantId, Role, message::ControlReason};
/// use taiku_session::access::{handoff, Control, Handoff, Refusal};
///
/// let (owner, reader) = (ParticipantId(1), ParticipantId(2));
/// let term = Control::new(owner);
/// let grant = |role| Handoff::Grant { grantee: reader, grantee_role: Some(role) };
/// assert_eq!(handoff(Role::Writer, owner, Some(&term), grant(Role::Reader)), Err(Refusal::ReadOnly));
/// let change = handoff(Role::Writer, owner, Some(&term), grant(Role::Writer)).unwrap();
/// assert_eq!((change.control.controller, change.reason), (reader, ControlReason::Granted));
/// ```
pub fn handoff(
    role: Role,
    actor: ParticipantId,
    terminal: Option<&Control>,
    request: Handoff,
) -> Result<Change, Refusal> {
    let action = match request {
        Handoff::Answer { .. } => Action::AnswerAdoption,
        Handoff::Grant { .. } => Action::Grant,
        Handoff::Revoke => Action::Revoke,
        Handoff::TakeOver => Action::TakeOver,
    };
    check(role, actor, action, terminal)?;
    let mut control = *terminal.ok_or(Refusal::UnknownTerminal)?;
    let (reason, requester) = match request {
        Handoff::Answer { pending: false, .. } => return Err(Refusal::NoPendingRequest),
        Handoff::Answer {
            requester,
            approve: true,
            ..
        } => {
            control.controller = requester;
            (ControlReason::AdoptionApproved, requester)
        }
        Handoff::Answer { requester, .. } => (ControlReason::AdoptionDenied, requester),
        Handoff::Grant {
            grantee,
            grantee_role,
        } => {
            may_control(grantee_role)?;
            control.controller = grantee;
            (ControlReason::Granted, grantee)
        }
        Handoff::Revoke => {
            control.controller = control.owner;
            (ControlReason::Revoked, actor)
        }
        Handoff::TakeOver => {
            control.controller = actor;
            (ControlReason::TakenOver, actor)
        }
    };
    Ok(Change {
        control,
        reason,
        requester,
    })
}

/// Whether `actor` may ask for control of a terminal; `pending` says
/// whether the same request of the same actor is still pending (asking
/// again must not flood the owner).
pub fn request_adoption(
    role: Role,
    actor: ParticipantId,
    terminal: Option<&Control>,
    pending: bool,
) -> Result<(), Refusal> {
    check(role, actor, Action::RequestAdoption, terminal)?;
    if pending {
        return Err(Refusal::AlreadyPending);
    }
    Ok(())
}

/// `who` left the session: terminals it owned pass to the host, terminals
/// it controlled return to their owner. `None` if neither applies.
pub fn left(terminal: &Control, who: ParticipantId) -> Option<Change> {
    let mut control = *terminal;
    let mut reason = None;
    if control.owner == who {
        control.owner = ParticipantId::HOST;
        reason = Some(ControlReason::OwnerLeft);
    }
    if control.controller == who {
        control.controller = control.owner;
        reason = reason.or(Some(ControlReason::ControllerLeft));
    }
    Some(Change {
        control,
        reason: reason?,
        requester: ParticipantId::HOST,
    })
}

/// An adoption request of `requester` expired unanswered: control is
/// unchanged.
pub fn expired(terminal: &Control, requester: ParticipantId) -> Change {
    Change {
        control: *terminal,
        reason: ControlReason::AdoptionExpired,
        requester,
    }
}

/// Whether a participant with `role` (`None`: not in the session) may own
/// a terminal: the host, writers and admins.
pub fn may_own(role: Option<Role>) -> Result<(), Refusal> {
    match role {
        Some(Role::Writer | Role::Admin) => Ok(()),
        Some(Role::Reader) | None => Err(Refusal::UnknownParticipant),
    }
}

/// Whether a participant with `role` (`None`: not in the session) may be
/// handed control of a terminal: the host, writers and admins.
pub fn may_control(role: Option<Role>) -> Result<(), Refusal> {
    match role {
        Some(Role::Writer | Role::Admin) => Ok(()),
        Some(Role::Reader) => Err(Refusal::ReadOnly),
        None => Err(Refusal::UnknownParticipant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: ParticipantId = ParticipantId(1);
    const CONTROLLER: ParticipantId = ParticipantId(2);
    const OTHER: ParticipantId = ParticipantId(3);

    fn handed_off() -> Control {
        Control {
            owner: OWNER,
            controller: CONTROLLER,
        }
    }

    fn change(
        owner: ParticipantId,
        controller: ParticipantId,
        reason: ControlReason,
        requester: ParticipantId,
    ) -> Change {
        Change {
            control: Control { owner, controller },
            reason,
            requester,
        }
    }

    #[test]
    fn answers_need_a_pending_request_and_the_owner() {
        let t = handed_off();
        let answer = |approve, pending| Handoff::Answer {
            requester: OTHER,
            approve,
            pending,
        };
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), answer(true, false)),
            Err(Refusal::NoPendingRequest)
        );
        assert_eq!(
            handoff(Role::Writer, CONTROLLER, Some(&t), answer(true, true)),
            Err(Refusal::NotOwner)
        );
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), answer(true, true)),
            Ok(change(OWNER, OTHER, ControlReason::AdoptionApproved, OTHER))
        );
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), answer(false, true)),
            Ok(change(
                OWNER,
                CONTROLLER,
                ControlReason::AdoptionDenied,
                OTHER
            ))
        );
    }

    #[test]
    fn grants_go_to_writers_and_admins_present() {
        let t = handed_off();
        let grant = |grantee_role| Handoff::Grant {
            grantee: OTHER,
            grantee_role,
        };
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), grant(None)),
            Err(Refusal::UnknownParticipant)
        );
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), grant(Some(Role::Reader))),
            Err(Refusal::ReadOnly)
        );
        for role in [Role::Writer, Role::Admin] {
            assert_eq!(
                handoff(Role::Writer, OWNER, Some(&t), grant(Some(role))),
                Ok(change(OWNER, OTHER, ControlReason::Granted, OTHER))
            );
        }
        // The role rules come first: a stranger granting to a reader is
        // refused for not owning the terminal.
        assert_eq!(
            handoff(Role::Writer, OTHER, Some(&t), grant(Some(Role::Reader))),
            Err(Refusal::NotOwner)
        );
    }

    #[test]
    fn revoke_and_take_over() {
        let t = handed_off();
        assert_eq!(
            handoff(Role::Writer, OWNER, Some(&t), Handoff::Revoke),
            Ok(change(OWNER, OWNER, ControlReason::Revoked, OWNER))
        );
        assert_eq!(
            handoff(Role::Writer, OTHER, Some(&t), Handoff::TakeOver),
            Err(Refusal::NotAdmin)
        );
        assert_eq!(
            handoff(Role::Admin, OTHER, Some(&t), Handoff::TakeOver),
            Ok(change(OWNER, OTHER, ControlReason::TakenOver, OTHER))
        );
        assert_eq!(
            handoff(Role::Admin, OTHER, None, Handoff::TakeOver),
            Err(Refusal::UnknownTerminal)
        );
    }

    #[test]
    fn adoption_requests() {
        let t = handed_off();
        assert_eq!(
            request_adoption(Role::Writer, OTHER, Some(&t), false),
            Ok(())
        );
        assert_eq!(
            request_adoption(Role::Writer, OTHER, Some(&t), true),
            Err(Refusal::AlreadyPending)
        );
        assert_eq!(
            request_adoption(Role::Writer, CONTROLLER, Some(&t), false),
            Err(Refusal::AlreadyController)
        );
        assert_eq!(
            request_adoption(Role::Reader, OTHER, Some(&t), false),
            Err(Refusal::ReadOnly)
        );
    }

    #[test]
    fn leaving_hands_terminals_back() {
        let t = handed_off();
        let host = ParticipantId::HOST;
        assert_eq!(
            left(&t, OWNER),
            Some(change(host, CONTROLLER, ControlReason::OwnerLeft, host))
        );
        assert_eq!(
            left(&t, CONTROLLER),
            Some(change(OWNER, OWNER, ControlReason::ControllerLeft, host))
        );
        assert_eq!(
            left(&Control::new(OWNER), OWNER),
            Some(change(host, host, ControlReason::OwnerLeft, host))
        );
        assert_eq!(left(&t, OTHER), None);
        assert_eq!(
            expired(&t, OTHER),
            change(OWNER, CONTROLLER, ControlReason::AdoptionExpired, OTHER)
        );
    }

    #[test]
    fn owners_and_controllers() {
        assert_eq!(may_own(Some(Role::Admin)), Ok(()));
        assert_eq!(may_own(Some(Role::Writer)), Ok(()));
        assert_eq!(
            may_own(Some(Role::Reader)),
            Err(Refusal::UnknownParticipant)
        );
        assert_eq!(may_own(None), Err(Refusal::UnknownParticipant));
        assert_eq!(may_control(Some(Role::Writer)), Ok(()));
        assert_eq!(may_control(Some(Role::Reader)), Err(Refusal::ReadOnly));
        assert_eq!(may_control(None), Err(Refusal::UnknownParticipant));
    }
}
