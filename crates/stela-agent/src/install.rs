//! Installing a release into the inactive slot of a stela disk, in an order that a power
//! cut at any moment leaves a disk that boots a good version (DESIGN.md sections 3, 4):
//!
//! 1. boot entries of the version the slot held (older than the running one) leave the
//!    ESP, so nothing can boot a slot while it is rewritten;
//! 2. the slot's GPT entries are marked `_empty` (backup table first, primary last) and
//!    its signature partition zeroed;
//! 3. usr (decompressed from its zstd frames as it downloads), the verity tree and the
//!    signature partition are written into the slot's partitions, and synced;
//! 4. the written usr data is hashed again from the disk: the verity root hash must be
//!    the release's signed one and the tree identical to the one written;
//! 5. the entries get the version's label, read-only, and the usr / usr-verity UUIDs the
//!    root hash gives; the image model must then see the slot as holding that version;
//! 6. the UKI goes onto the ESP as `EFI/Linux/<name>_<version>+<tries>.efi` (three by
//!    default),
//!    written under a name systemd-boot ignores and renamed.
//!
//! The slot the running version is in is never written.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use stela_esp::{EspEditor, Window};
use stela_gpt::GptPartition;
use stela_image::{Role, SlotChange, SlotId, StelaDisk};
use stela_repo::Kind;
use stela_verity::{Header, NoProgress, RootHash, Superblock, VerityParams};

use crate::device::{mounted_put, mounted_remove, read_disk, EspAccess};
use crate::error::AgentError;
use crate::source::{Offer, UpdateSource};

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    /// `<name>_<version>` installed.
    pub label: String,
    /// Its root hash.
    pub root_hash: String,
    /// The slot written.
    pub slot: String,
    /// The version the slot held before, if any.
    pub replaced: Option<String>,
    /// Bytes downloaded (compressed usr, tree, signature, UKI).
    pub downloaded: u64,
    /// Bytes of the usr image written.
    pub usr_bytes: u64,
    /// The boot entry written.
    pub boot_entry: String,
    /// Seconds spent writing the usr image: download, hash check, decompression, write
    /// and sync.
    pub usr_seconds: f64,
    /// Seconds for the whole install, from reading the disk to the boot entry.
    pub seconds: f64,
}

/// A log line at each tenth of the usr target received (and handed to the writer): the
/// journal shows how far an update got, and a power-cut test knows when to cut.
struct Progress {
    total: u64,
    received: u64,
    tenths: u64,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            total: total.max(1),
            received: 0,
            tenths: 0,
        }
    }

    fn add(&mut self, n: u64) {
        self.received += n;
        let tenths = (self.received.saturating_mul(10) / self.total).min(10);
        if tenths > self.tenths {
            self.tenths = tenths;
            tracing::info!(
                "usr image: {}% received and written on ({} of {} MiB compressed)",
                tenths * 10,
                self.received >> 20,
                self.total >> 20
            );
        }
    }
}

/// The disk being changed.
struct Disk {
    path: PathBuf,
    file: File,
}

impl Disk {
    fn open(path: &Path) -> Result<Disk, AgentError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| AgentError::Io {
                path: path.to_owned(),
                what: "opening to write".to_owned(),
                source,
            })?;
        Ok(Disk {
            path: path.to_owned(),
            file,
        })
    }

    fn io(&self, what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
        let what = what.into();
        move |source| AgentError::Io {
            path: self.path.clone(),
            what,
            source,
        }
    }

    /// The image model of the disk as it is now (see [`read_disk`]: synced, cached
    /// pages dropped, because the kernel may have changed the ESP through its mount).
    fn model(&self) -> Result<StelaDisk, AgentError> {
        read_disk(&self.path)
    }

    fn change(
        &mut self,
        model: &StelaDisk,
        slot: SlotId,
        change: SlotChange<'_>,
    ) -> Result<(), AgentError> {
        let layout = model
            .slot_change(slot, change)
            .map_err(AgentError::disk(&self.path))?;
        stela_gpt::write_tables(&mut self.file, &layout).map_err(|source| AgentError::Gpt {
            path: self.path.clone(),
            source,
        })?;
        self.sync()
    }

    fn sync(&self) -> Result<(), AgentError> {
        self.file.sync_all().map_err(self.io("syncing"))
    }

    fn window(&self, range: std::ops::Range<u64>) -> Result<Window<&File>, AgentError> {
        Window::new(&self.file, range.start, range.end - range.start).map_err(self.io("seeking"))
    }
}

