//! Reading output into a [`Screen`]: `vte` reads escape sequences, the
//! model reads the text between them (most output) itself, a run at a
//! time, and where each sequence ends is found here by the rules `vte`
//! follows.

use vte::Perform;

use super::vt::{MAX_TAIL_BYTES, Screen};
use super::{ScreenModel, dump};

impl Screen {
    /// Text (no ESC in it) in the ground state, as a VT500 parser reads
    /// it: characters printed, C0 controls executed, and what is not
    /// UTF-8 a replacement character each (a single byte 0x80–0x9F, a C1
    /// control, executed). A character cut short by the end of the output
    /// waits in the tail; one cut short by an ESC is a replacement.
    fn read_text(&mut self, mut bytes: &[u8], at_end: bool) {
        loop {
            match std::str::from_utf8(bytes) {
                Ok(text) => return self.state.ground_text(text),
                Err(e) => {
                    let (good, rest) = bytes.split_at(e.valid_up_to());
                    self.state
                        .ground_text(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(len) => {
                            match rest {
                                [c1 @ 0x80..=0x9f, ..] if len == 1 => {
                                    Perform::execute(&mut self.state, *c1);
                                }
                                _ => self.state.print('\u{fffd}'),
                            }
                            bytes = &rest[len..];
                        }
                        None if at_end => {
                            self.tail = rest.to_vec();
                            return;
                        }
                        None => return self.state.print('\u{fffd}'),
                    }
                }
            }
        }
    }

    /// Hand `vte` the escape sequence `bytes` start at (or go on with),
    /// exactly to its end: the bytes taken. Where a sequence ends is found
    /// here, by the VT500 rules `vte` follows, so that `vte` never reads
    /// the text after it (it would print it itself, and a malformed CSI
    /// ends without telling).
    fn sequence(&mut self, bytes: &[u8]) -> usize {
        // Sequences that follow each other go to `vte` at once.
        let mut end = sequence_end(&self.tail, bytes);
        // Where the last of them starts, if not where `bytes` do.
        let mut start = None;
        while let Some(e) = end {
            if bytes.get(e) != Some(&0x1b) {
                break;
            }
            start = Some(e);
            end = sequence_end(&[], &bytes[e..]).map(|n| e + n);
        }
        let n = end.unwrap_or(bytes.len());
        self.parser.advance(&mut self.state, &bytes[..n]);
        self.in_sequence = end.is_none();
        if self.in_sequence {
            if start.is_some() {
                self.tail.clear();
            }
            let start = start.unwrap_or(0);
            // Kept to find its end and for the snapshot, as received but
            // for what a parser does not keep in a sequence: C0 controls
            // (executed already) and DEL (ignored). Bytes from 0x80 stay:
            // ignored in a sequence, they are text in a string (an OSC
            // title).
            for &b in &bytes[start..n] {
                if ((b >= 0x20 && b != 0x7f) || b == 0x1b) && self.tail.len() < MAX_TAIL_BYTES {
                    self.tail.push(b);
                }
            }
        } else {
            self.tail.clear();
        }
        n
    }
}

