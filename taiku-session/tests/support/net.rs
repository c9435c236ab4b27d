//! The whole system in memory: a relay, a host and participant machines
//! on a virtual network with a virtual clock, recording who sent what.
//! Shared by sim.rs and shell_commands.rs.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::SeedableRng;
use taiku_crypto::Link;
use taiku_proto::message as m;
use taiku_proto::{Frame, ParticipantId, Role, TerminalId};
use taiku_session::host::{Host, HostConfig, HostEvent, ShellToken};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::{ConnId, Relay, RelayConfig, Transmit};

pub type Rng64 = chacha20::ChaCha20Rng;

pub const ORIGIN: &str = "https://relay.example";

pub struct Peer {
    pub machine: Participant<Rng64>,
    pub conn: Option<ConnId>,
    /// Decrypted output per terminal since the last (re)join.
    pub screens: BTreeMap<TerminalId, Vec<u8>>,
    pub events: Vec<ParticipantEvent>,
}

pub struct Net {
    pub now: Instant,
    pub relay: Relay<Rng64>,
    pub host: Host<Rng64>,
    pub host_conn: Option<ConnId>,
    pub peers: Vec<Peer>,
    pub next_conn: u64,
    /// What the host's PTYs produced, per terminal.
    pub produced: BTreeMap<TerminalId, Vec<u8>>,
    pub host_events: Vec<HostEvent>,
    /// Every frame the relay received or sent, encoded.
    pub relay_saw: Vec<Bytes>,
    /// (sender, receiver, kind) of every frame, for checking against the
    /// SPEC's state tables.
    pub transcript: Vec<(String, String, String)>,
    /// Every frame the relay handed the host, for replaying.
    pub host_got: Vec<Frame>,
    /// Frames for connections that are neither the host's nor a peer's
    /// (HTTP tunnel connections), and those closed.
    pub others: BTreeMap<ConnId, Vec<Frame>>,
    pub others_closed: Vec<ConnId>,
    /// Every frame the relay sent, with its receiver ("host", "peer0").
    pub relay_sent: Vec<(String, Frame)>,
}

impl Net {
    pub fn new(seed: u8) -> Self {
        let options = taiku_session::SessionOptions::default();
        let host = Host::generate(HostConfig::default(), options, Rng64::from_seed([seed; 32]));
        Net::with(host, RelayConfig::default(), seed)
    }

    pub fn with(host: Host<Rng64>, relay: RelayConfig, seed: u8) -> Self {
        let now = Instant::now();
        let mut net = Net {
            now,
            relay: Relay::new(relay, Rng64::from_seed([seed.wrapping_add(1); 32])),
            host,
            host_conn: None,
            peers: Vec::new(),
            next_conn: 0,
            produced: BTreeMap::new(),
            host_events: Vec::new(),
            relay_saw: Vec::new(),
            transcript: Vec::new(),
            host_got: Vec::new(),
            others: BTreeMap::new(),
            others_closed: Vec::new(),
            relay_sent: Vec::new(),
        };
        net.connect_host();
        net
    }

    pub fn conn(&mut self) -> ConnId {
        self.next_conn += 1;
        let c = ConnId(self.next_conn);
        self.relay.handle_connect(c, self.now);
        c
    }

    pub fn connect_host(&mut self) {
        let c = self.conn();
        self.host_conn = Some(c);
        self.host.connect(self.now);
        self.run();
    }

    pub fn drop_host(&mut self) {
        if let Some(c) = self.host_conn.take() {
            self.relay.handle_disconnect(c, self.now);
            self.host.handle_disconnect(self.now);
            self.run();
        }
    }

    pub fn add_peer(&mut self, role: Role, name: &str) -> usize {
        let link = Link::parse(&self.host.link(ORIGIN, role).unwrap().to_url()).unwrap();
        let config = ParticipantConfig::default().with_name(name);
        let seed = 100 + self.peers.len() as u8;
        self.peers.push(Peer {
            machine: Participant::new(config, &link, Rng64::from_seed([seed; 32])),
            conn: None,
            screens: BTreeMap::new(),
            events: Vec::new(),
        });
        let i = self.peers.len() - 1;
        self.connect_peer(i);
        i
    }

    pub fn connect_peer(&mut self, i: usize) {
        let c = self.conn();
        self.peers[i].conn = Some(c);
        self.peers[i].screens.clear();
        self.peers[i].machine.connect(self.now);
        self.run();
    }

    pub fn drop_peer(&mut self, i: usize) {
        if let Some(c) = self.peers[i].conn.take() {
            self.relay.handle_disconnect(c, self.now);
            self.peers[i].machine.handle_disconnect(self.now);
            self.run();
        }
    }

    pub fn id(&self, i: usize) -> ParticipantId {
        self.peers[i].machine.view().me.expect("joined").0
    }

    pub fn record(&mut self, from: &str, to: &str, frame: &Frame) {
        self.relay_saw.push(frame.to_bytes(1 << 20).unwrap());
        let kind = match frame {
            Frame::Sealed(s) => format!("sealed {:?}", s.header().direction),
            Frame::Control(m::Control { body: Some(b) }) => {
                format!("{b:?}").split('(').next().unwrap_or("").to_string()
            }
            Frame::Control(m::Control { body: None }) => "empty".into(),
        };
        self.transcript.push((from.into(), to.into(), kind));
    }

