//! The protocol's operations — add, update, get, grant, revoke, publicise, list — written once
//! over two small traits, so the CLI (JSON-RPC + HTTP) and the node's custodial API (its own
//! chain and store) run exactly the same steps.
//!
//! # Design
//! - **Add:** a random item id; the `create` transaction; a random content key `K(item, 0)`;
//!   the file is sealed chunk by chunk (memory: one chunk) and each chunk is `PUT` as soon as it
//!   is sealed; then the manifest; then the owner's own envelope; then `publish`. The chain's
//!   version record is the commitment a reader checks the manifest against.
//! - **Grant:** the `grant` transaction, then an envelope of every epoch key the granter can open,
//!   wrapped to the grantee's registered encryption key, at a locator only the two of them can
//!   compute.
//! - **Revoke:** the `revoke` transaction (the contract starts a new epoch), then a new key; the
//!   current version is re-encrypted under it as a new version; envelopes go to the owner, the
//!   revoker and every remaining reader. What the revoked reader downloaded before cannot be
//!   recalled; what is published after is sealed under a key they never get.
//! - **Public items:** the epoch key is stored in clear at the public locator, so anyone can read.
//!   Going private starts a new epoch whose key is never published.

use std::io::{Read, Write};

use crate::custody::{self, CustodyRecord, Keeper, Share, default_threshold, open_released};
use crate::keeper::{ShareDeposit, ShareRelease, record_locator};
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent};
use lightstreams_vault::{
    ChunkSource, ContentKey, Encryptor, FetchAhead, Fetched, ItemId, Manifest, RangeReader,
    open_manifest,
};

use crate::acl::{ACCESS_REGISTRY, AccessRegistry, KEY_REGISTRY, KeyRegistry, Level};
use crate::envelope::{locator, open_envelope, seal_envelope};
use crate::keys::EncryptionKeyPair;
use crate::request::{ObjectRef, RequestKind, SignedRequest};

/// A chain's refusal of a transaction from `from`, as a [`ProtocolError::Chain`]; one for want of
/// PHT says how to fund the account.
pub fn send_refused(from: Address, message: String) -> ProtocolError {
    if message.contains("insufficient funds") {
        ProtocolError::Chain(format!(
            "{message}. The account {from} pays for gas in PHT: send it some first \
             (lightstreams send --to {from} --value 1pht)"
        ))
    } else {
        ProtocolError::Chain(message)
    }
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The chain refused or reverted a transaction or call.
    #[error("{0}")]
    Chain(String),
    /// The vault node refused or failed.
    #[error("vault node: {0}")]
    Remote(String),
    /// Not found, or not allowed (the node does not say which).
    #[error("item {0} not found (it does not exist, or this account may not read it)")]
    NotFound(String),
    /// The account has no key for the version asked for.
    #[error(
        "no key for item {item} epoch {epoch}: this account holds no envelope for it (not granted, or revoked before that version)"
    )]
    NoKey {
        /// The item.
        item: String,
        /// The epoch.
        epoch: u64,
    },
    /// The grantee has not registered an encryption key.
    #[error(
        "{0} has no encryption key in the key registry yet: they must run any `lightstreams vault` command once (it registers one)"
    )]
    NoEncryptionKey(Address),
    /// Data failed a check: tampered, corrupt or inconsistent.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    /// Reading the input or writing the output failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A vault format error.
    #[error(transparent)]
    Vault(#[from] lightstreams_vault::Error),
    /// An envelope or key error.
    #[error("{0}")]
    Crypto(String),
    /// What the caller asked for is malformed (nothing was sent to the chain or the node).
    #[error("{0}")]
    Input(String),
}

/// The chain, as the protocol needs it.
pub trait Ledger {
    /// Run a read-only call against the latest finalised state.
    fn call(&self, to: Address, data: Vec<u8>) -> Result<Vec<u8>, ProtocolError>;
    /// Sign and send a transaction from `signer`, wait until it is final, and fail with the
    /// revert reason if it reverted. Returns the transaction hash.
    fn transact(
        &self,
        signer: &PrivateKeySigner,
        to: Address,
        data: Vec<u8>,
    ) -> Result<B256, ProtocolError> {
        self.transact_with_value(signer, to, data, U256::ZERO)
    }
    /// [`Ledger::transact`] sending `value` wei along.
    fn transact_with_value(
        &self,
        signer: &PrivateKeySigner,
        to: Address,
        data: Vec<u8>,
        value: U256,
    ) -> Result<B256, ProtocolError>;
    /// Logs of `address` whose topics match (`None` = any), from block 0 to the head.
    fn logs(&self, address: Address, topics: [Option<B256>; 4]) -> Result<Vec<Log>, ProtocolError>;
}

/// A vault node, as the protocol needs it.
pub trait Remote {
    /// The node id that signed requests must name.
    fn node_id(&self) -> String;
    /// Store `body` under the object of a signed `PUT` request.
    fn put(&self, request: &SignedRequest, body: &[u8]) -> Result<(), ProtocolError>;
    /// Fetch the object of a signed `GET` request; `None` is the uniform "not found".
    fn get(&self, request: &SignedRequest) -> Result<Option<Vec<u8>>, ProtocolError>;
    /// Remove the object of a signed `DELETE` request (used to clean up a failed upload).
    fn delete(&self, request: &SignedRequest) -> Result<(), ProtocolError>;
    /// Whether [`Remote::get_batch`] works here (else readers ask one object at a time).
    fn batch_reads(&self) -> bool {
        false
    }
    /// Fetch the blobs a signed batch `GET` names (`request.object` is
    /// [`ObjectRef::Batch`] of `body`, a [`lightstreams_network::batch`] request), calling
    /// `each(i, bytes)` in the order named; `None` when the node sent no copy of object `i`.
    /// The bytes are unverified (the reader verifies each against its address); their buffers
    /// come from `spares`, where the reader gives them back.
    fn get_batch(
        &self,
        request: &SignedRequest,
        body: &[u8],
        spares: &lightstreams_vault::Spares,
        each: &mut dyn FnMut(usize, Option<Vec<u8>>),
    ) -> Result<(), ProtocolError> {
        let _ = (body, spares, each);
        Err(ProtocolError::Remote(format!(
            "this node connection has no batch reads (item {})",
            ItemId(request.item)
        )))
    }
    /// Whether [`Remote::put_batch`] works here (else uploads send one object at a time).
    fn batch_writes(&self) -> bool {
        false
    }
    /// Store `objects` (sealed chunks or manifests, in the order `list` names them; `list` is
    /// a [`lightstreams_network::batch`] request) with one signed batch `PUT`
    /// (`request.object` is [`ObjectRef::Batch`] of `list`). On an error the node keeps none
    /// of them.
    fn put_batch(
        &self,
        request: &SignedRequest,
        list: &[u8],
        objects: &[&[u8]],
    ) -> Result<(), ProtocolError> {
        let _ = (list, objects);
        Err(ProtocolError::Remote(format!(
            "this node connection has no batch uploads (item {})",
            ItemId(request.item)
        )))
    }
    /// The node's key-keeper encryption key (X25519), if it keeps key shares.
    fn keeper_key(&self) -> Option<[u8; 32]> {
        None
    }
    /// Another node, at `url` (a key keeper named in a custody record).
    fn connect_peer(&self, url: &str) -> Result<Box<dyn Remote + Send + Sync>, ProtocolError> {
        Err(ProtocolError::Remote(format!(
            "this client cannot reach other nodes (asked for {url})"
        )))
    }
}

