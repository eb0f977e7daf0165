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
/// - `systemd.machine_id=firmware`: the machine ID is the SMBIOS product UUID;
/// - `systemd.import_credentials=no`: no credentials from SMBIOS, fw_cfg or the ESP, which
///   could otherwise add units or configuration from outside the signed image.
pub fn build_args(root_hash: &str, signature_der: &[u8]) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode(signature_der);
    format!(
        "usrhash={root_hash} mount.usrfstype=erofs systemd.verity_usr_options=root-hash-signature=base64:{sig} dm_verity.require_signatures=1 rw systemd.firstboot=off systemd.machine_id=firmware systemd.import_credentials=no"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_arguments_fit_the_reserve_the_recipe_leaves_for_them() {
        // An RSA-4096 signature without certificates is about 660 bytes of DER.
        let args = build_args(&"ab".repeat(32), &[0u8; 660]);
        assert!(
            args.len() <= stela_recipe::BUILD_CMDLINE_RESERVE,
            "{} bytes of build arguments, reserve {}",
            args.len(),
            stela_recipe::BUILD_CMDLINE_RESERVE
        );
        assert!(args.starts_with(&format!("usrhash={} ", "ab".repeat(32))));
        assert!(args.contains("dm_verity.require_signatures=1"));
    }
}
