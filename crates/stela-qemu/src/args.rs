//! QEMU's command line, rendered from a resolved plan (pure, so it is tested as text).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::accel::Accel;
use crate::config::Console;

/// Everything the command line depends on, with every path already decided.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) accel: Accel,
    pub(crate) firmware_code: PathBuf,
    pub(crate) vars: PathBuf,
    pub(crate) disk: PathBuf,
    pub(crate) disk_format: &'static str,
    pub(crate) memory_mib: u32,
    pub(crate) cpus: u32,
    pub(crate) uuid: Option<Uuid>,
    pub(crate) tpm_socket: Option<PathBuf>,
    pub(crate) console: Console,
    /// stdin is a terminal, so the guest and the monitor get keystrokes.
    pub(crate) interactive: bool,
    pub(crate) no_reboot: bool,
    pub(crate) extra: Vec<String>,
    pub(crate) forwards: Vec<crate::config::Forward>,
}

/// The arguments after the program name.
pub(crate) fn qemu_args(plan: &Plan) -> Vec<OsString> {
    let mut args = Args::default();
    args.push(["-name", "stela"]);
    args.push(["-accel", plan.accel.option()]);
    // Secure Boot OVMF keeps its variables behind SMM: without smm=on it refuses to
    // start; the secure pflash stops the guest OS writing them directly.
    args.push(["-machine", "q35,smm=on"]);
    args.push(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
    // S3 is not supported together with SMM in OVMF.
    args.push(["-global", "ICH9-LPC.disable_s3=1"]);
    args.push(["-cpu", "max"]);
    args.push(["-m".to_owned(), plan.memory_mib.to_string()]);
    args.push(["-smp".to_owned(), plan.cpus.to_string()]);
    args.push([
        "-drive".to_owned(),
        format!(
            "if=pflash,format=raw,unit=0,readonly=on,file={}",
            escape(&plan.firmware_code)
        ),
    ]);
    args.push([
        "-drive".to_owned(),
        format!("if=pflash,format=raw,unit=1,file={}", escape(&plan.vars)),
    ]);
    args.push([
        "-drive".to_owned(),
        format!(
            "if=none,id=disk0,format={},discard=unmap,file={}",
            plan.disk_format,
            escape(&plan.disk)
        ),
    ]);
    args.push(["-device", "virtio-blk-pci,drive=disk0,bootindex=1"]);
    if let Some(socket) = &plan.tpm_socket {
        args.push([
            "-chardev".to_owned(),
            format!("socket,id=chrtpm,path={}", escape(socket)),
        ]);
        args.push(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"]);
        args.push(["-device", "tpm-tis,tpmdev=tpm0"]);
    }
    if let Some(uuid) = plan.uuid {
        args.push(["-uuid".to_owned(), uuid.hyphenated().to_string()]);
    }
    if plan.forwards.is_empty() {
        args.push(["-nic", "none"]);
    } else {
        // restrict=on: the guest reaches nothing but the forwards (and the user
        // network's own DHCP and DNS answers).
        let mut netdev = String::from("user,id=net0,restrict=on");
        for f in &plan.forwards {
            // One relay process per guest connection (a `tcp:` chardev would be a
            // single connection, opened when QEMU starts). QEMU splits the command at
            // spaces; commas are doubled.
            netdev.push_str(&format!(
                ",guestfwd=tcp:{}:{}-cmd:{}",
                crate::config::FORWARD_ADDRESS,
                f.guest_port,
                f.relay.join(" ").replace(',', ",,")
            ));
        }
        args.push(["-netdev".to_owned(), netdev]);
        args.push(["-device", "virtio-net-pci,netdev=net0"]);
    }
    args.push(["-display", "none"]);
    args.push(["-vga", "none"]);
    // The console is QEMU's stdout, which we read (and copy to the log and, for a
    // person, to the terminal).
    if plan.console == Console::Terminal && plan.interactive {
        // `-serial mon:stdio` with signal=off: Ctrl-C goes to the guest like on a real
        // serial line; Ctrl-A x quits QEMU.
        args.push(["-chardev", "stdio,id=con0,mux=on,signal=off"]);
        args.push(["-serial", "chardev:con0"]);
        args.push(["-mon", "chardev=con0,mode=readline"]);
    } else {
        args.push(["-serial", "stdio"]);
        args.push(["-monitor", "none"]);
    }
    if plan.no_reboot {
        args.push(["-no-reboot"]);
    }
    args.0.extend(plan.extra.iter().map(OsString::from));
    args.0
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push<const N: usize, S: Into<OsString>>(&mut self, items: [S; N]) {
        self.0.extend(items.map(Into::into));
    }
}

/// QEMU's option syntax separates key=value pairs with commas; a comma inside a value is
/// written twice.
fn escape(path: &Path) -> String {
    path.to_string_lossy().replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            accel: Accel::Tcg,
            firmware_code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd".into(),
            vars: "/run/x/OVMF_VARS.fd".into(),
            disk: "/run/x/a,b.qcow2".into(),
            disk_format: "qcow2",
            memory_mib: 2048,
            cpus: 2,
            uuid: Some(Uuid::from_u128(0x6f1c2a4e_0b7d_4c3e_9a55_1f2e3d4c5b6a)),
            tpm_socket: Some("/tmp/s/swtpm.sock".into()),
            console: Console::LogOnly,
            interactive: false,
            no_reboot: true,
            extra: vec!["-S".into()],
            forwards: Vec::new(),
        }
    }

    fn text(plan: &Plan) -> String {
        qemu_args(plan)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn log_only_command_line() {
        assert_eq!(
            text(&plan()),
            "-name stela -accel tcg,thread=single -machine q35,smm=on \
             -global driver=cfi.pflash01,property=secure,value=on -global ICH9-LPC.disable_s3=1 \
             -cpu max -m 2048 -smp 2 \
             -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd \
             -drive if=pflash,format=raw,unit=1,file=/run/x/OVMF_VARS.fd \
             -drive if=none,id=disk0,format=qcow2,discard=unmap,file=/run/x/a,,b.qcow2 \
             -device virtio-blk-pci,drive=disk0,bootindex=1 \
             -chardev socket,id=chrtpm,path=/tmp/s/swtpm.sock \
             -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
             -uuid 6f1c2a4e-0b7d-4c3e-9a55-1f2e3d4c5b6a \
             -nic none -display none -vga none -serial stdio -monitor none -no-reboot -S"
        );
    }

    #[test]
    fn interactive_terminal_muxes_the_monitor() {
        let mut p = plan();
        p.console = Console::Terminal;
        p.interactive = true;
        p.tpm_socket = None;
        p.uuid = None;
        let t = text(&p);
        assert!(t.contains("-chardev stdio,id=con0,mux=on,signal=off -serial chardev:con0 -mon chardev=con0,mode=readline"), "{t}");
        assert!(!t.contains("tpm"), "{t}");
        assert!(!t.contains("-uuid"), "{t}");
    }
}
