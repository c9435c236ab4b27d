//! What must fail, fails with the exact error: roles, proofs, links and
//! tampered, replayed, reordered or missing frames.

use bytes::Bytes;
use rand_core::SeedableRng;
use taiku_crypto::{
    AuthError, Challenge, KeySchedule, Link, LinkError, LinkSecret, OpenError, Opened, Proof,
    RoleNotHeld, SealError, Start, Verifiers, random_epoch,
};
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::{
    Direction, Epoch, ParticipantId, Role, SealedFrame, Seq, SessionId, SessionIdError, TerminalId,
};

fn rng(seed: u8) -> chacha20::ChaCha20Rng {
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}

fn session(id: &str) -> SessionId {
    SessionId::new(id).unwrap()
}

fn host(seed: u8, sid: &SessionId) -> KeySchedule {
    KeySchedule::new(&LinkSecret::generate_admin(&mut rng(seed)), sid)
}

fn as_role(host: &KeySchedule, role: Role) -> KeySchedule {
    KeySchedule::new(&host.secret(role).unwrap(), host.session_id())
}

const T1: TerminalId = TerminalId(1);

#[test]
fn no_link_reveals_a_higher_one() {
    let sid = session("session-aaaa");
    let admin = host(1, &sid);
    let writer = as_role(&admin, Role::Writer);
    let reader = as_role(&admin, Role::Reader);
    assert_eq!(
        writer.secret(Role::Admin).unwrap_err(),
        RoleNotHeld {
            have: Role::Writer,
            want: Role::Admin
        }
    );
    assert_eq!(
        reader.secret(Role::Writer).unwrap_err(),
        RoleNotHeld {
            have: Role::Reader,
            want: Role::Writer
        }
    );
    assert!(reader.verifiers().is_err() && writer.verifiers().is_err());
    assert!(reader.admin_action_key().is_err() && writer.admin_action_key().is_err());
    // Downward derivation agrees with the host's.
    assert_eq!(
        writer.secret(Role::Reader).unwrap(),
        admin.secret(Role::Reader).unwrap()
    );
    // The same admin secret under another session id gives other secrets.
    let other = KeySchedule::new(
        &admin.secret(Role::Admin).unwrap(),
        &session("session-bbbb"),
    );
    assert_ne!(
        other.secret(Role::Writer).unwrap(),
        admin.secret(Role::Writer).unwrap()
    );
}

#[test]
fn reader_cannot_open_or_forge_input() {
    let sid = session("session-aaaa");
    let admin = host(2, &sid);
    let reader = as_role(&admin, Role::Reader);
    let want_input = RoleNotHeld {
        have: Role::Reader,
        want: Role::Writer,
    };
    assert_eq!(
        reader
            .opener(T1, Direction::Input, Start::FromStart)
            .unwrap_err(),
        want_input
    );
    assert_eq!(
        reader
            .sealer(T1, Direction::Input, ParticipantId(3), Epoch([1; 16]))
            .unwrap_err(),
        want_input
    );
    // A reader sealing "input" with the key it has (the output root) does
    // not open at the host as input.
    let mut forged = reader
        .sealer(T1, Direction::Output, ParticipantId(3), Epoch([1; 16]))
        .unwrap();
    let frame = forged.seal(b"rm -rf ~\r").unwrap();
    let mut raw = frame.as_bytes().to_vec();
    raw[3 + 4] = Direction::Input.to_byte(); // claim the input direction
    let spoofed = SealedFrame::from_bytes(Bytes::from(raw), DEFAULT_MAX_FRAME_LEN).unwrap();
    let mut host_input = admin
        .opener(T1, Direction::Input, Start::FromStart)
        .unwrap();
    assert_eq!(host_input.open(&spoofed), Err(OpenError::Forged));
}

