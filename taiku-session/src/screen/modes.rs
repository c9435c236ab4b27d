//! The terminal modes a renderer needs that the screen model does not keep
//! itself: mouse reporting and its encoding, focus reports, bracketed
//! paste, the keypad mode and the window title. A small byte-level parser
//! follows just the sequences that set them (SPEC.md 11.6).

/// Longest window title kept, in bytes (longer titles are cut on a
/// character boundary).
pub const MAX_TITLE_BYTES: usize = 256;

/// Longest OSC string read; the rest of a longer one is skipped.
const MAX_OSC_BYTES: usize = 1024;

/// Most parameters read in one CSI sequence.
const MAX_PARAMS: usize = 16;

/// Mouse reporting modes (DECSET numbers); setting one replaces another.
const MOUSE_MODES: [u16; 4] = [9, 1000, 1002, 1003];
/// Mouse encodings (DECSET numbers); setting one replaces another.
const MOUSE_ENCODINGS: [u16; 3] = [1005, 1006, 1015];
/// Focus in/out reports.
const FOCUS_EVENTS: u16 = 1004;
/// Bracketed paste.
const BRACKETED_PASTE: u16 = 2004;

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Ground,
    Esc,
    Csi {
        private: bool,
        other: bool,
        params: Vec<u16>,
        current: Option<u32>,
    },
    Osc(String),
}

/// The modes, as the output so far set them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modes {
    state: State,
    mouse: Option<u16>,
    mouse_encoding: Option<u16>,
    focus_events: bool,
    bracketed_paste: bool,
    keypad_application: bool,
    title: String,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            state: State::Ground,
            mouse: None,
            mouse_encoding: None,
            focus_events: false,
            bracketed_paste: false,
            keypad_application: false,
            title: String::new(),
        }
    }
}

impl Modes {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follow decoded output.
    pub fn feed(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            if self.state == State::Ground {
                // Text: nothing to follow until the next ESC or C1
                // introducer (U+009B, U+009D: lead byte 0xC2).
                match rest.bytes().position(|b| b == 0x1b || b == 0xc2) {
                    Some(i) => rest = &rest[i..],
                    None => return,
                }
            }
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                self.char(c);
            }
            rest = chars.as_str();
        }
    }

    fn char(&mut self, c: char) {
        // C1 controls as characters are their 7-bit forms.
        match c {
            '\u{9b}' => {
                self.state = State::Esc;
                return self.char('[');
            }
            '\u{9d}' => {
                self.state = State::Esc;
                return self.char(']');
            }
            '\u{9c}' => {
                if let State::Osc(buf) = core::mem::replace(&mut self.state, State::Ground) {
                    self.osc(&buf);
                }
                return;
            }
            _ => {}
        }
        let b = u8::try_from(c).unwrap_or(b'x');
        let state = core::mem::replace(&mut self.state, State::Ground);
        self.state = match state {
            State::Ground => match b {
                0x1b => State::Esc,
                _ => State::Ground,
            },
            State::Esc => match b {
                b'[' => State::Csi {
                    private: false,
                    other: false,
                    params: Vec::new(),
                    current: None,
                },
                b']' => State::Osc(String::new()),
                b'=' => {
                    self.keypad_application = true;
                    State::Ground
                }
                b'>' => {
                    self.keypad_application = false;
                    State::Ground
                }
                b'c' => {
                    // RIS: a full reset.
                    *self = Modes::default();
                    State::Ground
                }
                0x1b => State::Esc,
                _ => State::Ground,
            },
            State::Csi {
                mut private,
                mut other,
                mut params,
                mut current,
            } => match b {
                b'0'..=b'9' => {
                    let d = u32::from(b - b'0');
                    current = Some(current.unwrap_or(0).saturating_mul(10).saturating_add(d));
                    State::Csi {
                        private,
                        other,
                        params,
                        current,
                    }
                }
                b';' => {
                    push_param(&mut params, current.take());
                    State::Csi {
                        private,
                        other,
                        params,
                        current,
                    }
                }
                b'?' if params.is_empty() && current.is_none() && !private => {
                    private = true;
                    State::Csi {
                        private,
                        other,
                        params,
                        current,
                    }
                }
                0x20..=0x3f => {
                    // Intermediates and other private markers: not a DECSET.
                    other = true;
                    State::Csi {
                        private,
                        other,
                        params,
                        current,
                    }
                }
                0x40..=0x7e => {
                    push_param(&mut params, current.take());
                    if private && !other && (b == b'h' || b == b'l') {
                        for p in params {
                            self.dec_mode(p, b == b'h');
                        }
                    }
                    State::Ground
                }
                0x1b => State::Esc,
                // C0 controls inside a sequence are executed, not part of it.
                _ => State::Csi {
                    private,
                    other,
                    params,
                    current,
                },
            },
            State::Osc(mut buf) => match b {
                0x07 => {
                    self.osc(&buf);
                    State::Ground
                }
                // ESC ends the string (as the ST it starts would): a
                // parser dispatches the OSC at once.
                0x1b => {
                    self.osc(&buf);
                    State::Esc
                }
                0x18 | 0x1a => State::Ground,
                _ => {
                    if buf.len() + c.len_utf8() <= MAX_OSC_BYTES {
                        buf.push(c);
                    }
                    State::Osc(buf)
                }
            },
        };
    }

    fn dec_mode(&mut self, mode: u16, set: bool) {
        if MOUSE_MODES.contains(&mode) {
            if set {
                self.mouse = Some(mode);
            } else if self.mouse == Some(mode) {
                self.mouse = None;
            }
        } else if MOUSE_ENCODINGS.contains(&mode) {
            if set {
                self.mouse_encoding = Some(mode);
            } else if self.mouse_encoding == Some(mode) {
                self.mouse_encoding = None;
            }
        } else if mode == FOCUS_EVENTS {
            self.focus_events = set;
        } else if mode == BRACKETED_PASTE {
            self.bracketed_paste = set;
        }
    }

    fn osc(&mut self, buf: &str) {
        let Some((code, text)) = buf.split_once(';') else {
            return;
        };
        if code == "0" || code == "2" {
            // Printable characters only: the title is written back inside
            // an OSC, which a control character would end or break.
            let clean: String = text.chars().filter(|c| !c.is_control()).collect();
            let mut cut = clean.len().min(MAX_TITLE_BYTES);
            while !clean.is_char_boundary(cut) {
                cut -= 1;
            }
            self.title = clean[..cut].to_owned();
        }
    }

    /// The window title (OSC 0 or 2), or empty.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Whether bracketed paste is on.
    pub fn bracketed_paste(&self) -> bool {
        self.bracketed_paste
    }

    /// The mouse reporting mode in force (9, 1000, 1002 or 1003), if any.
    pub fn mouse(&self) -> Option<u16> {
        self.mouse
    }

    /// The sequences that set these modes on a terminal where none is set,
    /// in the order of SPEC.md 11.6.
    pub fn write(&self, out: &mut Vec<u8>) {
        if self.keypad_application {
            out.extend_from_slice(b"\x1b=");
        }
        for mode in [
            self.mouse,
            self.mouse_encoding,
            self.focus_events.then_some(FOCUS_EVENTS),
            self.bracketed_paste.then_some(BRACKETED_PASTE),
        ]
        .into_iter()
        .flatten()
        {
            out.extend_from_slice(format!("\x1b[?{mode}h").as_bytes());
        }
        if !self.title.is_empty() {
            out.extend_from_slice(b"\x1b]2;");
            out.extend_from_slice(self.title.as_bytes());
            out.push(0x07);
        }
    }
}

