//! End to end on loopback: a real relay server, a host with a real
//! `/bin/sh` in a PTY, two writers and a reader, over real WebSockets,
//! plain and with TLS (a self-signed certificate made here).

use std::time::Duration;

use taiku_crypto::Link;
use taiku_proto::message as m;
use taiku_proto::{ParticipantId, Role, TerminalId};
use taiku_session::SessionOptions;
use taiku_session::access::Refusal;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::participant::{ActionError, Participant, ParticipantConfig, ParticipantEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{
    ClientHandle, DriverConfig, OsRng, ShellSpec, Terminals, os_rng, spawn_host, spawn_participant,
};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::tls::{ClientTls, server_config};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

struct Viewer {
    handle: ClientHandle<Participant<OsRng>>,
    screen: Vec<u8>,
    events: Vec<ParticipantEvent>,
}

impl Viewer {
    async fn start(link: &str, name: &str, config: &DriverConfig) -> Viewer {
        let link = Link::parse(link).unwrap();
        let p = Participant::new(
            ParticipantConfig::default().with_name(name),
            &link,
            os_rng(),
        );
        let (handle, _task) = spawn_participant(p, config.clone());
        let mut v = Viewer {
            handle,
            screen: Vec::new(),
            events: Vec::new(),
        };
        v.wait_for(|e| matches!(e, ParticipantEvent::Joined { .. }))
            .await;
        v
    }

    fn absorb(&mut self, e: ParticipantEvent) {
        if let ParticipantEvent::Output { bytes, .. } = &e {
            self.screen.extend_from_slice(bytes);
        }
        self.events.push(e);
    }

    async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&ParticipantEvent) -> bool,
    ) -> ParticipantEvent {
        if let Some(e) = self.events.iter().find(|e| pred(e)) {
            return e.clone();
        }
        loop {
            let e = timeout(WAIT, self.handle.events.recv())
                .await
                .expect("event in time")
                .expect("loop alive");
            self.absorb(e.clone());
            if pred(&e) {
                return e;
            }
        }
    }

    async fn wait_for_output(&mut self, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !String::from_utf8_lossy(&self.screen).contains(needle) {
            let e = tokio::time::timeout_at(deadline, self.handle.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {needle:?} in {:?}",
                        String::from_utf8_lossy(&self.screen)
                    )
                })
                .expect("loop alive");
            self.absorb(e);
        }
    }

    async fn me(&self) -> ParticipantId {
        self.handle
            .call(|p, _| p.view().me.unwrap().0)
            .await
            .unwrap()
    }

    async fn type_into(&self, t: TerminalId, text: &'static str) -> Result<(), ActionError> {
        self.handle
            .call(move |p, _| p.send_input(t, text.as_bytes()))
            .await
            .unwrap()
    }
}

async fn host_events_until(
    host: &mut ClientHandle<Host<OsRng>>,
    terminals: &mut Terminals,
    mut pred: impl FnMut(&HostEvent) -> bool,
) -> HostEvent {
    loop {
        let e = timeout(WAIT, host.events.recv())
            .await
            .expect("host event in time")
            .expect("host loop alive");
        terminals.handle_event(host, &e).await;
        if pred(&e) {
            return e;
        }
    }
}

/// Keep the host's events flowing (input to the PTYs) in the background.
fn pump_host(
    mut host: ClientHandle<Host<OsRng>>,
    mut terminals: Terminals,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(e) = host.events.recv().await {
            terminals.handle_event(&host, &e).await;
        }
    })
}

