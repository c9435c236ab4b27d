use proptest::prelude::*;

use super::*;

/// Large enough for any screen these tests make.
const ROOM: usize = 1 << 20;

/// `b` built from `a`'s snapshot, then both fed `then`: they must agree.
fn assert_repaints(a: &mut Screen, then: &[u8]) {
    let snap = a.snapshot(ROOM);
    assert_allowed(&snap, a.tail.len());
    let (rows, cols) = a.size();
    let mut b = Screen::new(rows, cols);
    b.feed(&snap);
    assert_same(a, &b);
    a.feed(then);
    b.feed(then);
    assert_same(a, &b);
}

/// The sequences SPEC.md 11.6 allows in a snapshot, and nothing else; only
/// the very end may be a sequence (or a UTF-8 character) cut short, which
/// the caller strips with `tail`.
fn assert_allowed(snap: &[u8], tail: usize) {
    const DEC_MODES: [u16; 16] = [
        1, 6, 7, 9, 25, 1000, 1002, 1003, 1004, 1005, 1006, 1015, 1047, 2004, 0, 0,
    ];
    let body = &snap[..snap.len() - tail];
    let text = std::str::from_utf8(body).expect("UTF-8 before the tail");
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' {
            let seq = &rest[1..];
            if let Some(body) = seq.strip_prefix('[') {
                let end = body
                    .find(|c: char| ('\u{40}'..='\u{7e}').contains(&c))
                    .unwrap_or_else(|| panic!("CSI cut short in {text:?}"));
                let (params, fin) = (&body[..end], &body[end..end + 1]);
                let nums = |p: &str| p.is_empty() || p.split(';').all(|n| n.parse::<u16>().is_ok());
                let ok = match fin {
                    "G" | "H" | "r" => nums(params),
                    "m" => params.split(';').all(|n| n.parse::<u16>().is_ok()),
                    "g" => params == "3",
                    "h" | "l" => match params.strip_prefix('?') {
                        Some(p) => p
                            .parse()
                            .is_ok_and(|n: u16| n != 0 && DEC_MODES.contains(&n)),
                        None => params == "4" || params == "20",
                    },
                    _ => false,
                };
                assert!(ok, "CSI {params:?} {fin:?} is not allowed in {text:?}");
                rest = &body[end + 1..];
            } else if let Some(body) = seq.strip_prefix("]2;") {
                let end = body.find('\x07').expect("OSC ends with BEL");
                assert!(!body[..end].chars().any(char::is_control));
                rest = &body[end + 1..];
            } else {
                let len = match seq.chars().next() {
                    Some('7' | 'H' | '=') => 1,
                    Some('(' | ')') => {
                        assert!(matches!(&seq[1..2], "0" | "B"), "charset {seq:?}");
                        2
                    }
                    other => panic!("ESC {other:?} is not allowed in {text:?}"),
                };
                rest = &seq[len..];
            }
        } else {
            assert!(
                !c.is_control() || matches!(c, '\r' | '\n' | '\x0e' | '\x0f'),
                "control {c:?} is not allowed in {text:?}"
            );
            rest = &rest[c.len_utf8()..];
        }
    }
}

fn assert_same(a: &Screen, b: &Screen) {
    assert_eq!(a.text(), b.text());
    assert_eq!(a.cursor(), b.cursor());
    assert_eq!(a.alternate(), b.alternate());
    assert_eq!(a.title(), b.title());
    let (sa, sb) = (a.state(), b.state());
    assert_eq!(
        (
            sa.mouse,
            sa.mouse_encoding,
            sa.bracketed_paste,
            sa.app_keypad,
            sa.app_cursor
        ),
        (
            sb.mouse,
            sb.mouse_encoding,
            sb.bracketed_paste,
            sb.app_keypad,
            sb.app_cursor
        )
    );
    // The snapshot is a function of the whole state: equal snapshots, equal
    // screens (cells, attributes, scrollback, modes, parser state).
    assert_eq!(
        String::from_utf8_lossy(&a.snapshot(ROOM)),
        String::from_utf8_lossy(&b.snapshot(ROOM))
    );
}

