//! The host's side of the local command channel (SPEC.md 11.7) fed
//! arbitrary request bodies, and its agent detectors arbitrary output in
//! arbitrary reads (11.4). Never panics; every reply fits its limit and
//! names a terminal only when the request was carried out or refused after
//! binding; a request that is not bound to a token (none can be guessed
//! here) changes no terminal's status or label.

#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::{arbitrary, fuzz_target};
use prost::Message;
use rand_core::SeedableRng;
use taiku_proto::limits::MAX_SHELL_REPLY_BYTES;
use taiku_proto::{ParticipantId, TerminalId};
use taiku_session::host::{Host, HostConfig};

#[derive(arbitrary::Arbitrary, Debug)]
enum Op {
    Request(Vec<u8>),
    Output { second: bool, bytes: Vec<u8> },
    Advance { millis: u16 },
}

fuzz_target!(|ops: Vec<Op>| {
    let options = taiku_session::SessionOptions::default();
    let mut host = Host::generate(
        HostConfig::default(),
        options,
        chacha20::ChaCha20Rng::from_seed([3; 32]),
    );
    let mut now = Instant::now();
    let terms: Vec<TerminalId> = (0..2)
        .map(|_| {
            host.open_terminal(ParticipantId::HOST, 24, 80, "sh", now)
                .expect("terminal")
                .0
        })
        .collect();
    for op in ops {
        match op {
            Op::Request(body) => {
                let before: Vec<_> = terms
                    .iter()
                    .map(|t| host.agent_status(*t).cloned())
                    .collect();
                let reply = host.handle_shell_request(&body, now);
                assert!(reply.encoded_len() <= MAX_SHELL_REPLY_BYTES);
                let after: Vec<_> = terms
                    .iter()
                    .map(|t| host.agent_status(*t).cloned())
                    .collect();
                assert_ne!(reply.refused, 0, "no request can be bound here");
                assert_eq!(before, after, "an unbound request changed a status");
            }
            Op::Output { second, bytes } => {
                let t = terms[usize::from(second)];
                let _ = host.handle_output(t, &bytes, now);
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                host.handle_timeout(now);
            }
        }
        while host.poll_transmit().is_some() {}
        while host.poll_event().is_some() {}
    }
});
