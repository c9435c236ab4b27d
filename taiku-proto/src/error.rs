//! The codec's typed errors.

use crate::frame::FrameType;

/// Why bytes could not be decoded as a frame.
///
/// A [`FrameDecoder`](crate::FrameDecoder) that returned one of these stays
/// failed: the stream has no resynchronisation point, so the connection
/// must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first byte is not a protocol version this crate speaks.
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    /// The frame type byte is not defined.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownFrameType(u8),
    /// The declared body length exceeds the configured maximum.
    #[error("frame body of {len} bytes exceeds the maximum of {max}")]
    FrameTooLong {
        /// Declared body length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The length varint uses more bytes than its value needs.
    #[error("non-minimal length varint")]
    NonMinimalVarint,
    /// The length varint is longer than the format allows.
    #[error("length varint longer than 4 bytes")]
    OverlongVarint,
    /// The frame ended inside its fixed header fields.
    #[error("{frame_type:?} frame body of {len} bytes is shorter than its {needed}-byte header")]
    TruncatedHeader {
        /// The frame's type.
        frame_type: FrameType,
        /// Declared body length.
        len: usize,
        /// Minimum body length for this frame type.
        needed: usize,
    },
    /// Bytes follow the end of a frame whose body has a fixed length, or a
    /// buffer given to [`Frame::parse`](crate::Frame::parse) holds more than
    /// one frame.
    #[error("{extra} trailing bytes inside the frame")]
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
    },
    /// The sealed direction byte is not defined.
    #[error("unknown sealed direction {0}")]
    UnknownDirection(u8),
    /// A reserved flag bit is set.
    #[error("reserved sealed flags 0x{0:02x}")]
    ReservedFlags(u8),
    /// A buffer given to [`Frame::parse`](crate::Frame::parse) ends before
    /// the frame does.
    #[error("frame truncated: {missing} bytes missing")]
    Truncated {
        /// Bytes still missing.
        missing: usize,
    },
    /// The control body is not a valid protobuf `Control` message.
    #[error("control body does not decode: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The decoder failed earlier and no longer accepts input.
    #[error("decoder failed earlier")]
    Failed,
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The body would exceed the encoder's maximum frame length.
    #[error("frame body of {len} bytes exceeds the maximum of {max}")]
    FrameTooLong {
        /// Body length that was asked for.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
}

/// A configured maximum frame length outside what the format can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("maximum frame length {0} is outside 1..={max}", max = crate::limits::MAX_FRAME_LEN_LIMIT)]
pub struct InvalidMaxFrameLen(pub usize);
