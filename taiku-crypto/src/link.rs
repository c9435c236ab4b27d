//! Links (SPEC.md section 2): `http(s)://HOST/s/<session-id>#<fragment>`.
//!
//! The fragment is `1` (format version), a role letter (`r`, `w`, `a`) and
//! the 32-byte secret in unpadded URL-safe base64. Browsers never send the
//! fragment to the server; the relay-facing part of the link (see
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
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("relay_url", &self.relay_url())
            .field("role", &self.secret.role())
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
        })
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
        let encoded = chars.as_str();
        if encoded.len() != SECRET_CHARS {
            return Err(LinkError::SecretLength(encoded.len()));
        }
        let bytes = Zeroizing::new(
            base64url::decode_exact::<SECRET_LEN>(encoded.as_bytes())
                .ok_or(LinkError::NonCanonicalBase64)?,
        );
        Ok(Link {
            origin: origin.to_owned(),
            session,
            secret: LinkSecret::from_bytes(role, *bytes),
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
        out
    }
}
