//! The action a `Refused` message names (SPEC.md section 8): the `Control`
//! field number of a refused control message, or `0x100 + direction` of a
//! refused sealed frame.

use crate::frame::Direction;
use crate::message::control::Body;

/// The base of the codes of refused sealed frames: `0x100 + direction`.
const SEALED_BASE: u32 = 0x100;

/// What a refused action was, as `Refused.action` carries it.
///
/// ```
/// use taiku_proto::{ActionCode, Direction};
///
/// let code = ActionCode::Sealed(Direction::Input);
/// assert_eq!(code.to_wire(), 0x102);
/// assert_eq!(ActionCode::from_wire(0x102), Some(code));
/// assert_eq!(ActionCode::from_wire(32), Some(ActionCode::ControlGrant));
/// assert_eq!(ActionCode::from_wire(14), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActionCode {
    /// `SessionCreate` (1).
    SessionCreate,
    /// `SessionResume` (2).
    SessionResume,
    /// `JoinRequest` (3).
    JoinRequest,
    /// `Challenge` (4).
    Challenge,
    /// `JoinProof` (5).
    JoinProof,
    /// `JoinResult` (6).
    JoinResult,
    /// `HostStatus` (7).
    HostStatus,
    /// `SessionEnded` (8).
    SessionEnded,
    /// `ResumeState` (9).
    ResumeState,
    /// `Presence` (10).
    Presence,
    /// `Focus` (11).
    Focus,
    /// `Chat` (12).
    Chat,
    /// `Layout` (13).
    Layout,
    /// `TerminalCreate` (20).
    TerminalCreate,
    /// `TerminalOpened` (21).
    TerminalOpened,
    /// `TerminalClose` (22).
    TerminalClose,
    /// `TerminalClosed` (23).
    TerminalClosed,
    /// `TerminalResize` (24).
    TerminalResize,
    /// `InputTicket` (25).
    InputTicket,
    /// `TerminalLabel` (26).
    TerminalLabel,
    /// `AdoptionRequest` (30).
    AdoptionRequest,
    /// `AdoptionAnswer` (31).
    AdoptionAnswer,
    /// `ControlGrant` (32).
    ControlGrant,
    /// `ControlRevoke` (33).
    ControlRevoke,
    /// `TakeOver` (34).
    TakeOver,
    /// `ControlChanged` (35).
    ControlChanged,
    /// `FocusLock` (36).
    FocusLock,
    /// `HistoryRequest` (40).
    HistoryRequest,
    /// `SnapshotRequest` (41).
    SnapshotRequest,
    /// `ReplayStart` (42).
    ReplayStart,
    /// `TunnelAdmin` (45).
    TunnelAdmin,
    /// `TunnelPorts` (46).
    TunnelPorts,
    /// `ForwardOpen` (47).
    ForwardOpen,
    /// `ForwardCredit` (48).
    ForwardCredit,
    /// `ForwardClose` (49).
    ForwardClose,
    /// `ForwardData` (54).
    ForwardData,
    /// `TunnelCredentialRequest` (55).
    TunnelCredentialRequest,
    /// `TunnelCredential` (56).
    TunnelCredential,
    /// `Ping` (50).
    Ping,
    /// `Pong` (51).
    Pong,
    /// `Refused` (52).
    Refused,
    /// `Error` (53).
    Error,
    /// A sealed frame of this direction (`0x100 + direction`).
    Sealed(Direction),
}

