//! A whole session in one process, without a network: the host creates a
//! session and prints its links, a writer and a reader prove their roles to
//! the relay's verifiers, host output crosses a byte stream as sealed
//! frames and both participants decrypt it, the writer's keystrokes reach
//! the host, and the reader's cannot.
//!
//! Run with `cargo run --example walkthrough`.

use std::error::Error;

use bytes::BytesMut;
use rand_core::UnwrapErr;
use taiku_crypto::{Challenge, KeySchedule, Link, LinkSecret, Opened, Start, random_epoch};
use taiku_proto::{
    Direction, Frame, FrameDecoder, FrameEncoder, ParticipantId, Role, SessionId, TerminalId,
};
use taiku_session::access::{self, Action};

fn main() -> Result<(), Box<dyn Error>> {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let origin = "http://127.0.0.1:4433";

    // Host: a new session with a 256-bit admin secret.
    let mut id = [0u8; 12];
    rand_core::Rng::fill_bytes(&mut rng, &mut id);
    let session = SessionId::new(&hex_id(&id))?;
    let host = KeySchedule::new(&LinkSecret::generate_admin(&mut rng), &session);
    let verifiers = host.verifiers()?;
    println!("session {session}");
    println!("relay stores only the verifiers:");
    for role in Role::ALL {
        println!("  {role:?}: {:?}", verifiers.get(role));
    }
    let writer_link = Link::new(origin, session.clone(), host.secret(Role::Writer)?)?;
    let reader_link = Link::new(origin, session.clone(), host.secret(Role::Reader)?)?;
    println!("writer link: {}", *writer_link.to_url());
    println!("reader link: {}", *reader_link.to_url());
    println!("the relay is sent only: {}", writer_link.relay_url());

    // Participants parse their links and answer fresh relay challenges.
    let writer = KeySchedule::new(Link::parse(&writer_link.to_url())?.secret(), &session);
    let reader = KeySchedule::new(Link::parse(&reader_link.to_url())?.secret(), &session);
    for (name, keys) in [("writer", &writer), ("reader", &reader)] {
        let challenge = Challenge::random(&mut rng);
        let role = verifiers.check(&session, &challenge, &keys.prover().prove(&challenge))?;
        println!("relay admitted the {name} as {role:?}");
    }

    // Host output: sealed, framed, split into odd-sized network reads.
    let term = TerminalId(1);
    let mut output = host.sealer(
        term,
        Direction::Output,
        ParticipantId::HOST,
        random_epoch(&mut rng),
    )?;
    let mut wire = BytesMut::new();
    let encoder = FrameEncoder::new();
    for line in [&b"$ echo hello\r\n"[..], b"hello\r\n", b"$ "] {
        encoder.encode(&Frame::Sealed(output.seal(line)?), &mut wire)?;
    }
    for (name, keys) in [("writer", &writer), ("reader", &reader)] {
        let mut decoder = FrameDecoder::new();
        let mut opener = keys.opener(term, Direction::Output, Start::FromStart)?;
        let mut screen = Vec::new();
        for chunk in wire.chunks(7) {
            decoder.push(chunk);
            while let Some(Frame::Sealed(frame)) = decoder.next_frame()? {
                if let Opened::Data(bytes) = opener.open(&frame)? {
                    screen.extend_from_slice(&bytes);
                }
            }
        }
        println!("{name} sees: {:?}", String::from_utf8_lossy(&screen));
    }

    // The writer types; the host checks ownership and opens the input.
    let writer_id = ParticipantId(1);
    let host_owned = access::Control::new(ParticipantId::HOST);
    let handed = access::Control {
        controller: writer_id,
        ..host_owned
    };
    println!(
        "writer may type into the host's terminal before handoff: {:?}, after: {:?}",
        access::check(Role::Writer, writer_id, Action::Input, Some(&host_owned)),
        access::check(Role::Writer, writer_id, Action::Input, Some(&handed)),
    );
    let mut input = writer.sealer(term, Direction::Input, writer_id, random_epoch(&mut rng))?;
    let keystrokes = input.seal(b"ls\r")?;
    let mut host_input = host
        .opener(term, Direction::Input, Start::FromStart)?
        .expect_participant(writer_id);
    println!(
        "host receives from the writer: {:?}",
        host_input.open(&keystrokes)?
    );

    // The reader has no input key at all.
    match reader.sealer(
        term,
        Direction::Input,
        ParticipantId(2),
        random_epoch(&mut rng),
    ) {
        Ok(_) => return Err("a reader produced an input stream".into()),
        Err(refusal) => println!("reader cannot type: {refusal}"),
    }
    Ok(())
}

/// A session id from random bytes, in the link alphabet.
fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
