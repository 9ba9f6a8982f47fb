//! Store items encrypted and content-addressed: chunking, AEAD sealing, manifests, a chunk store
//! on disk, and streaming reads of any byte range.
//!
//! A version of an item is cut into [`CHUNK_SIZE`] chunks, padded to coarse buckets, and each
//! chunk is sealed with AES-256-GCM under a per-version key derived from the item's content key
//! ([`ContentKey`]) by BLAKE3. A chunk's [`Address`] is the BLAKE3 hash of its sealed bytes, so a
//! store can verify what it holds without any key. The [`Manifest`] (name, media type, size,
//! chunk addresses, previous version) is sealed the same way. [`Encryptor`] turns any
//! `std::io::Read` into sealed chunks one at a time; [`RangeReader`] decrypts any byte range by
//! fetching only the chunks that cover it, and [`read_ahead`] does the same with threads fetching
//! and verifying the next chunks while the caller's decrypts; memory stays at a few chunks. [`ChunkStore`] keeps
//! sealed blobs on disk by address, atomically. [`Spares`] lets the threads of one transfer reuse
//! chunk buffers instead of allocating each chunk anew.
//!
//! Who may read, and how content keys reach readers, is `lightstreams-access`'s job.
//!
//! # Example
//! ```
//! use lightstreams_vault::{ContentKey, Encryptor, ItemId, open_manifest};
//!
//! let key = ContentKey::random();
//! let item = ItemId::random();
//! let mut enc = Encryptor::new(&b"hello vault"[..], &key, item, 0);
//! let chunks: Vec<_> = enc.by_ref().collect::<Result<_, _>>().unwrap();
//! let (manifest, blob) = enc.finish("hello.txt", "text/plain", 0, None, 0).unwrap();
//! let (opened, opener) = open_manifest(&key, item, 0, &blob.bytes, Some(blob.address)).unwrap();
//! assert_eq!(opened, manifest);
//! let plain = opener.open_chunk(0, &chunks[0].bytes, &chunks[0].address).unwrap();
//! assert_eq!(plain, b"hello vault");
//! ```

mod ahead;
mod bound;
mod error;
mod format;
mod ids;
mod media;
mod spares;
mod store;
mod stream;

pub use ahead::{FetchAhead, Fetched, StoreLanes, read_ahead};
pub use bound::{Bound, measure_bound};
pub use error::Error;
pub use format::{
    CHUNK_SIZE, ContentKey, Manifest, SealedBlob, SealedChunk, VersionOpener, VersionSealer,
    chunk_bucket, open_manifest,
};
pub use ids::{Address, ItemId};
pub use media::{MAX_MEDIA_TYPE, check_media_type, media_essence};
pub use spares::Spares;
pub use store::{BlobWriter, ChunkStore, StoreStats};
pub use stream::{ChunkSource, Encryptor, RangeReader, chunks_for_range};
