//! Request heads (SPEC.md 12.3): parsing, the WebSocket handshake checks,
//! and the `Host` names a relay answers for.

use super::*;

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
pub(super) fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
