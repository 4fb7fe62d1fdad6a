//! Integration tests of lomo-iso: images checked by independent readers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod big;
mod golden;
mod hostile;
mod interop;
mod manifest;
mod raw;
mod reader;
mod util;
mod writer;
