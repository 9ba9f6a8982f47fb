//! The vault's HTTP API under `/v1`, served on the JSON-RPC port.
//!
//! Two families of routes:
//! - **`/v1/raw/...`** for clients that encrypt themselves (the CLI): sealed chunks, manifests
//!   and envelopes, each request signed by the account (see `lightstreams_access::request`).
//! - **`/v1/session`, `/v1/files/...`, `/v1/items/...`** for clients that let the node encrypt
//!   for an account whose keystore it holds: the node unlocks the key once per session and runs
//!   the same protocol steps (`lightstreams_access::protocol`) against its own chain and store.
//!
//! # Design
//! Serve-time enforcement: a raw `GET` is answered only if the signature is valid, fresh and not
//! replayed, and the signer can read the item at the latest finalised block; a `PUT` of a chunk
//! or manifest needs WRITE, of an envelope ADMIN. **Every refusal and every unknown object gets
//! the same status and the same bytes** ([`not_found`]), so nobody learns whether an item exists.
//! Malformed input (bad ids, bodies that do not hash to their address, oversized bodies) gets a
//! 4xx naming what was wrong; that says nothing about any item.

mod batch;
mod custodial;
mod login;
mod market;
mod openapi;
mod peers;
mod store;
mod stream;

pub use peers::PeerConfig;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, Bytes};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lightstreams_access::acl::{ACCESS_REGISTRY, AccessRegistry};
use lightstreams_access::keeper::ShareDeposit;
use lightstreams_access::request::{ObjectRef, ReplayGuard, RequestKind, SignedRequest};
use lightstreams_chain::Chain;
use lightstreams_network::peer::ForReader;
use lightstreams_vault::ItemId;
use parking_lot::Mutex;
use serde_json::json;

use custodial::blocking;
use store::{ItemStores, MAX_ENVELOPE};

/// Configuration of the vault API.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// Directory of the vault's stores.
    pub dir: PathBuf,
    /// This node's vault id; signed requests must name it (`0x` + hex).
    pub node_id: String,
    /// Keystore directory of the accounts the node may encrypt for (custodial API).
    pub keystore: Option<PathBuf>,
    /// Secret of the node's key-keeper encryption key (X25519), if it keeps key shares for
    /// threshold custody; its public half is announced at `/v1` as `keeper_key`.
    pub keeper_secret: Option<[u8; 32]>,
    /// Whether this node is a validator (validators are the default key keepers).
    pub validator: bool,
    /// API URLs of the other validators, as configured (`/v1/keepers`).
    pub validator_apis: Vec<String>,
    /// How the node replicates to and fetches from other vault nodes (none: it stands alone).
    pub peers: Option<PeerConfig>,
    /// Where to serve the vault stream (peers' batch reads over plain TCP; port 0: any free
    /// port), announced at `/v1` as `stream_port`; none: peers read over HTTP only.
    pub stream: Option<std::net::SocketAddr>,
    /// Where to serve the local stream: the vault stream's requests over a Unix-domain socket
    /// for clients on this machine, each stored blob handed over as an open file
    /// ([`lightstreams_network::local`]). Announced at `/v1` as `local_stream` to clients on
    /// this machine only; none (or a path that cannot be bound): not served.
    pub local_stream: Option<PathBuf>,
}

#[cfg(test)]
impl VaultConfig {
    /// A node standing alone (no keystore, keeper key, peers or stream) whose stores are in
    /// `dir` and whose id is `0xabcd`: the unit tests' vault.
    pub(crate) fn alone(dir: PathBuf) -> Self {
        Self {
            dir,
            node_id: "0xabcd".into(),
            keystore: None,
            keeper_secret: None,
            validator: false,
            validator_apis: Vec::new(),
            peers: None,
            stream: None,
            local_stream: None,
        }
    }
}

/// The largest sealed chunk: a full chunk's padded plaintext plus the AEAD tag.
const MAX_CHUNK_BODY: usize = lightstreams_vault::CHUNK_SIZE + 64;
/// The largest fan-channel post (a sealed message or reply).
const MAX_POST: usize = 64 * 1024;
/// The largest sealed manifest (about 250,000 chunks of addresses).
const MAX_MANIFEST_BODY: usize = 32 * 1024 * 1024;
/// How long a node remembers who stored a chunk or manifest (so the uploader can take it back
/// after a failed upload).
const UPLOAD_MEMORY: std::time::Duration = std::time::Duration::from_secs(3600);
/// Most uploads remembered at once.
const MAX_UPLOADS_REMEMBERED: usize = 200_000;

/// The one answer to everything refused or unknown.
pub const NOT_FOUND_BODY: &str = r#"{"error":{"code":"not_found","message":"not found"}}"#;

/// The uniform "not found".
pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        NOT_FOUND_BODY,
    )
        .into_response()
}

/// An error with a JSON body `{ "error": { "code", "message" } }`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// A query string read into `T`. One that does not fit is a JSON 400 naming what is wrong, like
/// every other error here (axum's own `Query` answers in plain text).
pub(crate) struct Query<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(ApiError::bad_request(format!(
                "{} (see /v1/openapi.json for this route's parameters)",
                e.body_text()
            ))),
        }
    }
}

/// What a handler returns when it refuses: the uniform not-found, or a 4xx about the input.
pub(crate) enum Refused {
    NotFound,
    Api(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotFound => not_found(),
            Refused::Api(e) => e.into_response(),
        }
    }
}

/// Who stored which chunk or manifest on this node lately: a `DELETE` (a client cleaning up an
/// upload that failed) removes only what the same account stored within [`UPLOAD_MEMORY`]. At
/// most `capacity` are remembered; beyond that the oldest is forgotten (its uploader can no
/// longer take it back, as with any published object).
///
/// It also holds the blobs uploads in progress stored or found already here ([`Claim`]): two
/// uploads of the same blob (a retry on another connection, the owner and a WRITE grantee) may
/// overlap, and the one that stored it must not take it back when it fails (nor its uploader
/// by `DELETE`) while the other relies on it. A blob that another upload relied on, or held at
/// the same time, can no longer be taken back by `DELETE` at all.
struct RecentUploads {
    by_object: HashMap<(ItemId, [u8; 32]), (Address, std::time::Instant)>,
    /// Objects in the order stored (an entry removed or stored again since is skipped).
    order: std::collections::VecDeque<((ItemId, [u8; 32]), std::time::Instant)>,
    capacity: usize,
    /// Blobs held by uploads in progress (an entry goes when its last holder ends).
    claims: HashMap<(ItemId, [u8; 32]), Claim>,
}

