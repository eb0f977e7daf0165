//! The error type of this crate.
//!
//! Categories: the image cannot be opened or read (`Open`, `ReadGpt`, `ReadPartition`);
//! it is not a GPT disk (`NotGpt`); a plan cannot be made or written (`Plan`, `Content`,
//! `Write`); a slot operation has no answer on this disk (`NoInactiveSlot`,
//! `SlotIncomplete`, `Relabel`). What the disk holds but should not (a mismatching
//! partition UUID, an unreadable ESP) is no error: it is a [`crate::Fault`] of the model.

use std::path::PathBuf;

use stela_gpt::GptError;

use crate::slot::{Role, SlotId};

/// Errors of planning, writing, reading and changing a stela disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The image file cannot be opened.
    #[error("opening {path}")]
    Open {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the partition table failed for an I/O reason.
    #[error("reading {path}")]
    ReadGpt {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: GptError,
    },
    /// The file holds no valid GPT.
    #[error("{path} is not a GPT disk image")]
    NotGpt {
        /// The image.
        path: PathBuf,
        /// What is wrong with the table.
        #[source]
        source: GptError,
    },
    /// A partition's content cannot be read.
    #[error("reading partition {index} of {path}")]
    ReadPartition {
        /// The image.
        path: PathBuf,
        /// The partition's entry number.
        index: u32,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The inputs give no valid partition layout.
    #[error("planning the partitions of {label}")]
    Plan {
        /// The image label (`<name>_<version>`).
        label: String,
        /// What stela-gpt rejected.
        #[source]
        source: GptError,
    },
    /// A file to copy into a partition cannot be opened.
    #[error("opening {content}")]
    OpenContent {
        /// The file.
        content: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file cannot be copied into its partition (too large, or an I/O error).
    #[error("copying {content} into partition {index} ({label:?})")]
    Content {
        /// The file.
        content: PathBuf,
        /// The partition's entry number.
        index: u32,
        /// The partition's label.
        label: String,
        /// Why.
        #[source]
        source: GptError,
    },
    /// Creating or finishing the image file failed.
    #[error("writing {path}")]
    Write {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: GptError,
    },
    /// Every slot holds the running version, or several could be written.
    #[error("no single slot to update: {reason}")]
    NoInactiveSlot {
        /// Why, naming the slots.
        reason: String,
    },
    /// A slot lacks a partition an operation needs.
    #[error("slot {slot} has no {role} partition")]
    SlotIncomplete {
        /// The slot.
        slot: SlotId,
        /// The partition it lacks.
        role: Role,
    },
    /// The changed partition table is not valid.
    #[error("changing slot {slot}")]
    Relabel {
        /// The slot.
        slot: SlotId,
        /// What stela-gpt rejected.
        #[source]
        source: GptError,
    },
}
