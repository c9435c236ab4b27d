//! SPEC.md's test vectors, read out of the specification this crate
//! ships (feature `vectors`), so that an implementation's tests check the
//! document itself and cannot drift from it. Every crate of this
//! workspace checks its vectors this way.
//!
//! A vector is a fenced block whose info string is `vector`; each line is
//! `key: value`, and a value may continue on following lines that start
//! with whitespace (long hex strings). Hex values may contain spaces.
//!
//! ```
//! use taiku_proto::vectors;
//!
//! let frames = vectors::vectors("frame/");
//! assert!(frames.iter().all(|v| v.name().starts_with("frame/")));
//! assert_eq!(frames[0].hex("frame"), [0x01, 0x01, 0x00]);
//! ```

// This file is also the SPEC.md reader of this crate's own integration
// tests (`#[path]`), which cannot turn the feature on for themselves.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// The text of SPEC.md, as packaged with this crate.
pub const SPEC: &str = include_str!("../SPEC.md");

/// One vector: its fields by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// Each `key: value` line, continuation lines joined with a space.
    pub fields: BTreeMap<String, String>,
}

impl Vector {
    /// The `name` field.
    pub fn name(&self) -> &str {
        self.get("name")
    }

    /// A field; panics if the vector has none of that name (a vector
    /// that lacks what its test needs is a broken document).
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("vector {:?} has no field {key:?}", self.fields.get("name")))
    }

    /// A hex field's bytes, spaces ignored; panics on bad hex.
    pub fn hex(&self, key: &str) -> Vec<u8> {
        let text: String = self
            .get(key)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        hex::decode(&text).unwrap_or_else(|e| panic!("vector {} field {key}: {e}", self.name()))
    }
}

/// The text of SPEC.md.
pub fn spec_text() -> String {
    SPEC.to_owned()
}

/// Every vector in SPEC.md whose name starts with `prefix`; panics if
/// there is none.
pub fn vectors(prefix: &str) -> Vec<Vector> {
    let mut out = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut last_key = String::new();
    for line in SPEC.lines() {
        match &mut current {
            None => {
                if line.trim() == "```vector" {
                    current = Some(BTreeMap::new());
                }
            }
            Some(fields) => {
                if line.trim() == "```" {
                    let fields = current.take().unwrap_or_default();
                    let v = Vector { fields };
                    if v.name().starts_with(prefix) {
                        out.push(v);
                    }
                } else if line.starts_with(char::is_whitespace) && !last_key.is_empty() {
                    let entry = fields.entry(last_key.clone()).or_default();
                    entry.push(' ');
                    entry.push_str(line.trim());
                } else if let Some((key, value)) = line.split_once(':') {
                    last_key = key.trim().to_string();
                    fields.insert(last_key.clone(), value.trim().to_string());
                }
            }
        }
    }
    assert!(!out.is_empty(), "SPEC.md has no vectors named {prefix}*");
    out
}
