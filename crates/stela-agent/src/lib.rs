//! The update agent: it reads a stela disk through the image model (`stela-image`),
//! the update repository through TUF (`tough`, verified from a trusted root on), and
//! installs the newest allowed release into the slot that does not run.
//!
//! - [`UpdateSource`]: the verified repository, its [`Offer`]s per image and channel;
//! - [`install`]: one release into the inactive slot, ordered for power cuts;
//! - [`loader`]: the boot loader's two copies and their UEFI boot entries, a new one
//!   tried once through `BootNext` and made the default once a boot through it is good.

mod device;
pub mod efivarfs;
mod error;
mod frames;
mod install;
pub mod loader;
mod run;
mod runtime;
mod source;
mod status;
mod transport;
mod update_hooks;

pub use device::{
    read_disk, DeviceConfig, EspAccess, RunningSystem, IMAGE_CONFIG, LOCAL_CONFIG, STATE_DIR,
    TRUSTED_ROOT,
};
pub use error::AgentError;
pub use install::{install, InstallReport};
pub use run::{
    device_bless, device_rollback, device_run, device_status, RollbackReport, RunOutcome,
};
pub use source::{HeldBack, Offer, OfferedTarget, RolloutSpot, Selection, UpdateSource};
pub use status::{LastRun, StateDir, Status, VersionStatus};
pub use transport::Timeouts;
