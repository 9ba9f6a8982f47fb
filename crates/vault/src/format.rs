//! The sealed formats: content keys, version keys, chunk and manifest sealing, padding.
//!
//! # Design
//! - A version key is `BLAKE3-derive_key("lightstreams vault v1 version key", K || item ||
//!   version_le || salt16)` with a random `salt16` per version, so a retried or re-keyed upload
//!   never reuses a (key, nonce) pair even if it reuses a version number.
//! - Chunks and the manifest are sealed with AES-256-GCM (`ring`), nonce `index_le_u64 ||
//!   0u32` (manifest: index `u64::MAX`), AAD `item || version_le || index_le`: a chunk moved
//!   to another position, version or item fails to open.
//! - Every chunk but the last holds exactly [`CHUNK_SIZE`] bytes. The last is zero-padded to a
//!   bucket ([`chunk_bucket`]: a power of two from 4 KiB up to `CHUNK_SIZE`), so a stored object's
//!   size tells only the bucket. An empty file still has one (padded) chunk. The true size is in
//!   the sealed manifest, which the reader trusts only after it opens.
//! - A manifest blob is `salt16 || AES-GCM(len_le_u32 || JSON || zero padding)`, padded to a
//!   power of two of at least 1 KiB.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{Address, ItemId};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 1 << 20;
/// AEAD tag length.
const TAG: usize = 16;
/// Smallest padded chunk.
const MIN_BUCKET: usize = 4096;
/// Smallest padded manifest.
const MIN_MANIFEST: usize = 1024;
/// Largest manifest plaintext accepted (about 250,000 chunks, i.e. 250 GiB).
const MAX_MANIFEST: usize = 32 * 1024 * 1024;
/// Index used for the manifest's nonce.
const MANIFEST_INDEX: u64 = u64::MAX;
/// Domain of the version-key derivation.
const VERSION_KEY_CONTEXT: &str = "lightstreams vault v1 version key";

/// The padded plaintext length of a chunk holding `len` bytes (`len <= CHUNK_SIZE`).
pub fn chunk_bucket(len: usize) -> usize {
    if len >= CHUNK_SIZE {
        CHUNK_SIZE
    } else {
        len.next_power_of_two().clamp(MIN_BUCKET, CHUNK_SIZE)
    }
}

/// An item's content key for one epoch, `K(item, epoch)`.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// A fresh random key (operating-system randomness).
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes (to wrap in an envelope).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(..)")
    }
}

/// What a reader learns once the manifest opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version index, from 0.
    pub version: u64,
    /// Key epoch the version is sealed in.
    pub epoch: u64,
    /// File name.
    pub name: String,
    /// Media type.
    pub media_type: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Addresses of the sealed chunks, in order.
    pub chunks: Vec<Address>,
    /// The previous version's manifest address.
    pub previous: Option<Address>,
    /// Creation time, unix seconds.
    pub created: u64,
}

impl Manifest {
    /// Plaintext length of chunk `index`.
    pub fn chunk_len(&self, index: u64) -> usize {
        let start = index.saturating_mul(u64::from(self.chunk_size));
        self.size
            .saturating_sub(start)
            .min(u64::from(self.chunk_size)) as usize
    }
}

/// A sealed chunk, ready to store.
#[derive(Clone, Debug)]
pub struct SealedChunk {
    /// Position in the version.
    pub index: u64,
    /// BLAKE3 of `bytes`.
    pub address: Address,
    /// Ciphertext and tag.
    pub bytes: Vec<u8>,
}

/// A sealed manifest, ready to store.
#[derive(Clone, Debug)]
pub struct SealedBlob {
    /// BLAKE3 of `bytes`.
    pub address: Address,
    /// `salt16 || ciphertext || tag`.
    pub bytes: Vec<u8>,
}

