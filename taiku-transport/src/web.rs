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
/// into `web/dist`.
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

/// The browser client: `index.html` and the files under `assets/`, held
/// in memory.
#[derive(Clone)]
pub struct WebClient {
    index: Box<[u8]>,
    /// By path below `assets/`, `/`-separated.
    assets: BTreeMap<String, Asset>,
}

#[derive(Clone)]
struct Asset {
    body: Box<[u8]>,
    content_type: &'static str,
}

impl fmt::Debug for WebClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebClient")
            .field("index_bytes", &self.index.len())
            .field("assets", &self.assets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a browser client cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebClientError {
    /// The directory has no `index.html`.
    #[error("{} has no index.html", dir.display())]
    NoIndex {
        /// The directory.
        dir: PathBuf,
    },
    /// A file or directory cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// A file is larger than [`MAX_WEB_FILE_BYTES`].
    #[error("{} is {len} bytes, over the limit of {max}", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (at least).
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The files together are larger than [`MAX_WEB_TOTAL_BYTES`].
    #[error("the browser client is over {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// More than [`MAX_WEB_FILES`] files and directories under `assets/`.
    #[error("more than {max} files under {}", dir.display())]
    TooManyFiles {
        /// The `assets/` directory.
        dir: PathBuf,
        /// The limit.
        max: usize,
    },
    /// Directories nested deeper than [`MAX_WEB_DEPTH`] under `assets/`.
    #[error("{} is nested more than {max} directories deep", path.display())]
    TooDeep {
        /// The directory.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A name outside `A-Z a-z 0-9 . - _`.
    #[error("{}: file names must be A-Z a-z 0-9 . - _", path.display())]
    BadName {
        /// The file or directory.
        path: PathBuf,
    },
    /// Neither a file nor a directory.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
}

impl WebClient {
    /// Load a built client from `dir`: `dir/index.html` and every file
    /// under `dir/assets/` (names starting with `.` are skipped), within
    /// [`MAX_WEB_FILE_BYTES`], [`MAX_WEB_FILES`], [`MAX_WEB_TOTAL_BYTES`]
    /// and [`MAX_WEB_DEPTH`]. Symbolic links are followed.
    pub fn load(dir: impl AsRef<Path>) -> Result<WebClient, WebClientError> {
        let dir = dir.as_ref();
        let index_path = dir.join("index.html");
        if !index_path.is_file() {
            return Err(WebClientError::NoIndex {
                dir: dir.to_path_buf(),
            });
        }
        let index = read_bounded(&index_path)?;
        let mut total = index.len() as u64;
        let mut assets = BTreeMap::new();
        let assets_dir = dir.join("assets");
        if assets_dir.is_dir() {
            let mut entries = 0usize;
            let mut pending = vec![(assets_dir.clone(), String::new(), 0usize)];
            while let Some((path, prefix, depth)) = pending.pop() {
                let listing = fs::read_dir(&path).map_err(|source| WebClientError::Io {
                    path: path.clone(),
                    source,
                })?;
                for entry in listing {
                    let entry = entry.map_err(|source| WebClientError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    let entry_path = entry.path();
                    let name = entry.file_name();
                    let Some(name) = name.to_str().filter(|n| valid_name(n)) else {
                        if name.to_string_lossy().starts_with('.') {
                            continue;
                        }
                        return Err(WebClientError::BadName { path: entry_path });
                    };
                    entries += 1;
                    if entries > MAX_WEB_FILES {
                        return Err(WebClientError::TooManyFiles {
                            dir: assets_dir,
                            max: MAX_WEB_FILES,
                        });
                    }
                    let key = format!("{prefix}{name}");
                    let meta = fs::metadata(&entry_path).map_err(|source| WebClientError::Io {
                        path: entry_path.clone(),
                        source,
                    })?;
                    if meta.is_dir() {
                        if depth >= MAX_WEB_DEPTH {
                            return Err(WebClientError::TooDeep {
                                path: entry_path,
                                max: MAX_WEB_DEPTH,
                            });
                        }
                        pending.push((entry_path, format!("{key}/"), depth + 1));
                    } else if meta.is_file() {
                        let body = read_bounded(&entry_path)?;
                        total += body.len() as u64;
                        if total > MAX_WEB_TOTAL_BYTES {
                            return Err(WebClientError::TooLarge {
                                max: MAX_WEB_TOTAL_BYTES,
                            });
                        }
                        let content_type = content_type(name);
                        assets.insert(key, Asset { body, content_type });
                    } else {
                        return Err(WebClientError::NotAFile { path: entry_path });
                    }
                }
            }
        }
        Ok(WebClient { index, assets })
    }

    /// The asset paths below `assets/`, in order.
    pub fn asset_names(&self) -> impl Iterator<Item = &str> {
        self.assets.keys().map(String::as_str)
    }
}

/// A file or directory name the client may have: `A-Z a-z 0-9 . - _`,
/// not starting with `.` (so never `.` or `..`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn read_bounded(path: &Path) -> Result<Box<[u8]>, WebClientError> {
    let io_error = |source| WebClientError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_large = |len| WebClientError::FileTooLarge {
        path: path.to_path_buf(),
        len,
        max: MAX_WEB_FILE_BYTES,
    };
    let file = fs::File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_WEB_FILE_BYTES {
        return Err(too_large(len));
    }
    let mut body = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The file may grow while it is read: read one byte past the limit.
    file.take(MAX_WEB_FILE_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(io_error)?;
    if body.len() as u64 > MAX_WEB_FILE_BYTES {
        return Err(too_large(body.len() as u64));
    }
    Ok(body.into_boxed_slice())
}

/// The `Content-Type` of an asset, by the extension of its name.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext.to_ascii_lowercase().as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => TEXT_HTML,
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "txt" => TEXT_PLAIN,
        _ => "application/octet-stream",
    }
}

/// What a complete request head asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// A WebSocket handshake to [`WS_PATH`] the relay accepts: answer
    /// `101 Switching Protocols` with the accept value of `key`, then
    /// speak WebSocket on the connection.
    WebSocket {
        /// The `Sec-WebSocket-Key` (24 base64 characters of 16 bytes).
        key: &'a str,
        /// Length of the request head; bytes read after it are already
        /// WebSocket data.
        head_len: usize,
    },
    /// A request to [`WS_PATH`] that is not a WebSocket handshake the
    /// relay accepts, answered by [`Response::upgrade_refused`] and closed.
    BadUpgrade(UpgradeError),
    /// A request whose `Host` is not one the relay answers for
    /// ([`AllowedHosts`]): a page reaching it through another name (DNS
    /// rebinding). Answered [`Response::misdirected`] and closed.
    Misdirected,
    /// A plain HTTP request, answered by [`route`] and closed.
    Http {
        /// The method, e.g. `GET`.
        method: &'a str,
        /// The request target, e.g. `/s/abcdefgh12345678?x`.
        target: &'a str,
    },
}

