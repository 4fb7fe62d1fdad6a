//! The backup pipeline's pieces, composed from the libraries: keys, object
//! names, staging and restoring staged files.

pub(crate) mod image;
pub(crate) mod keys;
pub(crate) mod pack;
pub(crate) mod sealed;
pub(crate) mod send;
pub(crate) mod snapshot;
pub(crate) mod stage;
