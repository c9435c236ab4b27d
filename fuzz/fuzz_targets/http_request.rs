//! The relay's HTTP side on arbitrary request heads: parsing never panics,
//! and every answer is one SPEC.md section 12.3 allows: the security
//! headers always, `Content-Length` equal to what a `GET` receives, `HEAD`
//! the head of `GET` without a body, a `200` only for `/s/<session-id>` or
//! a loaded asset, and an upgrade only to `/ws`. A head is judged the same
//! however it is cut into reads.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taiku_transport::web::{
    MAX_REQUEST_HEADERS, Request, Response, SECURITY_HEADERS, Status, UpgradeError, WebClient,
    parse_request, route,
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

fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

fn security_headers(response: &Response<'_>) {
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(response.header(name), Some(value));
    }
}

fn check(web: Option<&WebClient>, method: &str, target: &str) {
    let response = route(web, method, target);
    security_headers(&response);
    let path = path_of(target);
    if response.status() == Status::Ok {
        assert!(web.is_some());
        let page = path
            .strip_prefix("/s/")
            .is_some_and(|id| taiku_proto::SessionId::new(id).is_ok());
        let asset = path
            .strip_prefix("/assets/")
            .is_some_and(|name| client().asset_names().any(|n| n == name));
        assert!(page || asset, "{path:?}");
    }
    if method == "HEAD" {
        assert!(response.body().is_empty());
        let get = route(web, "GET", target);
        assert_eq!(response.head(), get.head());
    } else {
        let len = response.body().len().to_string();
        assert_eq!(response.header("Content-Length"), Some(len.as_str()));
    }
    if !matches!(method, "GET" | "HEAD") {
        assert_eq!(response.status(), Status::MethodNotAllowed);
    }
}

/// The path of the request line, parsed again.
fn path_again(data: &[u8]) -> String {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    assert!(matches!(req.parse(data), Ok(httparse::Status::Complete(_))));
    path_of(req.path.expect("a complete head has a path")).to_owned()
}

fuzz_target!(|data: &[u8]| {
    let parsed = parse_request(data);
    match parsed {
        Ok(Some(Request::Http { method, target })) => {
            assert_ne!(path_of(target), "/ws");
            check(Some(client()), method, target);
            check(None, method, target);
        }
        Ok(Some(Request::WebSocket { key, head_len })) => {
            assert_eq!(path_again(data), "/ws");
            assert!(head_len <= data.len());
            assert_eq!(key.len(), 24);
        }
        Ok(Some(Request::BadUpgrade(error))) => {
            assert_eq!(path_again(data), "/ws");
            let response = Response::upgrade_refused(error);
            assert_eq!(response.status(), error.status());
            security_headers(&response);
            let version = (error == UpgradeError::UnsupportedVersion).then_some("13");
            assert_eq!(response.header("Sec-WebSocket-Version"), version);
        }
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => {
            security_headers(&Response::bad_request());
            // The driver parses after reads of any size: every prefix is
            // either not yet complete or already judged as the whole.
            for cut in 0..data.len() {
                let prefix = parse_request(&data[..cut]);
                assert!(prefix == Ok(None) || prefix == parsed, "{cut}");
            }
        }
    }
});
