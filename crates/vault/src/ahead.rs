//! Reading ahead: a few threads fetch and verify the next chunks while the caller's thread
//! decrypts them in order and writes the plaintext out.
//!
//! The chunks of a range are dealt out like cards: lane `l` fetches chunks `l`, `l + lanes`,
//! `l + 2 lanes`, ... (counted from the range's first chunk), a run of them per call where the
//! source can fetch several at once. The reader takes chunks from the lanes in turn, so every lane
//! keeps working a chunk or two ahead: fetching, hashing and decrypting overlap, and memory stays
//! at a few chunks per lane, whatever the size of the range.

use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender};

use crate::error::Error;
use crate::format::{CHUNK_SIZE, Manifest, VersionOpener};
use crate::ids::Address;
use crate::spares::Spares;
use crate::store::ChunkStore;
use crate::stream::{ChunkSource, RangeReader, check_range};

/// One fetched chunk: its index and its sealed bytes, already checked against its address (or
/// why it could not be fetched).
pub type Fetched = (u64, Result<Vec<u8>, Error>);

/// Where the lanes of [`read_ahead`] fetch chunks from.
pub trait FetchAhead: Sync {
    /// How many of a lane's chunks one [`FetchAhead::fetch_run`] call asks for (more than one
    /// where a single request can fetch several).
    fn run(&self) -> usize {
        1
    }

    /// Fetch chunks `indices` (ascending; `chunks` are the manifest's addresses), check each
    /// against its address, and send each in order to `tx` (a chunk that cannot be fetched or
    /// fails its check is sent as its error). `false` once `tx`'s reader has gone away or the
    /// source cannot go on: the lane then stops.
    fn fetch_run(&self, chunks: &[Address], indices: &[u64], tx: &SyncSender<Fetched>) -> bool;

    /// Take back the buffer of a chunk once the reader has written its plaintext out.
    fn recycle(&self, buffer: Vec<u8>) {
        drop(buffer);
    }
}

/// Decrypt bytes `start..=end` (inclusive) of the version `opener` opens into `out`, with
/// `lanes` threads fetching and verifying chunks from `source` ahead of this one, which decrypts
/// them in order. `progress` hears of each piece of plaintext written. Memory: a few chunks per
/// lane. A chunk that cannot be fetched, or fails its check, ends the read with its error; no
/// byte of it is written.
#[allow(clippy::too_many_arguments)]
pub fn read_ahead<S: FetchAhead + ?Sized>(
    manifest: &Manifest,
    opener: &VersionOpener,
    source: &S,
    lanes: usize,
    start: u64,
    end: u64,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> Result<(), Error> {
    check_range(manifest, start, end)?;
    let (first, last) = (start / CHUNK_SIZE as u64, end / CHUNK_SIZE as u64);
    let lanes = (lanes.max(1) as u64).min(last - first + 1);
    let run = source.run().max(1);
    let chunks = &manifest.chunks;
    std::thread::scope(|scope| {
        let mut receivers = Vec::new();
        for lane in 0..lanes {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            receivers.push(rx);
            scope.spawn(move || {
                let mine: Vec<u64> = (first + lane..=last).step_by(lanes as usize).collect();
                for indices in mine.chunks(run) {
                    if !source.fetch_run(chunks, indices, &tx) {
                        break;
                    }
                }
            });
        }
        // Returning drops the lanes' receivers first, so a lane blocked on a send stops and
        // the scope can end.
        let ahead = Lanes {
            first,
            lanes: receivers,
            source,
        };
        let mut reader = RangeReader::new(manifest, opener, &ahead, start, end)?;
        // Straight from each decrypted chunk to `out`, no copy in between.
        loop {
            let plain = std::io::BufRead::fill_buf(&mut reader)?;
            if plain.is_empty() {
                break;
            }
            let n = plain.len();
            out.write_all(plain)?;
            std::io::BufRead::consume(&mut reader, n);
            progress(n as u64);
        }
        out.flush()?;
        Ok(())
    })
}

/// The lanes' chunks, handed to the reader in order (chunk `first + k` arrives on lane
/// `k mod lanes`).
struct Lanes<'a, S: ?Sized> {
    first: u64,
    lanes: Vec<Receiver<Fetched>>,
    source: &'a S,
}

impl<S: FetchAhead + ?Sized> ChunkSource for Lanes<'_, S> {
    fn fetch(&self, index: u64, _address: &Address) -> Result<Vec<u8>, Error> {
        let stopped = || Error::Io(std::io::Error::other("the chunk fetcher stopped"));
        let lane = index
            .checked_sub(self.first)
            .map(|k| (k % self.lanes.len().max(1) as u64) as usize)
            .and_then(|lane| self.lanes.get(lane))
            .ok_or_else(stopped)?;
        let (got, bytes) = lane.recv().map_err(|_| stopped())?;
        if got != index {
            return Err(Error::Format(format!(
                "chunks arrived out of order: wanted {index}, got {got}"
            )));
        }
        bytes
    }

    /// Every chunk was checked against its address on its lane.
    fn verifies(&self) -> bool {
        true
    }

    fn recycle(&self, buffer: Vec<u8>) {
        self.source.recycle(buffer);
    }
}

