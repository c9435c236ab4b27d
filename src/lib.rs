//! Examples and benchmarks of taiku-rs. This package is not published and
//! has no API; see `examples/` and `benches/` at the repository root.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
