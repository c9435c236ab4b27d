//! Frames: the unit of the wire format (SPEC.md section 3).
//!
//! Every frame starts with a prefix of version, frame type and a minimal
//! LEB128 body length. A control frame's body is one protobuf
//! [`Control`](crate::message::Control) message; a sealed frame's body is
//! fixed routing fields followed by ChaCha20-Poly1305 ciphertext and tag.
//! The exact prefix and routing bytes of a sealed frame are its AEAD
//! associated data, which is why they have a fixed layout and are never
//! re-encoded: [`SealedFrame`] keeps the received bytes and hands out
//! slices of them.

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;

use crate::error::{DecodeError, EncodeError};
use crate::ids::{Epoch, ParticipantId, Seq, TerminalId};
use crate::limits::{MAX_PREFIX_LEN, MIN_SEALED_BODY_LEN, PROTOCOL_VERSION, ROUTING_LEN, TAG_LEN};
use crate::message::Control;
use crate::varint;

/// The second byte of every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Plaintext coordination: the body is a protobuf `Control` message.
    Control = 0x01,
    /// End-to-end encrypted terminal data with a plaintext routing header.
    Sealed = 0x02,
}

impl FrameType {
    /// Parse the frame type byte.
    pub fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            0x01 => Ok(FrameType::Control),
            0x02 => Ok(FrameType::Sealed),
            other => Err(DecodeError::UnknownFrameType(other)),
        }
    }
}

/// Which stream of a terminal a sealed frame belongs to.
///
/// The direction is bound into the stream key and the associated data, so a
/// frame of one direction never opens as another (input never as output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Direction {
    /// Host to every participant: PTY output bytes.
    Output = 1,
    /// One participant to the host: keystrokes.
    Input = 2,
    /// Host to one participant (or all): a `Snapshot` record.
    Snapshot = 3,
    /// Host to every participant: `AgentStatus` records.
    Status = 4,
    /// One participant to the host: the bytes of a port forward (the
    /// terminal field holds the stream id).
    ForwardUp = 5,
    /// The host to one participant: the bytes of a port forward.
    ForwardDown = 6,
}

impl Direction {
    /// Parse the direction byte.
    pub fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            1 => Ok(Direction::Output),
            2 => Ok(Direction::Input),
            3 => Ok(Direction::Snapshot),
            4 => Ok(Direction::Status),
            5 => Ok(Direction::ForwardUp),
            6 => Ok(Direction::ForwardDown),
            other => Err(DecodeError::UnknownDirection(other)),
        }
    }

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }
}

/// Flag bit marking the authenticated end of a stream.
pub const FLAG_FIN: u8 = 0x01;

/// The routing fields of a sealed frame.
///
/// `participant` is the sender of an input frame, the target of a snapshot
/// frame (0 = every participant), and 0 on output and status frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SealedHeader {
    /// Terminal the stream belongs to.
    pub terminal: TerminalId,
    /// Stream direction.
    pub direction: Direction,
    /// Whether this frame ends the stream (its plaintext is empty).
    pub fin: bool,
    /// Sender (input) or target (snapshot); see the type docs.
    pub participant: ParticipantId,
    /// The sender's random epoch for this stream.
    pub epoch: Epoch,
    /// Position of this frame in the stream, from 0.
    pub seq: Seq,
}

/// The encoded prefix and routing fields of a sealed frame: exactly the
/// bytes that are its associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedHeader {
    buf: [u8; MAX_PREFIX_LEN + ROUTING_LEN],
    len: usize,
}

impl EncodedHeader {
    /// The header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl AsRef<[u8]> for EncodedHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SealedHeader {
    /// Encode prefix and routing fields for a frame whose ciphertext (tag
    /// included) is `ciphertext_len` bytes.
    pub fn encode(
        &self,
        ciphertext_len: usize,
        max_frame_len: usize,
    ) -> Result<EncodedHeader, EncodeError> {
        let body_len = ROUTING_LEN.saturating_add(ciphertext_len);
        let (len_bytes, len_n) = prefix_length(body_len, max_frame_len)?;
        let mut buf = [0u8; MAX_PREFIX_LEN + ROUTING_LEN];
        let mut w = &mut buf[..];
        w.put_u8(PROTOCOL_VERSION);
        w.put_u8(FrameType::Sealed as u8);
        w.put_slice(&len_bytes[..len_n]);
        w.put_u32(self.terminal.0);
        w.put_u8(self.direction.to_byte());
        w.put_u8(if self.fin { FLAG_FIN } else { 0 });
        w.put_u32(self.participant.0);
        w.put_slice(&self.epoch.0);
        w.put_u64(self.seq.0);
        Ok(EncodedHeader {
            buf,
            len: 2 + len_n + ROUTING_LEN,
        })
    }

