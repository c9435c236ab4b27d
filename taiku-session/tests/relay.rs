//! The relay's rules, each checked against the exact frames delivered and
//! refusals given, in an in-memory harness with virtual time.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::{Harness, profile, refusals, sealed};
use taiku_crypto::{KeySchedule, LinkSecret};
use taiku_proto::message::{
    self as m, ActionRefusal as AR, ControlReason, EndReason, RefusalReason, control::Body,
};
use taiku_proto::{
    Direction, Epoch, Frame, ParticipantId, Role, SealedFrame, SessionId, TerminalId,
};
use taiku_session::access::Control;
use taiku_session::admission;
use taiku_session::relay::{ConnId, Event, EvictReason, RelayConfig};

const HOST: ParticipantId = ParticipantId::HOST;
const INPUT: u32 = 0x102;

/// Defaults, but participants in these tests do not ping: no idle timeout
/// unless a test asks for one.
fn config() -> RelayConfig {
    RelayConfig::default().with_idle_timeout(Duration::from_secs(3600))
}

fn harness() -> Harness {
    Harness::new(config(), Harness::default_options())
}

fn join_req(h: &Harness) -> Body {
    Body::JoinRequest(m::JoinRequest {
        session_id: h.session.to_string(),
        profile: profile("x"),
    })
}

// ---- 1. sessions ----------------------------------------------------------

/// Finding 14.9: `SessionCreate` on a live id answers `SESSION_EXISTS`.
/// Kept on purpose (SPEC.md 6.1): what it tells is only that the id is in
/// use, and only after a valid admin proof of the creator's own keys;
/// knowing it gives no way in (a join still needs a proof under the
/// session's verifiers), and the session is untouched.
#[test]
fn session_exists_tells_only_that_an_id_is_in_use() {
    let mut h = harness();
    let (w, _) = h.join(Role::Writer, "w");
    // An attacker's own keys for the same id.
    let own = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [77; 32]), &h.session);
    let probe = h.connect();
    let create = admission::session_create(&own, Harness::default_options(), None).unwrap();
    assert_eq!(
        h.admit(probe, create, &own.prover()),
        Err(RefusalReason::SessionExists as i32)
    );
    // Without a valid admin proof it does not even learn that.
    let other = h.connect();
    let create = admission::session_create(&own, Harness::default_options(), None).unwrap();
    let writer_of_own = KeySchedule::new(&own.secret(Role::Writer).unwrap(), &h.session);
    assert_eq!(
        h.admit(other, create, &writer_of_own.prover()),
        Err(RefusalReason::Denied as i32)
    );
    // Knowing the id exists, its own keys get it nowhere.
    let join = h.connect();
    assert_eq!(
        h.admit(join, join_req(&h), &writer_of_own.prover()),
        Err(RefusalReason::Denied as i32)
    );
    let resume = h.connect();
    let request = Body::SessionResume(m::SessionResume {
        session_id: h.session.to_string(),
        profile: None,
    });
    assert_eq!(
        h.admit(resume, request, &own.prover()),
        Err(RefusalReason::Denied as i32)
    );
    // The session and its members are untouched.
    assert!(!h.closed.contains(&h.host));
    assert!(!h.closed.contains(&w));
    assert_eq!(h.relay.session_count(), 1);
}

#[test]
fn session_ids_collide_with_a_typed_refusal_never_an_overwrite() {
    let mut h = harness();
    let other = h.connect();
    let create = admission::session_create(&h.host_keys, Harness::default_options(), None).unwrap();
    let prover = h.host_keys.prover();
    assert_eq!(
        h.admit(other, create, &prover),
        Err(RefusalReason::SessionExists as i32)
    );
    // The original host still owns the session.
    let (w, _) = h.join(Role::Writer, "w");
    let t = h.open_terminal(1, HOST);
    assert!(
        h.take_controls(w)
            .iter()
            .any(|b| matches!(b, Body::TerminalOpened(o) if o.terminal_id == t.0))
    );
}

#[test]
fn create_needs_the_admin_proof_and_valid_verifiers() {
    let mut h = harness();
    let conn = h.connect();
    let verifiers = h.host_keys.verifiers().unwrap();
    let v = |r: Role| Bytes::copy_from_slice(&verifiers.get(r).to_bytes());
    let create = |id: &str, admin: Bytes| {
        Body::SessionCreate(m::SessionCreate {
            session_id: id.into(),
            verifiers: Some(m::RoleVerifiers {
                reader: v(Role::Reader),
                writer: v(Role::Writer),
                admin,
            }),
            options: None,
            profile: None,
        })
    };
    // A writer proof does not create a session (the verifiers are bound to
    // another session id, too).
    let writer = h.keys(Role::Writer).prover();
    assert_eq!(
        h.admit(conn, create("new-session-22", v(Role::Admin)), &writer),
        Err(RefusalReason::Denied as i32)
    );
    h.advance(Duration::from_secs(5));
    // Equal verifiers are invalid.
    assert_eq!(
        h.admit(conn, create("new-session-22", v(Role::Reader)), &writer),
        Err(RefusalReason::InvalidRequest as i32)
    );
    assert_eq!(h.relay.session_count(), 1);
}

// ---- 2. join ----------------------------------------------------------------

#[test]
fn each_role_joins_with_its_own_link() {
    let mut h = harness();
    for role in Role::ALL {
        let conn = h.connect();
        let keys = h.keys(role);
        let req = join_req(&h);
        let id = h.admit(conn, req, &keys.prover()).unwrap();
        assert!(id.0 >= 1);
        assert!(h.relay.participants(&h.session).contains(&(id, role)));
    }
}

#[test]
fn unknown_session_and_bad_proof_look_the_same() {
    let mut h = harness();
    // Unknown session, valid-looking proof.
    let a = h.connect();
    let req = Body::JoinRequest(m::JoinRequest {
        session_id: "no-such-session".into(),
        profile: None,
    });
    let prover = h.keys(Role::Writer).prover();
    assert_eq!(h.admit(a, req, &prover), Err(RefusalReason::Denied as i32));
    // Known session, proof from another session's keys.
    let b = h.connect();
    let foreign = taiku_crypto::KeySchedule::new(
        &taiku_crypto::LinkSecret::from_bytes(Role::Writer, [7; 32]),
        &h.session,
    );
    let req = join_req(&h);
    assert_eq!(
        h.admit(b, req, &foreign.prover()),
        Err(RefusalReason::Denied as i32)
    );
    assert!(
        h.events
            .iter()
            .filter(|e| matches!(
                e,
                Event::Denied {
                    reason: RefusalReason::Denied,
                    ..
                }
            ))
            .count()
            == 2
    );
}

#[test]
fn readers_disabled_and_sign_in_required() {
    let options = taiku_session::SessionOptions::default()
        .with_readers_enabled(false)
        .with_viewer_sign_in_required(true);
    let mut h = Harness::new(config(), options);
    let reader = h.keys(Role::Reader).prover();
    let writer = h.keys(Role::Writer).prover();
    let a = h.connect();
    h.relay.attach_identity(a, "oauth|ana").unwrap();
    let req = join_req(&h);
    assert_eq!(h.admit(a, req, &reader), Err(RefusalReason::Denied as i32));
    let b = h.connect();
    let req = join_req(&h);
    assert_eq!(
        h.admit(b, req, &writer),
        Err(RefusalReason::SignInRequired as i32)
    );
    let c = h.connect();
    h.relay.attach_identity(c, "oauth|bo").unwrap();
    let req = join_req(&h);
    let id = h.admit(c, req, &writer).unwrap();
    // The embedder reads the identity back, and the audit event has it.
    assert_eq!(h.relay.identity(c), Some("oauth|bo"));
    assert_eq!(h.relay.identity(b), None);
    h.pump();
    assert!(h.events.contains(&Event::Joined {
        session: h.session.clone(),
        participant: id,
        role: Role::Writer,
        conn: c,
        identity: Some("oauth|bo".into()),
    }));
}

