//! Streaming: seal a `Read` chunk by chunk, and read back any byte range chunk by chunk.

use std::io::{BufRead, Read};
use std::sync::Arc;

use crate::error::Error;
use crate::format::{
    CHUNK_SIZE, ContentKey, Manifest, SealedBlob, SealedChunk, VersionOpener, VersionSealer,
};
use crate::ids::{Address, ItemId};
use crate::spares::Spares;

/// Seals a version from any reader, one chunk at a time: iterate to get the sealed chunks
/// (store each before asking for the next), then [`Encryptor::finish`] for the manifest.
pub struct Encryptor<R> {
    reader: R,
    sealer: VersionSealer,
    item: ItemId,
    version: u64,
    index: u64,
    size: u64,
    chunks: Vec<Address>,
    done: bool,
    /// Where each chunk's buffer comes from (a pool of its own unless shared).
    spares: Arc<Spares>,
}

impl<R> std::fmt::Debug for Encryptor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("item", &self.item)
            .field("version", &self.version)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Encryptor<R> {
    /// Seal `reader` as `version` of `item` under `key`.
    pub fn new(reader: R, key: &ContentKey, item: ItemId, version: u64) -> Self {
        Self {
            reader,
            sealer: VersionSealer::new(key, item, version),
            item,
            version,
            index: 0,
            size: 0,
            chunks: Vec::new(),
            done: false,
            spares: Arc::default(),
        }
    }

    /// Take each chunk's buffer from `spares` (where whoever stores the sealed chunks gives
    /// them back) instead of allocating a new one.
    pub fn with_spares(mut self, spares: Arc<Spares>) -> Self {
        self.spares = spares;
        self
    }

    /// Fill a chunk buffer from the reader; fewer than `CHUNK_SIZE` bytes means end of input.
    fn fill(&mut self) -> std::io::Result<Vec<u8>> {
        // Room for the padded chunk and its tag, so sealing never reallocates.
        let mut buf = self.spares.take();
        // Read into the buffer as it is (`resize` zeroes only what a new or shorter one grows
        // by), in reads as large as the reader gives, until the chunk is full or the input ends.
        buf.resize(CHUNK_SIZE, 0);
        let mut filled = 0;
        while filled < CHUNK_SIZE {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// The manifest of everything sealed so far, sealed. Call after the iterator ends.
    pub fn finish(
        self,
        name: &str,
        media_type: &str,
        epoch: u64,
        previous: Option<Address>,
        created: u64,
    ) -> Result<(Manifest, SealedBlob), Error> {
        if !self.done {
            return Err(Error::Format(
                "finish called before every chunk was sealed".into(),
            ));
        }
        let manifest = Manifest {
            version: self.version,
            epoch,
            name: name.to_string(),
            media_type: media_type.to_string(),
            size: self.size,
            chunk_size: CHUNK_SIZE as u32,
            chunks: self.chunks,
            previous,
            created,
        };
        let blob = self.sealer.seal_manifest(&manifest)?;
        Ok((manifest, blob))
    }
}

impl<R: Read> Iterator for Encryptor<R> {
    type Item = Result<SealedChunk, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let buf = match self.fill() {
            Ok(buf) => buf,
            Err(e) => {
                self.done = true;
                return Some(Err(Error::Io(e)));
            }
        };
        let len = buf.len();
        if len == 0 && self.index > 0 {
            self.done = true;
            return None;
        }
        if len < CHUNK_SIZE {
            self.done = true;
        }
        let sealed = self.sealer.seal_chunk_in_place(self.index, buf);
        if let Ok(chunk) = &sealed {
            self.chunks.push(chunk.address);
            self.size += len as u64;
            self.index += 1;
        } else {
            self.done = true;
        }
        Some(sealed)
    }
}

/// Where a reader gets sealed chunks from: a local store, a vault node, peers.
pub trait ChunkSource {
    /// The sealed bytes of chunk `index`, whose address is `address`.
    fn fetch(&self, index: u64, address: &Address) -> Result<Vec<u8>, Error>;
    /// Whether every chunk [`ChunkSource::fetch`] returns has already been checked against its
    /// address (a reader then does not hash it again). Only a source that verified each chunk
    /// itself may say so.
    fn verifies(&self) -> bool {
        false
    }

    /// Take back the buffer of a chunk [`ChunkSource::fetch`] returned, once the reader is done
    /// with it (a source that reuses buffers keeps it; by default it is freed).
    fn recycle(&self, buffer: Vec<u8>) {
        drop(buffer);
    }
}

/// The chunk indices covering bytes `start..=end`.
pub fn chunks_for_range(start: u64, end: u64) -> std::ops::RangeInclusive<u64> {
    (start / CHUNK_SIZE as u64)..=(end / CHUNK_SIZE as u64)
}

/// Whether bytes `start..=end` (inclusive) lie within the version `manifest` describes.
pub(crate) fn check_range(manifest: &Manifest, start: u64, end: u64) -> Result<(), Error> {
    if start > end || end >= manifest.size {
        return Err(Error::Format(format!(
            "range {start}-{end} is outside the file's {} bytes",
            manifest.size
        )));
    }
    Ok(())
}

/// A `Read` over bytes `start..=end` of a version, fetching and opening one chunk at a time.
pub struct RangeReader<'a, S> {
    manifest: &'a Manifest,
    opener: &'a VersionOpener,
    source: &'a S,
    pos: u64,
    end: u64,
    current: Vec<u8>,
    offset: usize,
}

