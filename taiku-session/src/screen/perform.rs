//! The escape sequences a [`State`] follows: `vte` hands each one over
//! (SPEC.md 11.6 lists what the model keeps of them).

use vte::{Params, Perform};

use super::MAX_TITLE_BYTES;
use super::grid::{Cell, Colour, Line, Pen};
use super::vt::{Charset, State};

/// `5;n` or `2;r;g;b` (after 38 or 48); with `:` subparameters, `2` may
/// carry a colour space id first (`2::r:g:b`, ITU T.416).
pub(super) fn extended(p: &[u16], colon: bool) -> Option<Colour> {
    match p.first()? {
        5 => Some(Colour::Indexed(u8::try_from(*p.get(1)?).ok()?)),
        2 => {
            let rgb = if colon && p.len() >= 5 {
                &p[2..5]
            } else {
                p.get(1..4)?
            };
            let c = |i: usize| u8::try_from(rgb[i]).ok();
            Some(Colour::Rgb(c(0)?, c(1)?, c(2)?))
        }
        _ => None,
    }
}

/// DEC special graphics: `_` to `~` drawn as lines.
pub(super) fn drawing(c: char) -> char {
    const TABLE: [char; 32] = [
        ' ', '◆', '▒', '␉', '␌', '␍', '␊', '°', '±', '␤', '␋', '┘', '┐', '┌', '└', '┼', '⎺', '⎻',
        '─', '⎼', '⎽', '├', '┤', '┴', '┬', '│', '≤', '≥', 'π', '≠', '£', '·',
    ];
    match c {
        '_'..='~' => TABLE[c as usize - '_' as usize],
        _ => c,
    }
}

/// The first parameter, 0 or absent read as `default`.
fn arg(params: &Params, i: usize, default: usize) -> usize {
    match params.iter().nth(i).and_then(|p| p.first()) {
        Some(0) | None => default,
        Some(&n) => usize::from(n),
    }
}