/// What uploads in progress did with one blob.
#[derive(Debug, Default)]
struct Claim {
    /// Uploads in progress that stored the blob or found it here.
    holders: usize,
    /// Two or more held it at once: none of them may take it back by `DELETE` later.
    contended: bool,
    /// A holder completed: the blob stays.
    kept: bool,
    /// A holder that stored it failed, or its uploader deleted it, while it was held: the last
    /// holder to end removes it unless one was kept.
    orphaned: bool,
}

/// How an upload that held a blob ended.
#[derive(Clone, Copy, Debug)]
enum Ended {
    /// It completed, signed by this account; `stored`: it wrote the blob (it was not here).
    Kept { who: Address, stored: bool },
    /// It failed; `stored`: it wrote the blob.
    Failed { stored: bool },
}

/// What a `DELETE` of a blob its signer stored lately comes to.
#[derive(Debug, PartialEq, Eq)]
enum TakeBack {
    /// Not the signer's to take back (never, no longer, or another upload relied on it).
    Refused,
    /// Remove it now.
    Now,
    /// Uploads in progress hold it: the last of them removes it unless one completes.
    Deferred,
}

impl RecentUploads {
    fn new(capacity: usize) -> Self {
        Self {
            by_object: HashMap::new(),
            order: std::collections::VecDeque::new(),
            capacity,
            claims: HashMap::new(),
        }
    }

    /// An upload is about to store `key` or rely on finding it here. Called before it looks,
    /// so that a failing upload cannot remove the blob between that look and the claim.
    fn claim(&mut self, key: (ItemId, [u8; 32])) {
        let claim = self.claims.entry(key).or_default();
        claim.holders += 1;
        if claim.holders > 1 {
            claim.contended = true;
        }
    }

    /// An upload that claimed `key` ended at `now`: `true` if the caller must remove the blob
    /// now (while it still holds this registry, so no upload claims it in between): one that
    /// stored it failed, or its uploader deleted it, and no holder completed.
    fn release(&mut self, key: (ItemId, [u8; 32]), ended: Ended, now: std::time::Instant) -> bool {
        let Some(claim) = self.claims.get_mut(&key) else {
            return false;
        };
        claim.holders = claim.holders.saturating_sub(1);
        let contended = claim.contended;
        match ended {
            Ended::Kept { .. } => claim.kept = true,
            Ended::Failed { stored } => claim.orphaned |= stored,
        }
        let remove = if claim.holders == 0 {
            self.claims
                .remove(&key)
                .is_some_and(|claim| claim.orphaned && !claim.kept)
        } else {
            false
        };
        if let Ended::Kept { who, stored } = ended {
            if stored && !contended {
                self.insert(key, who, now);
            } else {
                // Someone else's upload relies on it (or may): nobody takes it back.
                self.remove(&key);
            }
        }
        remove
    }

    /// `who` asks at `now` to take back `key` (a `DELETE` after its upload failed).
    fn take_back(
        &mut self,
        key: &(ItemId, [u8; 32]),
        who: Address,
        now: std::time::Instant,
    ) -> TakeBack {
        if !self.stored_by(key, who, now) {
            return TakeBack::Refused;
        }
        self.remove(key);
        match self.claims.get_mut(key) {
            Some(claim) => {
                claim.orphaned = true;
                TakeBack::Deferred
            }
            None => TakeBack::Now,
        }
    }

    /// `who` stored `key` at `now`.
    fn insert(&mut self, key: (ItemId, [u8; 32]), who: Address, now: std::time::Instant) {
        while let Some(&(old, at)) = self.order.front() {
            let expired = now.duration_since(at) >= UPLOAD_MEMORY;
            if !expired && self.by_object.len() < self.capacity {
                break;
            }
            self.order.pop_front();
            if self
                .by_object
                .get(&old)
                .is_some_and(|(_, seen)| *seen == at)
            {
                self.by_object.remove(&old);
            }
        }
        self.by_object.insert(key, (who, now));
        self.order.push_back((key, now));
    }

    /// Whether `who` stored `key` within [`UPLOAD_MEMORY`] before `now`.
    fn stored_by(&self, key: &(ItemId, [u8; 32]), who: Address, now: std::time::Instant) -> bool {
        self.by_object
            .get(key)
            .is_some_and(|(by, at)| *by == who && now.duration_since(*at) < UPLOAD_MEMORY)
    }

    fn remove(&mut self, key: &(ItemId, [u8; 32])) {
        self.by_object.remove(key);
    }
}

/// Shared state of the vault API.
pub(crate) struct Vault {
    chain: Arc<Chain>,
    stores: ItemStores,
    node_id: String,
    /// Nonces of requests from item members (any level) and from peers.
    guard: ReplayGuard,
    /// Nonces of requests let in without a level: public items, policies.
    open_guard: ReplayGuard,
    sessions: Mutex<HashMap<String, custodial::Session>>,
    /// Waits between password attempts per account (`POST /v1/session`).
    logins: login::LoginGuard,
    /// Who stored which chunk or manifest here lately (for `DELETE`).
    uploads: Mutex<RecentUploads>,
    keystore: Option<PathBuf>,
    /// Whether this node is a validator, and the other validators' API URLs.
    validator: bool,
    validator_apis: Vec<String>,
    /// The key-keeper encryption key, if this node keeps key shares.
    keeper: Option<lightstreams_access::keys::EncryptionKeyPair>,
    /// (head, (item, account) → (level, can read)) for the current head.
    acl_cache: Mutex<AclCache>,
    /// The node's part in the vault network, if it has one.
    peers: Option<peers::PeerNet>,
    /// The port of the vault stream, once it serves (0: none).
    stream_port: std::sync::atomic::AtomicU16,
    /// Where the local stream serves, once it does.
    local_stream: std::sync::OnceLock<PathBuf>,
}

type AclCache = (u64, HashMap<(ItemId, Address), (u8, bool)>);

/// Most nonces remembered at once for requests let in without a level (public items,
/// policies); the members' guard remembers up to `MAX_REMEMBERED`.
const OPEN_NONCES: usize = 262_144;

