//! # taiku-transport
//!
//! The IO side of taiku: drivers that move bytes and timers between real
//! sockets or PTYs and the Sans-IO machines of `taiku-session`, and contain
//! no protocol rule of their own. This release carries the reconnect
//! policy ([`backoff`]); the WebSocket and PTY drivers build on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
