//! A standalone relay server.
//!
//! ```text
//! cargo run --release --example relay -- [--bind 0.0.0.0:8443]
//!     [--tls-cert cert.pem --tls-key key.pem] [--max-sessions N]
//!     [--max-participants N] [--host-grace SECONDS] [--ring-bytes N]
//!     [--web DIR] [--public-origin https://relay.example:8443]
//! ```
//!
//! Links (`/s/<session>`) open the browser client from `--web DIR`, by
//! default `web/dist` of this repository when it is built.

use std::net::SocketAddr;
use std::time::Duration;

use taiku_examples::{Args, fail, init_logging, web_build_hint, web_client};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::relay::ServerOptions;
use taiku_transport::tls::server_config;
use taiku_transport::web::AllowedHosts;

fn number<T: std::str::FromStr>(args: &Args, name: &str) -> Option<T> {
    args.value(name).map(|v| {
        v.parse()
            .unwrap_or_else(|_| fail(2, format!("--{name} needs a number, not {v:?}")))
    })
}

#[tokio::main]
async fn main() {
    init_logging();
    let args = Args::parse(
        &[
            "bind",
            "tls-cert",
            "tls-key",
            "max-sessions",
            "max-participants",
            "host-grace",
            "ring-bytes",
            "web",
            "public-origin",
        ],
        &[],
    )
    .unwrap_or_else(|e| fail(2, e));
    let bind: SocketAddr = args
        .value("bind")
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .unwrap_or_else(|e| fail(2, format!("--bind: {e}")));
    let tls = match (args.value("tls-cert"), args.value("tls-key")) {
        (Some(cert), Some(key)) => {
            let cert =
                std::fs::read(cert).unwrap_or_else(|e| fail(1, format!("--tls-cert {cert}: {e}")));
            let key =
                std::fs::read(key).unwrap_or_else(|e| fail(1, format!("--tls-key {key}: {e}")));
            Some(server_config(&cert, &key).unwrap_or_else(|e| fail(1, e)))
        }
        (None, None) => None,
        _ => fail(2, "--tls-cert and --tls-key go together"),
    };
    let mut config = RelayConfig::default();
    if let Some(n) = number(&args, "max-sessions") {
        config.max_sessions = n;
    }
    if let Some(n) = number(&args, "max-participants") {
        config.max_participants = n;
    }
    if let Some(n) = number::<u64>(&args, "host-grace") {
        config.host_grace = Duration::from_secs(n);
    }
    if let Some(n) = number(&args, "ring-bytes") {
        config.ring_bytes = n;
    }
    if !bind.ip().is_loopback() && tls.is_none() {
        eprintln!(
            "warning: serving plain ws:// on a non-loopback address; clients refuse it unless told to allow it"
        );
    }
    let web = web_client(&args);
    let served = web.is_some();
    // The names the relay answers for (SPEC.md 12.3): its public origin;
    // without one, loopback names on a loopback address, any elsewhere.
    let mut options = ServerOptions::default();
    if let Some(origin) = args.value("public-origin") {
        options.allowed_hosts = Some(AllowedHosts::from_origins([origin]).unwrap_or_else(|| {
            fail(
                2,
                format!("--public-origin needs http(s)://HOST:PORT, not {origin:?}"),
            )
        }));
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .unwrap_or_else(|e| fail(1, format!("cannot listen on {bind}: {e}")));
    let relay = RelayServer::serve_with_options(listener, tls, config, web, options)
        .unwrap_or_else(|e| fail(1, format!("cannot listen on {bind}: {e}")));
    let origin = relay.origin();
    let ws = origin.replacen("http", "ws", 1);
    println!("taiku relay listening on {ws}/ws (links: {origin}/s/<session>)");
    if !served {
        println!("{}", web_build_hint());
    }
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    relay.shutdown().await;
}