#[test]
fn proofs_bind_session_challenge_and_role() {
    let sid_a = session("session-aaaa");
    let sid_b = session("session-bbbb");
    let host_a = host(3, &sid_a);
    let host_b = KeySchedule::new(&host_a.secret(Role::Admin).unwrap(), &sid_b);
    let verifiers_a = host_a.verifiers().unwrap();
    let verifiers_b = host_b.verifiers().unwrap();
    let mut r = rng(4);
    let c1 = Challenge::random(&mut r);
    let c2 = Challenge::random(&mut r);

    let writer_a = as_role(&host_a, Role::Writer).prover();
    let proof = writer_a.prove(&c1);
    assert_eq!(verifiers_a.check(&sid_a, &c1, &proof), Ok(Role::Writer));
    // The next challenge.
    assert_eq!(
        verifiers_a.check(&sid_a, &c2, &proof),
        Err(AuthError::BadSignature)
    );
    // Another session, even one with the same admin secret.
    assert_eq!(
        verifiers_b.check(&sid_b, &c1, &proof),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        verifiers_a.check(&sid_b, &c1, &proof),
        Err(AuthError::BadSignature)
    );

    // A reader's signature relabelled as writer never yields the writer role.
    let reader_proof = as_role(&host_a, Role::Reader).prover().prove(&c1);
    let relabelled = Proof::from_wire(Role::Writer.to_proto(), reader_proof.signature()).unwrap();
    assert_eq!(
        verifiers_a.check(&sid_a, &c1, &relabelled),
        Err(AuthError::BadSignature)
    );
    let relabelled = Proof::from_wire(Role::Admin.to_proto(), reader_proof.signature()).unwrap();
    assert_eq!(
        verifiers_a.check(&sid_a, &c1, &relabelled),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        verifiers_a.check(&sid_a, &c1, &reader_proof),
        Ok(Role::Reader)
    );
}

#[test]
fn proof_wire_errors() {
    assert_eq!(Proof::from_wire(0, &[0; 64]), Err(AuthError::UnknownRole));
    assert_eq!(Proof::from_wire(4, &[0; 64]), Err(AuthError::UnknownRole));
    assert_eq!(
        Proof::from_wire(1, &[0; 63]),
        Err(AuthError::SignatureLength)
    );
    assert_eq!(
        Challenge::from_slice(&[0; 31]),
        Err(AuthError::ChallengeLength)
    );
}

#[test]
fn verifiers_refuse_invalid_weak_and_equal_keys() {
    let sid = session("session-aaaa");
    let v = host(5, &sid).verifiers().unwrap();
    let (r, w, a) = (
        v.get(Role::Reader).to_bytes(),
        v.get(Role::Writer).to_bytes(),
        v.get(Role::Admin).to_bytes(),
    );
    assert_eq!(Verifiers::from_bytes(&r, &w, &a), Ok(v));
    // The identity point is of small order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        Verifiers::from_bytes(&identity, &w, &a).unwrap_err().role,
        Role::Reader
    );
    assert_eq!(
        Verifiers::from_bytes(&r, &w[..31], &a).unwrap_err().role,
        Role::Writer
    );
    assert_eq!(
        Verifiers::from_bytes(&r, &r, &a).unwrap_err().role,
        Role::Writer
    );
}

struct Pair {
    sealer: taiku_crypto::StreamSealer,
    opener: taiku_crypto::StreamOpener,
}

fn output_pair(seed: u8) -> Pair {
    let sid = session("session-aaaa");
    let admin = host(seed, &sid);
    let reader = as_role(&admin, Role::Reader);
    Pair {
        sealer: admin
            .sealer(
                T1,
                Direction::Output,
                ParticipantId::HOST,
                random_epoch(&mut rng(seed + 100)),
            )
            .unwrap(),
        opener: reader
            .opener(T1, Direction::Output, Start::FromStart)
            .unwrap(),
    }
}

fn data(b: &'static [u8]) -> Result<Opened, OpenError> {
    Ok(Opened::Data(Bytes::from_static(b)))
}

