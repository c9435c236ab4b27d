//! HTTP tunnels at the relay (SPEC.md 12.4): what a request under
//! `/t/<session>/` asks for, the request head the host's local server
//! gets, the response head the browser gets, and the answers the relay
//! gives itself. Pure code: the driver moves the bytes.

use std::borrow::Cow;

use taiku_proto::SessionId;

use super::{CACHE_NO_STORE, MAX_REQUEST_HEADERS, Response, Status, TEXT_HTML, TEXT_PLAIN};

/// The cookie that carries a tunnel credential, scoped to one session's
/// tunnels (`Path=/t/<session>/`), `HttpOnly` and `SameSite=Strict`.
pub const TUNNEL_COOKIE: &str = "taiku_tunnel";

/// The longest a login request's body (the credential) may be.
pub const MAX_LOGIN_BODY: usize = 128;

/// Largest response head from a local server the relay rewrites; a
/// longer one ends the request (`502`).
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// What a request under `/t/` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelTarget<'a> {
    /// `POST /t/<session>/login` with a credential as the body: set the
    /// cookie.
    Login {
        /// The session.
        session: &'a str,
    },
    /// `/t/<session>/p/<port>`: redirect to the same with a `/`.
    AddSlash {
        /// Where to.
        location: String,
    },
    /// `/t/<session>/p/<port>/<path>`: forward to the host's port.
    Port {
        /// The session.
        session: &'a str,
        /// The published port.
        port: u32,
        /// What the local server is asked for: `/` and the rest, query
        /// included.
        path: &'a str,
    },
}

/// The target of a request under `/t/`; `None` for anything else (a
/// `404`). Nothing is decoded: the session id and port are compared as
/// they are, and the rest of the path goes to the local server unchanged.
pub fn tunnel_target(target: &str) -> Option<TunnelTarget<'_>> {
    let rest = target.strip_prefix("/t/")?;
    let (session, rest) = rest.split_once('/')?;
    SessionId::new(session).ok()?;
    if rest == "login" {
        return Some(TunnelTarget::Login { session });
    }
    let rest = rest.strip_prefix("p/")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (port, path) = rest.split_at(digits);
    // Canonical decimal only: one spelling per port.
    if port.is_empty() || port.len() > 5 || port.starts_with('0') {
        return None;
    }
    let port: u32 = port.parse().ok().filter(|p| (1..=65535).contains(p))?;
    match path.as_bytes().first() {
        Some(b'/') => Some(TunnelTarget::Port {
            session,
            port,
            path,
        }),
        None => Some(TunnelTarget::AddSlash {
            location: format!("/t/{session}/p/{port}/"),
        }),
        Some(b'?') => Some(TunnelTarget::AddSlash {
            location: format!("/t/{session}/p/{port}/{path}"),
        }),
        _ => None,
    }
}

/// What the relay needs of a tunnel request's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelHead {
    /// Length of the head.
    pub len: usize,
    /// The method.
    pub method: String,
    /// The tunnel credential from its cookie.
    pub token: Option<String>,
    /// The body's length: `Content-Length` given once and valid, or 0
    /// without one; `None` for a body the relay does not frame
    /// (`Transfer-Encoding`, or a repeated or invalid `Content-Length`),
    /// which it refuses: one request per stream, and nothing after it.
    pub body_len: Option<u64>,
}

/// Parse a complete request head for a tunnel request; `None` if it does
/// not parse.
pub fn tunnel_head(buf: &[u8]) -> Option<TunnelHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return None,
    };
    let named = |name: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .collect::<Vec<_>>()
    };
    let lengths = named("content-length");
    let body_len = match (named("transfer-encoding").is_empty(), lengths.as_slice()) {
        (false, _) => None,
        (true, []) => Some(0),
        (true, [one]) => std::str::from_utf8(one.value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok()),
        (true, _) => None,
    };
    Some(TunnelHead {
        len,
        method: req.method?.to_owned(),
        token: tunnel_cookie(req.headers).map(str::to_owned),
        body_len,
    })
}

