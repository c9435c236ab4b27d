//! Random sequences of connects, joins, frames, handoffs, disconnects and
//! timeouts across two sessions. Whatever happens: no panic, no input from
//! a reader or a non-controller reaches a host, no frame crosses sessions,
//! and every queue and ring stays within its bound.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use support::{Harness, profile};
use taiku_crypto::KeySchedule;
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::access::{self, Action};
use taiku_session::relay::{ConnId, RelayConfig};

#[derive(Clone, Debug)]
enum Op {
    Join {
        session: usize,
        role: u8,
    },
    Leave {
        who: usize,
    },
    Open {
        session: usize,
        terminal: u8,
        owner: usize,
    },
    Output {
        session: usize,
        terminal: u8,
        len: u16,
    },
    Input {
        who: usize,
        terminal: u8,
        claim_other: bool,
    },
    Grant {
        who: usize,
        terminal: u8,
        to: usize,
    },
    Revoke {
        who: usize,
        terminal: u8,
    },
    TakeOver {
        who: usize,
        terminal: u8,
    },
    Adopt {
        who: usize,
        terminal: u8,
    },
    Answer {
        who: usize,
        terminal: u8,
        requester: usize,
        approve: bool,
    },
    Chat {
        who: usize,
        len: u16,
    },
    HostDrop {
        session: usize,
    },
    HostResume {
        session: usize,
    },
    Block {
        who: usize,
        blocked: bool,
    },
    Garbage {
        who: usize,
        byte: u8,
    },
    Advance {
        millis: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0usize..2;
    let w = 0usize..12;
    let t = 1u8..4;
    prop_oneof![
        3 => (s.clone(), 0u8..3).prop_map(|(session, role)| Op::Join { session, role }),
        1 => w.clone().prop_map(|who| Op::Leave { who }),
        2 => (s.clone(), t.clone(), 0usize..13).prop_map(|(session, terminal, owner)| Op::Open { session, terminal, owner }),
        4 => (s.clone(), t.clone(), 0u16..3000).prop_map(|(session, terminal, len)| Op::Output { session, terminal, len }),
        4 => (w.clone(), t.clone(), any::<bool>()).prop_map(|(who, terminal, claim_other)| Op::Input { who, terminal, claim_other }),
        1 => (w.clone(), t.clone(), w.clone()).prop_map(|(who, terminal, to)| Op::Grant { who, terminal, to }),
        1 => (w.clone(), t.clone()).prop_map(|(who, terminal)| Op::Revoke { who, terminal }),
        1 => (w.clone(), t.clone()).prop_map(|(who, terminal)| Op::TakeOver { who, terminal }),
        1 => (w.clone(), t.clone()).prop_map(|(who, terminal)| Op::Adopt { who, terminal }),
        1 => (w.clone(), t.clone(), w.clone(), any::<bool>()).prop_map(|(who, terminal, requester, approve)| Op::Answer { who, terminal, requester, approve }),
        1 => (w.clone(), 0u16..3000).prop_map(|(who, len)| Op::Chat { who, len }),
        1 => s.clone().prop_map(|session| Op::HostDrop { session }),
        1 => s.clone().prop_map(|session| Op::HostResume { session }),
        1 => (w.clone(), any::<bool>()).prop_map(|(who, blocked)| Op::Block { who, blocked }),
        1 => (w.clone(), any::<u8>()).prop_map(|(who, byte)| Op::Garbage { who, byte }),
        2 => (0u32..400_000).prop_map(|millis| Op::Advance { millis }),
    ]
}

struct Member {
    conn: ConnId,
    session: usize,
    id: ParticipantId,
    role: Role,
    sealer: BTreeMap<(u8, bool), taiku_crypto::StreamSealer>,
}

struct World {
    h: Harness,
    keys: [KeySchedule; 2],
    hosts: [Option<ConnId>; 2],
    out: BTreeMap<(usize, u8), taiku_crypto::StreamSealer>,
    members: Vec<Member>,
    config: RelayConfig,
}

fn session_of_epoch(epoch: &Epoch) -> usize {
    usize::from(epoch.0[0])
}

impl World {
    fn new() -> Self {
        let config = RelayConfig::default()
            .with_max_queue_frames(64)
            .with_max_queue_bytes(32 * 1024)
            .with_ring_bytes(8 * 1024)
            .with_max_participants(6);
        let mut h = Harness::new(config.clone(), Harness::default_options());
        let k0 = KeySchedule::new(&h.host_keys.secret(Role::Admin).unwrap(), &h.session);
        let other = SessionId::new("harness-session-2").unwrap();
        let k1 = KeySchedule::new(
            &taiku_crypto::LinkSecret::from_bytes(Role::Admin, [43; 32]),
            &other,
        );
        let host1 = h.create_session(&k1, Harness::default_options());
        let host0 = h.host;
        World {
            h,
            keys: [k0, k1],
            hosts: [Some(host0), Some(host1)],
            out: BTreeMap::new(),
            members: Vec::new(),
            config,
        }
    }

