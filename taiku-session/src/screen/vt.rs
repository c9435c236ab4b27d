//! [`Screen`]: the screen model taiku ships. The `vte` parser (Alacritty's,
//! the most used VT parser in Rust) drives a grid of our own, which keeps
//! exactly the state SPEC.md 11.6 writes back: both screens, cells and
//! attributes, cursor and saved cursors, margins, modes, character sets,
//! tab stops, title and scrollback.
//!
//! Why not a complete terminal crate: `avt` (asciinema) keeps all of this
//! and can dump it, but reads about 57 MB/s here, and `vt100` shows only
//! the active screen; `alacritty_terminal` brings its PTY and event loop.
//! The model must keep up with a PTY (issue 17 asks 200 MB/s), and it
//! needs to write its own state back, which none offers in the form the
//! snapshot specifies. `avt` remains the oracle of the tests.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar;
use vte::{Params, Perform};

use super::dump;
use super::grid::{Buffer, Cell, Colour, Line, Pen, attr};
use super::perform::{drawing, extended};

/// Lines of scrollback a [`Screen`] keeps, and so at most what a snapshot
/// carries (SPEC.md 11.6).
pub const SCROLLBACK_LINES: usize = 500;

/// Longest escape sequence (an OSC string, say) kept to finish in a
/// snapshot when the output stopped inside it.
pub(super) const MAX_TAIL_BYTES: usize = 4096;

/// G0 or G1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Charset {
    #[default]
    Ascii,
    /// DEC special graphics (line drawing).
    Drawing,
}

/// What DECSC saves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Saved {
    pub col: usize,
    pub row: usize,
    pub pen: Pen,
    pub origin: bool,
    pub pending_wrap: bool,
    pub charsets: [Charset; 2],
    pub shifted: bool,
}

/// The whole state of a terminal (what a snapshot writes back).
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub rows: usize,
    pub cols: usize,
    pub primary: Buffer,
    pub alternate: Buffer,
    pub alt: bool,
    pub col: usize,
    pub row: usize,
    pub pending_wrap: bool,
    pub pen: Pen,
    pub top: usize,
    pub bottom: usize,
    pub origin: bool,
    pub autowrap: bool,
    pub insert: bool,
    pub newline: bool,
    pub cursor_visible: bool,
    pub app_cursor: bool,
    pub app_keypad: bool,
    pub mouse: Option<u16>,
    pub mouse_encoding: Option<u16>,
    pub focus_events: bool,
    pub bracketed_paste: bool,
    pub title: String,
    pub charsets: [Charset; 2],
    /// SO: G1 is in use.
    pub shifted: bool,
    pub tabs: Vec<bool>,
    /// DECSC of each screen (primary, alternate).
    pub saved: [Option<Saved>; 2],
    pub last: Option<char>,
}

fn default_tabs(cols: usize) -> Vec<bool> {
    (0..cols).map(|c| c > 0 && c % 8 == 0).collect()
}

impl State {
    pub(super) fn new(rows: usize, cols: usize) -> State {
        State {
            rows,
            cols,
            primary: Buffer::new(rows, cols, SCROLLBACK_LINES),
            alternate: Buffer::new(rows, cols, 0),
            alt: false,
            col: 0,
            row: 0,
            pending_wrap: false,
            pen: Pen::default(),
            top: 0,
            bottom: rows - 1,
            origin: false,
            autowrap: true,
            insert: false,
            newline: false,
            cursor_visible: true,
            app_cursor: false,
            app_keypad: false,
            mouse: None,
            mouse_encoding: None,
            focus_events: false,
            bracketed_paste: false,
            title: String::new(),
            charsets: [Charset::Ascii; 2],
            shifted: false,
            tabs: default_tabs(cols),
            saved: [None, None],
            last: None,
        }
    }

    pub fn default_tabs(&self) -> bool {
        self.tabs == default_tabs(self.cols)
    }

    pub fn buffer(&self) -> &Buffer {
        if self.alt {
            &self.alternate
        } else {
            &self.primary
        }
    }

    pub(super) fn buffer_mut(&mut self) -> &mut Buffer {
        if self.alt {
            &mut self.alternate
        } else {
            &mut self.primary
        }
    }

    pub(super) fn line(&mut self) -> &mut Line {
        let row = self.row;
        &mut self.buffer_mut().lines[row]
    }

