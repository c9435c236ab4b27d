//! Known-answer tests that must run through the crate's private code paths:
//! RFC 8439 and RFC 5869 vectors, every Wycheproof case, and the SPEC.md
//! vectors (which include derived keys that the public API never exposes).

use serde::Deserialize;
use taiku_proto::{Direction, Epoch, Frame, ParticipantId, Role, Seq, SessionId, TerminalId};

use crate::schedule::hkdf_sha256;
use crate::stream::{aead_open, aead_seal};
use crate::{
    Challenge, KeySchedule, Link, LinkSecret, MAX_DATA_SEQ, OpenError, Opened, SealError, Start,
    Verifier,
};

use taiku_proto::vectors as spec;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn seq_nonce(iv: &[u8]) -> Option<chacha20poly1305::Nonce> {
    let iv: [u8; 12] = iv.try_into().ok()?;
    Some(chacha20poly1305::Nonce::from(iv))
}

#[test]
fn rfc8439_section_2_8_2_aead() {
    let key: [u8; 32] = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        .try_into()
        .unwrap();
    let nonce = seq_nonce(&unhex("070000004041424344454647")).unwrap();
    let aad = unhex("50515253c0c1c2c3c4c5c6c7");
    let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let mut buf = plaintext.to_vec();
    let tag = aead_seal(&key, &nonce, &aad, &mut buf);
    assert_eq!(
        hex::encode(&buf),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
         1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116"
    );
    assert_eq!(hex::encode(tag), "1ae10b594f09e26a7e902ecbd0600691");
    aead_open(&key, &nonce, &aad, &mut buf, &tag).unwrap();
    assert_eq!(buf, plaintext);
}