/// Most cached permission answers per head.
const ACL_CACHE_ENTRIES: usize = 100_000;

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Vault {
    pub(crate) fn open(chain: Arc<Chain>, config: &VaultConfig) -> std::io::Result<Self> {
        Ok(Self {
            chain,
            stores: ItemStores::open(&config.dir)?,
            node_id: config.node_id.clone(),
            guard: ReplayGuard::default(),
            open_guard: ReplayGuard::with_capacity(OPEN_NONCES),
            sessions: Mutex::new(HashMap::new()),
            logins: login::LoginGuard::default(),
            uploads: Mutex::new(RecentUploads::new(MAX_UPLOADS_REMEMBERED)),
            keystore: config.keystore.clone(),
            acl_cache: Mutex::new((u64::MAX, HashMap::new())),
            validator: config.validator,
            validator_apis: config.validator_apis.clone(),
            keeper: config
                .keeper_secret
                .map(lightstreams_access::keys::EncryptionKeyPair::from_secret_bytes),
            peers: config.peers.as_ref().map(peers::PeerNet::new),
            stream_port: std::sync::atomic::AtomicU16::new(0),
            local_stream: std::sync::OnceLock::new(),
        })
    }

    /// The account that signed `header` for this exact request, if the signature is valid,
    /// the request fresh, `allowed(account)` true and the nonce never seen before.
    ///
    /// Nonces are remembered only for requests that pass everything else: a request refused
    /// anyway gains nothing from a replay, and so a flood from made-up keys (free to make, each
    /// holding nothing) takes none of the replay guard's memory. Replays are checked only after
    /// the signature, so nobody can burn another's nonces.
    ///
    /// Requests from accounts that hold a level on the item (a grant written on chain, or
    /// ownership) are remembered apart from the rest (readers of a public item, or of one whose
    /// policy lets them in): anyone can read a public item with as many made-up keys as they
    /// like, and such a flood must not thin what is remembered for the item members' requests.
    fn authenticate(
        &self,
        method: RequestKind,
        item: &ItemId,
        object: &ObjectRef,
        header: Option<&str>,
        allowed: impl FnOnce(Address) -> bool,
    ) -> Option<Address> {
        let (who, ts, nonce) = self.signer(method, item, object, header)?;
        if now_secs().abs_diff(ts) > lightstreams_access::request::MAX_SKEW || !allowed(who) {
            return None;
        }
        let guard = if self.level(item, who) >= 1 {
            &self.guard
        } else {
            &self.open_guard
        };
        guard
            .check(
                now_secs(),
                ts,
                nonce,
                lightstreams_access::request::account_signer(who),
            )
            .ok()?;
        Some(who)
    }

    /// The account that signed `header` for this exact request, with its timestamp and nonce,
    /// if the signature is valid (freshness and replays are not checked here).
    fn signer(
        &self,
        method: RequestKind,
        item: &ItemId,
        object: &ObjectRef,
        header: Option<&str>,
    ) -> Option<(Address, u64, [u8; 16])> {
        let (ts, nonce, signature) = SignedRequest::parse_header(header?).ok()?;
        let request = SignedRequest {
            method,
            item: item.0,
            object: object.clone(),
            node: self.node_id.clone(),
            ts,
            nonce,
            signature,
        };
        Some((request.recover().ok()?, ts, nonce))
    }

    /// Whether a `PUT` of `object` signed with `header` may go ahead, decided before its body
    /// is read (the signature covers the object, not the body), so nobody who may not write
    /// makes this node hold a body. The nonce is not spent here: [`Vault::serve_put`] checks
    /// everything again, replays included, once the body is in.
    pub(crate) fn may_put(&self, item: &ItemId, object: &ObjectRef, header: Option<&str>) -> bool {
        let Some((who, ts, _)) = self.signer(RequestKind::Put, item, object, header) else {
            return false;
        };
        now_secs().abs_diff(ts) <= lightstreams_access::request::MAX_SKEW
            && self.put_allowed(item, object, who)
    }

    /// Whether `who` holds what a `PUT` of `object` needs: ADMIN for envelopes, key shares and
    /// channel messages, READ for a reply, WRITE for chunks and manifests.
    fn put_allowed(&self, item: &ItemId, object: &ObjectRef, who: Address) -> bool {
        match object {
            ObjectRef::Envelope(_) | ObjectRef::Share(_) | ObjectRef::Message(_) => {
                self.level(item, who) >= 3
            }
            ObjectRef::Reply(_) => self.can_read(item, who),
            _ => self.level(item, who) >= 2,
        }
    }

    /// Run a view of the access registry at the latest finalised block.
    fn acl<C: SolCall>(&self, call: C) -> Option<C::Return> {
        self.view(ACCESS_REGISTRY, call)
    }

    /// Run a view of the contract at `to` at the latest finalised block.
    fn view<C: SolCall>(&self, to: Address, call: C) -> Option<C::Return> {
        let request = TransactionRequest::default()
            .to(to)
            .input(Bytes::from(call.abi_encode()).into());
        let out = self.chain.call(&request, self.chain.head_number()).ok()?;
        C::abi_decode_returns(&out).ok()
    }

    /// `who`'s (level, can read) on `item` at the latest finalised block. Answers are cached
    /// for the current head only: the same state gives the same answer (expiry included, as
    /// it reads the head's timestamp), and a new head empties the cache.
    fn permission(&self, item: &ItemId, who: Address) -> (u8, bool) {
        let head = self.chain.head_number();
        {
            let cache = self.acl_cache.lock();
            if cache.0 == head
                && let Some(answer) = cache.1.get(&(*item, who))
            {
                return *answer;
            }
        }
        let level = self
            .acl(AccessRegistry::levelOfCall {
                item: item.0.into(),
                who,
            })
            .map(u8::from)
            .unwrap_or(0);
        let can_read = level >= 1
            || self
                .acl(AccessRegistry::canReadCall {
                    item: item.0.into(),
                    who,
                })
                .unwrap_or(false);
        let mut cache = self.acl_cache.lock();
        if cache.0 != head {
            *cache = (head, HashMap::new());
        }
        if cache.1.len() < ACL_CACHE_ENTRIES {
            cache.1.insert((*item, who), (level, can_read));
        }
        (level, can_read)
    }

    /// Whether `who` may fetch `object` of `item` at the finalised head: READ, and for a reply
    /// (reader to owner) ADMIN. The same rule for clients and for the readers peers name.
    fn may_fetch(&self, item: &ItemId, who: Address, object: &ObjectRef) -> bool {
        self.can_read(item, who)
            && (!matches!(object, ObjectRef::Reply(_)) || self.level(item, who) >= 3)
    }

    fn can_read(&self, item: &ItemId, who: Address) -> bool {
        self.permission(item, who).1
    }

    fn level(&self, item: &ItemId, who: Address) -> u8 {
        self.permission(item, who).0
    }

    /// Answer a signed `GET` of one object: the bytes, `Ok(None)` (the uniform not-found), or
    /// `Err` when an authorised caller asks for an object that is damaged on disk.
    pub(crate) fn serve_get(
        &self,
        item: &ItemId,
        object: &ObjectRef,
        header: Option<&str>,
    ) -> Result<Option<Vec<u8>>, String> {
        let Some(who) = self.authenticate(RequestKind::Get, item, object, header, |who| {
            self.may_fetch(item, who, object)
        }) else {
            return Ok(None);
        };
        match object {
            ObjectRef::Info => return Ok(self.info_json(item).map(|v| v.to_string().into_bytes())),
            ObjectRef::Share(epoch) => return self.release_share(item, *epoch, who),
            _ => {}
        }
        // Replicated objects: this node's copy, else (or if damaged) a verified one from a
        // replica, fetched for this reader with the request it signed (the replica checks it).
        let (kind, id) = object.path_parts();
        let who = ForReader::new(who, kind, &id, header.unwrap_or_default());
        match self.local_object(item, object) {
            Ok(Some(bytes)) => Ok(Some(bytes)),
            Ok(None) => Ok(self.fetch_from_peers(item, object, &who, false)),
            Err(e) => {
                // Only a caller allowed to read the item gets this far, so saying so leaks nothing.
                tracing::error!(item = %item, error = %e, "vault object unreadable; asking replicas");
                if let ObjectRef::Chunk(a) | ObjectRef::Manifest(a) = object {
                    let _ = self
                        .stores
                        .delete_blob(item, &lightstreams_vault::Address(*a));
                }
                self.fetch_from_peers(item, object, &who, true)
                    .map(Some)
                    .ok_or_else(|| {
                        format!("the node's copy is damaged and no replica has an intact one: {e}")
                    })
            }
        }
    }

    /// Remove a chunk or manifest (needs WRITE): cleans up after a failed upload.
    pub(crate) fn serve_delete(
        &self,
        item: &ItemId,
        object: &ObjectRef,
        header: Option<&str>,
    ) -> Result<(), Refused> {
        let address = match object {
            ObjectRef::Chunk(a) | ObjectRef::Manifest(a) => lightstreams_vault::Address(*a),
            _ => return Err(Refused::NotFound),
        };
        // Only what this account stored here lately: a writer cannot remove a version someone
        // else published (or its own, once it is an hour old).
        // Nor one another upload relied on since, or holds now (see `RecentUploads`).
        let who = self
            .authenticate(RequestKind::Delete, item, object, header, |who| {
                self.level(item, who) >= 2 && self.uploaded_by(item, &address.0, who)
            })
            .ok_or(Refused::NotFound)?;
        // Decided and done under the registry's lock: no upload claims the blob in between.
        let mut uploads = self.uploads.lock();
        match uploads.take_back(&(*item, address.0), who, std::time::Instant::now()) {
            TakeBack::Refused => Err(Refused::NotFound),
            TakeBack::Deferred => Ok(()),
            TakeBack::Now => self
                .stores
                .delete_blob(item, &address)
                .map_err(|e| ApiError::internal(format!("cannot delete: {e}")).into()),
        }
    }

    /// An upload is about to store the chunk or manifest `address` of `item`, or rely on
    /// finding it here; see [`Vault::release_blob`].
    fn claim_blob(&self, item: &ItemId, address: [u8; 32]) {
        self.uploads.lock().claim((*item, address));
    }

    /// An upload that claimed `address` of `item` ended. A completed one that stored it is
    /// remembered for its signer (who may take it back for an hour); a failed one that stored
    /// it removes it, unless another upload relied on it meanwhile.
    fn release_blob(&self, item: &ItemId, address: [u8; 32], ended: Ended) {
        let mut uploads = self.uploads.lock();
        if uploads.release((*item, address), ended, std::time::Instant::now())
            && let Err(e) = self
                .stores
                .delete_blob(item, &lightstreams_vault::Address(address))
        {
            tracing::warn!(item = %item, error = %e, "cannot remove a failed upload's object");
        }
    }

    /// Whether `who` stored `address` of `item` here within [`UPLOAD_MEMORY`].
    fn uploaded_by(&self, item: &ItemId, address: &[u8; 32], who: Address) -> bool {
        self.uploads
            .lock()
            .stored_by(&(*item, *address), who, std::time::Instant::now())
    }

    /// Store one object of a signed `PUT`.
    pub(crate) fn serve_put(
        &self,
        item: &ItemId,
        object: &ObjectRef,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(), Refused> {
        // Checks of the input alone come first: they reveal nothing about any item.
        match object {
            ObjectRef::Chunk(address) | ObjectRef::Manifest(address) => {
                let limit = if matches!(object, ObjectRef::Chunk(_)) {
                    MAX_CHUNK_BODY
                } else {
                    MAX_MANIFEST_BODY
                };
                if body.len() > limit {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!(
                            "a sealed object is at most {limit} bytes; this one is {}",
                            body.len()
                        ),
                    )
                    .into());
                }
                let actual = blake3::hash(body);
                if actual.as_bytes() != address {
                    return Err(ApiError::bad_request(format!(
                        "the body hashes to 0x{}, not to the address 0x{} in the path: an object's address is the BLAKE3 hash of its bytes",
                        actual.to_hex(),
                        hex::encode(address)
                    ))
                    .into());
                }
            }
            ObjectRef::Envelope(_) => {
                if body.is_empty() || body.len() > MAX_ENVELOPE {
                    return Err(ApiError::bad_request(format!(
                        "an envelope is 1 to {MAX_ENVELOPE} bytes; this one is {}",
                        body.len()
                    ))
                    .into());
                }
            }
            ObjectRef::Info | ObjectRef::Batch(_) => {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "info and batches are read-only",
                )
                .into());
            }
            ObjectRef::Share(epoch) => self.check_deposit(item, *epoch, body)?,
            ObjectRef::Message(_) | ObjectRef::Reply(_) => {
                if body.is_empty() || body.len() > MAX_POST {
                    return Err(ApiError::bad_request(format!(
                        "a fan-channel post is 1 to {MAX_POST} bytes; this one is {}",
                        body.len()
                    ))
                    .into());
                }
            }
        }
        let who = self
            .authenticate(RequestKind::Put, item, object, header, |who| {
                self.put_allowed(item, object, who)
            })
            .ok_or(Refused::NotFound)?;
        let stored = match object {
            // The body was checked against its address above; the store does not hash again.
            ObjectRef::Chunk(address) | ObjectRef::Manifest(address) => {
                let blob = lightstreams_vault::Address(*address);
                self.claim_blob(item, *address);
                let new = matches!(self.stores.open_blob(item, &blob), Ok(None));
                let put = self.stores.put_blob(item, &blob, body);
                let ended = match put {
                    Ok(()) => Ended::Kept { who, stored: new },
                    Err(_) => Ended::Failed { stored: false },
                };
                self.release_blob(item, *address, ended);
                put.map_err(|e| e.to_string())
            }
            ObjectRef::Envelope(locator) => self
                .stores
                .put_envelope(item, locator, body)
                .map_err(|e| e.to_string()),
            ObjectRef::Share(epoch) => self
                .stores
                .put_share(item, *epoch, body)
                .map_err(|e| e.to_string()),
            ObjectRef::Message(n) | ObjectRef::Reply(n) => {
                let kind = object.path_parts().0;
                match self.stores.put_post_once(item, kind, *n, body) {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "taken",
                            format!("{kind} number {n} is taken: write the next one"),
                        )
                        .into());
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
            ObjectRef::Info | ObjectRef::Batch(_) => Ok(()),
        };
        stored.map_err(|e| ApiError::internal(format!("cannot store: {e}")))?;
        if let Some(net) = &self.peers
            && !matches!(object, ObjectRef::Share(_))
        {
            net.touch(*item);
        }
        Ok(())
    }

    /// Check a key-share deposit before anything else (it says nothing about any item): it
    /// must parse, be for this item and epoch, name this node's keeper key, and open with it.
    fn check_deposit(&self, item: &ItemId, epoch: u64, body: &[u8]) -> Result<(), ApiError> {
        let Some(keeper) = &self.keeper else {
            return Err(ApiError::bad_request(
                "this node keeps no key shares: deposit with a node whose /v1 names a keeper_key",
            ));
        };
        if body.len() > lightstreams_access::keeper::MAX_DEPOSIT {
            return Err(ApiError::bad_request(format!(
                "a share deposit is at most {} bytes; this one is {}",
                lightstreams_access::keeper::MAX_DEPOSIT,
                body.len()
            )));
        }
        let deposit: ShareDeposit = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "a share deposit is JSON {{record, index, wrapped}}: {e}"
            ))
        })?;
        lightstreams_access::keeper::check_deposit(keeper, item.0, epoch, &deposit)
            .map(|_| ())
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// Release this keeper's share of `item` at `epoch` to `who` (who may read the item at
    /// the finalised head: checked by the caller), wrapped to `who`'s registered key.
    fn release_share(
        &self,
        item: &ItemId,
        epoch: u64,
        who: Address,
    ) -> Result<Option<Vec<u8>>, String> {
        let Some(keeper) = &self.keeper else {
            return Ok(None);
        };
        let Some(stored) = self
            .stores
            .get_share(item, epoch)
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let Some(reader_key) = self
            .view(
                lightstreams_access::acl::KEY_REGISTRY,
                lightstreams_access::acl::KeyRegistry::keyOfCall { who },
            )
            .filter(|key| *key != alloy::primitives::B256::ZERO)
        else {
            return Ok(None);
        };
        let deposit: ShareDeposit = serde_json::from_slice(&stored)
            .map_err(|e| format!("the stored share deposit is unreadable: {e}"))?;
        let released = lightstreams_access::keeper::release_to(keeper, &deposit, &reader_key.0)
            .map_err(|e| format!("cannot release the share: {e}"))?;
        serde_json::to_vec(&released)
            .map(Some)
            .map_err(|e| format!("cannot encode the release: {e}"))
    }

    fn get_post(&self, item: &ItemId, kind: &str, n: u64) -> Result<Option<Vec<u8>>, String> {
        self.stores
            .get_post(item, kind, n)
            .map_err(|e| format!("cannot read {kind} {n}: {e}"))
    }

    /// What the chain says about an item, as JSON.
    fn info_json(&self, item: &ItemId) -> Option<serde_json::Value> {
        let info = self.acl(AccessRegistry::infoCall {
            item: item.0.into(),
        })?;
        let mut versions = Vec::new();
        for index in 0..info.versions {
            let v = self.acl(AccessRegistry::versionCall {
                item: item.0.into(),
                index,
            })?;
            versions.push(json!({
                "index": index, "manifest": v.manifest, "epoch": v.epoch,
                "author": v.author, "timestamp": v.timestamp,
            }));
        }
        Some(json!({
            "item": item.to_string(), "owner": info.owner, "public": info.isPublic,
            "epoch": info.epoch,
            "policy": (info.policy != Address::ZERO).then_some(info.policy),
            "versions": versions,
        }))
    }
}

