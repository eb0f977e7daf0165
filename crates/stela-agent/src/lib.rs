//! The update agent: it reads a stela disk through the image model (`stela-image`),
//! the update repository through TUF (`tough`, verified from a trusted root on), and
//! installs the newest allowed release into the slot that does not run.
//!
//! - [`UpdateSource`]: the verified repository, its [`Offer`]s per image and channel;
//! - [`install`]: one release into the inactive slot, ordered for power cuts.

mod error;
mod frames;
mod install;
mod runtime;
mod source;
mod transport;

pub use error::AgentError;
pub use install::{install, InstallReport};
pub use source::{Offer, OfferedTarget, UpdateSource};
pub use transport::Timeouts;