    // ---- printing -----------------------------------------------------

    #[inline(always)]
    pub(super) fn print(&mut self, c: char) {
        let c = if self.charsets[usize::from(self.shifted)] == Charset::Drawing {
            drawing(c)
        } else {
            c
        };
        // Most output: one narrow character over a narrow one, no wrap
        // pending, no insert mode.
        if (' '..='~').contains(&c) && !self.pending_wrap && !self.insert {
            let (row, col, cols, pen) = (self.row, self.col, self.cols, self.pen);
            let line = &mut self.buffer_mut().lines[row];
            let fits = !line.1
                || (line.0[col].width() == 1 && line.0.get(col + 1).is_none_or(|n| n.width() != 0));
            if fits {
                line.0[col] = Cell::new(c, 1, pen);
                self.last = Some(c);
                if col + 1 < cols {
                    self.col = col + 1;
                } else {
                    self.pending_wrap = self.autowrap;
                }
                return;
            }
        }
        self.print_slow(c);
    }

    #[inline(never)]
    pub(super) fn print_slow(&mut self, c: char) {
        let width = match c.width() {
            Some(w @ 1..=2) => w,
            // Combining and other zero-width characters, and controls
            // that reach here, take no cell.
            _ => return,
        };
        if width == 2 && self.cols < 2 {
            return;
        }
        if self.pending_wrap && self.autowrap {
            self.pending_wrap = false;
            self.col = 0;
            self.index();
        }
        if width == 2 && self.col == self.cols - 1 {
            if self.autowrap {
                let pen = self.pen.erased();
                let col = self.col;
                self.line().erase(col, col + 1, pen);
                self.col = 0;
                self.index();
            } else {
                self.col -= 1;
            }
        }
        let (col, pen, insert) = (self.col, self.pen, self.insert);
        let line = self.line();
        if insert {
            line.insert(col, width, pen);
        }
        line.split_wide(col);
        if width == 2 {
            line.split_wide(col + 1);
            // The left half of a wide character right of it loses its mate.
            if col + 2 < line.0.len() && line.0[col + 2].width() == 0 {
                line.0[col + 2] = Cell::blank(pen);
            }
            line.0[col] = Cell::new(c, 2, pen);
            line.1 = true;
            line.0[col + 1] = Cell::new(' ', 0, pen);
        } else {
            if col + 1 < line.0.len() && line.0[col + 1].width() == 0 {
                line.0[col + 1] = Cell::blank(line.0[col + 1].pen());
            }
            line.0[col] = Cell::new(c, 1, pen);
        }
        self.last = Some(c);
        self.col += width;
        if self.col >= self.cols {
            self.col = self.cols - 1;
            self.pending_wrap = self.autowrap;
        }
    }