#[test]
fn repeated_failures_are_rate_limited_then_closed() {
    let config = config().with_max_auth_failures(3);
    let mut h = Harness::new(config, Harness::default_options());
    let conn = h.connect();
    let wrong = taiku_crypto::KeySchedule::new(
        &taiku_crypto::LinkSecret::from_bytes(Role::Writer, [9; 32]),
        &h.session,
    );
    let req = join_req(&h);
    assert_eq!(
        h.admit(conn, req.clone(), &wrong.prover()),
        Err(RefusalReason::Denied as i32)
    );
    // Too soon: refused without a challenge.
    assert_eq!(
        h.admit(conn, req.clone(), &wrong.prover()),
        Err(RefusalReason::RateLimited as i32)
    );
    h.advance(Duration::from_secs(5));
    // Third failure: rate limited and closed.
    assert_eq!(
        h.admit(conn, req, &wrong.prover()),
        Err(RefusalReason::RateLimited as i32)
    );
    h.pump();
    assert!(h.closed.contains(&conn));
    assert!(h.events.contains(&Event::Evicted {
        conn,
        reason: EvictReason::RateLimited
    }));
}

#[test]
fn a_proof_for_an_earlier_challenge_fails() {
    let mut h = harness();
    let conn = h.connect();
    let keys = h.keys(Role::Writer);
    let req = join_req(&h);
    h.send(conn, req.clone());
    let Some(Body::Challenge(first)) = h.take_controls(conn).pop() else {
        panic!()
    };
    // A new request gets a new challenge; the old proof no longer works.
    h.send(conn, req);
    h.take(conn);
    let proof = keys
        .prover()
        .prove(&taiku_crypto::Challenge::from_slice(&first.nonce).unwrap());
    h.send(
        conn,
        Body::JoinProof(m::JoinProof {
            role: Role::Writer.to_proto(),
            signature: Bytes::copy_from_slice(proof.signature()),
        }),
    );
    let got = h.take_controls(conn);
    assert!(matches!(
        got.as_slice(),
        [Body::JoinResult(m::JoinResult { outcome: Some(m::join_result::Outcome::Refused(r)) })] if *r == RefusalReason::Denied as i32
    ));
}

// ---- 3. roles ---------------------------------------------------------------

#[test]
fn readers_are_refused_every_write_action_and_nothing_changes() {
    let mut h = harness();
    let (r, rid) = h.join(Role::Reader, "reader");
    let t = h.open_terminal(1, HOST);
    h.take(r);
    h.take(h.host);
    let attempts = vec![
        (
            20,
            Body::TerminalCreate(m::TerminalCreate {
                rows: 1,
                cols: 1,
                ..Default::default()
            }),
        ),
        (
            22,
            Body::TerminalClose(m::TerminalClose {
                terminal_id: 1,
                requester: 0,
            }),
        ),
        (
            24,
            Body::TerminalResize(m::TerminalResize {
                terminal_id: 1,
                rows: 1,
                cols: 1,
                requester: 0,
            }),
        ),
        (
            30,
            Body::AdoptionRequest(m::AdoptionRequest {
                terminal_id: 1,
                requester: 0,
            }),
        ),
        (
            32,
            Body::ControlGrant(m::ControlGrant {
                terminal_id: 1,
                grantee: rid.0,
            }),
        ),
        (33, Body::ControlRevoke(m::ControlRevoke { terminal_id: 1 })),
        (
            34,
            Body::TakeOver(m::TakeOver {
                terminal_id: 1,
                ..Default::default()
            }),
        ),
        (
            45,
            Body::TunnelAdmin(m::TunnelAdmin {
                port: 3000,
                enable: true,
                ..Default::default()
            }),
        ),
    ];
    for (action, body) in attempts {
        h.send(r, body);
        assert_eq!(
            refusals(&h.take_controls(r)),
            vec![(action, AR::ReadOnly as i32)],
            "action {action}"
        );
    }
    let frame = h.input_sealer(Role::Writer, t, rid, 1).seal(b"x").unwrap();
    h.send_sealed(r, frame);
    assert_eq!(
        refusals(&h.take_controls(r)),
        vec![(INPUT, AR::ReadOnly as i32)]
    );
    assert!(h.take(h.host).is_empty(), "nothing reached the host");
    assert_eq!(
        h.relay.terminal_control(&h.session, t),
        Some(Control::new(HOST))
    );
}

#[test]
fn writers_create_terminals_through_the_host() {
    let mut h = harness();
    let (w, wid) = h.join(Role::Writer, "w");
    h.take(h.host);
    h.send(
        w,
        Body::TerminalCreate(m::TerminalCreate {
            requester: 999,
            rows: 30,
            cols: 100,
            label: "build".into(),
        }),
    );
    assert_eq!(
        h.take_controls(h.host),
        vec![Body::TerminalCreate(m::TerminalCreate {
            requester: wid.0,
            rows: 30,
            cols: 100,
            label: "build".into()
        })]
    );
    let t = h.open_terminal(5, wid);
    assert_eq!(
        h.relay.terminal_control(&h.session, t),
        Some(Control::new(wid))
    );
}

#[test]
fn only_admins_administer_tunnels() {
    let mut h = harness();
    let (w, _) = h.join(Role::Writer, "w");
    let (a, aid) = h.join(Role::Admin, "a");
    h.take(h.host);
    let tunnel = Body::TunnelAdmin(m::TunnelAdmin {
        port: 8080,
        enable: true,
        ..Default::default()
    });
    h.send(w, tunnel.clone());
    assert_eq!(
        refusals(&h.take_controls(w)),
        vec![(45, AR::NotAdmin as i32)]
    );
    assert!(h.take(h.host).is_empty());
    h.send(a, tunnel);
    // Forwarded with the verified requester (the host checks the
    // signature, SPEC.md 4.7).
    let forwarded = Body::TunnelAdmin(m::TunnelAdmin {
        port: 8080,
        enable: true,
        requester: aid.0,
        ..Default::default()
    });
    assert_eq!(h.take_controls(h.host), vec![forwarded]);
}

// ---- 4. ownership and handoff -------------------------------------------

struct Two {
    h: Harness,
    a: ConnId,
    aid: ParticipantId,
    b: ConnId,
    bid: ParticipantId,
    t: TerminalId,
}

/// Writers A and B; A owns terminal 1.
fn two_writers() -> Two {
    let mut h = harness();
    let (a, aid) = h.join(Role::Writer, "a");
    let (b, bid) = h.join(Role::Writer, "b");
    let t = h.open_terminal(1, aid);
    h.take(a);
    h.take(b);
    h.take(h.host);
    Two {
        h,
        a,
        aid,
        b,
        bid,
        t,
    }
}