/// An account as the protocol sees it: its Ethereum signer and its encryption key pair.
pub struct Identity {
    /// Signs transactions and vault requests.
    pub signer: PrivateKeySigner,
    /// Opens envelopes.
    pub encryption: EncryptionKeyPair,
}

impl Identity {
    /// The identity of an account key. The encryption key pair is derived from the account key
    /// with BLAKE3's key derivation (domain `lightstreams x25519 from account key v1`), so an
    /// account never has a second secret to back up or lose.
    pub fn from_signer(signer: PrivateKeySigner) -> Self {
        let secret = blake3::derive_key(
            "lightstreams x25519 from account key v1",
            signer.credential().to_bytes().as_slice(),
        );
        Self {
            encryption: EncryptionKeyPair::from_secret_bytes(secret),
            signer,
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

/// What the chain says about an item.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ItemInfo {
    /// The item id.
    pub item: ItemId,
    /// Its owner.
    pub owner: Address,
    /// Anyone may read.
    pub public: bool,
    /// The current key epoch.
    pub epoch: u64,
    /// The read policy contract, if any.
    pub policy: Option<Address>,
    /// Every published version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// The caller's own level.
    pub level: String,
}

/// One published version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VersionInfo {
    /// Index, from 0.
    pub index: u64,
    /// Address of the encrypted manifest.
    pub manifest: B256,
    /// Key epoch it is sealed in.
    pub epoch: u64,
    /// Who published it.
    pub author: Address,
    /// Block timestamp of publication.
    pub timestamp: u64,
}

/// The result of adding or updating an item.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Published {
    /// The item id.
    pub item: ItemId,
    /// The new version's index.
    pub version: u64,
    /// The epoch it is sealed in.
    pub epoch: u64,
    /// Address of its manifest.
    pub manifest: B256,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u64,
}

/// An item the account can see in `ls`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listed {
    /// The item id.
    pub item: ItemId,
    /// The account's level: owner, admin, write or read.
    pub level: String,
    /// Number of versions.
    pub versions: u64,
    /// Anyone may read.
    pub public: bool,
}

/// Options of a new version.
#[derive(Clone, Debug)]
pub struct Content {
    /// File name shown to readers.
    pub name: String,
    /// Media type (e.g. `audio/mpeg`).
    pub media_type: String,
}

impl Content {
    /// `Ok` if the media type is one ([`lightstreams_vault::check_media_type`]): readers' nodes
    /// put it into HTTP headers.
    pub fn check(&self) -> Result<(), ProtocolError> {
        lightstreams_vault::check_media_type(&self.media_type).map_err(ProtocolError::Input)
    }
}

/// The protocol, bound to one identity, one chain and one vault node.
#[derive(Debug)]
pub struct Client<L, R> {
    ledger: L,
    remote: R,
    identity: Identity,
}

/// A `Read` that reports every byte read.
struct Counting<'a, R, F> {
    inner: R,
    progress: &'a mut F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<'_, R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

impl<L: Ledger + Sync, R: Remote + Sync> Client<L, R> {
    /// Bind the protocol to an identity, a chain and a vault node.
    pub fn new(ledger: L, remote: R, identity: Identity) -> Self {
        Self {
            ledger,
            remote,
            identity,
        }
    }

    /// The account's address.
    pub fn address(&self) -> Address {
        self.identity.signer.address()
    }

    /// The chain this client talks to.
    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// Register the account's encryption key in the key registry unless it is already there.
    /// Returns true if a transaction was sent.
    pub fn ensure_key_registered(&self) -> Result<bool, ProtocolError> {
        let mine = B256::from(self.identity.encryption.public_bytes());
        if self.encryption_key_of(self.address())? == Some(mine) {
            return Ok(false);
        }
        let data = KeyRegistry::setKeyCall {
            x25519PublicKey: mine,
        }
        .abi_encode();
        self.ledger
            .transact(&self.identity.signer, KEY_REGISTRY, data)?;
        Ok(true)
    }

    /// The registered encryption key of `who`.
    pub fn encryption_key_of(&self, who: Address) -> Result<Option<B256>, ProtocolError> {
        let out = self
            .ledger
            .call(KEY_REGISTRY, KeyRegistry::keyOfCall { who }.abi_encode())?;
        let key = KeyRegistry::keyOfCall::abi_decode_returns(&out)
            .map_err(|e| ProtocolError::Chain(format!("keyOf: {e}")))?;
        Ok((key != B256::ZERO).then_some(key))
    }

