//! Round trips, ranges, tampering and the no-plaintext invariant of the vault formats.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::io::Read;

use lightstreams_vault::{
    Address, CHUNK_SIZE, ChunkSource, ChunkStore, ContentKey, Encryptor, Error, ItemId, Manifest,
    RangeReader, Spares, VersionOpener, chunk_bucket, open_manifest,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A deterministic pseudo-random stream of `len` bytes (never held in memory at once); byte
/// `i` depends only on (seed, i), however the stream is read.
struct Pattern {
    seed: u64,
    pos: u64,
    len: u64,
}

impl Pattern {
    fn new(seed: u64, len: u64) -> Self {
        Self { seed, pos: 0, len }
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.pos) as usize);
        for b in &mut buf[..n] {
            let word = splitmix(self.seed ^ (self.pos / 8));
            *b = (word >> ((self.pos % 8) * 8)) as u8;
            self.pos += 1;
        }
        Ok(n)
    }
}

fn pattern_bytes(seed: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::new();
    Pattern::new(seed, len).read_to_end(&mut out).unwrap();
    out
}

fn seal_into(
    store: &ChunkStore,
    input: impl Read,
    key: &ContentKey,
    item: ItemId,
) -> (Manifest, VersionOpener) {
    let mut enc = Encryptor::new(input, key, item, 0);
    for chunk in enc.by_ref() {
        let chunk = chunk.unwrap();
        assert_eq!(
            chunk.bytes.len() % 4096,
            16,
            "sealed sizes are buckets + tag"
        );
        store.put(&chunk.address, &chunk.bytes).unwrap();
    }
    let (manifest, blob) = enc
        .finish("f.bin", "application/octet-stream", 0, None, 1)
        .unwrap();
    store.put(&blob.address, &blob.bytes).unwrap();
    let stored = store.get(&blob.address).unwrap().unwrap();
    let (opened, opener) = open_manifest(key, item, 0, &stored, Some(blob.address)).unwrap();
    assert_eq!(opened, manifest);
    (manifest, opener)
}

fn read_all(
    manifest: &Manifest,
    opener: &VersionOpener,
    store: &ChunkStore,
    start: u64,
    end: u64,
) -> Vec<u8> {
    let mut out = Vec::new();
    RangeReader::new(manifest, opener, store, start, end)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn round_trip_edge_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    for (seed, size) in [
        0u64,
        1,
        CHUNK_SIZE as u64 - 1,
        CHUNK_SIZE as u64,
        CHUNK_SIZE as u64 + 1,
        3 * CHUNK_SIZE as u64 + 12345,
    ]
    .into_iter()
    .enumerate()
    {
        let key = ContentKey::random();
        let item = ItemId::random();
        let data = pattern_bytes(seed as u64, size);
        let (manifest, opener) = seal_into(&store, &data[..], &key, item);
        assert_eq!(manifest.size, size);
        assert_eq!(
            manifest.chunks.len() as u64,
            size.div_ceil(CHUNK_SIZE as u64).max(1)
        );
        if size > 0 {
            assert_eq!(
                read_all(&manifest, &opener, &store, 0, size - 1),
                data,
                "size {size}"
            );
        }
    }
}

