//! SPEC.md section 6.2's rule table names, for every row, the function of
//! `taiku_session::access` that implements it: each name must exist there,
//! and every public rule of `access` must be named by the table.

use std::collections::BTreeSet;
use std::path::Path;

fn spec_section(spec: &str, heading: &str) -> String {
    let start = spec.find(heading).expect("section heading");
    let rest = &spec[start + heading.len()..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The `access::NAME` (or `Type::method`) names in the table's last column.
fn named_rules(section: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Action"))
    {
        let rule = row.trim_end_matches('|').rsplit(" | ").next().unwrap_or("");
        for code in rule.split('`').skip(1).step_by(2) {
            // `access::name…`, or a bare `check_…` continuing a list.
            let (qualified, code) = match code.strip_prefix("access::") {
                Some(rest) => (true, rest),
                None => (false, code),
            };
            let name: String = code
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if qualified || name.starts_with("check_") {
                names.insert(name);
            }
        }
    }
    names
}

/// `pub fn` names and `Type::method` names defined under `src/access`.
fn defined_rules() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/access");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("src/access") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("source");
        let mut owner: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("impl ") {
                owner = rest
                    .trim_end_matches('{')
                    .split_whitespace()
                    .last()
                    .map(str::to_owned);
            }
            if line.starts_with('}') {
                owner = None;
            }
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("pub fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                match (&owner, line.starts_with("pub fn")) {
                    (_, true) => names.insert(name),
                    (Some(owner), false) => names.insert(format!("{owner}::{name}")),
                    (None, false) => false,
                };
            }
        }
    }
    names
}

#[test]
fn the_rule_table_names_every_rule_of_access() {
    let spec = taiku_proto::vectors::SPEC;
    let table = named_rules(&spec_section(spec, "### 6.2 Roles"));
    let defined = defined_rules();
    for name in &table {
        assert!(
            defined.contains(name),
            "SPEC.md 6.2 names {name}, which access does not define"
        );
    }
    // Free functions of access that decide whether something is allowed.
    let free: BTreeSet<&String> = defined
        .iter()
        .filter(|n| !n.contains("::"))
        .filter(|n| {
            n.starts_with("check")
                || n.starts_with("may_")
                || *n == "handoff"
                || *n == "request_adoption"
        })
        .collect();
    for name in free {
        assert!(
            table.contains(name),
            "SPEC.md 6.2 does not name access::{name}"
        );
    }
}
