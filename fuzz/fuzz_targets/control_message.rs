//! Protobuf `Control` decode of arbitrary bytes: never panics, and what
//! decodes re-encodes to bytes that decode to the same message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use taiku_proto::message::{Control, SealedRecord};

fuzz_target!(|data: &[u8]| {
    if let Ok(control) = Control::decode(data) {
        let again = Control::decode(control.encode_to_vec().as_slice())
            .expect("re-encoded control decodes");
        assert_eq!(again, control);
    }
    if let Ok(record) = SealedRecord::decode(data) {
        let again = SealedRecord::decode(record.encode_to_vec().as_slice())
            .expect("re-encoded record decodes");
        assert_eq!(again, record);
    }
});
