//! Frame codec: one test per typed error, and property tests for round
//! trips, arbitrary split points and arbitrary bytes.

mod strategies;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message;
use taiku_proto::limits::{DEFAULT_MAX_FRAME_LEN, MIN_SEALED_BODY_LEN, ROUTING_LEN};
use taiku_proto::message::{Control, Ping, SealedRecord, control::Body};
use taiku_proto::{
    DecodeError, EncodeError, Frame, FrameDecoder, FrameEncoder, FrameType, InvalidMaxFrameLen,
};

fn decode_all(bytes: &[u8]) -> Result<Option<Frame>, DecodeError> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    decoder.next_frame()
}

/// A valid sealed body: routing fields (terminal 1, output, no flags,
/// participant 0, zero epoch, seq 0) and a 16-byte "tag".
fn sealed_body(direction: u8, flags: u8, ciphertext_len: usize) -> Vec<u8> {
    let mut body = vec![0, 0, 0, 1, direction, flags, 0, 0, 0, 0];
    body.extend_from_slice(&[0u8; 16]);
    body.extend_from_slice(&[0u8; 8]);
    body.extend(std::iter::repeat_n(0xaa, ciphertext_len));
    body
}

fn sealed_bytes(body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut out = vec![0x01, 0x02, body.len() as u8];
    out.extend_from_slice(body);
    out
}

#[test]
fn unknown_version() {
    assert_eq!(decode_all(&[0x02]), Err(DecodeError::UnknownVersion(2)));
    assert_eq!(
        decode_all(&[0x00, 0x01, 0x00]),
        Err(DecodeError::UnknownVersion(0))
    );
}

#[test]
fn unknown_frame_type() {
    assert_eq!(
        decode_all(&[0x01, 0x03]),
        Err(DecodeError::UnknownFrameType(3))
    );
    assert_eq!(
        decode_all(&[0x01, 0x00, 0x00]),
        Err(DecodeError::UnknownFrameType(0))
    );
}

#[test]
fn frame_too_long_default_and_configured() {
    // 1 MiB + 1 = 0x100001 -> 81 80 40
    assert_eq!(
        decode_all(&[0x01, 0x01, 0x81, 0x80, 0x40]),
        Err(DecodeError::FrameTooLong {
            len: DEFAULT_MAX_FRAME_LEN + 1,
            max: DEFAULT_MAX_FRAME_LEN
        })
    );
    // Exactly the maximum is accepted (waits for the body).
    assert_eq!(decode_all(&[0x01, 0x01, 0x80, 0x80, 0x40]), Ok(None));

    let mut small = FrameDecoder::with_max_frame_len(10).unwrap();
    small.push(&[0x01, 0x01, 0x0b]);
    assert_eq!(
        small.next_frame(),
        Err(DecodeError::FrameTooLong { len: 11, max: 10 })
    );
}

#[test]
fn invalid_max_frame_len_is_refused() {
    assert_eq!(
        FrameDecoder::with_max_frame_len(0).unwrap_err(),
        InvalidMaxFrameLen(0)
    );
    assert_eq!(
        FrameEncoder::with_max_frame_len(1 << 28).unwrap_err(),
        InvalidMaxFrameLen(1 << 28)
    );
    assert!(FrameDecoder::with_max_frame_len((1 << 28) - 1).is_ok());
}

#[test]
fn non_minimal_varint() {
    assert_eq!(
        decode_all(&[0x01, 0x01, 0x80, 0x00]),
        Err(DecodeError::NonMinimalVarint)
    );
    assert_eq!(
        decode_all(&[0x01, 0x01, 0x85, 0x80, 0x00]),
        Err(DecodeError::NonMinimalVarint)
    );
}