#[test]
fn every_flipped_bit_fails_to_open() {
    let mut p = output_pair(6);
    let frame = p.sealer.seal(b"hello").unwrap();
    let raw = frame.as_bytes().to_vec();
    for byte in 0..raw.len() {
        for bit in 0..8 {
            let mut bad = raw.clone();
            bad[byte] ^= 1 << bit;
            // Some flips no longer parse (version, type, length, direction,
            // flags); every one that parses must fail to open.
            if let Ok(bad) = SealedFrame::from_bytes(Bytes::from(bad), DEFAULT_MAX_FRAME_LEN) {
                assert!(p.opener.open(&bad).is_err(), "byte {byte} bit {bit} opened");
            }
        }
    }
    // The opener's state is untouched by all of that.
    assert_eq!(p.opener.open(&frame), data(b"hello"));
}

#[test]
fn replay_reorder_and_gap_are_typed() {
    let mut p = output_pair(7);
    let f0 = p.sealer.seal(b"0").unwrap();
    let f1 = p.sealer.seal(b"1").unwrap();
    let f2 = p.sealer.seal(b"2").unwrap();
    let f3 = p.sealer.seal(b"3").unwrap();
    assert_eq!(p.opener.open(&f1), Err(OpenError::NotAtStart(Seq(1))));
    assert_eq!(p.opener.open(&f0), data(b"0"));
    assert_eq!(p.opener.open(&f0), Err(OpenError::Replayed(Seq(0))));
    assert_eq!(
        p.opener.open(&f2),
        Err(OpenError::Gap {
            expected: Seq(1),
            got: Seq(2)
        })
    );
    assert_eq!(p.opener.open(&f1), data(b"1"));
    assert_eq!(p.opener.open(&f2), data(b"2"));
    assert_eq!(
        p.opener.open(&f0),
        Err(OpenError::Reordered {
            expected: Seq(3),
            got: Seq(0)
        })
    );
    assert_eq!(p.opener.open(&f3), data(b"3"));
}

#[test]
fn end_of_stream_detects_truncation() {
    let mut p = output_pair(8);
    let f0 = p.sealer.seal(b"a").unwrap();
    let end = p.sealer.finish().unwrap();
    assert_eq!(p.sealer.seal(b"b"), Err(SealError::Finished));
    assert_eq!(p.sealer.finish(), Err(SealError::Finished));
    assert_eq!(p.opener.open(&f0), data(b"a"));
    assert!(!p.opener.is_finished());
    assert_eq!(p.opener.open(&end), Ok(Opened::End));
    assert!(p.opener.is_finished());
    assert_eq!(p.opener.open(&f0), Err(OpenError::AfterEnd));
}

#[test]
fn epochs_terminals_and_directions_do_not_mix() {
    let sid = session("session-aaaa");
    let admin = host(9, &sid);
    let mut e1 = admin
        .sealer(T1, Direction::Output, ParticipantId::HOST, Epoch([1; 16]))
        .unwrap();
    let mut e2 = admin
        .sealer(T1, Direction::Output, ParticipantId::HOST, Epoch([2; 16]))
        .unwrap();
    let mut opener = admin
        .opener(T1, Direction::Output, Start::Anywhere)
        .unwrap();
    let a = e1.seal(b"a").unwrap();
    assert_eq!(opener.open(&a), data(b"a"));
    let b = e2.seal(b"b").unwrap();
    assert_eq!(
        opener.open(&b),
        Err(OpenError::WrongEpoch {
            expected: Epoch([1; 16]),
            got: Epoch([2; 16])
        })
    );

    // A frame sealed under epoch 2 relabelled as epoch 1 fails authentication.
    let mut raw = b.as_bytes().to_vec();
    raw[3 + 10..3 + 26].copy_from_slice(&[1; 16]);
    raw[3 + 33] = 1; // and at the expected sequence number
    let relabelled = SealedFrame::from_bytes(Bytes::from(raw), DEFAULT_MAX_FRAME_LEN).unwrap();
    assert_eq!(opener.open(&relabelled), Err(OpenError::Forged));

    let mut other_terminal = admin
        .opener(TerminalId(2), Direction::Output, Start::Anywhere)
        .unwrap();
    assert_eq!(
        other_terminal.open(&a),
        Err(OpenError::WrongTerminal {
            expected: TerminalId(2),
            got: T1
        })
    );
    let mut status = admin
        .opener(T1, Direction::Status, Start::Anywhere)
        .unwrap();
    assert_eq!(
        status.open(&a),
        Err(OpenError::WrongDirection {
            expected: Direction::Status,
            got: Direction::Output
        })
    );
    // Another session with the same admin secret cannot open it.
    let other = KeySchedule::new(
        &admin.secret(Role::Admin).unwrap(),
        &session("session-bbbb"),
    );
    let mut foreign = other
        .opener(T1, Direction::Output, Start::Anywhere)
        .unwrap();
    assert_eq!(foreign.open(&a), Err(OpenError::Forged));
}