fn version_key(key: &ContentKey, item: ItemId, version: u64, salt: &[u8; 16]) -> LessSafeKey {
    let mut material = Vec::with_capacity(32 + 32 + 8 + 16);
    material.extend_from_slice(&key.0);
    material.extend_from_slice(&item.0);
    material.extend_from_slice(&version.to_le_bytes());
    material.extend_from_slice(salt);
    let derived = blake3::derive_key(VERSION_KEY_CONTEXT, &material);
    // A 32-byte key always fits AES-256; the fallback can never run.
    let unbound = UnboundKey::new(&AES_256_GCM, &derived)
        .unwrap_or_else(|_| unreachable!("AES-256 takes a 32-byte key"));
    LessSafeKey::new(unbound)
}

fn nonce(index: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[..8].copy_from_slice(&index.to_le_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn aad(item: ItemId, version: u64, index: u64) -> [u8; 48] {
    let mut out = [0u8; 48];
    out[..32].copy_from_slice(&item.0);
    out[32..40].copy_from_slice(&version.to_le_bytes());
    out[40..].copy_from_slice(&index.to_le_bytes());
    out
}

/// Seals the chunks and manifest of one version.
pub struct VersionSealer {
    key: LessSafeKey,
    salt: [u8; 16],
    item: ItemId,
    version: u64,
}

impl std::fmt::Debug for VersionSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionSealer")
            .field("item", &self.item)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl VersionSealer {
    /// A sealer for `version` of `item`, with a fresh random salt.
    pub fn new(key: &ContentKey, item: ItemId, version: u64) -> Self {
        let salt: [u8; 16] = rand::random();
        Self {
            key: version_key(key, item, version, &salt),
            salt,
            item,
            version,
        }
    }

    /// Seal chunk `index` in place: `buf` holds the plaintext (at most [`CHUNK_SIZE`] bytes)
    /// and becomes the padded ciphertext and tag.
    pub fn seal_chunk_in_place(&self, index: u64, mut buf: Vec<u8>) -> Result<SealedChunk, Error> {
        if buf.len() > CHUNK_SIZE {
            return Err(Error::TooLarge(format!(
                "a chunk holds at most {CHUNK_SIZE} bytes, got {}",
                buf.len()
            )));
        }
        buf.resize(chunk_bucket(buf.len()), 0);
        buf.reserve_exact(TAG);
        self.key
            .seal_in_place_append_tag(
                nonce(index),
                Aad::from(aad(self.item, self.version, index)),
                &mut buf,
            )
            .map_err(|_| Error::Format("AES-GCM refused to seal".into()))?;
        Ok(SealedChunk {
            index,
            address: Address::of(&buf),
            bytes: buf,
        })
    }

    /// AES-GCM-seal `buf` in place as chunk `index` (no padding, no hashing): the AEAD pass
    /// alone, for the speed bound.
    pub(crate) fn seal_buffer(&self, index: u64, buf: &mut Vec<u8>) -> Result<(), Error> {
        self.key
            .seal_in_place_append_tag(
                nonce(index),
                Aad::from(aad(self.item, self.version, index)),
                buf,
            )
            .map_err(|_| Error::Format("AES-GCM refused to seal".into()))
    }

    /// Seal chunk `index` from `plaintext`.
    pub fn seal_chunk(&self, index: u64, plaintext: &[u8]) -> Result<SealedChunk, Error> {
        let mut buf = Vec::with_capacity(chunk_bucket(plaintext.len()) + TAG);
        buf.extend_from_slice(plaintext);
        self.seal_chunk_in_place(index, buf)
    }

    /// Seal the manifest: `salt16 || sealed(len || JSON || padding)`.
    pub fn seal_manifest(&self, manifest: &Manifest) -> Result<SealedBlob, Error> {
        let json =
            serde_json::to_vec(manifest).map_err(|e| Error::Format(format!("manifest: {e}")))?;
        if json.len() > MAX_MANIFEST {
            return Err(Error::TooLarge(format!(
                "the manifest would be {} bytes; the limit is {MAX_MANIFEST}",
                json.len()
            )));
        }
        let padded = (json.len() + 4).next_power_of_two().max(MIN_MANIFEST);
        let mut buf = Vec::with_capacity(16 + padded + TAG);
        buf.extend_from_slice(&self.salt);
        buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
        buf.extend_from_slice(&json);
        buf.resize(16 + padded, 0);
        let mut body = buf.split_off(16);
        self.key
            .seal_in_place_append_tag(
                nonce(MANIFEST_INDEX),
                Aad::from(aad(self.item, self.version, MANIFEST_INDEX)),
                &mut body,
            )
            .map_err(|_| Error::Format("AES-GCM refused to seal".into()))?;
        buf.extend_from_slice(&body);
        Ok(SealedBlob {
            address: Address::of(&buf),
            bytes: buf,
        })
    }
}

/// Opens the chunks of one version, once its manifest has opened.
pub struct VersionOpener {
    key: LessSafeKey,
    item: ItemId,
    manifest: Manifest,
}

impl std::fmt::Debug for VersionOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionOpener")
            .field("item", &self.item)
            .field("version", &self.manifest.version)
            .finish_non_exhaustive()
    }
}

