//! Secret types: link secrets and derived keys. Every one zeroizes on
//! drop, prints redacted, and compares in constant time.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use taiku_proto::Role;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of every link secret and derived key, in bytes.
pub const SECRET_LEN: usize = 32;

/// The secret carried in a link's fragment: 256 bits and the role it grants.
///
/// The host generates the admin secret; the writer and reader secrets are
/// derived one-way from it (see [`KeySchedule`](crate::KeySchedule)), so a
/// lower link never reveals a higher one.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret {
    #[zeroize(skip)]
    role: Role,
    bytes: [u8; SECRET_LEN],
}

impl LinkSecret {
    /// Generate a fresh admin secret for a new session.
    pub fn generate_admin<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        rng.fill_bytes(&mut bytes);
        LinkSecret {
            role: Role::Admin,
            bytes,
        }
    }

    /// Wrap secret bytes of a known role (as read from a link). The caller's
    /// copy should be zeroized by the caller.
    pub fn from_bytes(role: Role, bytes: [u8; SECRET_LEN]) -> Self {
        LinkSecret { role, bytes }
    }

    /// The role this secret grants.
    pub fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSecret")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for LinkSecret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        let same_role = u8::from(self.role == other.role);
        self.bytes.ct_eq(&other.bytes) & subtle::Choice::from(same_role)
    }
}

impl PartialEq for LinkSecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for LinkSecret {}

/// A 256-bit derived key. Never leaves the crate as bytes except through
/// the SPEC vector accessors of [`KeySchedule`](crate::KeySchedule).
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Key32(pub(crate) [u8; SECRET_LEN]);

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(..)")
    }
}

impl ConstantTimeEq for Key32 {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}
