//! Integration tests of lomo-crypt.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod archive;
mod keyfile;
mod stream;
mod vectors;