/// Why a request head is answered `400 Bad Request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// Over [`MAX_REQUEST_HEAD`] bytes or [`MAX_REQUEST_HEADERS`] lines.
    #[error("request head too large")]
    TooLarge,
    /// Not an HTTP/1.x request head.
    #[error("malformed request head")]
    Malformed,
}

/// Why a request to [`WS_PATH`] is not upgraded to a WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpgradeError {
    /// Not a WebSocket handshake: not `GET` over HTTP/1.1, no `websocket`
    /// token in `Upgrade` or `upgrade` token in `Connection`, or not
    /// exactly one valid `Sec-WebSocket-Key`. Answered `400`.
    #[error("not a WebSocket handshake")]
    Malformed,
    /// `Sec-WebSocket-Version` missing, repeated or not [`WS_VERSION`].
    /// Answered `426` with `Sec-WebSocket-Version: 13`.
    #[error("unsupported WebSocket version")]
    UnsupportedVersion,
    /// An `Origin` other than the request's own `Host` (a page of
    /// another site). Answered `403`.
    #[error("cross-origin WebSocket request")]
    CrossOrigin,
}

impl UpgradeError {
    /// The status it is answered with.
    pub fn status(self) -> Status {
        match self {
            UpgradeError::Malformed => Status::BadRequest,
            UpgradeError::UnsupportedVersion => Status::UpgradeRequired,
            UpgradeError::CrossOrigin => Status::Forbidden,
        }
    }
}

/// The `Host` values a relay answers for (SPEC.md 12.3). The WebSocket
/// `Origin` must equal the request's own `Host`, so limiting `Host` also
/// limits which pages may connect: a page of another site that reaches
/// the relay under its own name (DNS rebinding) sends its own name as
/// `Host` and is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any `Host` (the `Origin` check still applies).
    #[default]
    Any,
    /// Loopback names only: `127.0.0.1`, `localhost` and `[::1]`, with any
    /// port (a request without `Host`, which no browser sends, is
    /// answered too).
    Loopback,
    /// Only these authorities (`host:port`, compared ASCII
    /// case-insensitively).
    Only(Vec<String>),
}

