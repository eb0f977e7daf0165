//! IPE (Integrity Policy Enforcement) policies for stela images.
//!
//! IPE is the Linux security module that decides, from properties of the file's origin
//! rather than its path, whether code may run: a binary, a shared library mapped
//! executable, a kernel module, firmware. A stela image's /usr is erofs on dm-verity with a
//! root hash the kernel verified against the firmware's db, so one rule covers all of it.
//!
//! This crate holds the policy model ([`Policy`], [`Rule`]), its text form exactly as the
//! 6.12 kernel parses it (`security/ipe/policy_parser.c`: a header line
//! `policy_name=NAME policy_version=MAJOR.MINOR.REVISION`, `DEFAULT` lines, then rules
//! `op=OP property=value... action=ALLOW|DENY`, first match wins), a parser that checks a
//! policy the way the kernel would before one is signed or loaded ([`Policy::parse`]), and
//! the two policies a build installs ([`image_policy`]).

mod parse;
mod policy;

pub use parse::{ParseError, MAX_POLICY_BYTES};
pub use policy::{image_policy, Action, Op, Policy, PolicyName, Property, Rule, Stage, Version};