#[test]
fn rfc5869_hkdf_sha256_cases_1_to_3() {
    let range = |a: u8, b: u8| (a..=b).collect::<Vec<u8>>();
    type Case = (Vec<u8>, Vec<u8>, Vec<u8>, &'static str);
    let cases: [Case; 3] = [
        (
            vec![0x0b; 22],
            range(0x00, 0x0c),
            range(0xf0, 0xf9),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            range(0x00, 0x4f),
            range(0x60, 0xaf),
            range(0xb0, 0xff),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09\
             da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            vec![0x0b; 22],
            vec![],
            vec![],
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ];
    for (ikm, salt, info, okm) in cases {
        let mut out = vec![0u8; okm.len() / 2];
        hkdf_sha256(&salt, &ikm, &info, &mut out).unwrap();
        assert_eq!(hex::encode(out), okm);
    }
}

#[derive(Deserialize)]
struct Suite<G> {
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    #[serde(rename = "testGroups")]
    groups: Vec<G>,
}

#[derive(Deserialize)]
struct AeadGroup {
    tests: Vec<AeadCase>,
}

#[derive(Deserialize)]
struct AeadCase {
    #[serde(rename = "tcId")]
    id: u32,
    key: String,
    iv: String,
    aad: String,
    msg: String,
    ct: String,
    tag: String,
    result: String,
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/wycheproof")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("wycheproof json")
}

#[test]
fn wycheproof_chacha20_poly1305_every_case() {
    let suite: Suite<AeadGroup> = load("chacha20_poly1305_test.json");
    let mut ran = 0;
    for case in suite.groups.iter().flat_map(|g| &g.tests) {
        ran += 1;
        let key: [u8; 32] = unhex(&case.key).try_into().expect("32-byte keys only");
        let aad = unhex(&case.aad);
        let msg = unhex(&case.msg);
        let tag = unhex(&case.tag);
        let Some(nonce) = seq_nonce(&unhex(&case.iv)) else {
            // Our nonce type is exactly 96 bits: other sizes cannot reach the AEAD.
            assert_eq!(case.result, "invalid", "tcId {}", case.id);
            continue;
        };
        let Ok(tag) = <[u8; 16]>::try_from(tag.as_slice()) else {
            assert_eq!(case.result, "invalid", "tcId {}", case.id);
            continue;
        };
        let mut buf = unhex(&case.ct);
        let opened = aead_open(&key, &nonce, &aad, &mut buf, &tag);
        match case.result.as_str() {
            "valid" => {
                opened.unwrap_or_else(|e| panic!("tcId {}: {e}", case.id));
                assert_eq!(buf, msg, "tcId {}", case.id);
                let mut sealed = msg.clone();
                let fresh = aead_seal(&key, &nonce, &aad, &mut sealed);
                assert_eq!((sealed, fresh), (unhex(&case.ct), tag), "tcId {}", case.id);
            }
            "invalid" => assert!(opened.is_err(), "tcId {} opened", case.id),
            other => panic!("tcId {}: unexpected result {other}", case.id),
        }
    }
    assert_eq!(ran, suite.number_of_tests);
}

#[derive(Deserialize)]
struct HkdfGroup {
    tests: Vec<HkdfCase>,
}

#[derive(Deserialize)]
struct HkdfCase {
    #[serde(rename = "tcId")]
    id: u32,
    ikm: String,
    salt: String,
    info: String,
    size: usize,
    okm: String,
    result: String,
}

#[test]
fn wycheproof_hkdf_sha256_every_case() {
    let suite: Suite<HkdfGroup> = load("hkdf_sha256_test.json");
    let mut ran = 0;
    for case in suite.groups.iter().flat_map(|g| &g.tests) {
        ran += 1;
        let mut out = vec![0u8; case.size];
        let result = hkdf_sha256(
            &unhex(&case.salt),
            &unhex(&case.ikm),
            &unhex(&case.info),
            &mut out,
        );
        match case.result.as_str() {
            "valid" => {
                result.unwrap_or_else(|_| panic!("tcId {}", case.id));
                assert_eq!(hex::encode(&out), case.okm, "tcId {}", case.id);
            }
            "invalid" => assert!(result.is_err(), "tcId {}", case.id),
            other => panic!("tcId {}: unexpected result {other}", case.id),
        }
    }
    assert_eq!(ran, suite.number_of_tests);
}

#[derive(Deserialize)]
struct EdGroup {
    #[serde(rename = "publicKey")]
    public_key: EdKey,
    tests: Vec<EdCase>,
}

#[derive(Deserialize)]
struct EdKey {
    pk: String,
}

#[derive(Deserialize)]
struct EdCase {
    #[serde(rename = "tcId")]
    id: u32,
    msg: String,
    sig: String,
    result: String,
}

#[test]
fn wycheproof_ed25519_every_case_through_the_relay_path() {
    let suite: Suite<EdGroup> = load("ed25519_test.json");
    let mut ran = 0;
    for group in &suite.groups {
        let verifier = Verifier::from_bytes(&unhex(&group.public_key.pk));
        for case in &group.tests {
            ran += 1;
            let result = verifier
                .as_ref()
                .ok_or(crate::AuthError::BadSignature)
                .and_then(|v| v.verify(&unhex(&case.msg), &unhex(&case.sig)));
            match case.result.as_str() {
                "valid" => result.unwrap_or_else(|e| panic!("tcId {}: {e}", case.id)),
                "invalid" => assert!(result.is_err(), "tcId {} verified", case.id),
                other => panic!("tcId {}: unexpected result {other}", case.id),
            }
        }
    }
    assert_eq!(ran, suite.number_of_tests);
}

#[test]
fn sequence_exhaustion_is_an_error_not_a_wrap() {
    let session = SessionId::new("spec-vector-0001").unwrap();
    let host = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [9; 32]), &session);
    let mut sealer = host
        .sealer(
            TerminalId(1),
            Direction::Output,
            ParticipantId::HOST,
            Epoch([1; 16]),
        )
        .unwrap();
    sealer.set_next_seq_for_test(MAX_DATA_SEQ);
    let last = sealer.seal(b"last").unwrap();
    assert_eq!(last.header().seq, Seq(MAX_DATA_SEQ));
    assert_eq!(sealer.seal(b"one more"), Err(SealError::SequenceExhausted));
    assert_eq!(sealer.next_seq(), Seq(u64::MAX));
    // The stream can still be closed, at the reserved last number.
    let fin = sealer.finish().unwrap();
    assert_eq!(fin.header().seq, Seq(u64::MAX));
    assert!(fin.header().fin);
    assert_eq!(sealer.seal(b"x"), Err(SealError::Finished));

    let mut opener = host
        .opener(TerminalId(1), Direction::Output, Start::Anywhere)
        .unwrap();
    assert!(matches!(opener.open(&last), Ok(Opened::Data(_))));
    assert_eq!(opener.open(&fin), Ok(Opened::End));

    // A data frame can never carry the number reserved for FIN: the FIN
    // frame with its flag cleared is refused before its tag is checked.
    let mut bytes = fin.as_bytes().to_vec();
    bytes[2 + 1 + 5] &= !0x01;
    let forged = taiku_proto::SealedFrame::from_bytes(bytes::Bytes::from(bytes), 1 << 20).unwrap();
    assert!(!forged.header().fin);
    let mut opener = host
        .opener(TerminalId(1), Direction::Output, Start::Anywhere)
        .unwrap();
    assert_eq!(
        opener.open(&forged),
        Err(OpenError::ReservedSeq(Seq(u64::MAX)))
    );
}

