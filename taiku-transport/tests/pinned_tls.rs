//! A relay with a self-signed certificate (a laptop on a LAN): a client
//! with the link's pin trusts it with no CA; without the pin, or with
//! another, the handshake fails (issue 15, item 1; SPEC.md 2).

use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::Role;
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{DriverConfig, os_rng, spawn_host, spawn_participant};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::tls::{ClientTls, self_signed};
use taiku_transport::ws::{self, ConnectError};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_link_trusts_a_self_signed_relay_and_nothing_else() {
    let (acceptor, pin) = self_signed(&["127.0.0.1".to_owned()]).unwrap();
    let relay = RelayServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        Some(acceptor),
        RelayConfig::default(),
    )
    .await
    .unwrap();
    let origin = relay.origin();
    assert!(origin.starts_with("https://"));
    let endpoint = Endpoint::from_origin(&origin, false).unwrap();

    // The host trusts its own relay by the pin.
    let host = Host::generate(HostConfig::default(), SessionOptions::default(), os_rng());
    let link = host
        .link(&origin, Role::Reader)
        .unwrap()
        .with_relay_pin(pin)
        .unwrap()
        .to_url()
        .to_string();
    let mut config = DriverConfig::new(endpoint.clone());
    config.tls = ClientTls::pinned(pin);
    let (mut host, _task) = spawn_host(host, config);
    while !matches!(
        timeout(WAIT, host.events.recv()).await.unwrap().unwrap(),
        HostEvent::Online { .. }
    ) {}

    // A viewer with nothing but the link joins.
    let parsed = Link::parse(&link).unwrap();
    assert_eq!(parsed.relay_pin(), Some(&pin));
    let mut config = DriverConfig::new(Endpoint::from_origin(parsed.origin(), false).unwrap());
    config.tls = ClientTls::for_link(&parsed);
    let viewer = Participant::new(ParticipantConfig::default(), &parsed, os_rng());
    let (mut viewer, _vtask) = spawn_participant(viewer, config);
    while !matches!(
        timeout(WAIT, viewer.events.recv()).await.unwrap().unwrap(),
        ParticipantEvent::Joined { .. }
    ) {}

    // Without the pin (the web PKI) or with another pin: refused.
    let unpinned = ws::connect(&endpoint, &ClientTls::default()).await;
    assert!(
        matches!(&unpinned, Err(ConnectError::Tls { source, .. }) if source.to_string().contains("UnknownIssuer")),
        "{:?}",
        unpinned.err()
    );
    let mut other = pin;
    other[0] ^= 1;
    let mispinned = ws::connect(&endpoint, &ClientTls::pinned(other)).await;
    assert!(
        matches!(mispinned, Err(ConnectError::Tls { .. })),
        "{:?}",
        mispinned.err()
    );
    relay.shutdown().await;
}
