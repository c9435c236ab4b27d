//! proptest strategies for every message of the catalog and both frame
//! types. Shared by the round-trip and decoder property tests.

#![allow(dead_code)]

use bytes::Bytes;
use proptest::prelude::*;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{
    Direction, Epoch, Frame, ParticipantId, SealedFrame, SealedHeader, Seq, TerminalId,
};

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn profile() -> impl Strategy<Value = Option<m::Profile>> {
    proptest::option::of(
        (text(), text()).prop_map(|(name, device_label)| m::Profile { name, device_label }),
    )
}

fn options() -> impl Strategy<Value = Option<m::SessionOptions>> {
    proptest::option::of(any::<(bool, bool)>().prop_map(|(r, s)| m::SessionOptions {
        readers_enabled: r,
        viewer_sign_in_required: s,
    }))
}

fn enum_val(max: i32) -> impl Strategy<Value = i32> {
    0..=max
}

fn terminal_state() -> impl Strategy<Value = m::TerminalState> {
    (
        any::<(u32, u32, u32, u32, u32)>(),
        text(),
        blob(17),
        any::<(u64, bool)>(),
    )
        .prop_map(
            |(
                (terminal_id, owner, controller, rows, cols),
                label,
                last_epoch,
                (last_seq, has_output),
            )| m::TerminalState {
                terminal_id,
                owner,
                controller,
                rows,
                cols,
                label,
                last_epoch,
                last_seq,
                has_output,
            },
        )
}

fn lifecycle() -> impl Strategy<Value = Body> {
    prop_oneof![
        (
            text(),
            proptest::option::of((blob(40), blob(40), blob(40))),
            options(),
            profile()
        )
            .prop_map(|(session_id, v, options, profile)| Body::SessionCreate(
                m::SessionCreate {
                    session_id,
                    verifiers: v.map(|(reader, writer, admin)| m::RoleVerifiers {
                        reader,
                        writer,
                        admin
                    }),
                    options,
                    profile,
                }
            )),
        (text(), profile()).prop_map(|(session_id, profile)| Body::SessionResume(
            m::SessionResume {
                session_id,
                profile
            }
        )),
        (text(), profile()).prop_map(|(session_id, profile)| Body::JoinRequest(m::JoinRequest {
            session_id,
            profile
        })),
        blob(40).prop_map(|nonce| Body::Challenge(m::Challenge { nonce })),
        (enum_val(3), blob(70))
            .prop_map(|(role, signature)| Body::JoinProof(m::JoinProof { role, signature })),
        prop_oneof![
            Just(None),
            enum_val(7).prop_map(|r| Some(m::join_result::Outcome::Refused(r))),
            (any::<u32>(), enum_val(3), options(), any::<bool>()).prop_map(
                |(participant_id, role, options, host_online)| {
                    Some(m::join_result::Outcome::Accepted(m::Accepted {
                        participant_id,
                        role,
                        options,
                        host_online,
                    }))
                }
            ),
        ]
        .prop_map(|outcome| Body::JoinResult(m::JoinResult { outcome })),
        (any::<bool>(), any::<u64>()).prop_map(|(online, grace_remaining_ms)| Body::HostStatus(
            m::HostStatus {
                online,
                grace_remaining_ms
            }
        )),
        enum_val(5).prop_map(|reason| Body::SessionEnded(m::SessionEnded { reason })),
        proptest::collection::vec(terminal_state(), 0..3)
            .prop_map(|terminals| Body::ResumeState(m::ResumeState { terminals })),
    ]
}

fn collaboration() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<u32>(), profile(), enum_val(3), enum_val(3)).prop_map(
            |(participant_id, profile, role, state)| {
                Body::Presence(m::Presence {
                    participant_id,
                    profile,
                    role,
                    state,
                })
            }
        ),
        any::<(u32, u32)>().prop_map(|(participant_id, terminal_id)| Body::Focus(m::Focus {
            participant_id,
            terminal_id
        })),
        (any::<u32>(), any::<u64>(), text(), any::<u64>()).prop_map(|(from, seq, text, age_ms)| {
            Body::Chat(m::Chat {
                from,
                seq,
                text,
                age_ms,
            })
        }),
        (
            any::<u32>(),
            proptest::collection::vec(any::<(u32, u32, u32, u32, u32)>(), 0..4)
        )
            .prop_map(|(participant_id, tiles)| {
                Body::Layout(m::Layout {
                    participant_id,
                    tiles: tiles
                        .into_iter()
                        .map(|(terminal_id, x, y, w, h)| m::Tile {
                            terminal_id,
                            x,
                            y,
                            w,
                            h,
                        })
                        .collect(),
                })
            }),
    ]
}

