//! Link parsing of arbitrary text: never panics, and a link that parses
//! prints back to exactly the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taiku_crypto::Link;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = Link::parse(text) {
        assert_eq!(link.to_url().as_str(), text);
        assert!(!link.relay_url().contains('#'));
    }
});
