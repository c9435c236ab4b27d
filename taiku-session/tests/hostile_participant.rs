//! A hostile participant against the relay machine, with the relay's
//! default (realistic) ring and queue sizes: it floods every kind of
//! message it may send, types into a terminal it does not control, asks
//! for history, stops reading, while an honest writer types into the
//! terminal it owns, the host sends output, the host's socket stalls for a
//! moment and honest readers join late.
//!
//! The oracle is the product's rule, written down here and not taken from
//! `access`: the honest writer owns its terminal and nobody is handed
//! control, so its keystrokes, all of them, in order, reach the host, and
//! nobody else's do. Whatever the hostile participant does: no honest
//! connection is closed, every honest viewer sees every output frame once
//! and in order (a late joiner a gapless suffix ending at the latest),
//! and every queue and ring stays within its bound.

mod support;

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use support::{Harness, sealed};
use taiku_crypto::StreamSealer;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Frame, ParticipantId, Role, SealedFrame, TerminalId};
use taiku_session::relay::{ConnId, RelayConfig};

#[derive(Clone, Copy, Debug)]
enum Flood {
    Presence,
    Focus,
    Layout,
    History,
    Chat,
    /// Keystrokes into the honest writer's terminal, as itself.
    Input,
    /// Keystrokes claiming to be the honest writer's.
    SpoofedInput,
    Create,
    Resize,
    Adopt,
    Garbage,
}

#[derive(Clone, Debug)]
enum Op {
    /// The hostile participant sends `count` messages of one kind at once.
    Flood {
        kind: Flood,
        count: u16,
    },
    /// The same while the host's socket is stalled; it drains after.
    FloodWhileHostStalls {
        kind: Flood,
        count: u16,
    },
    /// The honest writer types `len` keystrokes.
    Type {
        len: u8,
    },
    /// The host sends `frames` output frames of `len` bytes.
    Output {
        frames: u16,
        len: u16,
    },
    /// An honest reader joins now.
    LateJoin,
    /// The hostile participant stops (or starts) reading.
    HostileReads(bool),
    Advance {
        millis: u32,
    },
}

fn flood() -> impl Strategy<Value = Flood> {
    prop_oneof![
        Just(Flood::Presence),
        Just(Flood::Focus),
        Just(Flood::Layout),
        Just(Flood::History),
        Just(Flood::Chat),
        Just(Flood::Input),
        Just(Flood::SpoofedInput),
        Just(Flood::Create),
        Just(Flood::Resize),
        Just(Flood::Adopt),
        Just(Flood::Garbage),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (flood(), 1u16..2000).prop_map(|(kind, count)| Op::Flood { kind, count }),
        2 => (flood(), 1u16..9000).prop_map(|(kind, count)| Op::FloodWhileHostStalls { kind, count }),
        3 => (1u8..40).prop_map(|len| Op::Type { len }),
        3 => (1u16..3000, 1u16..200).prop_map(|(frames, len)| Op::Output { frames, len }),
        1 => Just(Op::LateJoin),
        1 => any::<bool>().prop_map(Op::HostileReads),
        2 => (0u32..3000).prop_map(|millis| Op::Advance { millis }),
    ]
}

/// The honest writer's terminal.
const T: TerminalId = TerminalId(1);

/// An honest viewer: where in the host's output it is.
struct Viewer {
    conn: ConnId,
    /// The index in `World::sent` of the first output frame it saw, and
    /// of the next it must see.
    first: Option<usize>,
    next: usize,
    /// Joined after output had been sent: sees a suffix.
    late: bool,
}

struct World {
    h: Harness,
    config: RelayConfig,
    writer: ParticipantId,
    writer_input: StreamSealer,
    /// Every keystroke frame the honest writer sent, in order.
    typed: Vec<SealedFrame>,
    /// Every input frame the host received, in order.
    host_got: Vec<SealedFrame>,
    output: StreamSealer,
    /// Every output frame the host sent, in order.
    sent: Vec<SealedFrame>,
    viewers: Vec<Viewer>,
    hostile: Option<(ConnId, ParticipantId, Role)>,
    hostile_role: Role,
    /// The hostile participant's keystroke frame, by whom it claims to be.
    hostile_input: std::collections::BTreeMap<ParticipantId, SealedFrame>,
}

