//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`:
//! the SPEC.md vectors, genuine frames and links made with the library,
//! and deterministic pseudo-random seeds for the structured targets.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus`

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use rand_core::{Rng, SeedableRng};
use taiku_crypto::{KeySchedule, Link, LinkSecret};
use taiku_proto::message::{self as m, control::Body};
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, SessionId, TerminalId};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every `key: value` field of every ```vector block in SPEC.md, by name.
fn spec_vectors() -> Vec<Vec<(String, String)>> {
    let text = fs::read_to_string(root().join("../SPEC.md")).expect("SPEC.md");
    let mut out = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        match current.as_mut() {
            None if line.trim() == "```vector" => current = Some(Vec::new()),
            None => {}
            Some(_) if line.trim() == "```" => out.push(current.take().unwrap_or_default()),
            Some(fields) if line.starts_with(char::is_whitespace) => {
                if let Some(last) = fields.last_mut() {
                    last.1.push_str(line.trim());
                }
            }
            Some(fields) => {
                if let Some((k, v)) = line.split_once(':') {
                    fields.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
        }
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

struct Corpus {
    dir: PathBuf,
    n: usize,
}

impl Corpus {
    fn new(target: &str) -> Corpus {
        let dir = root().join("corpus").join(target);
        fs::create_dir_all(&dir).expect("corpus dir");
        Corpus { dir, n: 0 }
    }

    fn add(&mut self, bytes: &[u8]) {
        self.n += 1;
        fs::write(self.dir.join(format!("seed-{:03}", self.n)), bytes).expect("write seed");
    }
}

fn control(body: Body) -> Vec<u8> {
    m::Control { body: Some(body) }.encode_to_vec()
}

fn main() {
    let vectors = spec_vectors();
    let field = |v: &Vec<(String, String)>, k: &str| {
        v.iter()
            .find(|(key, _)| key == k)
            .map(|(_, val)| val.clone())
    };

    // frame_decoder: a split byte, then SPEC frames and sealed frames.
    let mut frames = Corpus::new("frame_decoder");
    let mut control_bodies = Corpus::new("control_message");
    let mut links = Corpus::new("link_parse");
    let mut sealed = Corpus::new("sealed_open");
    for v in &vectors {
        for key in ["frame", "output_frame", "end_frame", "input_frame"] {
            if let Some(bytes) = field(v, key).as_deref().and_then(unhex) {
                for split in [1u8, 3, 64] {
                    let mut seed = vec![split];
                    seed.extend_from_slice(&bytes);
                    frames.add(&seed);
                }
                sealed.add(&bytes);
                if let Ok(Frame::Control(c)) = Frame::parse(Bytes::from(bytes), 1 << 20) {
                    control_bodies.add(&c.encode_to_vec());
                }
            }
        }
        for key in ["reader_link", "writer_link", "admin_link"] {
            if let Some(link) = field(v, key) {
                links.add(link.as_bytes());
                links.add(link.replacen("#1", "#2", 1).as_bytes());
                links.add(&link.as_bytes()[..link.len() - 1]);
            }
        }
    }
    // A representative of the other control messages.
    for body in [
        Body::SessionCreate(m::SessionCreate {
            session_id: "fuzz-session-0".into(),
            ..Default::default()
        }),
        Body::Challenge(m::Challenge {
            nonce: Bytes::from(vec![7; 32]),
        }),
        Body::JoinProof(m::JoinProof {
            role: 2,
            signature: Bytes::from(vec![1; 64]),
        }),
        Body::ReplayStart(m::ReplayStart {
            terminal_id: 1,
            runs: vec![m::ReplayRun {
                epoch: Bytes::from(vec![1; 16]),
                first_seq: 3,
                frame_count: 2,
            }],
            complete: false,
        }),
        Body::ControlChanged(m::ControlChanged {
            terminal_id: 1,
            owner: 1,
            controller: 2,
            reason: 5,
            requester: 2,
        }),
        Body::Layout(m::Layout {
            participant_id: 1,
            tiles: vec![m::Tile {
                terminal_id: 1,
                x: 0,
                y: 0,
                w: 2,
                h: 1,
            }],
        }),
    ] {
        control_bodies.add(&control(body));
    }
    // Genuine frames of the key the sealed_open target uses.
    let session = SessionId::new("spec-vector-0001").expect("id");
    let keys = KeySchedule::new(
        &LinkSecret::from_bytes(Role::Admin, core::array::from_fn(|i| i as u8)),
        &session,
    );
    let mut sealer = keys
        .sealer(
            TerminalId(1),
            Direction::Output,
            ParticipantId::HOST,
            Epoch(core::array::from_fn(|i| 0x10 + i as u8)),
        )
        .expect("sealer");
    for frame in [
        sealer.seal(b"echo hi\r\nhi\r\n").expect("seal"),
        sealer.finish().expect("fin"),
    ] {
        sealed.add(frame.as_bytes());
    }
    for role in Role::ALL {
        let link = Link::new(
            "http://127.0.0.1:4433",
            session.clone(),
            keys.secret(role).expect("role"),
        )
        .expect("link");
        links.add(link.to_url().as_bytes());
    }

    // Structured targets: deterministic pseudo-random operation streams.
    let mut rng = chacha20::ChaCha20Rng::from_seed([42; 32]);
    for target in [
        "relay_machine",
        "host_machine",
        "participant_machine",
        "screen_model",
        "shell_request",
    ] {
        let mut corpus = Corpus::new(target);
        for len in [16usize, 64, 256, 1024, 4096] {
            for _ in 0..4 {
                let mut seed = vec![0u8; len];
                rng.fill_bytes(&mut seed);
                corpus.add(&seed);
            }
        }
    }
    // screen_model: real terminal output too (the bench's recording).
    let mut screens = Corpus::new("screen_model");
    let session = include_bytes!("../../benches/fixtures/session.raw");
    for chunk in session.chunks(4096).step_by(8) {
        let mut seed = vec![23u8, 79];
        seed.extend_from_slice(chunk);
        screens.add(&seed);
    }
    // http_request: the request heads a browser and a client send, and
    // near misses.
    let mut http = Corpus::new("http_request");
    for head in [
        "GET /s/abcdefgh12345678 HTTP/1.1\r\nHost: relay.example\r\nAccept: text/html\r\n\r\n",
        "HEAD /s/abcdefgh12345678?x=1 HTTP/1.1\r\nHost: relay.example\r\n\r\n",
        "GET /assets/app-1a2b.js HTTP/1.1\r\nHost: relay.example\r\n\r\n",
        "GET /assets/img/logo.svg HTTP/1.0\r\n\r\n",
        "GET /assets/../Cargo.toml HTTP/1.1\r\n\r\n",
        "GET /assets/%2e%2e/x HTTP/1.1\r\n\r\n",
        "POST /s/abcdefgh12345678 HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: relay.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        "GET /ws HTTP/1.1\r\n\r\n",
    ] {
        http.add(head.as_bytes());
    }
    println!(
        "corpus written: frame_decoder {}, control_message {}, link_parse {}, sealed_open {}, \
         http_request {}",
        frames.n, control_bodies.n, links.n, sealed.n, http.n
    );
}
