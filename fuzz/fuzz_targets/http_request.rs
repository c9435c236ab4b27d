//! The relay's HTTP side on arbitrary request heads: parsing never panics,
//! and every answer is one SPEC.md section 12.3 allows: the security
//! headers always, `Content-Length` equal to what a `GET` receives, and a
//! `200` only for `/s/<session-id>` or a loaded asset.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taiku_transport::web::{
    Request, Response, SECURITY_HEADERS, Status, WebClient, parse_request, route,
};

/// A tiny client, loaded once from a temporary directory.
fn client() -> &'static WebClient {
    static CLIENT: OnceLock<WebClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("taiku-fuzz-web-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("assets/img")).expect("temp dir");
        std::fs::write(dir.join("index.html"), "<!doctype html>").expect("index");
        std::fs::write(dir.join("assets/app-1a2b.js"), "js").expect("asset");
        std::fs::write(dir.join("assets/img/logo.svg"), "<svg/>").expect("asset");
        let web = WebClient::load(&dir).expect("client");
        let _ = std::fs::remove_dir_all(&dir);
        web
    })
}

fn check(response: &Response<'_>, method: &str, target: &str, with_client: bool) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.header(name), Some(value));
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if response.status == Status::Ok {
        assert!(with_client);
        let page = path
            .strip_prefix("/s/")
            .is_some_and(|id| taiku_proto::SessionId::new(id).is_ok());
        let asset = path
            .strip_prefix("/assets/")
            .is_some_and(|name| client().asset_names().any(|n| n == name));
        assert!(page || asset, "{path:?}");
    }
    if method == "HEAD" {
        assert!(response.body.is_empty());
    } else {
        let len = response.body.len().to_string();
        assert_eq!(response.header("Content-Length"), Some(len.as_str()));
    }
    if !matches!(method, "GET" | "HEAD") {
        assert_eq!(response.status, Status::MethodNotAllowed);
    }
}

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(Some(Request::Http { method, target })) => {
            check(&route(Some(client()), method, target), method, target, true);
            check(&route(None, method, target), method, target, false);
        }
        Ok(Some(Request::WebSocket)) => {
            let text = String::from_utf8_lossy(data);
            assert!(text.contains(" /ws"));
        }
        Ok(None) | Err(_) => {
            let bad = Response::bad_request();
            assert_eq!(bad.status, Status::BadRequest);
        }
    }
});
