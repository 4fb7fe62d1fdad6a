//! Integration tests of the `lomob` binary, run on temp trees.

mod util;
