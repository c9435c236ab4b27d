//! SPEC.md section 1.3 names, for every guarantee, the tests that prove
//! it, in every crate of the workspace: each must exist. A workspace-level
//! check, so it lives in the workspace package (crates' own tests read
//! only their own package).

use std::path::Path;

fn spec_section(spec: &str, heading: &str) -> String {
    let start = spec.find(heading).expect("section heading");
    let rest = &spec[start + heading.len()..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// SPEC.md 1.3 names, for every guarantee, the tests that prove it: each
/// must exist.
#[test]
fn the_guarantee_table_names_real_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).expect("SPEC.md");
    let section = spec_section(
        &spec,
        "### 1.3 What is cryptographic and what is relay-enforced",
    );
    let dirs = [
        ("S/", "taiku-session/tests/"),
        ("C/", "taiku-crypto/tests/"),
        ("T/", "taiku-transport/tests/"),
        ("E/", "tests/"),
    ];
    let mut checked = 0;
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Guarantee"))
    {
        let proved = row.trim_end_matches('|').rsplit(" | ").next().unwrap_or("");
        let mut file: Option<String> = None;
        for code in proved.split('`').skip(1).step_by(2) {
            let (path, name) = match code.split_once("::") {
                Some((path, name)) => {
                    let (prefix, dir) = dirs
                        .iter()
                        .find(|(p, _)| path.starts_with(p))
                        .unwrap_or_else(|| panic!("{code}: unknown test directory"));
                    let path = format!("{dir}{}", &path[prefix.len()..]);
                    file = Some(path.clone());
                    (path, name)
                }
                None if proved.contains(&format!("fuzz target `{code}`")) => {
                    let target = root.join(format!("fuzz/fuzz_targets/{code}.rs"));
                    assert!(target.exists(), "no fuzz target {code}");
                    continue;
                }
                None => (file.clone().expect("a file named first"), code),
            };
            let text =
                std::fs::read_to_string(root.join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(
                text.contains(&format!("fn {name}(")),
                "{path} has no test {name}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} tests named");
}
