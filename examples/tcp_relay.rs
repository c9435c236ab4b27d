//! A relay for native clients over plain TCP: frames back to back on each
//! connection (SPEC.md section 3), no WebSocket and no HTTP. The shortest
//! real example of embedding the relay machine; clients connect with
//! `taiku_transport::frames::tcp_connector` and `drive::spawn_client`.
//!
//! ```text
//! cargo run --release --example tcp_relay -- [127.0.0.1:9000]
//! ```

use std::net::SocketAddr;

use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::{RelayServer, ServerOptions};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind: SocketAddr = match std::env::args().nth(1) {
        Some(addr) => addr.parse().map_err(std::io::Error::other)?,
        None => ([127, 0, 0, 1], 9000).into(),
    };
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let relay = RelayServer::serve_stream(
        listener,
        None,
        RelayConfig::default(),
        ServerOptions::default(),
    )?;
    println!("taiku relay listening on tcp://{addr}");
    tokio::signal::ctrl_c().await?;
    relay.shutdown().await;
    Ok(())
}
