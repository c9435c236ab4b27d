//! An in-memory harness around one relay: virtual time, peers that hold
//! real keys, and per-connection inboxes of what the relay sent.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand_core::SeedableRng;
use taiku_crypto::{KeySchedule, LinkSecret, StreamSealer};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{
    Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId,
};
use taiku_session::admission;
use taiku_session::relay::{ConnId, Event, Relay, RelayConfig, Transmit};

pub type Rng = chacha20::ChaCha20Rng;

pub struct Harness {
    pub relay: Relay<Rng>,
    pub now: Instant,
    pub inbox: BTreeMap<ConnId, Vec<Frame>>,
    pub closed: BTreeSet<ConnId>,
    pub events: Vec<Event>,
    next_conn: u64,
    pub session: SessionId,
    pub host_keys: KeySchedule,
    pub host: ConnId,
}

pub fn profile(name: &str) -> Option<m::Profile> {
    Some(m::Profile {
        name: name.into(),
        device_label: "test".into(),
    })
}

impl Harness {
    /// A relay with one session created by a host on connection 1.
    pub fn new(config: RelayConfig, options: taiku_session::SessionOptions) -> Self {
        let session = SessionId::new("harness-session-1").unwrap();
        let host_keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [42; 32]), &session);
        let mut h = Harness {
            relay: Relay::new(config, Rng::from_seed([1; 32])),
            now: Instant::now(),
            inbox: BTreeMap::new(),
            closed: BTreeSet::new(),
            events: Vec::new(),
            next_conn: 1,
            session: session.clone(),
            host_keys,
            host: ConnId(0),
        };
        let keys = KeySchedule::new(&h.host_keys.secret(Role::Admin).unwrap(), &session);
        h.host = h.create_session(&keys, options);
        h
    }

    /// A new host connection creates the session of `keys`.
    pub fn create_session(
        &mut self,
        keys: &KeySchedule,
        options: taiku_session::SessionOptions,
    ) -> ConnId {
        let host = self.connect();
        let create = admission::session_create(keys, options, profile("host")).unwrap();
        let accepted = self.admit(host, create, &keys.prover());
        assert!(
            matches!(accepted, Ok(p) if p == ParticipantId::HOST),
            "{accepted:?}"
        );
        self.take(host);
        host
    }

    pub fn default_options() -> taiku_session::SessionOptions {
        taiku_session::SessionOptions::default()
    }

    pub fn connect(&mut self) -> ConnId {
        self.next_conn += 1;
        let conn = ConnId(self.next_conn);
        self.relay.handle_connect(conn, self.now);
        conn
    }

    pub fn pump(&mut self) {
        while let Some(t) = self.relay.poll_transmit() {
            match t {
                Transmit::Send { conn, frame } => self.inbox.entry(conn).or_default().push(frame),
                Transmit::Close { conn } => {
                    self.closed.insert(conn);
                }
            }
        }
        while let Some(e) = self.relay.poll_event() {
            self.events.push(e);
        }
    }

    pub fn take(&mut self, conn: ConnId) -> Vec<Frame> {
        self.pump();
        self.inbox.remove(&conn).unwrap_or_default()
    }

    pub fn take_controls(&mut self, conn: ConnId) -> Vec<Body> {
        self.take(conn)
            .into_iter()
            .filter_map(|f| match f {
                Frame::Control(m::Control { body }) => body,
                Frame::Sealed(_) => None,
            })
            .collect()
    }

    pub fn send(&mut self, conn: ConnId, body: Body) {
        self.relay
            .handle_frame(conn, Frame::control(body), self.now);
        self.pump();
    }

    pub fn send_sealed(&mut self, conn: ConnId, frame: SealedFrame) {
        self.relay
            .handle_frame(conn, Frame::Sealed(frame), self.now);
        self.pump();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.relay.handle_timeout(self.now);
        self.pump();
    }

    /// Run an admission: request, challenge, proof. Returns the assigned
    /// participant id or the refusal reason.
    pub fn admit(
        &mut self,
        conn: ConnId,
        request: Body,
        prover: &taiku_crypto::Prover,
    ) -> Result<ParticipantId, i32> {
        self.take(conn);
        self.send(conn, request);
        let frames = self.take_controls(conn);
        let first = frames.first().expect("an answer to the request");
        let challenge = match (admission::challenge(first), admission::join_result(first)) {
            (Some(challenge), _) => challenge,
            (None, Some(Err(refused))) => return Err(refused as i32),
            _ => panic!("expected a challenge, got {first:?}"),
        };
        self.send(conn, admission::join_proof(prover, &challenge));
        let mut result = None;
        let mut rest = Vec::new();
        for frame in self.take(conn) {
            match &frame {
                Frame::Control(m::Control { body: Some(body) }) if result.is_none() => {
                    match admission::join_result(body) {
                        Some(r) => result = Some(r.map(|a| a.participant)),
                        None => rest.push(frame),
                    }
                }
                _ => rest.push(frame),
            }
        }
        // Put the rest back for the test to inspect.
        self.inbox.insert(conn, rest);
        result.expect("no join result").map_err(|r| r as i32)
    }

    pub fn keys(&self, role: Role) -> KeySchedule {
        KeySchedule::new(&self.host_keys.secret(role).unwrap(), &self.session)
    }

    /// Join with `role`'s link; panics on refusal. Clears the joiner's inbox.
    pub fn join(&mut self, role: Role, name: &str) -> (ConnId, ParticipantId) {
        let conn = self.connect();
        let keys = self.keys(role);
        let req = Body::JoinRequest(m::JoinRequest {
            session_id: self.session.to_string(),
            profile: profile(name),
        });
        let id = self
            .admit(conn, req, &keys.prover())
            .expect("join accepted");
        self.take(conn);
        (conn, id)
    }

    /// The host opens a terminal owned by `owner`.
    pub fn open_terminal(&mut self, id: u32, owner: ParticipantId) -> TerminalId {
        self.send(
            self.host,
            Body::TerminalOpened(m::TerminalOpened {
                terminal_id: id,
                owner: owner.0,
                rows: 24,
                cols: 80,
                label: String::new(),
            }),
        );
        TerminalId(id)
    }

    pub fn output_sealer(&self, terminal: TerminalId, epoch: u8) -> StreamSealer {
        self.host_keys
            .sealer(
                terminal,
                Direction::Output,
                ParticipantId::HOST,
                Epoch([epoch; 16]),
            )
            .unwrap()
    }

    pub fn input_sealer(
        &self,
        role: Role,
        terminal: TerminalId,
        sender: ParticipantId,
        epoch: u8,
    ) -> StreamSealer {
        self.keys(role)
            .sealer(terminal, Direction::Input, sender, Epoch([epoch; 16]))
            .unwrap()
    }
}

/// The `Refused` reasons among `bodies`.
pub fn refusals(bodies: &[Body]) -> Vec<(u32, i32)> {
    bodies
        .iter()
        .filter_map(|b| match b {
            Body::Refused(r) => Some((r.action, r.reason)),
            _ => None,
        })
        .collect()
}

/// The sealed frames among `frames`.
pub fn sealed(frames: &[Frame]) -> Vec<SealedFrame> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Sealed(s) => Some(s.clone()),
            Frame::Control(_) => None,
        })
        .collect()
}
