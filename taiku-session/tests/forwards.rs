//! Port forwards and HTTP tunnels (SPEC.md 6.8, 12.4) through the whole
//! system in memory: bytes arrive exactly, flow control holds each
//! direction to its window, a reader cannot forward, an unpublished port
//! is never reached, withdrawing a port closes its streams, a dishonest
//! relay cannot start a forward again or read one, and HTTP tunnels need
//! an admitted writer's credential.

use std::time::Duration;

use bytes::Bytes;
use taiku_crypto::{KeySchedule, RoleNotHeld, random_epoch};
use taiku_proto::limits::{FORWARD_CHUNK, FORWARD_WINDOW, RELAY_STREAM_BASE};
use taiku_proto::message::{self as m, ForwardEnd, control::Body};
use taiku_proto::{Direction, Frame, ParticipantId, Role, TerminalId};
use taiku_session::access::Refusal;
use taiku_session::forward::{ForwardEvent, ForwardId};
use taiku_session::host::HostEvent;
use taiku_session::participant::{ActionError, ParticipantEvent};
use taiku_session::relay::{ConnId, TunnelRefusal};

#[path = "support/net.rs"]
mod net;
use net::{Net, ORIGIN};

/// A marked payload of `len` bytes.
fn payload(tag: &str, len: usize) -> Vec<u8> {
    let mark = format!("<{tag}-plaintext>");
    mark.bytes().cycle().take(len).collect()
}

fn requested(net: &Net) -> Vec<(ForwardId, u32)> {
    net.host_events
        .iter()
        .filter_map(|e| match e {
            HostEvent::Forward(ForwardEvent::Requested { id, port }) => Some((*id, *port)),
            _ => None,
        })
        .collect()
}

fn host_closed(net: &Net) -> Vec<(ForwardId, ForwardEnd)> {
    net.host_events
        .iter()
        .filter_map(|e| match e {
            HostEvent::Forward(ForwardEvent::Closed { id, reason }) => Some((*id, *reason)),
            _ => None,
        })
        .collect()
}

/// The `ForwardClose`s the relay sent `to` ("host", "peer0").
fn relay_closes(net: &Net, to: &str) -> Vec<(u32, ForwardEnd)> {
    net.relay_sent
        .iter()
        .filter(|(t, _)| t == to)
        .filter_map(|(_, f)| match f {
            Frame::Control(m::Control {
                body: Some(Body::ForwardClose(c)),
            }) => Some((c.stream, ForwardEnd::try_from(c.reason).unwrap())),
            _ => None,
        })
        .collect()
}

fn peer_closed(net: &Net, i: usize) -> Vec<(ForwardId, ForwardEnd)> {
    net.peers[i]
        .events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::Forward(ForwardEvent::Closed { id, reason }) => Some((*id, *reason)),
            _ => None,
        })
        .collect()
}

/// What the host received on `id` so far, and delivered (credit back).
fn host_take(net: &mut Net, id: ForwardId, got: &mut Vec<u8>) {
    let mut n = 0;
    for e in core::mem::take(&mut net.host_events) {
        match e {
            HostEvent::Forward(ForwardEvent::Data { id: i, data }) if i == id => {
                got.extend_from_slice(&data);
                n += data.len();
            }
            other => net.host_events.push(other),
        }
    }
    net.host.forward_consumed(id, n);
}

fn peer_take(net: &mut Net, i: usize, id: ForwardId, got: &mut Vec<u8>) {
    let mut n = 0;
    for e in core::mem::take(&mut net.peers[i].events) {
        match e {
            ParticipantEvent::Forward(ForwardEvent::Data { id: f, data }) if f == id => {
                got.extend_from_slice(&data);
                n += data.len();
            }
            other => net.peers[i].events.push(other),
        }
    }
    net.peers[i].machine.forward_consumed(id, n);
}

