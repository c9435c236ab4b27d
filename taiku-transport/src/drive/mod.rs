//! Drivers: tokio tasks that move frames, commands and timers between real
//! sockets and the Sans-IO machines of `taiku-session`. They hold no
//! protocol rule: every decision is the machine's.

mod client;
pub mod forwards;
mod memory;
mod outbox;
mod places;
pub mod relay;
mod terminals;

pub use client::{
    CLOSE_WAIT, ClientHandle, ClientOptions, Command, Commander, DriverConfig, EVENT_QUEUE,
    Machine, RunOnMachine, SEND_TIMEOUT, spawn_client, spawn_host, spawn_participant,
};
pub use terminals::{OutputTap, ShellSpec, Terminals, feed_output};

/// The OS random number generator as a `rand_core` crypto RNG.
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The OS random number generator.
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}