#[test]
fn input_opener_checks_the_sender() {
    let sid = session("session-aaaa");
    let admin = host(10, &sid);
    let writer = as_role(&admin, Role::Writer);
    let mut sealer = writer
        .sealer(T1, Direction::Input, ParticipantId(4), Epoch([4; 16]))
        .unwrap();
    let frame = sealer.seal(b"ls\r").unwrap();
    let mut wrong = admin
        .opener(T1, Direction::Input, Start::FromStart)
        .unwrap()
        .expect_participant(ParticipantId(5));
    assert_eq!(wrong.open(&frame), Err(OpenError::WrongParticipant));
    let mut right = admin
        .opener(T1, Direction::Input, Start::FromStart)
        .unwrap()
        .expect_participant(ParticipantId(4));
    assert_eq!(right.open(&frame), data(b"ls\r"));
}

#[test]
fn late_joiner_starts_anywhere_then_strictly_in_order() {
    let mut p = output_pair(11);
    let frames: Vec<_> = (0..5u8).map(|i| p.sealer.seal(&[i]).unwrap()).collect();
    let sid = session("session-aaaa");
    let reader = as_role(&host(11, &sid), Role::Reader);
    let mut late = reader
        .opener(T1, Direction::Output, Start::Anywhere)
        .unwrap();
    assert_eq!(
        late.open(&frames[2]),
        Ok(Opened::Data(Bytes::from_static(&[2])))
    );
    assert_eq!(
        late.open(&frames[1]),
        Err(OpenError::Reordered {
            expected: Seq(3),
            got: Seq(1)
        })
    );
    assert_eq!(
        late.open(&frames[4]),
        Err(OpenError::Gap {
            expected: Seq(3),
            got: Seq(4)
        })
    );
    assert_eq!(
        late.open(&frames[3]),
        Ok(Opened::Data(Bytes::from_static(&[3])))
    );
}

#[test]
fn oversized_plaintext_is_refused() {
    let mut p = output_pair(12);
    let mut small =
        std::mem::replace(&mut p.sealer, output_pair(13).sealer).with_max_frame_len(100);
    assert_eq!(small.max_plaintext_len(), 50);
    assert!(small.seal(&[0; 50]).is_ok());
    assert!(matches!(small.seal(&[0; 51]), Err(SealError::TooLong(_))));
    assert_eq!(
        small.next_seq(),
        Seq(1),
        "a refused seal does not consume a sequence number"
    );
}

#[test]
fn links_round_trip_for_every_role() {
    let sid = session("k3Vn8sQe2Tq9Xw4L");
    let admin = host(14, &sid);
    for role in Role::ALL {
        for origin in ["https://relay.example", "http://127.0.0.1:4433"] {
            let link = Link::new(origin, sid.clone(), admin.secret(role).unwrap()).unwrap();
            let url = link.to_url();
            let parsed = Link::parse(&url).unwrap();
            assert_eq!(parsed.role(), role);
            assert_eq!(parsed.session_id(), &sid);
            assert_eq!(parsed.origin(), origin);
            assert_eq!(parsed.secret(), &admin.secret(role).unwrap());
            assert_eq!(*parsed.to_url(), *url);
            // The relay-facing part never contains the secret.
            let relay_url = parsed.relay_url();
            assert_eq!(relay_url, format!("{origin}/s/k3Vn8sQe2Tq9Xw4L"));
            let (_, fragment) = url.split_once('#').unwrap();
            assert!(!relay_url.contains(&fragment[2..]));
            assert!(!format!("{parsed:?}").contains(&fragment[2..]));
        }
    }
}

