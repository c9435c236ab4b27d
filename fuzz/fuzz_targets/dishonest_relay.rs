//! The dishonest-relay harness of `taiku-session/tests/adversary` driven
//! by fuzzed scripts: the real host and writer machines, an adversary on
//! every link of the relay. Keystrokes reach the host, and output the
//! writer, each at most once and in order.

#![no_main]

#[path = "../../taiku-session/tests/adversary/mod.rs"]
mod adversary;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((seed, script)) = data.split_first() else {
        return;
    };
    let script = adversary::Step::script(&script[..script.len().min(512)]);
    let mut world = adversary::World::new(*seed);
    world.run(&script);
    world.settle();
    world.check();
});