impl VersionOpener {
    /// Verify and decrypt chunk `index`: its bytes must hash to `expected` (and `expected` must
    /// be the manifest's address for that index), the AEAD must open, and the padding must be
    /// what the manifest's size implies. Returns the plaintext without padding.
    pub fn open_chunk(
        &self,
        index: u64,
        sealed: &[u8],
        expected: &Address,
    ) -> Result<Vec<u8>, Error> {
        self.open_chunk_owned(index, sealed.to_vec(), expected)
    }

    /// [`VersionOpener::open_chunk`] decrypting in the buffer it is given (no copy): the
    /// fetched bytes become the plaintext.
    pub fn open_chunk_owned(
        &self,
        index: u64,
        buf: Vec<u8>,
        expected: &Address,
    ) -> Result<Vec<u8>, Error> {
        self.check_listed(index, expected)?;
        expected.check(&buf)?;
        self.decrypt_chunk(index, buf)
    }

    /// [`VersionOpener::open_chunk_owned`] for bytes the caller has already checked against
    /// the manifest's address of chunk `index` (hashing them again would cost as much as
    /// decrypting them). The AEAD and padding checks still apply.
    pub fn open_hashed_chunk(&self, index: u64, buf: Vec<u8>) -> Result<Vec<u8>, Error> {
        self.decrypt_chunk(index, buf)
    }

    /// `expected` must be the manifest's address of chunk `index`.
    fn check_listed(&self, index: u64, expected: &Address) -> Result<(), Error> {
        let listed = self
            .manifest
            .chunks
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .ok_or_else(|| {
                Error::Format(format!(
                    "chunk index {index} is beyond the manifest's {} chunks",
                    self.manifest.chunks.len()
                ))
            })?;
        if listed != expected {
            return Err(Error::Format(format!(
                "chunk {index} is listed as {listed}, not {expected}"
            )));
        }
        Ok(())
    }

    /// Decrypt sealed chunk `index` in place and strip its padding.
    fn decrypt_chunk(&self, index: u64, mut buf: Vec<u8>) -> Result<Vec<u8>, Error> {
        let sealed = &buf[..];
        let len = self.manifest.chunk_len(index);
        if sealed.len() != chunk_bucket(len) + TAG {
            return Err(Error::Format(format!(
                "chunk {index} is {} bytes; a chunk of {len} plaintext bytes is sealed to {}",
                sealed.len(),
                chunk_bucket(len) + TAG
            )));
        }
        let plain = self
            .key
            .open_in_place(
                nonce(index),
                Aad::from(aad(self.item, self.manifest.version, index)),
                &mut buf,
            )
            .map_err(|_| Error::Decrypt {
                what: format!("chunk {index}"),
            })?;
        let plain_len = plain.len();
        if plain[len..].iter().any(|&b| b != 0) {
            return Err(Error::Format(format!("chunk {index} has non-zero padding")));
        }
        buf.truncate(plain_len.min(len));
        Ok(buf)
    }