/// Issue 15, item 1: a link may pin the relay's certificate; the pin
/// survives printing and parsing, links without one parse as before, and
/// only an https link can carry one.
#[test]
fn pinned_links_round_trip_and_old_links_still_parse() {
    let sid = session("k3Vn8sQe2Tq9Xw4L");
    let admin = host(15, &sid);
    let pin = taiku_crypto::relay_pin(b"not really an SPKI");
    for role in Role::ALL {
        let plain = Link::new(
            "https://relay.example",
            sid.clone(),
            admin.secret(role).unwrap(),
        )
        .unwrap();
        assert_eq!(plain.relay_pin(), None);
        let plain_url = plain.to_url();
        let pinned = plain.with_relay_pin(pin).unwrap();
        let url = pinned.to_url();
        assert_eq!(url.len(), plain_url.len() + 44);
        assert!(url.starts_with(plain_url.as_str()));
        let parsed = Link::parse(&url).unwrap();
        assert_eq!(parsed.relay_pin(), Some(&pin));
        assert_eq!(parsed.role(), role);
        assert_eq!(*parsed.to_url(), *url);
        assert_eq!(
            parsed.relay_url(),
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L"
        );
        assert!(format!("{parsed:?}").contains("pinned: true"));
    }
    let local = Link::new(
        "http://127.0.0.1:8080",
        sid,
        admin.secret(Role::Writer).unwrap(),
    )
    .unwrap();
    assert_eq!(
        local.with_relay_pin(pin).unwrap_err(),
        LinkError::PinNeedsHttps
    );
}

#[test]
fn every_malformed_link_has_its_own_error() {
    let good =
        "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1wAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    assert!(Link::parse(good).is_ok());
    let cases: &[(&str, LinkError)] = &[
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L",
            LinkError::MissingFragment,
        ),
        (
            "ftp://relay.example/s/k3Vn8sQe2Tq9Xw4L#1w",
            LinkError::NotALink,
        ),
        ("https:///s/k3Vn8sQe2Tq9Xw4L#1w", LinkError::NotALink),
        (
            "https://relay.example/x/k3Vn8sQe2Tq9Xw4L#1w",
            LinkError::NotALink,
        ),
        (
            "https://relay.example/s/short#1w",
            LinkError::SessionId(SessionIdError::Length(5)),
        ),
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L!#1w",
            LinkError::SessionId(SessionIdError::Alphabet(16)),
        ),
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#2wAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            LinkError::UnsupportedVersion('2'),
        ),
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1xAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            LinkError::UnknownRole('x'),
        ),
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1wAAEC",
            LinkError::SecretLength(4),
        ),
        (
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1wAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
            LinkError::SecretLength(44),
        ),
        (
            // Last character carries non-zero trailing bits.
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1wAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",
            LinkError::NonCanonicalBase64,
        ),
        (
            // Standard (not URL-safe) alphabet.
            "https://relay.example/s/k3Vn8sQe2Tq9Xw4L#1wAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd+h8",
            LinkError::NonCanonicalBase64,
        ),
    ];
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let pinned = |origin: &str, pin: &str| format!("{origin}/s/k3Vn8sQe2Tq9Xw4L#1w{secret}.{pin}");
    assert!(Link::parse(&pinned("https://relay.example", secret)).is_ok());
    let pin_cases = [
        (pinned("https://relay.example", ""), LinkError::PinLength(0)),
        (
            pinned("https://relay.example", "AAEC"),
            LinkError::PinLength(4),
        ),
        (
            pinned(
                "https://relay.example",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9",
            ),
            LinkError::NonCanonicalPin,
        ),
        (
            pinned("https://relay.example", &format!("{secret}.{secret}")),
            LinkError::PinLength(87),
        ),
        (
            pinned("http://127.0.0.1:8080", secret),
            LinkError::PinNeedsHttps,
        ),
    ];
    for (text, error) in cases
        .iter()
        .map(|(t, e)| (t.to_string(), e.clone()))
        .chain(pin_cases)
    {
        assert_eq!(Link::parse(&text).unwrap_err(), error, "{text}");
    }
}