#[test]
fn overlong_varint() {
    let mut decoder = FrameDecoder::with_max_frame_len((1 << 28) - 1).unwrap();
    decoder.push(&[0x01, 0x01, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(decoder.next_frame(), Err(DecodeError::OverlongVarint));
}

#[test]
fn truncated_header() {
    let body = sealed_body(1, 0, 15); // one byte short of a tag
    assert_eq!(
        decode_all(&sealed_bytes(&body)),
        Err(DecodeError::TruncatedHeader {
            frame_type: FrameType::Sealed,
            len: ROUTING_LEN + 15,
            needed: MIN_SEALED_BODY_LEN
        })
    );
    assert_eq!(
        decode_all(&[0x01, 0x02, 0x00]),
        Err(DecodeError::TruncatedHeader {
            frame_type: FrameType::Sealed,
            len: 0,
            needed: MIN_SEALED_BODY_LEN
        })
    );
}

#[test]
fn trailing_bytes_in_fin_frame() {
    let body = sealed_body(1, 0x01, 17);
    assert_eq!(
        decode_all(&sealed_bytes(&body)),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    let ok = sealed_body(1, 0x01, 16);
    assert!(matches!(
        decode_all(&sealed_bytes(&ok)),
        Ok(Some(Frame::Sealed(_)))
    ));
}

#[test]
fn trailing_bytes_after_single_frame_parse() {
    let mut bytes = vec![0x01, 0x01, 0x00];
    bytes.push(0x01);
    assert_eq!(
        Frame::parse(Bytes::from(bytes), DEFAULT_MAX_FRAME_LEN),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
    assert_eq!(
        Frame::parse(
            Bytes::from_static(&[0x01, 0x01, 0x02, 0x08]),
            DEFAULT_MAX_FRAME_LEN
        ),
        Err(DecodeError::Truncated { missing: 1 })
    );
}

#[test]
fn unknown_direction_and_reserved_flags() {
    assert_eq!(
        decode_all(&sealed_bytes(&sealed_body(7, 0, 16))),
        Err(DecodeError::UnknownDirection(7))
    );
    assert_eq!(
        decode_all(&sealed_bytes(&sealed_body(0, 0, 16))),
        Err(DecodeError::UnknownDirection(0))
    );
    assert_eq!(
        decode_all(&sealed_bytes(&sealed_body(1, 0x02, 16))),
        Err(DecodeError::ReservedFlags(2))
    );
}

#[test]
fn protobuf_decode_failure() {
    // Field 50 (ping), length-delimited, claims 5 bytes but the body has 1.
    let err = decode_all(&[0x01, 0x01, 0x04, 0x92, 0x03, 0x05, 0x08]).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf(_)), "{err:?}");
    // Invalid wire type 7.
    let err = decode_all(&[0x01, 0x01, 0x01, 0x0f]).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf(_)), "{err:?}");
}

#[test]
fn failed_decoder_stays_failed() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&[0x09]);
    assert_eq!(decoder.next_frame(), Err(DecodeError::UnknownVersion(9)));
    assert!(decoder.is_failed());
    // A perfectly valid frame afterwards is not decoded: no resync.
    decoder.push(&[0x01, 0x01, 0x00]);
    assert_eq!(decoder.next_frame(), Err(DecodeError::Failed));
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn frames_that_precede_an_error_are_delivered() {
    let mut decoder = FrameDecoder::new();
    decoder.push(&[0x01, 0x01, 0x00, 0x07]);
    assert_eq!(
        decoder.next_frame(),
        Ok(Some(Frame::Control(Control { body: None })))
    );
    assert_eq!(decoder.next_frame(), Err(DecodeError::UnknownVersion(7)));
}

#[test]
fn reserve_is_bounded_by_declared_length() {
    let mut decoder = FrameDecoder::new();
    let mut src = BytesMut::from(&[0x01, 0x01, 0x0a][..]);
    assert_eq!(decoder.decode(&mut src), Ok(None));
    // Room for the ten declared body bytes, not the maximum frame length.
    assert!(src.capacity() < 64, "capacity {}", src.capacity());
}

