//! # taiku-proto
//!
//! The wire format of taiku, an end-to-end encrypted terminal-sharing
//! protocol: the protobuf message catalog and the Sans-IO frame codec.
//! No crypto and no IO live here; `taiku-crypto` seals and opens the
//! payload of [`SealedFrame`]s, and `taiku-session` drives the state
//! machines. SPEC.md, packaged with this crate and rendered as
//! [`spec`], is the normative description of every byte this crate reads
//! or writes.
//!
//! A driver moves bytes between its transport and the codec:
//!
//! ```
//! use bytes::BytesMut;
//! use taiku_proto::{Frame, FrameDecoder, FrameEncoder, message::{Ping, control::Body}};
//!
//! // Sending side.
//! let encoder = FrameEncoder::new();
//! let mut wire = BytesMut::new();
//! let frame = Frame::control(Body::Ping(Ping { nonce: 42 }));
//! encoder.encode(&frame, &mut wire)?;
//!
//! // Receiving side: bytes arrive in arbitrary pieces.
//! let mut decoder = FrameDecoder::new();
//! let mut frames = Vec::new();
//! for chunk in wire.chunks(3) {
//!     decoder.push(chunk);
//!     while let Some(frame) = decoder.next_frame()? {
//!         frames.push(frame);
//!     }
//! }
//! assert_eq!(frames, vec![frame]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The `bytes` crate, whose `Bytes` and `BytesMut` this crate's
/// signatures use.
pub use bytes;

mod action;
mod codec;
mod error;
mod frame;
mod ids;
pub mod limits;
pub mod local;
pub mod message;
pub mod spec;
mod varint;
#[cfg(feature = "vectors")]
#[cfg_attr(docsrs, doc(cfg(feature = "vectors")))]
pub mod vectors;

pub use action::ActionCode;
pub use codec::{FrameDecoder, FrameEncoder};
pub use error::{DecodeError, EncodeError, InvalidMaxFrameLen};
pub use frame::{Direction, EncodedHeader, FLAG_FIN, Frame, FrameType, SealedFrame, SealedHeader};
pub use ids::{Epoch, ParticipantId, Role, Seq, SessionId, SessionIdError, TerminalId};
