//! Newtypes for the identifiers and counters that appear on the wire.
//!
//! Each is a thin wrapper so that a terminal id can never be passed where a
//! participant id is expected. The inner value is public: these are wire
//! values, not capabilities, and carry no authority of their own.

use core::fmt;

/// A terminal within a session. Allocated by the host; `0` means "none".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TerminalId(pub u32);

/// A participant within a session, assigned by the relay at admission.
/// The host is always [`ParticipantId::HOST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ParticipantId(pub u32);

impl ParticipantId {
    /// The host's participant id.
    pub const HOST: ParticipantId = ParticipantId(0);
}

/// The sequence number of a frame within one sealed stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

/// The random 128-bit epoch that names one run of a sealed stream.
///
/// A sender picks a fresh epoch whenever it (re)starts a stream, so the
/// same key and nonce are never used twice even across restarts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Epoch(pub [u8; 16]);

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Epoch(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(TerminalId, ParticipantId, Seq);

/// A session id: [`MIN_SESSION_ID_LEN`] to [`MAX_SESSION_ID_LEN`]
/// characters of the URL-safe alphabet `A-Z a-z 0-9 - _`.
///
/// Session ids are public (they are in the relay-facing part of a link)
/// and are bound into every key and signature of the session.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(String);

/// Why a string is not a valid [`SessionId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionIdError {
    /// Shorter or longer than the allowed range.
    #[error("session id must be {min} to {max} characters, not {0}", min = MIN_SESSION_ID_LEN, max = MAX_SESSION_ID_LEN)]
    Length(usize),
    /// A character outside `A-Z a-z 0-9 - _` at this byte offset.
    #[error("session id has a character outside A-Z a-z 0-9 - _ at offset {0}")]
    Alphabet(usize),
}

use crate::limits::{MAX_SESSION_ID_LEN, MIN_SESSION_ID_LEN};

impl SessionId {
    /// Validate and wrap a session id.
    pub fn new(id: &str) -> Result<Self, SessionIdError> {
        if let Some(pos) = id
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(SessionIdError::Alphabet(pos));
        }
        if !(MIN_SESSION_ID_LEN..=MAX_SESSION_ID_LEN).contains(&id.len()) {
            return Err(SessionIdError::Length(id.len()));
        }
        Ok(SessionId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The role a link grants. Ordered: a higher role can do everything a
/// lower one can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sees output and metadata; cannot type or administer.
    Reader,
    /// May create terminals and type into the ones it controls.
    Writer,
    /// May additionally take over any terminal and administer tunnels.
    Admin,
}

impl Role {
    /// All roles, lowest first.
    pub const ALL: [Role; 3] = [Role::Reader, Role::Writer, Role::Admin];

    /// The role's byte in key derivation contexts and transcripts, equal to
    /// its protobuf enum value.
    pub fn to_byte(self) -> u8 {
        match self {
            Role::Reader => 1,
            Role::Writer => 2,
            Role::Admin => 3,
        }
    }

    /// Parse the role byte (or protobuf value); `None` for anything else.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Role::Reader),
            2 => Some(Role::Writer),
            3 => Some(Role::Admin),
            _ => None,
        }
    }

    /// The protobuf enum value.
    pub fn to_proto(self) -> i32 {
        i32::from(self.to_byte())
    }

    /// Parse a protobuf enum value; `None` for UNSPECIFIED or unknown values.
    pub fn from_proto(value: i32) -> Option<Self> {
        u8::try_from(value).ok().and_then(Role::from_byte)
    }

    /// The role's name in links and logs: `reader`, `writer`, `admin`.
    ///
    /// ```
    /// use taiku_proto::Role;
    /// assert_eq!(Role::Writer.as_str(), "writer");
    /// assert_eq!(Role::Admin.to_string(), "admin");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

/// `reader`, `writer` or `admin`.
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