    /// Add a new item: encrypt `input` and publish it as version 0.
    pub fn add(
        &self,
        input: impl Read,
        content: &Content,
        public: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<Published, ProtocolError> {
        content.check()?;
        self.ensure_key_registered()?;
        let item = ItemId::random();
        self.transact(AccessRegistry::createCall {
            item: B256::from(item.0),
            isPublic: public,
        })?;
        let key = ContentKey::random();
        let published = self.seal_and_publish(
            item,
            0,
            0,
            &key,
            None,
            Counting {
                inner: input,
                progress: &mut progress,
            },
            content,
        )?;
        self.put_envelope_for(item, 0, &key, self.address())?;
        if public {
            self.put_public_key(item, 0, &key)?;
        }
        self.publish_version(item, &published)?;
        Ok(published)
    }

    /// Publish `input` as a new version of `item` in its current epoch (needs WRITE).
    pub fn update(
        &self,
        item: ItemId,
        input: impl Read,
        content: &Content,
        mut progress: impl FnMut(u64),
    ) -> Result<Published, ProtocolError> {
        content.check()?;
        self.ensure_key_registered()?;
        let info = self.info(item)?;
        let key = self.epoch_key(&info, info.epoch)?;
        let previous = info.versions.last().map(|v| v.manifest);
        let published = self.seal_and_publish(
            item,
            info.versions.len() as u64,
            info.epoch,
            &key,
            previous,
            Counting {
                inner: input,
                progress: &mut progress,
            },
            content,
        )?;
        self.publish_version(item, &published)?;
        Ok(published)
    }

    /// What the chain says about `item`. Refused (as "not found") unless the account can read it.
    pub fn info(&self, item: ItemId) -> Result<ItemInfo, ProtocolError> {
        let id = B256::from(item.0);
        let me = self.address();
        let can_read = self.view(AccessRegistry::canReadCall { item: id, who: me })?;
        if !can_read {
            return Err(ProtocolError::NotFound(item.to_string()));
        }
        let raw = self.view(AccessRegistry::infoCall { item: id })?;
        let level: u8 = self
            .view(AccessRegistry::levelOfCall { item: id, who: me })?
            .into();
        // The count comes from the chain's answer: each version is read (and must be there)
        // before it takes room.
        let mut versions = Vec::new();
        for index in 0..raw.versions {
            let v = self.view(AccessRegistry::versionCall { item: id, index })?;
            versions.push(VersionInfo {
                index,
                manifest: v.manifest,
                epoch: v.epoch,
                author: v.author,
                timestamp: v.timestamp,
            });
        }
        Ok(ItemInfo {
            item,
            owner: raw.owner,
            public: raw.isPublic,
            epoch: raw.epoch,
            policy: (raw.policy != Address::ZERO).then_some(raw.policy),
            versions,
            level: level_name(raw.owner == me, level).to_string(),
        })
    }

    /// Open version `version` (default: the latest) of `item`: check the account may read it,
    /// unwrap its key, fetch and verify its manifest against the chain's commitment.
    pub fn open(&self, item: ItemId, version: Option<u64>) -> Result<Opened, ProtocolError> {
        let info = self.info(item)?;
        let v = match version {
            Some(n) => info.versions.get(n as usize),
            None => info.versions.last(),
        }
        .ok_or_else(|| match version {
            Some(n) => ProtocolError::Chain(format!(
                "item {item} has no version {n} (it has {})",
                info.versions.len()
            )),
            None => ProtocolError::Chain(format!("item {item} has no published version yet")),
        })?;
        let key = self.epoch_key(&info, v.epoch)?;
        let (manifest, opener) = self.open_version(item, v, &key)?;
        Ok(Opened {
            item,
            manifest,
            opener,
        })
    }

    /// Decrypt bytes `start..=end` of an opened version into `out`, fetching only the chunks
    /// that cover them. Memory: a few chunks.
    pub fn read_range(
        &self,
        opened: &Opened,
        start: u64,
        end: u64,
        out: &mut impl Write,
        progress: impl FnMut(u64),
    ) -> Result<(), ProtocolError> {
        let size = opened.manifest.size;
        if size == 0 {
            return Ok(());
        }
        if start > end || end >= size {
            return Err(ProtocolError::Chain(format!(
                "range {start}-{end} is outside the file's {size} bytes"
            )));
        }
        // A few lanes fetch and verify the next chunks (a run of them per batch request where
        // the node has batch reads, else one request per chunk) while this thread decrypts and
        // writes them in order; chunk buffers go round from the lanes to the reader and back.
        const FETCHERS: usize = 4;
        let spares = lightstreams_vault::Spares::new();
        let source = RemoteChunks {
            client: self,
            item: opened.item,
            spares: &spares,
        };
        lightstreams_vault::read_ahead(
            &opened.manifest,
            &opened.opener,
            &source,
            FETCHERS,
            start,
            end,
            out,
            progress,
        )?;
        Ok(())
    }

    /// Decrypt version `version` (default: the latest) of `item`, bytes `range` (inclusive;
    /// default: all), into `out`. Returns the manifest. Memory: a few chunks.
    pub fn get(
        &self,
        item: ItemId,
        version: Option<u64>,
        range: Option<(u64, u64)>,
        out: &mut impl Write,
        progress: impl FnMut(u64),
    ) -> Result<Manifest, ProtocolError> {
        let opened = self.open(item, version)?;
        if opened.manifest.size > 0 {
            let (start, end) = range.unwrap_or((0, opened.manifest.size - 1));
            self.read_range(&opened, start, end, out, progress)?;
        }
        Ok(opened.manifest)
    }

    /// Grant `who` a level (READ, WRITE or ADMIN) with an optional expiry (unix seconds), then
    /// give them every epoch key this account can open.
    pub fn grant(
        &self,
        item: ItemId,
        who: Address,
        level: Level,
        expiry: Option<u64>,
    ) -> Result<B256, ProtocolError> {
        self.ensure_key_registered()?;
        let reader_pk = self
            .encryption_key_of(who)?
            .ok_or(ProtocolError::NoEncryptionKey(who))?;
        let tx = self.transact(AccessRegistry::grantCall {
            item: B256::from(item.0),
            who,
            level,
            expiry: expiry.unwrap_or(0),
        })?;
        let info = self.info(item)?;
        for epoch in 0..=info.epoch {
            if let Ok(key) = self.epoch_key(&info, epoch) {
                self.put_envelope(item, epoch, &key, reader_pk.0)?;
            }
        }
        Ok(tx)
    }

    /// Revoke `who`, then re-key: a new epoch key, the current version re-encrypted under it,
    /// and envelopes for the owner and every remaining reader.
    pub fn revoke(&self, item: ItemId, who: Address) -> Result<Option<Published>, ProtocolError> {
        self.ensure_key_registered()?;
        let before = self.info(item)?;
        let old_key = before
            .versions
            .last()
            .map(|v| self.epoch_key(&before, v.epoch).map(|k| (v.clone(), k)))
            .transpose()?;
        self.transact(AccessRegistry::revokeCall {
            item: B256::from(item.0),
            who,
        })?;
        self.rekey(item, old_key)
    }

    /// Make `item` public (anyone reads) or private again (a new epoch whose key is never
    /// published; the current version is re-encrypted under it).
    pub fn set_public(&self, item: ItemId, public: bool) -> Result<(), ProtocolError> {
        self.ensure_key_registered()?;
        let before = self.info(item)?;
        let old = before
            .versions
            .last()
            .map(|v| self.epoch_key(&before, v.epoch).map(|k| (v.clone(), k)))
            .transpose()?;
        self.transact(AccessRegistry::setPublicCall {
            item: B256::from(item.0),
            isPublic: public,
        })?;
        let after = self.info(item)?;
        if public {
            // Publish every epoch key so every version is readable.
            for epoch in 0..=after.epoch {
                if let Ok(key) = self.epoch_key(&after, epoch) {
                    self.put_public_key(item, epoch, &key)?;
                }
            }
        } else if after.epoch != before.epoch {
            self.rekey(item, old)?;
        }
        Ok(())
    }

    /// Items this account owns or has been granted, with its current level.
    pub fn list(&self) -> Result<Vec<Listed>, ProtocolError> {
        let me = B256::left_padding_from(self.address().as_slice());
        let mut ids: Vec<B256> = Vec::new();
        let sets = [
            (AccessRegistry::ItemCreated::SIGNATURE_HASH, 2usize),
            (AccessRegistry::Granted::SIGNATURE_HASH, 2),
            (AccessRegistry::OwnershipTransferred::SIGNATURE_HASH, 3),
        ];
        for (topic0, position) in sets {
            let mut topics = [Some(topic0), None, None, None];
            topics[position] = Some(me);
            for log in self.ledger.logs(ACCESS_REGISTRY, topics)? {
                if let Some(id) = log.topics().get(1)
                    && !ids.contains(id)
                {
                    ids.push(*id);
                }
            }
        }
        let mut listed = Vec::new();
        for id in ids {
            let item = ItemId(id.0);
            let raw = self.view(AccessRegistry::infoCall { item: id })?;
            let level: u8 = self
                .view(AccessRegistry::levelOfCall {
                    item: id,
                    who: self.address(),
                })?
                .into();
            if level == 0 {
                continue;
            }
            listed.push(Listed {
                item,
                level: level_name(raw.owner == self.address(), level).to_string(),
                versions: raw.versions,
                public: raw.isPublic,
            });
        }
        Ok(listed)
    }

    /// The content key of `epoch` of `item`, as this account can unwrap it.
    pub fn content_key(&self, item: ItemId, epoch: u64) -> Result<ContentKey, ProtocolError> {
        let info = self.info(item)?;
        self.epoch_key(&info, epoch)
    }

    // ---- private steps ----

    fn transact<C: SolCall>(&self, call: C) -> Result<B256, ProtocolError> {
        self.ledger
            .transact(&self.identity.signer, ACCESS_REGISTRY, call.abi_encode())
    }

    /// This account's identity (its signer and encryption key pair).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Fetch `object` of `item` from this client's node with a signed request; `None` is the
    /// uniform not-found.
    pub fn get_object(
        &self,
        item: ItemId,
        object: ObjectRef,
    ) -> Result<Option<Vec<u8>>, ProtocolError> {
        let request = self.request(RequestKind::Get, item, object);
        self.remote.get(&request)
    }

    /// Store `body` as `object` of `item` on this client's node with a signed request.
    pub fn put_object(
        &self,
        item: ItemId,
        object: ObjectRef,
        body: &[u8],
    ) -> Result<(), ProtocolError> {
        let request = self.request(RequestKind::Put, item, object);
        self.remote.put(&request, body)
    }

    /// Send `call` to the contract at `to` with `value` wei from this account, and wait until
    /// it is final (the revert reason if it reverted).
    pub fn send<C: SolCall>(
        &self,
        to: Address,
        call: C,
        value: U256,
    ) -> Result<B256, ProtocolError> {
        self.ledger
            .transact_with_value(&self.identity.signer, to, call.abi_encode(), value)
    }

    /// Run the view `call` of the contract at `to` at the latest finalised block.
    pub fn call<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ProtocolError> {
        let out = self.ledger.call(to, call.abi_encode())?;
        C::abi_decode_returns(&out)
            .map_err(|e| ProtocolError::Chain(format!("{}: {e}", C::SIGNATURE)))
    }

    fn view<C: SolCall>(&self, call: C) -> Result<C::Return, ProtocolError> {
        let out = self.ledger.call(ACCESS_REGISTRY, call.abi_encode())?;
        C::abi_decode_returns(&out)
            .map_err(|e| ProtocolError::Chain(format!("{}: {e}", C::SIGNATURE)))
    }

    fn request(&self, method: RequestKind, item: ItemId, object: ObjectRef) -> SignedRequest {
        SignedRequest::sign(
            &self.identity.signer,
            method,
            item.0,
            object,
            self.remote.node_id(),
        )
    }

    /// The list of a batch naming the chunks at `addresses`, and `method` signed for it.
    fn batch_request<'a>(
        &self,
        method: RequestKind,
        item: ItemId,
        addresses: impl Iterator<Item = &'a [u8; 32]>,
    ) -> (Vec<u8>, SignedRequest) {
        let names: Vec<lightstreams_network::client::ObjectName> = addresses
            .map(|a| ("chunks", format!("0x{}", hex::encode(a))))
            .collect();
        let list = lightstreams_network::batch::encode_request(&names);
        let request = self.request(
            method,
            item,
            ObjectRef::Batch(*blake3::hash(&list).as_bytes()),
        );
        (list, request)
    }

