//! The frame decoder fed arbitrary bytes at arbitrary split points.
//!
//! Invariants, beyond "no panic": the decoder never buffers more than one
//! bounded frame plus the piece just pushed; once failed it stays failed;
//! every frame it yields re-encodes to exactly the bytes it was decoded
//! from; and the same bytes in one piece yield the same frames.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use taiku_proto::limits::MAX_PREFIX_LEN;
use taiku_proto::{Frame, FrameDecoder};

const MAX: usize = 4096;

fn run(data: &[u8], chunk: usize) -> (Vec<Frame>, bool) {
    let mut decoder = FrameDecoder::with_max_frame_len(MAX).expect("valid maximum");
    let mut frames = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(_) => {
                    assert!(decoder.is_failed());
                    assert!(decoder.next_frame().is_err());
                    return (frames, true);
                }
            }
        }
        assert!(decoder.buffered() <= MAX + MAX_PREFIX_LEN + piece.len());
    }
    (frames, false)
}

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    let (pieces, failed_in_pieces) = run(data, usize::from(split));
    let (whole, failed_whole) = run(data, data.len());
    assert_eq!(pieces, whole);
    assert_eq!(failed_in_pieces, failed_whole);

    // Re-encoding what was decoded gives a prefix of the input. Control
    // frames may re-encode differently only if the input used non-canonical
    // protobuf; sealed frames always round-trip exactly.
    let mut offset = 0;
    for frame in &whole {
        if let Frame::Sealed(sealed) = frame {
            let bytes = sealed.as_bytes();
            assert_eq!(&data[offset..offset + bytes.len()], &bytes[..]);
            offset += bytes.len();
        } else {
            let mut out = BytesMut::new();
            frame
                .encode(&mut out, MAX)
                .expect("decoded frame re-encodes");
            let again = Frame::parse(out.freeze(), MAX).expect("re-encoded frame parses");
            assert_eq!(&again, frame);
            // Advance past the original bytes of this frame.
            let mut decoder = FrameDecoder::with_max_frame_len(MAX).expect("valid maximum");
            decoder.push(&data[offset..]);
            let before = decoder.buffered();
            let _ = decoder.next_frame();
            offset += before - decoder.buffered();
        }
    }
    let _ = Frame::parse(Bytes::copy_from_slice(data), MAX);
});
