//! The node's vault storage: per item, a content-addressed store of sealed chunks and
//! manifests, and a directory of envelopes by locator. Nothing here is plaintext: the node only
//! ever receives ciphertext (or, for public items, the published epoch key).

use std::io::Write;
use std::path::{Path, PathBuf};

use lightstreams_vault::{Address, ChunkStore, ItemId};

/// Largest envelope-slot object accepted: an HPKE envelope is 32 + 32 + 16 bytes; a custody
/// record (published in the same kind of slot) names its keepers and is a few KiB.
pub(crate) const MAX_ENVELOPE: usize = 16 * 1024;

/// Storage of every item's objects under one root directory.
#[derive(Debug)]
pub(crate) struct ItemStores {
    root: PathBuf,
}

impl ItemStores {
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("items"))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    fn item_dir(&self, item: &ItemId) -> PathBuf {
        self.root.join("items").join(hex::encode(item.0))
    }

    /// The item's blob store, not created by looking: a read racing the deletion of the item
    /// (its node's operator was revoked) must not bring its directory back; a write creates it.
    fn blobs(&self, item: &ItemId) -> ChunkStore {
        ChunkStore::at(&self.item_dir(item).join("blobs"))
    }

    /// A sealed chunk or manifest of `item`, re-verified against its address.
    pub(crate) fn get_blob(
        &self,
        item: &ItemId,
        address: &Address,
    ) -> Result<Option<Vec<u8>>, lightstreams_vault::Error> {
        if !self.item_dir(item).exists() {
            return Ok(None);
        }
        self.blobs(item).get(address)
    }

    /// A sealed chunk or manifest of `item`, not re-verified: for peers and clients' batch
    /// reads, which verify every object against its address themselves (hashing on both ends
    /// would halve the rate).
    pub(crate) fn get_blob_unverified(
        &self,
        item: &ItemId,
        address: &Address,
    ) -> Result<Option<Vec<u8>>, lightstreams_vault::Error> {
        if !self.item_dir(item).exists() {
            return Ok(None);
        }
        self.blobs(item).get_unverified(address)
    }

    /// Store a sealed chunk or manifest; the caller has checked that it hashes to `address`.
    pub(crate) fn put_blob(
        &self,
        item: &ItemId,
        address: &Address,
        bytes: &[u8],
    ) -> Result<(), lightstreams_vault::Error> {
        self.blobs(item).put_prehashed(address, bytes)
    }

    /// The file of a sealed chunk or manifest of `item` and its length, unverified (for a
    /// peer, which verifies it); `None` if absent.
    pub(crate) fn open_blob(
        &self,
        item: &ItemId,
        address: &Address,
    ) -> std::io::Result<Option<(std::fs::File, u64)>> {
        let hex = hex::encode(address.0);
        let path = self.item_dir(item).join("blobs").join(&hex[..2]).join(&hex);
        match std::fs::File::open(path) {
            Ok(file) => {
                let len = file.metadata()?.len();
                Ok(Some((file, len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Start writing a sealed chunk or manifest of `item` piece by piece; it is stored under
    /// `address` only if its bytes hash to it.
    pub(crate) fn blob_writer(
        &self,
        item: &ItemId,
        address: &Address,
    ) -> Result<lightstreams_vault::BlobWriter, lightstreams_vault::Error> {
        self.blobs(item).writer(address)
    }

    /// The addresses of the chunks and manifests stored for `item`, in order.
    pub(crate) fn blob_addresses(
        &self,
        item: &ItemId,
    ) -> Result<Vec<Address>, lightstreams_vault::Error> {
        if !self.item_dir(item).exists() {
            return Ok(Vec::new());
        }
        let mut addresses = self.blobs(item).addresses()?;
        addresses.sort_by_key(|a| a.0);
        Ok(addresses)
    }

    /// Remove a sealed chunk or manifest of `item`.
    pub(crate) fn delete_blob(
        &self,
        item: &ItemId,
        address: &Address,
    ) -> Result<(), lightstreams_vault::Error> {
        if !self.item_dir(item).exists() {
            return Ok(());
        }
        self.blobs(item).delete(address)
    }

    /// A block height recorded under `name` (e.g. how far revocations were scanned).
    pub(crate) fn read_height(&self, name: &str) -> Option<u64> {
        std::fs::read_to_string(self.root.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Record a block height under `name`, atomically.
    pub(crate) fn write_height(&self, name: &str, height: u64) -> std::io::Result<()> {
        self.write_atomic(&self.root.join(name), height.to_string().as_bytes())
    }

    /// Every item with anything stored.
    pub(crate) fn items(&self) -> std::io::Result<Vec<ItemId>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join("items"))? {
            let name = entry?.file_name();
            let mut id = [0u8; 32];
            if hex::decode_to_slice(name.to_string_lossy().as_bytes(), &mut id).is_ok() {
                out.push(ItemId(id));
            }
        }
        Ok(out)
    }

    /// What this node holds of `item` (shares are a keeper's own and never replicated).
    pub(crate) fn inventory(
        &self,
        item: &ItemId,
    ) -> Result<lightstreams_network::client::Inventory, lightstreams_vault::Error> {
        let mut inventory = lightstreams_network::client::Inventory::default();
        let dir = self.item_dir(item);
        if !dir.exists() {
            return Ok(inventory);
        }
        inventory.blobs = self
            .blobs(item)
            .addresses()?
            .into_iter()
            .map(|a| hex::encode(a.0))
            .collect();
        inventory.envelopes = list_names(&dir.join("envelopes"))?
            .into_iter()
            .filter(|n| n.len() == 64 && hex::decode(n).is_ok())
            .collect();
        inventory.messages = numbered(&dir.join("messages"))?;
        inventory.replies = numbered(&dir.join("replies"))?;
        Ok(inventory)
    }

    /// Remove everything stored for `item` (the node's operator lost read access to it).
    pub(crate) fn delete_item(&self, item: &ItemId) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.item_dir(item)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Write an envelope only if none is stored under `locator` (a replica never lets a peer
    /// replace what a signed client wrote).
    pub(crate) fn put_envelope_once(
        &self,
        item: &ItemId,
        locator: &[u8; 32],
        bytes: &[u8],
    ) -> std::io::Result<()> {
        let path = self.envelope_path(item, locator);
        if path.exists() {
            return Ok(());
        }
        self.write_atomic(&path, bytes)
    }

    fn envelope_path(&self, item: &ItemId, locator: &[u8; 32]) -> PathBuf {
        self.item_dir(item)
            .join("envelopes")
            .join(hex::encode(locator))
    }

    pub(crate) fn get_envelope(
        &self,
        item: &ItemId,
        locator: &[u8; 32],
    ) -> std::io::Result<Option<Vec<u8>>> {
        read_optional(&self.envelope_path(item, locator))
    }

    /// Write an envelope atomically (temporary file, then rename): a failed write leaves the
    /// previous envelope, or none.
    pub(crate) fn put_envelope(
        &self,
        item: &ItemId,
        locator: &[u8; 32],
        bytes: &[u8],
    ) -> std::io::Result<()> {
        self.write_atomic(&self.envelope_path(item, locator), bytes)
    }

    fn share_path(&self, item: &ItemId, epoch: u64) -> PathBuf {
        self.item_dir(item)
            .join("shares")
            .join(format!("{epoch}.json"))
    }

    /// The key share (a keeper's deposit) of `item` at `epoch`, if deposited.
    pub(crate) fn get_share(&self, item: &ItemId, epoch: u64) -> std::io::Result<Option<Vec<u8>>> {
        read_optional(&self.share_path(item, epoch))
    }

    /// Store a keeper's deposit atomically (it replaces an earlier one for the same epoch).
    pub(crate) fn put_share(&self, item: &ItemId, epoch: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.write_atomic(&self.share_path(item, epoch), bytes)
    }

    fn post_path(&self, item: &ItemId, kind: &str, n: u64) -> PathBuf {
        self.item_dir(item).join(kind).join(n.to_string())
    }

    /// Fan-channel post `n` of `kind` (`messages` or `replies`), if written.
    pub(crate) fn get_post(
        &self,
        item: &ItemId,
        kind: &str,
        n: u64,
    ) -> std::io::Result<Option<Vec<u8>>> {
        read_optional(&self.post_path(item, kind, n))
    }

    /// Write post `n` of `kind` once: `Ok(false)` if that number is taken (the writer takes
    /// the next one). Atomic: a failed write leaves nothing under the name.
    pub(crate) fn put_post_once(
        &self,
        item: &ItemId,
        kind: &str,
        n: u64,
        bytes: &[u8],
    ) -> std::io::Result<bool> {
        let path = self.post_path(item, kind, n);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => std::fs::File::open(&dir)?.sync_all().map(|()| true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.error),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // The new name is durable once its directory is synced too.
        std::fs::File::open(&dir)?.sync_all()
    }
}

/// The names of the files in `dir` (none if it does not exist), temporary files skipped.
fn list_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// The numbered files in `dir`, in order.
fn numbered(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out: Vec<u64> = list_names(dir)?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The file at `path`, or `None` if there is none.
fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
