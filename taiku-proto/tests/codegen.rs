//! The committed generated code must be exactly what `prost-build` makes
//! from `proto/taiku.proto` today. Run with `TAIKU_REGENERATE=1` to rewrite
//! the committed file after editing the catalog.

use std::path::PathBuf;

#[test]
fn generated_code_matches_catalog() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("taiku-proto-codegen-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let fds = protox::compile(["taiku.proto"], [root.join("proto")]).expect("catalog compiles");
    let mut config = prost_build::Config::new();
    config.out_dir(&out);
    config.bytes(["."]);
    // Its token is a secret: Debug is written by hand (src/message.rs).
    config.skip_debug(["taiku.v1.ShellRequest"]);
    // One role type in the API: `taiku_proto::Role`. The wire enum stays
    // for prost's field attributes but out of the docs.
    // Reasons grow with the protocol: matches need a wildcard arm.
    for reason in [
        "taiku.v1.RefusalReason",
        "taiku.v1.EndReason",
        "taiku.v1.ControlReason",
        "taiku.v1.ActionRefusal",
        "taiku.v1.ShellRefusal",
        "taiku.v1.ForwardEnd",
    ] {
        config.enum_attribute(reason, "#[non_exhaustive]");
    }
    config.enum_attribute(
        "taiku.v1.Role",
        "#[doc(hidden)] // the wire enum; use `taiku_proto::Role`",
    );
    config.compile_fds(fds).expect("prost-build runs");
    let fresh = std::fs::read_to_string(out.join("taiku.v1.rs")).expect("generated file");
    let _ = std::fs::remove_dir_all(&out);
    let committed_path = root.join("src/generated/taiku.v1.rs");
    if std::env::var_os("TAIKU_REGENERATE").is_some() {
        std::fs::write(&committed_path, &fresh).expect("write generated file");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).expect("committed generated file");
    assert!(
        committed == fresh,
        "src/generated/taiku.v1.rs is stale: run `TAIKU_REGENERATE=1 cargo test -p taiku-proto --test codegen` and commit the result"
    );
}
