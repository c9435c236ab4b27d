//! The client loop reports what happens to its connection (issue 15,
//! item 3): a lost connection is `Disconnected` (the host's `Offline`);
//! a loop that reconnects says `Reconnecting { attempt, delay }` and then
//! `Rejoined` (the host's `Online { resumed: true }`); a loop that does not
//! reconnect ends, closing its event channel, in bounded time.

use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::Role;
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    ClientHandle, DriverConfig, Machine, OsRng, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn next<M: Machine>(handle: &mut ClientHandle<M>) -> Option<M::Event> {
    timeout(WAIT, handle.events.recv())
        .await
        .expect("an event or the end in time")
}

/// A relay and a host online on it; the host's reader link.
async fn session() -> (RelayServer, ClientHandle<Host<OsRng>>, String) {
    let relay = RelayServer::bind("127.0.0.1:0".parse().unwrap(), None, RelayConfig::default())
        .await
        .unwrap();
    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let link = host
        .link(&relay.origin(), Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let (mut host, _) = spawn_host(host, config(&relay, true));
    while !matches!(next(&mut host).await, Some(HostEvent::Online { .. })) {}
    (relay, host, link)
}

fn config(relay: &RelayServer, reconnect: bool) -> DriverConfig {
    let mut config = DriverConfig::new(Endpoint::from_origin(&relay.origin(), false).unwrap());
    config.options.reconnect = reconnect;
    config
}

fn viewer(link: &str) -> Participant<OsRng> {
    Participant::new(
        ParticipantConfig::default(),
        &Link::parse(link).unwrap(),
        os_rng(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_reconnecting_a_lost_connection_ends_the_loop() {
    let (relay, _host, link) = session().await;
    let (mut handle, task) = spawn_participant(viewer(&link), config(&relay, false));
    assert!(matches!(
        next(&mut handle).await,
        Some(ParticipantEvent::Joined { .. })
    ));
    handle.drop_connection().await;
    let mut events = Vec::new();
    while let Some(e) = next(&mut handle).await {
        events.push(e);
    }
    assert!(
        events.contains(&ParticipantEvent::Disconnected),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ParticipantEvent::Reconnecting { .. })),
        "{events:?}"
    );
    timeout(WAIT, task).await.expect("the loop ends").unwrap();
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_viewer_says_so_and_rejoins() {
    let (relay, _host, link) = session().await;
    let (mut handle, _task) = spawn_participant(viewer(&link), config(&relay, true));
    assert!(matches!(
        next(&mut handle).await,
        Some(ParticipantEvent::Joined { .. })
    ));
    handle.drop_connection().await;
    let mut seen = Vec::new();
    loop {
        let e = next(&mut handle).await.expect("the loop goes on");
        let rejoined = matches!(
            e,
            ParticipantEvent::Rejoined {
                role: Role::Reader,
                ..
            }
        );
        seen.push(e);
        if rejoined {
            break;
        }
    }
    let disconnected = seen
        .iter()
        .position(|e| *e == ParticipantEvent::Disconnected)
        .expect("Disconnected");
    let reconnecting = seen
        .iter()
        .position(|e| matches!(e, ParticipantEvent::Reconnecting { attempt: 1, .. }))
        .expect("Reconnecting, attempt 1");
    assert!(disconnected < reconnecting, "{seen:?}");
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ParticipantEvent::Joined { .. })),
        "a rejoin is not a first join: {seen:?}"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_does_not_reconnect_ends_after_offline() {
    let relay = RelayServer::bind("127.0.0.1:0".parse().unwrap(), None, RelayConfig::default())
        .await
        .unwrap();
    let host = Host::generate(HostConfig::default(), Default::default(), os_rng());
    let (mut host, task) = spawn_host(host, config(&relay, false));
    while !matches!(next(&mut host).await, Some(HostEvent::Online { .. })) {}
    host.drop_connection().await;
    let mut events = Vec::new();
    while let Some(e) = next(&mut host).await {
        events.push(e);
    }
    assert_eq!(events, vec![HostEvent::Offline]);
    timeout(WAIT, task).await.expect("the loop ends").unwrap();
    // A reconnecting host says when it tries again.
    let host = Host::generate(HostConfig::default(), Default::default(), os_rng());
    let (mut host, _task) = spawn_host(host, config(&relay, true));
    while !matches!(next(&mut host).await, Some(HostEvent::Online { .. })) {}
    host.drop_connection().await;
    assert_eq!(next(&mut host).await, Some(HostEvent::Offline));
    assert!(matches!(
        next(&mut host).await,
        Some(HostEvent::Reconnecting { attempt: 1, .. })
    ));
    while !matches!(
        next(&mut host).await,
        Some(HostEvent::Online { resumed: true })
    ) {}
    relay.shutdown().await;
}
