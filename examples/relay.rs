//! A standalone relay server.
//!
//! ```text
//! cargo run --release --example relay -- [--bind 0.0.0.0:8443]
//!     [--tls-cert cert.pem --tls-key key.pem] [--max-sessions N]
//!     [--max-participants N] [--host-grace SECONDS] [--ring-bytes N]
//!     [--resync-bytes N]
//!     [--web DIR] [--public-origin https://relay.example:8443]
//! ```
//!
//! Links (`/s/<session>`) open the browser client compiled in, or the one
//! in `--web DIR` (a build of `web/`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use taiku_examples::{fail, init_logging, web_client};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::relay::ServerOptions;
use taiku_transport::tls::server_config;
use taiku_transport::web::AllowedHosts;

/// A standalone taiku relay: WebSocket endpoint and browser client on one
/// port.
#[derive(clap::Parser)]
#[command(name = "relay", version)]
struct Cli {
    /// The address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// PEM certificate chain (with --tls-key: serve https/wss).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Sessions at once (default: RelayConfig's).
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Participants per session (default: RelayConfig's).
    #[arg(long, value_name = "N")]
    max_participants: Option<usize>,
    /// Seconds a session waits for its host to come back.
    #[arg(long, value_name = "SECONDS")]
    host_grace: Option<u64>,
    /// Replay buffer per terminal, in bytes.
    #[arg(long, value_name = "N")]
    ring_bytes: Option<usize>,
    /// Bytes queued towards a slow viewer before it is skipped forward
    /// with a snapshot (SPEC.md 6.7).
    #[arg(long, value_name = "N")]
    resync_bytes: Option<usize>,
    /// Serve the browser client built in DIR instead of the one compiled in.
    #[arg(long, value_name = "DIR")]
    web: Option<PathBuf>,
    /// The origin people use, e.g. https://relay.example:8443: only that
    /// Host is answered.
    #[arg(long, value_name = "URL")]
    public_origin: Option<String>,
}

#[tokio::main]
async fn main() {
    init_logging();
    let args = Cli::parse();
    let bind = args.bind;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let read = |flag: &str, path: &PathBuf| {
                std::fs::read(path)
                    .unwrap_or_else(|e| fail(1, format!("--{flag} {}: {e}", path.display())))
            };
            let (cert, key) = (read("tls-cert", cert), read("tls-key", key));
            Some(server_config(&cert, &key).unwrap_or_else(|e| fail(1, e)))
        }
        _ => None,
    };
    let mut config = RelayConfig::default();
    if let Some(n) = args.max_sessions {
        config.max_sessions = n;
    }
    if let Some(n) = args.max_participants {
        config.max_participants = n;
    }
    if let Some(n) = args.host_grace {
        config.host_grace = Duration::from_secs(n);
    }
    if let Some(n) = args.ring_bytes {
        config.ring_bytes = n;
    }
    if let Some(n) = args.resync_bytes {
        config.resync_queue_bytes = n;
    }
    if !bind.ip().is_loopback() && tls.is_none() {
        eprintln!(
            "warning: serving plain ws:// on a non-loopback address; clients refuse it unless told to allow it"
        );
    }
    let web = Some(web_client(args.web.as_deref()));
    // The names the relay answers for (SPEC.md 12.3): its public origin;
    // without one, loopback names on a loopback address, any elsewhere.
    let mut options = ServerOptions::default();
    if let Some(origin) = args.public_origin.as_deref() {
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
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
    relay.shutdown().await;
}
