//! Holder crate for the workspace examples (run them with `cargo run -p lomob-examples --example NAME`).
