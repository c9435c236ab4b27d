//! Issue 21 end to end: a real local HTTP server behind `share --tunnel`,
//! reached through `join --forward` (sealed: a tap between join and the
//! relay never sees a byte of it) and through the relay's HTTP tunnel
//! (`/t/<session>/p/<port>/`, with a credential of an admitted writer);
//! a reader is refused, an unpublished port is 404, nothing listening is
//! 502, withdrawing a port closes its open streams, an offline host is
//! 502. Downloads of 5 MiB arrive byte for byte.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taiku_crypto::Link;
use taiku_session::participant::{Participant, ParticipantConfig, ParticipantEvent};
use taiku_transport::drive::{os_rng, spawn_participant};

#[path = "support/tools.rs"]
mod tools;
use tools::{Sharing, free_addr, relay_process, start_share, start_tool};

const BIG: usize = 5 << 20;

/// `len` bytes whose every position is different from its neighbours'
/// (a marker and a counter), so a byte-exact comparison means something.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("<taiku-tunnel-marker-{i:08}>").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// A local HTTP server on a free port: `/` a page, `/big` 5 MiB, `/slow`
/// a body that trickles for a minute; one request per connection.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if conn.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                let (status, body, slow) = match path.as_str() {
                    "/" => ("200 OK", b"<h1>hello from the host</h1>".to_vec(), false),
                    "/big" => ("200 OK", pattern(BIG), false),
                    "/slow" => ("200 OK", pattern(60 * 1024), true),
                    "/echo-head" => ("200 OK", head.clone().into_bytes(), false),
                    "/interim" => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 103 Early Hints\r\nService-Worker-Allowed: /\r\n\r\n\
                              HTTP/1.1 200 OK\r\nService-Worker-Allowed: /\r\n\
                              Set-Cookie: app=1; Path=/; Domain=relay.example\r\n\
                              Content-Length: 2\r\n\r\nok",
                        );
                        return;
                    }
                    _ => ("404 Not Found", b"no such page".to_vec(), false),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n",
                    body.len()
                );
                if slow {
                    for chunk in body.chunks(1024) {
                        if conn.write_all(chunk).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                } else {
                    let _ = conn.write_all(&body);
                }
            });
        }
    });
    port
}

/// An HTTP/1.1 request to `addr`; the status code, the head and the body.
fn http(addr: &str, request: &str) -> (u16, String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, String::from_utf8_lossy(&answer).into_owned(), Vec::new());
    };
    let head = String::from_utf8_lossy(&answer[..at]).into_owned();
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head, answer[at + 4..].to_vec())
}

fn get(addr: &str, path: &str, cookie: Option<&str>) -> (u16, String, Vec<u8>) {
    let cookie = cookie.map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n"),
    )
}

/// A proxy from a free port to `to` that records every byte both ways.
fn recording_proxy(to: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tap = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&tap);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(a) = conn else { continue };
            let Ok(b) = TcpStream::connect(&to) else {
                continue;
            };
            let _ = (a.set_nodelay(true), b.set_nodelay(true));
            for (mut from, mut into) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)] {
                let tap = Arc::clone(&recorded);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            let _ = into.shutdown(std::net::Shutdown::Write);
                            break;
                        }
                        tap.lock().unwrap().extend_from_slice(&buf[..n]);
                        if into.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    (addr, tap)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The link of `role` that `share` printed.
fn printed_link(sharing: &mut Sharing, role: &str) -> String {
    sharing.wait_for(&format!("{role} link: "));
    let start = sharing.from;
    sharing.wait_for("\n");
    sharing.seen[start..sharing.from].trim().to_owned()
}

fn stop(mut tool: Sharing) {
    let _ = tool.writer.write_all(&[0x1d, b'q']);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = tool.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = tool.child.kill();
    let _ = tool.child.wait();
}

/// `join --forward` from a free local port to the host's `port` with
/// `link`, once it says it forwards; and that local address.
fn join_forwarding(link: &str, port: u16, role: &str) -> (Sharing, String) {
    let local = free_addr();
    let local_port = local.rsplit(':').next().unwrap().to_owned();
    let mut joiner = start_tool(
        "join",
        &["--forward", &format!("{local_port}:{port}")],
        &[("TAIKU_LINK", link)],
    );
    joiner.wait_for(&format!("Joined as {role}"));
    joiner.wait_for(&format!("Forwarding {local} to the host's port {port}"));
    (joiner, local)
}

/// A relay process and `share` on it publishing `ports` with `args`.
fn share_on_relay(ports: &str, args: &[&str]) -> (std::process::Child, String, Sharing) {
    let relay_addr = free_addr();
    let relay = relay_process(&relay_addr, &[]);
    let relay_url = format!("http://{relay_addr}");
    let mut all = vec!["--relay", relay_url.as_str(), "--tunnel", ports];
    all.extend_from_slice(args);
    (relay, relay_addr, start_share(&all))
}

