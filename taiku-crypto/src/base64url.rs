//! Unpadded URL-safe base64 (RFC 4648 section 5) for link secrets:
//! RustCrypto's `base64ct`, constant-time and strict (only the canonical
//! encoding decodes: no padding, no other alphabet, zero trailing bits),
//! with the intermediate text zeroized.

use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

/// Encode without padding, appending to `out`.
pub(crate) fn encode(data: &[u8], out: &mut String) {
    let mut buf = Zeroizing::new(vec![0u8; encoded_len(data.len())]);
    if let Ok(text) = Base64UrlUnpadded::encode(data, &mut buf) {
        out.push_str(text);
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
    let decoded = Base64UrlUnpadded::decode(text, &mut out).map(|d| d.len());
    if decoded != Ok(N) {
        zeroize::Zeroize::zeroize(&mut out);
        return None;
    }
    Some(out)
}

/// Length of the unpadded encoding of `n` bytes (a `const fn`, for the
/// link format's constants).
pub(crate) const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

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
        assert_eq!(decode_exact::<6>(b"Zm9vYmFy"), Some(*b"foobar"));
    }

    #[test]
    fn full_alphabet_round_trips() {
        // Every character as the first of a 3-byte group: exactly the
        // alphabet decodes, each to its own value.
        for c in 0u8..=255 {
            let text = [c, b'A', b'A', b'A'];
            let expected = ALPHABET.iter().position(|&x| x == c);
            match (decode_exact::<3>(&text), expected) {
                (Some(bytes), Some(v)) => assert_eq!(bytes[0] >> 2, v as u8, "char {c}"),
                (None, None) => {}
                (got, want) => panic!("char {c}: decoded {got:?}, alphabet position {want:?}"),
            }
        }
        let all: Vec<u8> = (0u8..=255).collect();
        let mut s = String::new();
        encode(&all, &mut s);
        assert_eq!(
            decode_exact::<256>(s.as_bytes()).map(|b| b.to_vec()),
            Some(all)
        );
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
        let mut plus = s.clone().into_bytes();
        plus[0] = b'+';
        assert_eq!(decode_exact::<32>(&plus), None);
        // Padding is not part of the unpadded form.
        let mut padded = s.into_bytes();
        padded.push(b'=');
        assert_eq!(decode_exact::<32>(&padded), None);
        // Every non-canonical last character of one byte's encoding.
        for c in ALPHABET
            .iter()
            .filter(|&&c| c != b'A' && c != b'Q' && c != b'g' && c != b'w')
        {
            assert_eq!(decode_exact::<1>(&[b'A', *c]), None, "A{}", char::from(*c));
        }
    }
}
