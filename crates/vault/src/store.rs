//! Sealed blobs on disk, by address.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::ids::Address;

/// A directory of sealed blobs named by their BLAKE3 address, sharded by the first byte
/// (`dir/ab/ab12...`). Writes go to a temporary file in the same directory and are renamed into
/// place, so a failed or interrupted write never leaves a partial blob under its name; every
/// read re-verifies the hash, so a damaged file is reported, never returned. A blob is durable
/// when a put returns: its data is synced to disk before the rename and its directory after
/// (as IPFS's flatfs does by default), so a node that acknowledged an upload still holds it
/// after a crash or power loss.
#[derive(Clone, Debug)]
pub struct ChunkStore {
    dir: PathBuf,
}

/// How much a store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Number of blobs.
    pub count: u64,
    /// Total bytes.
    pub bytes: u64,
}

impl ChunkStore {
    /// Open (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The store in `dir`, without creating it: reads of a missing store find nothing, and the
    /// first write creates it. (A reader must not bring back a directory that is being
    /// deleted.)
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, address: &Address) -> PathBuf {
        let hex = hex::encode(address.0);
        self.dir.join(&hex[..2]).join(hex)
    }

    /// Store `bytes` under `address`, which must be their BLAKE3 hash. Storing a blob that is
    /// already there is a no-op.
    pub fn put(&self, address: &Address, bytes: &[u8]) -> Result<(), Error> {
        address.check(bytes)?;
        self.put_prehashed(address, bytes)
    }

    /// Store `bytes` under `address` when the caller has just checked that `address` is their
    /// BLAKE3 hash (it saves hashing twice). Reads re-verify regardless.
    pub fn put_prehashed(&self, address: &Address, bytes: &[u8]) -> Result<(), Error> {
        let path = self.path(address);
        if path.exists() {
            return Ok(());
        }
        let shard = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(shard)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(shard)?;
        tmp.write_all(bytes)?;
        persist_durably(tmp, &path)
    }

    /// Start writing the blob that should hash to `address`, piece by piece as it arrives
    /// (nothing is buffered): [`BlobWriter::finish`] stores it only if the bytes hash to it.
    pub fn writer(&self, address: &Address) -> Result<BlobWriter, Error> {
        let path = self.path(address);
        let tmp = if path.exists() {
            None
        } else {
            let shard = path.parent().unwrap_or(&self.dir);
            std::fs::create_dir_all(shard)?;
            Some(
                tempfile::Builder::new()
                    .prefix(".tmp-")
                    .tempfile_in(shard)?,
            )
        };
        Ok(BlobWriter {
            tmp,
            hasher: blake3::Hasher::new(),
            path,
            expected: *address,
        })
    }

    /// The blob at `address` as stored, not verified (for callers that verify it themselves);
    /// `None` if absent.
    pub fn get_unverified(&self, address: &Address) -> Result<Option<Vec<u8>>, Error> {
        match std::fs::read(self.path(address)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Read the blob at `address`, as stored and not verified, into `buffer` (cleared first;
    /// its allocation is reused). `false` if absent.
    pub fn read_into(&self, address: &Address, buffer: &mut Vec<u8>) -> Result<bool, Error> {
        buffer.clear();
        let mut file = match std::fs::File::open(self.path(address)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::Io(e)),
        };
        std::io::Read::read_to_end(&mut file, buffer)?;
        Ok(true)
    }

    /// The blob at `address`, verified; `None` if absent.
    pub fn get(&self, address: &Address) -> Result<Option<Vec<u8>>, Error> {
        let Some(bytes) = self.get_unverified(address)? else {
            return Ok(None);
        };
        address.check(&bytes)?;
        Ok(Some(bytes))
    }

    /// Whether a blob is stored under `address` (not verified).
    pub fn contains(&self, address: &Address) -> bool {
        self.path(address).exists()
    }

    /// Remove the blob at `address`; absent is fine.
    pub fn delete(&self, address: &Address) -> Result<(), Error> {
        match std::fs::remove_file(self.path(address)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Every stored address (unverified; temporary files skipped); none if the store does not
    /// exist.
    pub fn addresses(&self) -> Result<Vec<Address>, Error> {
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&self.dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::Io(e)),
        };
        for shard in shards {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let name = entry?.file_name();
                let mut address = [0u8; 32];
                if hex::decode_to_slice(name.to_string_lossy().as_bytes(), &mut address).is_ok() {
                    out.push(Address(address));
                }
            }
        }
        Ok(out)
    }

    /// Count the blobs and their bytes.
    pub fn stats(&self) -> Result<StoreStats, Error> {
        let mut stats = StoreStats::default();
        for shard in std::fs::read_dir(&self.dir)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(shard.path())? {
                let entry = entry?;
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                stats.count += 1;
                stats.bytes += entry.metadata()?.len();
            }
        }
        Ok(stats)
    }
}

/// A blob being written to a [`ChunkStore`] and hashed as its pieces arrive. Dropped
/// without [`BlobWriter::finish`], it leaves nothing behind.
#[derive(Debug)]
pub struct BlobWriter {
    /// `None` when the blob is already stored: the bytes are then only hashed.
    tmp: Option<tempfile::NamedTempFile>,
    hasher: blake3::Hasher,
    path: PathBuf,
    expected: Address,
}

impl BlobWriter {
    /// Append the next piece of the blob.
    pub fn write(&mut self, piece: &[u8]) -> Result<(), Error> {
        self.hasher.update(piece);
        if let Some(tmp) = &mut self.tmp {
            tmp.write_all(piece)?;
        }
        Ok(())
    }

    /// Store the blob under its address if the bytes written hash to it ([`Error::Corrupt`]
    /// otherwise, and nothing is stored). `true` if this call stored it, `false` if it was
    /// already there.
    pub fn finish(self) -> Result<bool, Error> {
        self.expected
            .expect(Address(*self.hasher.finalize().as_bytes()))?;
        let Some(tmp) = self.tmp else {
            return Ok(false);
        };
        persist_durably(tmp, &self.path)?;
        Ok(true)
    }
}

/// Sync `tmp`'s data, rename it to `path`, then sync the directory that holds the new name.
fn persist_durably(tmp: tempfile::NamedTempFile, path: &Path) -> Result<(), Error> {
    tmp.as_file().sync_data()?;
    tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A reader's source: the bytes are not hashed here, because the [`crate::VersionOpener`]
/// verifies every chunk against its address before it decrypts it (hashing twice would halve
/// the read rate for nothing).
impl crate::stream::ChunkSource for ChunkStore {
    fn fetch(&self, index: u64, address: &Address) -> Result<Vec<u8>, Error> {
        self.get_unverified(address)?.ok_or_else(|| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("chunk {index} ({address}) is not in the store"),
            ))
        })
    }
}