#[test]
fn hundred_mib_streams_and_random_ranges_decrypt() {
    const SIZE: u64 = 100 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let key = ContentKey::random();
    let item = ItemId::random();
    let (manifest, opener) = seal_into(&store, Pattern::new(7, SIZE), &key, item);
    assert_eq!(manifest.size, SIZE);
    // The whole file, compared against the generator in 1 MiB steps (never all in memory).
    let mut reader = RangeReader::new(&manifest, &opener, &store, 0, SIZE - 1).unwrap();
    let mut expected = Pattern::new(7, SIZE);
    let mut a = vec![0u8; 1 << 20];
    let mut b = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = read_full(&mut reader, &mut a);
        if n == 0 {
            break;
        }
        assert_eq!(read_full(&mut expected, &mut b[..n]), n);
        assert!(a[..n] == b[..n], "mismatch near byte {total}");
        total += n as u64;
    }
    assert_eq!(total, SIZE);
    // Random ranges.
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..20 {
        let start = rng.gen_range(0..SIZE);
        let end = (start + rng.gen_range(0..3 * CHUNK_SIZE as u64)).min(SIZE - 1);
        let got = read_all(&manifest, &opener, &store, start, end);
        let mut want = vec![0u8; (end - start + 1) as usize];
        let mut gen_ = Pattern::new(7, SIZE);
        std::io::copy(&mut (&mut gen_).take(start), &mut std::io::sink()).unwrap();
        gen_.read_exact(&mut want).unwrap();
        assert!(got == want, "range {start}-{end}");
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).unwrap() {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

#[test]
fn tampering_is_detected_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let key = ContentKey::random();
    let item = ItemId::random();
    let data = pattern_bytes(1, 2 * CHUNK_SIZE as u64 + 10);
    let mut enc = Encryptor::new(&data[..], &key, item, 0);
    let chunks: Vec<_> = enc.by_ref().map(|c| c.unwrap()).collect();
    let (_, blob) = enc.finish("x", "y", 0, None, 0).unwrap();
    let (_, opener) = open_manifest(&key, item, 0, &blob.bytes, Some(blob.address)).unwrap();

    // A flipped bit in a chunk: the hash no longer matches.
    let mut bad = chunks[0].bytes.clone();
    bad[100] ^= 1;
    assert!(matches!(
        opener.open_chunk(0, &bad, &chunks[0].address),
        Err(Error::Corrupt { .. })
    ));
    // Even where the caller vouches for the hash, the AEAD still refuses a flipped bit.
    assert!(matches!(
        opener.open_hashed_chunk(0, bad.clone()),
        Err(Error::Decrypt { .. })
    ));
    assert!(opener.open_hashed_chunk(0, chunks[0].bytes.clone()).is_ok());
    // Swapped chunks: refused.
    assert!(
        opener
            .open_chunk(0, &chunks[1].bytes, &chunks[1].address)
            .is_err()
    );
    // A tampered manifest: hash mismatch, and without the hash check the AEAD fails.
    let mut bad_manifest = blob.bytes.clone();
    let last = bad_manifest.len() - 1;
    bad_manifest[last] ^= 1;
    assert!(matches!(
        open_manifest(&key, item, 0, &bad_manifest, Some(blob.address)),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        open_manifest(&key, item, 0, &bad_manifest, None),
        Err(Error::Decrypt { .. })
    ));
    // The wrong key, item or version: refused.
    assert!(open_manifest(&ContentKey::random(), item, 0, &blob.bytes, None).is_err());
    assert!(open_manifest(&key, ItemId::random(), 0, &blob.bytes, None).is_err());
    assert!(open_manifest(&key, item, 1, &blob.bytes, None).is_err());
    // Garbage never panics.
    for len in [0usize, 1, 16, 100, 1056, 5000] {
        let junk = vec![0xabu8; len];
        assert!(open_manifest(&key, item, 0, &junk, None).is_err());
        assert!(opener.open_chunk(0, &junk, &chunks[0].address).is_err());
    }
    // A corrupted file in the store is reported on read.
    store.put(&chunks[0].address, &chunks[0].bytes).unwrap();
    let hex = hex::encode(chunks[0].address.0);
    let path = dir.path().join(&hex[..2]).join(&hex);
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[5] ^= 0xff;
    std::fs::write(&path, on_disk).unwrap();
    assert!(matches!(
        store.get(&chunks[0].address),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn store_refuses_mismatched_bytes_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let address = Address::of(b"right");
    assert!(store.put(&address, b"wrong").is_err());
    assert_eq!(store.stats().unwrap().count, 0);
    assert!(!store.contains(&address));
    store.put(&address, b"right").unwrap();
    store.put(&address, b"right").unwrap();
    assert_eq!(store.stats().unwrap().count, 1);
    store.delete(&address).unwrap();
    assert_eq!(store.get(&address).unwrap(), None);
}

#[test]
fn no_plaintext_reaches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let marker: [u8; 24] = rand::random();
    let mut data = Vec::new();
    for _ in 0..50_000 {
        data.extend_from_slice(&marker);
    }
    let key = ContentKey::random();
    seal_into(&store, &data[..], &key, ItemId::random());
    let mut files = 0;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext in {}",
            entry.display()
        );
        files += 1;
    }
    assert!(files >= 3);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn buckets_hide_exact_sizes() {
    assert_eq!(chunk_bucket(0), 4096);
    assert_eq!(chunk_bucket(1), 4096);
    assert_eq!(chunk_bucket(4097), 8192);
    assert_eq!(chunk_bucket(CHUNK_SIZE - 1), CHUNK_SIZE);
    assert_eq!(chunk_bucket(CHUNK_SIZE), CHUNK_SIZE);
    let mut sizes = HashMap::new();
    for len in [5000usize, 6000, 7000, 8000] {
        sizes.insert(chunk_bucket(len), len);
    }
    assert_eq!(
        sizes.len(),
        1,
        "sizes within a bucket are indistinguishable"
    );
}

