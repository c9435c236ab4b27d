//! The local command channel vectors of SPEC.md section 10.4: the framed
//! bytes of a request and a reply, checked in both directions.

#[path = "../src/vectors.rs"]
mod spec;

use taiku_proto::limits::{MAX_SHELL_REPLY_BYTES, MAX_SHELL_REQUEST_BYTES};
use taiku_proto::local;
use taiku_proto::message::{self as m, shell_request::Action};

fn expected(name: &str) -> (Vec<u8>, usize) {
    match name {
        "local/shell-request-status" => (
            local::encode(&m::ShellRequest {
                token: "0123456789abcdef".repeat(4),
                terminal_id: 0,
                action: Some(Action::SetStatus(m::AgentStatus {
                    agent: "claude".into(),
                    state: m::AgentState::WaitingForInput as i32,
                    detail: "needs review".into(),
                })),
            }),
            MAX_SHELL_REQUEST_BYTES,
        ),
        "local/shell-reply-wrong-terminal" => (
            local::encode(&m::ShellReply {
                refused: m::ShellRefusal::WrongTerminal as i32,
                terminal_id: 1,
                named: 2,
                people: Vec::new(),
            }),
            MAX_SHELL_REPLY_BYTES,
        ),
        other => panic!("no expectation for vector {other}"),
    }
}

#[test]
fn local_vectors_encode_and_decode_exactly() {
    let vectors = spec::vectors("local/");
    assert_eq!(vectors.len(), 2, "SPEC.md 10.4 lists two vectors");
    for v in vectors {
        let (want, max) = expected(v.name());
        let bytes = v.hex("bytes");
        assert_eq!(bytes, want, "{}: {}", v.name(), hex::encode(&want));
        let prefix: [u8; local::LENGTH_LEN] = bytes[..4].try_into().unwrap();
        assert_eq!(local::body_len(prefix, max), Ok(bytes.len() - 4));
        let body = &bytes[4..];
        match v.name() {
            "local/shell-request-status" => {
                let r: m::ShellRequest = local::decode(body).unwrap();
                assert_eq!(local::encode(&r), bytes);
            }
            _ => {
                let r: m::ShellReply = local::decode(body).unwrap();
                assert_eq!(local::encode(&r), bytes);
            }
        }
    }
}