    fn member(&self, who: usize) -> Option<&Member> {
        self.members.get(who % self.members.len().max(1))
    }

    fn controls(&self, session: usize) -> SessionId {
        self.keys[session].session_id().clone()
    }

    /// Check every frame delivered since the last check.
    fn check_deliveries(
        &mut self,
        allowed_input: Option<(ConnId, ParticipantId)>,
    ) -> Result<(), TestCaseError> {
        self.h.pump();
        let inbox = std::mem::take(&mut self.h.inbox);
        for (conn, frames) in inbox {
            let session_of_conn = self
                .hosts
                .iter()
                .position(|h| *h == Some(conn))
                .or_else(|| {
                    self.members
                        .iter()
                        .find(|m| m.conn == conn)
                        .map(|m| m.session)
                });
            for frame in frames {
                if let Frame::Sealed(s) = frame {
                    let origin = session_of_epoch(&s.header().epoch);
                    if let Some(session) = session_of_conn {
                        prop_assert_eq!(origin, session, "a frame crossed sessions");
                    }
                    if s.header().direction == Direction::Input {
                        prop_assert!(self.hosts.contains(&Some(conn)), "input reached a non-host");
                        prop_assert_eq!(
                            allowed_input.map(|(_, id)| id),
                            Some(s.header().participant),
                            "input not allowed"
                        );
                    }
                }
            }
        }
        for conn in self
            .hosts
            .iter()
            .flatten()
            .chain(self.members.iter().map(|m| &m.conn))
        {
            let (frames, bytes) = self.h.relay.queued(*conn);
            prop_assert!(
                frames <= self.config.max_queue_frames && bytes <= self.config.max_queue_bytes
            );
        }
        for (i, k) in self.keys.iter().enumerate() {
            for t in 1..4 {
                if let Some(b) = self.h.relay.ring_bytes(k.session_id(), TerminalId(t)) {
                    prop_assert!(
                        b <= self.config.ring_bytes,
                        "ring of session {i} over its bound"
                    );
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        let now = self.h.now;
        let mut allowed_input = None;
        match op {
            Op::Join { session, role } => {
                let role = Role::ALL[usize::from(role)];
                let conn = self.h.connect();
                let keys = KeySchedule::new(
                    &self.keys[session].secret(role).unwrap(),
                    self.keys[session].session_id(),
                );
                let req = Body::JoinRequest(m::JoinRequest {
                    session_id: self.keys[session].session_id().to_string(),
                    profile: profile("p"),
                });
                if let Ok(id) = self.h.admit(conn, req, &keys.prover()) {
                    self.members.push(Member {
                        conn,
                        session,
                        id,
                        role,
                        sealer: BTreeMap::new(),
                    });
                }
            }
            Op::Leave { who } => {
                if !self.members.is_empty() {
                    let m = self.members.remove(who % self.members.len());
                    self.h.relay.handle_disconnect(m.conn, now);
                }
            }
            Op::Open {
                session,
                terminal,
                owner,
            } => {
                if let Some(host) = self.hosts[session] {
                    let owner = self
                        .members
                        .iter()
                        .filter(|m| m.session == session)
                        .nth(owner)
                        .map_or(0, |m| m.id.0);
                    self.h.send(
                        host,
                        Body::TerminalOpened(m::TerminalOpened {
                            terminal_id: u32::from(terminal),
                            owner,
                            rows: 24,
                            cols: 80,
                            label: String::new(),
                        }),
                    );
                }
            }
            Op::Output {
                session,
                terminal,
                len,
            } => {
                if let Some(host) = self.hosts[session] {
                    let keys = &self.keys[session];
                    let sealer = self.out.entry((session, terminal)).or_insert_with(|| {
                        let mut epoch = [0u8; 16];
                        epoch[0] = session as u8;
                        keys.sealer(
                            TerminalId(u32::from(terminal)),
                            Direction::Output,
                            ParticipantId::HOST,
                            Epoch(epoch),
                        )
                        .unwrap()
                    });
                    let frame = sealer.seal(&vec![b'o'; usize::from(len)]).unwrap();
                    self.h.send_sealed(host, frame);
                }
            }
            Op::Input {
                who,
                terminal,
                claim_other,
            } => {
                let Some(m) = self.member(who) else {
                    return Ok(());
                };
                let (conn, session, id, role) = (m.conn, m.session, m.id, m.role);
                let sid = self.controls(session);
                let control = self
                    .h
                    .relay
                    .terminal_control(&sid, TerminalId(u32::from(terminal)));
                let claimed = if claim_other {
                    ParticipantId(id.0 + 1)
                } else {
                    id
                };
                // Seal with the writer key (a reader's frame is refused by
                // role before any key matters).
                let keys =
                    KeySchedule::new(&self.keys[session].secret(Role::Writer).unwrap(), &sid);
                let mut epoch = [0u8; 16];
                epoch[0] = session as u8;
                epoch[1] = terminal;
                epoch[2..6].copy_from_slice(&claimed.0.to_be_bytes());
                let index = who % self.members.len();
                let sealer = self.members[index]
                    .sealer
                    .entry((terminal, claim_other))
                    .or_insert_with(|| {
                        keys.sealer(
                            TerminalId(u32::from(terminal)),
                            Direction::Input,
                            claimed,
                            Epoch(epoch),
                        )
                        .unwrap()
                    });
                let frame = sealer.seal(b"k").unwrap();
                let claimed = frame.header().participant;
                if claimed == id && access::check(role, id, Action::Input, control.as_ref()).is_ok()
                {
                    allowed_input = Some((conn, id));
                }
                self.h.relay.handle_frame(conn, Frame::Sealed(frame), now);
            }
            Op::Grant { who, terminal, to } => {
                if let (Some(m), Some(to)) = (self.member(who), self.member(to)) {
                    let (conn, grantee) = (m.conn, to.id.0);
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::ControlGrant(m::ControlGrant {
                            terminal_id: u32::from(terminal),
                            grantee,
                        })),
                        now,
                    );
                }
            }
            Op::Revoke { who, terminal } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::ControlRevoke(m::ControlRevoke {
                            terminal_id: u32::from(terminal),
                        })),
                        now,
                    );
                }
            }
            Op::TakeOver { who, terminal } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::TakeOver(m::TakeOver {
                            terminal_id: u32::from(terminal),
                            ..Default::default()
                        })),
                        now,
                    );
                }
            }
            Op::Adopt { who, terminal } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::AdoptionRequest(m::AdoptionRequest {
                            terminal_id: u32::from(terminal),
                            requester: 0,
                        })),
                        now,
                    );
                }
            }
            Op::Answer {
                who,
                terminal,
                requester,
                approve,
            } => {
                if let (Some(m), Some(r)) = (self.member(who), self.member(requester)) {
                    let (conn, requester) = (m.conn, r.id.0);
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::AdoptionAnswer(m::AdoptionAnswer {
                            terminal_id: u32::from(terminal),
                            requester,
                            approve,
                        })),
                        now,
                    );
                }
            }
            Op::Chat { who, len } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    self.h.relay.handle_frame(
                        conn,
                        Frame::control(Body::Chat(m::Chat {
                            text: "c".repeat(usize::from(len)),
                            ..Default::default()
                        })),
                        now,
                    );
                }
            }
            Op::HostDrop { session } => {
                if let Some(host) = self.hosts[session].take() {
                    self.h.relay.handle_disconnect(host, now);
                }
            }
            Op::HostResume { session } => {
                if self.hosts[session].is_none() {
                    let conn = self.h.connect();
                    let req = Body::SessionResume(m::SessionResume {
                        session_id: self.keys[session].session_id().to_string(),
                        profile: None,
                    });
                    let prover = self.keys[session].prover();
                    if self.h.admit(conn, req, &prover).is_ok() {
                        self.hosts[session] = Some(conn);
                    }
                }
            }
            Op::Block { who, blocked } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    if blocked {
                        self.h.relay.handle_blocked(conn)
                    } else {
                        self.h.relay.handle_unblocked(conn)
                    }
                }
            }
            Op::Garbage { who, byte } => {
                if let Some(m) = self.member(who) {
                    let conn = m.conn;
                    self.h
                        .relay
                        .handle_message(conn, Bytes::from(vec![byte, byte, byte]), now);
                }
            }
            Op::Advance { millis } => {
                self.h.now += Duration::from_millis(u64::from(millis));
                let now = self.h.now;
                self.h.relay.handle_timeout(now);
            }
        }
        self.check_deliveries(allowed_input)?;
        // Forget members the relay closed.
        let closed = self.h.closed.clone();
        self.members.retain(|m| !closed.contains(&m.conn));
        for host in &mut self.hosts {
            if host.is_some_and(|h| closed.contains(&h)) {
                *host = None;
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn relay_invariants_hold(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = World::new();
        for op in ops {
            world.apply(op)?;
        }
    }
}
