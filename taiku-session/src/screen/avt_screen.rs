//! [`Screen`]: the screen model taiku ships, on the `avt` virtual terminal.
//!
//! Why `avt`: it is the terminal model of asciinema (maintained with it,
//! exercised by every recording the asciinema player shows), it keeps the
//! primary and alternate screens separately with their saved cursors, and
//! it writes its whole visible state back as escape sequences
//! (`Terminal::dump`), including a sequence the output stopped in the
//! middle of, which is what a snapshot is. Its only dependency is
//! `unicode-width`. `vt100` shows only the active screen; `alacritty_terminal`
//! pulls in a renderer's worth of dependencies and has no dump.

use avt::{Color, Line, Pen};

use super::modes::Modes;
use super::{ScreenModel, Utf8Stream};

/// Lines of scrollback a [`Screen`] keeps, and so at most what a snapshot
/// carries (SPEC.md 11.6).
pub const SCROLLBACK_LINES: usize = 500;

/// A terminal's screen: normal and alternate screens, cells, cursor,
/// modes and `SCROLLBACK_LINES` of scrollback.
pub struct Screen {
    vt: avt::Terminal,
    modes: Modes,
    utf8: Utf8Stream,
    rows: u16,
    cols: u16,
}

impl core::fmt::Debug for Screen {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Screen contents are terminal output: never in logs.
        f.debug_struct("Screen")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl Screen {
    /// A blank screen of `rows` × `cols` (each at least 1).
    pub fn new(rows: u16, cols: u16) -> Screen {
        let (rows, cols) = (rows.max(1), cols.max(1));
        let vt = avt::Terminal::with_scrollback(
            usize::from(cols),
            usize::from(rows),
            Some(SCROLLBACK_LINES),
        )
        .unwrap_or_else(|_| unreachable!("both dimensions are at least 1"));
        Screen {
            vt,
            modes: Modes::new(),
            utf8: Utf8Stream::new(),
            rows,
            cols,
        }
    }

    /// Rows and columns.
    pub fn size(&self) -> (u16, u16) {
        (self.rows, self.cols)
    }

    /// The text of each visible row of the active screen, trailing blanks
    /// trimmed.
    pub fn text(&self) -> Vec<String> {
        self.vt
            .screen()
            .visible_lines()
            .map(|l| l.text().trim_end().to_owned())
            .collect()
    }

    /// The cursor: column, row (from 0) and whether it is visible.
    pub fn cursor(&self) -> (usize, usize, bool) {
        let c = self.vt.cursor();
        (c.col, c.row, c.visible)
    }

    /// Whether the alternate screen is active.
    pub fn alternate(&self) -> bool {
        self.vt.active_screen_kind() == avt::ScreenKind::Alternate
    }

    /// The window title, or empty.
    pub fn title(&self) -> &str {
        self.modes.title()
    }
}

impl ScreenModel for Screen {
    fn feed(&mut self, bytes: &[u8]) {
        let (vt, modes) = (&mut self.vt, &mut self.modes);
        self.utf8.decode(bytes, |text| {
            modes.feed(text);
            vt.feed(text);
        });
    }

    fn resize(&mut self, rows: u16, cols: u16) {
        let (rows, cols) = (rows.max(1), cols.max(1));
        if (rows, cols) != (self.rows, self.cols) {
            self.vt.resize(usize::from(cols), usize::from(rows));
            self.rows = rows;
            self.cols = cols;
        }
    }

