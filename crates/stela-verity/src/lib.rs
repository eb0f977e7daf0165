//! dm-verity hash trees, byte for byte as `veritysetup format` (cryptsetup 2.6) writes them:
//! format version 1 (salt prepended to each block), SHA-256, with or without the 512-byte
//! superblock, any power-of-two block sizes from 512 to 65536.
//!
//! The data is streamed in chunks of a few MiB and its blocks hashed on all cores (rayon);
//! each hash block goes straight to its place in the output, so memory stays a few MiB
//! whatever the data size. [`verify`] recomputes every level and names the first block
//! that differs.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use stela_verity::{format, verify, NoProgress, Verdict, VerityParams, VerifyMode};
//!
//! let dir = tempfile::tempdir()?;
//! let (data, hash) = (dir.path().join("usr.erofs"), dir.path().join("usr.verity"));
//! std::fs::write(&data, vec![7u8; 3 * 4096])?;
//!
//! let params = VerityParams::new()?; // 4096-byte blocks, random salt and UUID
//! let info = format(&data, &hash, &params, &mut NoProgress)?;
//! println!("usrhash={}", info.root_hash);
//!
//! let verdict = verify(&data, &hash, &info.root_hash, &VerifyMode::Superblock, &mut NoProgress)?;
//! assert!(matches!(verdict, Verdict::Valid(_)));
//! # Ok(())
//! # }
//! ```
//!
//! The on-disk layout is described in [`layout`] and [`superblock`]; the choice of SHA-256
//! implementation in `docs/decisions/0002-verity-hashing.md`.

mod build;
mod error;
pub mod layout;
mod params;
mod progress;
pub mod superblock;
mod tree;
mod verify;

pub use build::{format, format_to, VerityInfo};
pub use error::{ParamError, SuperblockError, VerityError};
pub use layout::Layout;
pub use params::{BlockSize, Header, RootHash, Salt, VerityParams, ALGORITHM, DIGEST_SIZE};
pub use progress::{NoProgress, Progress};
pub use superblock::Superblock;
/// The UUID type of [`Header::Superblock`], re-exported so callers need no version match.
pub use uuid::Uuid;
pub use verify::{read_superblock, verify, Covered, Mismatch, Verdict, VerifyMode};
