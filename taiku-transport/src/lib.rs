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
//!
//! ## The drivers
//!
//! [`drive::spawn_host`] and [`drive::spawn_participant`] run a machine
//! of `taiku-session` on a task: they connect (TLS if the endpoint says
//! so), feed it every frame and the time, write what it transmits, arm its
//! timers, reconnect with [`backoff`] when the connection drops, and hand
//! its events to the application on a channel. The application reaches
//! the machine through the handle (`call` runs a closure on it with the
//! current time, then the driver drains what the closure queued).
//! [`drive::relay::RelayServer`] does the same for the relay machine, one
//! task per connection. The loop each of them runs is the one the
//! `taiku-session` crate docs describe.
//!
//! They work for any RNG and any transport that carries whole frames
//! ([`frames`]): `spawn_host` and `spawn_participant` connect over
//! WebSocket, [`drive::spawn_client`] over whatever a
//! [`frames::Connect`] opens (a byte stream with
//! [`frames::tcp_connector`], or a closure of the embedder's), and
//! [`RelayServer::serve_stream`](drive::relay::RelayServer::serve_stream)
//! is the byte-stream relay. A loop of the embedder's own can stand
//! behind a [`drive::ClientHandle`] too ([`drive::ClientHandle::new`]).
//!
//! What the loops do with the contract of `taiku-session`: after every
//! input (a frame, a timer, a closure run through the handle) they drain
//! transmits, then events, then re-arm the timer; the time they pass is
//! tokio's clock (the one they sleep on) as a monotonic `Instant`. A
//! frame that does not decode ends the connection: a client reconnects
//! with backoff, the relay machine closes it. On `Transmit::Close` the
//! relay server writes what was queued, closes the socket within a
//! bound and does not report that connection to the machine again. When
//! a client machine's `poll_close` says the connection went silent, the
//! loop drops it and reconnects.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use taiku_crypto::Link;
//! use taiku_session::SessionOptions;
//! use taiku_proto::{ParticipantId, Role};
//! use taiku_session::host::{Host, HostConfig, HostEvent};
//! use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
//! use taiku_session::relay::RelayConfig;
//! use taiku_transport::drive::relay::RelayServer;
//! use taiku_transport::drive::{DriverConfig, feed_output, os_rng, spawn_host, spawn_participant};
//! use taiku_transport::endpoint::Endpoint;
//!
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     // A relay on loopback, a host that shares one terminal, a viewer.
//!     let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default()).await?;
//!     let origin = relay.origin();
//!     let options = SessionOptions::default();
//!     let host = Host::generate(HostConfig::default(), options, os_rng());
//!     let link = Link::parse(&host.link(&origin, Role::Reader)?.to_url())?;
//!     let driver = DriverConfig::new(Endpoint::from_origin(&origin, false)?);
//!     let (mut host, _host_task) = spawn_host(host, driver.clone());
//!     while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
//!     let term = host
//!         .call(|h, now| h.open_terminal(ParticipantId::HOST, 24, 80, "sh", now).map(|(t, _)| t))
//!         .await
//!         .ok_or("host stopped")??;
//!     // What a PTY would print.
//!     feed_output(&host.commander(), term, "hello\r\n".into()).await;
//!
//!     let viewer = Participant::new(ParticipantConfig::default(), &link, os_rng());
//!     let (mut viewer, _viewer_task) = spawn_participant(viewer, driver);
//!     let mut shown = Vec::new();
//!     while shown != b"hello\r\n" {
//!         match viewer.events.recv().await.ok_or("viewer stopped")? {
//!             ParticipantEvent::Output { bytes, .. } => shown.extend_from_slice(&bytes),
//!             _ => {}
//!         }
//!     }
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
// One FFI call (`drive::memory`) is the only unsafe code; each use is
// allowed where it is, with its safety argument.
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The `bytes` crate, whose `Bytes` the transports carry.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use bytes;
/// The `rand_core` crate: the drivers take any `rand_core::CryptoRng`.
pub use rand_core;
/// rustls, tokio-rustls and tokio-tungstenite, whose types (a
/// `TlsAcceptor`, a `WebSocketStream`) appear in this crate's signatures.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use {rustls, tokio_rustls, tokio_tungstenite};

pub mod backoff;
pub mod endpoint;
pub mod web;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod drive;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod frames;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod local;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod pty;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tls;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod ws;
