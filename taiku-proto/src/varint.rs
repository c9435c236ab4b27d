//! The frame length varint: unsigned LEB128, minimal, at most
//! [`MAX_VARINT_LEN`] bytes (SPEC.md section 3.2).

use crate::error::DecodeError;
use crate::limits::MAX_VARINT_LEN;

/// Outcome of reading a varint from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Varint {
    /// The value and how many bytes it took.
    Complete(u32, usize),
    /// More bytes are needed.
    Incomplete,
}

/// Read a length varint from the front of `buf`.
///
/// Errors as soon as the bytes present prove the encoding invalid, so a
/// peer cannot stall the decoder with an endless continuation run.
pub(crate) fn read(buf: &[u8]) -> Result<Varint, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i == MAX_VARINT_LEN {
            return Err(DecodeError::OverlongVarint);
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(DecodeError::NonMinimalVarint);
            }
            return Ok(Varint::Complete(value, i + 1));
        }
    }
    if buf.len() >= MAX_VARINT_LEN {
        return Err(DecodeError::OverlongVarint);
    }
    Ok(Varint::Incomplete)
}

/// Encode `value` minimally; returns the bytes and how many are used.
///
/// `value` must be at most [`MAX_FRAME_LEN_LIMIT`](crate::limits::MAX_FRAME_LEN_LIMIT);
/// callers check the frame length first.
pub(crate) fn encode(mut value: u32) -> ([u8; MAX_VARINT_LEN], usize) {
    let mut out = [0u8; MAX_VARINT_LEN];
    let mut n = 0;
    while n < MAX_VARINT_LEN {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out[n] = byte;
            return (out, n + 1);
        }
        out[n] = byte | 0x80;
        n += 1;
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_encodings() {
        for (value, bytes) in [
            (0u32, &[0x00][..]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (1 << 20, &[0x80, 0x80, 0x40]),
            ((1 << 28) - 1, &[0xff, 0xff, 0xff, 0x7f]),
        ] {
            let (buf, n) = encode(value);
            assert_eq!(&buf[..n], bytes, "encode {value}");
            assert_eq!(read(bytes), Ok(Varint::Complete(value, bytes.len())));
        }
    }

    #[test]
    fn non_minimal_is_rejected() {
        assert_eq!(read(&[0x80, 0x00]), Err(DecodeError::NonMinimalVarint));
        assert_eq!(
            read(&[0x81, 0x80, 0x00]),
            Err(DecodeError::NonMinimalVarint)
        );
    }

    #[test]
    fn overlong_is_rejected_without_waiting() {
        assert_eq!(
            read(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::OverlongVarint)
        );
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(DecodeError::OverlongVarint)
        );
    }

    #[test]
    fn incomplete_waits() {
        assert_eq!(read(&[]), Ok(Varint::Incomplete));
        assert_eq!(read(&[0x80]), Ok(Varint::Incomplete));
        assert_eq!(read(&[0x80, 0x80, 0x80]), Ok(Varint::Incomplete));
    }
}
