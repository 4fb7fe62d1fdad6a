//! Holder crate for the workspace benchmarks (`cargo bench -p lomob-benches`).
