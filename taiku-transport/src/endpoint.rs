//! Where a client connects: the WebSocket endpoint of a relay origin
//! (SPEC.md section 12.1). Pure code, no IO.

use core::fmt;
use std::net::IpAddr;

/// The path of the relay's WebSocket endpoint.
pub const WS_PATH: &str = "/ws";

/// A relay's WebSocket endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `wss` (TLS) or plain `ws`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Why an origin cannot be connected to.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not `http://` or `https://` with a host.
    #[error("relay origin must be http(s)://HOST[:PORT]")]
    NotAnOrigin,
    /// The port is not a number from 1 to 65535.
    #[error("invalid port in relay origin")]
    BadPort,
    /// Plain (unencrypted) WebSocket to a host that is not loopback.
    #[error("refusing plain ws:// to a non-loopback relay; use https or allow it explicitly")]
    InsecureRemote,
}

impl Endpoint {
    /// The endpoint of a relay origin (`https://HOST[:PORT]` → `wss`,
    /// `http://HOST[:PORT]` → `ws`). Plain `ws` is refused for a host that
    /// is not loopback unless `allow_insecure`.
    pub fn from_origin(origin: &str, allow_insecure: bool) -> Result<Self, EndpointError> {
        let (tls, rest) = if let Some(rest) = origin.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = origin.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(EndpointError::NotAnOrigin);
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(EndpointError::NotAnOrigin);
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(EndpointError::NotAnOrigin)?;
            (host, after.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(EndpointError::NotAnOrigin);
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(EndpointError::BadPort)?,
            None if tls => 443,
            None => 80,
        };
        let endpoint = Endpoint {
            tls,
            host: host.to_owned(),
            port,
        };
        if !tls && !allow_insecure && !endpoint.is_loopback() {
            return Err(EndpointError::InsecureRemote);
        }
        Ok(endpoint)
    }

    /// Whether the host is `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port` for a TCP connect.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{WS_PATH}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_map_to_endpoints() {
        let e = Endpoint::from_origin("https://relay.example", false).unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (true, "relay.example", 443)
        );
        assert_eq!(e.to_string(), "wss://relay.example:443/ws");
        let e = Endpoint::from_origin("http://127.0.0.1:4433", false).unwrap();
        assert_eq!(e.to_string(), "ws://127.0.0.1:4433/ws");
        let e = Endpoint::from_origin("http://[::1]:9", false).unwrap();
        assert_eq!(e.to_string(), "ws://[::1]:9/ws");
        assert!(Endpoint::from_origin("http://localhost", false).is_ok());
    }

    #[test]
    fn plain_ws_only_on_loopback_unless_allowed() {
        assert_eq!(
            Endpoint::from_origin("http://relay.example", false),
            Err(EndpointError::InsecureRemote)
        );
        assert_eq!(
            Endpoint::from_origin("http://10.0.0.1:80", false),
            Err(EndpointError::InsecureRemote)
        );
        assert!(Endpoint::from_origin("http://relay.example", true).is_ok());
    }

    #[test]
    fn malformed_origins_are_refused() {
        assert_eq!(
            Endpoint::from_origin("ftp://x", false),
            Err(EndpointError::NotAnOrigin)
        );
        assert_eq!(
            Endpoint::from_origin("https://", false),
            Err(EndpointError::NotAnOrigin)
        );
        assert_eq!(
            Endpoint::from_origin("https://a/b", false),
            Err(EndpointError::NotAnOrigin)
        );
        assert_eq!(
            Endpoint::from_origin("https://a:0", false),
            Err(EndpointError::BadPort)
        );
        assert_eq!(
            Endpoint::from_origin("https://a:99999", false),
            Err(EndpointError::BadPort)
        );
    }
}
