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
//!
//! ## Driving a machine
//!
//! Every machine is driven the same way; `taiku-transport`'s drivers do
//! exactly this over WebSockets. For each machine, in a loop:
//!
//! 1. Feed it what happened, each with the current time: a connection
//!    (`connect`, or `handle_connect` on the relay), every whole frame
//!    received (`handle_frame`; the relay also takes undecoded bytes with
//!    `handle_message`), a connection lost (`handle_disconnect`), a
//!    write that cannot go out now (`handle_blocked` /
//!    `handle_unblocked`, relay only), and the application's own calls
//!    (typing, output of a PTY, `open_terminal`…).
//! 2. Drain `poll_transmit` until it returns `None` and send what it gave,
//!    in order. Any call in step 1, or on an event in step 4, may queue
//!    frames: drain again after each batch of calls, before waiting. On
//!    the relay, [`Transmit::Close`](relay::Transmit::Close) means close
//!    that connection now (after writing what was sent before it) and
//!    expect nothing more for it; report its end with `handle_disconnect`
//!    only if the peer hung up first.
//! 3. Call `handle_timeout` when the time `poll_timeout` returned has come
//!    (`None`: no timer), then drain again. A host's or participant's
//!    `poll_close` says its connection has been silent too long: close
//!    it, call `handle_disconnect`, and reconnect.
//! 4. Drain `poll_event` and act on what the application cares about.
//!
//! Within one turn the order of steps 2 to 4 is free (the example below
//! drains events before it lets time pass); what matters is that every
//! drain follows every input before the driver waits again.
//!
//! A frame that does not decode (`Frame::parse` fails) is the peer's
//! fault: the relay closes such a connection itself when given the bytes
//! (`handle_message`); a host or participant driver drops the connection
//! and reconnects. Nothing a peer sends makes a machine panic.
//!
//! Time is a monotonic [`Instant`](std::time::Instant) from the driver's
//! clock, never decreasing between calls to one machine; the machines
//! never read a clock themselves, so a test can drive them on a virtual
//! one, as below.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! use rand_core::SeedableRng;
//! use taiku_crypto::Link;
//! use taiku_proto::{ParticipantId, Role};
//! use taiku_session::SessionOptions;
//! use taiku_session::host::{Host, HostConfig};
//! use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
//! use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};
//!
//! type Rng = chacha20::ChaCha20Rng;
//! let mut now = Instant::now();
//! let mut relay = Relay::new(RelayConfig::default(), Rng::from_seed([1; 32]));
//! let options = SessionOptions::default();
//! let mut host = Host::generate(HostConfig::default(), options, Rng::from_seed([2; 32]));
//! let link = host.link("https://relay.example", Role::Reader).unwrap();
//! let link = Link::parse(&link.to_url()).unwrap();
//! let mut viewer = Participant::new(ParticipantConfig::default(), &link, Rng::from_seed([3; 32]));
//!
//! // Two connections to the relay, one per peer.
//! let (host_conn, viewer_conn) = (ConnId(1), ConnId(2));
//! relay.handle_connect(host_conn, now);
//! host.connect(now);
//!
//! let mut shown = Vec::new();
//! let mut joined = false;
//! for step in 0..100 {
//!     if step == 1 {
//!         relay.handle_connect(viewer_conn, now);
//!         viewer.connect(now);
//!     }
//!     if step == 10 {
//!         // The host's PTY printed something.
//!         let (term, _token) = host.open_terminal(ParticipantId::HOST, 24, 80, "sh", now).unwrap();
//!         host.handle_output(term, b"hello\r\n", now).unwrap();
//!     }
//!     // Step 2 for the host and the viewer: frames to the relay.
//!     while let Some(frame) = host.poll_transmit() {
//!         relay.handle_frame(host_conn, frame, now);
//!     }
//!     while let Some(frame) = viewer.poll_transmit() {
//!         relay.handle_frame(viewer_conn, frame, now);
//!     }
//!     // And for the relay: frames to the peers, closes.
//!     while let Some(transmit) = relay.poll_transmit() {
//!         match transmit {
//!             Transmit::Send { conn, frame } if conn == host_conn => host.handle_frame(frame, now),
//!             Transmit::Send { frame, .. } => viewer.handle_frame(frame, now),
//!             Transmit::Close { .. } => unreachable!("nobody misbehaves here"),
//!         }
//!     }
//!     // Step 4: events.
//!     while let Some(event) = viewer.poll_event() {
//!         match event {
//!             ParticipantEvent::Joined { .. } => joined = true,
//!             ParticipantEvent::Output { bytes, .. } => shown.extend_from_slice(&bytes),
//!             _ => {}
//!         }
//!     }
//!     while host.poll_event().is_some() {}
//!     while relay.poll_event().is_some() {}
//!     // Step 3: time passes (here, virtual: the earliest timer or 10 ms).
//!     let next = [relay.poll_timeout(), host.poll_timeout(), viewer.poll_timeout()]
//!         .into_iter()
//!         .flatten()
//!         .min()
//!         .unwrap_or(now + Duration::from_millis(10));
//!     now = next.max(now).min(now + Duration::from_millis(10));
//!     relay.handle_timeout(now);
//!     host.handle_timeout(now);
//!     viewer.handle_timeout(now);
//! }
//! assert!(joined);
//! assert_eq!(shown, b"hello\r\n");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The `bytes` crate, whose `Bytes` this crate's signatures use.
pub use bytes;
/// The `rand_core` crate: every machine takes a `rand_core::CryptoRng`.
pub use rand_core;

/// `with_*` setters for a `#[non_exhaustive]` configuration, so that a
/// configuration can be built outside the crate in one expression
/// (`HostConfig::default().with_screens(true)`) and a new field is not a
/// breaking change.
macro_rules! setters {
    ($ty:ident { $($setter:ident($field:ident: $t:ty)),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("With [`", stringify!($field), "`](Self::", stringify!($field), ") set to `value`.")]
                #[must_use]
                pub fn $setter(mut self, value: $t) -> Self {
                    self.$field = value.into();
                    self
                }
            )*
        }
    };
}

pub mod access;
pub mod admin;
pub mod admission;
pub mod agent;
mod bucket;
mod epochs;
pub mod forward;
pub mod host;
mod keepalive;
mod options;
pub mod participant;
pub mod predict;
pub mod relay;
pub mod screen;
mod ticket;

pub use options::SessionOptions;

/// The SPEC.md vector reader shared by every crate's tests.
#[cfg(test)]
use taiku_proto::vectors as spec;