/// Parse a `0x` + 64 hex id from a path segment.
fn parse_id(what: &str, text: &str) -> Result<[u8; 32], ApiError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; 32];
    if digits.len() != 64 || hex::decode_to_slice(digits, &mut out).is_err() {
        return Err(ApiError::bad_request(format!(
            "{what} must be 0x followed by 64 hex digits, got {:?}",
            truncate(text, 80)
        )));
    }
    Ok(out)
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn object_of(kind: &str, id: &str) -> Result<ObjectRef, ApiError> {
    match kind {
        "chunk" | "chunks" => Ok(ObjectRef::Chunk(parse_id("chunk address", id)?)),
        "manifest" | "manifests" => Ok(ObjectRef::Manifest(parse_id("manifest address", id)?)),
        "envelope" | "envelopes" => Ok(ObjectRef::Envelope(parse_id("envelope locator", id)?)),
        "share" | "shares" => id.parse::<u64>().map(ObjectRef::Share).map_err(|_| {
            ApiError::bad_request(format!(
                "a share is named by its epoch, a whole number; got {:?}",
                truncate(id, 40)
            ))
        }),
        "message" | "messages" | "reply" | "replies" => {
            let n = id.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "a fan-channel post is named by its number, a whole number; got {:?}",
                    truncate(id, 40)
                ))
            })?;
            Ok(if kind.starts_with("message") {
                ObjectRef::Message(n)
            } else {
                ObjectRef::Reply(n)
            })
        }
        other => Err(ApiError::bad_request(format!(
            "unknown object kind {:?}: use chunks, manifests, envelopes, shares, messages or replies",
            truncate(other, 40)
        ))),
    }
}