/// Install `offer` from `source` into the slot of `disk_path` that does not hold
/// `running`, its boot entry onto the ESP through `esp_access` with `tries` boots to
/// prove itself.
pub fn install(
    source: &UpdateSource,
    offer: &Offer,
    disk_path: &Path,
    running: &RootHash,
    esp_access: &EspAccess,
    tries: u8,
) -> Result<InstallReport, AgentError> {
    let begun = std::time::Instant::now();
    let mut disk = Disk::open(disk_path)?;
    let model = disk.model()?;
    let slot = model
        .inactive_slot(running)
        .map_err(AgentError::disk(disk_path))?
        .clone();
    if slot.root_hash() == Some(running) {
        return Err(AgentError::Running(format!(
            "slot {} holds the running version; it is never written",
            slot.id
        )));
    }
    let label = offer.label();
    let usr_t = offer.target(Kind::Usr)?;
    let tree_t = offer.target(Kind::UsrVerity)?;
    let sig_t = offer.target(Kind::UsrVeritySig)?;
    let uki_t = offer.target(Kind::Uki)?;
    let frames = usr_t
        .info
        .frames
        .as_ref()
        .ok_or_else(|| AgentError::Release {
            release: label.clone(),
            reason: "its usr target has no frame table".to_owned(),
        })?;
    let usr_range = slot
        .byte_range(Role::Usr)
        .map_err(AgentError::disk(disk_path))?;
    let tree_range = slot
        .byte_range(Role::UsrVerity)
        .map_err(AgentError::disk(disk_path))?;
    let sig_range = slot
        .byte_range(Role::UsrVeritySig)
        .map_err(AgentError::disk(disk_path))?;
    for (what, size, range) in [
        ("the usr image", frames.image_bytes, &usr_range),
        ("the verity tree", tree_t.target.length, &tree_range),
        ("the signature", sig_t.target.length, &sig_range),
    ] {
        let room = range.end - range.start;
        if size > room {
            return Err(AgentError::DoesNotFit {
                slot: slot.id,
                what: what.to_owned(),
                size,
                room,
            });
        }
    }
    let esp = model
        .esps()
        .first()
        .cloned()
        .ok_or_else(|| AgentError::Running(format!("{} has no ESP", disk_path.display())))?;
    let replaced = slot.version().map(str::to_owned);

    // The small targets first, whole and verified, before the disk is touched: a bad
    // one stops the update while the slot is as it was.
    let fetch_all = |t| -> Result<Vec<u8>, AgentError> {
        let mut v = Vec::new();
        source.fetch(t, |c| {
            v.extend_from_slice(c);
            Ok(())
        })?;
        Ok(v)
    };
    let tree = fetch_all(tree_t)?;
    let sig = fetch_all(sig_t)?;
    let uki = fetch_all(uki_t)?;
    let mut downloaded = (tree.len() + sig.len() + uki.len()) as u64;

    // 1. Nothing may boot the slot while it is rewritten.
    if let Some(old) = slot.root_hash() {
        let stale: Vec<String> = model
            .boot_entries()
            .filter(|e| e.usrhash.as_ref() == Some(old))
            .map(|e| e.path.clone())
            .collect();
        if !stale.is_empty() {
            for p in &stale {
                tracing::info!(
                    "removing the boot entry {p} of the version slot {} held",
                    slot.id
                );
            }
            let ops: Vec<EspOp<'_>> = stale.iter().map(|p| EspOp::Remove(p)).collect();
            edit_esp(&disk, &esp.partition, esp_access, &ops)?;
            disk.sync()?;
        }
    }
    // 2. The slot holds no version from here on: `_empty` labels, and a signature
    // partition of zeros, so that until step 5 the slot reads as empty whatever was
    // written of it.
    disk.change(&model, slot.id, SlotChange::Clear)?;
    {
        let mut w = disk.window(sig_range.clone())?;
        std::io::copy(
            &mut std::io::repeat(0).take(sig_range.end - sig_range.start),
            &mut w,
        )
        .map_err(disk.io("clearing the signature partition"))?;
    }
    disk.sync()?;

    // 3. Write the partitions.
    let started = std::time::Instant::now();
    let mut sink_failed = false;
    let mut progress = Progress::new(usr_t.target.length);
    let (fetched, restored) = std::thread::scope(|scope| {
        let mut writer =
            crate::frames::FrameWriter::new(scope, &disk.file, usr_range.start, frames);
        let fetched = source.fetch(usr_t, |chunk| {
            let r = writer.feed(chunk);
            sink_failed |= r.is_err();
            progress.add(chunk.len() as u64);
            r
        });
        (fetched, writer.finish())
    });
    // The stream's own failure (a hash that does not match) is the cause, unless the
    // stream stopped because writing did: then the writer's error says why.
    let usr_written = match (fetched, restored) {
        (Ok(n), Ok(w)) => {
            downloaded += n;
            w
        }
        (Err(e), _) if !sink_failed => return Err(e),
        (_, Err(e)) => return Err(disk.io("writing the usr image")(e)),
        (Err(e), Ok(_)) => return Err(e),
    };
    if usr_written != frames.image_bytes {
        return Err(fail(
            &mut disk,
            &model,
            slot.id,
            format!(
                "the usr target restored {usr_written} bytes, its metadata says {}",
                frames.image_bytes
            ),
        ));
    }
    // Synced before the clock stops: the figure compares with `dd conv=fsync`.
    disk.sync()?;
    let usr_seconds = started.elapsed().as_secs_f64();
    {
        let mut w = disk.window(tree_range.clone())?;
        w.write_all(&tree)
            .map_err(disk.io("writing the verity tree"))?;
        let mut w = disk.window(sig_range.clone())?;
        w.write_all(&sig)
            .map_err(disk.io("writing the signature partition"))?;
        // The rest of the signature partition is NUL: its JSON ends at the first one.
        let rest = (sig_range.end - sig_range.start) - sig.len() as u64;
        std::io::copy(&mut std::io::repeat(0).take(rest), &mut w)
            .map_err(disk.io("clearing the rest of the signature partition"))?;
    }
    disk.sync()?;

    // 4. What is on the disk must prove the release.
    if let Err(reason) = check_written(
        &disk,
        usr_range.start,
        frames.image_bytes,
        &tree,
        &sig,
        &offer.root_hash,
    ) {
        return Err(fail(&mut disk, &model, slot.id, reason));
    }

    // 5. The slot holds the version.
    disk.change(
        &model,
        slot.id,
        SlotChange::Install {
            label: &label,
            root_hash: &offer.root_hash,
        },
    )?;
    let after = disk.model()?;
    match after.slot(slot.id).and_then(|s| s.root_hash()) {
        Some(h) if h == &offer.root_hash => {}
        _ => {
            let state = after
                .slot(slot.id)
                .map(|s| format!("{:?}", s.state))
                .unwrap_or_default();
            return Err(fail(
                &mut disk,
                &after,
                slot.id,
                format!("after relabelling, the image model sees the slot as {state}"),
            ));
        }
    }

    // 6. The boot entry, last.
    let entry = format!("EFI/Linux/{label}+{tries}.efi");
    if let Err(e) = edit_esp(
        &disk,
        &esp.partition,
        esp_access,
        &[EspOp::Put(&entry, &uki)],
    ) {
        return Err(fail(
            &mut disk,
            &after,
            slot.id,
            format!("putting {entry} on the ESP: {e}"),
        ));
    }
    disk.sync()?;
    Ok(InstallReport {
        label,
        root_hash: offer.root_hash.to_string(),
        slot: slot.id.to_string(),
        replaced,
        downloaded,
        usr_bytes: usr_written,
        boot_entry: entry,
        usr_seconds,
        seconds: begun.elapsed().as_secs_f64(),
    })
}