/// Where the escape sequence that `so_far` began (its kept bytes, empty if
/// `bytes` starts it with ESC) ends in `bytes`: the index after its last
/// byte, or before the ESC that ends a string or starts a sequence anew;
/// `None` if it goes on past `bytes`.
fn sequence_end(so_far: &[u8], bytes: &[u8]) -> Option<usize> {
    // Most sequences are CSI: the first final byte, CAN, SUB or ESC ends
    // one (C0 controls, DEL and 0x80 up pass by).
    if so_far.is_empty()
        && let [0x1b, b'[', rest @ ..] = bytes
    {
        return rest
            .iter()
            .position(|&b| (0x40..=0x7e).contains(&b) || matches!(b, 0x18 | 0x1a | 0x1b))
            .map(|i| if rest[i] == 0x1b { i + 2 } else { i + 3 });
    }
    #[derive(Clone, Copy)]
    enum S {
        Start,
        Esc,
        EscIntermediate,
        Csi,
        Osc,
        /// DCS before its final byte: entry, parameters, intermediates.
        DcsEntry,
        DcsParam,
        DcsIntermediate,
        /// DCS data, which ST or the 8-bit ST (0x9C) ends.
        DcsData,
        /// A malformed DCS, SOS, PM or APC: only ST ends it.
        Str,
    }
    let mut state = S::Start;
    let step = |state: S, b: u8| -> Result<S, ()> {
        // Err(()): the sequence is over after `b`.
        match (state, b) {
            (_, 0x18 | 0x1a) => Err(()),
            (S::Start, 0x1b) => Ok(S::Esc),
            (S::Start, _) => Ok(S::Start),
            (S::Osc, 0x07) => Err(()),
            (S::DcsData, 0x9c) => Err(()),
            (S::Osc | S::Str | S::DcsData, _) => Ok(state),
            // C0 controls are executed, DEL and 0x80 up ignored.
            (_, 0x00..=0x1f | 0x7f..) => Ok(state),
            (S::Esc, b'[') => Ok(S::Csi),
            (S::Esc, b']') => Ok(S::Osc),
            (S::Esc, b'P') => Ok(S::DcsEntry),
            (S::Esc, b'X' | b'^' | b'_') => Ok(S::Str),
            (S::DcsEntry | S::DcsParam | S::DcsIntermediate, 0x40..=0x7e) => Ok(S::DcsData),
            (S::DcsEntry | S::DcsParam, 0x20..=0x2f) => Ok(S::DcsIntermediate),
            (S::DcsEntry, _) | (S::DcsParam, 0x30..=0x3b) => Ok(S::DcsParam),
            (S::DcsParam | S::DcsIntermediate, 0x30..=0x3f) => Ok(S::Str),
            (S::DcsIntermediate, _) => Ok(S::DcsIntermediate),
            (S::Esc | S::EscIntermediate, 0x20..=0x2f) => Ok(S::EscIntermediate),
            (S::Esc | S::EscIntermediate, _) => Err(()),
            (S::Csi, 0x40..=0x7e) => Err(()),
            (S::Csi, _) => Ok(S::Csi),
        }
    };
    for &b in so_far {
        if let Ok(next) = step(state, b) {
            state = next;
        }
    }
    for (i, &b) in bytes.iter().enumerate() {
        // An ESC past the start ends the sequence (a string's ST, or a new
        // sequence): it is the next one's.
        if b == 0x1b && !matches!(state, S::Start) {
            return Some(i);
        }
        match step(state, b) {
            Ok(next) => state = next,
            Err(()) => return Some(i + 1),
        }
    }
    None
}

impl ScreenModel for Screen {
    fn feed(&mut self, bytes: &[u8]) {
        // `vte` parses escape sequences; text between them (most output)
        // is handled here, a run at a time.
        let joined;
        let mut data = bytes;
        if !self.in_sequence && !self.tail.is_empty() {
            // A character cut short: the rest comes now.
            let mut t = std::mem::take(&mut self.tail);
            t.extend_from_slice(bytes);
            joined = t;
            data = &joined;
        }
        let mut i = 0;
        if self.in_sequence {
            i = self.sequence(data);
            if self.in_sequence {
                return;
            }
        }
        while i < data.len() {
            let end = data[i..]
                .iter()
                .position(|&b| b == 0x1b)
                .map_or(data.len(), |p| i + p);
            self.read_text(&data[i..end], end == data.len());
            if end == data.len() {
                break;
            }
            i = end + self.sequence(&data[end..]);
            if self.in_sequence {
                break;
            }
        }
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = (usize::from(rows.max(1)), usize::from(cols.max(1)));
        let s = &mut self.state;
        if (rows, cols) == (s.rows, s.cols) {
            return;
        }
        // The cursor's line stays on screen when rows go.
        let gone = (s.row + 1).saturating_sub(rows);
        s.primary.resize(rows, cols);
        s.alternate.resize(rows, cols);
        s.rows = rows;
        s.cols = cols;
        s.row = (s.row - gone.min(s.row)).min(rows - 1);
        s.col = s.col.min(cols - 1);
        s.top = 0;
        s.bottom = rows - 1;
        s.pending_wrap = false;
        // The saved cursors are clamped to the new size as the cursor is.
        for saved in s.saved.iter_mut().flatten() {
            saved.row = (saved.row - gone.min(saved.row)).min(rows - 1);
            saved.col = saved.col.min(cols - 1);
            saved.pending_wrap = false;
        }
        let old = s.tabs.len();
        s.tabs.resize(cols, false);
        for (c, tab) in s.tabs.iter_mut().enumerate().skip(old) {
            *tab = c % 8 == 0;
        }
    }

    fn snapshot(&self, max_bytes: usize) -> Vec<u8> {
        let mut out = dump::snapshot(&self.state, max_bytes.saturating_sub(self.tail.len()));
        out.extend_from_slice(&self.tail);
        out
    }
}
