//! Throughput of `format_to` on 64 MiB in memory, and of one salted 4 KiB SHA-256 with the
//! sha2 crate against OpenSSL (the figures behind docs/decisions/0002-verity-hashing.md).

// criterion_group! makes an undocumented public function.
#![allow(missing_docs)]
use std::hint::black_box;
use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest, Sha256};
use stela_verity::{format_to, BlockSize, Header, NoProgress, Salt, VerityParams};

const DATA_SIZE: usize = 64 << 20;

fn data() -> Vec<u8> {
    // Cheap, non-repeating bytes: the content does not change SHA-256's speed.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..DATA_SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn params() -> VerityParams {
    VerityParams {
        data_block_size: BlockSize::DEFAULT,
        hash_block_size: BlockSize::DEFAULT,
        salt: Salt::new(vec![0x5a; 32]).unwrap_or_default(),
        header: Header::Superblock {
            uuid: uuid::Uuid::nil(),
        },
    }
}

fn bench_format(c: &mut Criterion) {
    let data = data();
    let params = params();
    let mut group = c.benchmark_group("format_to");
    group.throughput(Throughput::Bytes(DATA_SIZE as u64));
    group.sample_size(20);
    group.bench_function("64MiB", |b| {
        let mut out = Cursor::new(Vec::with_capacity(DATA_SIZE / 64));
        b.iter(|| {
            out.set_position(0);
            let info = format_to(
                &data[..],
                DATA_SIZE as u64,
                &mut out,
                &params,
                &mut NoProgress,
            );
            black_box(info.map(|i| i.root_hash).ok())
        })
    });
    group.finish();
}

fn bench_block_hash(c: &mut Criterion) {
    let block = vec![0xa5u8; 4096];
    let salt = [0x5au8; 32];
    let mut group = c.benchmark_group("salted_sha256_4k");
    group.throughput(Throughput::Bytes(block.len() as u64));
    group.bench_function("sha2", |b| {
        let mut salted = Sha256::new();
        salted.update(salt);
        b.iter(|| {
            let mut h = salted.clone();
            h.update(black_box(&block));
            black_box(h.finalize())
        })
    });
    group.bench_function("openssl", |b| {
        b.iter(|| {
            let mut h = openssl::sha::Sha256::new();
            h.update(&salt);
            h.update(black_box(&block));
            black_box(h.finish())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_format, bench_block_hash);
criterion_main!(benches);