/// A raw or peer route's item id (from the path) and its `Authorization` header, owned so they
/// can move into a blocking task.
fn signed_item(item: &str, headers: &HeaderMap) -> Result<(ItemId, Option<String>), ApiError> {
    Ok((
        ItemId(parse_id("item id", item)?),
        auth_header(headers).map(str::to_owned),
    ))
}

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn raw_get(
    State(vault): State<Arc<Vault>>,
    Path((item, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let object = object_of(&kind, &id)?;
    let found = blocking(move || Ok(vault.serve_get(&item, &object, header.as_deref()))).await?;
    object_response(found, "application/octet-stream")
}

/// The answer to a GET of one object: its bytes, the uniform not-found, or a 500 saying the
/// node's copy is damaged (only ever said to a caller allowed to read it).
fn object_response(
    found: Result<Option<Vec<u8>>, String>,
    content_type: &'static str,
) -> Result<Response, Refused> {
    let bytes = found
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt", e))?
        .ok_or(Refused::NotFound)?;
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

async fn raw_put(
    State(vault): State<Arc<Vault>>,
    Path((item, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let object = object_of(&kind, &id)?;
    let checker = vault.clone();
    let (checked_object, checked_header) = (object.clone(), header.clone());
    let allowed =
        blocking(move || Ok(checker.may_put(&item, &checked_object, checked_header.as_deref())))
            .await?;
    if !allowed {
        return Err(Refused::NotFound);
    }
    let body = read_body(body).await?;
    blocking(move || vault.serve_put(&item, &object, header.as_deref(), &body)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How long a `PUT`'s body may take to arrive, once its request passed the checks.
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Read a `PUT`'s body whole (at most the largest object, within [`BODY_DEADLINE`]).
async fn read_body(body: Body) -> Result<Vec<u8>, Refused> {
    use futures::StreamExt;
    let limit = MAX_MANIFEST_BODY + 1024;
    let read = async {
        let mut stream = body.into_data_stream();
        let mut out = Vec::new();
        while let Some(piece) = stream.next().await {
            let piece =
                piece.map_err(|e| ApiError::bad_request(format!("the body broke off: {e}")))?;
            if out.len() + piece.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a body is at most {limit} bytes"),
                ));
            }
            out.extend_from_slice(&piece);
        }
        Ok(out)
    };
    tokio::time::timeout(BODY_DEADLINE, read)
        .await
        .map_err(|_| {
            ApiError::bad_request(format!(
                "the body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ))
        })?
        .map_err(Refused::from)
}

async fn raw_delete(
    State(vault): State<Arc<Vault>>,
    Path((item, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let object = object_of(&kind, &id)?;
    blocking(move || vault.serve_delete(&item, &object, header.as_deref())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn raw_info(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let found =
        blocking(move || Ok(vault.serve_get(&item, &ObjectRef::Info, header.as_deref()))).await?;
    object_response(found, "application/json")
}

async fn raw_health(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let health = blocking(move || {
        vault
            .authenticate(
                RequestKind::Get,
                &item,
                &ObjectRef::Info,
                header.as_deref(),
                |who| vault.can_read(&item, who),
            )
            .ok_or(Refused::NotFound)?;
        Ok(vault.health(&item))
    })
    .await?;
    Ok(axum::Json(health).into_response())
}

async fn peer_get(
    State(vault): State<Arc<Vault>>,
    Path((item, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let object = object_of(&kind, &id)?;
    let found =
        blocking(move || Ok(vault.serve_peer_get(&item, &kind, &id, &object, header.as_deref())))
            .await?;
    object_response(found, "application/octet-stream")
}

async fn peer_put(
    State(vault): State<Arc<Vault>>,
    Path((item, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let object = object_of(&kind, &id)?;
    let checker = vault.clone();
    let (checked_kind, checked_id, checked_header) = (kind.clone(), id.clone(), header.clone());
    let allowed = blocking(move || {
        Ok(checker.may_peer_put(&item, &checked_kind, &checked_id, checked_header.as_deref()))
    })
    .await?;
    if !allowed {
        return Err(Refused::NotFound);
    }
    let body = read_body(body).await?;
    blocking(move || vault.serve_peer_put(&item, &kind, &id, &object, header.as_deref(), &body))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn peer_inventory(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let inventory = blocking(move || Ok(vault.serve_inventory(&item, header.as_deref()))).await?;
    Ok(axum::Json(inventory.ok_or(Refused::NotFound)?).into_response())
}

async fn peer_proof(
    State(vault): State<Arc<Vault>>,
    Path((item, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let (item, signature) = signed_item(&item, &headers)?;
    let proof = blocking(move || Ok(vault.serve_proof(&item, &id, signature.as_deref()))).await?;
    let proof = proof.ok_or(Refused::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        proof.to_vec(),
    )
        .into_response())
}

async fn node_info(
    State(vault): State<Arc<Vault>>,
    from: Option<axum::Extension<crate::ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    // The local stream's path names a directory of this machine: it is told only to a client
    // on this machine that is not a web page (a browser sends `Origin` with every cross-origin
    // request, and any page may ask a node on localhost).
    let local_stream = vault.local_stream.get().filter(|_| {
        from.is_some_and(|from| crate::per_ip::is_this_machine(from.0.0.ip()))
            && !headers.contains_key(header::ORIGIN)
    });
    axum::Json(json!({
        "node_id": vault.node_id,
        "chain_id": vault.chain.chain_id(),
        "head": vault.chain.head_number(),
        "access_registry": ACCESS_REGISTRY,
        "key_registry": lightstreams_access::acl::KEY_REGISTRY,
        "chunk_size": lightstreams_vault::CHUNK_SIZE,
        "keeper_key": vault.keeper.as_ref().map(|k| format!("0x{}", hex::encode(k.public_bytes()))),
        "node_registry": lightstreams_network::NODE_REGISTRY,
        "live_peers": vault.peers.as_ref().map(|n| n.membership().live.len()),
        "stream_port": match vault.stream_port.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            port => Some(port),
        },
        "local_stream": local_stream,
    }))
    .into_response()
}

/// The default key keepers as this node knows them: itself if it is a validator, and the other
/// validators' API URLs, from the node registry (entries whose node id is a genesis validator)
/// and from its configuration.
async fn keepers(State(vault): State<Arc<Vault>>) -> Response {
    let mut peers = vault.validator_apis.clone();
    if let Some(net) = &vault.peers {
        let validators: Vec<String> = vault
            .chain
            .genesis()
            .validators
            .iter()
            .map(|v| v.public_key.trim_start_matches("0x").to_lowercase())
            .collect();
        let me = vault.node_id.trim_start_matches("0x").to_lowercase();
        for entry in net.membership().registered {
            let id = hex::encode(entry.id.0);
            if id != me && validators.contains(&id) && !peers.contains(&entry.url) {
                peers.push(entry.url);
            }
        }
    }
    axum::Json(json!({
        "validator": vault.validator,
        "peers": peers,
    }))
    .into_response()
}

async fn method_not_allowed(method: axum::http::Method) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this route does not take {method} (the Allow header lists what it takes; see /v1/openapi.json)"),
    )
    .into_response()
}

async fn fallback() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no such route: see /v1/openapi.json",
    )
    .into_response()
}

/// The `/v1` router.
pub(crate) fn router(vault: Arc<Vault>) -> Router {
    Router::new()
        .route("/v1", get(node_info))
        .route("/v1/openapi.json", get(openapi::document))
        .route("/v1/keepers", get(keepers))
        .route(
            "/v1/raw/{item}/{kind}/{id}",
            get(raw_get)
                .put(raw_put)
                .delete(raw_delete)
                .layer(DefaultBodyLimit::max(MAX_MANIFEST_BODY + 1024)),
        )
        .route("/v1/raw/{item}/info", get(raw_info))
        .route(
            "/v1/raw/{item}/batch",
            axum::routing::post(batch::raw_batch)
                .put(batch::raw_batch_put)
                .layer(DefaultBodyLimit::max(
                    lightstreams_network::batch::MAX_REQUEST + 1,
                )),
        )
        .route("/v1/raw/{item}/health", get(raw_health))
        .route("/v1/peer/{item}/inventory", get(peer_inventory))
        .route("/v1/peer/{item}/proof/{id}", get(peer_proof))
        .route(
            "/v1/peer/{item}/batch",
            axum::routing::post(batch::peer_batch).layer(DefaultBodyLimit::max(
                lightstreams_network::batch::MAX_REQUEST + 1,
            )),
        )
        .route(
            "/v1/peer/{item}/{kind}/{id}",
            get(peer_get)
                .put(peer_put)
                .layer(DefaultBodyLimit::max(MAX_MANIFEST_BODY + 1024)),
        )
        .merge(custodial::router())
        .merge(market::router())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(vault)
}

/// Sessions expire after this long without renewal.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(3600);

/// Drop expired sessions.
pub(crate) fn prune_sessions(vault: &Vault) {
    let now = Instant::now();
    vault.sessions.lock().retain(|_, s| s.expires > now);
}

/// Build the `/v1` service for `chain`.
pub(crate) fn service(chain: Arc<Chain>, config: &VaultConfig) -> std::io::Result<Router> {
    let vault = Arc::new(Vault::open(chain, config)?);
    if let Some(addr) = config.stream {
        let port = stream::spawn(&vault, addr)?;
        vault
            .stream_port
            .store(port, std::sync::atomic::Ordering::Relaxed);
    }
    #[cfg(unix)]
    if let Some(path) = &config.local_stream {
        match stream::spawn_local(&vault, path) {
            Ok(path) => {
                tracing::info!(path = %path.display(), "local vault stream listening");
                let _ = vault.local_stream.set(path);
            }
            Err(e) => {
                tracing::warn!(error = %e, "no local vault stream (clients on this machine use TCP)")
            }
        }
    }
    peers::spawn_replicator(&vault);
    Ok(router(vault))
}

/// A response body from a stream of byte chunks.
pub(crate) fn stream_body(
    rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
) -> Body {
    Body::from_stream(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloy::consensus::{SignableTransaction, TxEip1559};
    use alloy::eips::Encodable2718;
    use alloy::network::TxSignerSync;
    use alloy::primitives::TxKind;
    use alloy::signers::local::PrivateKeySigner;
    use lightstreams_chain::ChainConfig;
    use lightstreams_primitives::Genesis;
    use lightstreams_primitives::dev::dev_accounts;

    /// `owner` creates `item` (transaction `nonce`) in a block of its own, finalised.
    async fn create_item(
        chain: &Chain,
        owner: &PrivateKeySigner,
        nonce: u64,
        item: ItemId,
        public: bool,
    ) {
        let mut tx = TxEip1559 {
            chain_id: lightstreams_primitives::constants::DEV_CHAIN_ID,
            nonce,
            gas_limit: 300_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(ACCESS_REGISTRY),
            input: AccessRegistry::createCall {
                item: item.0.into(),
                isPublic: public,
            }
            .abi_encode()
            .into(),
            ..Default::default()
        };
        let signature = owner.sign_transaction_sync(&mut tx).expect("sign");
        chain
            .submit_raw(&tx.into_signed(signature).encoded_2718())
            .expect("submit");
        let now_ms = now_secs() * 1000;
        let block = chain
            .build(&[], &chain.head(), now_ms, Address::ZERO, Bytes::new())
            .await
            .expect("build");
        chain.finalize(&block, b"cert").expect("finalize");
    }

    /// Only requests that pass every check take a place in the replay guard: a stranger's, from
    /// any number of fresh keys, takes none (and is refused with the uniform not-found); an
    /// owner's is remembered, so its replay is refused. Readers of a public item are remembered
    /// apart: a flood of them, from made-up keys, leaves the members' nonces alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_requests_that_pass_take_a_nonce() {
        let dir = tempfile::tempdir().expect("tmp");
        let chain = Chain::open(ChainConfig::new(
            dir.path().join("chain"),
            Genesis::dev(1, vec![]),
        ))
        .expect("chain");
        let alice = dev_accounts(1).remove(0);
        let item = ItemId(rand::random());
        let public = ItemId(rand::random());
        create_item(&chain, &alice, 0, item, false).await;
        create_item(&chain, &alice, 1, public, true).await;

        let mut vault =
            Vault::open(chain, &VaultConfig::alone(dir.path().join("vault"))).expect("vault");
        vault.open_guard = ReplayGuard::with_capacity(16);
        let ask_for = |who: &PrivateKeySigner, item: ItemId| {
            SignedRequest::sign(
                who,
                RequestKind::Get,
                item.0,
                ObjectRef::Info,
                "0xabcd".into(),
            )
            .to_header()
        };
        let ask = |who: &PrivateKeySigner| ask_for(who, item);
        for _ in 0..200 {
            let header = ask(&PrivateKeySigner::random());
            assert_eq!(
                vault.serve_get(&item, &ObjectRef::Info, Some(&header)),
                Ok(None)
            );
        }
        assert!(
            vault.guard.is_empty(),
            "strangers took {} nonces",
            vault.guard.len()
        );

        let header = ask(&alice);
        let info = vault
            .serve_get(&item, &ObjectRef::Info, Some(&header))
            .expect("served");
        assert!(info.is_some(), "the owner was refused");
        assert_eq!(vault.guard.len(), 1);
        assert_eq!(
            vault.serve_get(&item, &ObjectRef::Info, Some(&header)),
            Ok(None),
            "a replay was served"
        );

        // 100 made-up keys read the public item: served, remembered apart (at most what that
        // guard holds), and the owner's request is still remembered.
        let mut last = String::new();
        for _ in 0..100 {
            last = ask_for(&PrivateKeySigner::random(), public);
            let read = vault.serve_get(&public, &ObjectRef::Info, Some(&last));
            assert!(matches!(read, Ok(Some(_))), "a public read was refused");
        }
        assert_eq!(vault.guard.len(), 1, "public readers took members' places");
        assert!(vault.open_guard.len() <= 16);
        assert_eq!(
            vault.serve_get(&public, &ObjectRef::Info, Some(&last)),
            Ok(None),
            "a public read replayed at once"
        );
        assert_eq!(
            vault.serve_get(&item, &ObjectRef::Info, Some(&header)),
            Ok(None),
            "the owner's request replayed after the flood"
        );
    }

    /// A `DELETE` takes back only a blob no other upload relied on: once a second `PUT` (a
    /// retry on another connection, another writer) found it here, the first uploader's
    /// cleanup after a failed upload leaves it. While an upload in progress holds a blob, a
    /// `DELETE` is carried out only if that upload fails too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blob_another_upload_relied_on_is_not_taken_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let chain = Chain::open(ChainConfig::new(
            dir.path().join("chain"),
            Genesis::dev(1, vec![]),
        ))
        .expect("chain");
        let alice = dev_accounts(1).remove(0);
        let item = ItemId(rand::random());
        create_item(&chain, &alice, 0, item, false).await;
        let vault =
            Vault::open(chain, &VaultConfig::alone(dir.path().join("vault"))).expect("vault");
        let chunk = |blob: &[u8]| ObjectRef::Chunk(*blake3::hash(blob).as_bytes());
        let signed = |kind: RequestKind, blob: &[u8]| {
            SignedRequest::sign(&alice, kind, item.0, chunk(blob), "0xabcd".into()).to_header()
        };
        let put = |blob: &[u8]| {
            let header = signed(RequestKind::Put, blob);
            vault
                .serve_put(&item, &chunk(blob), Some(&header), blob)
                .is_ok()
        };
        let delete = |blob: &[u8]| {
            let header = signed(RequestKind::Delete, blob);
            match vault.serve_delete(&item, &chunk(blob), Some(&header)) {
                Ok(()) => Some(true),
                Err(Refused::NotFound) => Some(false),
                Err(Refused::Api(_)) => None,
            }
        };
        let here = |blob: &[u8]| {
            let ObjectRef::Chunk(a) = chunk(blob) else {
                return false;
            };
            matches!(
                vault
                    .stores
                    .get_blob(&item, &lightstreams_vault::Address(a)),
                Ok(Some(_))
            )
        };

        // Stored once: its uploader takes it back.
        let alone = vec![1u8; 64];
        assert!(put(&alone));
        assert_eq!(delete(&alone), Some(true));
        assert!(!here(&alone));

        // Stored, then relied on by a second upload: it stays.
        let shared = vec![2u8; 64];
        assert!(put(&shared) && put(&shared));
        assert_eq!(delete(&shared), Some(false), "taken back");
        assert!(here(&shared), "a blob another upload relied on was deleted");

        // Held by an upload in progress: the delete waits for it.
        let (held, dropped) = (vec![3u8; 64], vec![4u8; 64]);
        for blob in [&held, &dropped] {
            assert!(put(blob));
            vault.claim_blob(&item, *blake3::hash(blob).as_bytes());
            assert_eq!(delete(blob), Some(true));
            assert!(here(blob), "deleted under an upload in progress");
        }
        let who = alice.address();
        vault.release_blob(
            &item,
            *blake3::hash(&held).as_bytes(),
            Ended::Kept { who, stored: false },
        );
        assert!(here(&held), "the upload that relied on it completed");
        vault.release_blob(
            &item,
            *blake3::hash(&dropped).as_bytes(),
            Ended::Failed { stored: false },
        );
        assert!(!here(&dropped), "nobody kept it");
    }

    /// Claims of uploads in progress: a failed upload's blob is removed by the last holder to
    /// end, unless one completed; a blob held by two at once is nobody's to take back.
    #[test]
    fn blobs_held_by_uploads_in_progress() {
        let mut recent = RecentUploads::new(16);
        let alice = Address::repeat_byte(1);
        let key = |n: u8| (ItemId([7; 32]), [n; 32]);
        let t0 = std::time::Instant::now();
        let kept = |stored| Ended::Kept { who: alice, stored };
        let failed = |stored| Ended::Failed { stored };

        // Alone: stored and failed, removed; stored and kept, remembered.
        recent.claim(key(1));
        assert!(recent.release(key(1), failed(true), t0));
        recent.claim(key(2));
        assert!(!recent.release(key(2), kept(true), t0));
        assert!(recent.stored_by(&key(2), alice, t0));
        assert!(recent.claims.is_empty());

        // The one that stored it fails first, the other completes: kept, nobody's.
        recent.claim(key(3));
        recent.claim(key(3));
        assert!(!recent.release(key(3), failed(true), t0));
        assert!(!recent.release(key(3), kept(false), t0));
        assert!(!recent.stored_by(&key(3), alice, t0));

        // Both fail: the last one removes it.
        recent.claim(key(4));
        recent.claim(key(4));
        assert!(!recent.release(key(4), failed(true), t0));
        assert!(recent.release(key(4), failed(false), t0));

        // Both stored it (they raced) and completed: kept, nobody's to take back.
        recent.claim(key(5));
        recent.claim(key(5));
        assert!(!recent.release(key(5), kept(true), t0));
        assert!(!recent.release(key(5), kept(true), t0));
        assert!(!recent.stored_by(&key(5), alice, t0));

        // A take-back: refused for a blob not the signer's, deferred while held.
        assert_eq!(recent.take_back(&key(5), alice, t0), TakeBack::Refused);
        assert_eq!(recent.take_back(&key(2), alice, t0), TakeBack::Now);
        recent.insert(key(6), alice, t0);
        recent.claim(key(6));
        assert_eq!(recent.take_back(&key(6), alice, t0), TakeBack::Deferred);
        assert!(recent.release(key(6), failed(false), t0));
        assert!(recent.claims.is_empty());
    }

    /// An upload is remembered for its uploader only, for an hour; past the capacity the
    /// oldest is forgotten, and storing an object again restarts its hour.
    #[test]
    fn uploads_are_remembered_for_their_uploader_for_an_hour() {
        let mut recent = RecentUploads::new(2);
        let (alice, bob) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let key = |n: u8| (ItemId([7; 32]), [n; 32]);
        let t0 = std::time::Instant::now();
        recent.insert(key(1), alice, t0);
        assert!(recent.stored_by(&key(1), alice, t0));
        assert!(!recent.stored_by(&key(1), bob, t0), "another account");
        assert!(
            !recent.stored_by(&key(1), alice, t0 + UPLOAD_MEMORY),
            "an hour later"
        );
        recent.insert(key(2), bob, t0);
        recent.insert(key(3), bob, t0);
        assert!(
            !recent.stored_by(&key(1), alice, t0),
            "the oldest forgotten at capacity"
        );
        assert!(recent.stored_by(&key(2), bob, t0) && recent.stored_by(&key(3), bob, t0));
        assert_eq!(recent.by_object.len(), 2);
        // Stored again later: its hour starts over.
        let t1 = t0 + UPLOAD_MEMORY / 2;
        recent.insert(key(2), bob, t1);
        recent.insert(key(4), alice, t1);
        assert!(
            recent.stored_by(&key(2), bob, t0 + UPLOAD_MEMORY),
            "restarted"
        );
        assert!(!recent.stored_by(&key(3), bob, t1), "the oldest went");
        recent.remove(&key(4));
        assert!(!recent.stored_by(&key(4), alice, t1));
    }
}
