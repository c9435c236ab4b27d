//! The host's screen model fed arbitrary output in arbitrary reads (SPEC.md
//! 11.6): it never panics, a screen rebuilt from its snapshot has the same
//! snapshot, and the same output read whole makes the same screen.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taiku_session::screen::{Screen, ScreenModel};

fuzz_target!(|input: (u8, u8, Vec<u8>, Vec<u16>)| {
    let (rows, cols, bytes, cuts) = input;
    let (rows, cols) = (u16::from(rows % 40) + 1, u16::from(cols % 120) + 1);
    let mut split = Screen::new(rows, cols);
    let mut from = 0;
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) % (bytes.len() + 1))
        .collect();
    at.sort_unstable();
    for to in at.into_iter().chain([bytes.len()]) {
        split.feed(&bytes[from..to]);
        from = to;
    }
    let mut whole = Screen::new(rows, cols);
    whole.feed(&bytes);
    let snap = split.snapshot(1 << 20);
    assert_eq!(snap, whole.snapshot(1 << 20));
    let mut again = Screen::new(rows, cols);
    again.feed(&snap);
    assert_eq!(again.snapshot(1 << 20), snap);
});
