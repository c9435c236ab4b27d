//! Output bytes to text for a model that reads characters: UTF-8 decoded
//! as it streams, a sequence split across reads kept for the next one,
//! invalid bytes read as U+FFFD (as a terminal shows them).

/// Decodes a byte stream as UTF-8 across calls.
#[derive(Clone, Debug, Default)]
pub struct Utf8Stream {
    /// The start of a sequence the last call ended in (at most 3 bytes).
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode `bytes` after what is pending, calling `out` with each run of
    /// text; an incomplete sequence at the end is kept.
    pub fn decode(&mut self, bytes: &[u8], mut out: impl FnMut(&str)) {
        let mut input: &[u8] = bytes;
        let joined;
        if !self.pending.is_empty() {
            let mut buf = core::mem::take(&mut self.pending);
            buf.extend_from_slice(bytes);
            joined = buf;
            input = &joined;
        }
        loop {
            match core::str::from_utf8(input) {
                Ok(text) => {
                    if !text.is_empty() {
                        out(text);
                    }
                    return;
                }
                Err(e) => {
                    let (good, rest) = input.split_at(e.valid_up_to());
                    if !good.is_empty() {
                        // Valid by construction.
                        out(core::str::from_utf8(good).unwrap_or_default());
                    }
                    match e.error_len() {
                        Some(n) => {
                            out("\u{fffd}");
                            input = &rest[n..];
                        }
                        None => {
                            // Incomplete at the end: wait for the rest.
                            self.pending = rest.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The bytes of an incomplete sequence waiting for the next call.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Utf8Stream, bytes: &[u8]) -> String {
        let mut s = String::new();
        d.decode(bytes, |t| s.push_str(t));
        s
    }

    #[test]
    fn split_sequences_join_and_bad_bytes_are_replacement_characters() {
        let mut d = Utf8Stream::new();
        let euro = "€".as_bytes();
        assert_eq!(all(&mut d, &[b'a', euro[0]]), "a");
        assert_eq!(d.pending(), &euro[..1]);
        assert_eq!(all(&mut d, &euro[1..2]), "");
        assert_eq!(all(&mut d, &[euro[2], b'b']), "€b");
        assert!(d.pending().is_empty());
        assert_eq!(all(&mut d, b"x\xffy\xc3"), "x\u{fffd}y");
        assert_eq!(all(&mut d, b"("), "\u{fffd}(");
    }
}