    pub fn who(&self, conn: ConnId) -> String {
        if Some(conn) == self.host_conn {
            "host".into()
        } else {
            self.peers
                .iter()
                .position(|p| p.conn == Some(conn))
                .map_or("?".into(), |i| format!("peer{i}"))
        }
    }

    /// The kinds of frames between `a` and `b`, in order.
    pub fn kinds(&self, from: &str, to: &str) -> Vec<&str> {
        self.transcript
            .iter()
            .filter(|(f, t, _)| f == from && t == to)
            .map(|(_, _, k)| k.as_str())
            .collect()
    }

    /// Move frames until nothing moves.
    pub fn run(&mut self) {
        loop {
            let mut moved = false;
            if let Some(hc) = self.host_conn {
                while let Some(f) = self.host.poll_transmit() {
                    self.record("host", "relay", &f);
                    self.relay.handle_frame(hc, f, self.now);
                    moved = true;
                }
            }
            for i in 0..self.peers.len() {
                let Some(pc) = self.peers[i].conn else {
                    continue;
                };
                while let Some(f) = self.peers[i].machine.poll_transmit() {
                    self.record(&format!("peer{i}"), "relay", &f);
                    self.relay.handle_frame(pc, f, self.now);
                    moved = true;
                }
            }
            while let Some(t) = self.relay.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Send { conn, frame } => {
                        let to = self.who(conn);
                        self.record("relay", &to, &frame);
                        self.relay_sent.push((to.clone(), frame.clone()));
                        if Some(conn) == self.host_conn {
                            self.host_got.push(frame.clone());
                            self.host.handle_frame(frame, self.now);
                        } else if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn))
                        {
                            p.machine.handle_frame(frame, self.now);
                        } else {
                            self.others.entry(conn).or_default().push(frame);
                        }
                    }
                    Transmit::Close { conn } => {
                        if Some(conn) == self.host_conn {
                            self.host_conn = None;
                            self.host.handle_disconnect(self.now);
                        } else if let Some(p) = self.peers.iter_mut().find(|p| p.conn == Some(conn))
                        {
                            p.conn = None;
                            p.machine.handle_disconnect(self.now);
                        } else {
                            self.others_closed.push(conn);
                        }
                    }
                }
            }
            while let Some(e) = self.host.poll_event() {
                self.host_events.push(e);
            }
            for p in &mut self.peers {
                while let Some(e) = p.machine.poll_event() {
                    if let ParticipantEvent::Output { term, bytes } = &e {
                        p.screens.entry(*term).or_default().extend_from_slice(bytes);
                    }
                    p.events.push(e);
                }
            }
            while self.relay.poll_event().is_some() {}
            if !moved {
                break;
            }
        }
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.relay.poll_timeout(), self.host.poll_timeout()]
                .into_iter()
                .chain(self.peers.iter().map(|p| p.machine.poll_timeout()))
                .flatten()
                .filter(|t| *t <= end)
                .min();
            let Some(t) = next else { break };
            self.now = t.max(self.now);
            self.tick();
        }
        self.now = end;
        self.tick();
    }

    pub fn tick(&mut self) {
        self.relay.handle_timeout(self.now);
        self.host.handle_timeout(self.now);
        for p in &mut self.peers {
            p.machine.handle_timeout(self.now);
        }
        self.run();
    }

    pub fn open(&mut self, owner: ParticipantId) -> (TerminalId, ShellToken) {
        let (t, token) = self
            .host
            .open_terminal(owner, 24, 80, "sh", self.now)
            .unwrap();
        self.produced.insert(t, Vec::new());
        self.run();
        (t, token)
    }

    pub fn output(&mut self, t: TerminalId, bytes: &[u8]) {
        self.host.handle_output(t, bytes, self.now).unwrap();
        self.produced.get_mut(&t).unwrap().extend_from_slice(bytes);
        self.run();
    }

    pub fn inputs(&self) -> Vec<(TerminalId, ParticipantId, Vec<u8>)> {
        self.host_events
            .iter()
            .filter_map(|e| match e {
                HostEvent::Input { term, from, bytes } => Some((*term, *from, bytes.to_vec())),
                _ => None,
            })
            .collect()
    }

    pub fn assert_screens_match(&self) {
        for (i, p) in self.peers.iter().enumerate() {
            if p.conn.is_none() {
                continue;
            }
            for (t, produced) in &self.produced {
                let got = p.screens.get(t).cloned().unwrap_or_default();
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(produced),
                    "peer {i} terminal {t}"
                );
            }
        }
    }

    /// No secret, key, token or marked plaintext in anything the relay saw.
    pub fn assert_relay_blind(&self, secrets: &[Vec<u8>]) {
        for frame in &self.relay_saw {
            for s in secrets {
                assert!(
                    !frame.windows(s.len()).any(|w| w == s.as_slice()),
                    "the relay saw a secret or plaintext"
                );
            }
        }
    }
}
