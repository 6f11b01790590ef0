//! The `vss` binary.
fn main() {}
