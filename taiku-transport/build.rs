//! `include_dir!` (feature `embedded-client`) cannot tell cargo which files
//! it read on a stable toolchain: rebuild when the committed client changes.
fn main() {
    println!("cargo::rerun-if-changed=client");
}