/// Every control code with its `Control` field number, in field order.
const CONTROL_CODES: [(ActionCode, u32); 42] = [
    (ActionCode::SessionCreate, 1),
    (ActionCode::SessionResume, 2),
    (ActionCode::JoinRequest, 3),
    (ActionCode::Challenge, 4),
    (ActionCode::JoinProof, 5),
    (ActionCode::JoinResult, 6),
    (ActionCode::HostStatus, 7),
    (ActionCode::SessionEnded, 8),
    (ActionCode::ResumeState, 9),
    (ActionCode::Presence, 10),
    (ActionCode::Focus, 11),
    (ActionCode::Chat, 12),
    (ActionCode::Layout, 13),
    (ActionCode::TerminalCreate, 20),
    (ActionCode::TerminalOpened, 21),
    (ActionCode::TerminalClose, 22),
    (ActionCode::TerminalClosed, 23),
    (ActionCode::TerminalResize, 24),
    (ActionCode::InputTicket, 25),
    (ActionCode::TerminalLabel, 26),
    (ActionCode::AdoptionRequest, 30),
    (ActionCode::AdoptionAnswer, 31),
    (ActionCode::ControlGrant, 32),
    (ActionCode::ControlRevoke, 33),
    (ActionCode::TakeOver, 34),
    (ActionCode::ControlChanged, 35),
    (ActionCode::FocusLock, 36),
    (ActionCode::HistoryRequest, 40),
    (ActionCode::SnapshotRequest, 41),
    (ActionCode::ReplayStart, 42),
    (ActionCode::TunnelAdmin, 45),
    (ActionCode::TunnelPorts, 46),
    (ActionCode::ForwardOpen, 47),
    (ActionCode::ForwardCredit, 48),
    (ActionCode::ForwardClose, 49),
    (ActionCode::Ping, 50),
    (ActionCode::Pong, 51),
    (ActionCode::Refused, 52),
    (ActionCode::Error, 53),
    (ActionCode::ForwardData, 54),
    (ActionCode::TunnelCredentialRequest, 55),
    (ActionCode::TunnelCredential, 56),
];

impl ActionCode {
    /// The code of a control message.
    pub fn of(body: &Body) -> ActionCode {
        match body {
            Body::SessionCreate(_) => ActionCode::SessionCreate,
            Body::SessionResume(_) => ActionCode::SessionResume,
            Body::JoinRequest(_) => ActionCode::JoinRequest,
            Body::Challenge(_) => ActionCode::Challenge,
            Body::JoinProof(_) => ActionCode::JoinProof,
            Body::JoinResult(_) => ActionCode::JoinResult,
            Body::HostStatus(_) => ActionCode::HostStatus,
            Body::SessionEnded(_) => ActionCode::SessionEnded,
            Body::ResumeState(_) => ActionCode::ResumeState,
            Body::Presence(_) => ActionCode::Presence,
            Body::Focus(_) => ActionCode::Focus,
            Body::Chat(_) => ActionCode::Chat,
            Body::Layout(_) => ActionCode::Layout,
            Body::TerminalCreate(_) => ActionCode::TerminalCreate,
            Body::TerminalOpened(_) => ActionCode::TerminalOpened,
            Body::TerminalClose(_) => ActionCode::TerminalClose,
            Body::TerminalClosed(_) => ActionCode::TerminalClosed,
            Body::TerminalResize(_) => ActionCode::TerminalResize,
            Body::InputTicket(_) => ActionCode::InputTicket,
            Body::TerminalLabel(_) => ActionCode::TerminalLabel,
            Body::AdoptionRequest(_) => ActionCode::AdoptionRequest,
            Body::AdoptionAnswer(_) => ActionCode::AdoptionAnswer,
            Body::ControlGrant(_) => ActionCode::ControlGrant,
            Body::ControlRevoke(_) => ActionCode::ControlRevoke,
            Body::TakeOver(_) => ActionCode::TakeOver,
            Body::ControlChanged(_) => ActionCode::ControlChanged,
            Body::FocusLock(_) => ActionCode::FocusLock,
            Body::HistoryRequest(_) => ActionCode::HistoryRequest,
            Body::SnapshotRequest(_) => ActionCode::SnapshotRequest,
            Body::ReplayStart(_) => ActionCode::ReplayStart,
            Body::TunnelAdmin(_) => ActionCode::TunnelAdmin,
            Body::TunnelPorts(_) => ActionCode::TunnelPorts,
            Body::ForwardOpen(_) => ActionCode::ForwardOpen,
            Body::ForwardCredit(_) => ActionCode::ForwardCredit,
            Body::ForwardClose(_) => ActionCode::ForwardClose,
            Body::ForwardData(_) => ActionCode::ForwardData,
            Body::TunnelCredentialRequest(_) => ActionCode::TunnelCredentialRequest,
            Body::TunnelCredential(_) => ActionCode::TunnelCredential,
            Body::Ping(_) => ActionCode::Ping,
            Body::Pong(_) => ActionCode::Pong,
            Body::Refused(_) => ActionCode::Refused,
            Body::Error(_) => ActionCode::Error,
        }
    }

    /// The value of `Refused.action`.
    pub fn to_wire(self) -> u32 {
        match self {
            ActionCode::Sealed(direction) => SEALED_BASE + u32::from(direction.to_byte()),
            control => CONTROL_CODES
                .iter()
                .find(|(code, _)| *code == control)
                .map_or(0, |(_, number)| *number),
        }
    }

