//! The kernel command line compiled into the UKI.

use base64::Engine as _;
use stela_recipe::{BuildValue, BUILD_ARGS};

/// The arguments the build itself puts on the command line, before the recipe's
/// `kernel.cmdline_extra`: [`stela_recipe::BUILD_ARGS`], in its order, with the root
/// hash and its DER PKCS#7 signature filled in. The table says why each is there; the
/// recipe crate refuses the same keys in `cmdline_extra`.
pub fn build_args(root_hash: &str, signature_der: &[u8]) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode(signature_der);
    let args: Vec<String> = BUILD_ARGS
        .iter()
        .map(|arg| match arg.value {
            BuildValue::Flag => arg.key.to_owned(),
            BuildValue::Fixed(v) => format!("{}={v}", arg.key),
            BuildValue::RootHash => format!("{}={root_hash}", arg.key),
            BuildValue::RootHashSignature => {
                format!("{}=root-hash-signature=base64:{sig}", arg.key)
            }
        })
        .collect();
    args.join(" ")
}

/// `args` with what `ipe.mode` puts on the command line: `ipe.enforce=0` for `audit`
/// (IPE logs what the policy denies and allows it), nothing otherwise (the kernel
/// enforces by default; `off` loads no policy).
pub fn with_ipe_mode(mut args: String, mode: stela_recipe::IpeMode) -> String {
    if mode == stela_recipe::IpeMode::Audit {
        args.push_str(" ipe.enforce=0");
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_arguments_fit_the_reserve_the_recipe_leaves_for_them() {
        // An RSA-4096 signature without certificates is about 660 bytes of DER.
        let args = with_ipe_mode(
            build_args(&"ab".repeat(32), &[0u8; 660]),
            stela_recipe::IpeMode::Audit,
        );
        assert!(args.ends_with(" ipe.enforce=0"), "{args}");
        assert!(
            args.len() <= stela_recipe::BUILD_CMDLINE_RESERVE,
            "{} bytes of build arguments, reserve {}",
            args.len(),
            stela_recipe::BUILD_CMDLINE_RESERVE
        );
        assert!(args.starts_with(&format!("usrhash={} ", "ab".repeat(32))));
        assert!(args.contains("dm_verity.require_signatures=1"));
    }

    #[test]
    fn the_arguments_are_exactly_the_table_keys_in_order() {
        let args = build_args(&"cd".repeat(32), b"sig");
        let keys: Vec<&str> = args
            .split(' ')
            .map(|a| a.split('=').next().unwrap_or_default())
            .collect();
        let table: Vec<&str> = BUILD_ARGS.iter().map(|a| a.key).collect();
        assert_eq!(keys, table);
        // The line the build wrote before the table, byte for byte.
        assert_eq!(
            args,
            format!(
                "usrhash={} mount.usrfstype=erofs systemd.verity_usr_options=root-hash-signature=base64:c2ln dm_verity.require_signatures=1 rw systemd.firstboot=off systemd.machine_id=firmware systemd.import_credentials=no systemd.ssh_auto=no",
                "cd".repeat(32)
            )
        );
        // Every one of them is refused in the recipe's cmdline_extra.
        for key in table {
            assert!(
                stela_recipe::KernelCmdline::parse(&format!("{key}=1")).is_err(),
                "{key} accepted in cmdline_extra"
            );
        }
    }
}
