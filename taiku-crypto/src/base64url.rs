//! Unpadded URL-safe base64 (RFC 4648 section 5) for link secrets, written
//! without secret-dependent branches or table lookups (the character maps
//! are arithmetic), and strict: only the canonical encoding decodes.

/// Map a 6-bit value to its character.
fn encode_6bits(v: u8) -> u8 {
    let v = i16::from(v);
    let mut diff: i16 = 0x41; // 'A'
    diff += ((25 - v) >> 8) & 6; // 26.. -> 'a'..
    diff -= ((51 - v) >> 8) & 75; // 52.. -> '0'..
    diff -= ((61 - v) >> 8) & 13; // 62 -> '-'
    diff += ((62 - v) >> 8) & 49; // 63 -> '_'
    (v + diff) as u8
}

/// Map a character to its 6-bit value, or a negative number.
fn decode_6bits(c: u8) -> i16 {
    let c = i16::from(c);
    let in_range = |lo: i16, hi: i16| ((lo - 1 - c) & (c - hi - 1)) >> 8;
    let mut ret: i16 = -1;
    ret += in_range(0x41, 0x5a) & (c - 64); // A-Z -> 0..25
    ret += in_range(0x61, 0x7a) & (c - 70); // a-z -> 26..51
    ret += in_range(0x30, 0x39) & (c + 5); // 0-9 -> 52..61
    ret += in_range(0x2d, 0x2d) & 63; // '-' -> 62
    ret += in_range(0x5f, 0x5f) & 64; // '_' -> 63
    ret
}

/// Encode without padding.
pub(crate) fn encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let sextets = [
            b[0] >> 2,
            ((b[0] & 0x03) << 4) | (b[1] >> 4),
            ((b[1] & 0x0f) << 2) | (b[2] >> 6),
            b[2] & 0x3f,
        ];
        for &s in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(encode_6bits(s)));
        }
    }
}

/// Decode exactly `N` bytes from their canonical unpadded encoding.
/// Returns `None` for a wrong length, a character outside the alphabet, or
/// non-zero trailing bits.
pub(crate) fn decode_exact<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != encoded_len(N) {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad: i16 = 0;
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut pos = 0usize;
    for &c in text {
        let v = decode_6bits(c);
        bad |= v;
        acc = (acc << 6) | u32::from((v & 0x3f) as u8);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if let Some(slot) = out.get_mut(pos) {
                *slot = (acc >> bits) as u8;
            }
            pos += 1;
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero for the encoding to be canonical.
    let trailing_nonzero = acc != 0;
    if bad < 0 || trailing_nonzero || pos != N {
        zeroize::Zeroize::zeroize(&mut out);
        return None;
    }
    Some(out)
}

/// Length of the unpadded encoding of `n` bytes.
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_unpadded() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            encode(raw, &mut s);
            assert_eq!(s, enc);
        }
    }

    #[test]
    fn full_alphabet_round_trips() {
        let all: Vec<u8> = (0u8..=255).collect();
        for v in 0u8..64 {
            let c = encode_6bits(v);
            assert_eq!(decode_6bits(c), i16::from(v), "char {}", c as char);
        }
        for c in all {
            let expected = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .iter()
                .position(|&x| x == c)
                .map_or(-1, |p| p as i16);
            assert_eq!(decode_6bits(c) < 0, expected < 0, "char {c}");
            if expected >= 0 {
                assert_eq!(decode_6bits(c), expected);
            }
        }
    }

    #[test]
    fn exact_decoding_is_strict() {
        let mut s = String::new();
        encode(&[0xff; 32], &mut s);
        assert_eq!(s.len(), 43);
        assert_eq!(decode_exact::<32>(s.as_bytes()), Some([0xff; 32]));
        // Last character carries two trailing bits that must be zero.
        let mut bad = s.clone().into_bytes();
        *bad.last_mut().unwrap() = b'_';
        assert_eq!(decode_exact::<32>(&bad), None);
        assert_eq!(decode_exact::<32>(&s.as_bytes()[..42]), None);
        let mut plus = s.into_bytes();
        plus[0] = b'+';
        assert_eq!(decode_exact::<32>(&plus), None);
    }
}