/// The fixed inputs of the SPEC.md section 10 vectors.
struct SpecInputs {
    session: SessionId,
    admin: LinkSecret,
    challenge: Challenge,
    output_epoch: Epoch,
    input_epoch: Epoch,
    terminal: TerminalId,
    input_participant: ParticipantId,
    output_plaintext: Vec<u8>,
    input_plaintext: Vec<u8>,
    admin_action: Vec<u8>,
}

fn spec_inputs(v: &spec::Vector) -> SpecInputs {
    let bytes = |key: &str| v.hex(key);
    SpecInputs {
        session: SessionId::new(v.get("session_id")).unwrap(),
        admin: LinkSecret::from_bytes(Role::Admin, bytes("admin_secret").try_into().unwrap()),
        challenge: Challenge::from_slice(&bytes("challenge")).unwrap(),
        output_epoch: Epoch(bytes("output_epoch").try_into().unwrap()),
        input_epoch: Epoch(bytes("input_epoch").try_into().unwrap()),
        terminal: TerminalId(v.get("terminal").parse().unwrap()),
        input_participant: ParticipantId(v.get("input_participant").parse().unwrap()),
        output_plaintext: bytes("output_plaintext"),
        input_plaintext: bytes("input_plaintext"),
        admin_action: bytes("admin_action"),
    }
}

/// Everything the SPEC vector states, computed by the code.
fn spec_outputs(inputs: &SpecInputs, origin: &str) -> Vec<(String, String)> {
    let host = KeySchedule::new(&inputs.admin, &inputs.session);
    let mut out: Vec<(String, String)> = Vec::new();
    let term = inputs.terminal;
    for (name, value) in host
        .spec_vector_values(term, &inputs.output_epoch, &inputs.input_epoch)
        .unwrap()
    {
        out.push((name.to_string(), hex::encode(value)));
    }
    let verifiers = host.verifiers().unwrap();
    for role in Role::ALL {
        let name = format!("{role:?}").to_lowercase();
        out.push((
            format!("{name}_verifier"),
            hex::encode(verifiers.get(role).to_bytes()),
        ));
        let link = Link::new(origin, inputs.session.clone(), host.secret(role).unwrap()).unwrap();
        out.push((format!("{name}_link"), link.to_url().to_string()));
        let schedule = KeySchedule::new(&host.secret(role).unwrap(), &inputs.session);
        let proof = schedule.prover().prove(&inputs.challenge);
        out.push((format!("{name}_proof"), hex::encode(proof.signature())));
    }
    let mut output = host
        .sealer(
            term,
            Direction::Output,
            ParticipantId::HOST,
            inputs.output_epoch,
        )
        .unwrap();
    let frame = output.seal(&inputs.output_plaintext).unwrap();
    out.push(("output_frame".into(), hex::encode(frame.as_bytes())));
    let fin = output.finish().unwrap();
    out.push(("end_frame".into(), hex::encode(fin.as_bytes())));
    let writer = KeySchedule::new(&host.secret(Role::Writer).unwrap(), &inputs.session);
    let mut input = writer
        .sealer(
            term,
            Direction::Input,
            inputs.input_participant,
            inputs.input_epoch,
        )
        .unwrap();
    let frame = input.seal(&inputs.input_plaintext).unwrap();
    out.push(("input_frame".into(), hex::encode(frame.as_bytes())));
    let signature = host.admin_action_key().unwrap().sign(&inputs.admin_action);
    out.push(("admin_action_signature".into(), hex::encode(signature)));
    out
}