    /// Text in the ground state (no sequence under way), as `vte` would
    /// hand it over character by character, with runs of printable ASCII
    /// written a row at a time.
    pub(super) fn ground_text(&mut self, text: &str) {
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                0x20..=0x7e => {
                    let run = b[i..]
                        .iter()
                        .position(|x| !(0x20..=0x7e).contains(x))
                        .unwrap_or(b.len() - i);
                    self.print_ascii(&b[i..i + run]);
                    i += run;
                }
                0x7f => {
                    self.print('\x7f');
                    i += 1;
                }
                c @ 0..=0x1f => {
                    Perform::execute(self, c);
                    i += 1;
                }
                _ => {
                    let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                    match u32::from(c) {
                        c1 @ 0x80..=0x9f => Perform::execute(self, c1 as u8),
                        _ => self.print(c),
                    }
                    i += c.len_utf8();
                }
            }
        }
    }

    /// Printable ASCII: as many cells of the cursor's row at once as fit,
    /// when nothing needs looking at per character.
    fn print_ascii(&mut self, run: &[u8]) {
        let mut i = 0;
        while i < run.len() {
            let slow = self.pending_wrap
                || self.insert
                || self.charsets[usize::from(self.shifted)] == Charset::Drawing;
            let (row, col, cols, pen) = (self.row, self.col, self.cols, self.pen);
            let line = &mut self.buffer_mut().lines[row];
            if slow || line.1 {
                self.print(char::from(run[i]));
                i += 1;
                continue;
            }
            let n = (cols - col).min(run.len() - i);
            for (cell, &b) in line.0[col..col + n].iter_mut().zip(&run[i..i + n]) {
                *cell = Cell::new(char::from(b), 1, pen);
            }
            self.last = Some(char::from(run[i + n - 1]));
            i += n;
            if col + n < cols {
                self.col = col + n;
            } else {
                self.col = cols - 1;
                self.pending_wrap = self.autowrap;
            }
        }
    }

    // ---- movement -----------------------------------------------------

    /// LF, IND: down one line, scrolling at the bottom margin.
    pub(super) fn index(&mut self) {
        self.pending_wrap = false;
        if self.row == self.bottom {
            let (top, bottom, pen) = (self.top, self.bottom, self.pen.erased());
            self.buffer_mut().scroll_up(top, bottom, 1, pen);
        } else if self.row + 1 < self.rows {
            self.row += 1;
        }
    }

    /// RI: up one line, scrolling at the top margin.
    pub(super) fn reverse_index(&mut self) {
        self.pending_wrap = false;
        if self.row == self.top {
            let (top, bottom, pen) = (self.top, self.bottom, self.pen.erased());
            self.buffer_mut().scroll_down(top, bottom, 1, pen);
        } else if self.row > 0 {
            self.row -= 1;
        }
    }

    /// The rows the cursor may move in: the margins when inside them.
    pub(super) fn vertical_bounds(&self) -> (usize, usize) {
        if self.row >= self.top && self.row <= self.bottom {
            (self.top, self.bottom)
        } else {
            (0, self.rows - 1)
        }
    }

    pub(super) fn goto(&mut self, row: usize, col: usize) {
        let (base, max) = if self.origin {
            (self.top, self.bottom)
        } else {
            (0, self.rows - 1)
        };
        self.row = (base + row).min(max);
        self.col = col.min(self.cols - 1);
        self.pending_wrap = false;
    }

    pub(super) fn tab(&mut self, n: usize) {
        for _ in 0..n {
            let next = (self.col + 1..self.cols).find(|&c| self.tabs[c]);
            self.col = next.unwrap_or(self.cols - 1);
        }
        self.pending_wrap = false;
    }

    pub(super) fn back_tab(&mut self, n: usize) {
        for _ in 0..n {
            let prev = (0..self.col).rev().find(|&c| self.tabs[c]);
            self.col = prev.unwrap_or(0);
        }
        self.pending_wrap = false;
    }

    // ---- screens and saving ---------------------------------------------

    pub(super) fn save_cursor(&mut self) {
        self.saved[usize::from(self.alt)] = Some(Saved {
            col: self.col,
            row: self.row,
            pen: self.pen,
            origin: self.origin,
            pending_wrap: self.pending_wrap,
            charsets: self.charsets,
            shifted: self.shifted,
        });
    }

    pub(super) fn restore_cursor(&mut self) {
        let s = self.saved[usize::from(self.alt)].unwrap_or_default();
        self.col = s.col.min(self.cols - 1);
        self.row = s.row.min(self.rows - 1);
        if s.origin {
            // In origin mode the cursor stays within the margins (so a
            // snapshot, which places it with CUP, can put it back).
            self.row = self.row.clamp(self.top, self.bottom);
        }
        self.pen = s.pen;
        self.origin = s.origin;
        self.pending_wrap = s.pending_wrap;
        self.charsets = s.charsets;
        self.shifted = s.shifted;
    }

    /// To the alternate screen, cleared with the current background (as
    /// xterm.js does for 47, 1047 and 1049 alike: what the alternate screen
    /// showed before never comes back).
    pub(super) fn enter_alternate(&mut self) {
        if !self.alt {
            self.alt = true;
            let pen = self.pen.erased();
            self.alternate.clear(pen);
        }
    }

    pub(super) fn enter_primary(&mut self) {
        self.alt = false;
    }

    pub(super) fn dec_mode(&mut self, mode: u16, on: bool) {
        match mode {
            1 => self.app_cursor = on,
            6 => {
                self.origin = on;
                self.goto(0, 0);
            }
            7 => self.autowrap = on,
            25 => self.cursor_visible = on,
            47 | 1047 => {
                if on {
                    self.enter_alternate();
                } else {
                    self.enter_primary();
                }
            }
            1048 => {
                if on {
                    self.save_cursor();
                } else {
                    self.restore_cursor();
                }
            }
            1049 => {
                if on {
                    if !self.alt {
                        self.save_cursor();
                        self.enter_alternate();
                    }
                } else {
                    // As DECRC, even from the primary screen (xterm).
                    self.enter_primary();
                    self.restore_cursor();
                }
            }
            // Resetting any mouse mode (or encoding) turns reporting (or the
            // encoding) back to none, as xterm and xterm.js do.
            9 | 1000 | 1002 | 1003 => self.mouse = on.then_some(mode),
            1005 | 1006 | 1015 => self.mouse_encoding = on.then_some(mode),
            1004 => self.focus_events = on,
            2004 => self.bracketed_paste = on,
            _ => {}
        }
    }

    /// DECSTR.
    pub(super) fn soft_reset(&mut self) {
        self.pen = Pen::default();
        self.origin = false;
        self.autowrap = true;
        self.insert = false;
        self.cursor_visible = true;
        self.app_cursor = false;
        self.app_keypad = false;
        self.top = 0;
        self.bottom = self.rows - 1;
        self.charsets = [Charset::Ascii; 2];
        self.shifted = false;
        self.saved = [None, None];
        self.pending_wrap = false;
    }

    // ---- erasing and editing ----------------------------------------------

    /// The column erasing starts or ends at: past the last one while a
    /// wrap is pending (as xterm.js, whose cursor is then beyond the line;
    /// an erase leaves the wrap pending, as there).
    pub(super) fn erase_col(&self) -> usize {
        if self.pending_wrap {
            self.cols
        } else {
            self.col
        }
    }

    pub(super) fn erase_display(&mut self, mode: u16) {
        let pen = self.pen.erased();
        let (row, col, cols) = (self.row, self.erase_col(), self.cols);
        let buffer = self.buffer_mut();
        match mode {
            0 => {
                buffer.lines[row].erase(col, cols, pen);
                for line in buffer.lines.iter_mut().skip(row + 1) {
                    line.erase(0, cols, pen);
                }
            }
            1 => {
                for line in buffer.lines.iter_mut().take(row) {
                    line.erase(0, cols, pen);
                }
                buffer.lines[row].erase(0, col + 1, pen);
            }
            2 => buffer.clear(pen),
            3 => buffer.history.clear(),
            _ => {}
        }
    }

    pub(super) fn erase_line(&mut self, mode: u16) {
        let pen = self.pen.erased();
        let (col, cols) = (self.erase_col(), self.cols);
        let line = self.line();
        match mode {
            0 => line.erase(col, cols, pen),
            1 => line.erase(0, col + 1, pen),
            2 => line.erase(0, cols, pen),
            _ => {}
        }
    }

    pub(super) fn insert_lines(&mut self, n: usize) {
        if self.row < self.top || self.row > self.bottom {
            return;
        }
        let (row, bottom, pen) = (self.row, self.bottom, self.pen.erased());
        self.buffer_mut().scroll_down(row, bottom, n, pen);
        self.col = 0;
        self.pending_wrap = false;
    }

    pub(super) fn delete_lines(&mut self, n: usize) {
        if self.row < self.top || self.row > self.bottom {
            return;
        }
        let (row, bottom, pen) = (self.row, self.bottom, self.pen.erased());
        // Lines deleted inside the screen never reach the scrollback.
        let limit = std::mem::replace(&mut self.buffer_mut().limit, 0);
        self.buffer_mut().scroll_up(row, bottom, n, pen);
        self.buffer_mut().limit = limit;
        self.col = 0;
        self.pending_wrap = false;
    }

    pub(super) fn scroll(&mut self, up: bool, n: usize) {
        let (top, bottom, pen) = (self.top, self.bottom, self.pen.erased());
        if up {
            self.buffer_mut().scroll_up(top, bottom, n, pen);
        } else {
            self.buffer_mut().scroll_down(top, bottom, n, pen);
        }
    }

    // ---- SGR ---------------------------------------------------------------

    pub(super) fn sgr(&mut self, params: &Params) {
        if params.is_empty() {
            self.pen = Pen::default();
            return;
        }
        let mut it = params.iter();
        while let Some(p) = it.next() {
            let code = p.first().copied().unwrap_or(0);
            match code {
                0 => self.pen = Pen::default(),
                1 => self.pen.attrs |= attr::BOLD,
                2 => self.pen.attrs |= attr::FAINT,
                3 => self.pen.attrs |= attr::ITALIC,
                4 => {
                    // 4:0 is "no underline"; any other style underlines.
                    if p.get(1) == Some(&0) {
                        self.pen.attrs &= !attr::UNDERLINE;
                    } else {
                        self.pen.attrs |= attr::UNDERLINE;
                    }
                }
                5 | 6 => self.pen.attrs |= attr::BLINK,
                7 => self.pen.attrs |= attr::INVERSE,
                8 => self.pen.attrs |= attr::HIDDEN,
                9 => self.pen.attrs |= attr::STRIKE,
                21 => self.pen.attrs |= attr::UNDERLINE,
                22 => self.pen.attrs &= !(attr::BOLD | attr::FAINT),
                23 => self.pen.attrs &= !attr::ITALIC,
                24 => self.pen.attrs &= !attr::UNDERLINE,
                25 => self.pen.attrs &= !attr::BLINK,
                27 => self.pen.attrs &= !attr::INVERSE,
                28 => self.pen.attrs &= !attr::HIDDEN,
                29 => self.pen.attrs &= !attr::STRIKE,
                30..=37 => self.pen.fg = Colour::Indexed((code - 30) as u8),
                39 => self.pen.fg = Colour::Default,
                40..=47 => self.pen.bg = Colour::Indexed((code - 40) as u8),
                49 => self.pen.bg = Colour::Default,
                90..=97 => self.pen.fg = Colour::Indexed((code - 90 + 8) as u8),
                100..=107 => self.pen.bg = Colour::Indexed((code - 100 + 8) as u8),
                38 | 48 => {
                    let colour = if p.len() > 1 {
                        extended(&p[1..], true)
                    } else {
                        // `;`-separated: the next parameters are the colour.
                        let mut rest = Vec::with_capacity(4);
                        if let Some(kind) = it.next() {
                            rest.push(kind.first().copied().unwrap_or(0));
                            let more = if rest[0] == 2 { 3 } else { 1 };
                            for _ in 0..more {
                                match it.next() {
                                    Some(x) => rest.push(x.first().copied().unwrap_or(0)),
                                    None => break,
                                }
                            }
                        }
                        extended(&rest, false)
                    };
                    if let Some(c) = colour {
                        if code == 38 {
                            self.pen.fg = c;
                        } else {
                            self.pen.bg = c;
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// A terminal's screen: both screens, cells, cursor, modes and
/// `SCROLLBACK_LINES` of scrollback, fed with its output.
pub struct Screen {
    pub(super) state: State,
    /// Parses escape sequences only: text never reaches it.
    pub(super) parser: vte::Parser,
    /// The output so far stopped inside an escape sequence, which `vte`
    /// holds.
    pub(super) in_sequence: bool,
    /// What a snapshot ends with: the beginning of that sequence as
    /// received (its C0 controls, already executed, left out), or the
    /// first bytes of a UTF-8 character cut short, which the model holds
    /// until the rest comes.
    pub(crate) tail: Vec<u8>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Screen contents are terminal output: never in logs.
        f.debug_struct("Screen")
            .field("rows", &self.state.rows)
            .field("cols", &self.state.cols)
            .finish_non_exhaustive()
    }
}

impl Screen {
    /// A blank screen of `rows` × `cols` (each at least 1).
    pub fn new(rows: u16, cols: u16) -> Screen {
        Screen {
            state: State::new(usize::from(rows.max(1)), usize::from(cols.max(1))),
            parser: vte::Parser::new(),
            in_sequence: false,
            tail: Vec::new(),
        }
    }

    /// Rows and columns.
    pub fn size(&self) -> (u16, u16) {
        let fit = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        (fit(self.state.rows), fit(self.state.cols))
    }

    /// The text of each visible row of the active screen, trailing blanks
    /// trimmed.
    pub fn text(&self) -> Vec<String> {
        self.state.buffer().lines.iter().map(Line::text).collect()
    }

    /// The cursor: column, row (from 0) and whether it is visible.
    pub fn cursor(&self) -> (usize, usize, bool) {
        (self.state.col, self.state.row, self.state.cursor_visible)
    }

    /// Whether the alternate screen is active.
    pub fn alternate(&self) -> bool {
        self.state.alt
    }

    /// The window title, or empty.
    pub fn title(&self) -> &str {
        &self.state.title
    }

    /// Paint the part of the active screen `rows` × `cols` from row `top`,
    /// column `left` onto a terminal at least that large, from its
    /// top-left corner: for a viewer whose window is smaller than the
    /// terminal (a wide character cut by the left edge shows as a blank).
    /// The cursor is left where it is in that part, shown if it is inside
    /// and visible, hidden otherwise.
    pub fn viewport(&self, top: usize, left: usize, rows: usize, cols: usize) -> Vec<u8> {
        let s = &self.state;
        let mut out = String::from("\x1b[?25l");
        for i in 0..rows {
            let _ = write!(out, "\x1b[{};1H", i + 1);
            if let Some(line) = s.buffer().lines.get(top + i) {
                dump::cells_between(line, left, left + cols, &mut out);
            }
            out.push_str("\x1b[0m\x1b[K");
        }
        let (row, col) = (s.row, s.col);
        if row >= top && row < top + rows && col >= left && col < left + cols {
            let _ = write!(out, "\x1b[{};{}H", row - top + 1, col - left + 1);
            if s.cursor_visible {
                out.push_str("\x1b[?25h");
            }
        }
        out.into_bytes()
    }

    /// Whether a printable ASCII character written now would land on the
    /// cursor's cell and move the cursor one column right, as a shell's
    /// echo does: the normal screen, the cursor visible and not in the
    /// last column, no wrap pending, no insert or origin mode, the ASCII
    /// character set, and not in the middle of an escape sequence. What a
    /// predictive echo (`taiku_session::predict`) needs to guess.
    pub fn predictable(&self) -> bool {
        let s = &self.state;
        !s.alt
            && s.cursor_visible
            && !s.pending_wrap
            && !s.insert
            && !s.origin
            && s.col + 1 < s.cols
            && s.charsets[usize::from(s.shifted)] == Charset::Ascii
            && !self.in_sequence
            && self.tail.is_empty()
    }

    /// The character of the visible cell at `row`, `col` (from 0), if
    /// there is one: a blank is `' '`, the right half of a wide character
    /// `None`.
    pub fn char_at(&self, row: usize, col: usize) -> Option<char> {
        let cell = self.state.buffer().lines.get(row)?.0.get(col)?;
        (cell.width() != 0).then(|| cell.ch())
    }

    /// Bytes that paint cells `from..to` of the cursor's row again as the
    /// model has them, on a terminal showing this screen whose cursor is
    /// on that row (in the state [`predictable`](Self::predictable)
    /// requires), then put the cursor back at the model's column and the
    /// current attributes back: what undoes anything drawn over those
    /// cells. It moves only within the row, so it holds wherever the
    /// terminal has the row.
    pub fn repaint_cells(&self, from: usize, to: usize) -> Vec<u8> {
        let s = &self.state;
        let to = to.min(s.cols);
        let mut out = String::from("\r");
        if from < to {
            if from > 0 {
                let _ = write!(out, "\x1b[{from}C");
            }
            let _ = write!(out, "\x1b[0m\x1b[{}X", to - from);
            if let Some(line) = s.buffer().lines.get(s.row) {
                dump::cells_between(line, from, to, &mut out);
            }
            out.push('\r');
        }
        if s.col > 0 {
            let _ = write!(out, "\x1b[{}C", s.col);
        }
        sgr(&s.pen, &mut out);
        out.into_bytes()
    }

    #[cfg(test)]
    pub(crate) fn state(&self) -> &State {
        &self.state
    }
}

/// `CSI 0 ; … m` setting exactly `pen` (SPEC.md 11.6).
pub(crate) fn sgr(pen: &Pen, out: &mut String) {
    out.push_str("\x1b[0");
    for (bit, code) in attr::SGR {
        if pen.attrs & bit != 0 {
            let _ = write!(out, ";{code}");
        }
    }
    colour(pen.fg, 30, out);
    colour(pen.bg, 40, out);
    out.push('m');
}

fn colour(c: Colour, base: u8, s: &mut String) {
    let _ = match c {
        Colour::Default => Ok(()),
        Colour::Indexed(n) if n < 8 => write!(s, ";{}", base + n),
        Colour::Indexed(n) if n < 16 => write!(s, ";{}", base + 60 + n - 8),
        Colour::Indexed(n) => write!(s, ";{};5;{n}", base + 8),
        Colour::Rgb(r, g, b) => write!(s, ";{};2;{r};{g};{b}", base + 8),
    };
}
