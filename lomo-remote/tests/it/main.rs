//! lomo-remote against real servers started here on 127.0.0.1: moto (S3),
//! Azurite (Azure Blob), fake-gcs-server (GCS), and a temp folder.
//!
//! With `LOMO_TEST_INTEGRATION` set (the README's test command sets it) a
//! missing server is a failure; without it, tests needing one are skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod azure;
mod faults;
mod garage;
mod gcs;
mod gdrive;
mod gdrive_fake;
mod gdrive_google;
mod local;
mod proxy;
mod resume;
mod s3;
mod s3_lock;
mod sigv4;
