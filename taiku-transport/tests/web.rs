//! The relay's port serves the browser client over plain HTTP next to the
//! WebSocket endpoint: a raw TCP client gets the page, assets and exact
//! headers, bad heads get 400 and refused upgrades their answer, a host
//! still comes online on the same server, and peers that stall are
//! dropped without stopping the server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use taiku_proto::Frame;
use taiku_proto::limits::DEFAULT_MAX_FRAME_LEN;
use taiku_proto::message as m;
use taiku_proto::message::control::Body;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::{CLOSE_GRACE, RelayServer, ServerOptions};
use taiku_transport::drive::{DriverConfig, os_rng, spawn_host};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::web::{
    AllowedHosts, MAX_REQUEST_HEAD, MAX_REQUEST_HEADERS, RETRY_AFTER, SECURITY_HEADERS, WebClient,
};
use taiku_transport::ws::{self, Io, WsStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

const WAIT: Duration = Duration::from_secs(20);
const INDEX: &str = "<!doctype html><script type=module src=/assets/app.js></script>";
const APP: &str = "console.log('taiku')";

struct TempDir(PathBuf);

impl TempDir {
    fn with_client() -> TempDir {
        let dir = std::env::temp_dir().join(format!("taiku-web-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), INDEX).unwrap();
        std::fs::write(dir.join("assets/app.js"), APP).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Reply {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send `request` raw and read until the server closes.
async fn exchange(server: &RelayServer, request: &[u8]) -> Reply {
    try_exchange(server, request)
        .await
        .expect("a complete head")
}

/// Like [`exchange`]; `None` if the server closes (or resets) the
/// connection without an answer.
async fn try_exchange(server: &RelayServer, request: &[u8]) -> Option<Reply> {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(request).await.ok()?;
    let mut raw = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes")
        .ok()?;
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let (status_line, headers) = parse_head(head);
    Some(Reply {
        status_line,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

fn parse_head(head: &str) -> (String, Vec<(String, String)>) {
    let mut lines = head.trim_end().split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    (status_line, headers)
}

/// The key of RFC 6455 section 1.3, and its accept value.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A WebSocket handshake to `/ws` with `host`, and `extra` header lines.
fn upgrade_request(host: &str, extra: &[&str]) -> String {
    let mut request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {KEY}\r\n"
    );
    for line in extra {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

/// Send `request` on `tcp` and read the answer's head only, leaving what
/// follows (WebSocket frames) unread.
async fn handshake_on(mut tcp: TcpStream, request: &str) -> (Reply, TcpStream) {
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(WAIT, tcp.read(&mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_ne!(n, 0, "closed in {:?}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&byte);
    }
    let (status_line, headers) = parse_head(std::str::from_utf8(&head).unwrap());
    let reply = Reply {
        status_line,
        headers,
        body: Vec::new(),
    };
    (reply, tcp)
}

async fn handshake(server: &RelayServer, request: &str) -> (Reply, TcpStream) {
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    handshake_on(tcp, request).await
}

/// The upgraded connection reaches the relay machine: a `Ping` gets its
/// `Pong`.
async fn assert_relay_answers(tcp: TcpStream) {
    let mut ws: WsStream =
        WebSocketStream::from_raw_socket(Box::new(tcp) as Box<dyn Io>, Role::Client, None).await;
    let ping = Frame::control(Body::Ping(m::Ping { nonce: 7 }));
    ws::send(&mut ws, &ping).await.unwrap();
    let bytes = timeout(WAIT, ws::recv(&mut ws))
        .await
        .expect("a pong in time")
        .expect("a pong");
    let pong = Frame::parse(bytes, DEFAULT_MAX_FRAME_LEN).unwrap();
    assert_eq!(pong, Frame::control(Body::Pong(m::Pong { nonce: 7 })));
}

async fn start(config: RelayConfig, options: ServerOptions) -> RelayServer {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    RelayServer::serve_with_options(listener, None, config, None, options).unwrap()
}

/// The exact values are checked by the unit tests of `web`; here, that
/// they reach the socket.
fn assert_security_headers(r: &Reply) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_serves_the_browser_client_and_websockets_on_one_port() {
    let dir = TempDir::with_client();
    let web = WebClient::load(&dir.0).unwrap();
    let relay = RelayServer::bind_with(
        ([127, 0, 0, 1], 0).into(),
        None,
        RelayConfig::default(),
        Some(web),
    )
    .await
    .unwrap();

    let page = exchange(
        &relay,
        b"GET /s/abcdefgh12345678 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(page.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("Cache-Control"), Some("no-store"));
    assert_eq!(page.body, INDEX.as_bytes());
    assert_security_headers(&page);

    let app = exchange(
        &relay,
        b"GET /assets/app.js?v=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert_eq!(app.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        app.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        app.header("Cache-Control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(app.body, APP.as_bytes());
    assert_security_headers(&app);

    let head = exchange(&relay, b"HEAD /s/abcdefgh12345678 HTTP/1.1\r\n\r\n").await;
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("Content-Length"),
        Some(INDEX.len().to_string().as_str())
    );

    for request in [
        &b"GET /assets/../Cargo.toml HTTP/1.1\r\n\r\n"[..],
        b"GET /assets/%2e%2e/Cargo.toml HTTP/1.1\r\n\r\n",
        b"GET /s/short HTTP/1.1\r\n\r\n",
        b"GET /other HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    ] {
        let r = exchange(&relay, request).await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        assert_security_headers(&r);
    }

    let post = exchange(&relay, b"POST /s/abcdefgh12345678 HTTP/1.1\r\n\r\n").await;
    assert_eq!(post.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));

    let malformed = exchange(&relay, b"\x00\x01 not http\r\n\r\n").await;
    assert_eq!(malformed.status_line, "HTTP/1.1 400 Bad Request");
    assert_security_headers(&malformed);
    let mut huge = b"GET /s/abcdefgh12345678 HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.resize(3 * MAX_REQUEST_HEAD, b'a');
    let too_large = exchange(&relay, &huge).await;
    assert_eq!(too_large.status_line, "HTTP/1.1 400 Bad Request");

    // The WebSocket endpoint works as before on the same server.
    let origin = relay.origin();
    let host = Host::generate(
        HostConfig::default(),
        taiku_session::SessionOptions::default().with_readers_enabled(false),
        os_rng(),
    );
    let config = DriverConfig::new(Endpoint::from_origin(&origin, false).unwrap());
    let (mut host, _task) = spawn_host(host, config);
    timeout(WAIT, async {
        while !matches!(host.events.recv().await, Some(HostEvent::Online { .. })) {}
    })
    .await
    .expect("the host comes online");
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_links_say_how_to_build_it() {
    let relay = RelayServer::bind(([127, 0, 0, 1], 0).into(), None, RelayConfig::default())
        .await
        .unwrap();
    let r = exchange(&relay, b"GET /s/abcdefgh12345678 HTTP/1.1\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    assert_security_headers(&r);
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        body.contains("npm --prefix web ci && npm --prefix web run build"),
        "{body}"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_mid_head_is_closed_unanswered() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let mut tcp = TcpStream::connect(relay.local_addr()).await.unwrap();
    tcp.write_all(b"GET /s/abcdefgh12345678 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp.shutdown().await.unwrap();
    let mut raw = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes")
        .unwrap();
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    relay.shutdown().await;
}

/// The server answers before reading everything the client sent; the
/// client still gets the whole answer (no reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_and_unread_bodies_still_get_their_answer() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let mut huge = b"GET /s/abcdefgh12345678 HTTP/1.1\r\nX-Pad: ".to_vec();
    huge.resize(4 * MAX_REQUEST_HEAD, b'a');
    huge.extend_from_slice(b"\r\n\r\n");
    let r = exchange(&relay, &huge).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert_security_headers(&r);

    let mut many = b"GET /s/abcdefgh12345678 HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_REQUEST_HEADERS {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let r = exchange(&relay, &many).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");

    let mut post = b"POST /s/abcdefgh12345678 HTTP/1.1\r\nContent-Length: 20000\r\n\r\n".to_vec();
    post.resize(post.len() + 20_000, b'b');
    let r = exchange(&relay, &post).await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    assert_security_headers(&r);
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_ws_that_are_not_handshakes_get_400_or_426() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let good = upgrade_request("localhost", &[]);
    let bad_requests = [
        "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        good.replace("GET /ws", "POST /ws"),
        good.replace("HTTP/1.1", "HTTP/1.0"),
        good.replace("Connection: Upgrade", "Connection: keep-alive"),
        good.replace("Upgrade: websocket", "Upgrade: h2c"),
        good.replace(&format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
        good.replace(KEY, "not-a-key"),
    ];
    for request in &bad_requests {
        let r = exchange(&relay, request.as_bytes()).await;
        assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request", "{request}");
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        assert_security_headers(&r);
    }
    for request in [
        good.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
        good.replace("Sec-WebSocket-Version: 13\r\n", ""),
    ] {
        let r = exchange(&relay, request.as_bytes()).await;
        assert_eq!(r.status_line, "HTTP/1.1 426 Upgrade Required", "{request}");
        assert_eq!(r.header("Sec-WebSocket-Version"), Some("13"));
        assert_security_headers(&r);
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upper_case_handshakes_upgrade() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let request = format!(
        "GET /ws?x=1 HTTP/1.1\r\nHOST: localhost\r\nUPGRADE: WEBSOCKET\r\n\
         CONNECTION: keep-alive, UPGRADE\r\nSEC-WEBSOCKET-VERSION: 13\r\n\
         SEC-WEBSOCKET-KEY: {KEY}\r\n\r\n"
    );
    let (r, tcp) = handshake(&relay, &request).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    assert_eq!(r.header("Sec-WebSocket-Accept"), Some(ACCEPT));
    assert_eq!(r.header("Upgrade"), Some("websocket"));
    assert_relay_answers(tcp).await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_relays_own_origin_may_open_its_websocket() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let host = relay.local_addr().to_string();
    for origin in ["https://evil.example", "null", "http://localhost"] {
        let request = upgrade_request(&host, &[&format!("Origin: {origin}")]);
        let r = exchange(&relay, request.as_bytes()).await;
        assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden", "{origin}");
        assert_eq!(r.header("Sec-WebSocket-Accept"), None);
        assert_security_headers(&r);
    }
    let same = upgrade_request(&host, &[&format!("Origin: {}", relay.origin())]);
    let (r, tcp) = handshake(&relay, &same).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    assert_relay_answers(tcp).await;
    relay.shutdown().await;
}

/// Finding 13.5: the `Origin` check compared with the request's own `Host`,
/// so a page of another site that reached the relay under its own name
/// (DNS rebinding) passed it. A relay on a loopback address answers only
/// for its loopback names; a public one for its configured origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_names_are_misdirected() {
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let port = relay.local_addr().port();
    let evil = format!("evil.example:{port}");
    // The page of the rebinding site: its own Host, its own Origin.
    let ws = upgrade_request(&evil, &[&format!("Origin: http://{evil}")]);
    let get = format!("GET /s/abcdefgh12345678 HTTP/1.1\r\nHost: {evil}\r\n\r\n");
    for request in [ws.as_str(), get.as_str()] {
        let r = exchange(&relay, request.as_bytes()).await;
        assert_eq!(
            r.status_line, "HTTP/1.1 421 Misdirected Request",
            "{request}"
        );
        assert_eq!(r.header("Sec-WebSocket-Accept"), None);
        assert_security_headers(&r);
    }
    for name in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let ok = upgrade_request(&name, &[&format!("Origin: http://{name}")]);
        let (r, tcp) = handshake(&relay, &ok).await;
        assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols", "{name}");
        assert_relay_answers(tcp).await;
    }
    relay.shutdown().await;

    // A public relay names its origin.
    let mut options = ServerOptions::default();
    options.allowed_hosts = AllowedHosts::from_origins(["https://relay.example:8443"]);
    let relay = start(RelayConfig::default(), options).await;
    let local = relay.local_addr().to_string();
    let r = exchange(&relay, upgrade_request(&local, &[]).as_bytes()).await;
    assert_eq!(r.status_line, "HTTP/1.1 421 Misdirected Request");
    let public = upgrade_request(
        "relay.example:8443",
        &["Origin: https://relay.example:8443"],
    );
    let (r, tcp) = handshake(&relay, &public).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    assert_relay_answers(tcp).await;
    relay.shutdown().await;
}

/// A client frame: final, `opcode`, masked with a zero key so the payload
/// is sent as is.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let len = u8::try_from(payload.len()).unwrap();
    assert!(len < 126);
    let mut frame = vec![0x80 | opcode, 0x80 | len, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

/// Open a WebSocket with a small receive buffer and send, without ever
/// reading, WebSocket pings (whose pongs fill the socket's buffers) and
/// `pings` taiku Pings per thousand (whose Pongs the relay's writer must
/// send). The time until the relay drops the connection, if it does
/// within 4 s.
async fn flood_without_reading(relay: &RelayServer, pings: usize) -> Option<Duration> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(relay.local_addr()).await.unwrap();
    let (r, mut tcp) = handshake_on(tcp, &upgrade_request("localhost", &[])).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend(client_frame(0x9, &[0x5a; 125]));
    }
    let ping = Frame::control(Body::Ping(m::Ping { nonce: 1 }))
        .to_bytes(DEFAULT_MAX_FRAME_LEN)
        .unwrap();
    for _ in 0..pings {
        batch.extend(client_frame(0x2, &ping));
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        match timeout(Duration::from_secs(1), tcp.write_all(&batch)).await {
            Ok(Ok(())) => tokio::time::sleep(Duration::from_millis(2)).await,
            Ok(Err(_)) => return Some(started.elapsed()),
            Err(_) => {}
        }
    }
    None
}

/// The server goes on serving plain requests and WebSockets.
async fn assert_still_serving(relay: &RelayServer) {
    let r = exchange(relay, b"GET /s/abcdefgh12345678 HTTP/1.1\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let (r, tcp) = handshake(relay, &upgrade_request("localhost", &[])).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    assert_relay_answers(tcp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_peer_that_never_reads_is_dropped_by_the_send_timeout() {
    let mut options = ServerOptions::default();
    options.send_timeout = Duration::from_millis(300);
    let relay = start(RelayConfig::default(), options).await;
    let dropped = flood_without_reading(&relay, 1).await;
    assert!(dropped.is_some(), "the relay never drops the peer");
    assert_still_serving(&relay).await;
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_peer_the_relay_evicts_is_dropped_within_the_close_grace() {
    // The machine evicts the peer once 512 Pongs (the smallest queue a
    // valid configuration allows) wait behind its full writer queue; the
    // send timeout (30 s) is far off, so only the close can drop it in
    // time.
    let config =
        RelayConfig::default().with_max_queue_frames(2 * taiku_session::relay::REPLAY_BATCH);
    let relay = start(config, ServerOptions::default()).await;
    let dropped = flood_without_reading(&relay, 2_000).await;
    assert!(dropped.is_some(), "the relay never drops the peer");
    assert!(
        dropped < Some(CLOSE_GRACE + Duration::from_secs(2)),
        "{dropped:?}"
    );
    assert_still_serving(&relay).await;
    relay.shutdown().await;
}

/// Finding 14.8: slow request heads, re-opened as they closed, held every
/// pending place and kept newcomers out. A newcomer now takes the oldest
/// pending connection's place: the slow one is closed unanswered, the
/// newcomer served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_cannot_keep_newcomers_out() {
    let mut options = ServerOptions::default();
    options.max_pending_connections = 2;
    let relay = start(RelayConfig::default(), options).await;
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(relay.local_addr()).await.unwrap();
        tcp.write_all(b"GET /s/abcdefgh12345678 HTTP/1.1\r\n")
            .await
            .unwrap();
        slow.push(tcp);
    }
    // Both places are held; the newcomer is served at once.
    let started = Instant::now();
    let served = exchange(&relay, b"GET /s/abcdefgh12345678 HTTP/1.1\r\n\r\n").await;
    assert_eq!(served.status_line, "HTTP/1.1 404 Not Found");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The oldest slow head was closed unanswered; the younger still has
    // its place and gets its answer.
    let mut raw = Vec::new();
    let oldest = timeout(WAIT, slow[0].read_to_end(&mut raw))
        .await
        .expect("closed");
    assert!(
        oldest.is_err() || raw.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    slow[1].write_all(b"\r\n").await.unwrap();
    let mut raw = Vec::new();
    timeout(WAIT, slow[1].read_to_end(&mut raw))
        .await
        .expect("the server closes")
        .unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    relay.shutdown().await;
}

/// SPEC.md section 12.3 lists exactly the headers and limits the code uses.
#[test]
fn spec_lists_the_served_headers_and_limits() {
    use taiku_transport::drive::relay::{
        ACCEPT_RETRY_DELAY, CLOSE_GRACE, MAX_CONNECTIONS_PER_SOURCE, MAX_PENDING_CONNECTIONS,
        MAX_PENDING_PER_SOURCE, MAX_REFUSING, RELEASE_AFTER_CLOSES, RELEASE_INTERVAL, SEND_TIMEOUT,
        WRITER_QUEUE, WRITER_QUEUE_BYTES,
    };
    use taiku_transport::web::*;
    let spec = taiku_proto::vectors::SPEC;
    let (before, section) = spec
        .split_once("### 12.3 Web client")
        .expect("section 12.3");
    let (_, drivers) = before.split_once("### 12.2 Drivers").expect("section 12.2");
    let table = |text: &'static str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("| `"))
            .map(str::to_owned)
            .collect()
    };
    let rows = table(section.to_owned().leak());
    let has = |row: String| assert!(rows.contains(&row), "SPEC.md lacks {row:?}");
    for (name, value) in SECURITY_HEADERS {
        has(format!("| `{name}` | `{value}` |"));
    }
    let secs = |d: Duration| {
        if d.subsec_nanos() == 0 {
            format!("{} s", d.as_secs())
        } else {
            format!("{} ms", d.as_millis())
        }
    };
    let mib = |n: u64| format!("{} MiB", n / (1024 * 1024));
    let check = |rows: &[String], place: &str, name: &str, value: String| {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("SPEC.md lacks {name}"));
        assert!(
            row.starts_with(&format!("| `{name}` | {value} | `{place}` |")),
            "{row}"
        );
    };
    for (name, value) in [
        ("MAX_REQUEST_HEAD", "8,192 bytes".to_owned()),
        ("MAX_REQUEST_HEADERS", MAX_REQUEST_HEADERS.to_string()),
        ("REQUEST_HEAD_TIMEOUT", secs(REQUEST_HEAD_TIMEOUT)),
        ("RESPONSE_TIMEOUT", secs(RESPONSE_TIMEOUT)),
        ("MAX_DRAIN_BYTES", "65,536 bytes".to_owned()),
        ("DRAIN_TIMEOUT", secs(DRAIN_TIMEOUT)),
        ("MAX_WEB_FILE_BYTES", mib(MAX_WEB_FILE_BYTES)),
        ("MAX_WEB_FILES", MAX_WEB_FILES.to_string()),
        ("MAX_WEB_TOTAL_BYTES", mib(MAX_WEB_TOTAL_BYTES)),
        ("MAX_WEB_DEPTH", MAX_WEB_DEPTH.to_string()),
        ("RETRY_AFTER", RETRY_AFTER.to_owned()),
    ] {
        check(&rows, "taiku_transport::web", name, value);
    }
    assert_eq!(MAX_REQUEST_HEAD, 8192);
    assert_eq!(MAX_DRAIN_BYTES, 65_536);
    assert!(DRAIN_TIMEOUT < RESPONSE_TIMEOUT);
    assert!(section.contains(&format!("`{BUILD_COMMAND}`")));
    assert!(section.contains(&format!("`{CACHE_IMMUTABLE}`")));
    assert!(section.contains(&format!("`{CACHE_NO_STORE}`")));
    assert!(section.contains(&format!("`Allow` | `{ALLOW}`")));
    assert!(section.contains(&format!("`Sec-WebSocket-Version` | `{WS_VERSION}`")));

    assert_eq!(WRITER_QUEUE_BYTES, 1 << 20);
    let rows = table(drivers.to_owned().leak());
    for (name, value) in [
        ("WRITER_QUEUE", WRITER_QUEUE.to_string()),
        ("WRITER_QUEUE_BYTES", "1,048,576".to_owned()),
        ("SEND_TIMEOUT", secs(SEND_TIMEOUT)),
        ("CLOSE_GRACE", secs(CLOSE_GRACE)),
        (
            "MAX_PENDING_CONNECTIONS",
            MAX_PENDING_CONNECTIONS.to_string(),
        ),
        ("ACCEPT_RETRY_DELAY", secs(ACCEPT_RETRY_DELAY)),
        ("MAX_PENDING_PER_SOURCE", MAX_PENDING_PER_SOURCE.to_string()),
        (
            "MAX_CONNECTIONS_PER_SOURCE",
            MAX_CONNECTIONS_PER_SOURCE.to_string(),
        ),
        ("MAX_REFUSING", MAX_REFUSING.to_string()),
        ("RELEASE_AFTER_CLOSES", RELEASE_AFTER_CLOSES.to_string()),
        ("RELEASE_INTERVAL", secs(RELEASE_INTERVAL)),
    ] {
        check(&rows, "taiku_transport::drive::relay", name, value);
    }
    assert_eq!(
        ws::MAX_WRITE_BUFFER,
        128 * 1024 + taiku_proto::limits::DEFAULT_MAX_FRAME_LEN + 64
    );
    check(
        &rows,
        "taiku_transport::ws",
        "MAX_WRITE_BUFFER",
        "1,179,712 bytes".to_owned(),
    );
    check(
        &rows,
        "taiku_transport::ws",
        "BUSY_DRAIN_TIMEOUT",
        secs(ws::BUSY_DRAIN_TIMEOUT),
    );
    assert_eq!(ws::READ_BUFFER, 4 * 1024);
    check(
        &rows,
        "taiku_transport::ws",
        "READ_BUFFER",
        "4,096 bytes".to_owned(),
    );
    assert_eq!(ws::MAX_PRE_ADMISSION_BYTES, 16 * 1024);
    check(
        &rows,
        "taiku_transport::ws",
        "MAX_PRE_ADMISSION_BYTES",
        "16,384".to_owned(),
    );
}

/// Finding 14.4: a connection not admitted could make the relay buffer a
/// whole 1 MiB WebSocket message (2,000 stalled ones took 2.26 GiB). Before
/// admission a connection may send only `MAX_PRE_ADMISSION_BYTES`; one that
/// starts a large message is closed at once, not at the handshake timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_before_admission_closes_the_connection() {
    use taiku_transport::ws::MAX_PRE_ADMISSION_BYTES;
    let relay = start(RelayConfig::default(), ServerOptions::default()).await;
    let host = relay.local_addr().to_string();
    let (r, mut tcp) = handshake(&relay, &upgrade_request(&host, &[])).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    // A binary frame announcing 1 MiB, masked with a zero key.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 20).to_be_bytes());
    header.extend_from_slice(&[0; 4]);
    tcp.write_all(&header).await.unwrap();
    let started = Instant::now();
    let chunk = vec![0u8; 4096];
    let mut sent = 0;
    // A quarter of it, then nothing: the relay must not sit on what it
    // buffered until the handshake timeout (10 s).
    while sent < 1 << 18 {
        if tcp.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut rest = Vec::new();
    let closed = timeout(Duration::from_secs(3), tcp.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the relay kept the connection open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
    let _ = (sent, MAX_PRE_ADMISSION_BYTES);
    assert_still_serving(&relay).await;
    relay.shutdown().await;
}

/// Finding 14.8: one client holding every connection the relay allows
/// locked everybody out. Each source (an IPv4 address, an IPv6 /64) has
/// its own cap; the attacker here is 127.0.0.2, the probe 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_cannot_take_every_connection() {
    let mut options = ServerOptions::default();
    options.max_connections_per_source = 3;
    let relay = start(RelayConfig::default(), options).await;
    let host = relay.local_addr().to_string();
    let from = |ip: [u8; 4]| {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind((ip, 0).into()).unwrap();
        socket
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        let tcp = from([127, 0, 0, 2])
            .connect(relay.local_addr())
            .await
            .unwrap();
        let (r, tcp) = handshake_on(tcp, &upgrade_request(&host, &[])).await;
        assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
        held.push(tcp);
    }
    // A fourth from the same source is told the relay is busy, which a
    // client tells apart from a network failure.
    let extra = from([127, 0, 0, 2])
        .connect(relay.local_addr())
        .await
        .unwrap();
    let (r, _) = handshake_on(extra, &upgrade_request(&host, &[])).await;
    assert_eq!(r.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(r.header("Retry-After"), Some(RETRY_AFTER));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    // Another source is served at once.
    let tcp = from([127, 0, 0, 1])
        .connect(relay.local_addr())
        .await
        .unwrap();
    let (r, tcp) = handshake_on(tcp, &upgrade_request(&host, &[])).await;
    assert_eq!(r.status_line, "HTTP/1.1 101 Switching Protocols");
    assert_relay_answers(tcp).await;
    // A place comes back when a connection of the source closes.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut tcp = from([127, 0, 0, 2])
            .connect(relay.local_addr())
            .await
            .unwrap();
        let _ = tcp.write_all(upgrade_request(&host, &[]).as_bytes()).await;
        let mut first = [0u8; 12];
        let n = timeout(WAIT, tcp.read(&mut first))
            .await
            .expect("an answer or a close");
        if n.is_ok_and(|n| first[..n].starts_with(b"HTTP/1.1 101")) {
            break;
        }
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown().await;
}

/// A client refused for its source learns that the relay is busy, not
/// that it could not be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_is_told_the_relay_is_busy() {
    let mut options = ServerOptions::default();
    options.max_connections_per_source = 1;
    let relay = start(RelayConfig::default(), options).await;
    let endpoint = Endpoint::from_origin(&relay.origin(), false).unwrap();
    let _held = ws::connect(&endpoint, &Default::default()).await.unwrap();
    let refused = ws::connect(&endpoint, &Default::default()).await;
    assert!(
        matches!(refused, Err(ws::ConnectError::Busy { .. })),
        "{:?}",
        refused.err()
    );
    relay.shutdown().await;
}
