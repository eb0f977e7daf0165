//! `stela verity sign`: written by the lead (see stela-keys).