    #[allow(clippy::too_many_arguments)]
    fn seal_and_publish(
        &self,
        item: ItemId,
        version: u64,
        epoch: u64,
        key: &ContentKey,
        previous: Option<B256>,
        input: impl Read,
        content: &Content,
    ) -> Result<Published, ProtocolError> {
        // Seal on this thread while two uploaders send the previous chunks: memory stays at
        // a few chunks in flight, and sealing overlaps the network and the node's work. Where
        // the node takes batch uploads, each uploader gathers up to BATCH sealed chunks and
        // streams them in one request (one signature, one round trip); else one per request.
        const IN_FLIGHT: usize = 4;
        const UPLOADERS: usize = 2;
        const BATCH: usize = 16;
        let per_request = if self.remote.batch_writes() { BATCH } else { 1 };
        let (tx, rx) = std::sync::mpsc::sync_channel::<lightstreams_vault::SealedChunk>(IN_FLIGHT);
        let rx = parking_lot::Mutex::new(rx);
        let stored: parking_lot::Mutex<Vec<[u8; 32]>> = parking_lot::Mutex::new(Vec::new());
        let failed: parking_lot::Mutex<Option<ProtocolError>> = parking_lot::Mutex::new(None);
        let stop = std::sync::atomic::AtomicBool::new(false);
        // Uploaded chunks' buffers go back to the sealer for the next chunks.
        let spares = std::sync::Arc::new(lightstreams_vault::Spares::new());
        let (encryptor, sealing_error) = std::thread::scope(|scope| {
            for _ in 0..UPLOADERS {
                scope.spawn(|| {
                    loop {
                        let batch: Vec<lightstreams_vault::SealedChunk> = {
                            let rx = rx.lock();
                            std::iter::from_fn(|| rx.recv().ok())
                                .take(per_request)
                                .collect()
                        };
                        if batch.is_empty() {
                            break;
                        }
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            continue;
                        }
                        match self.put_chunks(item, &batch) {
                            Ok(()) => stored
                                .lock()
                                .extend(batch.iter().map(|sealed| sealed.address.0)),
                            Err(e) => {
                                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                                failed.lock().get_or_insert(e);
                            }
                        }
                        for sealed in batch {
                            spares.give(sealed.bytes);
                        }
                    }
                });
            }
            let mut encryptor =
                Encryptor::new(input, key, item, version).with_spares(spares.clone());
            let mut sealing_error = None;
            for sealed in encryptor.by_ref() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match sealed {
                    Ok(sealed) => {
                        if tx.send(sealed).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        sealing_error = Some(ProtocolError::from(e));
                        break;
                    }
                }
            }
            drop(tx);
            (encryptor, sealing_error)
        });
        let stored = stored.into_inner();
        if let Some(e) = sealing_error.or_else(|| failed.into_inner()) {
            // Leave nothing half-written: remove what this version stored so far.
            for address in stored {
                let request = self.request(RequestKind::Delete, item, ObjectRef::Chunk(address));
                let _ = self.remote.delete(&request);
            }
            return Err(e);
        }
        let chunks = stored.len() as u64;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (manifest, blob) = encryptor.finish(
            &content.name,
            &content.media_type,
            epoch,
            previous.map(|p| lightstreams_vault::Address(p.0)),
            created,
        )?;
        let request = self.request(RequestKind::Put, item, ObjectRef::Manifest(blob.address.0));
        self.remote.put(&request, &blob.bytes)?;
        Ok(Published {
            item,
            version,
            epoch,
            manifest: B256::from(blob.address.0),
            size: manifest.size,
            chunks,
        })
    }

    /// Upload sealed chunks of `item`: one signed batch for several, a plain `PUT` for one.
    fn put_chunks(
        &self,
        item: ItemId,
        chunks: &[lightstreams_vault::SealedChunk],
    ) -> Result<(), ProtocolError> {
        if let [sealed] = chunks {
            let request = self.request(RequestKind::Put, item, ObjectRef::Chunk(sealed.address.0));
            return self.remote.put(&request, &sealed.bytes);
        }
        let (list, request) = self.batch_request(
            RequestKind::Put,
            item,
            chunks.iter().map(|sealed| &sealed.address.0),
        );
        let objects: Vec<&[u8]> = chunks.iter().map(|sealed| &sealed.bytes[..]).collect();
        self.remote.put_batch(&request, &list, &objects)
    }

    fn publish_version(&self, item: ItemId, published: &Published) -> Result<(), ProtocolError> {
        self.transact(AccessRegistry::publishCall {
            item: B256::from(item.0),
            manifest: published.manifest,
        })?;
        Ok(())
    }

    fn open_version(
        &self,
        item: ItemId,
        version: &VersionInfo,
        key: &ContentKey,
    ) -> Result<(Manifest, lightstreams_vault::VersionOpener), ProtocolError> {
        let request = self.request(
            RequestKind::Get,
            item,
            ObjectRef::Manifest(version.manifest.0),
        );
        let blob = self
            .remote
            .get(&request)?
            .ok_or_else(|| ProtocolError::NotFound(item.to_string()))?;
        let (manifest, opener) = open_manifest(
            key,
            item,
            version.index,
            &blob,
            Some(lightstreams_vault::Address(version.manifest.0)),
        )
        .map_err(|e| {
            ProtocolError::Integrity(format!("manifest of version {}: {e}", version.index))
        })?;
        if manifest.version != version.index || manifest.epoch != version.epoch {
            return Err(ProtocolError::Integrity(format!(
                "manifest says version {} epoch {}, the chain says version {} epoch {}",
                manifest.version, manifest.epoch, version.index, version.epoch
            )));
        }
        Ok((manifest, opener))
    }

    /// The content key of `epoch`: from the public locator for public items, else from an
    /// envelope wrapped to this account by one of the candidate wrappers.
    fn epoch_key(&self, info: &ItemInfo, epoch: u64) -> Result<ContentKey, ProtocolError> {
        let item = info.item;
        if info.public {
            let request = self.request(
                RequestKind::Get,
                item,
                ObjectRef::Envelope(public_locator(item, epoch)),
            );
            if let Some(bytes) = self.remote.get(&request)?
                && let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice())
            {
                return Ok(ContentKey::from_bytes(raw));
            }
        }
        for wrapper in self.candidate_wrappers(info)? {
            let Some(wrapper_pk) = self.encryption_key_of(wrapper)? else {
                continue;
            };
            let loc = locator(&self.identity.encryption, &wrapper_pk.0, &item.0, epoch);
            let request = self.request(RequestKind::Get, item, ObjectRef::Envelope(loc));
            if let Some(bytes) = self.remote.get(&request)? {
                let key = open_envelope(&self.identity.encryption, &item.0, epoch, &bytes)
                    .map_err(|e| {
                        ProtocolError::Integrity(format!("envelope for epoch {epoch}: {e}"))
                    })?;
                return Ok(ContentKey::from_bytes(key));
            }
        }
        // No envelope: the key may be held by keepers (an item sold while its owner is away).
        if let Some(key) = self.custody_key(item, epoch)? {
            return Ok(key);
        }
        Err(ProtocolError::NoKey {
            item: item.to_string(),
            epoch,
        })
    }

    /// Split the current epoch's content key of `item` among the key keepers at `keeper_urls`
    /// (any `threshold` of them rebuild it; default ⌊2n/3⌋+1), deposit each keeper's share and
    /// publish the custody record on this client's node. From then on anyone the chain lets
    /// read the item gets the key from the keepers, with no envelope from the owner: the owner
    /// may be offline. Needs the owner or an admin; re-keying re-shares the new epoch's key.
    pub fn deposit_custody(
        &self,
        item: ItemId,
        keeper_urls: &[String],
        threshold: Option<usize>,
    ) -> Result<CustodyRecord, ProtocolError> {
        self.ensure_key_registered()?;
        let info = self.info(item)?;
        let key = self.epoch_key(&info, info.epoch)?;
        self.deposit_custody_key(item, info.epoch, &key, keeper_urls, threshold)
    }

    /// The custody record of `item` at `epoch`, if the owner deposited one.
    pub fn custody_record(
        &self,
        item: ItemId,
        epoch: u64,
    ) -> Result<Option<CustodyRecord>, ProtocolError> {
        let request = self.request(
            RequestKind::Get,
            item,
            ObjectRef::Envelope(record_locator(item.0, epoch)),
        );
        let Some(bytes) = self.remote.get(&request)? else {
            return Ok(None);
        };
        let record: CustodyRecord = serde_json::from_slice(&bytes).map_err(|e| {
            ProtocolError::Integrity(format!("the custody record of epoch {epoch}: {e}"))
        })?;
        if record.item != item.0 || record.epoch != epoch {
            return Err(ProtocolError::Integrity(format!(
                "the custody record stored for epoch {epoch} is for another item or epoch"
            )));
        }
        Ok(Some(record))
    }

    fn deposit_custody_key(
        &self,
        item: ItemId,
        epoch: u64,
        key: &ContentKey,
        keeper_urls: &[String],
        threshold: Option<usize>,
    ) -> Result<CustodyRecord, ProtocolError> {
        if keeper_urls.is_empty() {
            return Err(ProtocolError::Remote(
                "no key keepers given: name at least one node that keeps key shares".into(),
            ));
        }
        let mut remotes = Vec::new();
        let mut keepers = Vec::new();
        for url in keeper_urls {
            let remote = self.remote.connect_peer(url)?;
            let public_key = remote.keeper_key().ok_or_else(|| {
                ProtocolError::Remote(format!(
                    "{url} does not keep key shares (its /v1 names no keeper_key)"
                ))
            })?;
            keepers.push(Keeper {
                node_id: remote.node_id(),
                url: url.clone(),
                public_key,
            });
            remotes.push(remote);
        }
        let threshold = threshold.unwrap_or_else(|| default_threshold(keepers.len()));
        let (record, wrapped) = custody::split(key, item.0, epoch, keepers, threshold)
            .map_err(|e| ProtocolError::Crypto(e.to_string()))?;
        for (index, (remote, wrapped)) in remotes.iter().zip(wrapped).enumerate() {
            let deposit = ShareDeposit {
                record: record.clone(),
                index: index as u32,
                wrapped,
            };
            let body = serde_json::to_vec(&deposit)
                .map_err(|e| ProtocolError::Crypto(format!("cannot encode a deposit: {e}")))?;
            let request = SignedRequest::sign(
                &self.identity.signer,
                RequestKind::Put,
                item.0,
                ObjectRef::Share(epoch),
                remote.node_id(),
            );
            remote.put(&request, &body).map_err(|e| match e {
                ProtocolError::NotFound(_) => ProtocolError::Remote(format!(
                    "keeper {} refused the share: only the owner or an admin of the item may deposit one",
                    keeper_urls[index]
                )),
                other => other,
            })?;
        }
        let body = serde_json::to_vec(&record)
            .map_err(|e| ProtocolError::Crypto(format!("cannot encode the record: {e}")))?;
        let request = self.request(
            RequestKind::Put,
            item,
            ObjectRef::Envelope(record_locator(item.0, epoch)),
        );
        self.remote.put(&request, &body)?;
        Ok(record)
    }

    /// The key of `epoch` rebuilt from the keepers' shares: `None` if there is no custody
    /// record for it. All keepers are asked at once; any `threshold` answers suffice.
    fn custody_key(&self, item: ItemId, epoch: u64) -> Result<Option<ContentKey>, ProtocolError> {
        let Some(record) = self.custody_record(item, epoch)? else {
            return Ok(None);
        };
        let ask = |index: usize, keeper: &Keeper| -> Result<Share, ProtocolError> {
            let remote = self.remote.connect_peer(&keeper.url)?;
            if remote.node_id() != keeper.node_id {
                return Err(ProtocolError::Remote(format!(
                    "the node at {} is {}, not the keeper {} the record names",
                    keeper.url,
                    remote.node_id(),
                    keeper.node_id
                )));
            }
            let request = SignedRequest::sign(
                &self.identity.signer,
                RequestKind::Get,
                item.0,
                ObjectRef::Share(epoch),
                remote.node_id(),
            );
            let body = remote
                .get(&request)?
                .ok_or_else(|| ProtocolError::NotFound(format!("{item} (no share released)")))?;
            let release: ShareRelease = serde_json::from_slice(&body)
                .map_err(|e| ProtocolError::Integrity(format!("a keeper's answer: {e}")))?;
            if release.index as usize != index {
                return Err(ProtocolError::Integrity(format!(
                    "keeper {index} answered as keeper {}",
                    release.index
                )));
            }
            open_released(
                &self.identity.encryption,
                &record,
                index as u32,
                &release.released,
            )
            .map_err(|e| ProtocolError::Integrity(format!("keeper {index}'s share: {e}")))
        };
        // A keeper that has not yet finalised the block granting READ answers not-found, so
        // a short shortfall is retried: finality reaches every validator within moments.
        const ATTEMPTS: usize = 4;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.gather_shares(&record, &ask)? {
                Ok(key) => return Ok(Some(key)),
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(400)),
            }
        }
    }

    /// Ask every keeper of `record` at once; the key if `threshold` answered, else why not.
    #[allow(clippy::type_complexity)]
    fn gather_shares(
        &self,
        record: &CustodyRecord,
        ask: &(dyn Fn(usize, &Keeper) -> Result<Share, ProtocolError> + Sync),
    ) -> Result<Result<ContentKey, ProtocolError>, ProtocolError> {
        let epoch = record.epoch;
        let answers: Vec<Result<Share, ProtocolError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = record
                .keepers
                .iter()
                .enumerate()
                .map(|(index, keeper)| scope.spawn(move || ask(index, keeper)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ProtocolError::Remote("a keeper query panicked".into()))
                    })
                })
                .collect()
        });
        let mut shares = Vec::new();
        let mut failures = Vec::new();
        for (index, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(share) => shares.push(share),
                Err(e) => failures.push(format!("keeper {index}: {e}")),
            }
        }
        let needed = record.threshold as usize;
        if shares.len() < needed {
            return Ok(Err(ProtocolError::Remote(format!(
                "the key of epoch {epoch} needs {needed} keepers' shares, {} answered ({})",
                shares.len(),
                failures.join("; ")
            ))));
        }
        shares.truncate(needed);
        custody::combine(record, &shares)
            .map(Ok)
            .map_err(|e| ProtocolError::Integrity(format!("combining the keepers' shares: {e}")))
    }

    /// Who may have wrapped a key for this account: itself, the owner, whoever granted it, and
    /// whoever started an epoch.
    fn candidate_wrappers(&self, info: &ItemInfo) -> Result<Vec<Address>, ProtocolError> {
        let me = self.address();
        let id = B256::from(info.item.0);
        let mut out = vec![me, info.owner];
        let me_topic = B256::left_padding_from(me.as_slice());
        let grants = self.ledger.logs(
            ACCESS_REGISTRY,
            [
                Some(AccessRegistry::Granted::SIGNATURE_HASH),
                Some(id),
                Some(me_topic),
                None,
            ],
        )?;
        let epochs = self.ledger.logs(
            ACCESS_REGISTRY,
            [
                Some(AccessRegistry::EpochStarted::SIGNATURE_HASH),
                Some(id),
                None,
                None,
            ],
        )?;
        for log in grants.iter().chain(epochs.iter()).rev() {
            if let Some(by) = log.topics().last() {
                let by = Address::from_slice(&by.0[12..]);
                if !out.contains(&by) {
                    out.push(by);
                }
            }
        }
        Ok(out)
    }

    fn put_envelope_for(
        &self,
        item: ItemId,
        epoch: u64,
        key: &ContentKey,
        who: Address,
    ) -> Result<(), ProtocolError> {
        let pk = if who == self.address() {
            B256::from(self.identity.encryption.public_bytes())
        } else {
            self.encryption_key_of(who)?
                .ok_or(ProtocolError::NoEncryptionKey(who))?
        };
        self.put_envelope(item, epoch, key, pk.0)
    }

    fn put_envelope(
        &self,
        item: ItemId,
        epoch: u64,
        key: &ContentKey,
        reader_pk: [u8; 32],
    ) -> Result<(), ProtocolError> {
        let sealed = seal_envelope(&reader_pk, &item.0, epoch, key.as_bytes())
            .map_err(|e| ProtocolError::Crypto(e.to_string()))?;
        let loc = locator(&self.identity.encryption, &reader_pk, &item.0, epoch);
        let request = self.request(RequestKind::Put, item, ObjectRef::Envelope(loc));
        self.remote.put(&request, &sealed)
    }

    fn put_public_key(
        &self,
        item: ItemId,
        epoch: u64,
        key: &ContentKey,
    ) -> Result<(), ProtocolError> {
        let request = self.request(
            RequestKind::Put,
            item,
            ObjectRef::Envelope(public_locator(item, epoch)),
        );
        self.remote.put(&request, key.as_bytes())
    }

    /// After an epoch change: a new key, the latest version re-encrypted under it, envelopes
    /// for every remaining reader.
    fn rekey(
        &self,
        item: ItemId,
        latest: Option<(VersionInfo, ContentKey)>,
    ) -> Result<Option<Published>, ProtocolError> {
        let info = self.info(item)?;
        let key = ContentKey::random();
        for who in self.readers(&info)? {
            match self.put_envelope_for(item, info.epoch, &key, who) {
                Ok(()) | Err(ProtocolError::NoEncryptionKey(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if info.public {
            self.put_public_key(item, info.epoch, &key)?;
        }
        // Keys the keepers held for the previous epoch are re-shared for the new one, so a
        // sale can go on while the owner is away; the revoked reader gets no share of it.
        if let Some(previous) = info.epoch.checked_sub(1)
            && let Some(record) = self.custody_record(item, previous)?
        {
            let urls: Vec<String> = record.keepers.iter().map(|k| k.url.clone()).collect();
            self.deposit_custody_key(
                item,
                info.epoch,
                &key,
                &urls,
                Some(record.threshold as usize),
            )?;
        }
        let Some((version, old_key)) = latest else {
            return Ok(None);
        };
        // Re-encrypt the latest version: stream old chunks through decryption into the sealer.
        let (manifest, opener) = self.open_version(item, &version, &old_key)?;
        let spares = lightstreams_vault::Spares::new();
        let source = RemoteChunks {
            client: self,
            item,
            spares: &spares,
        };
        let content = Content {
            name: manifest.name.clone(),
            media_type: manifest.media_type.clone(),
        };
        let published = if manifest.size == 0 {
            self.seal_and_publish(
                item,
                info.versions.len() as u64,
                info.epoch,
                &key,
                Some(version.manifest),
                std::io::empty(),
                &content,
            )?
        } else {
            let reader = RangeReader::new(&manifest, &opener, &source, 0, manifest.size - 1)?;
            self.seal_and_publish(
                item,
                info.versions.len() as u64,
                info.epoch,
                &key,
                Some(version.manifest),
                reader,
                &content,
            )?
        };
        self.publish_version(item, &published)?;
        Ok(Some(published))
    }

    /// Everyone who should hold the current epoch key: the owner, this account, and every
    /// account whose grant is still valid.
    fn readers(&self, info: &ItemInfo) -> Result<Vec<Address>, ProtocolError> {
        let id = B256::from(info.item.0);
        let mut out = vec![info.owner];
        if !out.contains(&self.address()) {
            out.push(self.address());
        }
        let grants = self.ledger.logs(
            ACCESS_REGISTRY,
            [
                Some(AccessRegistry::Granted::SIGNATURE_HASH),
                Some(id),
                None,
                None,
            ],
        )?;
        for log in grants {
            let Some(topic) = log.topics().get(2) else {
                continue;
            };
            let who = Address::from_slice(&topic.0[12..]);
            if out.contains(&who) {
                continue;
            }
            let level: u8 = self
                .view(AccessRegistry::levelOfCall { item: id, who })?
                .into();
            if level > 0 {
                out.push(who);
            }
        }
        Ok(out)
    }
}

/// A version ready to read: its verified manifest and the key material to open its chunks.
#[derive(Debug)]
pub struct Opened {
    /// The item.
    pub item: ItemId,
    /// The verified manifest.
    pub manifest: Manifest,
    opener: lightstreams_vault::VersionOpener,
}

/// Chunks fetched from the vault node with signed requests.
struct RemoteChunks<'a, L, R> {
    client: &'a Client<L, R>,
    item: ItemId,
    /// Buffers for batch reads.
    spares: &'a lightstreams_vault::Spares,
}

impl<L: Ledger + Sync, R: Remote + Sync> RemoteChunks<'_, L, R> {
    /// Chunk `index` on its own, checked against its address.
    fn fetch_verified(
        &self,
        index: u64,
        address: &lightstreams_vault::Address,
    ) -> Result<Vec<u8>, lightstreams_vault::Error> {
        let bytes = self.fetch(index, address)?;
        address.check(&bytes)?;
        Ok(bytes)
    }
}

impl<L: Ledger + Sync, R: Remote + Sync> FetchAhead for RemoteChunks<'_, L, R> {
    /// Runs of chunks per batch request where the node has batch reads.
    fn run(&self) -> usize {
        const BATCH_RUN: usize = 16;
        if self.client.remote.batch_reads() {
            BATCH_RUN
        } else {
            1
        }
    }

    /// One batch request for several chunks, one plain request for a single chunk.
    fn fetch_run(
        &self,
        chunks: &[lightstreams_vault::Address],
        indices: &[u64],
        tx: &std::sync::mpsc::SyncSender<Fetched>,
    ) -> bool {
        let missing = |index: u64| {
            lightstreams_vault::Error::Format(format!("no chunk {index} in the manifest"))
        };
        let address = |index: u64| chunks.get(index as usize).ok_or_else(|| missing(index));
        if let [index] = indices {
            let fetched = address(*index).and_then(|a| self.fetch_verified(*index, a));
            return tx.send((*index, fetched)).is_ok();
        }
        let run: Vec<lightstreams_vault::Address> = match indices
            .iter()
            .map(|&i| address(i).copied())
            .collect::<Result<_, _>>()
        {
            Ok(run) => run,
            Err(e) => {
                let _ = tx.send((indices.first().copied().unwrap_or(0), Err(e)));
                return false;
            }
        };
        let (body, request) =
            self.client
                .batch_request(RequestKind::Get, self.item, run.iter().map(|a| &a.0));
        let mut sent = 0;
        let mut open = true;
        let result = self
            .client
            .remote
            .get_batch(&request, &body, self.spares, &mut |i, bytes| {
                let (Some(&index), Some(address)) = (indices.get(i), run.get(i)) else {
                    return;
                };
                // The node sends its own copies unverified: each is checked here, on this lane,
                // and a chunk that came back absent or damaged is asked for on its own (the node
                // then verifies its copy and replaces a damaged one from a replica).
                let fetched = match bytes {
                    Some(bytes) if lightstreams_vault::Address::of(&bytes) == *address => Ok(bytes),
                    _ => self.fetch_verified(index, address),
                };
                if open && tx.send((index, fetched)).is_err() {
                    open = false;
                }
                sent = i + 1;
            });
        if let Err(e) = result
            && open
            && let Some(&next) = indices.get(sent)
        {
            // The stream broke (or the node refused): the reader stops at the first gap.
            let _ = tx.send((
                next,
                Err(lightstreams_vault::Error::Io(std::io::Error::other(
                    e.to_string(),
                ))),
            ));
            return false;
        }
        open
    }

    /// Back to the lanes for the next batch reads.
    fn recycle(&self, buffer: Vec<u8>) {
        self.spares.give(buffer);
    }
}

