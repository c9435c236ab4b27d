//! # taiku-session
//!
//! The Sans-IO state machines of taiku:
//!
//! - [`relay`]: the relay machine a custom relay drives. It admits peers
//!   against each session's verifiers, routes sealed frames byte for byte,
//!   keeps the replay rings and enforces every access rule, without ever
//!   holding a key (SPEC.md section 6);
//! - [`access`]: the role and ownership rules, written once and applied by
//!   the relay and by the host's own copy of the ownership table.
//!
//! Like every core crate of taiku it has no IO, no clock and no async
//! runtime: time is an argument, randomness is injected, output is drained
//! with `poll_*` methods.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod agent;
pub mod host;
pub mod participant;
pub mod relay;
