//! The signing keys a build uses, from a directory made by `stela keys init`.
//!
//! The directory belongs to [`stela_keydir::KeyDir`], which `stela keys` uses too; a
//! build needs the db signer and the three enrolment `.auth` files
//! ([`stela_keydir::KeyDir::load_for_build`]).

pub use stela_keydir::BuildKeys;
