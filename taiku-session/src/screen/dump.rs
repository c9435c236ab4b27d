//! The snapshot payload of SPEC.md 11.6, written from a [`State`]: bytes
//! that, written to a terminal in its initial state of the same size,
//! reproduce it.

use std::fmt::Write as _;

use super::grid::{Buffer, Line, Pen};
use super::vt::{Charset, Saved, State, sgr};

/// The payload, at most `max_bytes` (oldest scrollback left out first; the
/// screen itself always).
pub(crate) fn snapshot(s: &State, max_bytes: usize) -> Vec<u8> {
    let screen = screen(s);
    let padding = s.rows.saturating_sub(1) * 2 + 3;
    let mut budget = max_bytes.saturating_sub(screen.len() + padding);
    let mut kept: Vec<String> = Vec::new();
    for line in s.primary.history.iter().rev() {
        let mut text = String::new();
        cells(line, &mut text);
        text.push_str("\r\n");
        if text.len() > budget {
            break;
        }
        budget -= text.len();
        kept.push(text);
    }
    let mut out = String::new();
    if !kept.is_empty() {
        for line in kept.iter().rev() {
            out.push_str(line);
        }
        // Every history line scrolls off; the screen is painted after.
        for _ in 1..s.rows {
            out.push_str("\r\n");
        }
        out.push_str("\x1b[H");
    }
    out.push_str(&screen);
    out.into_bytes()
}

/// Parts 2 and 3 of the payload: modes, then both screens and the state.
fn screen(s: &State) -> String {
    let mut out = String::new();
    if s.app_keypad {
        out.push_str("\x1b=");
    }
    let modes = [
        s.mouse,
        s.mouse_encoding,
        s.focus_events.then_some(1004),
        s.bracketed_paste.then_some(2004),
    ];
    for mode in modes.into_iter().flatten() {
        let _ = write!(out, "\x1b[?{mode}h");
    }
    if !s.title.is_empty() {
        let _ = write!(out, "\x1b]2;{}\x07", s.title);
    }

    rows(&s.primary, &mut out);
    if let Some(saved) = s.saved[0] {
        save(s, &s.primary, &saved, &mut out);
    }
    if s.alt || s.saved[1].is_some() {
        out.push_str("\x1b[?1047h");
        if s.alt {
            rows(&s.alternate, &mut out);
        }
        if let Some(saved) = s.saved[1] {
            save(s, &s.alternate, &saved, &mut out);
        }
        if !s.alt {
            out.push_str("\x1b[?1047l");
        }
    }

    if !s.default_tabs() {
        out.push_str("\x1b[3g");
        for (col, _) in s.tabs.iter().enumerate().filter(|(_, on)| **on) {
            let _ = write!(out, "\x1b[{}G\x1bH", col + 1);
        }
    }
    if s.top != 0 || s.bottom != s.rows - 1 {
        let _ = write!(out, "\x1b[{};{}r", s.top + 1, s.bottom + 1);
    }
    if s.origin {
        out.push_str("\x1b[?6h");
    }
    let buffer = s.buffer();
    place(s, buffer, s.row, s.col, s.origin, s.pending_wrap, &mut out);
    if !s.autowrap {
        out.push_str("\x1b[?7l");
    }
    if s.insert {
        out.push_str("\x1b[4h");
    }
    if s.newline {
        out.push_str("\x1b[20h");
    }
    if s.app_cursor {
        out.push_str("\x1b[?1h");
    }
    sgr(&s.pen, &mut out);
    charsets(s.charsets, s.shifted, &mut out);
    if !s.cursor_visible {
        out.push_str("\x1b[?25l");
    }
    out
}

/// Each row with content, from its first column (CUP), then default
/// attributes.
fn rows(buffer: &Buffer, out: &mut String) {
    for (i, line) in buffer.lines.iter().enumerate() {
        if line.0.iter().all(|c| c.is_default_blank()) {
            continue;
        }
        let _ = write!(out, "\x1b[{};1H", i + 1);
        cells(line, out);
    }
    out.push_str("\x1b[0m");
}