#[test]
fn secrets_and_keys_print_redacted() {
    let sid = session("session-aaaa");
    let secret = LinkSecret::from_bytes(Role::Admin, [0x5a; 32]);
    let admin = KeySchedule::new(&secret, &sid);
    let link = Link::new(
        "https://relay.example",
        sid.clone(),
        admin.secret(Role::Admin).unwrap(),
    )
    .unwrap();
    let url = link.to_url();
    let encoded_secret = &url[url.len() - 43..];
    for text in [
        format!("{secret:?}"),
        format!("{admin:?}"),
        format!("{link:?}"),
        format!("{:?}", admin.prover()),
        format!("{:?}", admin.admin_action_key().unwrap()),
        format!(
            "{:?}",
            admin
                .sealer(T1, Direction::Output, ParticipantId::HOST, Epoch([0; 16]))
                .unwrap()
        ),
        format!(
            "{:?}",
            admin
                .opener(T1, Direction::Input, Start::FromStart)
                .unwrap()
        ),
    ] {
        assert!(!text.contains(encoded_secret), "{text}");
        assert!(!text.contains("5a5a") && !text.contains("90, 90"), "{text}");
    }
}

#[test]
fn admin_actions_verify_end_to_end() {
    let sid = session("session-aaaa");
    let admin = host(16, &sid);
    let remote_admin = as_role(&admin, Role::Admin);
    let sig = remote_admin
        .admin_action_key()
        .unwrap()
        .sign(b"take-over terminal 1, counter 7");
    let key = admin.admin_action_key().unwrap();
    assert_eq!(key.verify(b"take-over terminal 1, counter 7", &sig), Ok(()));
    assert_eq!(
        key.verify(b"take-over terminal 2, counter 7", &sig),
        Err(AuthError::BadSignature)
    );
    let other = KeySchedule::new(
        &admin.secret(Role::Admin).unwrap(),
        &session("session-bbbb"),
    );
    assert_eq!(
        other
            .admin_action_key()
            .unwrap()
            .verify(b"take-over terminal 1, counter 7", &sig),
        Err(AuthError::BadSignature)
    );
}

/// Finding 13.5: `SessionCreate` took a verifier whose y coordinate was
/// not reduced (y ≥ p), a second spelling of a valid key. Only canonical
/// encodings are keys.
#[test]
fn non_canonical_verifier_encodings_are_refused() {
    use taiku_crypto::Verifier;
    // p = 2^255 - 19. For y < 19, y + p < 2^255 also encodes y.
    let p_plus = |y: u8| {
        let mut bytes = [0xffu8; 32];
        bytes[31] = 0x7f;
        // p = 0x7fff…ffed; y + p = p with the low byte raised by y.
        bytes[0] = 0xed + y;
        bytes
    };
    let mut found = 0;
    for y in 0u8..19 {
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        if let Some(key) = Verifier::from_bytes(&canonical) {
            found += 1;
            assert_eq!(key.to_bytes(), canonical);
            assert!(
                Verifier::from_bytes(&p_plus(y)).is_none(),
                "y = {y} + p accepted as a second encoding"
            );
        }
        assert!(Verifier::from_bytes(&p_plus(y)).is_none(), "y = {y} + p");
    }
    assert!(found > 0, "some small y is a valid, strong key");
}
