//! The key schedule (SPEC.md section 4): every secret and key of a session
//! derived from one link secret with HKDF-SHA256.

use core::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use taiku_proto::limits::PROTOCOL_VERSION;
use taiku_proto::{Direction, Epoch, ParticipantId, Role, SessionId, TerminalId};

use crate::error::RoleNotHeld;
use crate::secret::{Key32, LinkSecret, SECRET_LEN};
use crate::stream::{Start, StreamOpener, StreamSealer};
use crate::verifier::{AdminActionKey, Prover, Verifiers};

/// The HKDF salt of every derivation.
pub const HKDF_SALT: &[u8] = b"taiku-v1";

/// Labels of the derivations, in SPEC.md section 4.2.
pub(crate) mod label {
    pub const WRITER_SECRET: &str = "writer secret";
    pub const READER_SECRET: &str = "reader secret";
    pub const AUTH: &str = "auth";
    pub const OUTPUT_ROOT: &str = "output root";
    pub const INPUT_ROOT: &str = "input root";
    pub const FORWARD_ROOT: &str = "forward root";
    pub const ADMIN_ACTION: &str = "admin action";
    pub const STREAM: &str = "stream";
    pub const JOIN_PROOF: &str = "join proof";
}

/// `version || len(label) || label || len(session id) || session id || context`:
/// the HKDF info of every derivation and the signed transcripts. Labels
/// and session ids are at most 64 bytes, so each length fits one byte and
/// the encoding is injective.
pub(crate) fn context(label: &str, session: &SessionId, extra: &[u8]) -> Vec<u8> {
    let sid = session.as_str().as_bytes();
    let mut out = Vec::with_capacity(3 + label.len() + sid.len() + extra.len());
    out.push(PROTOCOL_VERSION);
    out.push(label.len() as u8);
    out.extend_from_slice(label.as_bytes());
    out.push(sid.len() as u8);
    out.extend_from_slice(sid);
    out.extend_from_slice(extra);
    out
}

/// HKDF-SHA256 extract-and-expand: the one HKDF code path of the crate.
pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), hkdf::InvalidLength> {
    Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm)
}

/// Derive one 32-byte key.
pub(crate) fn derive(ikm: &[u8], label: &str, session: &SessionId, extra: &[u8]) -> Key32 {
    let mut out = [0u8; SECRET_LEN];
    let info = context(label, session, extra);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    if hkdf_sha256(HKDF_SALT, ikm, &info, &mut out).is_err() {
        unreachable!("32 <= 255 * 32");
    }
    Key32(out)
}

/// The per-stream context: terminal, direction and epoch.
pub(crate) fn stream_context(
    terminal: TerminalId,
    direction: Direction,
    epoch: &Epoch,
) -> [u8; 21] {
    let mut extra = [0u8; 21];
    extra[..4].copy_from_slice(&terminal.0.to_be_bytes());
    extra[4] = direction.to_byte();
    extra[5..].copy_from_slice(&epoch.0);
    extra
}

/// The key of one stream run, from its direction's root.
pub(crate) fn stream_key(
    root: &Key32,
    session: &SessionId,
    terminal: TerminalId,
    direction: Direction,
    epoch: &Epoch,
) -> Key32 {
    derive(
        &root.0,
        label::STREAM,
        session,
        &stream_context(terminal, direction, epoch),
    )
}

/// Every key a link secret reaches for one session.
///
/// Built from a [`LinkSecret`] and the session id; holds the secrets of its
/// own role and every lower one, and derives the rest on demand.
///
/// ```
/// use taiku_crypto::{KeySchedule, LinkSecret};
/// use taiku_proto::{Role, SessionId};
///
/// # let mut rng = chacha20::ChaCha20Rng::from_seed([7; 32]);
/// # use rand_core::SeedableRng;
/// let session = SessionId::new("k3Vn8sQe2Tq9Xw4L")?;
/// let host = KeySchedule::new(&LinkSecret::generate_admin(&mut rng), &session);
/// let verifiers = host.verifiers()?; // registered with the relay
///
/// // A reader link derives the reader keys only.
/// let reader = KeySchedule::new(&host.secret(Role::Reader)?, &session);
/// assert!(reader.secret(Role::Writer).is_err());
/// assert!(reader.input_root_available() == false);
/// # let _ = verifiers;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KeySchedule {
    session: SessionId,
    role: Role,
    admin: Option<Key32>,
    writer: Option<Key32>,
    reader: Key32,
}

