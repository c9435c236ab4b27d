//! Admission messages (SPEC.md 6.1) made from a key schedule. The host and
//! participant machines send them; anything else that drives a relay
//! machine (a test harness, a benchmark, a fuzz target, another client)
//! builds them here rather than by hand.
//!
//! ```
//! use taiku_crypto::{Challenge, KeySchedule, LinkSecret};
//! use taiku_proto::message::{self as m, control::Body};
//! use taiku_proto::{Role, SessionId};
//! use taiku_session::admission;
//!
//! let sid = SessionId::new("doc-admission-01").unwrap();
//! let keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [7; 32]), &sid);
//! let create = admission::session_create(&keys, taiku_session::SessionOptions::default(), None).unwrap();
//! assert!(matches!(create, Body::SessionCreate(_)));
//! let challenge = Body::Challenge(m::Challenge { nonce: vec![1; 32].into() });
//! let challenge = admission::challenge(&challenge).unwrap();
//! let Body::JoinProof(proof) = admission::join_proof(&keys.prover(), &challenge) else { unreachable!() };
//! assert_eq!(proof.role, Role::Admin.to_proto());
//! ```

use bytes::Bytes;
use taiku_crypto::{Challenge, KeySchedule, Prover, RoleNotHeld};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{ParticipantId, Role};

use crate::SessionOptions;

/// `SessionCreate` for the session of `keys`, with its three verifiers.
/// Only an admin key schedule holds them all.
pub fn session_create(
    keys: &KeySchedule,
    options: SessionOptions,
    profile: Option<m::Profile>,
) -> Result<Body, RoleNotHeld> {
    let v = keys.verifiers()?;
    let key = |role| Bytes::copy_from_slice(&v.get(role).to_bytes());
    Ok(Body::SessionCreate(m::SessionCreate {
        session_id: keys.session_id().to_string(),
        verifiers: Some(m::RoleVerifiers {
            reader: key(Role::Reader),
            writer: key(Role::Writer),
            admin: key(Role::Admin),
        }),
        options: Some(options.to_proto()),
        profile,
    }))
}

/// `JoinProof`: the prover's signature over `challenge` (SPEC.md 4.4).
/// A key schedule's prover is `KeySchedule::prover`.
pub fn join_proof(prover: &Prover, challenge: &Challenge) -> Body {
    let proof = prover.prove(challenge);
    Body::JoinProof(m::JoinProof {
        role: proof.role().to_proto(),
        signature: Bytes::copy_from_slice(proof.signature()),
    })
}

/// The challenge in `body`, if it is a well-formed `Challenge`.
pub fn challenge(body: &Body) -> Option<Challenge> {
    match body {
        Body::Challenge(c) => Challenge::from_slice(&c.nonce).ok(),
        _ => None,
    }
}

/// A join the relay accepted (`JoinResult.accepted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Accepted {
    /// The id the relay gave the connection.
    pub participant: ParticipantId,
    /// The role it proved.
    pub role: Role,
    /// The session's options.
    pub options: SessionOptions,
    /// Whether the host is connected.
    pub host_online: bool,
}

/// The outcome in `body`, if it is a well-formed `JoinResult`: what the
/// relay accepted, or the refusal. `None` for any other message, and for
/// an acceptance that names no valid role.
pub fn join_result(body: &Body) -> Option<Result<Accepted, m::RefusalReason>> {
    match body {
        Body::JoinResult(m::JoinResult {
            outcome: Some(m::join_result::Outcome::Accepted(a)),
        }) => Some(Ok(Accepted {
            participant: ParticipantId(a.participant_id),
            role: Role::from_proto(a.role)?,
            options: a
                .options
                .as_ref()
                .map(SessionOptions::from_proto)
                .unwrap_or_else(|| SessionOptions::from_proto(&m::SessionOptions::default())),
            host_online: a.host_online,
        })),
        Body::JoinResult(m::JoinResult {
            outcome: Some(m::join_result::Outcome::Refused(r)),
        }) => Some(Err(
            m::RefusalReason::try_from(*r).unwrap_or(m::RefusalReason::Unspecified)
        )),
        _ => None,
    }
}