impl<L: Ledger + Sync, R: Remote + Sync> ChunkSource for RemoteChunks<'_, L, R> {
    fn fetch(
        &self,
        _index: u64,
        address: &lightstreams_vault::Address,
    ) -> Result<Vec<u8>, lightstreams_vault::Error> {
        let request = self
            .client
            .request(RequestKind::Get, self.item, ObjectRef::Chunk(address.0));
        match self.client.remote.get(&request) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(lightstreams_vault::Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("chunk {address} not found on the vault node"),
            ))),
            Err(e) => Err(lightstreams_vault::Error::Io(std::io::Error::other(
                e.to_string(),
            ))),
        }
    }
}

/// Where the clear epoch key of a public item lives.
pub fn public_locator(item: ItemId, epoch: u64) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("lightstreams public key locator v1");
    hasher.update(&item.0);
    hasher.update(&epoch.to_le_bytes());
    *hasher.finalize().as_bytes()
}

/// A level's name as shown to users.
pub fn level_name(is_owner: bool, level: u8) -> &'static str {
    match (is_owner, level) {
        (true, _) => "owner",
        (_, 3) => "admin",
        (_, 2) => "write",
        (_, 1) => "read",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::SolValue as _;

    /// A chain (as a JSON-RPC node might describe it) whose item claims `versions` versions
    /// and holds none of them.
    struct ClaimingLedger {
        versions: u64,
    }

    impl Ledger for ClaimingLedger {
        fn call(&self, _: Address, data: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
            let selector = data.get(..4).unwrap_or_default();
            if selector == AccessRegistry::canReadCall::SELECTOR {
                Ok(true.abi_encode())
            } else if selector == AccessRegistry::levelOfCall::SELECTOR {
                Ok(U256::from(1u8).abi_encode())
            } else if selector == AccessRegistry::infoCall::SELECTOR {
                Ok((Address::ZERO, false, 0u64, Address::ZERO, self.versions).abi_encode_params())
            } else {
                Err(ProtocolError::Chain("no such version".into()))
            }
        }

        fn transact_with_value(
            &self,
            _: &PrivateKeySigner,
            _: Address,
            _: Vec<u8>,
            _: U256,
        ) -> Result<B256, ProtocolError> {
            Err(ProtocolError::Chain("read only".into()))
        }

        fn logs(&self, _: Address, _: [Option<B256>; 4]) -> Result<Vec<Log>, ProtocolError> {
            Ok(Vec::new())
        }
    }

    struct NoRemote;

    impl Remote for NoRemote {
        fn node_id(&self) -> String {
            "node".into()
        }
        fn put(&self, _: &SignedRequest, _: &[u8]) -> Result<(), ProtocolError> {
            Err(ProtocolError::Remote("none".into()))
        }
        fn get(&self, _: &SignedRequest) -> Result<Option<Vec<u8>>, ProtocolError> {
            Ok(None)
        }
        fn delete(&self, _: &SignedRequest) -> Result<(), ProtocolError> {
            Ok(())
        }
    }

    /// An item whose version count (from the chain's answer) is absurd gets an error from the
    /// first version that is not there, not a buffer sized from the count.
    #[test]
    fn an_absurd_version_count_is_not_a_buffer_size() {
        for versions in [u64::MAX, 1 << 40] {
            let client = Client::new(
                ClaimingLedger { versions },
                NoRemote,
                Identity::from_signer(PrivateKeySigner::random()),
            );
            let err = client.info(ItemId([1; 32])).expect_err("no versions");
            assert!(err.to_string().contains("no such version"), "{err}");
        }
    }
}
