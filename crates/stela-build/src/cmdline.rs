//! The kernel command line compiled into the UKI.

use base64::Engine as _;

/// The arguments the build itself puts on the command line, before the recipe's
/// `kernel.cmdline_extra`.
///
/// - `usrhash=`: systemd's initrd finds the usr / usr-verity pair by the UUIDs derived
///   from it and sets up `/dev/mapper/usr`;
/// - `systemd.verity_usr_options=root-hash-signature=base64:`: systemd 257 does not read
///   the signature partition at boot, so the kernel sees the signature only this way;
/// - `dm_verity.require_signatures=1`: unsigned verity tables are refused;
/// - `rw`: the root partition (found by gpt-auto) is mounted read-write;
/// - `systemd.firstboot=off`: no questions at the console;
/// - `systemd.machine_id=firmware`: the machine ID is the SMBIOS product UUID.
pub fn build_args(root_hash: &str, signature_der: &[u8]) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode(signature_der);
    format!(
        "usrhash={root_hash} mount.usrfstype=erofs systemd.verity_usr_options=root-hash-signature=base64:{sig} dm_verity.require_signatures=1 rw systemd.firstboot=off systemd.machine_id=firmware"
    )
}
