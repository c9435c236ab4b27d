//! Terminal screen models (SPEC.md section 11.6): what a terminal shows,
//! kept by feeding it that terminal's output, so that a snapshot can
//! repaint a viewer's screen exactly when the replay ring has lost what
//! came before.
//!
//! [`ScreenModel`] is the interface the host machine uses; embedders may
//! supply their own. [`Screen`] (feature `screen`, on by default) is the
//! model taiku ships, built on the `avt` virtual terminal of asciinema,
//! which keeps both screens (normal and alternate), every cell's
//! character and attributes, the cursor, margins, charsets and tab stops,
//! and can write all of it back as escape sequences. The few modes a
//! renderer needs that `avt` does not keep (mouse reporting, bracketed
//! paste, focus reports, keypad mode, the window title) are tracked beside
//! it by [`modes`].
//!
//! A model never sees another terminal's bytes: the host keeps one per
//! terminal.

#[cfg(feature = "screen")]
mod avt_screen;
pub mod modes;
mod utf8;

#[cfg(feature = "screen")]
pub use avt_screen::{SCROLLBACK_LINES, Screen};
pub use utf8::Utf8Stream;

/// A model of one terminal's screen, fed with its output.
pub trait ScreenModel: Send {
    /// Output of the terminal, exactly as the program wrote it (any bytes;
    /// a UTF-8 sequence may be split across calls).
    fn feed(&mut self, bytes: &[u8]);

    /// The terminal's size changed.
    fn resize(&mut self, rows: u16, cols: u16);

    /// The snapshot payload of SPEC.md 11.6: bytes that, written to a
    /// fresh terminal of this size, reproduce the screen, its modes and
    /// (oldest lines dropped first to stay within `max_bytes`) its
    /// scrollback.
    fn snapshot(&self, max_bytes: usize) -> Vec<u8>;
}