impl AllowedHosts {
    /// The authorities of public origins (`https://relay.example:8443`,
    /// `http://host:port`); `None` if one is not such an origin.
    pub fn from_origins<'a>(origins: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut hosts = Vec::new();
        for origin in origins {
            let authority = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))?
                .trim_end_matches('/');
            if authority.is_empty() || authority.contains('/') {
                return None;
            }
            hosts.push(authority.to_owned());
        }
        Some(AllowedHosts::Only(hosts))
    }

    fn allows(&self, host: Option<&[u8]>) -> bool {
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Loopback => host.is_none_or(|h| {
                let name = match h.iter().rposition(|b| *b == b':') {
                    // A port follows the last colon unless it is inside
                    // an IPv6 literal.
                    Some(i) if !h[i..].contains(&b']') => &h[..i],
                    _ => h,
                };
                [&b"127.0.0.1"[..], b"localhost", b"[::1]"]
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(name))
            }),
            AllowedHosts::Only(hosts) => {
                host.is_some_and(|h| hosts.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(h)))
            }
        }
    }
}

/// Parse the bytes read so far from a connection, answering any `Host`.
/// `Ok(None)`: the head is not complete yet, read more.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request<'_>>, HeadError> {
    parse_request_for(buf, &AllowedHosts::Any)
}

/// [`parse_request`] for a relay that answers only `hosts`: a request with
/// another (or no, or more than one) `Host` is [`Request::Misdirected`].
pub fn parse_request_for<'a>(
    buf: &'a [u8],
    hosts: &AllowedHosts,
) -> Result<Option<Request<'a>>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_HEAD => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if len > MAX_REQUEST_HEAD {
        return Err(HeadError::TooLarge);
    }
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed);
    };
    let mut host = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| h.value);
    let only_host = host.next().filter(|_| host.next().is_none());
    if !hosts.allows(only_host) {
        return Ok(Some(Request::Misdirected));
    }
    if path_of(target) != WS_PATH {
        return Ok(Some(Request::Http { method, target }));
    }
    Ok(Some(match websocket_key(method, version, req.headers) {
        Ok(key) => Request::WebSocket { key, head_len: len },
        Err(e) => Request::BadUpgrade(e),
    }))
}

/// The `Sec-WebSocket-Key` of a handshake the relay accepts (SPEC.md
/// section 12.3), checked in the order of the answers: `400`, `426`,
/// `400`, `403`.
fn websocket_key<'b>(
    method: &str,
    version: u8,
    headers: &[httparse::Header<'b>],
) -> Result<&'b str, UpgradeError> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.trim_ascii())
    };
    let has_token = |name: &'static str, token: &str| {
        values(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if method != "GET"
        || version != 1
        || !has_token("upgrade", "websocket")
        || !has_token("connection", "upgrade")
    {
        return Err(UpgradeError::Malformed);
    }
    if only(values("sec-websocket-version")) != Some(WS_VERSION.as_bytes()) {
        return Err(UpgradeError::UnsupportedVersion);
    }
    let key = only(values("sec-websocket-key"))
        .filter(|k| valid_key(k))
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or(UpgradeError::Malformed)?;
    let mut origins = values("origin");
    if let Some(origin) = origins.next() {
        let same = origins.next().is_none()
            && only(values("host")).is_some_and(|host| {
                let authority = strip_prefix_ignore_case(origin, b"https://")
                    .or_else(|| strip_prefix_ignore_case(origin, b"http://"));
                authority.is_some_and(|a| !a.is_empty() && a.eq_ignore_ascii_case(host))
            });
        if !same {
            return Err(UpgradeError::CrossOrigin);
        }
    }
    Ok(key)
}

/// The single item of `items`; `None` if there is none or more than one.
fn only<T>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}

fn strip_prefix_ignore_case<'v>(value: &'v [u8], prefix: &[u8]) -> Option<&'v [u8]> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

/// A `Sec-WebSocket-Key`: the base64 of 16 bytes, 24 characters of which
/// the last two are `==` and the 22nd carries only 2 bits.
fn valid_key(key: &[u8]) -> bool {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |c: u8| ALPHABET.iter().position(|&a| a == c);
    match key {
        [data @ .., last, b'=', b'='] if key.len() == 24 => {
            data.iter().all(|&c| sextet(c).is_some())
                && sextet(*last).is_some_and(|bits| bits & 0x0f == 0)
        }
        _ => false,
    }
}

/// The path of a request target: the query is ignored.
fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

/// The status of a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// 200.
    Ok,
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
    /// 426.
    UpgradeRequired,
    /// 503: the relay has no room for this connection now (too many from
    /// its source); `Retry-After` says when to try again.
    ServiceUnavailable,
}

