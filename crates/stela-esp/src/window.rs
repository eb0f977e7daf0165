//! A byte range of a larger file, seen as a whole stream.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// `len` bytes of `inner` starting at `start`, as a `Read + Write + Seek` stream of its
/// own: the file system inside a partition writes at offsets relative to the partition.
/// Writes past the end fail instead of spilling into the next partition.
#[derive(Debug)]
pub struct Window<F> {
    inner: F,
    start: u64,
    len: u64,
    pos: u64,
}

impl<F: Seek> Window<F> {
    /// The window `start..start + len` of `inner`.
    pub fn new(mut inner: F, start: u64, len: u64) -> io::Result<Window<F>> {
        inner.seek(SeekFrom::Start(start))?;
        Ok(Window {
            inner,
            start,
            len,
            pos: 0,
        })
    }

    /// Returns the underlying stream.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Read + Seek> Read for Window<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let read = self.inner.read(&mut buf[..n])?;
        self.pos += read as u64;
        Ok(read)
    }
}

impl<F: Write + Seek> Write for Window<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        if buf.len() as u64 > left {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write of {} bytes at offset {} passes the end of the {}-byte region",
                    buf.len(),
                    self.pos,
                    self.len
                ),
            ));
        }
        let written = self.inner.write(buf)?;
        self.pos += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<F: Seek> Seek for Window<F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the region",
            )
        })?;
        self.inner.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn window_is_bounded() {
        let mut w = Window::new(Cursor::new(vec![0u8; 16]), 4, 8).unwrap();
        w.write_all(b"abcdefgh").unwrap();
        assert_eq!(
            w.write(b"x").map_err(|e| e.kind()).unwrap_err(),
            io::ErrorKind::WriteZero
        );
        assert_eq!(w.seek(SeekFrom::End(-2)).unwrap(), 6);
        let mut rest = Vec::new();
        w.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"gh");
        assert_eq!(
            w.seek(SeekFrom::Current(-9))
                .map_err(|e| e.kind())
                .unwrap_err(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            &w.into_inner().into_inner()[..],
            b"\0\0\0\0abcdefgh\0\0\0\0"
        );
    }
}