/// Mark the slot empty again after a failed check, and say why.
fn fail(disk: &mut Disk, model: &StelaDisk, slot: SlotId, reason: String) -> AgentError {
    if let Err(e) = disk.change(model, slot, SlotChange::Clear) {
        tracing::error!("marking slot {slot} empty again failed too: {e}");
    }
    AgentError::Verification { slot, reason }
}

/// Recompute the verity tree of the usr data on the disk with the parameters of the
/// downloaded tree's superblock; it must give the release's root hash and the same tree.
fn check_written(
    disk: &Disk,
    usr_start: u64,
    usr_len: u64,
    tree: &[u8],
    sig: &[u8],
    root_hash: &RootHash,
) -> Result<(), String> {
    let sb_bytes: &[u8; 512] = tree
        .get(..512)
        .and_then(|b| b.try_into().ok())
        .ok_or("the verity tree is shorter than its superblock")?;
    let sb =
        Superblock::parse(sb_bytes).map_err(|e| format!("the verity tree's superblock: {e}"))?;
    let params = VerityParams {
        data_block_size: sb.data_block_size,
        hash_block_size: sb.hash_block_size,
        salt: sb.salt.clone(),
        header: Header::Superblock { uuid: sb.uuid },
    };
    let mut data = disk
        .window(usr_start..usr_start + usr_len)
        .map_err(|e| e.to_string())?;
    data.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut rebuilt = std::io::Cursor::new(Vec::with_capacity(tree.len()));
    let info = stela_verity::format_to(
        std::io::BufReader::with_capacity(1 << 20, data),
        usr_len,
        &mut rebuilt,
        &params,
        &mut NoProgress,
    )
    .map_err(|e| format!("hashing the written usr image: {e}"))?;
    if &info.root_hash != root_hash {
        return Err(format!(
            "the written usr image has root hash {}, the release {root_hash}",
            info.root_hash
        ));
    }
    if rebuilt.get_ref().as_slice() != tree {
        return Err("the downloaded verity tree is not the usr image's".to_owned());
    }
    let doc = stela_keys::verity_sig::VeritySignatureDocument::from_partition_bytes(sig)
        .map_err(|e| format!("the signature partition: {e}"))?;
    if &doc.root_hash != root_hash {
        return Err(format!(
            "the signature partition signs {}, the release is {root_hash}",
            doc.root_hash
        ));
    }
    Ok(())
}

