//! The relay's HTTP side (SPEC.md section 12.3): telling a WebSocket
//! handshake from a plain request, and answering plain requests with the
//! browser client. Pure code, no IO besides [`WebClient::load`]: the
//! driver reads the request head, asks [`parse_request`] what it is, and
//! writes what [`route`] (or [`Response::upgrade_refused`]) answers.
//!
//! The browser client reads a link's secret from `location.hash`, which a
//! browser never sends; the server only ever sees `/s/<session-id>`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use taiku_proto::SessionId;

use crate::endpoint::WS_PATH;

mod client;
mod request;
pub mod tunnel;
pub use client::{WebClient, WebClientError};
use request::path_of;
pub use request::{
    AllowedHosts, HeadError, Request, UpgradeError, parse_request, parse_request_for,
};

/// Largest request head read before answering `400 Bad Request`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Most header lines in a request head; more is `400 Bad Request`.
pub const MAX_REQUEST_HEADERS: usize = 64;

/// Time from accepting a TCP connection to a complete request head, TLS
/// handshake included; a connection that takes longer is closed.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed to write one HTTP response (or the `101` of a WebSocket
/// handshake), including [`DRAIN_TIMEOUT`]: the send deadline of a
/// WebSocket message (`SEND_TIMEOUT`), so a client that never reads its
/// download holds its connection no longer than a peer that never reads
/// its frames.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// `Retry-After` of a `503 Service Unavailable`, in seconds.
pub const RETRY_AFTER: &str = "5";

/// After a response, the relay reads and discards what the client still
/// sends (an unread request body, the rest of an oversized head), up to
/// this many bytes, so that closing the socket does not reset the
/// connection and lose the response.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// The longest the relay drains a connection after a response (see
/// [`MAX_DRAIN_BYTES`]); within [`RESPONSE_TIMEOUT`].
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest file of the browser client.
pub const MAX_WEB_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Most files and directories under the browser client's `assets/`.
pub const MAX_WEB_FILES: usize = 512;

/// Largest browser client, all files together.
pub const MAX_WEB_TOTAL_BYTES: u64 = 64 * 1024 * 1024;

/// Deepest directory nesting under `assets/`.
pub const MAX_WEB_DEPTH: usize = 8;

/// The command, run at the repository root, that builds the browser client
/// into `taiku-transport/client` (compiled in by the `embedded-client`
/// feature).
pub const BUILD_COMMAND: &str = "npm --prefix web ci && npm --prefix web run build";

/// `Content-Security-Policy` of every response: the page loads its own
/// scripts, styles, images and fonts and connects to its own origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `Referrer-Policy` of every response: a link is never sent onwards.
pub const REFERRER_POLICY: &str = "no-referrer";

/// `Permissions-Policy` of every response.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=()";

/// `Cache-Control` of the page and of every error.
pub const CACHE_NO_STORE: &str = "no-store";

/// `Cache-Control` of assets: their names carry a content hash.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Allow` of a `405 Method Not Allowed`.
pub const ALLOW: &str = "GET, HEAD";

/// The WebSocket version the relay speaks: the only accepted
/// `Sec-WebSocket-Version`, and that header's value on a
/// `426 Upgrade Required`.
pub const WS_VERSION: &str = "13";

/// Headers every response carries, after `Content-Type`,
/// `Content-Length`, `Cache-Control` (and `Allow` or
/// `Sec-WebSocket-Version`), in this order.
pub const SECURITY_HEADERS: [(&str, &str); 8] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", REFERRER_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", PERMISSIONS_POLICY),
    ("Connection", "close"),
];

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";

/// The body of `/s/<session-id>` on a relay without a browser client.
pub const NOT_BUILT_BODY: &str = "The taiku browser client is not built on this relay.\n\
     Build it at the repository root with: npm --prefix web ci && npm --prefix web run build\n";

const NOT_FOUND_BODY: &str = "not found\n";
const METHOD_BODY: &str = "method not allowed\n";
const BAD_REQUEST_BODY: &str = "bad request\n";
const FORBIDDEN_BODY: &str = "forbidden\n";
const MISDIRECTED_BODY: &str = "not this relay\n";
const UPGRADE_REQUIRED_BODY: &str = "upgrade required\n";
const BUSY_BODY: &str = "too many connections from your address, try again later\n";

/// The status of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// 200.
    Ok,
    /// 204: a tunnel login that set its cookie.
    NoContent,
    /// 308: a tunnel path without its `/`.
    PermanentRedirect,
    /// 400.
    BadRequest,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 421: a `Host` this relay does not answer for.
    MisdirectedRequest,
    /// 411: a tunnel request whose body has no single `Content-Length`.
    LengthRequired,
    /// 413: a tunnel request over the relay's limit.
    PayloadTooLarge,
    /// 426.
    UpgradeRequired,
    /// 503: the relay has no room for this connection now (too many from
    /// its source); `Retry-After` says when to try again.
    ServiceUnavailable,
    /// 502: a tunnel whose host is offline or whose local server does
    /// not answer.
    BadGateway,
    /// 504: a tunnel whose host did not answer in time.
    GatewayTimeout,
}