#[test]
fn spec_key_schedule_vectors() {
    let vectors = spec::vectors("crypto/");
    for v in &vectors {
        let inputs = spec_inputs(v);
        for (name, value) in spec_outputs(&inputs, v.get("origin")) {
            let expected: String = v
                .get(&name)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            assert_eq!(value, expected, "SPEC.md vector {} field {name}", v.name());
        }
        // The sealed frames in the spec open with the keys the spec states.
        let host = KeySchedule::new(&inputs.admin, &inputs.session);
        let raw = bytes::Bytes::from(v.hex("output_frame"));
        let Ok(Frame::Sealed(frame)) =
            Frame::parse(raw, taiku_proto::limits::DEFAULT_MAX_FRAME_LEN)
        else {
            panic!("output_frame is a sealed frame");
        };
        let mut opener = host
            .opener(inputs.terminal, Direction::Output, Start::FromStart)
            .unwrap();
        assert_eq!(
            opener.open(&frame).unwrap(),
            Opened::Data(bytes::Bytes::from(inputs.output_plaintext.clone()))
        );
    }
}

/// Prints the SPEC.md vector block; run with `--ignored --nocapture` after
/// changing the schedule, then paste it into SPEC.md section 10.
#[test]
#[ignore]
fn print_spec_vectors() {
    let inputs = SpecInputs {
        session: SessionId::new("spec-vector-0001").unwrap(),
        admin: LinkSecret::from_bytes(Role::Admin, core::array::from_fn(|i| i as u8)),
        challenge: Challenge::from_slice(&core::array::from_fn::<u8, 32, _>(|i| 0xc0 + i as u8))
            .unwrap(),
        output_epoch: Epoch(core::array::from_fn(|i| 0x10 + i as u8)),
        input_epoch: Epoch(core::array::from_fn(|i| 0x20 + i as u8)),
        terminal: TerminalId(1),
        input_participant: ParticipantId(2),
        output_plaintext: b"echo hi\r\nhi\r\n".to_vec(),
        input_plaintext: b"ls\r".to_vec(),
        admin_action: b"take-over 1".to_vec(),
    };
    println!("name: crypto/schedule-1");
    println!("session_id: {}", inputs.session);
    println!("origin: https://relay.example");
    println!("admin_secret: {}", hex::encode(inputs.admin.expose()));
    println!("challenge: {}", hex::encode(inputs.challenge.as_bytes()));
    println!("output_epoch: {}", hex::encode(inputs.output_epoch.0));
    println!("input_epoch: {}", hex::encode(inputs.input_epoch.0));
    for (name, value) in spec_outputs(&inputs, "https://relay.example") {
        if value.len() > 64 && !value.starts_with("http") {
            println!("{name}:");
            for chunk in value.as_bytes().chunks(64) {
                println!("  {}", std::str::from_utf8(chunk).unwrap());
            }
        } else {
            println!("{name}: {value}");
        }
    }
}

/// SPEC.md section 2: the pinned link vector. The pin is the SHA-256 of
/// the SPKI, and the link prints and parses exactly.
#[test]
fn spec_pinned_link_vector() {
    let [v] = spec::vectors("link/pinned-1").try_into().unwrap();
    let pin = crate::relay_pin(&v.hex("spki"));
    assert_eq!(hex::encode(pin), v.get("pin"));
    let session = SessionId::new(v.get("session_id")).unwrap();
    let secret = LinkSecret::from_bytes(Role::Writer, v.hex("writer_secret").try_into().unwrap());
    let link = Link::new(v.get("origin"), session, secret)
        .unwrap()
        .with_relay_pin(pin)
        .unwrap();
    assert_eq!(*link.to_url(), v.get("link"));
    let parsed = Link::parse(v.get("link")).unwrap();
    assert_eq!(parsed.relay_pin(), Some(&pin));
    assert_eq!(parsed.origin(), v.get("origin"));
}

/// The inputs of vector `forward/sealed-1`.
struct ForwardInputs {
    session: SessionId,
    admin: LinkSecret,
    stream: TerminalId,
    participant: ParticipantId,
    port: u32,
    up_epoch: Epoch,
    down_epoch: Epoch,
    ticket: [u8; 16],
    request: Vec<u8>,
}

