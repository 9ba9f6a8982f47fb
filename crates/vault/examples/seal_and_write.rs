//! Seal 1 GiB of generated content and write it into a chunk store, three ways, to show what
//! the allocator costs: seal only, seal and write on one thread, seal on one thread while another
//! writes (as `vault add` and `bench vault` do), beside plain 1 MiB file writes.
//!
//! ```sh
//! cargo build --release -p lightstreams-vault --example seal_and_write
//! DIR=/dev/shm target/release/examples/seal_and_write            # glibc defaults
//! DIR=/dev/shm GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216:glibc.malloc.arena_max=2 \
//!     target/release/examples/seal_and_write                     # what the `lightstreams` binary sets
//! ```
//! `DIR` (default: the system temp directory) is where the stores go; `SIZE_MIB` the amount.

use std::io::Read;
use std::time::Instant;

use lightstreams_vault::{ChunkStore, ContentKey, Encryptor, ItemId, SealedChunk};

/// `left` bytes cycling over a fixed 1 MiB block.
struct Generated {
    left: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out
            .len()
            .min(self.block.len() - self.pos)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn generated(size: u64) -> Generated {
    Generated {
        left: size,
        block: (0..1usize << 20).map(|i| (i * 7 + 3) as u8).collect(),
        pos: 0,
    }
}

fn report(what: &str, size: u64, started: Instant) {
    println!(
        "{what:<28} {:>6.0} MB/s",
        size as f64 / started.elapsed().as_secs_f64() / 1e6
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size = std::env::var("SIZE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        << 20;
    let base = std::env::var("DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::tempdir_in(base)?;
    let key = ContentKey::random();
    let item = ItemId::random();

    let started = Instant::now();
    for chunk in Encryptor::new(generated(size), &key, item, 0) {
        std::hint::black_box(chunk?);
    }
    report("seal only", size, started);

    let store = ChunkStore::open(&dir.path().join("one"))?;
    let started = Instant::now();
    for chunk in Encryptor::new(generated(size), &key, item, 0) {
        let chunk = chunk?;
        store.put_prehashed(&chunk.address, &chunk.bytes)?;
    }
    report("seal + write, one thread", size, started);

    let store = ChunkStore::open(&dir.path().join("two"))?;
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), lightstreams_vault::Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<SealedChunk>(4);
        let writer = scope.spawn(move || -> Result<(), lightstreams_vault::Error> {
            for chunk in rx {
                store.put_prehashed(&chunk.address, &chunk.bytes)?;
            }
            Ok(())
        });
        for chunk in Encryptor::new(generated(size), &key, item, 0) {
            if tx.send(chunk?).is_err() {
                break;
            }
        }
        drop(tx);
        writer.join().unwrap_or_else(|_| {
            Err(lightstreams_vault::Error::Format(
                "the writer panicked".into(),
            ))
        })
    })?;
    report("seal + write, two threads", size, started);

    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain)?;
    let block = vec![5u8; 1 << 20];
    let started = Instant::now();
    for i in 0..size >> 20 {
        std::fs::write(plain.join(i.to_string()), &block)?;
    }
    report("plain 1 MiB file writes", size, started);
    Ok(())
}