/// The tunnel credential in a request's `Cookie` headers, if any.
pub fn tunnel_cookie<'h>(headers: &[httparse::Header<'h>]) -> Option<&'h str> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim() == TUNNEL_COOKIE)
        .map(|(_, value)| value)
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Headers a request to the local server never carries from the browser:
/// hop-by-hop headers, and `Host` (the relay writes its own).
const DROPPED_REQUEST_HEADERS: [&str; 8] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "upgrade",
    "trailer",
];

/// The request head the local server on `port` gets for a browser's
/// head: the method, `path` (the tunnel prefix removed), HTTP/1.1, the
/// browser's headers without hop-by-hop ones and without the tunnel
/// cookie, `Host: localhost:<port>`, and `Connection: close` (one request
/// per stream). `None` if the head does not parse.
pub fn local_request_head(head: &[u8], path: &str, port: u32) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let method = req.method?;
    let mut out = Vec::with_capacity(head.len() + 64);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(format!("Host: localhost:{port}\r\n").as_bytes());
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if name == "cookie" {
            let kept: Vec<&str> = std::str::from_utf8(h.value)
                .unwrap_or_default()
                .split(';')
                .map(str::trim)
                .filter(|pair| {
                    !pair.is_empty() && pair.split('=').next().unwrap_or("").trim() != TUNNEL_COOKIE
                })
                .collect();
            if !kept.is_empty() {
                push_header(&mut out, b"Cookie", kept.join("; ").as_bytes());
            }
            continue;
        }
        push_header(&mut out, h.name.as_bytes(), h.value);
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Some(out)
}

/// A local server's answer is not an HTTP response head the relay takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an HTTP response head of at most MAX_RESPONSE_HEAD bytes")]
pub struct BadResponseHead;

/// Where a response head from the local server ends, once it is complete:
/// `Ok(None)` while more is needed, `Err` for one that does not parse or
/// is over [`MAX_RESPONSE_HEAD`].
pub fn response_head_len(bytes: &[u8]) -> Result<Option<usize>, BadResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => Ok(Some(len)),
        Ok(httparse::Status::Partial) if bytes.len() < MAX_RESPONSE_HEAD => Ok(None),
        _ => Err(BadResponseHead),
    }
}

/// The status code of a complete response head.
pub fn response_status(head: &[u8]) -> Option<u16> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(head) {
        Ok(httparse::Status::Complete(_)) => res.code,
        _ => None,
    }
}

/// A `Set-Cookie` value as the browser gets it from a tunneled server:
/// its `Path` and `Domain` replaced by the tunnel's own `prefix`, so no
/// cookie of a local server reaches beyond its tunnel; `None` for one
/// that would name the relay's tunnel cookie.
fn scoped_cookie(value: &[u8], prefix: &str) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?;
    let mut parts = value.split(';');
    let pair = parts.next()?.trim();
    if pair
        .split_once('=')
        .is_none_or(|(name, _)| name.trim() == TUNNEL_COOKIE)
    {
        return None;
    }
    let mut out = pair.to_owned();
    for attribute in parts.map(str::trim).filter(|a| !a.is_empty()) {
        let name = attribute.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("path") || name.eq_ignore_ascii_case("domain") {
            continue;
        }
        out.push_str("; ");
        out.push_str(attribute);
    }
    out.push_str("; Path=");
    out.push_str(prefix);
    Some(out)
}

/// The response head the browser gets for the local server's: its status
/// and headers, without hop-by-hop headers and `Service-Worker-Allowed`
/// (a tunneled page must not claim the relay's scope), its cookies scoped
/// to the tunnel's `prefix` (`/t/<session>/p/<port>/`), with
/// `Connection: close`. `None` if it does not parse.
pub fn browser_response_head(head: &[u8], prefix: &str) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    if !matches!(res.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let code = res.code?;
    // The reason phrase is only for people: printable ASCII is kept.
    let reason: String = res
        .reason
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let mut out = Vec::with_capacity(head.len() + 32);
    out.extend_from_slice(format!("HTTP/1.1 {code:03} {reason}\r\n").as_bytes());
    for h in res.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "connection" | "keep-alive" | "proxy-connection" | "service-worker-allowed"
        ) {
            continue;
        }
        if name == "set-cookie" {
            if let Some(cookie) = scoped_cookie(h.value, prefix) {
                push_header(&mut out, b"Set-Cookie", cookie.as_bytes());
            }
            continue;
        }
        push_header(&mut out, h.name.as_bytes(), h.value);
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Some(out)
}