/// A [`ChunkStore`]'s chunks for [`read_ahead`]: each lane reads a chunk's file into a buffer
/// the reader gave back (no fresh pages per chunk) and hashes it, so reading the disk, hashing
/// and decrypting run on different cores.
#[derive(Debug)]
pub struct StoreLanes<'a> {
    store: &'a ChunkStore,
    spares: Spares,
}

impl ChunkStore {
    /// This store as a source for [`read_ahead`].
    pub fn lanes(&self) -> StoreLanes<'_> {
        StoreLanes {
            store: self,
            spares: Spares::new(),
        }
    }
}

impl StoreLanes<'_> {
    fn fetch_checked(&self, index: u64, address: &Address) -> Result<Vec<u8>, Error> {
        let mut buffer = self.spares.take();
        if !self.store.read_into(address, &mut buffer)? {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("chunk {index} ({address}) is not in the store"),
            )));
        }
        address.check(&buffer)?;
        Ok(buffer)
    }
}

impl FetchAhead for StoreLanes<'_> {
    fn fetch_run(&self, chunks: &[Address], indices: &[u64], tx: &SyncSender<Fetched>) -> bool {
        for &index in indices {
            let fetched = match chunks.get(index as usize) {
                Some(address) => self.fetch_checked(index, address),
                None => Err(Error::Format(format!("no chunk {index} in the manifest"))),
            };
            let failed = fetched.is_err();
            if tx.send((index, fetched)).is_err() || failed {
                return false;
            }
        }
        true
    }

    fn recycle(&self, buffer: Vec<u8>) {
        self.spares.give(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ContentKey;
    use crate::ids::ItemId;
    use crate::stream::Encryptor;

    /// A file of `size` bytes sealed into a fresh store.
    fn sealed(
        size: usize,
    ) -> (
        tempfile::TempDir,
        ChunkStore,
        Manifest,
        VersionOpener,
        Vec<u8>,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ChunkStore::open(dir.path()).expect("store");
        let plain: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let key = ContentKey::random();
        let item = ItemId::random();
        let mut enc = Encryptor::new(&plain[..], &key, item, 0);
        for chunk in enc.by_ref() {
            let chunk = chunk.expect("seal");
            store.put(&chunk.address, &chunk.bytes).expect("put");
        }
        let (_, blob) = enc
            .finish("f", "application/octet-stream", 0, None, 0)
            .expect("read");
        let (manifest, opener) =
            crate::format::open_manifest(&key, item, 0, &blob.bytes, Some(blob.address))
                .expect("open manifest");
        (dir, store, manifest, opener, plain)
    }

    #[test]
    fn any_range_reads_back_with_any_number_of_lanes() {
        let size = 5 * CHUNK_SIZE + 123;
        let (_dir, store, manifest, opener, plain) = sealed(size);
        let ranges = [
            (0, size - 1),
            (0, 0),
            (CHUNK_SIZE - 1, CHUNK_SIZE),
            (CHUNK_SIZE + 7, 4 * CHUNK_SIZE + 9),
            (size - 1, size - 1),
        ];
        for lanes in [0, 1, 2, 3, 8] {
            for (start, end) in ranges {
                let mut out = Vec::new();
                let mut heard = 0;
                read_ahead(
                    &manifest,
                    &opener,
                    &store.lanes(),
                    lanes,
                    start as u64,
                    end as u64,
                    &mut out,
                    |n| heard += n,
                )
                .expect("read");
                assert_eq!(out, plain[start..=end], "lanes {lanes}, {start}-{end}");
                assert_eq!(heard, out.len() as u64);
            }
        }
        let err = read_ahead(
            &manifest,
            &opener,
            &store.lanes(),
            2,
            0,
            size as u64,
            &mut Vec::new(),
            |_| {},
        )
        .expect_err("the read must fail");
        assert!(err.to_string().contains("outside"), "{err}");
    }

    #[test]
    fn a_damaged_or_missing_chunk_ends_the_read_before_its_bytes() {
        let size = 4 * CHUNK_SIZE;
        let (dir, store, manifest, opener, plain) = sealed(size);
        // Damage chunk 2 on disk: chunks 0 and 1 come out, nothing of 2 or after.
        let hex = hex::encode(manifest.chunks[2].0);
        let path = dir.path().join(&hex[..2]).join(&hex);
        let mut bytes = std::fs::read(&path).expect("read chunk");
        bytes[10] ^= 1;
        std::fs::write(&path, bytes).expect("damage chunk");
        let mut out = Vec::new();
        let err = read_ahead(
            &manifest,
            &opener,
            &store.lanes(),
            3,
            0,
            size as u64 - 1,
            &mut out,
            |_| {},
        )
        .expect_err("the read must fail");
        assert!(err.to_string().contains("corrupt"), "{err}");
        assert_eq!(out, plain[..2 * CHUNK_SIZE]);
        // A missing chunk is named.
        std::fs::remove_file(&path).expect("remove chunk");
        let err = read_ahead(
            &manifest,
            &opener,
            &store.lanes(),
            2,
            2 * CHUNK_SIZE as u64,
            size as u64 - 1,
            &mut Vec::new(),
            |_| {},
        )
        .expect_err("the read must fail");
        assert!(err.to_string().contains("not in the store"), "{err}");
    }
}