fn push_param(params: &mut Vec<u16>, value: Option<u32>) {
    if params.len() < MAX_PARAMS {
        params.push(u16::try_from(value.unwrap_or(0)).unwrap_or(u16::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(m: &Modes) -> String {
        let mut out = Vec::new();
        m.write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn modes_follow_the_sequences_that_set_them() {
        let mut m = Modes::new();
        m.feed("\x1b[?1000h\x1b[?1006;2004h\x1b=\x1b]0;vi x.txt\x07");
        assert_eq!(
            written(&m),
            "\x1b=\x1b[?1000h\x1b[?1006h\x1b[?2004h\x1b]2;vi x.txt\x07"
        );
        // Another mouse mode replaces the first; resetting one not in
        // force changes nothing.
        m.feed("\x1b[?1002h\x1b[?1000l\x1b>");
        assert_eq!(m.mouse(), Some(1002));
        // Split anywhere, ST-terminated, control characters dropped.
        for c in "\x1b]2;a\x01b\x1b\\".chars() {
            m.feed(c.encode_utf8(&mut [0; 4]));
        }
        assert_eq!(m.title(), "ab");
        // 8-bit C1 controls count as their 7-bit forms.
        m.feed("\u{9b}?2004l\u{9d}2;c1\u{9c}");
        assert!(!m.bracketed_paste());
        assert_eq!(m.title(), "c1");
        m.feed("\x1b[?2004h");
        // A DECSET with an intermediate is something else; RIS resets all.
        m.feed("\x1b[?2004$h");
        assert!(m.bracketed_paste());
        m.feed("\x1bc");
        assert_eq!(m, Modes::new());
    }

    #[test]
    fn titles_are_bounded() {
        let mut m = Modes::new();
        let long = "é".repeat(MAX_OSC_BYTES);
        m.feed(&format!("\x1b]2;{long}\x07"));
        assert!(m.title().len() <= MAX_TITLE_BYTES);
        assert!(m.title().chars().all(|c| c == 'é'));
    }
}