#[test]
fn a_full_screen_program_over_a_shell_repaints_exactly() {
    let mut a = Screen::new(6, 20);
    // A shell with colour and a scrolled history...
    for i in 0..12 {
        a.feed(format!("$ echo \x1b[1;31mline {i}\x1b[0m\r\nline {i}\r\n").as_bytes());
    }
    // ...then an editor on the alternate screen, with a title, a scroll
    // region, true colour, wide characters, modes, a hidden cursor and an
    // escape sequence cut in the middle.
    a.feed(b"\x1b]2;vi notes.txt\x07\x1b[?1049h\x1b[?1h\x1b=\x1b[?2004h\x1b[?1000h\x1b[?1006h");
    a.feed("\x1b[H\x1b[2J\x1b[38;2;10;20;30m漢字\x1b[0m text\x1b[2;5r\x1b[6;1H~ \x1b[7m-- INSERT --\x1b[27m\x1b[?25l\x1b[3".as_bytes());
    assert!(a.alternate());
    assert_eq!(a.title(), "vi notes.txt");
    assert_repaints(&mut a, b"1;4H\x1b[?1049l$ ");
    assert!(!a.alternate());
    assert_eq!(a.text()[5], "$");
}

#[test]
fn a_cut_utf8_sequence_is_finished_by_the_next_output() {
    let mut a = Screen::new(2, 10);
    a.feed(&"é".as_bytes()[..1]);
    assert_repaints(&mut a, &"é".as_bytes()[1..]);
    assert_eq!(a.text()[0], "é");
}

#[test]
fn scrollback_is_cut_oldest_first_to_fit() {
    let mut a = Screen::new(3, 10);
    for i in 0..100 {
        a.feed(format!("l{i:03}\r\n").as_bytes());
    }
    let full = a.snapshot(ROOM);
    assert!(String::from_utf8_lossy(&full).starts_with("l000\r\n"));
    let small = a.snapshot(200);
    assert!(small.len() <= 200, "{}", small.len());
    let text = String::from_utf8_lossy(&small);
    assert!(!text.contains("l000") && text.contains("l097"), "{text}");
    // The newest history lines and the screen all survive the cut.
    let mut b = Screen::new(3, 10);
    b.feed(&small);
    assert_eq!(a.text(), b.text());
    // The history is bounded by SCROLLBACK_LINES.
    for i in 0..SCROLLBACK_LINES + 10 {
        a.feed(format!("m{i}\r\n").as_bytes());
    }
    let lines = String::from_utf8_lossy(&a.snapshot(ROOM))
        .matches("\r\n")
        .count();
    assert!(lines <= SCROLLBACK_LINES + 4, "{lines}");
}