/// Why the relay answers a tunnel request itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunnelFault {
    /// No valid credential: `403`.
    Forbidden,
    /// No such session, or the port is not published: `404`.
    NotPublished,
    /// The request's body is not framed by one `Content-Length`
    /// (`Transfer-Encoding`, or a repeated or invalid length): `411`.
    LengthRequired,
    /// The request is over the relay's size limit: `413`.
    TooLarge,
    /// The host is offline: `502`.
    HostOffline,
    /// Nothing listens on the port on the host, or its answer was not
    /// HTTP: `502`.
    LocalServerDown,
    /// Too many tunnel requests at once: `503`.
    Busy,
    /// The host or its local server did not answer in time: `504`.
    Timeout,
}

const FAULT_PAGE_HEAD: &str = "<!doctype html><meta charset=utf-8><title>taiku tunnel</title>";

impl TunnelFault {
    /// The status of the answer.
    pub fn status(self) -> Status {
        match self {
            TunnelFault::Forbidden => Status::Forbidden,
            TunnelFault::NotPublished => Status::NotFound,
            TunnelFault::LengthRequired => Status::LengthRequired,
            TunnelFault::TooLarge => Status::PayloadTooLarge,
            TunnelFault::HostOffline | TunnelFault::LocalServerDown => Status::BadGateway,
            TunnelFault::Busy => Status::ServiceUnavailable,
            TunnelFault::Timeout => Status::GatewayTimeout,
        }
    }

    fn page(self) -> &'static str {
        match self {
            TunnelFault::Forbidden => concat!(
                "<h1>Not signed in to this session's tunnels</h1>",
                "<p>Open the tunnel from the session page, as a writer or admin of the session.</p>"
            ),
            TunnelFault::NotPublished => concat!(
                "<h1>Not published</h1>",
                "<p>The host does not publish this port (or the session is over).</p>"
            ),
            TunnelFault::LengthRequired => {
                "<h1>Length required</h1><p>The relay forwards request bodies with one Content-Length only.</p>"
            }
            TunnelFault::TooLarge => {
                "<h1>Request too large</h1><p>The relay does not forward requests this large.</p>"
            }
            TunnelFault::HostOffline => concat!(
                "<h1>The host is offline</h1>",
                "<p>The host of this session is not connected right now. If it comes back within ",
                "its grace window, reload this page.</p>"
            ),
            TunnelFault::LocalServerDown => concat!(
                "<h1>Nothing answers on this port</h1>",
                "<p>The host is online, but no server answered on this port on its machine.</p>"
            ),
            TunnelFault::Busy => {
                "<h1>Too many requests</h1><p>Too many tunnel requests are open at once; try again.</p>"
            }
            TunnelFault::Timeout => concat!(
                "<h1>No answer in time</h1>",
                "<p>The host's server did not answer in time.</p>"
            ),
        }
    }

    /// The whole answer: head and an HTML page, `Connection: close`.
    pub fn answer(self) -> Vec<u8> {
        let body = format!("{FAULT_PAGE_HEAD}{}", self.page());
        let response = Response::new(
            self.status(),
            TEXT_HTML,
            CACHE_NO_STORE,
            body.as_bytes(),
            false,
        );
        let mut out = response.head();
        out.extend_from_slice(body.as_bytes());
        out
    }
}

/// The answer to a login with a valid credential: `204` setting the
/// cookie for `session`'s tunnels for `max_age_secs` (`Secure` over TLS).
pub fn login_answer(session: &str, token: &str, max_age_secs: u64, secure: bool) -> Vec<u8> {
    let mut response = Response::new(Status::NoContent, TEXT_PLAIN, CACHE_NO_STORE, b"", true);
    let secure = if secure { "; Secure" } else { "" };
    response.headers.push((
        "Set-Cookie",
        Cow::Owned(format!(
            "{TUNNEL_COOKIE}={token}; Path=/t/{session}/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
        )),
    ));
    response.head()
}

