//! The relay's port serves the browser client over plain HTTP next to the
//! WebSocket endpoint: a raw TCP client gets the page, assets and exact
//! headers, bad heads get 400, and a host still comes online on the same
//! server.

use std::path::PathBuf;
use std::time::Duration;

use taiku_proto::message as m;
use taiku_session::host::{Host, HostConfig, HostEvent};
use taiku_session::relay::RelayConfig;
use taiku_transport::drive::relay::RelayServer;
use taiku_transport::drive::{DriverConfig, os_rng, spawn_host};
use taiku_transport::endpoint::Endpoint;
use taiku_transport::web::{MAX_REQUEST_HEAD, SECURITY_HEADERS, WebClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

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
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut raw = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_owned(), v.to_owned())
        })
        .collect();
    Reply {
        status_line,
        headers,
        body: body.as_bytes().to_vec(),
    }
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
    // Exactly the limit, so the server reads all of it before answering.
    huge.resize(MAX_REQUEST_HEAD, b'a');
    let too_large = exchange(&relay, &huge).await;
    assert_eq!(too_large.status_line, "HTTP/1.1 400 Bad Request");

    // The WebSocket endpoint works as before on the same server.
    let origin = relay.origin();
    let host = Host::generate(
        HostConfig::default(),
        m::SessionOptions::default(),
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

/// SPEC.md section 12.3 lists exactly the headers and limits the code uses.
#[test]
fn spec_lists_the_served_headers_and_limits() {
    use taiku_transport::web::*;
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../SPEC.md"))
        .expect("SPEC.md");
    let (_, section) = spec
        .split_once("### 12.3 Web client")
        .expect("section 12.3");
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let has = |row: String| assert!(rows.contains(&row.as_str()), "SPEC.md lacks {row:?}");
    for (name, value) in SECURITY_HEADERS {
        has(format!("| `{name}` | `{value}` |"));
    }
    let place = "`taiku_transport::web`";
    let mib = |n: u64| format!("{} MiB", n / (1024 * 1024));
    for (name, value) in [
        ("MAX_REQUEST_HEAD", "8,192 bytes".to_owned()),
        ("MAX_REQUEST_HEADERS", MAX_REQUEST_HEADERS.to_string()),
        (
            "REQUEST_HEAD_TIMEOUT",
            format!("{} s", REQUEST_HEAD_TIMEOUT.as_secs()),
        ),
        (
            "RESPONSE_TIMEOUT",
            format!("{} s", RESPONSE_TIMEOUT.as_secs()),
        ),
        ("MAX_WEB_FILE_BYTES", mib(MAX_WEB_FILE_BYTES)),
        ("MAX_WEB_FILES", MAX_WEB_FILES.to_string()),
        ("MAX_WEB_TOTAL_BYTES", mib(MAX_WEB_TOTAL_BYTES)),
        ("MAX_WEB_DEPTH", MAX_WEB_DEPTH.to_string()),
    ] {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("SPEC.md lacks {name}"));
        assert!(
            row.starts_with(&format!("| `{name}` | {value} | {place} |")),
            "{row}"
        );
    }
    assert_eq!(MAX_REQUEST_HEAD, 8192);
    assert!(section.contains(&format!("`{BUILD_COMMAND}`")));
    assert!(section.contains(&format!("`{CACHE_IMMUTABLE}`")));
    assert!(section.contains(&format!("`{CACHE_NO_STORE}`")));
    assert!(section.contains(&format!("`Allow` | `{ALLOW}`")));
}
