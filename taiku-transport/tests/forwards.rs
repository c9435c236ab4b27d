//! The forward drivers (SPEC.md 6.8) over a real relay and real sockets:
//! a host whose published port is a local server, a participant whose
//! local connection is forwarded to it, bytes both ways exactly, and the
//! end of each side carried through.

use std::time::{Duration, Instant};

use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::forwards::{Forwards, listen};
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{DriverConfig, os_rng, spawn_host, spawn_participant};
use taiku_transport::endpoint::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

/// A local server that answers each connection with `reply` after
/// reading what the client sent until it shut down its side.
async fn server(reply: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let _ = tcp.read_to_end(&mut request).await;
                let _ = tcp
                    .write_all(format!("{}:", request.len()).as_bytes())
                    .await;
                let _ = tcp.write_all(&reply).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_carries_both_ways_and_both_ends() {
    let reply: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let port = server(reply.clone()).await;
    let relay = RelayServer::bind("127.0.0.1:0".parse().unwrap(), None, RelayConfig::default())
        .await
        .unwrap();
    let endpoint = Endpoint::from_origin(&relay.origin(), false).unwrap();
    let mut host = Host::generate(HostConfig::default(), SessionOptions::default(), os_rng());
    host.publish(u32::from(port)).unwrap();
    let link = host
        .link(&relay.origin(), taiku_proto::Role::Writer)
        .unwrap();
    let (mut host, _host_task) = spawn_host(host, DriverConfig::new(endpoint.clone()));
    let host_forwards = Forwards::new(&host);
    timeout(WAIT, async {
        while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    })
    .await
    .expect("the host came online");
    tokio::spawn(async move {
        while let Some(event) = host.events.recv().await {
            host_forwards.handle_event(&event);
            if let HostEvent::Ended(_) = event {
                break;
            }
        }
    });
    let participant = Participant::new(ParticipantConfig::default(), &link, os_rng());
    let (mut viewer, _viewer_task) = spawn_participant(participant, DriverConfig::new(endpoint));
    let forwards = Forwards::new(&viewer);
    let events = {
        let forwards = forwards.clone();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        tokio::spawn(async move {
            while let Some(event) = viewer.events.recv().await {
                if matches!(event, ParticipantEvent::TunnelsChanged { .. })
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(viewer.commander());
                }
                forwards.handle_event(&event);
            }
        });
        ready
    };
    let _commander = timeout(WAIT, events).await.unwrap().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    tokio::spawn(listen(listener, u32::from(port), forwards.clone()));
    // The input becomes ready a moment after the ticket: try until the
    // first connection is taken.
    let request: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let started = Instant::now();
    let answer = timeout(WAIT, async {
        loop {
            let mut tcp = TcpStream::connect(local).await.unwrap();
            tcp.write_all(&request).await.unwrap();
            tcp.shutdown().await.unwrap();
            let mut answer = Vec::new();
            let _ = tcp.read_to_end(&mut answer).await;
            if !answer.is_empty() {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("an answer");
    let took = started.elapsed();
    let mut expected = format!("{}:", request.len()).into_bytes();
    expected.extend_from_slice(&reply);
    assert_eq!(answer.len(), expected.len());
    assert!(answer == expected, "the answer differs");
    eprintln!(
        "1 MB up and 4 MB down through a forward in {took:?} ({:.1} MB/s)",
        5e6 / took.as_secs_f64() / 1e6
    );
    // Both ends finished: nothing is left open on either side.
    timeout(WAIT, async {
        while forwards.open() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the forward's sockets are forgotten");
    relay.shutdown().await;
}