/// One change to the ESP.
enum EspOp<'a> {
    Remove(&'a str),
    Put(&'a str, &'a [u8]),
}

/// Apply `ops` to the ESP `part` of `disk`: through its FAT on the disk, or through the
/// kernel's mount of it.
fn edit_esp(
    disk: &Disk,
    part: &GptPartition,
    access: &EspAccess,
    ops: &[EspOp<'_>],
) -> Result<(), AgentError> {
    match access {
        EspAccess::Raw => {
            let esp_err = |source| AgentError::Esp {
                path: disk.path.clone(),
                source,
            };
            let range = part.byte_range();
            let mut ed = EspEditor::open(&disk.file, range.start, range.end - range.start)
                .map_err(esp_err)?;
            for op in ops {
                match op {
                    EspOp::Remove(p) => ed.remove(p).map(drop),
                    EspOp::Put(p, bytes) => ed.put(p, bytes),
                }
                .map_err(esp_err)?;
            }
            ed.finish().map_err(esp_err)
        }
        EspAccess::Mounted(dir) => {
            for op in ops {
                let (rel, r) = match op {
                    EspOp::Remove(p) => (p, mounted_remove(dir, p)),
                    EspOp::Put(p, bytes) => (p, mounted_put(dir, p, bytes)),
                };
                r.map_err(|source| AgentError::Io {
                    path: dir.join(rel),
                    what: "changing the mounted ESP".to_owned(),
                    source,
                })?;
            }
            Ok(())
        }
    }
}
