//! The cells of a terminal: attributes, lines and a screen buffer with
//! its scrollback. Plain data and the edits a terminal makes to it; the
//! escape sequences that drive them are in [`vt`](super::vt).

use std::collections::VecDeque;

/// A colour: the terminal's default, one of the 256 indexed, or RGB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Colour {
    #[default]
    Default,
    Indexed(u8),
    Rgb(u8, u8, u8),
}

/// SGR attribute bits of a [`Pen`].
pub(crate) mod attr {
    pub const BOLD: u8 = 1;
    pub const FAINT: u8 = 1 << 1;
    pub const ITALIC: u8 = 1 << 2;
    pub const UNDERLINE: u8 = 1 << 3;
    pub const BLINK: u8 = 1 << 4;
    pub const INVERSE: u8 = 1 << 5;
    pub const HIDDEN: u8 = 1 << 6;
    pub const STRIKE: u8 = 1 << 7;
    /// Bits in SGR order with their SGR numbers (SPEC.md 11.6).
    pub const SGR: [(u8, u8); 8] = [
        (BOLD, 1),
        (FAINT, 2),
        (ITALIC, 3),
        (UNDERLINE, 4),
        (BLINK, 5),
        (INVERSE, 7),
        (HIDDEN, 8),
        (STRIKE, 9),
    ];
}

/// What a character is drawn with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pen {
    pub fg: Colour,
    pub bg: Colour,
    pub attrs: u8,
}

impl Pen {
    pub fn is_default(&self) -> bool {
        *self == Pen::default()
    }

    /// The pen an erase leaves: the background colour only (xterm's
    /// background colour erase).
    pub fn erased(&self) -> Pen {
        Pen {
            bg: self.bg,
            ..Pen::default()
        }
    }
}

/// One cell: a character of width 1 or 2, or the right half of a wide
/// one (width 0). Packed into 12 bytes (the character, its width and the
/// attribute bits share a word): the model writes a cell per character of
/// output, and memory traffic is most of its cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cell {
    /// Bits 0–20 the character, 21–22 the width, 24–31 the attributes.
    bits: u32,
    fg: Colour,
    bg: Colour,
}

impl Cell {
    pub fn new(ch: char, width: u8, pen: Pen) -> Cell {
        Cell {
            bits: u32::from(ch) | (u32::from(width & 3) << 21) | (u32::from(pen.attrs) << 24),
            fg: pen.fg,
            bg: pen.bg,
        }
    }

    pub fn blank(pen: Pen) -> Cell {
        Cell::new(' ', 1, pen)
    }

    pub fn ch(&self) -> char {
        char::from_u32(self.bits & 0x1f_ffff).unwrap_or(' ')
    }

    pub fn width(&self) -> u8 {
        ((self.bits >> 21) & 3) as u8
    }

    pub fn pen(&self) -> Pen {
        Pen {
            fg: self.fg,
            bg: self.bg,
            attrs: (self.bits >> 24) as u8,
        }
    }

    pub fn is_default_blank(&self) -> bool {
        *self == Cell::blank(Pen::default())
    }
}

/// A row of cells, and whether a wide character may be among them (if
/// not, a narrow character is written without looking at its neighbours).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line(pub Vec<Cell>, pub bool);

impl Line {
    pub fn blank(cols: usize, pen: Pen) -> Line {
        Line(vec![Cell::blank(pen); cols], false)
    }

    pub fn text(&self) -> String {
        let mut s: String = self
            .0
            .iter()
            .filter(|c| c.width() > 0)
            .map(|c| c.ch())
            .collect();
        s.truncate(s.trim_end().len());
        s
    }

    /// Cells `from..to` blank with `pen` (clipped), mending wide
    /// characters cut at either edge.
    pub fn erase(&mut self, from: usize, to: usize, pen: Pen) {
        let to = to.min(self.0.len());
        if from >= to {
            return;
        }
        if from == 0 && to == self.0.len() {
            self.0.fill(Cell::blank(pen));
            self.1 = false;
            return;
        }
        self.split_wide(from);
        self.split_wide(to);
        self.0[from..to].fill(Cell::blank(pen));
    }

    /// If `col` is the right half of a wide character, blank both halves.
    pub fn split_wide(&mut self, col: usize) {
        if col > 0 && col < self.0.len() && self.0[col].width() == 0 {
            let pen = self.0[col - 1].pen();
            self.0[col - 1] = Cell::blank(pen);
            self.0[col] = Cell::blank(pen);
        }
    }

