//! One module per subcommand group.

pub mod audit;
pub mod build;
pub mod inspect;
pub mod ipe;
pub mod keys;
pub mod qemu;
pub mod repo;
pub mod sign;
pub mod uki;
pub mod update;
pub mod verify_release;
pub mod verity;
pub mod verity_sign;
