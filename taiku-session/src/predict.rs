//! Predictive local echo (SPEC.md 11.8), as mosh does it: printable keys
//! typed at a shell prompt are shown at once, marked, until the host's
//! output confirms them; a prediction the output contradicts, or that no
//! output confirms in time, is taken back.
//!
//! The predictor is Sans-IO and draws nothing: a client tells it what the
//! user typed ([`Predictor::typed`]) and, after feeding the host's output
//! to its screen model, that the screen changed ([`Predictor::output`]);
//! it then draws [`Predictor::shown`] over the screen (underlined) and
//! takes the drawing back before the next output is applied.
//!
//! Predictions are shown only
//! - while the round trip (estimated from how long confirmations take) is
//!   at least [`PREDICT_RTT`], or always in [`PredictMode::Always`];
//! - once one prediction since the last key that was not a printable one
//!   (Enter, an arrow, a control key) has been confirmed: so nothing is
//!   shown where the program does not echo (a password prompt), and a key
//!   typed after an arrow is not shown at a guessed place;
//! - where the screen is [`predictable`](PredictScreen::predictable): the
//!   normal screen, no insert mode, not the last column (so never in a
//!   full-screen program).

use std::time::{Duration, Instant};

/// The round trip at and above which predictions are shown in
/// [`PredictMode::Auto`]: below it, the host's echo is quick enough.
pub const PREDICT_RTT: Duration = Duration::from_millis(30);

/// How long a prediction waits for the host's output to confirm it
/// before it is taken back.
pub const PREDICTION_TIMEOUT: Duration = Duration::from_secs(2);

/// Predictions pending at once; more keys are not predicted until some
/// are confirmed.
pub const MAX_PREDICTIONS: usize = 256;

/// When predictions are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PredictMode {
    /// When the round trip is at least [`PREDICT_RTT`].
    #[default]
    Auto,
    /// Whatever the round trip.
    Always,
    /// Never: keys appear when the host echoes them.
    Never,
}

/// What the predictor needs of a terminal's screen.
pub trait PredictScreen {
    /// The cursor: row and column, from 0.
    fn cursor(&self) -> (usize, usize);
    /// Columns.
    fn cols(&self) -> usize;
    /// Whether a printable character written now lands on the cursor's
    /// cell and moves it one column right.
    fn predictable(&self) -> bool;
    /// The character at a visible cell, if any.
    fn char_at(&self, row: usize, col: usize) -> Option<char>;
}

#[cfg(feature = "screen")]
#[cfg_attr(docsrs, doc(cfg(feature = "screen")))]
impl PredictScreen for crate::screen::Screen {
    fn cursor(&self) -> (usize, usize) {
        let (col, row, _) = crate::screen::Screen::cursor(self);
        (row, col)
    }
    fn cols(&self) -> usize {
        usize::from(self.size().1)
    }
    fn predictable(&self) -> bool {
        crate::screen::Screen::predictable(self)
    }
    fn char_at(&self, row: usize, col: usize) -> Option<char> {
        crate::screen::Screen::char_at(self, row, col)
    }
}

/// One predicted character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// Row, from 0.
    pub row: usize,
    /// Column, from 0.
    pub col: usize,
    /// The character.
    pub ch: char,
    typed: Instant,
}

/// Predictive echo for one terminal.
#[derive(Debug)]
pub struct Predictor {
    mode: PredictMode,
    pending: Vec<Prediction>,
    /// A prediction since the last non-printable key was confirmed.
    confirmed: bool,
    /// No more predictions until the next output (a key that cannot be
    /// predicted, or the end of the line).
    stalled: bool,
    srtt: Option<Duration>,
    /// Predictions confirmed and taken back, for the application to show.
    hits: u64,
    misses: u64,
}

impl Predictor {
    /// A predictor in `mode`.
    pub fn new(mode: PredictMode) -> Self {
        Predictor {
            mode,
            pending: Vec::new(),
            confirmed: false,
            stalled: false,
            srtt: None,
            hits: 0,
            misses: 0,
        }
    }

    /// The mode.
    pub fn mode(&self) -> PredictMode {
        self.mode
    }

    /// Change the mode; [`PredictMode::Never`] takes every prediction back.
    pub fn set_mode(&mut self, mode: PredictMode) {
        self.mode = mode;
        if mode == PredictMode::Never {
            self.pending.clear();
        }
    }

    /// The round trip estimated from confirmations, once there is one.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Predictions the host's output confirmed, and ones taken back.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// The user typed `bytes` (sent to the host) on a terminal whose
    /// screen is `screen`.
    pub fn typed(&mut self, bytes: &[u8], screen: &impl PredictScreen, now: Instant) {
        if self.mode == PredictMode::Never {
            return;
        }
        for &b in bytes {
            match b {
                0x20..=0x7e if !self.stalled && self.pending.len() < MAX_PREDICTIONS => {
                    let (row, col) = match self.pending.last() {
                        Some(p) => (p.row, p.col + 1),
                        None if screen.predictable() => screen.cursor(),
                        None => {
                            self.stalled = true;
                            continue;
                        }
                    };
                    // Never into the last column: a wrap is not guessed.
                    if col + 1 >= screen.cols() {
                        self.stalled = true;
                        continue;
                    }
                    self.pending.push(Prediction {
                        row,
                        col,
                        ch: char::from(b),
                        typed: now,
                    });
                }
                0x20..=0x7e => {}
                // Backspace over a key not echoed yet takes it back.
                0x7f | 0x08 if self.pending.pop().is_some() => {}
                _ => {
                    // Enter, an arrow, a control key: what follows is
                    // shown only once it is confirmed again.
                    self.confirmed = false;
                    self.stalled = true;
                }
            }
        }
    }

    /// The host's output changed `screen`: confirm or take back
    /// predictions.
    pub fn output(&mut self, screen: &impl PredictScreen, now: Instant) {
        self.stalled = false;
        let (row, col) = screen.cursor();
        while let Some(p) = self.pending.first().copied() {
            if screen.char_at(p.row, p.col) == Some(p.ch) && (row, col) > (p.row, p.col) {
                self.pending.remove(0);
                self.hits += 1;
                self.confirmed = true;
                let sample = now.saturating_duration_since(p.typed);
                self.srtt = Some(match self.srtt {
                    None => sample,
                    Some(srtt) => (srtt * 7 + sample) / 8,
                });
            } else if (row, col) > (p.row, p.col) || row != p.row || !screen.predictable() {
                // The output went elsewhere: every guess is wrong.
                self.take_back();
                break;
            } else {
                break;
            }
        }
    }

    fn take_back(&mut self) {
        self.misses += self.pending.len() as u64;
        self.pending.clear();
        self.confirmed = false;
    }

    /// The predictions to draw now (underlined, over the screen), oldest
    /// first; the cursor goes after the last one.
    pub fn shown(&self) -> &[Prediction] {
        let on = match self.mode {
            PredictMode::Never => false,
            PredictMode::Always => true,
            PredictMode::Auto => self.srtt.is_some_and(|rtt| rtt >= PREDICT_RTT),
        };
        if on && self.confirmed {
            &self.pending
        } else {
            &[]
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.first().map(|p| p.typed + PREDICTION_TIMEOUT)
    }

    /// Take back predictions the host did not confirm in time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .pending
            .first()
            .is_some_and(|p| p.typed + PREDICTION_TIMEOUT <= now)
        {
            self.take_back();
        }
    }
}