fn changed(bodies: &[Body]) -> Vec<(u32, u32, i32, u32)> {
    bodies
        .iter()
        .filter_map(|b| match b {
            Body::ControlChanged(c) => Some((c.owner, c.controller, c.reason, c.requester)),
            _ => None,
        })
        .collect()
}

#[test]
fn only_the_controller_types_resizes_and_closes() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    let frame = h
        .input_sealer(Role::Writer, t, bid, 2)
        .seal(b"ls\r")
        .unwrap();
    h.send_sealed(b, frame);
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![(INPUT, AR::NotController as i32)]
    );
    h.send(
        b,
        Body::TerminalResize(m::TerminalResize {
            terminal_id: t.0,
            rows: 1,
            cols: 1,
            requester: 0,
        }),
    );
    h.send(
        b,
        Body::TerminalClose(m::TerminalClose {
            terminal_id: t.0,
            requester: 0,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![
            (24, AR::NotController as i32),
            (22, AR::NotController as i32)
        ]
    );
    assert!(h.take(h.host).is_empty());

    let frame = h
        .input_sealer(Role::Writer, t, aid, 1)
        .seal(b"ls\r")
        .unwrap();
    h.send_sealed(a, frame.clone());
    let host_got = sealed(&h.take(h.host));
    assert_eq!(host_got, vec![frame]);
    h.send(
        a,
        Body::TerminalClose(m::TerminalClose {
            terminal_id: t.0,
            requester: 0,
        }),
    );
    assert_eq!(
        h.take_controls(h.host),
        vec![Body::TerminalClose(m::TerminalClose {
            terminal_id: t.0,
            requester: aid.0
        })]
    );
}

#[test]
fn adoption_approved_denied_and_expired() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    // Request reaches the owner with the verified requester.
    h.send(
        b,
        Body::AdoptionRequest(m::AdoptionRequest {
            terminal_id: t.0,
            requester: 77,
        }),
    );
    assert_eq!(
        h.take_controls(a),
        vec![Body::AdoptionRequest(m::AdoptionRequest {
            terminal_id: t.0,
            requester: bid.0
        })]
    );
    // Asking again while the request is pending does not reach the owner.
    h.send(
        b,
        Body::AdoptionRequest(m::AdoptionRequest {
            terminal_id: t.0,
            requester: 0,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![(30, AR::RateLimited as i32)]
    );
    assert_eq!(h.take_controls(a), vec![]);
    // A non-owner cannot answer it.
    h.send(
        b,
        Body::AdoptionAnswer(m::AdoptionAnswer {
            terminal_id: t.0,
            requester: bid.0,
            approve: true,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![(31, AR::NotOwner as i32)]
    );
    // Denied: nothing changes, everyone is told.
    h.send(
        a,
        Body::AdoptionAnswer(m::AdoptionAnswer {
            terminal_id: t.0,
            requester: bid.0,
            approve: false,
        }),
    );
    assert_eq!(
        changed(&h.take_controls(b)),
        vec![(aid.0, aid.0, ControlReason::AdoptionDenied as i32, bid.0)]
    );
    assert_eq!(
        h.relay.terminal_control(&h.session, t),
        Some(Control::new(aid))
    );
    // Answering again: no pending request.
    h.send(
        a,
        Body::AdoptionAnswer(m::AdoptionAnswer {
            terminal_id: t.0,
            requester: bid.0,
            approve: true,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(31, AR::NoPendingRequest as i32)]
    );
    // Approved: B controls and can type.
    h.take(h.host);
    h.send(
        b,
        Body::AdoptionRequest(m::AdoptionRequest {
            terminal_id: t.0,
            requester: 0,
        }),
    );
    h.send(
        a,
        Body::AdoptionAnswer(m::AdoptionAnswer {
            terminal_id: t.0,
            requester: bid.0,
            approve: true,
        }),
    );
    assert_eq!(
        changed(&h.take_controls(h.host)),
        vec![(aid.0, bid.0, ControlReason::AdoptionApproved as i32, bid.0)]
    );
    let frame = h
        .input_sealer(Role::Writer, t, bid, 3)
        .seal(b"pwd\r")
        .unwrap();
    h.send_sealed(b, frame.clone());
    assert_eq!(sealed(&h.take(h.host)), vec![frame]);
    // Expiry: a request nobody answers.
    let (c, cid) = h.join(Role::Writer, "c");
    h.take(b);
    h.send(
        c,
        Body::AdoptionRequest(m::AdoptionRequest {
            terminal_id: t.0,
            requester: 0,
        }),
    );
    h.advance(Duration::from_secs(61));
    assert_eq!(
        changed(&h.take_controls(b)),
        vec![(aid.0, bid.0, ControlReason::AdoptionExpired as i32, cid.0)]
    );
}

#[test]
fn grant_revoke_and_admin_take_over() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    h.send(
        b,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: bid.0,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![(32, AR::NotOwner as i32)]
    );
    h.send(
        a,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: bid.0,
        }),
    );
    assert_eq!(
        changed(&h.take_controls(b)),
        vec![(aid.0, bid.0, ControlReason::Granted as i32, bid.0)]
    );
    h.send(
        a,
        Body::ControlRevoke(m::ControlRevoke { terminal_id: t.0 }),
    );
    assert_eq!(
        changed(&h.take_controls(b)),
        vec![(aid.0, aid.0, ControlReason::Revoked as i32, aid.0)]
    );
    // Granting to a reader is refused.
    let (_, rid) = h.join(Role::Reader, "r");
    h.send(
        a,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: rid.0,
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(32, AR::ReadOnly as i32)]
    );
    // Writers cannot take over; admins can, without asking.
    h.send(
        b,
        Body::TakeOver(m::TakeOver {
            terminal_id: t.0,
            ..Default::default()
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(b)),
        vec![(34, AR::NotAdmin as i32)]
    );
    let (adm, admid) = h.join(Role::Admin, "adm");
    h.take(b);
    h.send(
        adm,
        Body::TakeOver(m::TakeOver {
            terminal_id: t.0,
            ..Default::default()
        }),
    );
    assert_eq!(
        changed(&h.take_controls(b)),
        vec![(aid.0, admid.0, ControlReason::TakenOver as i32, admid.0)]
    );
}

#[test]
fn control_returns_to_the_owner_or_the_host_when_people_leave() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    h.send(
        a,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: bid.0,
        }),
    );
    h.take(a);
    h.relay.handle_disconnect(b, h.now);
    let got = h.take_controls(a);
    assert_eq!(
        changed(&got),
        vec![(aid.0, aid.0, ControlReason::ControllerLeft as i32, 0)]
    );
    assert!(got.iter().any(|x| matches!(x, Body::Presence(p) if p.participant_id == bid.0 && p.state == m::presence::State::Left as i32)));
    h.take(h.host);
    h.relay.handle_disconnect(a, h.now);
    assert_eq!(
        changed(&h.take_controls(h.host)),
        vec![(0, 0, ControlReason::OwnerLeft as i32, 0)]
    );
    assert_eq!(
        h.relay.terminal_control(&h.session, t),
        Some(Control::new(HOST))
    );
}