    /// The manifest this opener belongs to.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// Verify (if `expected` is given), decrypt and parse the manifest blob of `version` of
/// `item` (the version number comes from the chain's record, which the reader trusts).
pub fn open_manifest(
    key: &ContentKey,
    item: ItemId,
    version: u64,
    blob: &[u8],
    expected: Option<Address>,
) -> Result<(Manifest, VersionOpener), Error> {
    if let Some(expected) = expected {
        expected.check(blob)?;
    }
    let min = 16 + MIN_MANIFEST + TAG;
    let max = 16 + 2 * MAX_MANIFEST + TAG;
    if blob.len() < min || blob.len() > max {
        return Err(Error::Format(format!(
            "a sealed manifest is {min} to {max} bytes, got {}",
            blob.len()
        )));
    }
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&blob[..16]);
    let vkey = version_key(key, item, version, &salt);
    let mut body = blob[16..].to_vec();
    let plain = vkey
        .open_in_place(
            nonce(MANIFEST_INDEX),
            Aad::from(aad(item, version, MANIFEST_INDEX)),
            &mut body,
        )
        .map_err(|_| Error::Decrypt {
            what: format!("the manifest of version {version}"),
        })?;
    if plain.len() < 4 {
        return Err(Error::Format(
            "manifest shorter than its length prefix".into(),
        ));
    }
    let len = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize;
    let json = plain
        .get(4..4 + len)
        .ok_or_else(|| Error::Format(format!("manifest length {len} exceeds its blob")))?;
    let manifest: Manifest =
        serde_json::from_slice(json).map_err(|e| Error::Format(format!("manifest: {e}")))?;
    if manifest.version != version {
        return Err(Error::Format(format!(
            "the manifest says version {}, expected {version}",
            manifest.version
        )));
    }
    if manifest.chunk_size as usize != CHUNK_SIZE {
        return Err(Error::Format(format!(
            "chunk size {} is not supported (only {CHUNK_SIZE})",
            manifest.chunk_size
        )));
    }
    let expected_chunks = manifest.size.div_ceil(CHUNK_SIZE as u64).max(1);
    if manifest.chunks.len() as u64 != expected_chunks {
        return Err(Error::Format(format!(
            "a {}-byte file has {expected_chunks} chunks, the manifest lists {}",
            manifest.size,
            manifest.chunks.len()
        )));
    }
    Ok((
        manifest.clone(),
        VersionOpener {
            key: vkey,
            item,
            manifest,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seal `plain` as the manifest of `version` of `item`, whatever it holds (a writer with the
    /// key can seal anything).
    fn seal_raw_manifest(key: &ContentKey, item: ItemId, version: u64, plain: &[u8]) -> Vec<u8> {
        let sealer = VersionSealer::new(key, item, version);
        let mut body = plain.to_vec();
        sealer.seal_buffer(MANIFEST_INDEX, &mut body).expect("seal");
        let mut blob = sealer.salt.to_vec();
        blob.extend_from_slice(&body);
        blob
    }

    /// Manifest plaintexts a hostile writer might seal: its own JSON with any sizes and chunk
    /// lists, behind a length prefix that may lie, padded to any length.
    fn hostile_plaintext() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // Each field is as an honest writer would make it 3 times in 4, so some open.
        let manifest = (
            prop_oneof![3 => Just(1u64), 1 => 0u64..3],
            prop_oneof![1 => Just(u64::MAX), 3 => 0u64..(5 * CHUNK_SIZE as u64)],
            prop_oneof![3 => Just(CHUNK_SIZE as u32), 1 => any::<u32>()],
            prop_oneof![3 => Just(None), 1 => (0u64..7).prop_map(Some)],
            "\\PC{0,20}",
        )
            .prop_map(|(version, size, chunk_size, chunks, name)| {
                let honest = size.div_ceil(CHUNK_SIZE as u64).clamp(1, 7);
                Manifest {
                    version,
                    epoch: 0,
                    name,
                    media_type: "x/y".into(),
                    size,
                    chunk_size,
                    chunks: (0..chunks.unwrap_or(honest))
                        .map(|i| Address([i as u8; 32]))
                        .collect(),
                    previous: None,
                    created: 0,
                }
            });
        (
            manifest,
            prop_oneof![3 => Just(None), 1 => any::<u32>().prop_map(Some)],
            0usize..2048,
        )
            .prop_map(|(manifest, lie, pad)| {
                let json = serde_json::to_vec(&manifest).expect("json");
                let len = lie.unwrap_or(json.len() as u32);
                let mut plain = len.to_le_bytes().to_vec();
                plain.extend_from_slice(&json);
                plain.resize(plain.len() + pad, 0);
                plain
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// A manifest blob that is not one opens to nothing, never a panic.
        #[test]
        fn any_bytes_are_not_a_manifest(
            blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
        ) {
            let key = ContentKey::from_bytes([1; 32]);
            proptest::prop_assert!(open_manifest(&key, ItemId([2; 32]), 0, &blob, None).is_err());
        }

        /// Whatever a writer seals as a manifest, it opens only if it is consistent (its
        /// version, the one chunk size, as many chunks as its size needs); and the chunks of
        /// one that opens are refused unless they are the listed, sealed ones: never a panic,
        /// never bytes past the stated size.
        #[test]
        fn a_hostile_manifest_opens_only_if_consistent(
            plain in hostile_plaintext(),
            index in 0u64..8,
            garbage_len in proptest::prop_oneof![proptest::strategy::Just(MIN_BUCKET + TAG), 0usize..9000],
        ) {
            let key = ContentKey::from_bytes([1; 32]);
            let item = ItemId([2; 32]);
            let blob = seal_raw_manifest(&key, item, 1, &plain);
            let Ok((manifest, opener)) = open_manifest(&key, item, 1, &blob, Some(Address::of(&blob))) else {
                return Ok(());
            };
            proptest::prop_assert_eq!(manifest.version, 1);
            proptest::prop_assert_eq!(manifest.chunk_size as usize, CHUNK_SIZE);
            proptest::prop_assert_eq!(
                manifest.chunks.len() as u64,
                manifest.size.div_ceil(CHUNK_SIZE as u64).max(1)
            );
            proptest::prop_assert!(manifest.chunk_len(index) <= CHUNK_SIZE);
            let garbage = vec![0u8; garbage_len];
            proptest::prop_assert!(opener.open_hashed_chunk(index, garbage.clone()).is_err());
            let listed = manifest.chunks.get(index as usize).copied().unwrap_or(Address([9; 32]));
            proptest::prop_assert!(opener.open_chunk(index, &garbage, &listed).is_err());
        }

        /// Any plaintext up to a chunk seals and opens back to itself at its index, and a
        /// sealed chunk with any byte changed, or at another index, does not open.
        #[test]
        fn any_chunk_round_trips_and_any_change_is_caught(
            len in proptest::prop_oneof![0usize..10_000, (CHUNK_SIZE - 5)..=CHUNK_SIZE],
            seed: u8,
            flip_at: proptest::sample::Index,
            flip in 1u8..=255,
        ) {
            let key = ContentKey::from_bytes([3; 32]);
            let item = ItemId([4; 32]);
            let plain: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let sealer = VersionSealer::new(&key, item, 0);
            let chunk = sealer.seal_chunk(0, &plain).expect("seal");
            let (_, blob) = {
                let manifest = Manifest {
                    version: 0,
                    epoch: 0,
                    name: "f".into(),
                    media_type: "x/y".into(),
                    size: len as u64,
                    chunk_size: CHUNK_SIZE as u32,
                    chunks: vec![chunk.address],
                    previous: None,
                    created: 0,
                };
                (manifest.clone(), sealer.seal_manifest(&manifest).expect("manifest"))
            };
            let (_, opener) = open_manifest(&key, item, 0, &blob.bytes, Some(blob.address)).expect("opens");
            proptest::prop_assert_eq!(opener.open_chunk(0, &chunk.bytes, &chunk.address).expect("chunk"), plain);
            let mut changed = chunk.bytes.clone();
            let at = flip_at.index(changed.len());
            changed[at] ^= flip;
            proptest::prop_assert!(opener.open_chunk(0, &changed, &chunk.address).is_err());
            proptest::prop_assert!(opener.open_hashed_chunk(0, changed).is_err(), "byte {} of {}", at, chunk.bytes.len());
            proptest::prop_assert!(opener.open_hashed_chunk(1, chunk.bytes.clone()).is_err());
        }
    }
}
