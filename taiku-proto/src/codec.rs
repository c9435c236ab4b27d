//! The Sans-IO frame codec: bytes in, frames out (SPEC.md section 3.5).

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, InvalidMaxFrameLen};
use crate::frame::{Frame, FrameType, Prefix, read_prefix};
use crate::limits::{DEFAULT_MAX_FRAME_LEN, MAX_FRAME_LEN_LIMIT};

fn checked_max(max_frame_len: usize) -> Result<usize, InvalidMaxFrameLen> {
    if (1..=MAX_FRAME_LEN_LIMIT).contains(&max_frame_len) {
        Ok(max_frame_len)
    } else {
        Err(InvalidMaxFrameLen(max_frame_len))
    }
}

/// Splits a byte stream into frames.
///
/// Feed bytes with [`push`](Self::push) and take frames with
/// [`next_frame`](Self::next_frame), or drive it with a buffer you own
/// through [`decode`](Self::decode) (the shape of a `tokio_util` decoder).
/// Frames share the allocation of the bytes they were decoded from.
///
/// The decoder validates each frame's prefix as soon as its bytes arrive,
/// reserves room for at most one frame's declared (bounded) length, and
/// after any error stays failed: there is no resynchronisation on garbage.
///
/// ```
/// use taiku_proto::{FrameDecoder, Frame, message::{Ping, control::Body}};
///
/// let ping = Frame::control(Body::Ping(Ping { nonce: 7 }));
/// let bytes = ping.to_bytes(taiku_proto::limits::DEFAULT_MAX_FRAME_LEN).unwrap();
///
/// let mut decoder = FrameDecoder::new();
/// decoder.push(&bytes[..2]);
/// assert_eq!(decoder.next_frame(), Ok(None)); // more bytes needed
/// decoder.push(&bytes[2..]);
/// assert_eq!(decoder.next_frame(), Ok(Some(ping)));
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max_frame_len: usize,
    failed: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder with the default maximum body length
    /// ([`DEFAULT_MAX_FRAME_LEN`]).
    pub fn new() -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            failed: false,
        }
    }

    /// A decoder that accepts bodies of at most `max_frame_len` bytes
    /// (1 to [`MAX_FRAME_LEN_LIMIT`]).
    pub fn with_max_frame_len(max_frame_len: usize) -> Result<Self, InvalidMaxFrameLen> {
        Ok(FrameDecoder {
            max_frame_len: checked_max(max_frame_len)?,
            ..Self::new()
        })
    }

    /// The configured maximum body length.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Whether the decoder has failed and rejects all further input.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Bytes held in the internal buffer, waiting to complete a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Append received bytes to the internal buffer. Ignored once failed.
    pub fn push(&mut self, data: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Take the next complete frame from the internal buffer.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        let mut buf = core::mem::take(&mut self.buf);
        let result = self.decode(&mut buf);
        if !self.failed {
            self.buf = buf;
        }
        result
    }

    /// Take the next complete frame from the front of `src`, leaving any
    /// following bytes in place. `Ok(None)` means more bytes are needed;
    /// `src` then has room reserved for the rest of the current frame.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Failed);
        }
        let result = self.decode_inner(src);
        if result.is_err() {
            self.failed = true;
            // Nothing after the error can be trusted; free it.
            self.buf = BytesMut::new();
        }
        result
    }

    /// Take the bytes of the next complete frame from the front of `src`,
    /// its prefix checked (SPEC.md 3.1, 3.2) and its body not parsed: for
    /// a transport that cuts a byte stream into frames and hands each to a
    /// machine that parses it ([`Frame::parse`] with the same limit), as
    /// one WebSocket message would be. `Ok(None)` and errors as in
    /// [`decode`](Self::decode).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use taiku_proto::{Frame, FrameDecoder, limits::DEFAULT_MAX_FRAME_LEN};
    /// use taiku_proto::message::{Ping, control::Body};
    ///
    /// let ping = Frame::control(Body::Ping(Ping { nonce: 7 }));
    /// let bytes = ping.to_bytes(DEFAULT_MAX_FRAME_LEN)?;
    /// let mut wire = BytesMut::from(&bytes[..]);
    /// wire.extend_from_slice(&bytes[..3]); // the start of the next one
    /// let mut decoder = FrameDecoder::new();
    /// assert_eq!(decoder.split_frame(&mut wire)?, Some(bytes));
    /// assert_eq!(decoder.split_frame(&mut wire)?, None);
    /// assert_eq!(wire.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split_frame(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Failed);
        }
        let result = self.split_inner(src).map(|raw| raw.map(|(raw, ..)| raw));
        if result.is_err() {
            self.failed = true;
            self.buf = BytesMut::new();
        }
        result
    }

    /// The next complete frame's bytes, type and prefix length.
    fn split_inner(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<(Bytes, FrameType, usize)>, DecodeError> {
        let (frame_type, prefix_len, body_len) = match read_prefix(src, self.max_frame_len)? {
            Prefix::Incomplete => return Ok(None),
            Prefix::Complete {
                frame_type,
                prefix_len,
                body_len,
            } => (frame_type, prefix_len, body_len),
        };
        let total = prefix_len + body_len;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        Ok(Some((src.split_to(total).freeze(), frame_type, prefix_len)))
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        match self.split_inner(src)? {
            Some((raw, frame_type, prefix_len)) => {
                Frame::from_complete(raw, frame_type, prefix_len).map(Some)
            }
            None => Ok(None),
        }
    }
}

/// Encodes frames under a maximum body length.
///
/// ```
/// use bytes::BytesMut;
/// use taiku_proto::{FrameEncoder, Frame, message::{Pong, control::Body}};
///
/// let encoder = FrameEncoder::new();
/// let mut out = BytesMut::new();
/// let pong = Frame::control(Body::Pong(Pong { nonce: 1 }));
/// encoder.encode(&pong, &mut out).unwrap();
/// assert_eq!(&out[..], &[0x01, 0x01, 0x05, 0x9a, 0x03, 0x02, 0x08, 0x01]);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FrameEncoder {
    max_frame_len: usize,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameEncoder {
    /// An encoder with the default maximum body length.
    pub fn new() -> Self {
        FrameEncoder {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }

    /// An encoder that refuses bodies over `max_frame_len` bytes.
    pub fn with_max_frame_len(max_frame_len: usize) -> Result<Self, InvalidMaxFrameLen> {
        Ok(FrameEncoder {
            max_frame_len: checked_max(max_frame_len)?,
        })
    }

    /// The configured maximum body length.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Append `frame` to `dst`. On error `dst` is unchanged.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        frame.encode(dst, self.max_frame_len)
    }
}