#[test]
fn focus_lock_blocks_other_typers_but_never_the_owner() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    let (adm, admid) = h.join(Role::Admin, "adm");
    h.take(a);
    let mut admin_in = h.input_sealer(Role::Admin, t, admid, 9);
    let mut owner_in = h.input_sealer(Role::Writer, t, aid, 1);
    // The admin types: holds the lock, everyone sees it.
    h.send_sealed(adm, admin_in.seal(b"a").unwrap());
    assert!(h.take_controls(b).contains(&Body::FocusLock(m::FocusLock {
        terminal_id: t.0,
        holder: admid.0,
        expires_in_ms: 1500
    })));
    // The owner overrides the lock.
    h.send_sealed(a, owner_in.seal(b"o").unwrap());
    assert!(refusals(&h.take_controls(a)).is_empty());
    // Now the admin is locked out until the owner's lock lapses.
    h.send_sealed(adm, admin_in.seal(b"a2").unwrap());
    assert_eq!(
        refusals(&h.take_controls(adm)),
        vec![(INPUT, AR::FocusLocked as i32)]
    );
    h.advance(Duration::from_secs(2));
    assert!(h.take_controls(b).contains(&Body::FocusLock(m::FocusLock {
        terminal_id: t.0,
        holder: 0,
        expires_in_ms: 0
    })));
    h.send_sealed(adm, admin_in.seal(b"a2").unwrap());
    assert!(refusals(&h.take_controls(adm)).is_empty());
    let _ = bid;
}

/// Whoever loses control loses its typing lock with it: an admin who takes
/// over from a writer who typed a moment ago types at once.
#[test]
fn losing_control_releases_the_typing_lock() {
    let Two {
        mut h,
        a,
        aid,
        b,
        bid,
        t,
    } = two_writers();
    h.send(
        a,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: bid.0,
        }),
    );
    let mut writer_in = h.input_sealer(Role::Writer, t, bid, 3);
    h.send_sealed(b, writer_in.seal(b"w").unwrap());
    assert!(refusals(&h.take_controls(b)).is_empty());
    let (adm, admid) = h.join(Role::Admin, "adm");
    h.take(a);
    h.send(
        adm,
        Body::TakeOver(m::TakeOver {
            terminal_id: t.0,
            ..Default::default()
        }),
    );
    let seen = h.take_controls(a);
    let lock = seen
        .iter()
        .position(|x| {
            *x == Body::FocusLock(m::FocusLock {
                terminal_id: t.0,
                holder: 0,
                expires_in_ms: 0,
            })
        })
        .expect("the lock is released");
    let change = seen
        .iter()
        .position(|x| matches!(x, Body::ControlChanged(_)))
        .unwrap();
    assert!(change < lock, "{seen:?}");
    let mut admin_in = h.input_sealer(Role::Admin, t, admid, 9);
    h.send_sealed(adm, admin_in.seal(b"a").unwrap());
    assert!(refusals(&h.take_controls(adm)).is_empty());
    // A lock held by someone who keeps control (the owner) stays.
    let mut owner_in = h.input_sealer(Role::Writer, t, aid, 1);
    h.send_sealed(a, owner_in.seal(b"o").unwrap());
    h.take(a);
    h.send(
        a,
        Body::ControlRevoke(m::ControlRevoke { terminal_id: t.0 }),
    );
    assert!(
        !h.take_controls(a)
            .iter()
            .any(|x| matches!(x, Body::FocusLock(_)))
    );
}

// ---- 5. routing -----------------------------------------------------------

#[test]
fn output_fans_out_to_participants_and_input_goes_to_the_host_only() {
    let Two {
        mut h,
        a,
        aid,
        b,
        t,
        ..
    } = two_writers();
    let (r, _) = h.join(Role::Reader, "r");
    h.take(h.host);
    let out = h.output_sealer(t, 1).seal(b"hello").unwrap();
    h.send_sealed(h.host, out.clone());
    for conn in [a, b, r] {
        assert_eq!(sealed(&h.take(conn)), vec![out.clone()]);
    }
    assert!(h.take(h.host).is_empty());
    let input = h.input_sealer(Role::Writer, t, aid, 1).seal(b"k").unwrap();
    h.send_sealed(a, input.clone());
    assert_eq!(sealed(&h.take(h.host)), vec![input]);
    for conn in [a, b, r] {
        assert!(sealed(&h.take(conn)).is_empty());
    }
}

#[test]
fn a_sender_cannot_claim_another_participant_id() {
    let Two {
        mut h, a, bid, t, ..
    } = two_writers();
    let spoofed = h.input_sealer(Role::Writer, t, bid, 1).seal(b"k").unwrap();
    h.send_sealed(a, spoofed);
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(INPUT, AR::Invalid as i32)]
    );
    assert!(h.take(h.host).is_empty());
}

#[test]
fn participants_cannot_send_output() {
    let Two { mut h, a, b, t, .. } = two_writers();
    let forged = h
        .keys(Role::Writer)
        .sealer(
            t,
            Direction::Output,
            ParticipantId(0),
            taiku_proto::Epoch([5; 16]),
        )
        .unwrap()
        .seal(b"$ ")
        .unwrap();
    h.send_sealed(a, forged);
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(0x101, AR::Invalid as i32)]
    );
    assert!(h.take(b).is_empty());
}

#[test]
fn chat_is_filled_in_bounded_rate_limited_and_replayed() {
    let config = config().with_chat_history(3).with_chat_burst(2);
    let mut h = Harness::new(config, Harness::default_options());
    let (a, aid) = h.join(Role::Reader, "a");
    h.take(h.host);
    h.send(
        a,
        Body::Chat(m::Chat {
            from: 0,
            seq: 99,
            text: "hi".into(),
            age_ms: 7,
        }),
    );
    // The relay fills in sender and number; a live line is 0 ms old.
    assert_eq!(
        h.take_controls(h.host),
        vec![Body::Chat(m::Chat {
            from: aid.0,
            seq: 1,
            text: "hi".into(),
            age_ms: 0,
        })]
    );
    h.send(
        a,
        Body::Chat(m::Chat {
            text: "x".repeat(2049),
            ..Default::default()
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(12, AR::TooLong as i32)]
    );
    h.send(
        a,
        Body::Chat(m::Chat {
            text: "2".into(),
            ..Default::default()
        }),
    );
    h.send(
        a,
        Body::Chat(m::Chat {
            text: "3".into(),
            ..Default::default()
        }),
    );
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(12, AR::RateLimited as i32)]
    );
    h.advance(Duration::from_secs(3));
    for text in ["3", "4", "5"] {
        h.send(
            a,
            Body::Chat(m::Chat {
                text: text.into(),
                ..Default::default()
            }),
        );
    }
    // Two tokens refilled (the burst), so "5" is over the rate.
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(12, AR::RateLimited as i32)]
    );
    h.advance(Duration::from_millis(1500));
    let (late, _) = (h.connect(), ());
    let prover = h.keys(Role::Writer).prover();
    let req = join_req(&h);
    h.admit(late, req, &prover).unwrap();
    let lines: Vec<(String, u64)> = h
        .take_controls(late)
        .into_iter()
        .filter_map(|b| match b {
            Body::Chat(c) => Some((c.text, c.age_ms)),
            _ => None,
        })
        .collect();
    // The last three accepted lines, each with its age at the replay.
    assert_eq!(
        lines,
        [("2".into(), 4500), ("3".into(), 1500), ("4".into(), 1500)]
    );
}

// ---- 6. history -------------------------------------------------------------