    /// Insert `n` blanks at `col`, pushing the rest right (off the end).
    pub fn insert(&mut self, col: usize, n: usize, pen: Pen) {
        let cols = self.0.len();
        if col >= cols {
            return;
        }
        self.split_wide(col);
        let n = n.min(cols - col);
        self.0.truncate(cols - n);
        self.0
            .splice(col..col, std::iter::repeat_n(Cell::blank(pen), n));
        // A wide character pushed half off the end.
        if let Some(last) = self.0.last_mut()
            && last.width() == 2
        {
            *last = Cell::blank(last.pen());
        }
    }

    /// Delete `n` cells at `col`, pulling the rest left (blanks at the end).
    pub fn delete(&mut self, col: usize, n: usize, pen: Pen) {
        let cols = self.0.len();
        if col >= cols {
            return;
        }
        let n = n.min(cols - col);
        self.split_wide(col);
        self.split_wide(col + n);
        self.0.drain(col..col + n);
        self.0.extend(std::iter::repeat_n(Cell::blank(pen), n));
    }

    pub fn resize(&mut self, cols: usize) {
        if cols < self.0.len() {
            self.0.truncate(cols);
            if let Some(last) = self.0.last_mut()
                && last.width() == 2
            {
                *last = Cell::blank(last.pen());
            }
        } else {
            self.0.resize(cols, Cell::blank(Pen::default()));
        }
    }
}

/// A screen: `rows` lines, and (primary screen only) up to `limit` lines
/// of scrollback.
#[derive(Clone, Debug)]
pub(crate) struct Buffer {
    pub lines: Vec<Line>,
    pub history: VecDeque<Line>,
    pub limit: usize,
}

impl Buffer {
    pub fn new(rows: usize, cols: usize, limit: usize) -> Buffer {
        Buffer {
            lines: vec![Line::blank(cols, Pen::default()); rows],
            history: VecDeque::new(),
            limit,
        }
    }

    /// Scroll lines `top..=bottom` up by `n`; lines leaving the top of the
    /// whole screen go to the scrollback.
    pub fn scroll_up(&mut self, top: usize, bottom: usize, n: usize, pen: Pen) {
        let cols = self.lines.first().map_or(0, |l| l.0.len());
        let n = n.min(bottom + 1 - top);
        self.lines[top..=bottom].rotate_left(n);
        // The lines that left are now at the bottom: keep them, and reuse
        // an allocation (theirs, or the oldest the scrollback forgets).
        for row in bottom + 1 - n..=bottom {
            let line = &mut self.lines[row];
            if top == 0 && self.limit > 0 {
                let spare = if self.history.len() == self.limit {
                    self.history.pop_front()
                } else {
                    None
                };
                let fresh = match spare {
                    Some(mut l) => {
                        l.0.clear();
                        l.0.resize(cols, Cell::blank(pen));
                        l.1 = false;
                        l
                    }
                    None => Line::blank(cols, pen),
                };
                self.history.push_back(std::mem::replace(line, fresh));
            } else {
                line.0.fill(Cell::blank(pen));
                line.1 = false;
            }
        }
    }

    /// Scroll lines `top..=bottom` down by `n` (blank lines at the top).
    pub fn scroll_down(&mut self, top: usize, bottom: usize, n: usize, pen: Pen) {
        let cols = self.lines.first().map_or(0, |l| l.0.len());
        let n = n.min(bottom + 1 - top);
        for _ in 0..n {
            self.lines.remove(bottom);
            self.lines.insert(top, Line::blank(cols, pen));
        }
    }

    pub fn clear(&mut self, pen: Pen) {
        for line in &mut self.lines {
            let cols = line.0.len();
            line.erase(0, cols, pen);
        }
    }

    pub fn resize(&mut self, rows: usize, cols: usize) {
        for line in self.lines.iter_mut().chain(self.history.iter_mut()) {
            line.resize(cols);
        }
        if rows < self.lines.len() {
            // The top lines go, to the scrollback if there is one.
            let gone: Vec<Line> = self.lines.drain(..self.lines.len() - rows).collect();
            for line in gone {
                if self.limit > 0 {
                    if self.history.len() == self.limit {
                        self.history.pop_front();
                    }
                    self.history.push_back(line);
                }
            }
        } else {
            self.lines.resize(rows, Line::blank(cols, Pen::default()));
        }
    }
}