fn terminals() -> impl Strategy<Value = Body> {
    prop_oneof![
        (any::<(u32, u32, u32)>(), text()).prop_map(|((requester, rows, cols), label)| {
            Body::TerminalCreate(m::TerminalCreate {
                requester,
                rows,
                cols,
                label,
            })
        }),
        (any::<(u32, u32, u32, u32)>(), text()).prop_map(
            |((terminal_id, owner, rows, cols), label)| {
                Body::TerminalOpened(m::TerminalOpened {
                    terminal_id,
                    owner,
                    rows,
                    cols,
                    label,
                })
            }
        ),
        any::<(u32, u32)>().prop_map(|(terminal_id, requester)| Body::TerminalClose(
            m::TerminalClose {
                terminal_id,
                requester
            }
        )),
        any::<(u32, i32)>().prop_map(|(terminal_id, exit_status)| Body::TerminalClosed(
            m::TerminalClosed {
                terminal_id,
                exit_status
            }
        )),
        any::<(u32, u32, u32, u32)>().prop_map(|(terminal_id, rows, cols, requester)| {
            Body::TerminalResize(m::TerminalResize {
                terminal_id,
                rows,
                cols,
                requester,
            })
        }),
    ]
}

fn ownership() -> impl Strategy<Value = Body> {
    prop_oneof![
        any::<(u32, u32)>().prop_map(|(terminal_id, requester)| Body::AdoptionRequest(
            m::AdoptionRequest {
                terminal_id,
                requester
            }
        )),
        any::<(u32, u32, bool)>().prop_map(|(terminal_id, requester, approve)| {
            Body::AdoptionAnswer(m::AdoptionAnswer {
                terminal_id,
                requester,
                approve,
            })
        }),
        any::<(u32, u32)>().prop_map(|(terminal_id, grantee)| Body::ControlGrant(
            m::ControlGrant {
                terminal_id,
                grantee
            }
        )),
        any::<u32>().prop_map(|terminal_id| Body::ControlRevoke(m::ControlRevoke { terminal_id })),
        (any::<(u32, u32, u64)>(), blob(64)).prop_map(
            |((terminal_id, requester, counter), signature)| {
                Body::TakeOver(m::TakeOver {
                    terminal_id,
                    requester,
                    counter,
                    signature,
                })
            }
        ),
        (any::<u32>(), text()).prop_map(|(terminal_id, label)| {
            Body::TerminalLabel(m::TerminalLabel { terminal_id, label })
        }),
        (any::<(u32, u32)>(), blob(16)).prop_map(|((participant_id, _), ticket)| {
            Body::InputTicket(m::InputTicket {
                participant_id,
                ticket,
            })
        }),
        (any::<(u32, u32, u32, u32)>(), enum_val(9)).prop_map(
            |((terminal_id, owner, controller, requester), reason)| {
                Body::ControlChanged(m::ControlChanged {
                    terminal_id,
                    owner,
                    controller,
                    reason,
                    requester,
                })
            }
        ),
        any::<(u32, u32, u32)>().prop_map(|(terminal_id, holder, expires_in_ms)| {
            Body::FocusLock(m::FocusLock {
                terminal_id,
                holder,
                expires_in_ms,
            })
        }),
    ]
}