#[test]
fn late_joiner_gets_replay_then_live_with_nothing_lost_or_duplicated() {
    let mut h = harness();
    let t = h.open_terminal(1, HOST);
    let mut out = h.output_sealer(t, 1);
    let early: Vec<_> = (0..5u8).map(|i| out.seal(&[i]).unwrap()).collect();
    for f in &early {
        h.send_sealed(h.host, f.clone());
    }
    let conn = h.connect();
    let prover = h.keys(Role::Reader).prover();
    let req = join_req(&h);
    h.admit(conn, req, &prover).unwrap();
    let live = out.seal(b"live").unwrap();
    h.send_sealed(h.host, live.clone());
    let frames = h.take(conn);
    let start = frames
        .iter()
        .position(|f| {
            matches!(
                f,
                Frame::Control(m::Control {
                    body: Some(Body::ReplayStart(_))
                })
            )
        })
        .unwrap();
    let Frame::Control(m::Control {
        body: Some(Body::ReplayStart(rs)),
    }) = &frames[start]
    else {
        unreachable!()
    };
    assert_eq!(rs.terminal_id, 1);
    assert!(rs.complete);
    assert_eq!(
        rs.runs,
        vec![m::ReplayRun {
            epoch: Bytes::from(vec![1; 16]),
            first_seq: 0,
            frame_count: 5
        }]
    );
    let mut expected = early.clone();
    expected.push(live);
    assert_eq!(sealed(&frames[start..]), expected);
}

#[test]
fn the_ring_is_bounded_and_asks_the_host_for_a_snapshot() {
    let config = config().with_ring_bytes(1000);
    let mut h = Harness::new(config, Harness::default_options());
    let t = h.open_terminal(1, HOST);
    let mut out = h.output_sealer(t, 1);
    for _ in 0..40 {
        let f = out.seal(&[b'x'; 100]).unwrap();
        h.send_sealed(h.host, f);
        assert!(h.relay.ring_bytes(&h.session, t).unwrap() <= 1000);
    }
    h.take(h.host);
    let (r, rid) = h.join(Role::Reader, "late");
    let _ = r;
    assert_eq!(
        h.take_controls(h.host)
            .into_iter()
            .filter(|b| matches!(b, Body::SnapshotRequest(_)))
            .collect::<Vec<_>>(),
        vec![Body::SnapshotRequest(m::SnapshotRequest {
            terminal_id: 1,
            requester: rid.0
        })]
    );
    // The host's targeted snapshot reaches that participant only.
    let (other, _) = h.join(Role::Reader, "other");
    h.take(h.host);
    let snap = h
        .host_keys
        .sealer(t, Direction::Snapshot, rid, taiku_proto::Epoch([3; 16]))
        .unwrap()
        .seal(b"screen")
        .unwrap();
    h.send_sealed(h.host, snap.clone());
    assert_eq!(sealed(&h.take(r)), vec![snap]);
    assert!(sealed(&h.take(other)).is_empty());
}

// ---- 7. host loss -----------------------------------------------------------