/// What vector `forward/sealed-1` states (SPEC.md 4.5, 6.8): the forward
/// root, both runs' keys, the run start up (ticket and stream id), a data
/// frame up, and the start down (naming the run up).
fn forward_outputs(inputs: &ForwardInputs) -> Vec<(String, String)> {
    let host = KeySchedule::new(&inputs.admin, &inputs.session);
    let mut out: Vec<(String, String)> = host
        .spec_forward_values(inputs.stream, &inputs.up_epoch, &inputs.down_epoch)
        .unwrap()
        .into_iter()
        .map(|(name, value)| (name.to_string(), hex::encode(value)))
        .collect();
    let writer = KeySchedule::new(&host.secret(Role::Writer).unwrap(), &inputs.session);
    let mut up = writer
        .sealer(
            inputs.stream,
            Direction::ForwardUp,
            inputs.participant,
            inputs.up_epoch,
        )
        .unwrap();
    let mut start = inputs.ticket.to_vec();
    start.extend_from_slice(&u64::from(inputs.stream.0).to_be_bytes());
    start.extend_from_slice(&inputs.port.to_be_bytes());
    out.push((
        "up_start_frame".into(),
        hex::encode(up.seal(&start).unwrap().as_bytes()),
    ));
    out.push((
        "up_frame".into(),
        hex::encode(up.seal(&inputs.request).unwrap().as_bytes()),
    ));
    let mut down = host
        .sealer(
            inputs.stream,
            Direction::ForwardDown,
            inputs.participant,
            inputs.down_epoch,
        )
        .unwrap();
    out.push((
        "down_start_frame".into(),
        hex::encode(down.seal(&inputs.up_epoch.0).unwrap().as_bytes()),
    ));
    out
}

fn forward_inputs() -> ForwardInputs {
    ForwardInputs {
        session: SessionId::new("spec-vector-0001").unwrap(),
        admin: LinkSecret::from_bytes(Role::Admin, core::array::from_fn(|i| i as u8)),
        stream: TerminalId(1),
        participant: ParticipantId(2),
        port: 3000,
        up_epoch: Epoch(core::array::from_fn(|i| 0x30 + i as u8)),
        down_epoch: Epoch(core::array::from_fn(|i| 0x40 + i as u8)),
        ticket: core::array::from_fn(|i| 0xa0 + i as u8),
        request: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    }
}

#[test]
fn spec_forward_vectors() {
    let vectors = spec::vectors("forward/");
    assert_eq!(vectors.len(), 1);
    let v = &vectors[0];
    let inputs = forward_inputs();
    assert_eq!(v.get("session_id"), inputs.session.as_str());
    assert_eq!(v.hex("admin_secret"), inputs.admin.expose());
    assert_eq!(v.get("stream"), "1");
    assert_eq!(v.get("participant"), "2");
    assert_eq!(v.get("port"), "3000");
    assert_eq!(v.hex("up_epoch"), inputs.up_epoch.0);
    assert_eq!(v.hex("down_epoch"), inputs.down_epoch.0);
    assert_eq!(v.hex("ticket"), inputs.ticket);
    assert_eq!(v.hex("request"), inputs.request);
    for (name, value) in forward_outputs(&inputs) {
        let expected: String = v
            .get(&name)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        assert_eq!(
            value, expected,
            "SPEC.md vector forward/sealed-1 field {name}"
        );
    }
    // A reader's link derives none of it.
    let host = KeySchedule::new(&inputs.admin, &inputs.session);
    let reader = KeySchedule::new(&host.secret(Role::Reader).unwrap(), &inputs.session);
    assert!(
        reader
            .opener(inputs.stream, Direction::ForwardDown, Start::FromStart)
            .is_err()
    );
}

/// Prints the `forward/sealed-1` block; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn print_forward_vectors() {
    let inputs = forward_inputs();
    println!("name: forward/sealed-1");
    println!("session_id: {}", inputs.session);
    println!("admin_secret: {}", hex::encode(inputs.admin.expose()));
    println!("stream: {}", inputs.stream.0);
    println!("participant: {}", inputs.participant.0);
    println!("port: {}", inputs.port);
    println!("up_epoch: {}", hex::encode(inputs.up_epoch.0));
    println!("down_epoch: {}", hex::encode(inputs.down_epoch.0));
    println!("ticket: {}", hex::encode(inputs.ticket));
    println!("request: {}", hex::encode(&inputs.request));
    for (name, value) in forward_outputs(&inputs) {
        if value.len() > 64 {
            println!("{name}:");
            for chunk in value.as_bytes().chunks(64) {
                println!("  {}", std::str::from_utf8(chunk).unwrap());
            }
        } else {
            println!("{name}: {value}");
        }
    }
}
