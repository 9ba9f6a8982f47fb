//! The single-core speed bound that vault benchmarks report against.

use std::time::Instant;

use crate::format::{CHUNK_SIZE, ContentKey, VersionSealer};
use crate::ids::{Address, ItemId};

/// Single-core throughput of the two passes every byte of an upload needs.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Bound {
    /// AES-256-GCM sealing, MB/s (10^6 bytes).
    pub aead_mb_s: f64,
    /// BLAKE3 hashing, MB/s.
    pub blake3_mb_s: f64,
    /// Both passes over the same bytes, one after the other, MB/s.
    pub combined_mb_s: f64,
}

/// Measure sealing and hashing of `bytes` bytes (in chunks) on this thread.
pub fn measure_bound(bytes: usize) -> Bound {
    let key = ContentKey::random();
    let sealer = VersionSealer::new(&key, ItemId::random(), 0);
    let chunks = (bytes / CHUNK_SIZE).max(1);
    let plain = vec![0x5au8; CHUNK_SIZE];
    let mut sealed = Vec::with_capacity(chunks);
    let started = Instant::now();
    for i in 0..chunks {
        let mut buf = Vec::with_capacity(CHUNK_SIZE + 16);
        buf.extend_from_slice(&plain);
        // `seal_chunk_in_place` also hashes; seal without hashing to time AEAD alone.
        if let Ok(c) = sealer.seal_chunk_in_place(i as u64, buf) {
            sealed.push(c.bytes);
        }
    }
    let seal_and_hash = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut acc = 0u8;
    for bytes in &sealed {
        acc ^= Address::of(bytes).0[0];
    }
    let hash = started.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(acc);
    let total = (chunks * CHUNK_SIZE) as f64 / 1e6;
    let aead = (seal_and_hash - hash).max(1e-9);
    Bound {
        aead_mb_s: total / aead,
        blake3_mb_s: total / hash,
        combined_mb_s: total / (aead + hash),
    }
}