#[test]
fn host_loss_grace_and_resume() {
    let Two {
        mut h, a, aid, t, ..
    } = two_writers();
    h.relay.handle_disconnect(h.host, h.now);
    assert_eq!(
        h.take_controls(a),
        vec![Body::HostStatus(m::HostStatus {
            online: false,
            grace_remaining_ms: 300_000
        })]
    );
    let frame = h.input_sealer(Role::Writer, t, aid, 1).seal(b"k").unwrap();
    h.send_sealed(a, frame);
    assert_eq!(
        refusals(&h.take_controls(a)),
        vec![(INPUT, AR::HostOffline as i32)]
    );
    h.advance(Duration::from_secs(299));
    // The host resumes with the admin proof.
    let conn = h.connect();
    let req = Body::SessionResume(m::SessionResume {
        session_id: h.session.to_string(),
        profile: profile("host"),
    });
    let prover = h.host_keys.prover();
    assert_eq!(h.admit(conn, req, &prover), Ok(HOST));
    h.host = conn;
    let state = h.take_controls(conn);
    assert!(
        matches!(&state[0], Body::ResumeState(rs) if rs.terminals.len() == 1 && rs.terminals[0].owner == aid.0)
    );
    assert_eq!(
        h.take_controls(a),
        vec![Body::HostStatus(m::HostStatus {
            online: true,
            grace_remaining_ms: 0
        })]
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(h.relay.session_count(), 1);
}

#[test]
fn after_the_grace_window_the_session_is_freed() {
    let Two { mut h, a, b, .. } = two_writers();
    h.relay.handle_disconnect(h.host, h.now);
    h.take(a);
    h.take(b);
    h.advance(Duration::from_secs(301));
    assert_eq!(
        h.take_controls(b),
        vec![Body::SessionEnded(m::SessionEnded {
            reason: EndReason::HostGraceExpired as i32
        })]
    );
    assert!(h.closed.contains(&a) && h.closed.contains(&b));
    assert_eq!(h.relay.session_count(), 0);
    assert_eq!(h.relay.connection_count(), 0);
    // A resume now is denied like an unknown session.
    let conn = h.connect();
    let req = Body::SessionResume(m::SessionResume {
        session_id: h.session.to_string(),
        profile: None,
    });
    let prover = h.host_keys.prover();
    assert_eq!(
        h.admit(conn, req, &prover),
        Err(RefusalReason::Denied as i32)
    );
}

#[test]
fn a_writer_cannot_resume_the_host_seat() {
    let mut h = harness();
    h.relay.handle_disconnect(h.host, h.now);
    let conn = h.connect();
    let req = Body::SessionResume(m::SessionResume {
        session_id: h.session.to_string(),
        profile: None,
    });
    let prover = h.keys(Role::Writer).prover();
    assert_eq!(
        h.admit(conn, req, &prover),
        Err(RefusalReason::Denied as i32)
    );
}

// ---- 8. backpressure and limits -----------------------------------------

/// A relay whose queues resync at 6 frames (half of 12).
fn resync_harness() -> (Harness, TerminalId) {
    let config = config().with_max_queue_frames(12);
    let mut h = Harness::new(config, Harness::default_options());
    let t = h.open_terminal(1, HOST);
    (h, t)
}

fn snapshot_for(h: &Harness, t: TerminalId, to: ParticipantId, epoch: u8) -> SealedFrame {
    h.keys(Role::Admin)
        .sealer(t, Direction::Snapshot, to, Epoch([epoch; 16]))
        .unwrap()
        .seal(b"a snapshot")
        .unwrap()
}

fn seqs(frames: &[Frame]) -> Vec<(Direction, u64)> {
    sealed(frames)
        .iter()
        .map(|f| (f.header().direction, f.header().seq.0))
        .collect()
}

fn snapshot_requests(bodies: &[Body]) -> Vec<(u32, u32)> {
    bodies
        .iter()
        .filter_map(|b| match b {
            Body::SnapshotRequest(r) => Some((r.terminal_id, r.requester)),
            _ => None,
        })
        .collect()
}

/// SPEC.md 6.7: a viewer whose queue passes the threshold loses what was
/// queued for it, is asked a snapshot for, gets no live output of that
/// terminal until the snapshot comes, then the snapshot and live output;
/// a fast viewer of the same terminal gets every frame.
#[test]
fn a_slow_viewer_is_skipped_forward_with_a_snapshot() {
    let (mut h, t) = resync_harness();
    let (slow, slow_id) = h.join(Role::Reader, "slow");
    let (fast, _) = h.join(Role::Reader, "fast");
    h.take(h.host);
    h.relay.handle_blocked(slow);
    let mut out = h.output_sealer(t, 1);
    let mut dropped = 0;
    for i in 0..9 {
        let f = out.seal(b"data").unwrap();
        if i < 7 {
            dropped += f.as_bytes().len();
        }
        h.send_sealed(h.host, f);
    }
    // The seventh frame passed the threshold: seven dropped, two held back.
    assert_eq!(h.relay.queued(slow).0, 0);
    assert!(h.events.contains(&Event::Resynced {
        session: h.session.clone(),
        participant: slow_id,
        frames: 7,
        bytes: dropped,
    }));
    assert_eq!(
        snapshot_requests(&h.take_controls(h.host)),
        [(t.0, slow_id.0)]
    );
    // The host's snapshot, then live output again.
    let snap = snapshot_for(&h, t, slow_id, 0x50);
    h.send_sealed(h.host, snap);
    let f = out.seal(b"live").unwrap();
    h.send_sealed(h.host, f);
    h.relay.handle_unblocked(slow);
    assert_eq!(
        seqs(&h.take(slow)),
        [(Direction::Snapshot, 0), (Direction::Output, 9)]
    );
    assert!(!h.closed.contains(&slow));
    assert_eq!(
        seqs(&h.take(fast)),
        (0..10).map(|s| (Direction::Output, s)).collect::<Vec<_>>()
    );
    // One request per resync: none was asked twice.
    assert_eq!(snapshot_requests(&h.take_controls(h.host)), []);
}

/// A viewer that has taken nothing since a resync `resync_timeout` ago
/// has stopped reading: it is closed at its next resync. Sooner, it is
/// resynced again (its socket may still be full).
#[test]
fn a_viewer_that_stops_reading_is_evicted_a_resync_timeout_later() {
    let (mut h, t) = resync_harness();
    let (slow, slow_id) = h.join(Role::Reader, "slow");
    h.take(h.host);
    h.relay.handle_blocked(slow);
    let mut out = h.output_sealer(t, 1);
    let mut flood = |h: &mut Harness, n: usize| {
        for _ in 0..n {
            let f = out.seal(b"data").unwrap();
            h.send_sealed(h.host, f);
        }
    };
    flood(&mut h, 7);
    for epoch in [0x50, 0x51] {
        assert_eq!(
            snapshot_requests(&h.take_controls(h.host)),
            [(t.0, slow_id.0)]
        );
        let snap = snapshot_for(&h, t, slow_id, epoch);
        h.send_sealed(h.host, snap);
        // Six frames more pass the threshold again (snapshots stay queued).
        flood(&mut h, 6);
        assert!(!h.closed.contains(&slow));
    }
    let snap = snapshot_for(&h, t, slow_id, 0x52);
    h.send_sealed(h.host, snap);
    h.advance(Duration::from_secs(10));
    flood(&mut h, 6);
    assert!(h.events.contains(&Event::Evicted {
        conn: slow,
        reason: EvictReason::TooSlow
    }));
    assert!(h.closed.contains(&slow));
}

/// A snapshot that does not come within `resync_timeout` while the host
/// is online closes the viewer; while the host is away the wait goes on,
/// and the resumed host is asked again.
#[test]
fn a_resync_waits_for_the_host_and_no_longer() {
    let (mut h, t) = resync_harness();
    let (slow, slow_id) = h.join(Role::Reader, "slow");
    let (other, other_id) = h.join(Role::Reader, "other");
    h.relay.handle_blocked(slow);
    h.relay.handle_blocked(other);
    let mut out = h.output_sealer(t, 1);
    for _ in 0..7 {
        let f = out.seal(b"data").unwrap();
        h.send_sealed(h.host, f);
    }
    h.take(h.host);
    // The host goes away before answering for `slow`.
    h.relay.handle_disconnect(h.host, h.now);
    h.advance(Duration::from_secs(25));
    assert!(!h.closed.contains(&slow));
    let host = h.connect();
    let req = Body::SessionResume(m::SessionResume {
        session_id: h.session.to_string(),
        profile: None,
    });
    let prover = h.keys(Role::Admin).prover();
    h.admit(host, req, &prover).expect("resumed");
    h.host = host;
    let mut asked = snapshot_requests(&h.take_controls(host));
    asked.sort_unstable();
    assert_eq!(asked, [(t.0, slow_id.0), (t.0, other_id.0)]);
    // The resumed host answers `other` only.
    let snap = snapshot_for(&h, t, other_id, 0x51);
    h.send_sealed(host, snap);
    h.advance(Duration::from_secs(9));
    assert!(!h.closed.contains(&slow));
    h.advance(Duration::from_secs(2));
    assert!(h.closed.contains(&slow));
    assert!(!h.closed.contains(&other));
}

#[test]
fn participant_and_terminal_limits() {
    let config = config().with_max_participants(2).with_max_terminals(1);
    let mut h = Harness::new(config, Harness::default_options());
    let (w, _) = h.join(Role::Writer, "1");
    h.join(Role::Writer, "2");
    let conn = h.connect();
    let prover = h.keys(Role::Writer).prover();
    let req = join_req(&h);
    assert_eq!(
        h.admit(conn, req, &prover),
        Err(RefusalReason::SessionFull as i32)
    );
    h.open_terminal(1, HOST);
    h.take(h.host);
    h.open_terminal(2, HOST);
    assert_eq!(
        refusals(&h.take_controls(h.host)),
        vec![(21, AR::LimitReached as i32)]
    );
    h.send(w, Body::TerminalCreate(m::TerminalCreate::default()));
    assert_eq!(
        refusals(&h.take_controls(w)),
        vec![(20, AR::LimitReached as i32)]
    );
}

#[test]
fn handshake_and_idle_timeouts_close_connections() {
    let mut h = Harness::new(RelayConfig::default(), Harness::default_options());
    let silent = h.connect();
    let (idle, _) = h.join(Role::Reader, "idle");
    h.advance(Duration::from_secs(11));
    assert!(h.closed.contains(&silent));
    assert!(!h.closed.contains(&idle));
    h.send(h.host, Body::Ping(m::Ping { nonce: 1 }));
    h.advance(Duration::from_secs(80));
    assert!(h.closed.contains(&idle));
    assert!(!h.closed.contains(&h.host));
}

#[test]
fn protocol_violations_close_the_connection() {
    let mut h = harness();
    let (w, _) = h.join(Role::Writer, "w");
    h.send(
        w,
        Body::TerminalOpened(m::TerminalOpened {
            terminal_id: 3,
            owner: 1,
            ..Default::default()
        }),
    );
    assert_eq!(
        h.take_controls(w),
        vec![Body::Error(m::Error {
            code: m::ErrorCode::UnexpectedMessage as i32
        })]
    );
    assert!(h.closed.contains(&w));
    let c = h.connect();
    h.relay
        .handle_message(c, Bytes::from_static(&[1, 9, 9]), h.now);
    assert_eq!(
        h.take_controls(c),
        vec![Body::Error(m::Error {
            code: m::ErrorCode::MalformedFrame as i32
        })]
    );
    assert!(h.closed.contains(&c));
}

/// Finding 13.5: a frame of another protocol version was answered
/// `MALFORMED_FRAME`; SPEC.md 8 and 9 say `UNSUPPORTED_VERSION`.
#[test]
fn a_frame_of_another_version_is_unsupported_version() {
    let mut h = harness();
    let c = h.connect();
    h.relay
        .handle_message(c, Bytes::from_static(&[9, 9, 9]), h.now);
    assert_eq!(
        h.take_controls(c),
        vec![Body::Error(m::Error {
            code: m::ErrorCode::UnsupportedVersion as i32
        })]
    );
    assert!(h.closed.contains(&c));
}

/// Finding 13.5: the join burst announced the controller of an adopted
/// terminal as `GRANTED` by the host, a change that never happened. It is
/// `OPENED`: the state the terminal is in.
#[test]
fn the_join_burst_states_control_without_inventing_a_grant() {
    let mut h = harness();
    let (a, aid) = h.join(Role::Writer, "a");
    let (b, bid) = h.join(Role::Writer, "b");
    let t = TerminalId(7);
    h.send(
        h.host,
        Body::TerminalOpened(m::TerminalOpened {
            terminal_id: t.0,
            owner: aid.0,
            ..Default::default()
        }),
    );
    h.send(
        a,
        Body::ControlGrant(m::ControlGrant {
            terminal_id: t.0,
            grantee: bid.0,
        }),
    );
    let _ = h.take(b);
    let c = h.connect();
    let keys = h.keys(Role::Reader);
    let request = Body::JoinRequest(m::JoinRequest {
        session_id: h.session.to_string(),
        profile: profile("c"),
    });
    h.admit(c, request, &keys.prover()).unwrap();
    assert_eq!(
        changed(&h.take_controls(c)),
        vec![(aid.0, bid.0, ControlReason::Opened as i32, 0)]
    );
}

// ---- zero copy ----------------------------------------------------------

#[test]
fn fanout_clones_the_handle_not_the_bytes() {
    let mut h = harness();
    let t = h.open_terminal(1, HOST);
    let conns: Vec<ConnId> = (0..8)
        .map(|i| h.join(Role::Reader, &format!("r{i}")).0)
        .collect();
    let frame = h.output_sealer(t, 1).seal(&[7u8; 4096]).unwrap();
    let ptr = frame.as_bytes().as_ptr();
    h.send_sealed(h.host, frame);
    for conn in conns {
        let got = sealed(&h.take(conn));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_bytes().as_ptr(), ptr);
    }
}

