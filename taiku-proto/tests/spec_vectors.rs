//! The frame vectors of SPEC.md section 10.1, parsed from the document and
//! checked byte for byte in both directions.

#[path = "../src/vectors.rs"]
mod spec;

use bytes::Bytes;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{
    DecodeError, Direction, Epoch, Frame, FrameDecoder, FrameType, ParticipantId, Seq, TerminalId,
};

/// The frame each `frame/` vector must decode to, by name.
fn expected(name: &str) -> Option<Frame> {
    let control = |body| Some(Frame::Control(m::Control { body: Some(body) }));
    match name {
        "frame/control-empty" => Some(Frame::Control(m::Control { body: None })),
        "frame/control-ping" => control(Body::Ping(m::Ping { nonce: 1 })),
        "frame/control-join-request" => control(Body::JoinRequest(m::JoinRequest {
            session_id: "spec-vector-0001".into(),
            profile: Some(m::Profile {
                name: "ana".into(),
                device_label: "laptop".into(),
            }),
        })),
        "frame/control-terminal-resize" => control(Body::TerminalResize(m::TerminalResize {
            terminal_id: 1,
            rows: 24,
            cols: 80,
            requester: 0,
        })),
        "frame/control-chat-300" => control(Body::Chat(m::Chat {
            from: 0,
            seq: 0,
            text: "x".repeat(300),
            age_ms: 0,
        })),
        _ => None,
    }
}

#[test]
fn frame_vectors_decode_and_encode_exactly() {
    for v in spec::vectors("frame/") {
        let bytes = v.hex("frame");
        let parsed = Frame::parse(Bytes::from(bytes.clone()), DEFAULT_MAX_FRAME_LEN);
        match v.fields.get("error") {
            Some(error) => {
                let got = if v.fields.get("mode").map(String::as_str) == Some("message") {
                    parsed.clone().map(Some)
                } else {
                    let mut decoder = FrameDecoder::new();
                    decoder.push(&bytes);
                    decoder.next_frame()
                };
                match error.as_str() {
                    "TruncatedHeader" => {
                        assert!(
                            matches!(
                                got,
                                Err(DecodeError::TruncatedHeader {
                                    frame_type: FrameType::Sealed,
                                    len: 49,
                                    ..
                                })
                            ),
                            "vector {}: {got:?}",
                            v.name()
                        );
                        continue;
                    }
                    "Protobuf" => {
                        assert!(
                            matches!(got, Err(DecodeError::Protobuf(_))),
                            "vector {}: {got:?}",
                            v.name()
                        );
                        continue;
                    }
                    _ => {}
                }
                let expected_error = match error.as_str() {
                    "UnknownVersion(2)" => DecodeError::UnknownVersion(2),
                    "UnknownFrameType(3)" => DecodeError::UnknownFrameType(3),
                    "NonMinimalVarint" => DecodeError::NonMinimalVarint,
                    "OverlongVarint" => DecodeError::OverlongVarint,
                    "FrameTooLong" => DecodeError::FrameTooLong {
                        len: DEFAULT_MAX_FRAME_LEN + 1,
                        max: DEFAULT_MAX_FRAME_LEN,
                    },
                    "ReservedFlags(2)" => DecodeError::ReservedFlags(2),
                    "UnknownDirection(9)" => DecodeError::UnknownDirection(9),
                    "TrailingBytes(1)" => DecodeError::TrailingBytes { extra: 1 },
                    other => panic!("vector {}: unknown error {other}", v.name()),
                };
                assert_eq!(got, Err(expected_error), "vector {}", v.name());
            }
            None if v.name().starts_with("frame/sealed") => {
                let Ok(Frame::Sealed(sealed)) = parsed else {
                    panic!("vector {}: {parsed:?}", v.name());
                };
                let h = sealed.header();
                assert_eq!(
                    h.terminal,
                    TerminalId(v.get("terminal").parse().unwrap()),
                    "{}",
                    v.name()
                );
                let direction = match v.get("direction") {
                    "output" => Direction::Output,
                    "input" => Direction::Input,
                    "snapshot" => Direction::Snapshot,
                    "status" => Direction::Status,
                    other => panic!("{other}"),
                };
                assert_eq!(h.direction, direction);
                assert_eq!(h.fin, v.get("fin") == "true");
                assert_eq!(
                    h.participant,
                    ParticipantId(v.get("participant").parse().unwrap())
                );
                assert_eq!(h.epoch, Epoch(v.hex("epoch").try_into().unwrap()));
                assert_eq!(h.seq, Seq(v.get("seq").parse().unwrap()));
                assert_eq!(sealed.aad(), &v.hex("aad")[..], "{}", v.name());
                assert_eq!(
                    sealed.ciphertext(),
                    &v.hex("ciphertext")[..],
                    "{}",
                    v.name()
                );
                let header = h
                    .encode(sealed.ciphertext().len(), DEFAULT_MAX_FRAME_LEN)
                    .unwrap();
                assert_eq!(header.as_bytes(), &v.hex("aad")[..]);
            }
            None => {
                let want =
                    expected(v.name()).unwrap_or_else(|| panic!("no expectation for {}", v.name()));
                assert_eq!(parsed.as_ref(), Ok(&want), "vector {}", v.name());
                assert_eq!(
                    want.to_bytes(DEFAULT_MAX_FRAME_LEN).unwrap().to_vec(),
                    bytes,
                    "vector {}",
                    v.name()
                );
            }
        }
    }
}

/// Prints control-frame vectors; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn print_frame_vectors() {
    for name in [
        "frame/control-empty",
        "frame/control-ping",
        "frame/control-join-request",
        "frame/control-terminal-resize",
        "frame/control-chat-300",
    ] {
        let frame = expected(name).unwrap();
        println!(
            "name: {name}\nframe: {}\n",
            hex::encode(frame.to_bytes(DEFAULT_MAX_FRAME_LEN).unwrap())
        );
    }
}