#[test]
fn join_forward_carries_a_download_sealed_past_the_relay() {
    let port = http_server();
    let (mut relay, relay_addr, mut sharing) =
        share_on_relay(&port.to_string(), &["--enable-readers"]);
    let reader_link = printed_link(&mut sharing, "reader");
    sharing.wait_for(&format!("Publishing port {port}"));
    let (proxy, tap) = recording_proxy(relay_addr.clone());
    let link = sharing.link.replace(&relay_addr, &proxy);

    let (mut joiner, local) = join_forwarding(&link, port, "Writer");
    joiner.wait_for(&format!("the host publishes ports [{port}]"));

    let (code, _, page) = get(&local, "/", None);
    assert_eq!(code, 200);
    assert_eq!(page, b"<h1>hello from the host</h1>");
    let started = Instant::now();
    let (code, head, body) = get(&local, "/big", None);
    let took = started.elapsed();
    assert_eq!(code, 200, "{head}");
    assert_eq!(body.len(), BIG);
    assert!(body == pattern(BIG), "the download differs");
    eprintln!(
        "5 MiB through join --forward in {took:?} ({:.1} MB/s)",
        BIG as f64 / took.as_secs_f64() / 1e6
    );
    // The relay carried all of it and saw none of it.
    let seen = tap.lock().unwrap().clone();
    assert!(seen.len() > BIG, "the tap saw {} bytes", seen.len());
    assert!(!contains(&seen, b"taiku-tunnel-marker"));
    assert!(!contains(&seen, b"hello from the host"));

    // A reader may not forward: its connection is closed unanswered.
    let (reader, reader_local) = join_forwarding(&reader_link, port, "Reader");
    let (code, head, body) = get(&reader_local, "/", None);
    assert_eq!((code, body.len()), (0, 0), "{head}");

    // An unpublished port is not reached through a forward either.
    let other = http_server();
    let (mut stray_join, stray) = join_forwarding(&sharing.link, other, "Writer");
    stray_join.wait_for("the host publishes ports");
    let (code, _, body) = get(&stray, "/", None);
    assert_eq!((code, body.len()), (0, 0));

    for tool in [joiner, reader, stray_join, sharing] {
        stop(tool);
    }
    let _ = relay.kill();
    let _ = relay.wait();
}

/// A writer's credential for the session's HTTP tunnels, from a
/// participant in this process (as the browser client gets one).
fn credential(rt: &tokio::runtime::Runtime, link: &str) -> (String, impl Sized + use<>) {
    let link = Link::parse(link).unwrap();
    rt.block_on(async move {
        let participant = Participant::new(ParticipantConfig::default(), &link, os_rng());
        let driver = taiku_examples::participant_driver(&link, None, false).await;
        let (mut handle, task) = spawn_participant(participant, driver);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let event = tokio::time::timeout_at(deadline, handle.events.recv())
                .await
                .expect("joined in time")
                .expect("the loop runs");
            match event {
                ParticipantEvent::Joined { .. } => {
                    handle
                        .call(|p, _| p.request_tunnel_credential())
                        .await
                        .unwrap()
                        .unwrap();
                }
                ParticipantEvent::TunnelCredential { token, .. } => {
                    return (token.expose().to_owned(), (handle, task));
                }
                _ => {}
            }
        }
    })
}

