//! What is wrong with a disk: faults the model shows by itself, and signature checks
//! against a trusted certificate. Every fault counts; one is enough to fail.

use std::fmt;
use std::fs::File;

use stela_esp::EspReader;
use stela_gpt::{types, Guid};
use stela_keys::Certificate;
use stela_pe::authenticode::{verify, Verdict};

use crate::disk::{PairMember, SignatureContent, StelaDisk};
use crate::esp::is_efi;

/// One thing that keeps a disk from verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// A signature partition holds something other than a DPS document.
    MalformedSignature {
        /// The signature partition.
        partition: u32,
        /// Why.
        problem: String,
    },
    /// No partition of the type carries the UUID the root hash gives.
    PairMissing {
        /// The signature partition.
        signature: u32,
        /// The type looked for.
        type_guid: Guid,
        /// The UUID the root hash gives.
        expected: Guid,
    },
    /// The slot's partition of that type carries another UUID than the root hash gives.
    PairMismatch {
        /// The signature partition.
        signature: u32,
        /// The type looked for.
        type_guid: Guid,
        /// The UUID the root hash gives.
        expected: Guid,
        /// The partition found by label instead.
        partition: u32,
        /// Its UUID.
        found: Guid,
    },
    /// An ESP's FAT file system cannot be read.
    UnreadableEsp {
        /// The ESP partition.
        partition: u32,
        /// Why.
        problem: String,
    },
    /// A verity signature does not verify against the trusted certificate.
    BadVeritySignature {
        /// The signature partition.
        partition: u32,
        /// Why.
        reason: String,
    },
    /// An EFI binary carries no signature.
    UnsignedEfi {
        /// The ESP partition.
        esp: u32,
        /// Path on the ESP.
        path: String,
    },
    /// An EFI binary's signature does not verify (or cannot be checked).
    BadEfiSignature {
        /// The ESP partition.
        esp: u32,
        /// Path on the ESP.
        path: String,
        /// Why.
        reason: String,
    },
}

fn type_name(t: Guid) -> String {
    types::name_of(t).map_or_else(|| t.to_string(), str::to_owned)
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::MalformedSignature { partition, problem } => {
                write!(f, "partition {partition}: malformed verity signature: {problem}")
            }
            Fault::PairMissing {
                signature,
                type_guid,
                expected,
            } => write!(
                f,
                "partition {signature}: no {} partition has the uuid {expected} its root hash gives",
                type_name(*type_guid)
            ),
            Fault::PairMismatch {
                signature,
                type_guid,
                expected,
                partition,
                found,
            } => write!(
                f,
                "partition {signature}: the {} partition {partition} has uuid {found}, its root hash gives {expected}",
                type_name(*type_guid)
            ),
            Fault::UnreadableEsp { partition, problem } => {
                write!(f, "ESP partition {partition} cannot be read: {problem}")
            }
            Fault::BadVeritySignature { partition, reason } => {
                write!(f, "partition {partition}: verity signature does not verify: {reason}")
            }
            Fault::UnsignedEfi { esp, path } => {
                write!(f, "ESP partition {esp}: {path} is unsigned")
            }
            Fault::BadEfiSignature { esp, path, reason } => {
                write!(f, "ESP partition {esp}: {path}: {reason}")
            }
        }
    }
}

/// The result of checking one signature against the trusted certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It verified.
    Verified {
        /// The signer's subject, when known.
        signer: Option<String>,
    },
    /// It did not verify, could not be checked, or is missing.
    Bad {
        /// Why, in one line.
        reason: String,
    },
}

/// The Authenticode check of one EFI binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfiCheck {
    /// The ESP partition.
    pub esp: u32,
    /// Path on the ESP.
    pub path: String,
    /// The outcome.
    pub check: Check,
}

/// Every signature of a disk checked against one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Per signed or malformed signature partition (entry number), its check.
    pub verity: Vec<(u32, Check)>,
    /// Per EFI binary of every readable ESP.
    pub efi: Vec<EfiCheck>,
    /// Every fault: the disk's own ([`StelaDisk::faults`]) and every failed check.
    pub faults: Vec<Fault>,
}

impl Verification {
    /// True when nothing is wrong.
    pub fn all_verified(&self) -> bool {
        self.faults.is_empty()
    }

    /// The check of the signature partition with this entry number.
    pub fn verity_check(&self, partition: u32) -> Option<&Check> {
        self.verity
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, c)| c)
    }

    /// The check of an EFI binary.
    pub fn efi_check(&self, esp: u32, path: &str) -> Option<&Check> {
        self.efi
            .iter()
            .find(|e| e.esp == esp && e.path == path)
            .map(|e| &e.check)
    }
}

