//! SPEC.md 1.3 against a relay that lies: the real host and writer
//! machines, an honest relay machine for routing, and an adversary on
//! both of its links (see `adversary/mod.rs`). Keystrokes reach the PTY at
//! most once and in order, output is shown at most once and in order,
//! whatever the relay records, drops, reorders, re-injects or forges.

mod adversary;

use adversary::{Step, World};
use proptest::prelude::*;
use taiku_proto::Frame;

/// Finding 13.1: the host forgot a writer's input runs when told it left,
/// so a forged leave and rejoin let the relay replay `rm -rf build` into
/// the shell again.
#[test]
fn a_forged_leave_and_rejoin_cannot_replay_keystrokes() {
    let mut w = World::new(1);
    w.type_chunk();
    w.settle();
    assert_eq!(w.delivered_chunks(), [1]);
    let recorded = w.input_frames();
    assert!(!recorded.is_empty());
    w.forge_leave_join();
    w.settle();
    for frame in recorded {
        w.inject_to_host(frame);
    }
    assert_eq!(w.delivered_chunks(), [1], "a recorded run started again");
    // The writer got the new ticket and goes on typing.
    w.type_chunk();
    w.settle();
    assert_eq!(w.delivered_chunks(), [1, 2]);
}

/// Finding 13.1: the host remembered only the last 32 input epochs of a
/// writer, so after 33 fresh runs (each forced by a forged refusal) the
/// relay could replay the first one.
#[test]
fn many_fresh_runs_cannot_make_an_old_run_new() {
    let mut w = World::new(2);
    for _ in 0..40 {
        w.type_chunk();
        w.settle();
        w.forge_refusal();
    }
    assert_eq!(w.delivered_chunks(), (1..=40).collect::<Vec<_>>());
    let recorded = w.input_frames();
    for round in 0..2 {
        for frame in &recorded {
            w.inject_to_host(frame.clone());
        }
        assert_eq!(
            w.delivered_chunks(),
            (1..=40).collect::<Vec<_>>(),
            "round {round}: a recorded run started again"
        );
    }
}

/// A run cannot start in the middle, and a recorded run start cannot be
/// followed by frames of another run.
#[test]
fn only_a_fresh_run_start_opens_a_run() {
    let mut w = World::new(3);
    w.type_chunk();
    w.type_chunk();
    w.settle();
    let recorded: Vec<Frame> = w.input_frames();
    // Frames of the current run delivered again, alone or out of order.
    for frame in recorded.iter().rev() {
        w.inject_to_host(frame.clone());
    }
    w.forge_refusal();
    w.type_chunk();
    w.settle();
    for frame in &recorded {
        w.inject_to_host(frame.clone());
    }
    assert_eq!(w.delivered_chunks(), [1, 2, 3]);
}

/// Steps with which a relay can stall input (SPEC.md 1.2: it can always
/// refuse service): dropping or reordering frames, forging a leave.
fn disruptive(step: &Step) -> bool {
    matches!(
        step,
        Step::ForgeLeave
            | Step::ForgeLeaveJoin
            | Step::DropToWriter
            | Step::DropToHost
            | Step::ToHost(_)
            | Step::ToWriter(_)
            | Step::ReplayToWriter(_)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random adversary scripts: keystrokes and output, each at most once
    /// and in order; once the relay turns honest, the writer's next
    /// keystroke arrives.
    #[test]
    fn no_script_duplicates_or_reorders(seed in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let script = Step::script(&bytes);
        let mut w = World::new(seed);
        w.run(&script);
        w.settle();
        w.check();
        // The same script without the steps that may stall input: every
        // chunk typed after the last forged refusal or resume arrives.
        let gentle: Vec<Step> = script.iter().copied().filter(|s| !disruptive(s)).collect();
        let mut w = World::new(seed);
        w.run(&gentle);
        w.type_chunk();
        w.settle();
        w.check();
        prop_assert_eq!(w.delivered_chunks().last().copied(), Some(w.typed()));
    }
}

/// Finding 13.4: a relay (or a proxy) that swallows everything was never
/// noticed. Now nothing, not even a `Pong`, for the liveness timeout (60 s)
/// makes the host and the participant close the connection.
#[test]
fn a_silent_relay_is_noticed_within_the_liveness_timeout() {
    let mut w = World::new(4);
    // Honest for a while: pongs arrive, nothing is closed.
    for _ in 0..120 {
        w.step(Step::Advance(100));
        w.settle();
    }
    assert!(!w.host.poll_close() && !w.writer.poll_close());
    // Then the relay's frames stop arriving (pings still go out).
    let mut noticed = None;
    for second in 1..=61 {
        w.step(Step::Advance(100));
        if w.host.poll_close() {
            noticed = Some(second);
            break;
        }
    }
    assert!(
        matches!(noticed, Some(s) if (59..=61).contains(&s)),
        "{noticed:?}"
    );
    assert!(w.writer.poll_close(), "the writer noticed too");
}
