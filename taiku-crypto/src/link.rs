//! Links (SPEC.md section 2): `http(s)://HOST/s/<session-id>#<fragment>`.
//!
//! The fragment is `1` (format version), a role letter (`r`, `w`, `a`) and
//! the 32-byte secret in unpadded URL-safe base64, optionally followed by
//! `.` and the relay's certificate pin (the SHA-256 of its
//! SubjectPublicKeyInfo, same encoding). Browsers never send the fragment
//! to the server; the relay-facing part of the link (see
//! [`Link::relay_url`]) never contains the secret.

use core::fmt;

use taiku_proto::{Role, SessionId};
use zeroize::Zeroizing;

use crate::base64url;
use crate::error::LinkError;
use crate::secret::{LinkSecret, SECRET_LEN};

/// The fragment format version this crate reads and writes.
pub const FRAGMENT_VERSION: char = '1';

const SECRET_CHARS: usize = base64url::encoded_len(SECRET_LEN);

/// Bytes of a relay certificate pin: a SHA-256 digest.
pub const PIN_LEN: usize = 32;

/// The separator between the secret and the pin in a fragment.
pub const PIN_SEPARATOR: char = '.';

/// The pin of a relay certificate whose SubjectPublicKeyInfo (DER, outer
/// `SEQUENCE` included) is `spki`: its SHA-256 (SPEC.md section 2).
pub fn relay_pin(spki: &[u8]) -> [u8; PIN_LEN] {
    use sha2::Digest;
    sha2::Sha256::digest(spki).into()
}

fn role_char(role: Role) -> char {
    match role {
        Role::Reader => 'r',
        Role::Writer => 'w',
        Role::Admin => 'a',
    }
}

/// A parsed or constructed link: relay origin, session id and one secret.
pub struct Link {
    origin: String,
    session: SessionId,
    secret: LinkSecret,
    pin: Option<[u8; PIN_LEN]>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("relay_url", &self.relay_url())
            .field("role", &self.secret.role())
            .field("pinned", &self.pin.is_some())
            .finish_non_exhaustive()
    }
}

/// Check `scheme://authority` with no path, query or fragment.
fn valid_origin(origin: &str) -> bool {
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match authority {
        Some(a) => {
            !a.is_empty()
                && a.bytes().all(|b| {
                    b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\')
                })
        }
        None => false,
    }
}

impl Link {
    /// A link to `session` on the relay at `origin` (`https://host[:port]`,
    /// or `http://` for a local relay) carrying `secret`.
    pub fn new(origin: &str, session: SessionId, secret: LinkSecret) -> Result<Self, LinkError> {
        if !valid_origin(origin) {
            return Err(LinkError::NotALink);
        }
        Ok(Link {
            origin: origin.to_owned(),
            session,
            secret,
            pin: None,
        })
    }

    /// The same link, pinned to the relay certificate whose
    /// SubjectPublicKeyInfo hashes to `pin` ([`relay_pin`]): a client then
    /// trusts that certificate, and only it, for this relay, with no CA.
    /// Only an `https` origin can be pinned.
    pub fn with_relay_pin(mut self, pin: [u8; PIN_LEN]) -> Result<Self, LinkError> {
        if !self.origin.starts_with("https://") {
            return Err(LinkError::PinNeedsHttps);
        }
        self.pin = Some(pin);
        Ok(self)
    }

    /// The relay certificate pin, if the link carries one.
    pub fn relay_pin(&self) -> Option<&[u8; PIN_LEN]> {
        self.pin.as_ref()
    }

    /// Parse a link. Every malformed part has its own [`LinkError`].
    pub fn parse(text: &str) -> Result<Self, LinkError> {
        let (base, fragment) = text.split_once('#').ok_or(LinkError::MissingFragment)?;
        let (origin, id) = base.rsplit_once("/s/").ok_or(LinkError::NotALink)?;
        if !valid_origin(origin) {
            return Err(LinkError::NotALink);
        }
        let session = SessionId::new(id)?;
        let mut chars = fragment.chars();
        let version = chars.next().ok_or(LinkError::SecretLength(0))?;
        if version != FRAGMENT_VERSION {
            return Err(LinkError::UnsupportedVersion(version));
        }
        let role = match chars.next() {
            Some('r') => Role::Reader,
            Some('w') => Role::Writer,
            Some('a') => Role::Admin,
            Some(other) => return Err(LinkError::UnknownRole(other)),
            None => return Err(LinkError::SecretLength(0)),
        };
        let (encoded, pin) = match chars.as_str().split_once(PIN_SEPARATOR) {
            Some((secret, pin)) => (secret, Some(pin)),
            None => (chars.as_str(), None),
        };
        if encoded.len() != SECRET_CHARS {
            return Err(LinkError::SecretLength(encoded.len()));
        }
        let bytes = Zeroizing::new(
            base64url::decode_exact::<SECRET_LEN>(encoded.as_bytes())
                .ok_or(LinkError::NonCanonicalBase64)?,
        );
        let pin = match pin {
            None => None,
            Some(pin) => {
                if pin.len() != SECRET_CHARS {
                    return Err(LinkError::PinLength(pin.len()));
                }
                let pin = base64url::decode_exact::<PIN_LEN>(pin.as_bytes())
                    .ok_or(LinkError::NonCanonicalPin)?;
                if !origin.starts_with("https://") {
                    return Err(LinkError::PinNeedsHttps);
                }
                Some(pin)
            }
        };
        Ok(Link {
            origin: origin.to_owned(),
            session,
            secret: LinkSecret::from_bytes(role, *bytes),
            pin,
        })
    }

    /// The relay origin, e.g. `https://relay.example`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The session id.
    pub fn session_id(&self) -> &SessionId {
        &self.session
    }

    /// The role the link grants.
    pub fn role(&self) -> Role {
        self.secret.role()
    }

    /// The secret, for building a [`KeySchedule`](crate::KeySchedule).
    pub fn secret(&self) -> &LinkSecret {
        &self.secret
    }

    /// The part of the link a browser sends to the relay: no secret.
    pub fn relay_url(&self) -> String {
        format!("{}/s/{}", self.origin, self.session)
    }

    /// The whole link, secret in the fragment. Treat it as the secret it
    /// is: show it to the user, never log it.
    pub fn to_url(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(self.origin.len() + 128));
        out.push_str(&self.origin);
        out.push_str("/s/");
        out.push_str(self.session.as_str());
        out.push('#');
        out.push(FRAGMENT_VERSION);
        out.push(role_char(self.secret.role()));
        base64url::encode(self.secret.expose(), &mut out);
        if let Some(pin) = &self.pin {
            out.push(PIN_SEPARATOR);
            base64url::encode(pin, &mut out);
        }
        out
    }
}