fn other() -> impl Strategy<Value = Body> {
    prop_oneof![
        any::<u32>()
            .prop_map(|terminal_id| Body::HistoryRequest(m::HistoryRequest { terminal_id })),
        any::<(u32, u32)>().prop_map(|(terminal_id, requester)| Body::SnapshotRequest(
            m::SnapshotRequest {
                terminal_id,
                requester
            }
        )),
        (
            any::<u32>(),
            proptest::collection::vec((blob(17), any::<u64>(), any::<u32>()), 0..3),
            any::<bool>()
        )
            .prop_map(
                |(terminal_id, runs, complete)| Body::ReplayStart(m::ReplayStart {
                    terminal_id,
                    runs: runs
                        .into_iter()
                        .map(|(epoch, first_seq, frame_count)| m::ReplayRun {
                            epoch,
                            first_seq,
                            frame_count
                        })
                        .collect(),
                    complete,
                })
            ),
        (any::<(u32, bool, u32, u64)>(), blob(64)).prop_map(
            |((port, enable, requester, counter), signature)| {
                Body::TunnelAdmin(m::TunnelAdmin {
                    port,
                    enable,
                    requester,
                    counter,
                    signature,
                })
            }
        ),
        any::<u64>().prop_map(|nonce| Body::Ping(m::Ping { nonce })),
        any::<u64>().prop_map(|nonce| Body::Pong(m::Pong { nonce })),
        (any::<(u32, u32)>(), enum_val(13)).prop_map(|((action, terminal_id), reason)| {
            Body::Refused(m::Refused {
                action,
                terminal_id,
                reason,
            })
        }),
        enum_val(5).prop_map(|code| Body::Error(m::Error { code })),
    ]
}

/// Any control message, including one with no body.
pub fn control() -> impl Strategy<Value = m::Control> {
    proptest::option::weighted(
        0.97,
        prop_oneof![
            lifecycle(),
            collaboration(),
            terminals(),
            ownership(),
            other()
        ],
    )
    .prop_map(|body| m::Control { body })
}

/// Any plaintext of a snapshot or status sealed frame.
pub fn sealed_record() -> impl Strategy<Value = m::SealedRecord> {
    let status = (text(), enum_val(6), text()).prop_map(|(agent, state, detail)| {
        m::sealed_record::Body::AgentStatus(m::AgentStatus {
            agent,
            state,
            detail,
        })
    });
    let snapshot = (blob(17), any::<(u64, u32, u32)>(), blob(64)).prop_map(
        |(output_epoch, (output_seq, rows, cols), screen)| {
            m::sealed_record::Body::Snapshot(m::Snapshot {
                output_epoch,
                output_seq,
                rows,
                cols,
                screen,
            })
        },
    );
    proptest::option::of(prop_oneof![status, snapshot]).prop_map(|body| m::SealedRecord { body })
}

pub fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::Output),
        Just(Direction::Input),
        Just(Direction::Snapshot),
        Just(Direction::Status)
    ]
}

/// Any sealed header.
pub fn sealed_header() -> impl Strategy<Value = SealedHeader> {
    (
        any::<u32>(),
        direction(),
        any::<bool>(),
        any::<u32>(),
        any::<[u8; 16]>(),
        any::<u64>(),
    )
        .prop_map(
            |(terminal, direction, fin, participant, epoch, seq)| SealedHeader {
                terminal: TerminalId(terminal),
                direction,
                fin,
                participant: ParticipantId(participant),
                epoch: Epoch(epoch),
                seq: Seq(seq),
            },
        )
}

/// Build a sealed frame from a header and ciphertext (tag included).
pub fn sealed(header: SealedHeader, ciphertext: &[u8]) -> SealedFrame {
    let max = taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
    let encoded = header
        .encode(ciphertext.len(), max)
        .expect("header encodes");
    let mut raw = encoded.as_bytes().to_vec();
    raw.extend_from_slice(ciphertext);
    SealedFrame::from_bytes(Bytes::from(raw), max).expect("valid sealed frame")
}

/// Any sealed frame (the ciphertext is arbitrary bytes: the codec does not
/// open it). FIN frames carry exactly a tag.
pub fn sealed_frame() -> impl Strategy<Value = SealedFrame> {
    (
        sealed_header(),
        proptest::collection::vec(any::<u8>(), 16..400),
    )
        .prop_map(|(header, mut ct)| {
            if header.fin {
                ct.truncate(16);
            }
            sealed(header, &ct)
        })
}

/// Any frame.
pub fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        control().prop_map(Frame::Control),
        sealed_frame().prop_map(Frame::Sealed)
    ]
}