async fn session_flow(relay: RelayServer, client: ClientTls, origin: String) {
    let options = SessionOptions::default();
    let host = Host::generate(HostConfig::default(), options, os_rng());
    let writer_link = host
        .link(&origin, Role::Writer)
        .unwrap()
        .to_url()
        .to_string();
    let reader_link = host
        .link(&origin, Role::Reader)
        .unwrap()
        .to_url()
        .to_string();
    let mut config = DriverConfig::new(Endpoint::from_origin(&origin, false).unwrap());
    config.tls = client;
    let (mut host, _host_task) = spawn_host(host, config.clone());
    let mut terminals = Terminals::default();
    host_events_until(&mut host, &mut terminals, |e| {
        matches!(e, HostEvent::Online { .. })
    })
    .await;

    let mut w1 = Viewer::start(&writer_link, "w1", &config).await;
    let mut w2 = Viewer::start(&writer_link, "w2", &config).await;
    let mut r = Viewer::start(&reader_link, "r", &config).await;
    let w1id = w1.me().await;
    let w2id = w2.me().await;

    // The first writer asks for a terminal; the host opens /bin/sh for it.
    w1.handle
        .call(|p, _| p.create_terminal(24, 80, "sh"))
        .await
        .unwrap()
        .unwrap();
    let requester = match host_events_until(&mut host, &mut terminals, |e| {
        matches!(e, HostEvent::CreateRequested { .. })
    })
    .await
    {
        HostEvent::CreateRequested { requester, .. } => requester,
        _ => unreachable!(),
    };
    assert_eq!(requester, w1id);
    let spec = ShellSpec {
        program: "/bin/sh".into(),
        ..ShellSpec::shell(requester)
    };
    let t = terminals.open_shell(&host, spec).await.unwrap();
    let host_link = host.commander();
    let _pump = pump_host(host, terminals);
    w1.wait_for(|e| matches!(e, ParticipantEvent::TerminalOpened(x) if *x == t))
        .await;

    // The writer runs a command; both participants see its exact output.
    w1.type_into(t, "echo marker-$((6*7))\n").await.unwrap();
    w1.wait_for_output("marker-42").await;
    r.wait_for_output("marker-42").await;

    // The reader's keystrokes never reach the shell, and it is told why.
    assert_eq!(
        r.type_into(t, "echo reader-$((1+1))\n").await,
        Err(ActionError::Refused(Refusal::ReadOnly))
    );
    // The second writer cannot type into the first writer's terminal...
    assert_eq!(
        w2.type_into(t, "echo w2-$((1+1))\n").await,
        Err(ActionError::Refused(Refusal::NotController))
    );
    // ...until handed control.
    w1.handle
        .call(move |p, _| p.grant(t, w2id))
        .await
        .unwrap()
        .unwrap();
    w2.wait_for(|e| matches!(e, ParticipantEvent::ControlChanged { term, .. } if *term == t))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // w1's typing lock lapses
    w2.type_into(t, "echo handed-$((2+3))\n").await.unwrap();
    r.wait_for_output("handed-5").await;
    assert!(!String::from_utf8_lossy(&r.screen).contains("reader-2"));
    assert!(!String::from_utf8_lossy(&r.screen).contains("w2-2"));

    // The host's connection is cut and restored within the grace window;
    // output produced meanwhile arrives, nothing lost.
    w2.type_into(t, "sleep 1; echo during-$((3+4))\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    host_link.drop_connection().await;
    r.wait_for(|e| matches!(e, ParticipantEvent::HostOffline { .. }))
        .await;
    r.wait_for(|e| matches!(e, ParticipantEvent::HostOnline))
        .await;
    r.wait_for_output("during-7").await;
    w2.type_into(t, "echo after-$((4+5))\n").await.unwrap();
    r.wait_for_output("after-9").await;
    // Every line arrived exactly once, in order.
    let screen = String::from_utf8_lossy(&r.screen).to_string();
    for needle in ["marker-42", "handed-5", "during-7", "after-9"] {
        assert_eq!(screen.matches(needle).count(), 1, "{needle} in {screen:?}");
    }
    let order: Vec<usize> = ["marker-42", "handed-5", "during-7", "after-9"]
        .iter()
        .map(|n| screen.find(n).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{screen:?}");
    relay.shutdown().await;
    r.wait_for(|e| matches!(e, ParticipantEvent::Ended(m::EndReason::RelayShutdown)))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_websocket_session() {
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default())
        .await
        .unwrap();
    let origin = relay.origin();
    session_flow(relay, ClientTls::default(), origin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_websocket_session() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key_pem = cert.signing_key.serialize_pem();
    let acceptor = server_config(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let relay = RelayServer::serve(listener, Some(acceptor), RelayConfig::default()).unwrap();
    assert!(relay.origin().starts_with("https://"));
    let client = ClientTls::default()
        .with_extra_roots(cert_pem.as_bytes())
        .unwrap();
    // Links name the certificate's host.
    session_flow(relay, client, format!("https://localhost:{port}")).await;
}
