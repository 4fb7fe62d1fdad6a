//! Integration tests of the `lomob` binary, run on temp trees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod alert;
mod archive;
mod backup;
mod big;
mod changes;
mod check;
mod cmd;
mod cold;
mod contain;
mod cost;
mod crash;
mod crypt;
mod fast;
mod garage;
mod gdrive;
mod golomob;
mod golomob_drive;
mod hostile;
mod iso;
mod keys;
mod kill;
mod killproxy;
mod lock;
mod recover;
mod repair;
mod scan;
mod secrets;
mod site;
mod status;
mod upload;
mod util;
mod verify;
mod watch;