    /// Parse routing fields from exactly [`ROUTING_LEN`] bytes.
    fn parse(routing: &[u8; ROUTING_LEN]) -> Result<Self, DecodeError> {
        let [
            t0,
            t1,
            t2,
            t3,
            direction,
            flags,
            p0,
            p1,
            p2,
            p3,
            e0,
            e1,
            e2,
            e3,
            e4,
            e5,
            e6,
            e7,
            e8,
            e9,
            e10,
            e11,
            e12,
            e13,
            e14,
            e15,
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
        ] = *routing;
        let direction = Direction::from_byte(direction)?;
        if flags & !FLAG_FIN != 0 {
            return Err(DecodeError::ReservedFlags(flags));
        }
        Ok(SealedHeader {
            terminal: TerminalId(u32::from_be_bytes([t0, t1, t2, t3])),
            direction,
            fin: flags & FLAG_FIN != 0,
            participant: ParticipantId(u32::from_be_bytes([p0, p1, p2, p3])),
            epoch: Epoch([
                e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15,
            ]),
            seq: Seq(u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7])),
        })
    }
}

/// A sealed frame as it travels: the exact encoded bytes, with the routing
/// fields parsed out of them.
///
/// Cloning is cheap (a reference count), which is how a relay fans one
/// frame out to many participants without copying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedFrame {
    raw: Bytes,
    header: SealedHeader,
    header_len: usize,
}

impl SealedFrame {
    /// The parsed routing fields.
    pub fn header(&self) -> &SealedHeader {
        &self.header
    }

    /// The associated data: prefix and routing fields, exactly as received.
    pub fn aad(&self) -> &[u8] {
        self.raw.get(..self.header_len).unwrap_or(&[])
    }

    /// Ciphertext followed by the 16-byte tag.
    pub fn ciphertext(&self) -> &[u8] {
        self.raw.get(self.header_len..).unwrap_or(&[])
    }

    /// The whole encoded frame (shares the buffer it was decoded from).
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The same frame in a buffer of its own, exactly its size. A frame
    /// decoded from a larger buffer (a WebSocket read buffer) shares it and
    /// keeps all of it alive; a store that keeps frames for long (a replay
    /// ring) keeps compact copies, so what it counts is what it holds.
    pub fn compact(&self) -> SealedFrame {
        SealedFrame {
            raw: Bytes::copy_from_slice(&self.raw),
            header: self.header,
            header_len: self.header_len,
        }
    }

    /// Body length: everything after the length varint.
    fn body_len(&self) -> usize {
        (self.raw.len() + ROUTING_LEN).saturating_sub(self.header_len)
    }

    fn check_len(&self, max_frame_len: usize) -> Result<(), EncodeError> {
        let len = self.body_len();
        if len > max_frame_len {
            return Err(EncodeError::FrameTooLong {
                len,
                max: max_frame_len,
            });
        }
        Ok(())
    }

    /// Build a sealed frame from its encoded bytes, which must hold exactly
    /// one sealed frame of at most `max_frame_len` body bytes.
    pub fn from_bytes(raw: Bytes, max_frame_len: usize) -> Result<Self, DecodeError> {
        match Frame::parse(raw, max_frame_len)? {
            Frame::Sealed(sealed) => Ok(sealed),
            Frame::Control(_) => Err(DecodeError::UnknownFrameType(FrameType::Control as u8)),
        }
    }
}

/// One decoded frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A plaintext control message.
    Control(Control),
    /// An end-to-end encrypted frame.
    Sealed(SealedFrame),
}

impl Frame {
    /// A control frame carrying `body`.
    pub fn control(body: crate::message::control::Body) -> Frame {
        Frame::Control(Control { body: Some(body) })
    }
}

/// Where the prefix of a buffer stands.
pub(crate) enum Prefix {
    /// More bytes are needed to know the frame's length.
    Incomplete,
    /// Version, type and length are known and valid.
    Complete {
        frame_type: FrameType,
        prefix_len: usize,
        body_len: usize,
    },
}

/// Validate the prefix at the front of `buf`, failing as early as the bytes
/// allow: a bad version or type is reported before the length arrives, and
/// an oversized length before the body does.
pub(crate) fn read_prefix(buf: &[u8], max_frame_len: usize) -> Result<Prefix, DecodeError> {
    let Some(&version) = buf.first() else {
        return Ok(Prefix::Incomplete);
    };
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let Some(&type_byte) = buf.get(1) else {
        return Ok(Prefix::Incomplete);
    };
    let frame_type = FrameType::from_byte(type_byte)?;
    let (body_len, len_n) = match varint::read(buf.get(2..).unwrap_or(&[]))? {
        varint::Varint::Incomplete => return Ok(Prefix::Incomplete),
        varint::Varint::Complete(value, n) => (value as usize, n),
    };
    if body_len > max_frame_len {
        return Err(DecodeError::FrameTooLong {
            len: body_len,
            max: max_frame_len,
        });
    }
    if frame_type == FrameType::Sealed && body_len < MIN_SEALED_BODY_LEN {
        return Err(DecodeError::TruncatedHeader {
            frame_type,
            len: body_len,
            needed: MIN_SEALED_BODY_LEN,
        });
    }
    Ok(Prefix::Complete {
        frame_type,
        prefix_len: 2 + len_n,
        body_len,
    })
}

