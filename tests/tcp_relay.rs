//! The byte-stream relay example (`examples/tcp_relay.rs`, issue 20
//! item 2) as a process: a host and a viewer embedded over plain TCP
//! share a terminal through it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::{ParticipantId, Role};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_transport::drive::{ClientOptions, feed_output, os_rng, spawn_client};
use taiku_transport::frames::tcp_connector;

#[tokio::test]
async fn a_host_and_a_viewer_share_through_the_tcp_relay_example() {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/tcp_relay");
    assert!(bin.exists(), "{} is not built", bin.display());
    let mut child = Command::new(bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("taiku relay listening on tcp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let link = Link::parse(
        &host
            .link("http://tcp.invalid", Role::Reader)
            .unwrap()
            .to_url(),
    )
    .unwrap();
    let connect = || tcp_connector(addr, DEFAULT_MAX_FRAME_LEN);
    let (mut host, _h) = spawn_client(host, connect(), ClientOptions::default());
    let shown = tokio::time::timeout(Duration::from_secs(20), async {
        while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
        let term = host
            .call(|h, now| {
                h.open_terminal(ParticipantId::HOST, 24, 80, "log", now)
                    .map(|(t, _)| t)
            })
            .await
            .unwrap()
            .unwrap();
        let viewer = Participant::new(ParticipantConfig::default(), &link, os_rng());
        let (mut viewer, _v) = spawn_client(viewer, connect(), ClientOptions::default());
        feed_output(&host.commander(), term, "over tcp\r\n".into()).await;
        let mut shown = Vec::new();
        while shown != b"over tcp\r\n" {
            if let ParticipantEvent::Output { bytes, .. } = viewer.events.recv().await.unwrap() {
                shown.extend_from_slice(&bytes);
            }
        }
        shown
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(shown.expect("the viewer saw the output"), b"over tcp\r\n");
}