/// The answer that adds the missing `/` after a port.
pub fn redirect_answer(location: &str) -> Vec<u8> {
    let mut response = Response::new(
        Status::PermanentRedirect,
        TEXT_PLAIN,
        CACHE_NO_STORE,
        b"",
        true,
    );
    response
        .headers
        .push(("Location", Cow::Owned(location.to_owned())));
    response.head()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "abcdefgh12345678";

    #[test]
    fn targets_are_parsed_strictly() {
        assert_eq!(
            tunnel_target(&format!("/t/{ID}/p/3000/a/b?c=1")),
            Some(TunnelTarget::Port {
                session: ID,
                port: 3000,
                path: "/a/b?c=1"
            })
        );
        assert_eq!(
            tunnel_target(&format!("/t/{ID}/login")),
            Some(TunnelTarget::Login { session: ID })
        );
        assert_eq!(
            tunnel_target(&format!("/t/{ID}/p/8080")),
            Some(TunnelTarget::AddSlash {
                location: format!("/t/{ID}/p/8080/")
            })
        );
        for bad in [
            "/t/".to_owned(),
            format!("/t/{ID}"),
            format!("/t/{ID}/p/"),
            format!("/t/{ID}/p/0/"),
            format!("/t/{ID}/p/03000/"),
            format!("/t/{ID}/p/65536/"),
            format!("/t/{ID}/p/123456/"),
            format!("/t/{ID}/p/30x0/"),
            format!("/t/{ID}/q/3000/"),
            "/t/short/p/3000/".to_owned(),
            format!("/s/{ID}"),
        ] {
            assert_eq!(tunnel_target(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_local_server_gets_no_hop_headers_and_no_credential() {
        let head = b"GET /t/x/p/3000/a HTTP/1.1\r\nHost: relay.example\r\n\
            Cookie: a=1; taiku_tunnel=SECRET; b=2\r\nConnection: keep-alive\r\n\
            Upgrade: websocket\r\nAccept: */*\r\n\r\n";
        let out = local_request_head(head, "/a", 3000).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /a HTTP/1.1\r\nHost: localhost:3000\r\nCookie: a=1; b=2\r\n\
             Accept: */*\r\nConnection: close\r\n\r\n"
        );
        let only = b"GET / HTTP/1.1\r\nCookie: taiku_tunnel=SECRET\r\n\r\n";
        let out = local_request_head(only, "/", 80).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("SECRET"));
        assert_eq!(local_request_head(b"GET / HTTP/1.1\r\n", "/", 80), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut req = httparse::Request::new(&mut headers);
        req.parse(b"GET / HTTP/1.1\r\nCookie: a=1\r\nCookie: b=2; taiku_tunnel=tok\r\n\r\n")
            .unwrap();
        assert_eq!(tunnel_cookie(req.headers), Some("tok"));
    }

    #[test]
    fn the_browser_gets_connection_close_and_no_worker_scope() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\
            Service-Worker-Allowed: /\r\n\r\n";
        assert_eq!(response_head_len(head), Ok(Some(head.len())));
        assert_eq!(response_head_len(&head[..20]), Ok(None));
        assert_eq!(response_head_len(b"nonsense\r\n\r\n"), Err(BadResponseHead));
        let out = browser_response_head(head, "/t/x/p/1/").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(response_status(head), Some(200));
        let cookies = b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=1; Path=/; Domain=relay; HttpOnly\r\n\
            Set-Cookie: taiku_tunnel=forged; Path=/t/\r\n\r\n";
        let out = String::from_utf8(browser_response_head(cookies, "/t/x/p/1/").unwrap()).unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nSet-Cookie: sid=1; HttpOnly; Path=/t/x/p/1/\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn faults_are_readable_pages() {
        let page = String::from_utf8(TunnelFault::HostOffline.answer()).unwrap();
        assert!(page.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
        assert!(page.contains("The host is offline"));
        assert!(TunnelFault::Timeout.answer().starts_with(b"HTTP/1.1 504 "));
        assert!(
            TunnelFault::NotPublished
                .answer()
                .starts_with(b"HTTP/1.1 404 ")
        );
        let login = String::from_utf8(login_answer(ID, "tok", 60, false)).unwrap();
        assert!(login.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(login.contains(&format!(
            "Set-Cookie: taiku_tunnel=tok; Path=/t/{ID}/; Max-Age=60; HttpOnly; SameSite=Strict\r\n"
        )));
    }
}