    /// The code a `Refused.action` value names, `None` for a value this
    /// version does not know.
    pub fn from_wire(value: u32) -> Option<ActionCode> {
        if let Some(byte) = value
            .checked_sub(SEALED_BASE)
            .and_then(|d| u8::try_from(d).ok())
        {
            return Direction::from_byte(byte).ok().map(ActionCode::Sealed);
        }
        CONTROL_CODES
            .iter()
            .find(|(_, number)| *number == value)
            .map(|(code, _)| *code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{self as m, control::Body};
    use prost::Message;

    /// One body of every `Control` arm.
    fn every_body() -> Vec<Body> {
        vec![
            Body::SessionCreate(Default::default()),
            Body::SessionResume(Default::default()),
            Body::JoinRequest(Default::default()),
            Body::Challenge(Default::default()),
            Body::JoinProof(Default::default()),
            Body::JoinResult(Default::default()),
            Body::HostStatus(Default::default()),
            Body::SessionEnded(Default::default()),
            Body::ResumeState(Default::default()),
            Body::Presence(Default::default()),
            Body::Focus(Default::default()),
            Body::Chat(Default::default()),
            Body::Layout(Default::default()),
            Body::TerminalCreate(Default::default()),
            Body::TerminalOpened(Default::default()),
            Body::TerminalClose(Default::default()),
            Body::TerminalClosed(Default::default()),
            Body::TerminalResize(Default::default()),
            Body::InputTicket(Default::default()),
            Body::TerminalLabel(Default::default()),
            Body::AdoptionRequest(Default::default()),
            Body::AdoptionAnswer(Default::default()),
            Body::ControlGrant(Default::default()),
            Body::ControlRevoke(Default::default()),
            Body::TakeOver(Default::default()),
            Body::ControlChanged(Default::default()),
            Body::FocusLock(Default::default()),
            Body::HistoryRequest(Default::default()),
            Body::SnapshotRequest(Default::default()),
            Body::ReplayStart(Default::default()),
            Body::TunnelAdmin(Default::default()),
            Body::TunnelPorts(Default::default()),
            Body::ForwardOpen(Default::default()),
            Body::ForwardCredit(Default::default()),
            Body::ForwardClose(Default::default()),
            Body::ForwardData(Default::default()),
            Body::TunnelCredentialRequest(Default::default()),
            Body::TunnelCredential(Default::default()),
            Body::Ping(Default::default()),
            Body::Pong(Default::default()),
            Body::Refused(Default::default()),
            Body::Error(Default::default()),
        ]
    }

    #[test]
    fn control_codes_are_the_protobuf_field_numbers() {
        let bodies = every_body();
        assert_eq!(bodies.len(), CONTROL_CODES.len());
        for body in bodies {
            let code = ActionCode::of(&body);
            // An encoded `Control` opens with its body's key, a varint:
            // field number << 3 | wire type 2 (every arm is a message).
            let bytes = m::Control { body: Some(body) }.encode_to_vec();
            let key_len = bytes.iter().position(|b| b & 0x80 == 0).unwrap() + 1;
            let key = bytes[..key_len]
                .iter()
                .rev()
                .fold(0u32, |key, b| key << 7 | u32::from(b & 0x7f));
            assert_eq!(key & 7, 2, "{code:?}");
            assert_eq!(code.to_wire(), key >> 3, "{code:?}");
            assert_eq!(ActionCode::from_wire(key >> 3), Some(code));
        }
    }

    #[test]
    fn sealed_codes_are_0x100_plus_direction() {
        for (direction, wire) in [
            (Direction::Output, 0x101),
            (Direction::Input, 0x102),
            (Direction::Snapshot, 0x103),
            (Direction::Status, 0x104),
            (Direction::ForwardUp, 0x105),
            (Direction::ForwardDown, 0x106),
        ] {
            let code = ActionCode::Sealed(direction);
            assert_eq!(code.to_wire(), wire);
            assert_eq!(ActionCode::from_wire(wire), Some(code));
        }
    }

    #[test]
    fn unknown_values_are_none() {
        for value in [0, 14, 19, 27, 43, 57, 0xff, 0x100, 0x107, 0x200, u32::MAX] {
            assert_eq!(ActionCode::from_wire(value), None, "{value:#x}");
        }
    }
}