impl Status {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
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
    fn request_heads_are_parsed() {
        let get = b"GET /s/abcdefgh12345678?x HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            parse_request(get),
            Ok(Some(Request::Http {
                method: "GET",
                target: "/s/abcdefgh12345678?x"
            }))
        );
        for cut in 0..get.len() {
            assert_eq!(parse_request(&get[..cut]), Ok(None), "{cut}");
        }
        let ws = b"GET /ws?v=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n\
                   Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nDATA";
        assert_eq!(
            parse_request(ws),
            Ok(Some(Request::WebSocket {
                key: "dGhlIHNhbXBsZSBub25jZQ==",
                head_len: ws.len() - 4,
            }))
        );
        // An upgrade elsewhere is a plain request (404).
        let elsewhere = b"GET /other HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        assert!(matches!(
            parse_request(elsewhere),
            Ok(Some(Request::Http {
                target: "/other",
                ..
            }))
        ));
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn upgrade(lines: &[&str]) -> Result<Option<Request<'static>>, HeadError> {
        let mut head = String::new();
        for line in lines {
            head.push_str(line);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        parse_request(head.leak().as_bytes())
    }

    fn handshake(extra: &[&str]) -> Vec<String> {
        let mut lines = vec![
            "GET /ws HTTP/1.1".to_owned(),
            "Host: relay.example:8443".to_owned(),
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
            "Sec-WebSocket-Version: 13".to_owned(),
            format!("Sec-WebSocket-Key: {KEY}"),
        ];
        lines.extend(extra.iter().map(|l| (*l).to_owned()));
        lines
    }

    fn without(lines: Vec<String>, prefix: &str) -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.starts_with(prefix))
            .collect()
    }

    fn with_key(key: &str) -> Vec<String> {
        let mut lines = without(handshake(&[]), "Sec-WebSocket-Key");
        lines.push(format!("Sec-WebSocket-Key: {key}"));
        lines
    }

    fn classify(lines: &[String]) -> Result<Option<Request<'static>>, HeadError> {
        upgrade(&lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn is_websocket(r: Result<Option<Request<'_>>, HeadError>) -> bool {
        matches!(r, Ok(Some(Request::WebSocket { key: KEY, .. })))
    }

    #[test]
    fn websocket_handshakes_are_classified_as_the_relay_answers_them() {
        assert!(is_websocket(classify(&handshake(&[]))));
        // Names and tokens are case-insensitive; tokens may be listed.
        assert!(is_websocket(upgrade(&[
            "GET /ws HTTP/1.1",
            "UPGRADE: WEBSOCKET",
            "CONNECTION: keep-alive, UPGRADE",
            "SEC-WEBSOCKET-VERSION: 13",
            &format!("SEC-WEBSOCKET-KEY: {KEY}"),
        ])));
        // Same origin, http or https.
        for origin in [
            "Origin: http://relay.example:8443",
            "Origin: HTTPS://RELAY.EXAMPLE:8443",
        ] {
            assert!(is_websocket(classify(&handshake(&[origin]))), "{origin}");
        }

        let malformed = Ok(Some(Request::BadUpgrade(UpgradeError::Malformed)));
        let mut post = handshake(&[]);
        post[0] = "POST /ws HTTP/1.1".into();
        let mut http10 = handshake(&[]);
        http10[0] = "GET /ws HTTP/1.0".into();
        for (why, lines) in [
            ("post", post),
            ("http/1.0", http10),
            ("no upgrade", without(handshake(&[]), "Upgrade")),
            ("no connection", without(handshake(&[]), "Connection")),
            ("no key", without(handshake(&[]), "Sec-WebSocket-Key")),
            (
                "upgrade h2c",
                without(handshake(&["Upgrade: h2c"]), "Upgrade: websocket"),
            ),
            (
                "connection close",
                without(handshake(&["Connection: close"]), "Connection: Upgrade"),
            ),
            ("short key", with_key("abc")),
            ("key of 17 bytes", with_key("dGhlIHNhbXBsZSBub25jZUE=")),
            ("key with stray bits", with_key("dGhlIHNhbXBsZSBub25jZR==")),
            ("key not base64", with_key("dGhlIHNhbXBsZSBub25j*Q==")),
            (
                "two keys",
                handshake(&["Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="]),
            ),
        ] {
            assert_eq!(classify(&lines), malformed, "{why}");
        }
        assert_eq!(upgrade(&["GET /ws HTTP/1.1"]), malformed);
        assert_eq!(upgrade(&["HEAD /ws?x HTTP/1.1"]), malformed);

        let version = Ok(Some(Request::BadUpgrade(UpgradeError::UnsupportedVersion)));
        for lines in [
            without(handshake(&[]), "Sec-WebSocket-Version"),
            without(
                handshake(&["Sec-WebSocket-Version: 8"]),
                "Sec-WebSocket-Version: 13",
            ),
            handshake(&["Sec-WebSocket-Version: 8"]),
        ] {
            assert_eq!(classify(&lines), version, "{lines:?}");
        }

        let cross = Ok(Some(Request::BadUpgrade(UpgradeError::CrossOrigin)));
        for extra in [
            &["Origin: https://evil.example"][..],
            &["Origin: null"],
            &["Origin: http://relay.example"],
            &["Origin: http://relay.example:8443.evil.example"],
            &["Origin: ws://relay.example:8443"],
            &["Origin: http://"],
            &[
                "Origin: http://relay.example:8443",
                "Origin: http://relay.example:8443",
            ],
            &[
                "Origin: http://relay.example:8443",
                "Host: relay.example:8443",
            ],
        ] {
            assert_eq!(classify(&handshake(extra)), cross, "{extra:?}");
        }
        let no_host = without(handshake(&["Origin: http://relay.example:8443"]), "Host");
        assert_eq!(classify(&no_host), cross);
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

    #[test]
    fn bad_request_heads_are_refused() {
        assert_eq!(
            parse_request(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_request(b"GET / FTP/1.0\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST_HEAD, b'a');
        assert_eq!(parse_request(&big), Err(HeadError::TooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_REQUEST_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&many), Err(HeadError::TooLarge));
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "taiku-web-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn write(&self, rel: &str, body: &[u8]) {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, body).unwrap();
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn load_reads_index_and_assets() {
        let dir = TempDir::new("ok");
        dir.write("index.html", b"<!doctype html>");
        dir.write("assets/app-1.js", b"js");
        dir.write("assets/fonts/a.woff2", b"f");
        dir.write("assets/.DS_Store", b"x");
        dir.write("favicon.ico", b"not served");
        let web = WebClient::load(&dir.0).unwrap();
        assert_eq!(
            web.asset_names().collect::<Vec<_>>(),
            ["app-1.js", "fonts/a.woff2"]
        );
        assert_eq!(
            route(Some(&web), "GET", "/assets/fonts/a.woff2").body(),
            b"f"
        );
        assert_eq!(
            route(Some(&web), "GET", "/favicon.ico").status(),
            Status::NotFound
        );
        // No assets directory at all is fine.
        let bare = TempDir::new("bare");
        bare.write("index.html", b"x");
        assert_eq!(WebClient::load(&bare.0).unwrap().asset_names().count(), 0);
    }

    #[test]
    fn load_refuses_what_it_cannot_serve() {
        let dir = TempDir::new("noindex");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::NoIndex { .. })
        ));
        assert!(matches!(
            WebClient::load(dir.0.join("missing")),
            Err(WebClientError::NoIndex { .. })
        ));

        let dir = TempDir::new("big");
        dir.write("index.html", b"x");
        let path = dir.0.join("assets/big.js");
        dir.write("assets/big.js", b"");
        fs::File::create(&path)
            .unwrap()
            .set_len(MAX_WEB_FILE_BYTES + 1)
            .unwrap();
        match WebClient::load(&dir.0) {
            Err(WebClientError::FileTooLarge { path: p, len, max }) => {
                assert_eq!(
                    (p, len, max),
                    (path, MAX_WEB_FILE_BYTES + 1, MAX_WEB_FILE_BYTES)
                );
            }
            other => panic!("{other:?}"),
        }

        let dir = TempDir::new("many");
        dir.write("index.html", b"x");
        for i in 0..=MAX_WEB_FILES {
            dir.write(&format!("assets/f{i}.js"), b"");
        }
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::TooManyFiles {
                max: MAX_WEB_FILES,
                ..
            })
        ));

        let dir = TempDir::new("name");
        dir.write("index.html", b"x");
        dir.write("assets/a b.js", b"");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::BadName { .. })
        ));

        let dir = TempDir::new("deep");
        dir.write("index.html", b"x");
        let nested = (0..=MAX_WEB_DEPTH)
            .map(|_| "d")
            .collect::<Vec<_>>()
            .join("/");
        dir.write(&format!("assets/{nested}/x.js"), b"");
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::TooDeep {
                max: MAX_WEB_DEPTH,
                ..
            })
        ));

        let dir = TempDir::new("indexdir");
        fs::create_dir_all(dir.0.join("index.html")).unwrap();
        assert!(matches!(
            WebClient::load(&dir.0),
            Err(WebClientError::NoIndex { .. })
        ));
    }
}