impl Status {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::NoContent => 204,
            Status::PermanentRedirect => 308,
            Status::LengthRequired => 411,
            Status::PayloadTooLarge => 413,
            Status::BadGateway => 502,
            Status::GatewayTimeout => 504,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::MisdirectedRequest => 421,
            Status::UpgradeRequired => 426,
            Status::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NoContent => "No Content",
            Status::PermanentRedirect => "Permanent Redirect",
            Status::LengthRequired => "Length Required",
            Status::PayloadTooLarge => "Content Too Large",
            Status::BadGateway => "Bad Gateway",
            Status::GatewayTimeout => "Gateway Timeout",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::MisdirectedRequest => "Misdirected Request",
            Status::UpgradeRequired => "Upgrade Required",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// An HTTP response: write [`Response::head`] then [`Response::body`],
/// then close. Only this module makes one, so `Content-Length` always
/// matches what a `GET` receives and the security headers are always
/// there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    status: Status,
    headers: Vec<(&'static str, Cow<'static, str>)>,
    body: &'a [u8],
}

impl<'a> Response<'a> {
    fn new(
        status: Status,
        content_type: &'static str,
        cache: &'static str,
        body: &'a [u8],
        head_only: bool,
    ) -> Self {
        let mut headers: Vec<(&'static str, Cow<'static, str>)> = vec![
            ("Content-Type", Cow::Borrowed(content_type)),
            ("Content-Length", Cow::Owned(body.len().to_string())),
            ("Cache-Control", Cow::Borrowed(cache)),
        ];
        match status {
            Status::MethodNotAllowed => headers.push(("Allow", Cow::Borrowed(ALLOW))),
            Status::UpgradeRequired => {
                headers.push(("Sec-WebSocket-Version", Cow::Borrowed(WS_VERSION)));
            }
            Status::ServiceUnavailable => {
                headers.push(("Retry-After", Cow::Borrowed(RETRY_AFTER)));
            }
            _ => {}
        }
        headers.extend(
            SECURITY_HEADERS
                .iter()
                .map(|(name, value)| (*name, Cow::Borrowed(*value))),
        );
        Response {
            status,
            headers,
            body: if head_only { &[] } else { body },
        }
    }

    fn text(status: Status, body: &'static str, head_only: bool) -> Self {
        Response::new(
            status,
            TEXT_PLAIN,
            CACHE_NO_STORE,
            body.as_bytes(),
            head_only,
        )
    }

