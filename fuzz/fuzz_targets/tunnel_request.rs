//! The relay's HTTP tunnel side (SPEC.md 12.4) on arbitrary bytes: the
//! target, request-head and response-head parsers never panic; a target
//! is a tunnel port only with a canonical port of 1 to 65535 and a path
//! that starts with `/`; the head the local server gets never carries the
//! tunnel cookie, hop-by-hop headers or a second `Host`, and ends with
//! `Connection: close`; the head the browser gets has no
//! `Service-Worker-Allowed` and ends with `Connection: close`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taiku_transport::web::tunnel::{
    TUNNEL_COOKIE, TunnelTarget, browser_response_head, local_request_head, response_head_len,
    tunnel_head, tunnel_target,
};

fn headers(head: &[u8]) -> Vec<(String, String)> {
    let mut buf = [httparse::EMPTY_HEADER; 80];
    let mut req = httparse::Request::new(&mut buf);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        let mut res = httparse::Response::new(&mut buf);
        assert!(matches!(res.parse(head), Ok(httparse::Status::Complete(_))));
        return res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
    }
    req.headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(TunnelTarget::Port { port, path, .. }) = tunnel_target(text)
    {
        assert!((1..=65535).contains(&port));
        assert!(path.starts_with('/'));
        assert!(text.ends_with(path));
        assert!(text.contains(&format!("/p/{port}/")) || text.contains(&format!("/p/{port}?")));
    }
    if let Some(head) = tunnel_head(data) {
        assert!(head.len <= data.len());
        if let Some(out) = local_request_head(&data[..head.len], "/x", 3000) {
            let h = headers(&out);
            assert_eq!(h.iter().filter(|(n, _)| n == "host").count(), 1);
            // No cookie pair the local server gets is named the tunnel
            // cookie (its value may name anything).
            for (_, cookies) in h.iter().filter(|(n, _)| n == "cookie") {
                for pair in cookies.split(';') {
                    let name = pair.split('=').next().unwrap_or("").trim();
                    assert_ne!(name, TUNNEL_COOKIE, "{cookies}");
                }
            }
            for hop in [
                "keep-alive",
                "upgrade",
                "te",
                "proxy-authorization",
                "trailer",
            ] {
                assert!(h.iter().all(|(n, _)| n != hop), "{hop}");
            }
            assert!(out.ends_with(b"Connection: close\r\n\r\n"));
        }
    }
    match response_head_len(data) {
        Ok(Some(len)) => {
            let out =
                browser_response_head(&data[..len], "/t/x/p/1/").expect("a complete head rewrites");
            let h = headers(&out);
            assert!(
                h.iter()
                    .all(|(n, _)| n != "service-worker-allowed" && n != "keep-alive")
            );
            assert!(out.ends_with(b"Connection: close\r\n\r\n"));
        }
        Ok(None) | Err(_) => {}
    }
});
