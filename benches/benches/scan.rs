//! Benchmarks of lomo-catalog scanning (criterion).
fn main() {}