#[test]
fn streamed_writes_store_only_what_hashes_to_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let bytes = pattern_bytes(7, 3 * 64 * 1024 + 5);
    let address = Address::of(&bytes);

    // Written in pieces: stored, readable, verified.
    let mut writer = store.writer(&address).unwrap();
    for piece in bytes.chunks(64 * 1024) {
        writer.write(piece).unwrap();
    }
    assert!(writer.finish().unwrap());
    assert_eq!(store.get(&address).unwrap().unwrap(), bytes);
    // Written again: nothing new is stored.
    let mut again = store.writer(&address).unwrap();
    again.write(&bytes).unwrap();
    assert!(!again.finish().unwrap());

    // Bytes that do not hash to the address: refused, nothing stored, no temporary left.
    let other = pattern_bytes(8, 1000);
    let claimed = Address::of(&pattern_bytes(9, 1000));
    let mut wrong = store.writer(&claimed).unwrap();
    wrong.write(&other).unwrap();
    assert!(matches!(wrong.finish(), Err(Error::Corrupt { .. })));
    assert!(!store.contains(&claimed));
    // A writer dropped half way leaves nothing either.
    let mut dropped = store.writer(&claimed).unwrap();
    dropped.write(&other[..10]).unwrap();
    drop(dropped);
    assert_eq!(store.stats().unwrap().count, 1);
    assert_eq!(walk(dir.path()).len(), 1, "only the stored blob is on disk");
}

/// A store that hands out chunks and takes their buffers back, counting them.
struct Recycling<'a> {
    store: &'a ChunkStore,
    spares: Spares,
}

impl ChunkSource for Recycling<'_> {
    fn fetch(&self, index: u64, address: &Address) -> Result<Vec<u8>, Error> {
        self.store.fetch(index, address)
    }

    fn recycle(&self, buffer: Vec<u8>) {
        self.spares.give(buffer);
    }
}

#[test]
fn buffers_are_reused_and_read_without_a_copy_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).unwrap();
    let key = ContentKey::random();
    let item = ItemId::random();
    let len = 3 * CHUNK_SIZE as u64 + 5;

    // Sealing with spares: each chunk given back is the buffer the next chunk is sealed in.
    let spares = std::sync::Arc::new(Spares::new());
    let mut enc = Encryptor::new(Pattern::new(9, len), &key, item, 0).with_spares(spares.clone());
    let mut previous = None;
    for chunk in enc.by_ref() {
        let chunk = chunk.unwrap();
        if let Some(ptr) = previous {
            assert_eq!(chunk.bytes.as_ptr(), ptr, "the buffer given back is reused");
        }
        store.put(&chunk.address, &chunk.bytes).unwrap();
        previous = Some(chunk.bytes.as_ptr());
        spares.give(chunk.bytes);
    }
    let (manifest, blob) = enc
        .finish("f.bin", "application/octet-stream", 0, None, 1)
        .unwrap();
    let (_, opener) = open_manifest(&key, item, 0, &blob.bytes, Some(blob.address)).unwrap();

    // Reading through BufRead: the slices are the decrypted chunks themselves; the bytes are
    // the same as through Read, for the whole file and for a range across chunk boundaries.
    let source = Recycling {
        store: &store,
        spares: Spares::new(),
    };
    let expected = pattern_bytes(9, len);
    for (start, end) in [
        (0, len - 1),
        (CHUNK_SIZE as u64 - 3, 2 * CHUNK_SIZE as u64 + 7),
    ] {
        let mut reader = RangeReader::new(&manifest, &opener, &source, start, end).unwrap();
        let mut out = Vec::new();
        loop {
            let piece = std::io::BufRead::fill_buf(&mut reader).unwrap();
            if piece.is_empty() {
                break;
            }
            assert!(piece.len() <= CHUNK_SIZE);
            let n = piece.len();
            out.extend_from_slice(piece);
            std::io::BufRead::consume(&mut reader, n);
        }
        assert_eq!(out, expected[start as usize..=end as usize]);
        assert_eq!(
            read_all(&manifest, &opener, &store, start, end),
            out,
            "Read and BufRead agree"
        );
    }
    // Each chunk a reader moved past went back to the source: chunks 0-2 of the first read
    // (which still holds chunk 3), chunks 0 and 1 of the second (which still holds chunk 2).
    assert_eq!(source.spares.len(), 3 + 2);
}

/// Looking into a store that does not exist finds nothing and does not create it (a node's
/// scrubber reading an item whose directory is being deleted must not bring it back); the
/// first write creates it.
#[test]
fn a_missing_store_is_not_created_by_reading() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("gone").join("blobs");
    let store = ChunkStore::at(&root);
    let bytes = b"sealed bytes".to_vec();
    let address = Address::of(&bytes);
    assert_eq!(store.get(&address).unwrap(), None);
    assert!(store.addresses().unwrap().is_empty());
    store.delete(&address).unwrap();
    assert!(!dir.path().join("gone").exists(), "reads created the store");
    store.put(&address, &bytes).unwrap();
    assert_eq!(store.get(&address).unwrap(), Some(bytes));
    assert_eq!(store.addresses().unwrap(), vec![address]);
}
