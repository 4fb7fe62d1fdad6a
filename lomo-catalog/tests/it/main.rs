//! Integration tests of lomo-catalog on real temp trees and real SQLite files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod history;
mod hostile;
mod props;
mod scan;
mod staged;
mod util;
