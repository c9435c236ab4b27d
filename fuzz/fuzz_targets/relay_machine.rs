//! The relay machine driven by an arbitrary sequence of connects, frames,
//! disconnects and timeouts across two sessions, checking its invariants:
//! no input from a reader or non-controller reaches a host, no frame
//! reaches another session, queues and rings stay in their bounds.

#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::{arbitrary, fuzz_target};
use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};
use taiku_session::access::{self, Action};
use taiku_session::admission;
use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};

#[derive(arbitrary::Arbitrary, Debug)]
enum Op {
    Join {
        session: bool,
        role: u8,
    },
    Leave {
        who: u8,
    },
    Open {
        session: bool,
        terminal: u8,
        owner: u8,
    },
    Output {
        session: bool,
        terminal: u8,
        len: u16,
    },
    Input {
        who: u8,
        terminal: u8,
        claim: u8,
    },
    Control {
        who: u8,
        body: ControlOp,
    },
    Raw {
        who: u8,
        bytes: Vec<u8>,
    },
    HostDrop {
        session: bool,
    },
    HostResume {
        session: bool,
    },
    Block {
        who: u8,
        blocked: bool,
    },
    Advance {
        millis: u32,
    },
}

#[derive(arbitrary::Arbitrary, Debug)]
enum ControlOp {
    Grant {
        terminal: u8,
        to: u8,
    },
    Revoke {
        terminal: u8,
    },
    TakeOver {
        terminal: u8,
    },
    Adopt {
        terminal: u8,
    },
    Answer {
        terminal: u8,
        requester: u8,
        approve: bool,
    },
    Chat {
        len: u16,
    },
    Create,
    Resize {
        terminal: u8,
    },
    Close {
        terminal: u8,
    },
    History {
        terminal: u8,
    },
}

struct Member {
    conn: ConnId,
    session: usize,
    id: ParticipantId,
    role: Role,
}

struct World {
    relay: Relay<chacha20::ChaCha20Rng>,
    now: Instant,
    next: u64,
    keys: [KeySchedule; 2],
    hosts: [Option<ConnId>; 2],
    members: Vec<Member>,
    config: RelayConfig,
    inbox: BTreeMap<ConnId, Vec<Frame>>,
}

impl World {
    fn pump(&mut self) {
        while let Some(t) = self.relay.poll_transmit() {
            if let Transmit::Send { conn, frame } = t {
                self.inbox.entry(conn).or_default().push(frame);
            }
        }
        while self.relay.poll_event().is_some() {}
    }

    /// The first control message the relay sent `conn` that `pick` accepts.
    fn answer<T>(&mut self, conn: ConnId, pick: impl Fn(&Body) -> Option<T>) -> Option<T> {
        self.pump();
        self.inbox.remove(&conn)?.iter().find_map(|f| match f {
            Frame::Control(m::Control { body: Some(body) }) => pick(body),
            _ => None,
        })
    }

    fn admit(&mut self, conn: ConnId, request: Body, keys: &KeySchedule) -> Option<ParticipantId> {
        self.relay
            .handle_frame(conn, Frame::control(request), self.now);
        let challenge = self.answer(conn, admission::challenge)?;
        let proof = admission::join_proof(&keys.prover(), &challenge);
        self.relay
            .handle_frame(conn, Frame::control(proof), self.now);
        self.answer(conn, |b| match admission::join_result(b) {
            Some(Ok(a)) => Some(a.participant),
            _ => None,
        })
    }

    fn connect(&mut self) -> ConnId {
        self.next += 1;
        let c = ConnId(self.next);
        self.relay.handle_connect(c, self.now);
        c
    }

    fn create(&mut self, session: usize) {
        let conn = self.connect();
        let keys = &self.keys[session];
        let options = taiku_session::SessionOptions::default();
        let body = admission::session_create(keys, options, None).expect("admin");
        let keys = KeySchedule::new(&keys.secret(Role::Admin).expect("admin"), keys.session_id());
        if self.admit(conn, body, &keys).is_some() {
            self.hosts[session] = Some(conn);
        }
    }

    fn member(&self, who: u8) -> Option<&Member> {
        if self.members.is_empty() {
            return None;
        }
        self.members.get(usize::from(who) % self.members.len())
    }