#[test]
fn shutdown_ends_every_session_and_closes_every_connection() {
    let Two { mut h, a, b, .. } = two_writers();
    let pending = h.connect();
    h.relay.shutdown(h.now);
    for conn in [a, b, h.host] {
        assert_eq!(
            h.take_controls(conn),
            vec![Body::SessionEnded(m::SessionEnded {
                reason: EndReason::RelayShutdown as i32
            })]
        );
    }
    for conn in [a, b, h.host, pending] {
        assert!(h.closed.contains(&conn), "{conn:?}");
    }
    assert_eq!(h.relay.session_count(), 0);
    assert_eq!(h.relay.connection_count(), 0);
}

/// Finding 14.2: `Presence`, `Focus`, `Layout` and `HistoryRequest` had no
/// rate, so 8,200 `Focus` from a reader evicted a host that was blocked
/// for a moment. Each kind now has a per-participant bucket; over it the
/// sender is refused `RATE_LIMITED` and nothing is fanned out.
#[test]
fn no_flood_by_one_participant_evicts_the_host() {
    let floods: [(&str, Role, Body); 5] = [
        (
            "focus",
            Role::Reader,
            Body::Focus(m::Focus {
                participant_id: 0,
                terminal_id: 1,
            }),
        ),
        (
            "presence",
            Role::Reader,
            Body::Presence(m::Presence {
                participant_id: 0,
                profile: profile("again"),
                role: 0,
                state: m::presence::State::Updated as i32,
            }),
        ),
        (
            "layout",
            Role::Reader,
            Body::Layout(m::Layout {
                participant_id: 0,
                tiles: vec![m::Tile::default(); 4],
            }),
        ),
        (
            "history",
            Role::Reader,
            Body::HistoryRequest(m::HistoryRequest { terminal_id: 0 }),
        ),
        (
            "resize",
            Role::Writer,
            Body::TerminalResize(m::TerminalResize {
                terminal_id: 1,
                rows: 30,
                cols: 100,
                requester: 0,
            }),
        ),
    ];
    for (what, role, body) in floods {
        let mut h = harness();
        let (flooder, fid) = h.join(role, "flooder");
        // A writer floods requests about its own terminal.
        let owner = if role == Role::Writer { fid } else { HOST };
        h.open_terminal(1, owner);
        let (bystander, _) = h.join(Role::Reader, "bystander");
        h.take(h.host);
        h.relay.handle_blocked(h.host);
        for _ in 0..8_200 {
            h.relay
                .handle_frame(flooder, Frame::control(body.clone()), h.now);
            // The flooder reads its refusals; the host does not read at all.
            h.pump();
            h.inbox.remove(&flooder);
        }
        h.pump();
        assert!(!h.closed.contains(&h.host), "{what}: the host was evicted");
        assert!(
            !h.closed.contains(&bystander),
            "{what}: a bystander was evicted"
        );
        let (frames, _) = h.relay.queued(h.host);
        assert!(frames <= 40, "{what}: {frames} frames queued for the host");
        // A second later the flooder may speak again.
        h.relay.handle_unblocked(h.host);
        h.advance(Duration::from_secs(3));
        h.take(flooder);
        h.send(flooder, body.clone());
        assert!(
            refusals(&h.take_controls(flooder)).is_empty(),
            "{what}: still refused after the refill"
        );
    }
}

/// Finding 14.3: the relay counted only terminals already announced, so
/// 100 `TerminalCreate` in a burst were all forwarded. Creates the host
/// has not answered count too (until `create_timeout`).
#[test]
fn a_burst_of_creates_cannot_pass_the_terminal_limit() {
    let mut h = Harness::new(
        config().with_request_burst(1000),
        Harness::default_options(),
    );
    let (w, wid) = h.join(Role::Writer, "w");
    h.open_terminal(1, wid);
    h.take(h.host);
    let create = Body::TerminalCreate(m::TerminalCreate {
        requester: 0,
        rows: 24,
        cols: 80,
        label: "t".into(),
    });
    for _ in 0..100 {
        h.send(w, create.clone());
    }
    let forwarded = h
        .take_controls(h.host)
        .iter()
        .filter(|b| matches!(b, Body::TerminalCreate(_)))
        .count();
    assert_eq!(forwarded, 31, "32 terminals at most, one already open");
    let refused = refusals(&h.take_controls(w));
    assert_eq!(refused.len(), 69);
    assert!(refused.iter().all(|r| *r == (20, AR::LimitReached as i32)));
    // Answers free nothing (they are terminals now); unanswered creates
    // stop counting after create_timeout.
    h.advance(Duration::from_secs(11));
    h.send(w, create.clone());
    assert_eq!(h.take_controls(h.host).len(), 1);
}