impl Frame {
    /// Parse a buffer that holds exactly one frame (one WebSocket message,
    /// for instance). Payloads share `bytes`' allocation.
    pub fn parse(bytes: Bytes, max_frame_len: usize) -> Result<Frame, DecodeError> {
        match read_prefix(&bytes, max_frame_len)? {
            Prefix::Incomplete => Err(DecodeError::Truncated {
                missing: MIN_PREFIX_MISSING.saturating_sub(bytes.len()).max(1),
            }),
            Prefix::Complete {
                frame_type,
                prefix_len,
                body_len,
            } => {
                let total = prefix_len + body_len;
                if bytes.len() < total {
                    return Err(DecodeError::Truncated {
                        missing: total - bytes.len(),
                    });
                }
                if bytes.len() > total {
                    return Err(DecodeError::TrailingBytes {
                        extra: bytes.len() - total,
                    });
                }
                Frame::from_complete(bytes, frame_type, prefix_len)
            }
        }
    }

    /// Decode a buffer known to hold exactly one frame whose prefix was
    /// validated by [`read_prefix`].
    pub(crate) fn from_complete(
        raw: Bytes,
        frame_type: FrameType,
        prefix_len: usize,
    ) -> Result<Frame, DecodeError> {
        match frame_type {
            FrameType::Control => {
                let body = raw.slice(prefix_len..);
                Ok(Frame::Control(Control::decode(body)?))
            }
            FrameType::Sealed => {
                let header_len = prefix_len + ROUTING_LEN;
                let routing: &[u8; ROUTING_LEN] = raw
                    .get(prefix_len..header_len)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(DecodeError::TruncatedHeader {
                        frame_type,
                        len: raw.len().saturating_sub(prefix_len),
                        needed: MIN_SEALED_BODY_LEN,
                    })?;
                let header = SealedHeader::parse(routing)?;
                let ciphertext_len = raw.len() - header_len;
                if header.fin && ciphertext_len != TAG_LEN {
                    return Err(DecodeError::TrailingBytes {
                        extra: ciphertext_len.saturating_sub(TAG_LEN),
                    });
                }
                Ok(Frame::Sealed(SealedFrame {
                    raw,
                    header,
                    header_len,
                }))
            }
        }
    }

    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Control(_) => FrameType::Control,
            Frame::Sealed(_) => FrameType::Sealed,
        }
    }

    /// Append the encoded frame to `dst`.
    pub fn encode(&self, dst: &mut BytesMut, max_frame_len: usize) -> Result<(), EncodeError> {
        match self {
            Frame::Control(control) => {
                let body_len = control.encoded_len();
                let (len_bytes, len_n) = prefix_length(body_len, max_frame_len)?;
                dst.reserve(2 + len_n + body_len);
                dst.put_u8(PROTOCOL_VERSION);
                dst.put_u8(FrameType::Control as u8);
                dst.put_slice(&len_bytes[..len_n]);
                control.encode_raw(dst);
                Ok(())
            }
            Frame::Sealed(sealed) => {
                sealed.check_len(max_frame_len)?;
                dst.extend_from_slice(&sealed.raw);
                Ok(())
            }
        }
    }

    /// The encoded frame as one buffer. For a sealed frame this is the
    /// frame's own bytes, not a copy.
    pub fn to_bytes(&self, max_frame_len: usize) -> Result<Bytes, EncodeError> {
        match self {
            Frame::Sealed(sealed) => {
                sealed.check_len(max_frame_len)?;
                Ok(sealed.raw.clone())
            }
            Frame::Control(_) => {
                let mut dst = BytesMut::new();
                self.encode(&mut dst, max_frame_len)?;
                Ok(dst.freeze())
            }
        }
    }
}

/// Shortest possible prefix: version, type and a one-byte length.
const MIN_PREFIX_MISSING: usize = 3;

fn prefix_length(
    body_len: usize,
    max_frame_len: usize,
) -> Result<([u8; crate::limits::MAX_VARINT_LEN], usize), EncodeError> {
    let too_long = EncodeError::FrameTooLong {
        len: body_len,
        max: max_frame_len,
    };
    if body_len > max_frame_len {
        return Err(too_long);
    }
    let value = u32::try_from(body_len).map_err(|_| too_long.clone())?;
    if body_len > crate::limits::MAX_FRAME_LEN_LIMIT {
        return Err(too_long);
    }
    Ok(varint::encode(value))
}
