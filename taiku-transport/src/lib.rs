//! # taiku-transport
//!
//! The IO side of taiku: drivers that move bytes and timers between real
//! sockets or PTYs and the Sans-IO machines of `taiku-session`, with no
//! protocol rule of their own.
//!
//! Without features the crate holds only pure pieces: the reconnect policy
//! ([`backoff`]), the relay endpoint rules ([`endpoint`]) and the relay's
//! HTTP side that serves the browser client ([`web`]). The `tokio` feature
//! (on by default) adds the WebSocket relay server and client loops, TLS
//! with rustls, and the PTY driver.
// One FFI call (`drive::memory`) is the only unsafe code; each use is
// allowed where it is, with its safety argument.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
pub mod endpoint;
pub mod web;

#[cfg(feature = "tokio")]
pub mod drive;
#[cfg(feature = "tokio")]
pub mod local;
#[cfg(feature = "tokio")]
pub mod pty;
#[cfg(feature = "tokio")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod ws;
