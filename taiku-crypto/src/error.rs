//! The typed errors of the crypto layer. None of them carries key material
//! or plaintext.

use taiku_proto::{Direction, EncodeError, Epoch, Role, Seq, SessionIdError, TerminalId};

/// Why a link could not be parsed (SPEC.md section 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The text is not `http(s)://HOST/s/<session-id>#<fragment>`.
    #[error("not a taiku link: expected http(s)://HOST/s/<session-id>#<fragment>")]
    NotALink,
    /// There is no `#` and so no secret.
    #[error("the link has no #fragment with the secret")]
    MissingFragment,
    /// The session id is out of its alphabet or length.
    #[error("bad session id in link: {0}")]
    SessionId(#[from] SessionIdError),
    /// The fragment's version character is not one this crate reads.
    #[error("unsupported link version {0:?}")]
    UnsupportedVersion(char),
    /// The fragment's role character is not `r`, `w` or `a`.
    #[error("unknown role {0:?} in link")]
    UnknownRole(char),
    /// The encoded secret is not 43 characters (32 bytes).
    #[error("link secret must be 43 characters, not {0}")]
    SecretLength(usize),
    /// The secret is not canonical unpadded URL-safe base64.
    #[error("link secret is not canonical URL-safe base64")]
    NonCanonicalBase64,
    /// The relay pin after `.` is not 43 characters (32 bytes).
    #[error("relay pin must be 43 characters, not {0}")]
    PinLength(usize),
    /// The relay pin is not canonical unpadded URL-safe base64.
    #[error("relay pin is not canonical URL-safe base64")]
    NonCanonicalPin,
    /// A pin on an `http` link: there is no certificate to pin.
    #[error("a relay pin needs an https:// relay")]
    PinNeedsHttps,
}

/// A role that a key schedule cannot reach: only equal or lower roles can be
/// derived from a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {have:?} secret cannot produce {want:?} keys")]
pub struct RoleNotHeld {
    /// The schedule's role.
    pub have: Role,
    /// The role that was asked for.
    pub want: Role,
}

/// Why the relay refused a join proof. Deliberately coarse towards the
/// peer: the relay answers every variant with the same refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The proof's role field is not a role.
    #[error("proof names no valid role")]
    UnknownRole,
    /// The signature is not 64 bytes.
    #[error("signature must be 64 bytes")]
    SignatureLength,
    /// The challenge is not 32 bytes.
    #[error("challenge must be 32 bytes")]
    ChallengeLength,
    /// The signature does not verify strictly under the role's key.
    #[error("signature does not verify for the claimed role")]
    BadSignature,
}

/// A verifier public key that is not a valid Ed25519 point, or a weak one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{role:?} verifier is not a valid Ed25519 public key")]
pub struct InvalidVerifier {
    /// Which verifier.
    pub role: Role,
}

/// Why a frame could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Every data sequence number of this stream was used; start a new
    /// stream with a fresh epoch.
    #[error("sequence numbers exhausted; start a new epoch")]
    SequenceExhausted,
    /// The stream was ended with [`finish`](crate::StreamSealer::finish).
    #[error("the stream has ended")]
    Finished,
    /// The frame would exceed the maximum frame length.
    #[error("sealed frame too long: {0}")]
    TooLong(#[from] EncodeError),
}

/// Why a sealed frame was not opened. On every error the opener's state is
/// unchanged: the next valid frame still opens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The frame belongs to another terminal.
    #[error("frame is for terminal {got}, this stream is terminal {expected}")]
    WrongTerminal {
        /// This opener's terminal.
        expected: TerminalId,
        /// The frame's terminal.
        got: TerminalId,
    },
    /// The frame belongs to another direction.
    #[error("frame is {got:?}, this stream is {expected:?}")]
    WrongDirection {
        /// This opener's direction.
        expected: Direction,
        /// The frame's direction.
        got: Direction,
    },
    /// The frame belongs to another epoch of the stream.
    #[error("frame is from another epoch")]
    WrongEpoch {
        /// The epoch this opener is locked to.
        expected: Epoch,
        /// The frame's epoch.
        got: Epoch,
    },
    /// The frame is from another sender than this input stream's.
    #[error("frame is from another participant")]
    WrongParticipant,
    /// The frame repeats the last accepted sequence number.
    #[error("replayed frame {0}")]
    Replayed(Seq),
    /// The frame is older than the last accepted one.
    #[error("reordered frame {got}, expected {expected}")]
    Reordered {
        /// Next sequence number expected.
        expected: Seq,
        /// The frame's sequence number.
        got: Seq,
    },
    /// Frames between the last accepted one and this one are missing.
    #[error("gap: expected frame {expected}, got {got}")]
    Gap {
        /// Next sequence number expected.
        expected: Seq,
        /// The frame's sequence number.
        got: Seq,
    },
    /// The stream must be read from its start and this frame is not the
    /// first.
    #[error("stream must start at frame 0, got {0}")]
    NotAtStart(Seq),
    /// The stream has already ended.
    #[error("frame after the end of the stream")]
    AfterEnd,
    /// A data frame at sequence number 2^64 - 1, which only FIN may use.
    #[error("data frame at the reserved sequence number {0}")]
    ReservedSeq(Seq),
    /// The tag does not verify: wrong key (session, role root, epoch),
    /// tampered header or ciphertext.
    #[error("frame failed authentication")]
    Forged,
}