impl<S> std::fmt::Debug for RangeReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeReader")
            .field("pos", &self.pos)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<'a, S: ChunkSource> RangeReader<'a, S> {
    /// A reader of bytes `start..=end` (inclusive) of the version `opener` opens.
    pub fn new(
        manifest: &'a Manifest,
        opener: &'a VersionOpener,
        source: &'a S,
        start: u64,
        end: u64,
    ) -> Result<Self, Error> {
        check_range(manifest, start, end)?;
        Ok(Self {
            manifest,
            opener,
            source,
            pos: start,
            end,
            current: Vec::new(),
            offset: 0,
        })
    }

    /// Bytes left in the range.
    fn left(&self) -> usize {
        if self.pos > self.end {
            return 0;
        }
        usize::try_from(self.end - self.pos + 1).unwrap_or(usize::MAX)
    }
}

/// The decrypted bytes come straight out of each opened chunk: a caller that writes them
/// somewhere (`fill_buf`, write, `consume`) copies each byte once.
impl<S: ChunkSource> BufRead for RangeReader<'_, S> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let left = self.left();
        if left == 0 {
            return Ok(&[]);
        }
        if self.offset >= self.current.len() {
            let index = self.pos / CHUNK_SIZE as u64;
            let address = self.manifest.chunks.get(index as usize).ok_or_else(|| {
                std::io::Error::other(format!("no chunk {index} in the manifest"))
            })?;
            let sealed = self
                .source
                .fetch(index, address)
                .map_err(std::io::Error::other)?;
            let opened = if self.source.verifies() {
                self.opener.open_hashed_chunk(index, sealed)
            } else {
                self.opener.open_chunk_owned(index, sealed, address)
            };
            let opened =
                opened.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.source
                .recycle(std::mem::replace(&mut self.current, opened));
            self.offset = (self.pos % CHUNK_SIZE as u64) as usize;
            if self.offset >= self.current.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("chunk {index} ends before byte {} of the file", self.pos),
                ));
            }
        }
        let n = (self.current.len() - self.offset).min(left);
        Ok(&self.current[self.offset..self.offset + n])
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.current.len().saturating_sub(self.offset));
        self.offset += amount;
        self.pos += amount as u64;
    }
}

impl<S: ChunkSource> Read for RangeReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
