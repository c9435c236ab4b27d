//! Challenge-signature verifiers (SPEC.md section 4.4).
//!
//! Each role secret yields an Ed25519 signing key; the relay stores only
//! the three public keys. To join, a peer signs a labelled transcript of
//! protocol version, session id, role and a fresh 32-byte relay challenge.
//! A leaked relay store therefore lets nobody join, and a proof seen once
//! fails against every later challenge.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use taiku_proto::limits::{CHALLENGE_LEN, SIGNATURE_LEN, VERIFIER_LEN};
use taiku_proto::{Role, SessionId};

use crate::error::{AuthError, InvalidVerifier};
use crate::schedule::{context, label};
use crate::secret::Key32;

/// A fresh random challenge the relay sends to each connection.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Challenge([u8; CHALLENGE_LEN]);

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Challenge(..)")
    }
}

impl Challenge {
    /// Draw a challenge from the relay's RNG.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut bytes);
        Challenge(bytes)
    }

    /// Read a challenge from the wire.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AuthError> {
        bytes
            .try_into()
            .map(Challenge)
            .map_err(|_| AuthError::ChallengeLength)
    }

    /// The challenge bytes.
    pub fn as_bytes(&self) -> &[u8; CHALLENGE_LEN] {
        &self.0
    }
}

/// The message a join proof signs.
fn join_transcript(session: &SessionId, role: Role, challenge: &Challenge) -> Vec<u8> {
    let mut extra = [0u8; 1 + CHALLENGE_LEN];
    extra[0] = role.to_byte();
    extra[1..].copy_from_slice(&challenge.0);
    context(label::JOIN_PROOF, session, &extra)
}

/// A join proof: the claimed role and the signature over the transcript.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    role: Role,
    signature: [u8; SIGNATURE_LEN],
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proof")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Proof {
    /// Read a proof from the wire fields of a `JoinProof` message.
    pub fn from_wire(role: i32, signature: &[u8]) -> Result<Self, AuthError> {
        let role = Role::from_proto(role).ok_or(AuthError::UnknownRole)?;
        let signature = signature
            .try_into()
            .map_err(|_| AuthError::SignatureLength)?;
        Ok(Proof { role, signature })
    }

    /// The role the proof claims.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The 64 signature bytes.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
}

/// Answers relay challenges for one role of one session.
pub struct Prover {
    role: Role,
    session: SessionId,
    key: SigningKey,
}

impl fmt::Debug for Prover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prover")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Prover {
    pub(crate) fn new(role: Role, session: SessionId, seed: &Key32) -> Self {
        Prover {
            role,
            session,
            key: SigningKey::from_bytes(&seed.0),
        }
    }

    /// The role this prover proves.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Sign the join transcript for `challenge`.
    pub fn prove(&self, challenge: &Challenge) -> Proof {
        let message = join_transcript(&self.session, self.role, challenge);
        Proof {
            role: self.role,
            signature: self.key.sign(&message).to_bytes(),
        }
    }
}

/// One Ed25519 public key, checked with `verify_strict` (no malleable or
/// non-canonical signatures, no small-order keys).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Verifier(VerifyingKey);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(")?;
        for b in self.0.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

impl Verifier {
    /// Parse a public key; weak (small-order) keys and non-canonical
    /// encodings (y ≥ p, or a sign bit on x = 0) are refused: exactly one
    /// encoding of each key is valid, so a key cannot be registered
    /// twice under two spellings.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; VERIFIER_LEN] = bytes.try_into().ok()?;
        let key = VerifyingKey::from_bytes(bytes).ok()?;
        // ed25519-dalek decompresses a non-canonical y and keeps the bytes
        // as given; compressing the point again gives the canonical
        // encoding, so a key that does not round-trip was not canonical.
        if key.is_weak() || key.to_edwards().compress().to_bytes() != *bytes {
            return None;
        }
        Some(Verifier(key))
    }

    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; VERIFIER_LEN] {
        self.0.to_bytes()
    }

    /// Check `signature` over `message` strictly.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), AuthError> {
        let bytes: &[u8; SIGNATURE_LEN] = signature
            .try_into()
            .map_err(|_| AuthError::SignatureLength)?;
        self.0
            .verify_strict(message, &Signature::from_bytes(bytes))
            .map_err(|_| AuthError::BadSignature)
    }
}

/// The three role verifiers of a session: all the relay stores to admit
/// peers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Verifiers {
    reader: Verifier,
    writer: Verifier,
    admin: Verifier,
}

impl Verifiers {
    pub(crate) fn from_seeds(reader: &Key32, writer: &Key32, admin: &Key32) -> Self {
        let public = |seed: &Key32| Verifier(SigningKey::from_bytes(&seed.0).verifying_key());
        Verifiers {
            reader: public(reader),
            writer: public(writer),
            admin: public(admin),
        }
    }

    /// Parse the verifiers a host registered (`RoleVerifiers` message).
    pub fn from_bytes(reader: &[u8], writer: &[u8], admin: &[u8]) -> Result<Self, InvalidVerifier> {
        let parse =
            |bytes: &[u8], role| Verifier::from_bytes(bytes).ok_or(InvalidVerifier { role });
        let verifiers = Verifiers {
            reader: parse(reader, Role::Reader)?,
            writer: parse(writer, Role::Writer)?,
            admin: parse(admin, Role::Admin)?,
        };
        // Distinct keys: equal keys would let one role's proof pass as another.
        for (a, b, role) in [
            (&verifiers.reader, &verifiers.writer, Role::Writer),
            (&verifiers.writer, &verifiers.admin, Role::Admin),
            (&verifiers.reader, &verifiers.admin, Role::Admin),
        ] {
            if bool::from(a.0.as_bytes().ct_eq(b.0.as_bytes())) {
                return Err(InvalidVerifier { role });
            }
        }
        Ok(verifiers)
    }

    /// The verifier of one role.
    pub fn get(&self, role: Role) -> &Verifier {
        match role {
            Role::Reader => &self.reader,
            Role::Writer => &self.writer,
            Role::Admin => &self.admin,
        }
    }

    /// Check a join proof against `challenge` and return the proven role.
    pub fn check(
        &self,
        session: &SessionId,
        challenge: &Challenge,
        proof: &Proof,
    ) -> Result<Role, AuthError> {
        let message = join_transcript(session, proof.role, challenge);
        self.get(proof.role).verify(&message, &proof.signature)?;
        Ok(proof.role)
    }
}

/// The admin-action signing key: lets an admin sign an administrative
/// action (take-over, tunnel change) that the host checks end to end.
pub struct AdminActionKey {
    session: SessionId,
    key: SigningKey,
}

impl fmt::Debug for AdminActionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminActionKey(..)")
    }
}

impl AdminActionKey {
    pub(crate) fn new(session: SessionId, seed: &Key32) -> Self {
        AdminActionKey {
            session,
            key: SigningKey::from_bytes(&seed.0),
        }
    }

    /// Sign the canonical encoding of an action. The session layer chooses
    /// the encoding and binds freshness (SPEC.md section 4.7).
    pub fn sign(&self, action: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key
            .sign(&context(label::ADMIN_ACTION, &self.session, action))
            .to_bytes()
    }

    /// Check an action signature made with this key.
    pub fn verify(&self, action: &[u8], signature: &[u8]) -> Result<(), AuthError> {
        Verifier(self.key.verifying_key()).verify(
            &context(label::ADMIN_ACTION, &self.session, action),
            signature,
        )
    }
}