fn op(rows: u16, cols: u16) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z ]{0,12}".prop_map(String::into_bytes),
        Just("漢".as_bytes().to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\x08".to_vec()),
        Just(b"\t".to_vec()),
        prop::sample::select(vec![
            "\x1b[0m",
            "\x1b[1m",
            "\x1b[2m",
            "\x1b[3m",
            "\x1b[4m",
            "\x1b[5m",
            "\x1b[7m",
            "\x1b[9m",
            "\x1b[31m",
            "\x1b[92m",
            "\x1b[44m",
            "\x1b[38;5;200m",
            "\x1b[48;2;1;2;3m",
            "\x1b[39;49m",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (1..=rows, 1..=cols).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
        (1..=rows, 1..=rows).prop_map(|(t, b)| format!("\x1b[{t};{b}r").into_bytes()),
        prop::sample::select(vec![
            "\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[?1047h",
            "\x1b[?1047l",
            "\x1b[?25l",
            "\x1b[?25h",
            "\x1b[?1h",
            "\x1b[?1l",
            "\x1b[?6h",
            "\x1b[?6l",
            "\x1b[?7l",
            "\x1b[?7h",
            "\x1b[2J",
            "\x1b[K",
            "\x1b[1J",
            "\x1b[L",
            "\x1b[M",
            "\x1b[P",
            "\x1b[@",
            "\x1b[S",
            "\x1b[T",
            "\x1b7",
            "\x1b8",
            "\x1b(0",
            "\x1b(B",
            "\x1bM",
            "\x1bD",
            "\x1bH",
            "\x1b[g",
            "\x1b[4h",
            "\x1b[4l",
            "\x1b[?1000h",
            "\x1b[?1002h",
            "\x1b[?1006h",
            "\x1b[?2004h",
            "\x1b[?2004l",
            "\x1b=",
            "\x1b>",
            "\x1b]2;a title\x07",
            "\x1b]0;x\x1b\\",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

fn case() -> impl Strategy<Value = (u16, u16, Vec<Vec<u8>>, usize, Vec<Vec<u8>>)> {
    (1u16..12, 1u16..30).prop_flat_map(|(rows, cols)| {
        (
            Just(rows),
            Just(cols),
            prop::collection::vec(op(rows, cols), 0..60),
            0usize..8,
            prop::collection::vec(op(rows, cols), 0..10),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the output, a screen built from a snapshot is the screen,
    /// and stays it as output continues, even from inside a sequence.
    #[test]
    fn snapshots_repaint_any_screen((rows, cols, script, cut, then) in case()) {
        let mut a = Screen::new(rows, cols);
        let mut bytes: Vec<u8> = script.concat();
        let mut tail: Vec<u8> = then.concat();
        // Stop anywhere, even inside a sequence; the rest follows live.
        let at = bytes.len().saturating_sub(cut);
        tail.splice(0..0, bytes.split_off(at));
        a.feed(&bytes);
        assert_repaints(&mut a, &tail);
    }
}

/// SPEC.md 11.6's vector: exactly these bytes, and they repaint the screen.
#[test]
fn snapshot_vector() {
    let vectors = crate::spec::vectors("screen/snapshot-1");
    let v = vectors.first().expect("SPEC.md has screen/snapshot-1");
    let rows: u16 = v.get("rows").parse().unwrap();
    let cols: u16 = v.get("cols").parse().unwrap();
    let mut a = Screen::new(rows, cols);
    a.feed(&v.hex("output"));
    let snap = a.snapshot(ROOM);
    assert_eq!(hex::encode(&snap), hex::encode(v.hex("snapshot")));
    assert_eq!(a.text(), ["hi 漢", "~", "-- INSERT --"]);
    assert_eq!(
        (a.title(), a.alternate(), a.cursor()),
        ("vi", true, (2, 0, false))
    );
    assert_repaints(&mut a, b"m");
}

/// The visible text and the cursor of `avt` (asciinema's virtual
/// terminal) fed the same output: an independent model as the oracle.
fn avt_view(rows: u16, cols: u16, bytes: &[u8]) -> (Vec<String>, (usize, usize, bool), bool) {
    let mut vt = avt::Terminal::new(usize::from(cols), usize::from(rows)).unwrap();
    vt.feed(String::from_utf8_lossy(bytes).as_ref());
    let text = vt
        .screen()
        .visible_lines()
        .map(|l| l.text().trim_end().to_owned())
        .collect();
    let c = vt.cursor();
    // avt puts a cursor with a wrap pending past the last column.
    let col = c.col.min(usize::from(cols) - 1);
    (
        text,
        (col, c.row, c.visible),
        vt.active_screen_kind() == avt::ScreenKind::Alternate,
    )
}

/// Output of the kind full-screen programs write, where xterm, xterm.js
/// and avt agree (they part on edge cases the model settles as xterm.js
/// does: a line feed or an erase while a wrap is pending, IL and DL and
/// the cursor column, DECRC with nothing saved).
fn common_op(rows: u16, cols: u16) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-z ]{1,12}".prop_map(String::into_bytes),
        Just(b"\r\n".to_vec()),
        prop::sample::select(vec![
            "\x1b[0m",
            "\x1b[1m",
            "\x1b[31m",
            "\x1b[44m",
            "\x1b[7m",
            "\x1b[38;2;1;2;3m"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (1..=rows, 1..=cols).prop_map(|(r, c)| format!("\x1b[{r};{c}H").into_bytes()),
        (1..rows)
            .prop_flat_map(move |t| (Just(t), t + 1..=rows))
            .prop_map(|(t, b)| format!("\x1b[{t};{b}r").into_bytes()),
        // A program starts on a fresh line (no wrap pending to save).
        prop::sample::select(vec![
            "\r\n\x1b[?1049h",
            "\x1b[?1049l",
            "\x1b[?25l",
            "\x1b[?25h",
            "\x1b[2J",
            "\x1b[H"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The model agrees with `avt` on what is on screen and where the
    /// cursor is, for the output full-screen programs write.
    #[test]
    fn the_model_agrees_with_avt(
        (rows, cols, script) in (2u16..12, 2u16..30).prop_flat_map(|(r, c)| {
            (Just(r), Just(c), prop::collection::vec(common_op(r, c), 0..60))
        })
    ) {
        let bytes = script.concat();
        let mut ours = Screen::new(rows, cols);
        ours.feed(&bytes);
        let (text, cursor, alt) = avt_view(rows, cols, &bytes);
        prop_assert_eq!(ours.text(), text, "text");
        prop_assert_eq!(ours.cursor(), cursor, "cursor");
        prop_assert_eq!(ours.alternate(), alt, "alternate screen");
    }
}

/// A viewer smaller than the terminal sees exactly the part it covers,
/// never the rest wrapped into it.
#[test]
fn a_viewport_shows_exactly_the_part_of_the_screen_it_covers() {
    let mut a = Screen::new(4, 10);
    a.feed("0123456789\r\nabcdefghij\r\n\x1b[31mKLMNOPQRST\x1b[0m\r\n漢字xyz".as_bytes());
    let mut b = Screen::new(2, 5);
    b.feed(&a.viewport(1, 2, 2, 5));
    assert_eq!(b.text(), ["cdefg", "MNOPQ"]);
    assert!(!b.cursor().2, "the cursor is outside: hidden");
    // A wide character cut by the left edge is a blank.
    let mut c = Screen::new(2, 4);
    c.feed(&a.viewport(2, 1, 2, 4));
    assert_eq!(c.text(), ["LMNO", " 字x"]);
    // The cursor, inside, is where it is in that part.
    let mut d = Screen::new(2, 8);
    d.feed(&a.viewport(2, 2, 2, 8));
    assert_eq!(d.cursor(), (5, 1, true));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// However the output is split into reads (inside a sequence, inside
    /// a character, anywhere), the screen is the same.
    #[test]
    fn reads_split_anywhere_make_the_same_screen(
        (rows, cols, script, _cut, _then) in case(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = script.concat();
        let mut whole = Screen::new(rows, cols);
        whole.feed(&bytes);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut split = Screen::new(rows, cols);
        let mut from = 0;
        for to in at.into_iter().chain([bytes.len()]) {
            split.feed(&bytes[from..to]);
            from = to;
        }
        let (got, want) = (split.snapshot(ROOM), whole.snapshot(ROOM));
        prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    }
}

/// Found by the fuzzer: a byte that can start no UTF-8 sequence (0xF7) at
/// the end of the output is a replacement character already, not the
/// start of one the next output finishes.
#[test]
fn a_byte_that_starts_no_character_is_not_a_cut_character() {
    for bytes in [
        &[0xf7u8][..],
        &[0xf7, 0xf7],
        &[b'a', 0xc0],
        &[0xff],
        &[0xf0, 0x80],
    ] {
        let mut a = Screen::new(4, 16);
        a.feed(bytes);
        assert!(a.tail.is_empty(), "{bytes:?}");
        assert_repaints(&mut a, b"x");
    }
    // A valid start is kept and finished.
    let mut a = Screen::new(4, 16);
    a.feed(&[0xf0, 0x9f]);
    assert_eq!(a.tail, [0xf0, 0x9f]);
    assert_repaints(&mut a, &[0x98, 0x80]);
    assert_eq!(a.text()[0], "😀");
}

/// Found in review: saved cursors follow a resize, SCOSC/SCORC work
/// (`vte` reports their absent parameter as 0), resetting any mouse mode
/// stops reporting, and a cut OSC keeps its non-ASCII text.
#[test]
fn review_findings_hold() {
    let mut a = Screen::new(2, 4);
    a.feed(b"abcd\x1b7");
    a.resize(2, 8);
    assert_repaints(&mut a, b"\x1b8x");
    let mut a = Screen::new(5, 10);
    a.feed(b"\x1b[5;10H\x1b7");
    a.resize(3, 5);
    assert_repaints(&mut a, b"\x1b8y");

    let mut a = Screen::new(8, 8);
    a.feed(b"\x1b[5;5H\x1b[s\x1b[H\x1b[u");
    assert_eq!(a.cursor(), (4, 4, true));

    let mut a = Screen::new(2, 8);
    a.feed(b"\x1b[?1002h\x1b[?1000l\x1b[?1006h\x1b[?1015l");
    assert_eq!(a.state().mouse, None);
    assert_eq!(a.state().mouse_encoding, None);

    let mut a = Screen::new(2, 8);
    a.feed("\x1b]2;é".as_bytes());
    assert_repaints(&mut a, b"\x07");
    assert_eq!(a.title(), "é");
}