    fn check(&mut self, allowed: Option<ParticipantId>) {
        self.pump();
        let inbox = std::mem::take(&mut self.inbox);
        for (conn, frames) in inbox {
            let session = self
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
                    if let Some(session) = session {
                        assert_eq!(
                            usize::from(s.header().epoch.0[0]),
                            session,
                            "a frame crossed sessions"
                        );
                    }
                    if s.header().direction == Direction::Input {
                        assert!(
                            self.hosts.contains(&Some(conn)),
                            "input reached a participant"
                        );
                        assert_eq!(
                            allowed,
                            Some(s.header().participant),
                            "input that was not allowed reached the host"
                        );
                    }
                }
            }
        }
        for m in &self.members {
            let (frames, bytes) = self.relay.queued(m.conn);
            assert!(frames <= self.config.max_queue_frames && bytes <= self.config.max_queue_bytes);
        }
        for k in &self.keys {
            for t in 1..4 {
                if let Some(b) = self.relay.ring_bytes(k.session_id(), TerminalId(t)) {
                    assert!(b <= self.config.ring_bytes);
                }
            }
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let config = RelayConfig::default()
        .with_max_queue_frames(32)
        .with_max_queue_bytes(16 * 1024)
        .with_ring_bytes(4096)
        .with_max_participants(4);
    let keys = [
        KeySchedule::new(
            &LinkSecret::from_bytes(Role::Admin, [1; 32]),
            &SessionId::new("fuzz-session-0").expect("id"),
        ),
        KeySchedule::new(
            &LinkSecret::from_bytes(Role::Admin, [2; 32]),
            &SessionId::new("fuzz-session-1").expect("id"),
        ),
    ];
    let mut w = World {
        relay: Relay::new(config.clone(), chacha20::ChaCha20Rng::from_seed([0; 32])),
        now: Instant::now(),
        next: 0,
        keys,
        hosts: [None, None],
        members: Vec::new(),
        config,
        inbox: BTreeMap::new(),
    };
    w.create(0);
    w.create(1);
    let mut sealers: BTreeMap<(usize, u8), taiku_crypto::StreamSealer> = BTreeMap::new();
    let mut inputs: BTreeMap<(u64, u8, u8), taiku_crypto::StreamSealer> = BTreeMap::new();
    for op in ops.into_iter().take(64) {
        let mut allowed = None;
        let now = w.now;
        match op {
            Op::Join { session, role } => {
                let s = usize::from(session);
                let role = Role::ALL[usize::from(role % 3)];
                let conn = w.connect();
                let keys = KeySchedule::new(
                    &w.keys[s].secret(role).expect("lower role"),
                    w.keys[s].session_id(),
                );
                let req = Body::JoinRequest(m::JoinRequest {
                    session_id: w.keys[s].session_id().to_string(),
                    profile: None,
                });
                if let Some(id) = w.admit(conn, req, &keys) {
                    w.members.push(Member {
                        conn,
                        session: s,
                        id,
                        role,
                    });
                }
            }
            Op::Leave { who } => {
                if !w.members.is_empty() {
                    let m = w.members.remove(usize::from(who) % w.members.len());
                    w.relay.handle_disconnect(m.conn, now);
                }
            }
            Op::Open {
                session,
                terminal,
                owner,
            } => {
                let s = usize::from(session);
                if let Some(host) = w.hosts[s] {
                    let owner = w
                        .members
                        .iter()
                        .filter(|m| m.session == s)
                        .nth(usize::from(owner))
                        .map_or(0, |m| m.id.0);
                    let body = Body::TerminalOpened(m::TerminalOpened {
                        terminal_id: u32::from(terminal % 4),
                        owner,
                        rows: 24,
                        cols: 80,
                        label: String::new(),
                    });
                    w.relay.handle_frame(host, Frame::control(body), now);
                }
            }
            Op::Output {
                session,
                terminal,
                len,
            } => {
                let s = usize::from(session);
                if let Some(host) = w.hosts[s] {
                    let keys = &w.keys[s];
                    let sealer = sealers.entry((s, terminal % 4)).or_insert_with(|| {
                        let mut e = [0u8; 16];
                        e[0] = s as u8;
                        keys.sealer(
                            TerminalId(u32::from(terminal % 4)),
                            Direction::Output,
                            ParticipantId::HOST,
                            Epoch(e),
                        )
                        .expect("sealer")
                    });
                    if let Ok(frame) = sealer.seal(&vec![b'o'; usize::from(len % 2048)]) {
                        w.relay.handle_frame(host, Frame::Sealed(frame), now);
                    }
                }
            }
            Op::Input {
                who,
                terminal,
                claim,
            } => {
                let Some(m) = w.member(who) else { continue };
                let (conn, s, id, role) = (m.conn, m.session, m.id, m.role);
                let t = TerminalId(u32::from(terminal % 4));
                let claimed = if claim % 4 == 0 {
                    ParticipantId(id.0 + 1)
                } else {
                    id
                };
                let control = w.relay.terminal_control(w.keys[s].session_id(), t);
                let keys = KeySchedule::new(
                    &w.keys[s].secret(Role::Writer).expect("writer"),
                    w.keys[s].session_id(),
                );
                let sealer = inputs
                    .entry((conn.0, terminal % 4, claim % 4))
                    .or_insert_with(|| {
                        let mut e = [0u8; 16];
                        e[0] = s as u8;
                        e[1..9].copy_from_slice(&conn.0.to_be_bytes());
                        keys.sealer(t, Direction::Input, claimed, Epoch(e))
                            .expect("sealer")
                    });
                if let Ok(frame) = sealer.seal(b"k") {
                    if frame.header().participant == id
                        && access::check(role, id, Action::Input, control.as_ref()).is_ok()
                    {
                        allowed = Some(id);
                    }
                    w.relay.handle_frame(conn, Frame::Sealed(frame), now);
                }
            }
            Op::Control { who, body } => {
                let Some(m) = w.member(who) else { continue };
                let conn = m.conn;
                let pid = |w: &World, i: u8| w.member(i).map_or(0, |m| m.id.0);
                let t = |x: u8| u32::from(x % 4);
                let body = match body {
                    ControlOp::Grant { terminal, to } => Body::ControlGrant(m::ControlGrant {
                        terminal_id: t(terminal),
                        grantee: pid(&w, to),
                    }),
                    ControlOp::Revoke { terminal } => Body::ControlRevoke(m::ControlRevoke {
                        terminal_id: t(terminal),
                    }),
                    ControlOp::TakeOver { terminal } => Body::TakeOver(m::TakeOver {
                        terminal_id: t(terminal),
                        ..Default::default()
                    }),
                    ControlOp::Adopt { terminal } => Body::AdoptionRequest(m::AdoptionRequest {
                        terminal_id: t(terminal),
                        requester: 0,
                    }),
                    ControlOp::Answer {
                        terminal,
                        requester,
                        approve,
                    } => Body::AdoptionAnswer(m::AdoptionAnswer {
                        terminal_id: t(terminal),
                        requester: pid(&w, requester),
                        approve,
                    }),
                    ControlOp::Chat { len } => Body::Chat(m::Chat {
                        text: "c".repeat(usize::from(len % 3000)),
                        ..Default::default()
                    }),
                    ControlOp::Create => Body::TerminalCreate(m::TerminalCreate::default()),
                    ControlOp::Resize { terminal } => Body::TerminalResize(m::TerminalResize {
                        terminal_id: t(terminal),
                        rows: 1,
                        cols: 1,
                        requester: 0,
                    }),
                    ControlOp::Close { terminal } => Body::TerminalClose(m::TerminalClose {
                        terminal_id: t(terminal),
                        requester: 0,
                    }),
                    ControlOp::History { terminal } => Body::HistoryRequest(m::HistoryRequest {
                        terminal_id: t(terminal),
                    }),
                };
                w.relay.handle_frame(conn, Frame::control(body), now);
            }
            Op::Raw { who, bytes } => {
                let conn = w.member(who).map_or(ConnId(1), |m| m.conn);
                w.relay.handle_message(conn, Bytes::from(bytes), now);
            }
            Op::HostDrop { session } => {
                if let Some(h) = w.hosts[usize::from(session)].take() {
                    w.relay.handle_disconnect(h, now);
                }
            }
            Op::HostResume { session } => {
                let s = usize::from(session);
                if w.hosts[s].is_none() {
                    let conn = w.connect();
                    let keys = KeySchedule::new(
                        &w.keys[s].secret(Role::Admin).expect("admin"),
                        w.keys[s].session_id(),
                    );
                    let req = Body::SessionResume(m::SessionResume {
                        session_id: keys.session_id().to_string(),
                        profile: None,
                    });
                    if w.admit(conn, req, &keys).is_some() {
                        w.hosts[s] = Some(conn);
                    }
                }
            }
            Op::Block { who, blocked } => {
                if let Some(m) = w.member(who) {
                    let c = m.conn;
                    if blocked {
                        w.relay.handle_blocked(c)
                    } else {
                        w.relay.handle_unblocked(c)
                    }
                }
            }
            Op::Advance { millis } => {
                w.now += Duration::from_millis(u64::from(millis % 400_000));
                w.relay.handle_timeout(w.now);
            }
        }
        w.check(allowed);
    }
});
