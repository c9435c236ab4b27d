//! Reads the test vectors out of SPEC.md, so that the document and the code
//! cannot drift apart. Shared by the test suites of every crate.
//!
//! A vector is a fenced block whose info string is `vector`; each line is
//! `key: value`, and a value may continue on following lines that start
//! with whitespace (long hex strings). Hex values may contain spaces.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// One vector: its fields in order of appearance.
#[derive(Debug, Clone)]
pub struct Vector {
    pub fields: BTreeMap<String, String>,
}

impl Vector {
    pub fn name(&self) -> &str {
        self.get("name")
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("vector {:?} has no field {key:?}", self.fields.get("name")))
    }

    pub fn hex(&self, key: &str) -> Vec<u8> {
        let text: String = self
            .get(key)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        hex::decode(&text).unwrap_or_else(|e| panic!("vector {} field {key}: {e}", self.name()))
    }
}

/// The text of SPEC.md at the repository root.
pub fn spec_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../SPEC.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every vector in SPEC.md whose name starts with `prefix`.
pub fn vectors(prefix: &str) -> Vec<Vector> {
    let text = spec_text();
    let mut out = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    let mut last_key = String::new();
    for line in text.lines() {
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
