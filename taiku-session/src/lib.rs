//! # taiku-session
//!
//! The Sans-IO state machines of taiku, which any transport or UI drives:
//!
//! - [`relay`]: the relay machine. It admits peers against each session's
//!   verifiers, routes sealed frames byte for byte, keeps the replay rings
//!   and enforces every access rule, without ever holding a key (SPEC.md
//!   section 6);
//! - [`host`]: the host machine. It creates or resumes the session, seals
//!   each terminal's output, opens and re-checks input, answers snapshot
//!   requests, and binds shell commands and agent status to their own
//!   terminal (SPEC.md section 11.1);
//! - [`participant`]: the participant machine. It joins from a link,
//!   replays then follows each terminal's output, keeps a queryable
//!   [`View`](participant::View) and refuses locally what the rules forbid
//!   (SPEC.md section 11.2);
//! - [`access`]: the role and ownership rules, written once and applied by
//!   the relay, the host and the participant;
//! - [`agent`]: agent status and the detector interface;
//! - [`screen`]: terminal screen models, from which the host makes
//!   snapshots (SPEC.md section 11.6).
//!
//! Like every core crate of taiku it has no IO, no clock and no async
//! runtime: time is an argument, randomness is injected, output is drained
//! with `poll_*` methods.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod admin;
pub mod admission;
pub mod agent;
mod bucket;
mod epochs;
pub mod host;
mod keepalive;
pub mod participant;
pub mod predict;
pub mod relay;
pub mod screen;
mod ticket;

/// The SPEC.md vector reader shared by every crate's tests.
#[cfg(test)]
#[path = "../../taiku-proto/tests/support/spec.rs"]
mod spec;