/// A session whose host publishes 3000, with a writer (peer 0) whose
/// forward to it is open; the forward's id.
fn open_forward() -> (Net, ForwardId) {
    let mut net = Net::new(41);
    net.host.publish(3000).unwrap();
    net.run();
    let w = net.add_peer(Role::Writer, "wanda");
    assert_eq!(net.peers[w].machine.view().tunnels, [3000]);
    let id = net.peers[w].machine.open_forward(3000).unwrap();
    net.run();
    assert_eq!(requested(&net), [(id, 3000)]);
    net.host.forward_connected(id).unwrap();
    net.run();
    assert!(
        net.peers[w]
            .events
            .contains(&ParticipantEvent::Forward(ForwardEvent::Opened { id }))
    );
    (net, id)
}

#[test]
fn a_sealed_forward_carries_bytes_both_ways_and_the_relay_sees_only_ciphertext() {
    let (mut net, id) = open_forward();
    let request = payload("request", 300 * 1024);
    let response = payload("response", 5 * FORWARD_WINDOW + 123);
    let (mut sent_up, mut sent_down) = (0, 0);
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let mut stalls = 0;
    while got_up.len() < request.len() || got_down.len() < response.len() {
        let before = (sent_up, sent_down);
        while sent_up < request.len() {
            match net.peers[0].machine.forward_write(id, &request[sent_up..]) {
                Ok(0) => break,
                Ok(n) => sent_up += n,
                Err(e) => panic!("{e}"),
            }
        }
        while sent_down < response.len() {
            match net.host.forward_write(id, &response[sent_down..]) {
                Ok(0) => break,
                Ok(n) => sent_down += n,
                Err(e) => panic!("{e}"),
            }
        }
        net.run();
        host_take(&mut net, id, &mut got_up);
        peer_take(&mut net, 0, id, &mut got_down);
        net.run();
        if (sent_up, sent_down) == before {
            stalls += 1;
            assert!(stalls < 3, "flow control stalled");
        }
    }
    assert_eq!(got_up, request);
    assert_eq!(got_down, response);
    // Both ends finish: the stream is gone at each end and at the relay.
    net.peers[0].machine.forward_finish(id).unwrap();
    net.host.forward_finish(id).unwrap();
    net.run();
    assert!(
        net.host_events
            .contains(&HostEvent::Forward(ForwardEvent::Finished { id }))
    );
    assert!(
        net.peers[0]
            .events
            .contains(&ParticipantEvent::Forward(ForwardEvent::Finished { id }))
    );
    assert_eq!(
        net.host.forward_write(id, b"more"),
        Err(taiku_session::forward::ForwardError::UnknownStream)
    );
    // Nothing of either direction crossed the relay in the clear.
    net.assert_relay_blind(&[
        b"<request-plaintext>".to_vec(),
        b"<response-plaintext>".to_vec(),
    ]);
    assert!(
        net.kinds("peer0", "relay").contains(&"sealed ForwardUp")
            && net.kinds("host", "relay").contains(&"sealed ForwardDown")
    );
}

