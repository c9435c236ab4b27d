//! SPEC.md 11.8: predictive echo against a screen model fed what a shell
//! would echo, on a virtual clock.

use std::time::{Duration, Instant};

use taiku_session::predict::{PREDICTION_TIMEOUT, PredictMode, Predictor};
use taiku_session::screen::{Screen, ScreenModel};

const RTT: Duration = Duration::from_millis(150);

/// A shell at a prompt `$ ` with one key already typed and echoed a
/// round trip later, so the predictor knows the round trip and that this
/// line echoes.
fn at_prompt(mode: PredictMode) -> (Screen, Predictor, Instant) {
    let mut screen = Screen::new(24, 80);
    screen.feed(b"$ ");
    let mut p = Predictor::new(mode);
    let t0 = Instant::now();
    p.typed(b"e", &screen, t0);
    screen.feed(b"e");
    p.output(&screen, t0 + RTT);
    (screen, p, t0 + RTT)
}

fn shown(p: &Predictor) -> String {
    p.shown().iter().map(|x| x.ch).collect()
}

#[test]
fn keys_are_shown_at_once_and_confirmed_by_the_echo() {
    let (mut screen, mut p, now) = at_prompt(PredictMode::Auto);
    assert_eq!(p.rtt(), Some(RTT));
    p.typed(b"cho", &screen, now);
    assert_eq!(shown(&p), "cho");
    let cols: Vec<usize> = p.shown().iter().map(|x| x.col).collect();
    assert_eq!(cols, [3, 4, 5]);
    assert!(p.shown().iter().all(|x| x.row == 0));
    // The echo of the first two arrives.
    screen.feed(b"ch");
    p.output(&screen, now + RTT);
    assert_eq!(shown(&p), "o");
    screen.feed(b"o");
    p.output(&screen, now + RTT);
    assert_eq!(shown(&p), "");
    assert_eq!(p.counts(), (4, 0));
}

#[test]
fn output_that_contradicts_a_guess_takes_every_guess_back() {
    let (mut screen, mut p, now) = at_prompt(PredictMode::Auto);
    p.typed(b"xyz", &screen, now);
    assert_eq!(shown(&p), "xyz");
    // The program printed something else there.
    screen.feed(b"Q!");
    p.output(&screen, now + RTT);
    assert_eq!(shown(&p), "");
    assert_eq!(p.counts(), (1, 3));
    // And what is typed next is not shown until confirmed again.
    p.typed(b"a", &screen, now + RTT);
    assert_eq!(shown(&p), "");
}

#[test]
fn nothing_is_shown_where_the_program_does_not_echo() {
    let (mut screen, mut p, now) = at_prompt(PredictMode::Auto);
    // Enter, then a password prompt that echoes nothing.
    p.typed(b"\r", &screen, now);
    screen.feed(b"\r\nPassword: ");
    p.output(&screen, now + RTT);
    p.typed(b"hunter2", &screen, now + RTT);
    assert_eq!(shown(&p), "");
    p.handle_timeout(now + RTT + PREDICTION_TIMEOUT);
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.counts(), (1, 7));
}

#[test]
fn no_prediction_in_a_full_screen_program_or_at_the_last_column() {
    let (mut screen, mut p, now) = at_prompt(PredictMode::Always);
    screen.feed(b"\x1b[?1049h");
    p.output(&screen, now);
    p.typed(b"jjj", &screen, now);
    assert_eq!(shown(&p), "");
    screen.feed(b"\x1b[?1049l");
    p.output(&screen, now);
    // Seventy-seven more columns fit after "$ e"; the last is not guessed.
    let keys = vec![b'k'; 90];
    p.typed(&keys, &screen, now);
    let (col, _, _) = screen.cursor();
    assert_eq!(col, 3);
    assert_eq!(p.shown().len(), 76);
    assert_eq!(p.shown().last().map(|x| x.col), Some(78));
}

#[test]
fn a_quick_echo_shows_nothing_in_auto_but_always_shows() {
    for (mode, expected) in [(PredictMode::Auto, ""), (PredictMode::Always, "ab")] {
        let mut screen = Screen::new(24, 80);
        screen.feed(b"$ ");
        let mut p = Predictor::new(mode);
        let t0 = Instant::now();
        p.typed(b"e", &screen, t0);
        screen.feed(b"e");
        p.output(&screen, t0 + Duration::from_millis(2));
        p.typed(b"ab", &screen, t0 + Duration::from_millis(3));
        assert_eq!(shown(&p), expected, "{mode:?}");
    }
    let (screen, mut p, now) = at_prompt(PredictMode::Auto);
    p.set_mode(PredictMode::Never);
    p.typed(b"ab", &screen, now);
    assert_eq!(shown(&p), "");
}

#[test]
fn backspace_takes_back_the_last_guess_and_is_confirmed_by_the_screen() {
    let (mut screen, mut p, now) = at_prompt(PredictMode::Auto);
    p.typed(b"cx\x7fh", &screen, now);
    assert_eq!(shown(&p), "ch");
    // The shell echoes c, x, then erases x, then h.
    screen.feed(b"cx\x08 \x08h");
    p.output(&screen, now + RTT);
    assert_eq!(shown(&p), "");
    assert_eq!(p.counts(), (3, 0));
    assert_eq!(screen.text()[0], "$ ech");
}