/// Finding 14.1: a replay pushed a terminal's whole ring into the joiner's
/// queue at once, so a ring of 9,000 one-byte echo frames (486 KB, under
/// `ring_bytes`) got the joiner evicted before it saw anything. Replays
/// now stream as the joiner's queue drains, with live output arriving
/// meanwhile delivered after them, in order, once.
#[test]
fn a_busy_session_can_be_joined() {
    let mut h = harness();
    let t = h.open_terminal(1, HOST);
    let mut out = h.output_sealer(t, 1);
    let mut all = Vec::new();
    for i in 0..9_000u32 {
        let f = out.seal(&[(i % 251) as u8]).unwrap();
        h.send_sealed(h.host, f.clone());
        all.push(f);
    }
    assert_eq!(h.relay.ring_bytes(&h.session, t), Some(9_000 * 54));
    // The joiner is slow: it reads nothing from its proof on.
    let conn = h.connect();
    let prover = h.keys(Role::Reader).prover();
    let req = join_req(&h);
    h.send(conn, req);
    let challenge = h.take_controls(conn);
    let challenge = taiku_session::admission::challenge(&challenge[0]).unwrap();
    h.relay.handle_blocked(conn);
    h.send(
        conn,
        taiku_session::admission::join_proof(&prover, &challenge),
    );
    for i in 0..500u32 {
        let f = out.seal(&[(i % 7) as u8]).unwrap();
        h.send_sealed(h.host, f.clone());
        all.push(f);
        // A replay batch and the join burst, not the ring.
        let (frames, _) = h.relay.queued(conn);
        assert!(
            frames <= taiku_session::relay::REPLAY_BATCH + 64,
            "{frames} frames queued while blocked"
        );
    }
    assert!(!h.closed.contains(&conn), "the joiner was evicted");
    h.relay.handle_unblocked(conn);
    let frames = h.take(conn);
    assert!(!h.closed.contains(&conn));
    assert_eq!(sealed(&frames), all, "every frame once, replay then live");
    // Live frames flow directly again.
    let live = out.seal(b"live").unwrap();
    h.send_sealed(h.host, live.clone());
    assert_eq!(sealed(&h.take(conn)), vec![live]);
}

/// Finding 14.8: sessions created with self-made keys whose hosts left at
/// once held every slot for the 5-minute grace. A session nobody ever
/// joined keeps its slot for `empty_host_grace` (30 s), and gives it up at
/// once when the relay is full and somebody creates a session; one somebody
/// joined keeps the 5 minutes.
#[test]
fn abandoned_empty_sessions_never_keep_a_session_out() {
    let mut h = Harness::new(config().with_max_sessions(3), Harness::default_options());
    // The harness's own session has a participant.
    let (_w, _) = h.join(Role::Writer, "w");
    h.relay.handle_disconnect(h.host, h.now);
    // Two abandoned sessions fill the relay.
    for n in 0..2u8 {
        let sid = SessionId::new(&format!("abandoned-{n:07}")).unwrap();
        let keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [n + 60; 32]), &sid);
        let conn = h.create_session(&keys, Harness::default_options());
        h.relay.handle_disconnect(conn, h.now);
    }
    assert_eq!(h.relay.session_count(), 3);
    let newcomer = |h: &mut Harness, n: u8| {
        let sid = SessionId::new(&format!("newcomer-{n:07}")).unwrap();
        let keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [n + 90; 32]), &sid);
        let conn = h.connect();
        let create =
            taiku_session::admission::session_create(&keys, Harness::default_options(), None)
                .unwrap();
        h.admit(conn, create, &keys.prover())
    };
    // A full relay ends an abandoned session for the newcomer.
    assert_eq!(newcomer(&mut h, 1), Ok(HOST));
    assert_eq!(h.relay.session_count(), 3);
    // The other abandoned one is gone after its short grace; the joined
    // one waits for its host.
    h.advance(Duration::from_secs(31));
    assert_eq!(h.relay.session_count(), 2);
    assert_eq!(newcomer(&mut h, 2), Ok(HOST));
    // Now the relay is full of sessions that keep a promise.
    assert_eq!(newcomer(&mut h, 3), Err(RefusalReason::RelayFull as i32));
    assert_eq!(h.relay.session_count(), 3);
}

/// Finding 14.8: a connection over `max_connections` was closed with no
/// word, which a client cannot tell from a network failure. It is told
/// `RELAY_FULL` first.
#[test]
fn a_full_relay_says_so_before_closing() {
    let mut h = Harness::new(config().with_max_connections(2), Harness::default_options());
    let (_w, _) = h.join(Role::Writer, "w");
    let refused = h.connect();
    assert_eq!(
        h.take_controls(refused),
        vec![Body::JoinResult(m::JoinResult {
            outcome: Some(m::join_result::Outcome::Refused(
                RefusalReason::RelayFull as i32
            )),
        })]
    );
    assert!(h.closed.contains(&refused));
}

/// Finding 14.8: connections that never prove a role could fill
/// `max_connections` and keep out everybody, resuming hosts included. A
/// full relay closes the oldest connection still proving its role to make
/// room; admitted ones are never closed for a newcomer.
#[test]
fn unadmitted_connections_make_room_for_newcomers() {
    let mut h = Harness::new(config().with_max_connections(3), Harness::default_options());
    let older = h.connect();
    h.advance(Duration::from_millis(10));
    let younger = h.connect();
    h.advance(Duration::from_millis(10));
    let newcomer = h.connect();
    h.pump();
    assert!(
        h.closed.contains(&older),
        "the oldest unadmitted makes room"
    );
    assert!(!h.closed.contains(&younger));
    assert!(!h.closed.contains(&newcomer));
    // The newcomer is a full participant of the session.
    let keys = h.keys(Role::Writer);
    let join = Body::JoinRequest(m::JoinRequest {
        session_id: h.session.to_string(),
        profile: None,
    });
    assert!(h.admit(newcomer, join, &keys.prover()).is_ok());
    assert!(
        !h.closed.contains(&h.host),
        "the host is never closed for it"
    );
}

/// Finding 14.8: anyone could create sessions with self-made keys until
/// the relay was full. One source holds at most `max_sessions_per_source`
/// live sessions; other sources are not affected, and a session that ends
/// frees its place.
#[test]
fn one_source_cannot_create_every_session() {
    use taiku_session::relay::Source;
    let mut h = Harness::new(
        config().with_max_sessions_per_source(2),
        Harness::default_options(),
    );
    let create = |h: &mut Harness, n: u8, source: [u8; 16]| {
        let sid = SessionId::new(&format!("per-source-{n:05}")).unwrap();
        let keys = KeySchedule::new(&LinkSecret::from_bytes(Role::Admin, [n; 32]), &sid);
        let conn = h.connect();
        h.relay.attach_source(conn, Source(source));
        let request =
            taiku_session::admission::session_create(&keys, Harness::default_options(), None)
                .unwrap();
        (conn, h.admit(conn, request, &keys.prover()))
    };
    let attacker = [2; 16];
    let (first, ok) = create(&mut h, 1, attacker);
    assert_eq!(ok, Ok(HOST));
    assert_eq!(create(&mut h, 2, attacker).1, Ok(HOST));
    assert_eq!(
        create(&mut h, 3, attacker).1,
        Err(RefusalReason::RateLimited as i32)
    );
    assert_eq!(create(&mut h, 4, [1; 16]).1, Ok(HOST), "another source");
    // The attacker's first session ends: its place is free again.
    h.send(first, Body::SessionEnded(m::SessionEnded { reason: 0 }));
    assert_eq!(create(&mut h, 5, attacker).1, Ok(HOST));
}
