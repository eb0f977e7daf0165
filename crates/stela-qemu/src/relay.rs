//! The other end of a guest forward. QEMU's user network hands each guest connection to
//! a `guestfwd=...-cmd:` program on its standard input and output (a chardev target
//! would be one connection for the machine's whole life, opened when QEMU starts); the
//! program connects to the host port and copies both ways until either side closes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// Copy standard input to `127.0.0.1:port` and what comes back to standard output,
/// until both directions ended. A connection that stays silent for `idle` ends.
pub fn relay(port: u16, idle: Duration) -> std::io::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(idle))?;
    stream.set_write_timeout(Some(idle))?;
    let mut to_host = stream.try_clone()?;
    let upstream = std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to_host.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to_host.shutdown(Shutdown::Write);
    });
    let mut from_host = stream;
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 << 10];
    let result = loop {
        match from_host.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()) {
                    break Err(e);
                }
            }
            Err(e) => break Err(e),
        }
    };
    let _ = from_host.shutdown(Shutdown::Both);
    // The guest side ends when the guest closes; it cannot outlive the connection's use.
    drop(upstream);
    result
}