/// A line's cells, trailing default blanks dropped, with SGR where the
/// attributes change; attributes reset at the end if they were set.
fn cells(line: &Line, out: &mut String) {
    let end = line
        .0
        .iter()
        .rposition(|c| !c.is_default_blank())
        .map_or(0, |i| i + 1);
    let mut pen = Pen::default();
    for cell in &line.0[..end] {
        if cell.width() == 0 {
            continue;
        }
        if cell.pen() != pen {
            pen = cell.pen();
            sgr(&pen, out);
        }
        out.push(cell.ch());
    }
    if !pen.is_default() {
        out.push_str("\x1b[0m");
    }
}

/// Cells `from..to` of a line (clipped to it) with SGR where the
/// attributes change, trailing default blanks dropped; the right half of a
/// wide character cut at `from` is a blank, a wide character cut at `to`
/// is left out.
pub(crate) fn cells_between(line: &Line, from: usize, to: usize, out: &mut String) {
    let to = to.min(line.0.len());
    if from >= to {
        return;
    }
    let cells = &line.0[from..to];
    let end = cells
        .iter()
        .rposition(|c| !c.is_default_blank())
        .map_or(0, |i| i + 1);
    let mut pen = Pen::default();
    for (i, cell) in cells[..end].iter().enumerate() {
        let (ch, cell_pen) = match cell.width() {
            0 if i == 0 => (' ', cell.pen()),
            0 => continue,
            2 if from + i + 1 >= to => (' ', cell.pen()),
            _ => (cell.ch(), cell.pen()),
        };
        if cell_pen != pen {
            pen = cell_pen;
            sgr(&pen, out);
        }
        out.push(ch);
    }
    if !pen.is_default() {
        out.push_str("\x1b[0m");
    }
}

/// Put the cursor at `row`, `col` (origin-relative if `origin`), with the
/// wrap pending if it was: the character there is written again.
fn place(
    s: &State,
    buffer: &Buffer,
    row: usize,
    col: usize,
    origin: bool,
    pending: bool,
    out: &mut String,
) {
    let base = if origin { s.top } else { 0 };
    let row_arg = row.saturating_sub(base) + 1;
    let cell = buffer.lines.get(row).and_then(|l| l.0.get(col));
    match cell {
        Some(c) if pending => {
            // A wide character ends at the last column: write it from its
            // left half.
            let (at, cell) = if c.width() == 0 && col > 0 {
                (col - 1, buffer.lines[row].0[col - 1])
            } else {
                (col, *c)
            };
            let _ = write!(out, "\x1b[{row_arg};{}H", at + 1);
            sgr(&cell.pen(), out);
            out.push(cell.ch());
        }
        _ => {
            let _ = write!(out, "\x1b[{row_arg};{}H", col + 1);
        }
    }
}

/// Reproduce a DECSC of `buffer`'s screen (the screen `out` writes to now),
/// then put back what the rest of the payload assumes.
fn save(s: &State, buffer: &Buffer, saved: &Saved, out: &mut String) {
    if saved.origin {
        out.push_str("\x1b[?6h");
    }
    // Margins are the full screen here: origin-relative is absolute.
    place(
        s,
        buffer,
        saved.row,
        saved.col,
        false,
        saved.pending_wrap,
        out,
    );
    sgr(&saved.pen, out);
    charsets(saved.charsets, saved.shifted, out);
    out.push_str("\x1b7");
    if saved.origin {
        out.push_str("\x1b[?6l");
    }
    charsets([Charset::Ascii; 2], false, out);
    out.push_str("\x1b[0m");
}

fn charsets(sets: [Charset; 2], shifted: bool, out: &mut String) {
    for (slot, intro) in sets.iter().zip(['(', ')']) {
        let _ = write!(
            out,
            "\x1b{intro}{}",
            if *slot == Charset::Drawing { '0' } else { 'B' }
        );
    }
    out.push(if shifted { '\x0e' } else { '\x0f' });
}
