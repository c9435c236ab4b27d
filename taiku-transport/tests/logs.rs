//! Nothing secret reaches a log line: a whole session runs with every
//! taiku log enabled at TRACE, and the captured log holds no link secret,
//! shell token, typed byte, terminal output byte, local socket path, agent
//! status detail or notice.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::local;
use taiku_proto::message::{self as m, shell_request::Action};
use taiku_proto::{ParticipantId, Role};
use taiku_session::SessionOptions;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    DriverConfig, ShellSpec, Terminals, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::local::LocalChannel;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_terminal_byte_reaches_the_log() {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default())
        .await
        .unwrap();
    let origin = relay.origin();
    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let links: Vec<String> = Role::ALL
        .iter()
        .map(|r| host.link(&origin, *r).unwrap().to_url().to_string())
        .collect();
    let config = DriverConfig::new(Endpoint::from_origin(&origin, false).unwrap());
    let (mut host, _t) = spawn_host(host, config.clone());
    let mut terminals = Terminals::default();
    let mut channel = LocalChannel::bind().unwrap();
    let _serving = channel.serve(host.commander());
    terminals.set_shell_env(channel.shell_env(None).unwrap());
    let socket = channel.socket_path().to_path_buf();
    while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    let spec = ShellSpec {
        program: "/bin/sh".into(),
        ..ShellSpec::shell(ParticipantId::HOST)
    };
    let t = terminals.open_shell(&host, spec).await.unwrap();

    let link = Link::parse(&links[0]).unwrap();
    let p = Participant::new(ParticipantConfig::default(), &link, os_rng());
    let (mut viewer, _v) = spawn_participant(p, config.clone());
    terminals
        .write_local(
            t,
            b"echo secret-output-$((40+2)); echo \"token=$TAIKU_SHELL_TOKEN\"\n",
        )
        .unwrap();
    let mut screen = String::new();
    let got = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = viewer.events.recv().await {
            if let ParticipantEvent::Output { bytes, .. } = e {
                screen.push_str(&String::from_utf8_lossy(&bytes));
                if screen.contains("token=") && screen.matches('\n').count() >= 3 {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(got, Ok(true), "{screen}");
    let shell_token = screen
        .rsplit("token=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_eq!(shell_token.len(), 64, "{screen}");

    // Commands over the local socket, as `taiku` sends them: a status with
    // a detail, a notice, and one refused (it names another terminal).
    let token = shell_token.clone();
    let path = socket.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let status = m::AgentStatus {
            agent: "claude".into(),
            state: m::AgentState::WaitingForInput as i32,
            detail: "marker-status-detail".into(),
        };
        [
            (0, Action::SetStatus(status)),
            (0, Action::Notify("marker-notice-text".into())),
            (9, Action::SetLabel("marker-label".into())),
        ]
        .into_iter()
        .map(|(terminal_id, action)| {
            let request = m::ShellRequest {
                token: token.clone(),
                terminal_id,
                action: Some(action),
            };
            let mut stream = std::os::unix::net::UnixStream::connect(&path).unwrap();
            stream.write_all(&local::encode(&request)).unwrap();
            let mut reply = Vec::new();
            std::io::Read::read_to_end(&mut stream, &mut reply).unwrap();
            local::decode::<m::ShellReply>(&reply[4..]).unwrap().refused
        })
        .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(replies, [0, 0, m::ShellRefusal::WrongTerminal as i32]);
    host.drop_connection().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.shutdown().await;

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("session created"), "logging was on: {log}");
    for link in &links {
        let fragment = link.split_once('#').unwrap().1;
        assert!(!log.contains(fragment), "a link secret reached the log");
    }
    let socket = socket.to_str().unwrap();
    let dir = channel
        .dir()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for needle in [
        "secret-output",
        "echo",
        shell_token.as_str(),
        socket,
        dir.as_str(),
        "marker-status-detail",
        "marker-notice-text",
    ] {
        assert!(!log.contains(needle), "{needle:?} reached the log");
    }
}
