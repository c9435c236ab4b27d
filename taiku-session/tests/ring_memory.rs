//! Finding 14.6: frames kept in the replay ring were zero-copy slices of
//! the buffer they were received in, so a tiny frame that followed a large
//! message pinned that whole buffer while the ring counted only the frame
//! (2,500 tiny frames held 2.3 GiB). Counted with an allocator that tracks
//! live bytes: the ring now holds what it counts.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use support::Harness;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::{Direction, Epoch, ParticipantId, SealedFrame, TerminalId};
use taiku_session::relay::RelayConfig;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn small_frames_do_not_pin_large_receive_buffers() {
    let mut h = Harness::new(RelayConfig::default(), Harness::default_options());
    let t = h.open_terminal(1, ParticipantId::HOST);
    let mut sealer = h
        .host_keys
        .sealer(t, Direction::Output, ParticipantId::HOST, Epoch([3; 16]))
        .unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    const FRAMES: usize = 200;
    const BIG: usize = 1 << 20;
    for _ in 0..FRAMES {
        let tiny = sealer.seal(b"x").unwrap();
        // The frame arrives at the end of a 1 MiB read buffer.
        let mut buffer = vec![0u8; BIG];
        buffer.extend_from_slice(tiny.as_bytes());
        let frame =
            SealedFrame::from_bytes(Bytes::from(buffer).slice(BIG..), DEFAULT_MAX_FRAME_LEN)
                .unwrap();
        h.send_sealed(h.host, frame);
    }
    let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    let ring = h.relay.ring_bytes(&h.session, TerminalId(1)).unwrap();
    assert_eq!(ring, FRAMES * 54, "the ring counts 54-byte frames");
    // The ring's frames and their bookkeeping, not 200 MiB of buffers.
    assert!(
        held < 1 << 20,
        "{held} bytes still held for a {ring}-byte ring"
    );
}
