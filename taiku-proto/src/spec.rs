//! The normative specification of the protocol, SPEC.md, as shipped in
//! this crate's package: every wire byte, label, limit and rule, with its
//! test vectors. Rendered here so that it is reachable from the docs.
// The text is Markdown written for any reader, not rustdoc: its brackets
// are not links to items.
#![allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls
)]
#![doc = include_str!("../SPEC.md")]