    fn snapshot(&self, max_bytes: usize) -> Vec<u8> {
        // The screen: modes avt does not keep, then avt's own dump (which
        // ends with any sequence the output stopped inside), then a UTF-8
        // sequence cut short.
        let mut screen = Vec::new();
        self.modes.write(&mut screen);
        screen.extend_from_slice(&portable(&self.vt.dump()));
        screen.extend_from_slice(self.utf8.pending());

        // Scrollback, newest lines first, as many as fit.
        let primary = self.vt.primary_screen();
        let lines: Vec<&Line> = primary.all_lines().collect();
        let history = &lines[..lines.len().saturating_sub(usize::from(self.rows))];
        let padding = (usize::from(self.rows) - 1) * 2 + 3;
        let mut budget = max_bytes.saturating_sub(screen.len() + padding);
        let mut kept: Vec<Vec<u8>> = Vec::new();
        for line in history.iter().rev() {
            let bytes = history_line(line);
            if bytes.len() > budget {
                break;
            }
            budget -= bytes.len();
            kept.push(bytes);
        }
        if kept.is_empty() {
            return screen;
        }
        let mut out = Vec::new();
        for line in kept.iter().rev() {
            out.extend_from_slice(line);
        }
        // Scroll every history line off the screen, then paint it from home.
        for _ in 1..self.rows {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\x1b[H");
        out.extend_from_slice(&screen);
        out
    }
}

/// avt's dump in the forms SPEC.md 11.6 allows, which every common
/// terminal (xterm.js included) reads: 7-bit introducers for the 8-bit C1
/// controls avt writes a cut sequence with (no cell holds a C1 control:
/// avt executes them); SGR colours with `;` instead of `:` (`38:2:r:g:b`
/// reads as a colour space in xterm.js); tab stops set with HTS (`ESC H`)
/// and cleared with TBC (`CSI 3 g`) instead of CTC (`CSI 0 W`, `CSI 5 W`).
/// A sequence cut short at the end is copied as it is.
fn portable(dump: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(dump.len());
    for c in dump.chars() {
        match u32::from(c) {
            c1 @ 0x80..=0x9f => bytes.extend_from_slice(&[0x1b, (c1 - 0x40) as u8]),
            _ => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            let start = i + 2;
            let Some(len) = bytes[start..]
                .iter()
                .position(|b| (0x40..=0x7e).contains(b))
            else {
                out.extend_from_slice(&bytes[i..]);
                break;
            };
            let (params, fin) = (&bytes[start..start + len], bytes[start + len]);
            match (fin, params) {
                (b'm', _) => {
                    out.extend_from_slice(b"\x1b[");
                    out.extend(params.iter().map(|&b| if b == b':' { b';' } else { b }));
                    out.push(b'm');
                }
                (b'W', b"5") => out.extend_from_slice(b"\x1b[3g"),
                (b'W', b"0" | b"") => out.extend_from_slice(b"\x1bH"),
                _ => out.extend_from_slice(&bytes[i..=start + len]),
            }
            i = start + len + 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// One scrollback line as SPEC.md 11.6 writes it: its cells with SGR
/// where the attributes change, trailing default blanks dropped, the
/// attributes reset at the end if they were set, then CR LF.
fn history_line(line: &Line) -> Vec<u8> {
    let cells = line.cells();
    let end = cells
        .iter()
        .rposition(|c| !(c.char() == ' ' && c.pen().is_default()))
        .map_or(0, |i| i + 1);
    let mut out = Vec::new();
    let mut pen = Pen::default();
    for cell in &cells[..end] {
        if cell.width() == 0 {
            // The second half of a wide character.
            continue;
        }
        if cell.pen() != &pen {
            pen = *cell.pen();
            sgr(&pen, &mut out);
        }
        let mut buf = [0u8; 4];
        out.extend_from_slice(cell.char().encode_utf8(&mut buf).as_bytes());
    }
    if !pen.is_default() {
        out.extend_from_slice(b"\x1b[0m");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `CSI 0 ; … m` setting exactly `pen`, in the order of SPEC.md 11.6.
fn sgr(pen: &Pen, out: &mut Vec<u8>) {
    let mut s = String::from("\x1b[0");
    for (on, code) in [
        (pen.is_bold(), "1"),
        (pen.is_faint(), "2"),
        (pen.is_italic(), "3"),
        (pen.is_underline(), "4"),
        (pen.is_blink(), "5"),
        (pen.is_inverse(), "7"),
        (pen.is_strikethrough(), "9"),
    ] {
        if on {
            s.push(';');
            s.push_str(code);
        }
    }
    if let Some(c) = pen.foreground() {
        colour(c, 30, &mut s);
    }
    if let Some(c) = pen.background() {
        colour(c, 40, &mut s);
    }
    s.push('m');
    out.extend_from_slice(s.as_bytes());
}

fn colour(c: Color, base: u8, s: &mut String) {
    use core::fmt::Write;
    let _ = match c {
        Color::Indexed(n) if n < 8 => write!(s, ";{}", base + n),
        Color::Indexed(n) if n < 16 => write!(s, ";{}", base + 60 + n - 8),
        Color::Indexed(n) => write!(s, ";{};5;{n}", base + 8),
        Color::RGB(rgb) => write!(s, ";{};2;{};{};{}", base + 8, rgb.r, rgb.g, rgb.b),
    };
}

#[cfg(test)]
mod tests;
