//! Terminal screen models (SPEC.md section 11.6): what a terminal shows,
//! kept by feeding it that terminal's output, so that a snapshot can
//! repaint a viewer's screen exactly when the replay ring has lost what
//! came before.
//!
//! [`ScreenModel`] is the interface the host machine uses; embedders may
//! supply their own. [`Screen`] (feature `screen`, on by default) is the
//! model taiku ships: the `vte` parser driving a grid that keeps both
//! screens (normal and alternate), every cell's character and attributes,
//! the cursor and saved cursors, margins, modes, character sets, tab
//! stops, the window title and scrollback, and writes all of it back as
//! the snapshot payload.
//!
//! A model never sees another terminal's bytes: the host keeps one per
//! terminal.

#[cfg(feature = "screen")]
mod dump;
#[cfg(feature = "screen")]
mod feed;
#[cfg(feature = "screen")]
mod grid;
#[cfg(feature = "screen")]
mod perform;
#[cfg(all(test, feature = "screen"))]
mod tests;
#[cfg(feature = "screen")]
mod vt;

#[cfg(feature = "screen")]
#[cfg_attr(docsrs, doc(cfg(feature = "screen")))]
pub use vt::{SCROLLBACK_LINES, Screen};

/// Longest window title a snapshot carries, in bytes (longer titles are
/// cut on a character boundary; control characters are removed).
pub const MAX_TITLE_BYTES: usize = 256;

/// A model of one terminal's screen, fed with its output.
pub trait ScreenModel: Send {
    /// Output of the terminal, exactly as the program wrote it (any bytes;
    /// a UTF-8 sequence or an escape sequence may be split across calls).
    fn feed(&mut self, bytes: &[u8]);

    /// The terminal's size changed.
    fn resize(&mut self, rows: u16, cols: u16);

    /// The snapshot payload of SPEC.md 11.6: bytes that, written to a
    /// fresh terminal of this size, reproduce the screen, its modes and
    /// (oldest lines dropped first to stay within `max_bytes`) its
    /// scrollback.
    fn snapshot(&self, max_bytes: usize) -> Vec<u8>;
}
