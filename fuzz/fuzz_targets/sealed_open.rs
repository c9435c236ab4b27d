//! Opening sealed frames with attacker-controlled headers and ciphertext.
//! Never panics; a frame that fails leaves the opener's state unchanged
//! (the genuine first frame still opens afterwards); and nothing but the
//! genuine frames opens.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use taiku_crypto::{KeySchedule, LinkSecret, Opened, Start};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};

fuzz_target!(|data: &[u8]| {
    let session = SessionId::new("spec-vector-0001").expect("valid id");
    let keys = KeySchedule::new(
        &LinkSecret::from_bytes(Role::Admin, core::array::from_fn(|i| i as u8)),
        &session,
    );
    let t = TerminalId(1);
    let mut sealer = keys
        .sealer(
            t,
            Direction::Output,
            ParticipantId::HOST,
            Epoch(core::array::from_fn(|i| 0x10 + i as u8)),
        )
        .expect("sealer");
    // The SPEC.md vector's frames: host output, its end, a writer's input.
    let writer = KeySchedule::new(&keys.secret(Role::Writer).expect("writer"), &session);
    let mut input = writer
        .sealer(
            t,
            Direction::Input,
            ParticipantId(2),
            Epoch(core::array::from_fn(|i| 0x20 + i as u8)),
        )
        .expect("sealer");
    let genuine = [
        sealer.seal(b"echo hi\r\nhi\r\n").expect("seal"),
        sealer.finish().expect("fin"),
        input.seal(b"ls\r").expect("seal"),
    ];

    let Ok(Frame::Sealed(frame)) =
        Frame::parse(Bytes::copy_from_slice(data), DEFAULT_MAX_FRAME_LEN)
    else {
        return;
    };
    for start in [Start::FromStart, Start::Anywhere] {
        for direction in [
            Direction::Output,
            Direction::Input,
            Direction::Snapshot,
            Direction::Status,
        ] {
            let Ok(mut opener) = keys.opener(t, direction, start) else {
                continue;
            };
            match opener.open(&frame) {
                Ok(opened) => {
                    let is_genuine = genuine.iter().any(|g| g.as_bytes() == frame.as_bytes());
                    assert!(
                        is_genuine,
                        "a frame that was never sealed opened: {opened:?}"
                    );
                }
                Err(_) if direction == Direction::Output && start == Start::FromStart => {
                    assert!(matches!(opener.open(&genuine[0]), Ok(Opened::Data(_))));
                }
                Err(_) => {}
            }
        }
    }
});