/// Log in with `token`: the cookie the relay sets.
fn login(relay: &str, session: &str, token: &str) -> String {
    let (code, head, _) = http(
        relay,
        &format!(
            "POST /t/{session}/login HTTP/1.1\r\nHost: {relay}\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{token}",
            token.len()
        ),
    );
    assert_eq!(code, 204, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("a cookie");
    assert!(cookie.contains(&format!("Path=/t/{session}/")), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    cookie.split(';').next().unwrap().to_owned()
}

#[test]
fn the_relays_http_tunnel_serves_admitted_writers_and_says_what_went_wrong() {
    let port = http_server();
    let dead = free_addr().rsplit(':').next().unwrap().to_owned();
    let (mut relay, relay_addr, mut sharing) =
        share_on_relay(&format!("{port},{dead}"), &["--admin-link"]);
    let admin_link = printed_link(&mut sharing, "admin");
    sharing.wait_for(&format!("Publishing port {dead}"));
    let session = sharing
        .link
        .split("/s/")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (token, _writer) = credential(&rt, &sharing.link);
    let base = format!("/t/{session}/p/{port}");

    // Holding the URL is not enough.
    let (code, _, page) = get(&relay_addr, &format!("{base}/"), None);
    assert_eq!(code, 403);
    assert!(contains(&page, b"Not signed in"));
    let (code, ..) = get(
        &relay_addr,
        &format!("{base}/"),
        Some("taiku_tunnel=forged"),
    );
    assert_eq!(code, 403);
    let cookie = login(&relay_addr, &session, &token);
    let (code, ..) = http(
        &relay_addr,
        &format!(
            "POST /t/{session}/login HTTP/1.1\r\nHost: {relay_addr}\r\nContent-Length: 6\r\n\
             Connection: close\r\n\r\nforged"
        ),
    );
    assert_eq!(code, 403);

    // With the cookie: the page, and 5 MiB byte for byte.
    let (code, head, page) = get(&relay_addr, &format!("{base}/"), Some(&cookie));
    assert_eq!(code, 200, "{head}");
    assert_eq!(page, b"<h1>hello from the host</h1>");
    assert!(
        head.contains("Connection: close") && !head.contains("keep-alive"),
        "{head}"
    );
    let started = Instant::now();
    let (code, _, body) = get(&relay_addr, &format!("{base}/big"), Some(&cookie));
    let took = started.elapsed();
    assert_eq!(code, 200);
    assert!(
        body.len() == BIG && body == pattern(BIG),
        "the download differs"
    );
    eprintln!(
        "5 MiB through the relay's HTTP tunnel in {took:?} ({:.1} MB/s)",
        BIG as f64 / took.as_secs_f64() / 1e6
    );
    // The local server gets its own path, no credential, one request.
    let (_, _, echoed) = get(&relay_addr, &format!("{base}/echo-head"), Some(&cookie));
    let echoed = String::from_utf8(echoed).unwrap();
    assert!(
        echoed.starts_with("GET /echo-head HTTP/1.1\r\n"),
        "{echoed}"
    );
    assert!(
        echoed.contains(&format!("Host: localhost:{port}\r\n")),
        "{echoed}"
    );
    assert!(
        !echoed.contains(&token) && echoed.contains("Connection: close"),
        "{echoed}"
    );
    // An interim answer is dropped and the final head rewritten: no
    // worker scope, cookies kept to the tunnel.
    let (code, head, body) = get(&relay_addr, &format!("{base}/interim"), Some(&cookie));
    assert_eq!((code, body.as_slice()), (200, &b"ok"[..]), "{head}");
    assert!(
        !head.contains("Early Hints") && !head.contains("Service-Worker-Allowed"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Set-Cookie: app=1; Path={base}/")),
        "{head}"
    );
    // One request per stream: a body must have one Content-Length, and a
    // second request in the same connection is never forwarded.
    let (code, ..) = http(
        &relay_addr,
        &format!(
            "POST {base}/ HTTP/1.1\r\nHost: {relay_addr}\r\nCookie: {cookie}\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
    );
    assert_eq!(code, 411);
    let (code, _, body) = http(
        &relay_addr,
        &format!(
            "GET {base}/echo-head HTTP/1.1\r\nHost: {relay_addr}\r\nCookie: {cookie}\r\n\r\n\
             GET {base}/big HTTP/1.1\r\nHost: {relay_addr}\r\nCookie: {cookie}\r\n\r\n"
        ),
    );
    assert_eq!(code, 200);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.starts_with("GET /echo-head ") && !body.contains("HTTP/1.1 200"),
        "{body}"
    );
    // The port without its slash is redirected.
    let (code, head, _) = get(&relay_addr, &base, Some(&cookie));
    assert_eq!(code, 308);
    assert!(head.contains(&format!("Location: {base}/")), "{head}");
    // Not published: 404. Published with nothing listening: 502.
    let (code, _, page) = get(&relay_addr, &format!("/t/{session}/p/9/"), Some(&cookie));
    assert_eq!(code, 404);
    assert!(contains(&page, b"Not published"));
    let (code, _, page) = get(
        &relay_addr,
        &format!("/t/{session}/p/{dead}/"),
        Some(&cookie),
    );
    assert_eq!(code, 502);
    assert!(contains(&page, b"Nothing answers on this port"));

    // Withdrawing a port closes the streams open on it.
    let slow = {
        let relay_addr = relay_addr.clone();
        let (cookie, base) = (cookie.clone(), base.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let (code, _, body) = get(&relay_addr, &format!("{base}/slow"), Some(&cookie));
            (code, body.len(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let mut admin = start_tool(
        "join",
        &["--withdraw", &port.to_string()],
        &[("TAIKU_LINK", &admin_link)],
    );
    admin.wait_for("Joined as Admin");
    sharing.wait_for("changed the published ports");
    let (code, got, took) = slow.join().unwrap();
    assert_eq!(code, 200);
    assert!(got < 60 * 1024, "the slow download went on: {got} bytes");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let (code, ..) = get(&relay_addr, &format!("{base}/"), Some(&cookie));
    assert_eq!(code, 404);

    // The host goes away: a readable 502.
    let _ = sharing.child.kill();
    let _ = sharing.child.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let (code, _, page) = get(
            &relay_addr,
            &format!("/t/{session}/p/{dead}/"),
            Some(&cookie),
        );
        if code == 502 && contains(&page, b"The host is offline") {
            break page;
        }
        assert!(Instant::now() < deadline, "no 502 for an offline host");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(contains(&page, b"grace window"));
    stop(admin);
    let _ = relay.kill();
    let _ = relay.wait();
}