impl Perform for State {
    #[inline]
    fn print(&mut self, c: char) {
        State::print(self, c);
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            0x08 => {
                if self.col > 0 {
                    self.col -= 1;
                }
                self.pending_wrap = false;
            }
            0x09 => self.tab(1),
            0x0a..=0x0c => {
                self.index();
                if self.newline {
                    self.col = 0;
                }
            }
            0x0d => {
                self.col = 0;
                self.pending_wrap = false;
            }
            0x0e => self.shifted = true,
            0x0f => self.shifted = false,
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], ignore: bool, action: char) {
        if ignore {
            return;
        }
        let n = arg(params, 0, 1);
        match (intermediates, action) {
            ([], '@') => {
                let (col, pen) = (self.col, self.pen.erased());
                self.line().insert(col, n, pen);
            }
            ([], 'A') => {
                let (top, _) = self.vertical_bounds();
                self.row = self.row.saturating_sub(n).max(top);
                self.pending_wrap = false;
            }
            ([], 'B' | 'e') => {
                let (_, bottom) = self.vertical_bounds();
                self.row = (self.row + n).min(bottom);
                self.pending_wrap = false;
            }
            ([], 'C' | 'a') => {
                self.col = (self.col + n).min(self.cols - 1);
                self.pending_wrap = false;
            }
            ([], 'D') => {
                self.col = self.col.saturating_sub(n);
                self.pending_wrap = false;
            }
            ([], 'E') => {
                let (_, bottom) = self.vertical_bounds();
                self.row = (self.row + n).min(bottom);
                self.col = 0;
                self.pending_wrap = false;
            }
            ([], 'F') => {
                let (top, _) = self.vertical_bounds();
                self.row = self.row.saturating_sub(n).max(top);
                self.col = 0;
                self.pending_wrap = false;
            }
            ([], 'G' | '`') => {
                self.col = (n - 1).min(self.cols - 1);
                self.pending_wrap = false;
            }
            ([], 'H' | 'f') => self.goto(n - 1, arg(params, 1, 1) - 1),
            ([], 'I') => self.tab(n),
            ([], 'Z') => self.back_tab(n),
            ([], 'J') => self.erase_display(
                params
                    .iter()
                    .next()
                    .and_then(|p| p.first().copied())
                    .unwrap_or(0),
            ),
            ([], 'K') => self.erase_line(
                params
                    .iter()
                    .next()
                    .and_then(|p| p.first().copied())
                    .unwrap_or(0),
            ),
            ([], 'L') => self.insert_lines(n),
            ([], 'M') => self.delete_lines(n),
            ([], 'P') => {
                let (col, pen) = (self.col, self.pen.erased());
                self.line().delete(col, n, pen);
                self.pending_wrap = false;
            }
            ([], 'S') => self.scroll(true, n),
            ([], 'T') => self.scroll(false, n),
            ([], 'X') => {
                let (col, pen) = (self.col, self.pen.erased());
                self.line().erase(col, col + n, pen);
                self.pending_wrap = false;
            }
            ([], 'b') => {
                if let Some(c) = self.last {
                    // Bounded: a screenful at most matters.
                    for _ in 0..n.min(self.rows * self.cols) {
                        State::print(self, c);
                    }
                }
            }
            ([], 'd') => {
                let col = self.col;
                self.goto(n - 1, col);
            }
            ([], 'g') => match params
                .iter()
                .next()
                .and_then(|p| p.first().copied())
                .unwrap_or(0)
            {
                0 => {
                    let col = self.col;
                    self.tabs[col] = false;
                }
                3 => self.tabs.iter_mut().for_each(|t| *t = false),
                _ => {}
            },
            ([], 'h' | 'l') => {
                for p in params.iter() {
                    match p.first() {
                        Some(4) => self.insert = action == 'h',
                        Some(20) => self.newline = action == 'h',
                        _ => {}
                    }
                }
            }
            ([b'?'], 'h' | 'l') => {
                for p in params.iter() {
                    if let Some(&mode) = p.first() {
                        self.dec_mode(mode, action == 'h');
                    }
                }
            }
            ([], 'm') => self.sgr(params),
            ([], 'r') => {
                let top = arg(params, 0, 1) - 1;
                let bottom = arg(params, 1, self.rows).min(self.rows) - 1;
                if top < bottom {
                    self.top = top;
                    self.bottom = bottom;
                    self.goto(0, 0);
                }
            }
            // SCOSC and SCORC take no parameter (`vte` reports an absent one
            // as a single 0).
            ([], 's') if params.len() <= 1 && arg(params, 0, 0) == 0 => self.save_cursor(),
            ([], 'u') if params.len() <= 1 && arg(params, 0, 0) == 0 => self.restore_cursor(),
            ([b'!'], 'p') => self.soft_reset(),
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], ignore: bool, byte: u8) {
        if ignore {
            return;
        }
        match (intermediates, byte) {
            ([], b'7') => self.save_cursor(),
            ([], b'8') => self.restore_cursor(),
            ([], b'D') => self.index(),
            ([], b'E') => {
                self.index();
                self.col = 0;
            }
            ([], b'M') => self.reverse_index(),
            ([], b'H') => {
                let col = self.col;
                self.tabs[col] = true;
            }
            ([], b'c') => {
                *self = State::new(self.rows, self.cols);
            }
            ([], b'=') => self.app_keypad = true,
            ([], b'>') => self.app_keypad = false,
            ([b'('], b'0') => self.charsets[0] = Charset::Drawing,
            ([b'('], b'B') => self.charsets[0] = Charset::Ascii,
            ([b')'], b'0') => self.charsets[1] = Charset::Drawing,
            ([b')'], b'B') => self.charsets[1] = Charset::Ascii,
            ([b'#'], b'8') => {
                let (rows, cols) = (self.rows, self.cols);
                let buffer = self.buffer_mut();
                for line in buffer.lines.iter_mut().take(rows) {
                    *line = Line(vec![Cell::new('E', 1, Pen::default()); cols], false);
                }
                self.top = 0;
                self.bottom = rows - 1;
                self.goto(0, 0);
            }
            _ => {}
        }
    }

    fn osc_dispatch(&mut self, params: &[&[u8]], _bell_terminated: bool) {
        if let [code, rest @ ..] = params
            && (*code == b"0" || *code == b"2")
        {
            let text = rest.join(&b';');
            let text = String::from_utf8_lossy(&text);
            // Printable characters only: the title is written back inside
            // an OSC, which a control character would end or break.
            let mut title = String::new();
            for c in text.chars().filter(|c| !c.is_control()) {
                if title.len() + c.len_utf8() > MAX_TITLE_BYTES {
                    break;
                }
                title.push(c);
            }
            self.title = title;
        }
    }
}