#[test]
fn no_end_sends_past_its_window_without_credit() {
    let (mut net, id) = open_forward();
    let big = payload("x", 2 * FORWARD_WINDOW);
    let mut sent = 0;
    loop {
        match net.peers[0].machine.forward_write(id, &big[sent..]) {
            Ok(0) => break,
            Ok(n) => {
                assert!(n <= FORWARD_CHUNK);
                sent += n;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(sent, FORWARD_WINDOW);
    net.run();
    // Credit comes back as the host delivers.
    let mut got = Vec::new();
    host_take(&mut net, id, &mut got);
    net.run();
    assert_eq!(got.len(), FORWARD_WINDOW);
    let credited: usize = net.peers[0]
        .events
        .iter()
        .filter_map(|e| match e {
            ParticipantEvent::Forward(ForwardEvent::Credit { bytes, .. }) => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(credited, FORWARD_WINDOW);
}

#[test]
fn a_participant_past_its_window_is_cut_off_by_the_relay() {
    let (mut net, id) = open_forward();
    // A hostile writer with its own keys, ignoring credit.
    let link = net.host.link(ORIGIN, Role::Writer).unwrap();
    let keys = KeySchedule::new(link.secret(), link.session_id());
    let mut rng = rand_core::SeedableRng::from_seed([7; 32]);
    let epoch = random_epoch::<chacha20::ChaCha20Rng>(&mut rng);
    let mut sealer = keys
        .sealer(
            TerminalId(id.stream),
            Direction::ForwardUp,
            id.participant,
            epoch,
        )
        .unwrap();
    let conn = net.peers[0].conn.unwrap();
    let chunk = vec![0u8; FORWARD_CHUNK];
    // Frame 0 is a run start, then one more chunk than the window holds.
    for _ in 0..=FORWARD_WINDOW / FORWARD_CHUNK + 1 {
        let frame = sealer.seal(&chunk).unwrap();
        net.relay.handle_frame(conn, Frame::Sealed(frame), net.now);
    }
    net.run();
    assert_eq!(relay_closes(&net, "host"), [(id.stream, ForwardEnd::Limit)]);
    assert_eq!(
        relay_closes(&net, "peer0"),
        [(id.stream, ForwardEnd::Limit)]
    );
    assert_eq!(peer_closed(&net, 0), [(id, ForwardEnd::Limit)]);
    // The host had refused the forged frames already (not the writer's
    // run): either way the stream is gone there.
    assert_eq!(host_closed(&net).len(), 1);
}

#[test]
fn readers_cannot_forward_nor_hold_the_keys() {
    let mut net = Net::new(42);
    net.host.publish(3000).unwrap();
    net.run();
    let r = net.add_peer(Role::Reader, "rex");
    assert_eq!(
        net.peers[r].machine.open_forward(3000),
        Err(ActionError::Refused(Refusal::ReadOnly))
    );
    assert_eq!(
        net.peers[r].machine.request_tunnel_credential(),
        Err(ActionError::Refused(Refusal::ReadOnly))
    );
    // The reader's link derives no forward key.
    let link = net.host.link(ORIGIN, Role::Reader).unwrap();
    let keys = KeySchedule::new(link.secret(), link.session_id());
    let epoch = taiku_proto::Epoch([1; 16]);
    assert!(matches!(
        keys.sealer(TerminalId(1), Direction::ForwardUp, ParticipantId(1), epoch),
        Err(RoleNotHeld { .. })
    ));
    // A hostile reader asking anyway is refused by the relay; the host
    // never hears of it.
    let conn = net.peers[r].conn.unwrap();
    let rid = net.id(r);
    net.relay.handle_frame(
        conn,
        Frame::control(Body::ForwardOpen(m::ForwardOpen {
            stream: 1,
            port: 3000,
            ..Default::default()
        })),
        net.now,
    );
    net.relay.handle_frame(
        conn,
        Frame::control(Body::TunnelCredentialRequest(m::TunnelCredentialRequest {})),
        net.now,
    );
    net.run();
    assert_eq!(rid, ParticipantId(1));
    assert_eq!(relay_closes(&net, "peer0"), [(1, ForwardEnd::Denied)]);
    assert!(!net.kinds("relay", "host").contains(&"ForwardOpen"));
    assert!(!net.kinds("relay", "peer0").contains(&"TunnelCredential"));
}

#[test]
fn unpublished_ports_are_never_reached_and_withdrawing_closes_streams() {
    let (mut net, id) = open_forward();
    let w = 0;
    assert_eq!(
        net.peers[w].machine.open_forward(22),
        Err(ActionError::NotPublished)
    );
    // Asked anyway, the relay refuses; and the host would too.
    let conn = net.peers[w].conn.unwrap();
    net.relay.handle_frame(
        conn,
        Frame::control(Body::ForwardOpen(m::ForwardOpen {
            stream: 9,
            port: 22,
            ..Default::default()
        })),
        net.now,
    );
    net.host.handle_frame(
        Frame::control(Body::ForwardOpen(m::ForwardOpen {
            stream: 10,
            port: 22,
            participant: id.participant.0,
            http: false,
        })),
        net.now,
    );
    net.run();
    assert_eq!(relay_closes(&net, "peer0"), [(9, ForwardEnd::NotPublished)]);
    // The host refuses the open the relay should have refused.
    assert!(net.kinds("host", "relay").contains(&"ForwardClose"));
    assert_eq!(requested(&net).len(), 1);
    // An admin withdraws the port: the open stream closes at both ends.
    let a = net.add_peer(Role::Admin, "ada");
    net.peers[a].machine.administer_tunnel(3000, false).unwrap();
    net.run();
    assert_eq!(host_closed(&net), [(id, ForwardEnd::NotPublished)]);
    assert_eq!(peer_closed(&net, w), [(id, ForwardEnd::NotPublished)]);
    assert_eq!(net.peers[w].machine.view().tunnels, [0u32; 0]);
    assert!(net.host_events.contains(&HostEvent::TunnelsChanged {
        ports: vec![],
        http: vec![],
        by: net.id(a)
    }));
}

#[test]
fn a_relay_cannot_start_a_forward_again() {
    let (mut net, id) = open_forward();
    net.peers[0]
        .machine
        .forward_write(id, b"POST /pay")
        .unwrap();
    net.peers[0].machine.forward_finish(id).unwrap();
    net.run();
    net.host.forward_close(id);
    net.run();
    let recorded = net.host_got.clone();
    let before = requested(&net).len();
    let data = |net: &Net| {
        net.host_events
            .iter()
            .filter(|e| matches!(e, HostEvent::Forward(ForwardEvent::Data { .. })))
            .count()
    };
    let data_before = data(&net);
    // Everything the host got, again: no stream starts, no byte arrives.
    for frame in recorded.iter().cloned() {
        net.host.handle_frame(frame, net.now);
    }
    net.run();
    assert_eq!(requested(&net).len(), before);
    assert_eq!(data(&net), data_before);
    // A forged open without a start makes the host connect nothing.
    net.host.handle_frame(
        Frame::control(Body::ForwardOpen(m::ForwardOpen {
            stream: 77,
            port: 3000,
            participant: id.participant.0,
            http: false,
        })),
        net.now,
    );
    net.run();
    assert_eq!(requested(&net).len(), before);
}

#[test]
fn the_host_going_offline_ends_forwards() {
    let (mut net, id) = open_forward();
    net.drop_host();
    net.run();
    assert_eq!(peer_closed(&net, 0), [(id, ForwardEnd::HostOffline)]);
    assert_eq!(host_closed(&net), [(id, ForwardEnd::HostOffline)]);
}

/// The token a writer's credential request brought.
fn credential(net: &mut Net, i: usize) -> String {
    net.peers[i].machine.request_tunnel_credential().unwrap();
    net.run();
    net.peers[i]
        .events
        .iter()
        .rev()
        .find_map(|e| match e {
            ParticipantEvent::TunnelCredential { token, .. } => Some(token.expose().to_owned()),
            _ => None,
        })
        .expect("a credential")
}

#[test]
fn http_tunnels_need_an_admitted_writers_credential_and_carry_the_request() {
    let (mut net, _) = open_forward();
    let session = net.host.session_id().to_string();
    let token = credential(&mut net, 0);
    assert_eq!(token.len(), 43);
    // The token is never in a Debug print.
    let shown = format!("{:?}", net.peers[0].events);
    assert!(!shown.contains(&token));
    let tunnel = ConnId(9000);
    let now = net.now;
    assert_eq!(
        net.relay
            .open_tunnel(tunnel, &session, "forged-token", 3000, now),
        Err(TunnelRefusal::Forbidden)
    );
    assert_eq!(
        net.relay
            .open_tunnel(tunnel, "another-session", &token, 3000, now),
        Err(TunnelRefusal::Forbidden)
    );
    assert_eq!(
        net.relay.open_tunnel(tunnel, &session, &token, 8080, now),
        Err(TunnelRefusal::NotPublished)
    );
    net.relay
        .open_tunnel(tunnel, &session, &token, 3000, now)
        .unwrap();
    net.run();
    let (id, port) = *requested(&net).last().unwrap();
    assert_eq!(port, 3000);
    assert!(id.stream >= RELAY_STREAM_BASE);
    assert_eq!(id.participant, net.id(0));
    net.host.forward_connected(id).unwrap();
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    net.relay.handle_frame(
        tunnel,
        Frame::control(Body::ForwardData(m::ForwardData {
            data: Bytes::from_static(head),
            fin: true,
            ..Default::default()
        })),
        net.now,
    );
    net.run();
    let mut got = Vec::new();
    host_take(&mut net, id, &mut got);
    assert_eq!(got, head);
    let body = payload("page", 100_000);
    let mut sent = 0;
    while sent < body.len() {
        sent += net.host.forward_write(id, &body[sent..]).unwrap();
    }
    net.host.forward_finish(id).unwrap();
    net.run();
    let frames = net.others.remove(&tunnel).unwrap_or_default();
    let mut page = Vec::new();
    let mut fin = false;
    for f in frames {
        if let Frame::Control(m::Control {
            body: Some(Body::ForwardData(d)),
        }) = f
        {
            assert!(d.data.len() <= FORWARD_CHUNK);
            page.extend_from_slice(&d.data);
            fin |= d.fin;
        }
    }
    assert_eq!(page, body);
    assert!(fin);
    // Both directions finished: the relay closes the tunnel connection.
    assert!(net.others_closed.contains(&tunnel));
    // The credential dies with its participant.
    net.drop_peer(0);
    net.run();
    assert_eq!(
        net.relay
            .open_tunnel(ConnId(9001), &session, &token, 3000, net.now),
        Err(TunnelRefusal::Forbidden)
    );
}

#[test]
fn a_tunnel_request_the_host_never_answers_times_out_and_an_offline_host_is_502() {
    let (mut net, _) = open_forward();
    let session = net.host.session_id().to_string();
    let token = credential(&mut net, 0);
    let tunnel = ConnId(9100);
    net.relay
        .open_tunnel(tunnel, &session, &token, 3000, net.now)
        .unwrap();
    net.run();
    let (id, _) = *requested(&net).last().unwrap();
    // The host is asked but never answers.
    net.advance(Duration::from_secs(31));
    let closes: Vec<i32> = net
        .others
        .get(&tunnel)
        .into_iter()
        .flatten()
        .filter_map(|f| match f {
            Frame::Control(m::Control {
                body: Some(Body::ForwardClose(c)),
            }) => Some(c.reason),
            _ => None,
        })
        .collect();
    assert_eq!(closes, [ForwardEnd::Timeout as i32]);
    assert!(net.others_closed.contains(&tunnel));
    assert!(host_closed(&net).contains(&(id, ForwardEnd::Timeout)));
    net.drop_host();
    net.run();
    assert_eq!(
        net.relay
            .open_tunnel(ConnId(9101), &session, &token, 3000, net.now),
        Err(TunnelRefusal::HostOffline)
    );
    assert_eq!(TunnelRefusal::HostOffline.status(), 502);
}

#[test]
fn a_relay_cannot_send_a_forward_to_another_published_port() {
    let mut net = Net::new(43);
    net.host.publish(3000).unwrap();
    net.host.publish(8080).unwrap();
    net.run();
    let w = net.add_peer(Role::Writer, "wanda");
    net.peers[w].machine.open_forward(3000).unwrap();
    // The relay rewrites the port of the open it forwards.
    let conn = net.peers[w].conn.unwrap();
    while let Some(frame) = net.peers[w].machine.poll_transmit() {
        let frame = match frame {
            Frame::Control(m::Control {
                body: Some(Body::ForwardOpen(open)),
            }) => Frame::control(Body::ForwardOpen(m::ForwardOpen { port: 8080, ..open })),
            other => other,
        };
        net.relay.handle_frame(conn, frame, net.now);
    }
    net.run();
    assert_eq!(requested(&net), []);
    assert_eq!(relay_closes(&net, "peer0"), [(1, ForwardEnd::Denied)]);
}

#[test]
fn a_port_published_sealed_only_is_out_of_the_relays_reach() {
    let mut net = Net::new(44);
    net.host.publish_sealed(5432).unwrap();
    net.run();
    let w = net.add_peer(Role::Writer, "wanda");
    assert_eq!(net.peers[w].machine.view().tunnels, [5432]);
    assert_eq!(net.peers[w].machine.view().http_tunnels, [0u32; 0]);
    let id = net.peers[w].machine.open_forward(5432).unwrap();
    net.run();
    assert_eq!(requested(&net), [(id, 5432)]);
    // No HTTP tunnel to it, whatever the relay says.
    let session = net.host.session_id().to_string();
    let token = credential(&mut net, w);
    assert_eq!(
        net.relay
            .open_tunnel(ConnId(9200), &session, &token, 5432, net.now),
        Err(TunnelRefusal::NotPublished)
    );
    net.host.handle_frame(
        Frame::control(Body::ForwardOpen(m::ForwardOpen {
            stream: RELAY_STREAM_BASE,
            port: 5432,
            participant: id.participant.0,
            http: true,
        })),
        net.now,
    );
    net.run();
    assert_eq!(requested(&net).len(), 1);
    assert!(net.kinds("host", "relay").contains(&"ForwardClose"));
}

#[test]
fn finished_forwards_are_forgotten_whichever_end_finishes_first() {
    let (mut net, first) = open_forward();
    // More forwards, one after another, than a participant may have open
    // at once: each must be gone everywhere once both its ends finished.
    let mut id = first;
    for n in 0..40 {
        if n > 0 {
            // Opens are requests: within the participant's request rate.
            net.advance(Duration::from_millis(100));
            id = net.peers[0].machine.open_forward(3000).unwrap();
            net.run();
            assert_eq!(requested(&net).last(), Some(&(id, 3000)), "forward {n}");
            net.host.forward_connected(id).unwrap();
            net.run();
        }
        let host_first = n % 2 == 0;
        for host_side in [host_first, !host_first] {
            if host_side {
                net.host.forward_finish(id).unwrap();
            } else {
                net.peers[0].machine.forward_finish(id).unwrap();
            }
            net.run();
        }
    }
    assert_eq!(requested(&net).len(), 40);
    assert!(
        relay_closes(&net, "peer0").is_empty(),
        "{:?}",
        relay_closes(&net, "peer0")
    );
    assert!(relay_closes(&net, "host").is_empty());
}

#[test]
fn a_participant_holds_a_few_credentials_and_the_oldest_gives_way() {
    let (mut net, _) = open_forward();
    let session = net.host.session_id().to_string();
    let tokens: Vec<String> = (0..5).map(|_| credential(&mut net, 0)).collect();
    let now = net.now;
    let mut conn = 9300;
    let mut open = |net: &mut Net, token: &str| {
        conn += 1;
        net.relay
            .open_tunnel(ConnId(conn), &session, token, 3000, now)
    };
    // max_tunnel_credentials (4): the first is gone, the last four work.
    assert_eq!(open(&mut net, &tokens[0]), Err(TunnelRefusal::Forbidden));
    for token in &tokens[1..] {
        assert_eq!(open(&mut net, token), Ok(()));
    }
    // And none outlives the session.
    net.host.end_session();
    net.run();
    assert_eq!(open(&mut net, &tokens[4]), Err(TunnelRefusal::Forbidden));
}
