//! Hashing a tree: data blocks in parallel on all cores, upper levels as blocks complete.
//!
//! The data is read in chunks of [`CHUNK_SIZE`]; while one chunk is hashed on the rayon
//! pool the next is read, so memory stays at two chunks whatever the data size. Digests
//! are passed to a [`BlockSink`] one whole hash block at a time, each level in order:
//! the writer puts them at their offset in the hash file, the verifier compares them with
//! the stored ones. Nothing of the tree is kept beyond one partial block per level.

use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::VerityError;
use crate::layout::Layout;
use crate::params::{RootHash, Salt, DIGEST_SIZE};
use crate::progress::Progress;

/// Bytes of data read and hashed at a time: large enough that the two cores share it
/// with little overhead, small enough for two of them to stay far below the memory
/// budget. A multiple of every block size.
pub(crate) const CHUNK_SIZE: usize = 4 << 20;

/// Data blocks hashed per rayon task: fewer, larger tasks cost less to schedule.
const BLOCKS_PER_TASK: usize = 16;

/// Receives whole hash blocks, level by level, in order within a level.
pub(crate) trait BlockSink {
    /// `bytes` are hash blocks `first..` of `level` (level 0 holds the data digests).
    fn blocks(&mut self, level: usize, first: u64, bytes: &[u8]) -> Result<(), VerityError>;

    /// Whether the sink has seen enough (a verifier that found a mismatch).
    fn done(&self) -> bool {
        false
    }
}

/// The state between chunks: one partial hash block per level.
pub(crate) struct TreeBuilder<'a> {
    layout: &'a Layout,
    /// A hasher that has already taken the salt: format version 1 prepends it.
    salted: Sha256,
    pending: Vec<Vec<u8>>,
    emitted: Vec<u64>,
    root: Option<RootHash>,
}

impl<'a> TreeBuilder<'a> {
    pub(crate) fn new(layout: &'a Layout, salt: &Salt) -> Self {
        let levels = layout.levels().len();
        let mut salted = Sha256::new();
        salted.update(salt.as_bytes());
        Self {
            layout,
            salted,
            pending: vec![Vec::new(); levels],
            emitted: vec![0; levels],
            root: None,
        }
    }

    fn digest(&self, block: &[u8], out: &mut [u8]) {
        let mut h = self.salted.clone();
        h.update(block);
        out.copy_from_slice(&h.finalize());
    }

    /// Digests of the data blocks in `chunk` (a whole number of them), in parallel.
    pub(crate) fn hash_data(&self, chunk: &[u8], out: &mut Vec<u8>) {
        let dbs = self.layout.data_block_size().as_usize();
        out.resize(chunk.len() / dbs * DIGEST_SIZE, 0);
        chunk
            .par_chunks(dbs)
            .zip(out.par_chunks_mut(DIGEST_SIZE))
            .with_min_len(BLOCKS_PER_TASK)
            .for_each(|(block, digest)| self.digest(block, digest));
    }

    /// Append digests of the blocks below to `level`; emit and hash the blocks they fill.
    pub(crate) fn push(
        &mut self,
        level: usize,
        digests: &[u8],
        sink: &mut impl BlockSink,
    ) -> Result<(), VerityError> {
        if level == self.layout.levels().len() {
            // Above the top level: the one digest of the top block (or of the only data
            // block when there is no tree) is the root hash.
            debug_assert!(self.root.is_none() && digests.len() == DIGEST_SIZE);
            let mut root = [0u8; DIGEST_SIZE];
            root.copy_from_slice(&digests[digests.len() - DIGEST_SIZE..]);
            self.root = Some(RootHash::from_bytes(root));
            return Ok(());
        }
        let hbs = self.layout.hash_block_size().as_usize();
        let mut buf = std::mem::take(&mut self.pending[level]);
        buf.extend_from_slice(digests);
        let full = buf.len() / hbs * hbs;
        if full > 0 {
            self.emit(level, &buf[..full], sink)?;
            buf.drain(..full);
        }
        self.pending[level] = buf;
        Ok(())
    }

    fn emit(
        &mut self,
        level: usize,
        blocks: &[u8],
        sink: &mut impl BlockSink,
    ) -> Result<(), VerityError> {
        let hbs = self.layout.hash_block_size().as_usize();
        sink.blocks(level, self.emitted[level], blocks)?;
        self.emitted[level] += (blocks.len() / hbs) as u64;
        let mut up = vec![0u8; blocks.len() / hbs * DIGEST_SIZE];
        for (block, digest) in blocks.chunks(hbs).zip(up.chunks_mut(DIGEST_SIZE)) {
            self.digest(block, digest);
        }
        self.push(level + 1, &up, sink)
    }

    /// Pad and emit the last block of each level, bottom up; return the root hash.
    pub(crate) fn finish(mut self, sink: &mut impl BlockSink) -> Result<RootHash, VerityError> {
        let hbs = self.layout.hash_block_size().as_usize();
        for level in 0..self.layout.levels().len() {
            let mut last = std::mem::take(&mut self.pending[level]);
            if !last.is_empty() {
                last.resize(hbs, 0);
                self.emit(level, &last, sink)?;
            }
            debug_assert_eq!(self.emitted[level], self.layout.levels()[level].blocks);
        }
        Ok(self
            .root
            .expect("the layout has enough levels for the top one to yield the root"))
    }
}

/// Hash `layout.data_size()` bytes of `data` into `sink`. `None` if the sink stopped early.
pub(crate) fn hash_stream<R: Read + Send>(
    data: &mut R,
    data_name: &Path,
    layout: &Layout,
    salt: &Salt,
    sink: &mut impl BlockSink,
    progress: &mut dyn Progress,
) -> Result<Option<RootHash>, VerityError> {
    let total = layout.data_size();
    progress.start(total);
    let mut builder = TreeBuilder::new(layout, salt);
    let chunk = usize::try_from(total).map_or(CHUNK_SIZE, |t| t.min(CHUNK_SIZE));
    let mut cur = vec![0u8; chunk];
    let mut next = vec![0u8; chunk];
    let mut digests = Vec::new();
    let mut done = 0u64;

    let read = |data: &mut R, buf: &mut [u8], done: u64| -> Result<(), VerityError> {
        let got = read_full(data, buf).map_err(|source| VerityError::Read {
            path: data_name.to_owned(),
            source,
        })?;
        if got < buf.len() {
            return Err(VerityError::DataEnded {
                path: data_name.to_owned(),
                read: done + got as u64,
                expected: total,
            });
        }
        Ok(())
    };
    let chunk_len = |done: u64| (total - done).min(chunk as u64) as usize;

    let mut cur_len = chunk_len(0);
    read(data, &mut cur[..cur_len], 0)?;
    while cur_len > 0 {
        let next_done = done + cur_len as u64;
        let next_len = chunk_len(next_done);
        // Read the next chunk while the pool hashes this one: the reading thread joins
        // the hashing when its read is done.
        let (next_read, ()) = rayon::join(
            || read(data, &mut next[..next_len], next_done),
            || builder.hash_data(&cur[..cur_len], &mut digests),
        );
        next_read?;
        builder.push(0, &digests, sink)?;
        progress.advance(cur_len as u64);
        if sink.done() {
            return Ok(None);
        }
        std::mem::swap(&mut cur, &mut next);
        done = next_done;
        cur_len = next_len;
    }
    let root = builder.finish(sink)?;
    if sink.done() {
        return Ok(None);
    }
    progress.finish();
    Ok(Some(root))
}

/// Fill `buf` unless the reader ends first; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