fn bad(reason: String) -> Check {
    Check::Bad { reason }
}

fn pair_fault(signature: u32, m: &PairMember) -> Option<Fault> {
    if m.matches {
        return None;
    }
    Some(match &m.partition {
        Some(p) => Fault::PairMismatch {
            signature,
            type_guid: m.type_guid,
            expected: m.expected_uuid,
            partition: p.index,
            found: p.guid,
        },
        None => Fault::PairMissing {
            signature,
            type_guid: m.type_guid,
            expected: m.expected_uuid,
        },
    })
}

impl StelaDisk {
    /// What is wrong without checking a signature: malformed signature partitions,
    /// pairs missing or not carrying the UUIDs their root hash gives, unreadable ESPs.
    pub fn faults(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        for s in self.signatures() {
            let n = s.partition.index;
            match &s.content {
                SignatureContent::Empty => {}
                SignatureContent::Malformed { problem } => faults.push(Fault::MalformedSignature {
                    partition: n,
                    problem: problem.clone(),
                }),
                SignatureContent::Signed { data, verity, .. } => {
                    faults.extend([data, verity].into_iter().filter_map(|m| pair_fault(n, m)));
                }
            }
        }
        for e in self.esps() {
            if let Err(problem) = &e.contents {
                faults.push(Fault::UnreadableEsp {
                    partition: e.partition.index,
                    problem: problem.clone(),
                });
            }
        }
        faults
    }

    /// Checks every verity signature and every EFI binary's Authenticode signature
    /// against `trusted`; an unsigned EFI binary fails.
    pub fn check(&self, trusted: &Certificate) -> Verification {
        let mut faults = self.faults();
        let mut verity = Vec::new();
        for s in self.signatures() {
            let n = s.partition.index;
            let check = match &s.content {
                SignatureContent::Empty => continue,
                SignatureContent::Malformed { problem } => Check::Bad {
                    reason: format!("malformed signature partition: {problem}"),
                },
                SignatureContent::Signed { document, .. } => match document.verify(trusted) {
                    Ok(()) => Check::Verified { signer: None },
                    Err(e) => {
                        let reason = e.to_string();
                        faults.push(Fault::BadVeritySignature {
                            partition: n,
                            reason: reason.clone(),
                        });
                        Check::Bad { reason }
                    }
                },
            };
            verity.push((n, check));
        }
        let mut efi = Vec::new();
        for e in self.esps() {
            let Ok(contents) = &e.contents else { continue };
            let esp = e.partition.index;
            let reader = File::open(self.path())
                .map_err(|err| err.to_string())
                .and_then(|f| {
                    let r = e.partition.byte_range();
                    EspReader::open(f, r.start, r.end - r.start).map_err(|err| crate::chain(&err))
                });
            for b in contents.efi.iter().filter(|b| is_efi(&b.path)) {
                let bytes = reader.as_ref().map_err(Clone::clone).and_then(|r| {
                    r.read(
                        &b.path,
                        e.partition.byte_range().end - e.partition.byte_range().start,
                    )
                    .map_err(|err| crate::chain(&err))
                });
                let (check, unsigned) = match bytes.map(|bytes| verify(&b.path, &bytes, trusted)) {
                    Ok(Ok(report)) => match report.verdict() {
                        Verdict::Verified { signer } => (
                            Check::Verified {
                                signer: Some(signer),
                            },
                            false,
                        ),
                        Verdict::Unsigned => (bad("unsigned".into()), true),
                        Verdict::Bad { reason } => (bad(reason), false),
                        Verdict::CannotCheck { reason } => {
                            (bad(format!("cannot check: {reason}")), false)
                        }
                    },
                    Ok(Err(err)) => (bad(err.to_string()), false),
                    Err(reason) => (bad(format!("cannot read: {reason}")), false),
                };
                let path = b.path.clone();
                match &check {
                    Check::Verified { .. } => {}
                    Check::Bad { .. } if unsigned => faults.push(Fault::UnsignedEfi { esp, path }),
                    Check::Bad { reason } => faults.push(Fault::BadEfiSignature {
                        esp,
                        path,
                        reason: reason.clone(),
                    }),
                }
                efi.push(EfiCheck {
                    esp,
                    path: b.path.clone(),
                    check,
                });
            }
        }
        Verification {
            verity,
            efi,
            faults,
        }
    }
}