#[test]
fn encoder_refuses_oversized_frames_and_leaves_dst_untouched() {
    let encoder = FrameEncoder::with_max_frame_len(4).unwrap();
    let frame = Frame::Control(Control {
        body: Some(Body::Ping(Ping { nonce: u64::MAX })),
    });
    let mut dst = BytesMut::new();
    assert_eq!(
        encoder.encode(&frame, &mut dst),
        Err(EncodeError::FrameTooLong { len: 14, max: 4 })
    );
    assert!(dst.is_empty());
}

#[test]
fn sealed_payload_is_zero_copy() {
    let bytes = Bytes::from(sealed_bytes(&sealed_body(1, 0, 20)));
    let Ok(Frame::Sealed(sealed)) = Frame::parse(bytes.clone(), DEFAULT_MAX_FRAME_LEN) else {
        panic!("sealed frame expected");
    };
    assert_eq!(sealed.as_bytes().as_ptr(), bytes.as_ptr());
    assert_eq!(
        sealed.ciphertext().as_ptr(),
        bytes[3 + ROUTING_LEN..].as_ptr()
    );
    let again = Frame::Sealed(sealed)
        .to_bytes(DEFAULT_MAX_FRAME_LEN)
        .unwrap();
    assert_eq!(again.as_ptr(), bytes.as_ptr());
}

fn encode_stream(frames: &[Frame]) -> Vec<u8> {
    let encoder = FrameEncoder::new();
    let mut out = BytesMut::new();
    for frame in frames {
        encoder.encode(frame, &mut out).expect("encodes");
    }
    out.to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn control_round_trip(control in strategies::control()) {
        let frame = Frame::Control(control);
        let bytes = frame.to_bytes(DEFAULT_MAX_FRAME_LEN).unwrap();
        prop_assert_eq!(Frame::parse(bytes, DEFAULT_MAX_FRAME_LEN), Ok(frame));
    }

    #[test]
    fn sealed_round_trip(sealed in strategies::sealed_frame()) {
        let bytes = sealed.as_bytes().clone();
        let parsed = Frame::parse(bytes.clone(), DEFAULT_MAX_FRAME_LEN).unwrap();
        let Frame::Sealed(parsed) = parsed else { panic!("sealed") };
        prop_assert_eq!(parsed.header(), sealed.header());
        prop_assert_eq!(parsed.aad(), sealed.aad());
        // Re-encoding the header gives back exactly the associated data.
        let encoded = parsed.header().encode(parsed.ciphertext().len(), DEFAULT_MAX_FRAME_LEN).unwrap();
        prop_assert_eq!(encoded.as_bytes(), parsed.aad());
    }

    #[test]
    fn sealed_record_round_trip(record in strategies::sealed_record()) {
        let bytes = record.encode_to_vec();
        prop_assert_eq!(SealedRecord::decode(&bytes[..]).unwrap(), record);
    }

    #[test]
    fn split_points_do_not_matter(
        frames in proptest::collection::vec(strategies::frame(), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream = encode_stream(&frames);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut decoder = FrameDecoder::new();
        let mut got = Vec::new();
        let mut start = 0;
        for end in points.into_iter().chain([stream.len()]) {
            decoder.push(&stream[start..end]);
            start = end;
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..64,
    ) {
        let mut decoder = FrameDecoder::with_max_frame_len(4096).unwrap();
        'outer: for piece in bytes.chunks(chunk) {
            decoder.push(piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => {
                        prop_assert!(decoder.is_failed());
                        break 'outer;
                    }
                }
            }
            prop_assert!(decoder.buffered() <= 4096 + taiku_proto::limits::MAX_PREFIX_LEN + chunk);
        }
        let _ = Frame::parse(Bytes::from(bytes), 4096);
    }

    #[test]
    fn valid_prefix_then_garbage_never_panics(
        frame in strategies::frame(),
        garbage in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut stream = encode_stream(std::slice::from_ref(&frame));
        stream.extend_from_slice(&garbage);
        let mut decoder = FrameDecoder::new();
        decoder.push(&stream);
        prop_assert_eq!(decoder.next_frame(), Ok(Some(frame)));
        let _ = decoder.next_frame();
    }
}
