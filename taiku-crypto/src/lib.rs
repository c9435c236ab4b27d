//! # taiku-crypto
//!
//! The cryptography of taiku, a pure crate with no IO, no clock and no
//! randomness of its own (callers pass a `rand_core` RNG):
//!
//! - [`LinkSecret`] and [`Link`]: the 256-bit secret in a link's fragment,
//!   and the exact link format;
//! - [`KeySchedule`]: the writer and reader secrets derived one-way from
//!   the admin secret, and every key below them (HKDF-SHA256);
//! - [`Verifiers`] and [`Prover`]: Ed25519 challenge signatures, so the
//!   relay admits peers while storing only public keys;
//! - [`StreamSealer`] and [`StreamOpener`]: ChaCha20-Poly1305 streams bound
//!   to session, terminal, direction and epoch, with the frame header as
//!   associated data and in-order, exactly-once delivery.
//!
//! SPEC.md section 4 is the normative description; its test vectors are
//! checked by this crate's tests.
//!
//! ```
//! use rand_core::SeedableRng;
//! use taiku_crypto::{Challenge, KeySchedule, Link, LinkSecret, Opened, Start, random_epoch};
//! use taiku_proto::{Direction, ParticipantId, Role, SessionId, TerminalId};
//!
//! let mut rng = chacha20::ChaCha20Rng::from_seed([1; 32]);
//! let session = SessionId::new("k3Vn8sQe2Tq9Xw4L")?;
//!
//! // Host: a fresh admin secret, the verifiers for the relay, a reader link.
//! let host = KeySchedule::new(&LinkSecret::generate_admin(&mut rng), &session);
//! let verifiers = host.verifiers()?;
//! let link = Link::new("https://relay.example", session.clone(), host.secret(Role::Reader)?)?;
//!
//! // Participant: parse the link, prove the role to the relay.
//! let parsed = Link::parse(&link.to_url())?;
//! let viewer = KeySchedule::new(parsed.secret(), parsed.session_id());
//! let challenge = Challenge::random(&mut rng);
//! let proof = viewer.prover().prove(&challenge);
//! assert_eq!(verifiers.check(&session, &challenge, &proof), Ok(Role::Reader));
//!
//! // Host output, opened by the reader.
//! let mut sealer = host.sealer(TerminalId(1), Direction::Output, ParticipantId::HOST, random_epoch(&mut rng))?;
//! let frame = sealer.seal(b"$ ")?;
//! let mut opener = viewer.opener(TerminalId(1), Direction::Output, Start::FromStart)?;
//! assert_eq!(opener.open(&frame)?, Opened::Data(bytes::Bytes::from_static(b"$ ")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The `rand_core` crate, whose `CryptoRng` this crate's signatures use.
pub use rand_core;

mod base64url;
mod error;
mod link;
mod schedule;
mod secret;
mod stream;
mod verifier;

#[cfg(test)]
mod tests;

pub use error::{AuthError, InvalidVerifier, LinkError, OpenError, RoleNotHeld, SealError};
pub use link::{FRAGMENT_VERSION, Link, PIN_LEN, PIN_SEPARATOR, relay_pin};
pub use schedule::{HKDF_SALT, KeySchedule};
pub use secret::{LinkSecret, SECRET_LEN};
pub use stream::{MAX_DATA_SEQ, Opened, Start, StreamOpener, StreamSealer};
pub use verifier::{AdminActionKey, Challenge, Proof, Prover, Verifier, Verifiers};

use rand_core::CryptoRng;
use taiku_proto::Epoch;

/// Draw a fresh random 128-bit stream epoch.
pub fn random_epoch<R: CryptoRng + ?Sized>(rng: &mut R) -> Epoch {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    Epoch(bytes)
}