    /// The answer to a request head that is too large or malformed.
    pub fn bad_request() -> Response<'static> {
        Response::text(Status::BadRequest, BAD_REQUEST_BODY, false)
    }

    /// The answer to a request to [`WS_PATH`] that is not upgraded:
    /// `400`, `426` or `403` as [`UpgradeError::status`] says.
    pub fn upgrade_refused(error: UpgradeError) -> Response<'static> {
        match error {
            UpgradeError::Malformed => Response::bad_request(),
            UpgradeError::UnsupportedVersion => {
                Response::text(Status::UpgradeRequired, UPGRADE_REQUIRED_BODY, false)
            }
            UpgradeError::CrossOrigin => Response::text(Status::Forbidden, FORBIDDEN_BODY, false),
        }
    }

    /// `421 Misdirected Request`: not a name this relay answers for.
    pub fn misdirected() -> Response<'static> {
        Response::text(Status::MisdirectedRequest, MISDIRECTED_BODY, false)
    }

    /// `503 Service Unavailable` with `Retry-After`: the relay refuses
    /// this connection for now (SPEC.md 12.2), so the client can tell a
    /// full relay from a network failure.
    pub fn busy() -> Response<'static> {
        Response::text(Status::ServiceUnavailable, BUSY_BODY, false)
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The body; empty for `HEAD` (`Content-Length` still gives the
    /// length a `GET` receives).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The status line and headers, ending with the empty line.
    pub fn head(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status.code(),
            self.status.reason()
        );
        for (name, value) in &self.headers {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Answer a plain HTTP request (SPEC.md section 12.3). `web` is the
/// browser client, if the relay has one.
///
/// - `GET`/`HEAD /s/<session-id>`: `index.html` (without a client, a
///   plain-text 404 saying how to build it);
/// - `GET`/`HEAD /assets/<name>`: a loaded asset;
/// - other paths: 404; other methods: 405.
///
/// The query is ignored; paths are compared as they are, never decoded or
/// joined to a file system path.
pub fn route<'a>(web: Option<&'a WebClient>, method: &str, target: &str) -> Response<'a> {
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response::text(Status::MethodNotAllowed, METHOD_BODY, false),
    };
    let path = path_of(target);
    if let Some(id) = path.strip_prefix("/s/")
        && SessionId::new(id).is_ok()
    {
        return match web {
            Some(web) => {
                Response::new(Status::Ok, TEXT_HTML, CACHE_NO_STORE, &web.index, head_only)
            }
            None => Response::text(Status::NotFound, NOT_BUILT_BODY, head_only),
        };
    }
    if let Some(name) = path.strip_prefix("/assets/")
        && let Some(asset) = web.and_then(|web| web.assets.get(name))
    {
        return Response::new(
            Status::Ok,
            asset.content_type,
            CACHE_IMMUTABLE,
            &asset.body,
            head_only,
        );
    }
    Response::text(Status::NotFound, NOT_FOUND_BODY, head_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::{Asset, content_type};

    const ID: &str = "abcdefgh12345678";

    fn client() -> WebClient {
        let mut assets = BTreeMap::new();
        for (name, body) in [
            ("app-1a2b.js", "console.log(1)"),
            ("app-1a2b.css", "body{}"),
            ("logo.svg", "<svg/>"),
            ("font.woff2", "w"),
            ("img/x.png", "p"),
            ("app.js.map", "{}"),
            ("m.wasm", "\0asm"),
            ("data.json", "{}"),
            ("blob.bin", "b"),
        ] {
            assets.insert(
                name.to_owned(),
                Asset {
                    body: body.as_bytes().into(),
                    content_type: content_type(name),
                },
            );
        }
        WebClient {
            index: b"<!doctype html><title>taiku</title>"[..].into(),
            assets,
        }
    }

    fn security_headers_present(r: &Response<'_>) {
        assert_eq!(
            r.header("Content-Security-Policy"),
            Some(CONTENT_SECURITY_POLICY)
        );
        assert_eq!(r.header("Referrer-Policy"), Some("no-referrer"));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
        assert_eq!(r.header("Cross-Origin-Opener-Policy"), Some("same-origin"));
        assert_eq!(
            r.header("Cross-Origin-Resource-Policy"),
            Some("same-origin")
        );
        assert_eq!(
            r.header("Permissions-Policy"),
            Some("camera=(), microphone=(), geolocation=()")
        );
        assert_eq!(r.header("Connection"), Some("close"));
    }

    #[test]
    fn csp_is_the_specified_policy() {
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        );
    }

    #[test]
    fn session_path_serves_the_page() {
        let web = client();
        let r = route(Some(&web), "GET", &format!("/s/{ID}"));
        assert_eq!(r.status(), Status::Ok);
        assert_eq!(r.body(), &*web.index);
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert_eq!(
            r.header("Content-Length"),
            Some(web.index.len().to_string().as_str())
        );
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        assert_eq!(r.header("Allow"), None);
        security_headers_present(&r);
        // The query is ignored.
        let q = route(Some(&web), "GET", &format!("/s/{ID}?utm=x"));
        assert_eq!(q, r);
        // Bounds of the id.
        assert_eq!(route(Some(&web), "GET", "/s/abcdefgh").status(), Status::Ok);
        let long = "a".repeat(64);
        assert_eq!(
            route(Some(&web), "GET", &format!("/s/{long}")).status(),
            Status::Ok
        );
    }

    #[test]
    fn head_has_headers_and_no_body() {
        let web = client();
        let get = route(Some(&web), "GET", &format!("/s/{ID}"));
        let head = route(Some(&web), "HEAD", &format!("/s/{ID}"));
        assert_eq!(head.status(), Status::Ok);
        assert!(head.body().is_empty());
        assert_eq!(head.head(), get.head());
        let asset = route(Some(&web), "HEAD", "/assets/app-1a2b.js");
        assert!(asset.body().is_empty());
        assert_eq!(asset.header("Content-Length"), Some("14"));
        let missing = route(Some(&web), "HEAD", "/nope");
        assert_eq!(missing.status(), Status::NotFound);
        assert!(missing.body().is_empty());
        assert_eq!(missing.header("Content-Length"), Some("10"));
    }

    #[test]
    fn bad_session_ids_are_not_found() {
        let web = client();
        let long = "a".repeat(65);
        for path in [
            "/s/",
            "/s/short",
            "/s/abcdefg",
            &format!("/s/{long}"),
            "/s/abcdefgh1234567!",
            "/s/abcdefgh%2012345",
            "/s/abcdefgh12345678/",
            "/s/abcdefgh12345678/x",
            "/s/../assets/app-1a2b.js",
            "/",
            "/index.html",
            "/ws",
            "//s/abcdefgh12345678",
            "http://relay.example/s/abcdefgh12345678",
        ] {
            let r = route(Some(&web), "GET", path);
            assert_eq!(r.status(), Status::NotFound, "{path}");
            assert_eq!(r.body(), b"not found\n", "{path}");
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
            assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
            security_headers_present(&r);
        }
    }

    #[test]
    fn assets_by_exact_name_with_their_type() {
        let web = client();
        for (name, ty) in [
            ("app-1a2b.js", "text/javascript; charset=utf-8"),
            ("app-1a2b.css", "text/css; charset=utf-8"),
            ("logo.svg", "image/svg+xml"),
            ("font.woff2", "font/woff2"),
            ("img/x.png", "image/png"),
            ("app.js.map", "application/json"),
            ("m.wasm", "application/wasm"),
            ("data.json", "application/json"),
            ("blob.bin", "application/octet-stream"),
        ] {
            let r = route(Some(&web), "GET", &format!("/assets/{name}?v=1"));
            assert_eq!(r.status(), Status::Ok, "{name}");
            assert_eq!(r.header("Content-Type"), Some(ty), "{name}");
            assert_eq!(
                r.header("Cache-Control"),
                Some("public, max-age=31536000, immutable")
            );
            assert_eq!(r.body(), &*web.assets[name].body);
            security_headers_present(&r);
        }
    }

    #[test]
    fn traversal_and_unknown_assets_are_not_found() {
        let web = client();
        for path in [
            "/assets/../Cargo.toml",
            "/assets/..%2fCargo.toml",
            "/assets/%2e%2e",
            "/assets/%2e%2e/%2e%2e/etc/passwd",
            "/assets/./app-1a2b.js",
            "/assets//app-1a2b.js",
            "/assets/img/../app-1a2b.js",
            "/assets/img",
            "/assets/img/",
            "/assets/",
            "/assets",
            "/assets/APP-1A2B.JS",
            "/assets/app-1a2b.js/",
            "/assets/unknown.js",
            "/ASSETS/app-1a2b.js",
            "/index.html",
        ] {
            let r = route(Some(&web), "GET", path);
            assert_eq!(r.status(), Status::NotFound, "{path}");
            assert_eq!(r.body(), b"not found\n");
        }
    }

    #[test]
    fn other_methods_are_not_allowed() {
        let web = client();
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get", "CONNECT", ""] {
            let r = route(Some(&web), method, &format!("/s/{ID}"));
            assert_eq!(r.status(), Status::MethodNotAllowed, "{method}");
            assert_eq!(r.header("Allow"), Some("GET, HEAD"));
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
            security_headers_present(&r);
        }
    }

    #[test]
    fn without_a_client_the_page_says_how_to_build_it() {
        let r = route(None, "GET", &format!("/s/{ID}"));
        assert_eq!(r.status(), Status::NotFound);
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        let body = std::str::from_utf8(r.body()).unwrap();
        assert!(body.contains("not built"), "{body}");
        assert!(body.contains(BUILD_COMMAND), "{body}");
        security_headers_present(&r);
        assert_eq!(route(None, "GET", "/assets/app.js").body(), b"not found\n");
    }

    #[test]
    fn head_bytes_are_exact() {
        let r = route(None, "GET", "/nope");
        let head = String::from_utf8(r.head()).unwrap();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 404 Not Found\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 10\r\n\
                 Cache-Control: no-store\r\n\
                 Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n\
                 Referrer-Policy: no-referrer\r\n\
                 X-Content-Type-Options: nosniff\r\n\
                 X-Frame-Options: DENY\r\n\
                 Cross-Origin-Opener-Policy: same-origin\r\n\
                 Cross-Origin-Resource-Policy: same-origin\r\n\
                 Permissions-Policy: camera=(), microphone=(), geolocation=()\r\n\
                 Connection: close\r\n\r\n"
            )
        );
        let bad = Response::bad_request();
        assert_eq!(bad.status().code(), 400);
        assert!(bad.head().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    }

    #[test]
    fn refused_upgrades_have_their_status_and_the_security_headers() {
        for (error, code) in [
            (UpgradeError::Malformed, 400),
            (UpgradeError::UnsupportedVersion, 426),
            (UpgradeError::CrossOrigin, 403),
        ] {
            let r = Response::upgrade_refused(error);
            assert_eq!(r.status(), error.status());
            assert_eq!(r.status().code(), code);
            assert_eq!(r.header("Cache-Control"), Some("no-store"));
            assert_eq!(
                r.header("Content-Length"),
                Some(r.body().len().to_string().as_str())
            );
            let version = (code == 426).then_some("13");
            assert_eq!(r.header("Sec-WebSocket-Version"), version);
            security_headers_present(&r);
        }
    }
}
