//! What only the command line needs: the config file, output to stdout,
//! progress bars on stderr, passphrases from the terminal.

pub(crate) mod bars;
pub(crate) mod config;
pub(crate) mod output;
pub(crate) mod secrets;