impl fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySchedule")
            .field("session", &self.session)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl KeySchedule {
    /// Derive the schedule of `secret` for `session`.
    pub fn new(secret: &LinkSecret, session: &SessionId) -> Self {
        let own = Key32(*secret.expose());
        let (admin, writer) = match secret.role() {
            Role::Admin => {
                let writer = derive(&own.0, label::WRITER_SECRET, session, &[]);
                (Some(own), Some(writer))
            }
            Role::Writer => (None, Some(own)),
            Role::Reader => (None, None),
        };
        let reader = match &writer {
            Some(w) => derive(&w.0, label::READER_SECRET, session, &[]),
            None => Key32(*secret.expose()),
        };
        KeySchedule {
            session: session.clone(),
            role: secret.role(),
            admin,
            writer,
            reader,
        }
    }

    /// The role of the secret this schedule was built from.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The session the keys are bound to.
    pub fn session_id(&self) -> &SessionId {
        &self.session
    }

    fn role_secret(&self, role: Role) -> Result<&Key32, RoleNotHeld> {
        let not_held = RoleNotHeld {
            have: self.role,
            want: role,
        };
        match role {
            Role::Admin => self.admin.as_ref().ok_or(not_held),
            Role::Writer => self.writer.as_ref().ok_or(not_held),
            Role::Reader => Ok(&self.reader),
        }
    }

    /// The link secret of `role`, for printing a link of that role.
    pub fn secret(&self, role: Role) -> Result<LinkSecret, RoleNotHeld> {
        Ok(LinkSecret::from_bytes(role, self.role_secret(role)?.0))
    }

    /// The Ed25519 signing seed of `role` ("auth" derivation).
    fn auth_seed(&self, role: Role) -> Result<Key32, RoleNotHeld> {
        let secret = self.role_secret(role)?;
        Ok(derive(
            &secret.0,
            label::AUTH,
            &self.session,
            &[role.to_byte()],
        ))
    }

    /// The prover of this schedule's own role, which answers relay
    /// challenges.
    pub fn prover(&self) -> Prover {
        match self.auth_seed(self.role) {
            Ok(seed) => Prover::new(self.role, self.session.clone(), &seed),
            Err(_) => unreachable!("a schedule always holds its own role"),
        }
    }

    /// The three role verifiers (public keys) the host registers with the
    /// relay. Needs the admin secret.
    pub fn verifiers(&self) -> Result<Verifiers, RoleNotHeld> {
        let reader = self.auth_seed(Role::Reader)?;
        let writer = self.auth_seed(Role::Writer)?;
        let admin = self.auth_seed(Role::Admin)?;
        Ok(Verifiers::from_seeds(&reader, &writer, &admin))
    }

    fn output_root(&self) -> Key32 {
        derive(&self.reader.0, label::OUTPUT_ROOT, &self.session, &[])
    }

    fn input_root(&self) -> Result<Key32, RoleNotHeld> {
        let writer = self.role_secret(Role::Writer)?;
        Ok(derive(&writer.0, label::INPUT_ROOT, &self.session, &[]))
    }

    fn forward_root(&self) -> Result<Key32, RoleNotHeld> {
        let writer = self.role_secret(Role::Writer)?;
        Ok(derive(&writer.0, label::FORWARD_ROOT, &self.session, &[]))
    }

    /// Whether this schedule can seal and open input streams (writer or
    /// admin).
    pub fn input_root_available(&self) -> bool {
        self.writer.is_some()
    }

    /// The admin-action signing key: admins sign administrative actions so
    /// that the host can check them end to end. Needs the admin secret.
    pub fn admin_action_key(&self) -> Result<AdminActionKey, RoleNotHeld> {
        let admin = self.role_secret(Role::Admin)?;
        let seed = derive(&admin.0, label::ADMIN_ACTION, &self.session, &[]);
        Ok(AdminActionKey::new(self.session.clone(), &seed))
    }

    /// The root key a direction's streams are derived from.
    fn root(&self, direction: Direction) -> Result<Key32, RoleNotHeld> {
        match direction {
            Direction::Input => self.input_root(),
            Direction::Output | Direction::Snapshot | Direction::Status => Ok(self.output_root()),
            Direction::ForwardUp | Direction::ForwardDown => self.forward_root(),
        }
    }

    fn stream_key(
        &self,
        terminal: TerminalId,
        direction: Direction,
        epoch: &Epoch,
    ) -> Result<Key32, RoleNotHeld> {
        let root = self.root(direction)?;
        Ok(stream_key(&root, &self.session, terminal, direction, epoch))
    }

    /// A sealer for one stream run. `participant` is the sender for input,
    /// the target for snapshots (0 = all), and 0 otherwise; `epoch` must be
    /// fresh and random (see [`random_epoch`](crate::random_epoch)).
    ///
    /// Input needs a writer or admin secret.
    pub fn sealer(
        &self,
        terminal: TerminalId,
        direction: Direction,
        participant: ParticipantId,
        epoch: Epoch,
    ) -> Result<StreamSealer, RoleNotHeld> {
        let key = self.stream_key(terminal, direction, &epoch)?;
        Ok(StreamSealer::new(
            &key,
            terminal,
            direction,
            participant,
            epoch,
        ))
    }

    /// An opener for one stream run of `terminal` and `direction`, locked
    /// to the epoch of the first frame it accepts. Input needs a writer or
    /// admin secret, so a reader cannot even read others' keystrokes.
    pub fn opener(
        &self,
        terminal: TerminalId,
        direction: Direction,
        start: Start,
    ) -> Result<StreamOpener, RoleNotHeld> {
        let root = self.root(direction)?;
        Ok(StreamOpener::new(
            self.session.clone(),
            root,
            terminal,
            direction,
            start,
        ))
    }

    /// The forward root and the keys of a forward's two runs, for the
    /// SPEC.md vectors.
    #[cfg(test)]
    pub(crate) fn spec_forward_values(
        &self,
        stream: TerminalId,
        up_epoch: &Epoch,
        down_epoch: &Epoch,
    ) -> Result<Vec<(&'static str, [u8; SECRET_LEN])>, RoleNotHeld> {
        Ok(vec![
            ("forward_root", self.forward_root()?.0),
            (
                "up_key",
                self.stream_key(stream, Direction::ForwardUp, up_epoch)?.0,
            ),
            (
                "down_key",
                self.stream_key(stream, Direction::ForwardDown, down_epoch)?
                    .0,
            ),
        ])
    }

    /// Every intermediate value of the schedule, for the SPEC.md vectors.
    #[cfg(test)]
    pub(crate) fn spec_vector_values(
        &self,
        terminal: TerminalId,
        output_epoch: &Epoch,
        input_epoch: &Epoch,
    ) -> Result<Vec<(&'static str, [u8; SECRET_LEN])>, RoleNotHeld> {
        Ok(vec![
            ("writer_secret", self.role_secret(Role::Writer)?.0),
            ("reader_secret", self.reader.0),
            ("reader_seed", self.auth_seed(Role::Reader)?.0),
            ("writer_seed", self.auth_seed(Role::Writer)?.0),
            ("admin_seed", self.auth_seed(Role::Admin)?.0),
            ("output_root", self.output_root().0),
            ("input_root", self.input_root()?.0),
            (
                "admin_action_seed",
                derive(
                    &self.role_secret(Role::Admin)?.0,
                    label::ADMIN_ACTION,
                    &self.session,
                    &[],
                )
                .0,
            ),
            (
                "output_key",
                self.stream_key(terminal, Direction::Output, output_epoch)?
                    .0,
            ),
            (
                "input_key",
                self.stream_key(terminal, Direction::Input, input_epoch)?.0,
            ),
        ])
    }
}