impl World {
    fn new(hostile_role: Role) -> Self {
        let config = RelayConfig::default();
        let mut h = Harness::new(config.clone(), Harness::default_options());
        let (writer_conn, writer) = h.join(Role::Writer, "honest");
        let (reader_conn, _) = h.join(Role::Reader, "reader");
        h.open_terminal(T.0, writer);
        h.pump();
        h.inbox.clear();
        let writer_input = h.input_sealer(Role::Writer, T, writer, 1);
        let output = h.output_sealer(T, 1);
        let mut world = World {
            h,
            config,
            writer,
            writer_input,
            typed: Vec::new(),
            host_got: Vec::new(),
            output,
            sent: Vec::new(),
            viewers: vec![
                Viewer {
                    conn: writer_conn,
                    first: None,
                    next: 0,
                    late: false,
                },
                Viewer {
                    conn: reader_conn,
                    first: None,
                    next: 0,
                    late: false,
                },
            ],
            hostile: None,
            hostile_role,
            hostile_input: Default::default(),
        };
        world.hostile_joins();
        world
    }

    fn hostile_joins(&mut self) {
        let (conn, id) = self.h.join(self.hostile_role, "hostile");
        self.hostile = Some((conn, id, self.hostile_role));
    }

    fn honest(&self) -> impl Iterator<Item = ConnId> + '_ {
        std::iter::once(self.h.host).chain(self.viewers.iter().map(|v| v.conn))
    }

    fn flood_frame(&mut self, kind: Flood, i: u16, hostile: ParticipantId) -> Frame {
        let i32_ = u32::from(i);
        match kind {
            Flood::Presence => Frame::control(Body::Presence(m::Presence {
                participant_id: 0,
                profile: Some(m::Profile {
                    name: format!("h{i}"),
                    device_label: "x".repeat(64),
                }),
                role: 0,
                state: m::presence::State::Updated as i32,
            })),
            Flood::Focus => Frame::control(Body::Focus(m::Focus {
                participant_id: 0,
                terminal_id: i32_ % 3,
            })),
            Flood::Layout => Frame::control(Body::Layout(m::Layout {
                participant_id: 0,
                tiles: vec![
                    m::Tile {
                        terminal_id: 1,
                        x: i32_,
                        y: 0,
                        w: 1,
                        h: 1,
                    };
                    8
                ],
            })),
            Flood::History => {
                Frame::control(Body::HistoryRequest(m::HistoryRequest { terminal_id: 0 }))
            }
            Flood::Chat => Frame::control(Body::Chat(m::Chat {
                text: "c".repeat(500),
                ..Default::default()
            })),
            Flood::Input | Flood::SpoofedInput => {
                let as_whom = if matches!(kind, Flood::Input) {
                    hostile
                } else {
                    self.writer
                };
                // One sealed frame, sent again and again: the relay refuses
                // it before its sequence number could matter.
                let h = &self.h;
                let frame = self.hostile_input.entry(as_whom).or_insert_with(|| {
                    let mut sealer = h.input_sealer(Role::Writer, T, as_whom, 200);
                    sealer.seal(b"rm -rf /\r").unwrap()
                });
                Frame::Sealed(frame.clone())
            }
            Flood::Create => Frame::control(Body::TerminalCreate(m::TerminalCreate {
                rows: 24,
                cols: 80,
                ..Default::default()
            })),
            Flood::Resize => Frame::control(Body::TerminalResize(m::TerminalResize {
                terminal_id: T.0,
                rows: 10 + i32_ % 50,
                cols: 80,
                ..Default::default()
            })),
            Flood::Adopt => Frame::control(Body::AdoptionRequest(m::AdoptionRequest {
                terminal_id: T.0,
                requester: 0,
            })),
            Flood::Garbage => Frame::control(Body::Ping(m::Ping {
                nonce: u64::from(i),
            })),
        }
    }

    fn flood(&mut self, kind: Flood, count: u16) {
        let Some((conn, id, _)) = self.hostile else {
            return;
        };
        let now = self.h.now;
        for i in 0..count {
            if matches!(kind, Flood::Garbage) && i % 2 == 1 {
                // Bytes that are no frame at all.
                self.h
                    .relay
                    .handle_message(conn, Bytes::from_static(&[0xff, 0xff, 0xff]), now);
            } else {
                let frame = self.flood_frame(kind, i, id);
                self.h.relay.handle_frame(conn, frame, now);
            }
            if self.h.closed.contains(&conn) {
                break;
            }
        }
    }

    /// Deliver what the relay sends: honest connections read it all; the
    /// hostile one only while it reads. Then check every invariant.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        self.h.pump();
        let host = self.h.host;
        for frame in sealed(&self.h.take(host)) {
            if frame.header().direction == Direction::Input {
                self.host_got.push(frame);
            }
        }
        for v in &mut self.viewers {
            let frames = self.h.inbox.remove(&v.conn).unwrap_or_default();
            for frame in sealed(&frames) {
                if frame.header().direction != Direction::Output {
                    continue;
                }
                // Once each, in order, with nothing missing in between:
                // the frame the host sent at that place.
                let at = usize::try_from(frame.header().seq.0).unwrap();
                let first = *v.first.get_or_insert(at);
                if !v.late || first != at {
                    prop_assert_eq!(at, v.next, "a viewer skipped or repeated output");
                }
                prop_assert_eq!(Some(&frame), self.sent.get(at), "not the host's frame");
                v.next = at + 1;
            }
        }
        if let Some((conn, _, _)) = self.hostile {
            self.h.inbox.remove(&conn);
            if self.h.closed.contains(&conn) {
                // Evicted: the attacker comes back with a new connection.
                self.hostile_joins();
            }
        }
        // No honest connection is ever closed.
        for conn in self.honest().collect::<Vec<_>>() {
            prop_assert!(!self.h.closed.contains(&conn), "honest {conn:?} closed");
        }
        // The honest writer's keystrokes, every one, in order; nobody
        // else's.
        prop_assert_eq!(self.host_got.len(), self.typed.len(), "the host's input");
        prop_assert!(
            self.host_got == self.typed,
            "input the writer did not send reached the host"
        );
        // Every viewer is where the host is: it saw everything (a late
        // joiner a suffix, all of it while the ring holds it all).
        let sent_bytes: usize = self.sent.iter().map(|f| f.as_bytes().len()).sum();
        for v in &self.viewers {
            prop_assert_eq!(
                v.next.max(v.first.unwrap_or(0)),
                self.sent.len(),
                "a viewer is behind"
            );
            if !v.late || sent_bytes <= self.config.ring_bytes / 2 {
                prop_assert!(v.first.is_none_or(|f| f == 0), "a viewer missed the start");
            }
        }
        // Bounds, with the relay's default sizes.
        for conn in self.honest().chain(self.hostile.map(|(c, _, _)| c)) {
            let (frames, bytes) = self.h.relay.queued(conn);
            prop_assert!(frames <= self.config.max_queue_frames);
            prop_assert!(bytes <= self.config.max_queue_bytes);
        }
        let ring = self.h.relay.ring_bytes(&self.h.session, T).unwrap_or(0);
        prop_assert!(ring <= self.config.ring_bytes);
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Flood { kind, count } => self.flood(kind, count),
            Op::FloodWhileHostStalls { kind, count } => {
                let host = self.h.host;
                self.h.relay.handle_blocked(host);
                self.flood(kind, count);
                self.h.relay.handle_unblocked(host);
            }
            Op::Type { len } => {
                let now = self.h.now;
                for k in 0..len {
                    let frame = self.writer_input.seal(&[b'a' + k % 26]).unwrap();
                    self.typed.push(frame.clone());
                    let conn = self.viewers[0].conn;
                    self.h.relay.handle_frame(conn, Frame::Sealed(frame), now);
                }
            }
            Op::Output { frames, len } => {
                let host = self.h.host;
                let now = self.h.now;
                for _ in 0..frames {
                    let frame = self.output.seal(&vec![b'o'; usize::from(len)]).unwrap();
                    self.sent.push(frame.clone());
                    self.h.relay.handle_frame(host, Frame::Sealed(frame), now);
                }
            }
            Op::LateJoin => {
                // Fewer than the session's participant limit.
                if self.viewers.len() < 8 {
                    // Not `Harness::join`, which drops what arrives with
                    // the admission: the replay starts there.
                    let conn = self.h.connect();
                    let keys = self.h.keys(Role::Reader);
                    let request = Body::JoinRequest(m::JoinRequest {
                        session_id: self.h.session.to_string(),
                        profile: None,
                    });
                    let admitted = self.h.admit(conn, request, &keys.prover());
                    prop_assert!(admitted.is_ok(), "an honest reader was refused");
                    self.viewers.push(Viewer {
                        conn,
                        first: None,
                        next: 0,
                        late: true,
                    });
                }
            }
            Op::HostileReads(reads) => {
                if let Some((conn, _, _)) = self.hostile {
                    if reads {
                        self.h.relay.handle_unblocked(conn);
                    } else {
                        self.h.relay.handle_blocked(conn);
                    }
                }
            }
            Op::Advance { millis } => self.h.advance(Duration::from_millis(u64::from(millis))),
        }
        self.settle()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_hostile_participant_breaks_no_promise(
        writer in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let mut world = World::new(if writer { Role::Writer } else { Role::Reader });
        for op in ops {
            world.apply(op)?;
        }
        // Whatever happened, the honest writer can still type.
        world.apply(Op::Type { len: 3 })?;
        prop_assert_eq!(world.host_got.len(), world.typed.len());
    }
}
