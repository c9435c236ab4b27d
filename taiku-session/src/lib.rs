//! # taiku-session
//!
//! The Sans-IO state machines of taiku. This release carries the access
//! rules that the relay and the host both apply ([`access`]): which
//! verified role may do what to which terminal, given the ownership table.
//! The relay, host and participant machines build on them (SPEC.md
//! section 6).
//!
//! Like every core crate of taiku it has no IO, no clock and no async
//! runtime.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod access;
pub mod relay;
