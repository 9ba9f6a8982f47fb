//! The vault across nodes: membership from the on-chain node registry, the `/v1/peer` API,
//! reads that fetch from replicas, replication to R nodes, repair, health, and deletion of
//! replicas when the node's operator loses read access.
//!
//! # Design
//! - **Membership.** Every few seconds the node reads the node registry at its finalised head,
//!   keeps the entries whose ed25519 proof verifies, and probes each one's `/v1`; the live ones
//!   are its peers.
//! - **Placement.** An object's replicas are the first R live nodes in its rendezvous ranking
//!   ([`lightstreams_network::placement`]). Nothing is assigned centrally.
//! - **Replication and repair are one loop** (its own thread; membership and revocations run on
//!   another, so transfers never delay them). For an item it holds, a node asks its live peers
//!   what they hold ([`Inventory`]); for every object missing from a node of its placement, or
//!   with fewer than R live copies, the best-ranked live holder pushes it to the best-ranked live
//!   nodes without it. An upload wakes the loop for that item at once; every item is checked
//!   when the live set changes (a node joins or leaves) and every 12th round.
//! - **Extra copies.** In the same pass a node deletes the chunks and manifests it holds outside
//!   their placement once every node of the placement holds them
//!   ([`lightstreams_network::placement::extra_copy`]), so a joining node takes objects over
//!   rather than adding copies. Envelopes and fan posts (small, and an envelope may be
//!   rewritten) stay where they are.
//! - **Reads.** A signed client read is checked here first (READ at the finalised head); if this
//!   node has no intact copy it asks the ranked live peers in turn, each with a peer request
//!   naming the reader, verifies what comes back against the address, and fails over. A damaged
//!   local copy is replaced by a verified one from a peer.
//! - **Peer requests** carry the sending node's signature, naming the target node, the reader,
//!   a fresh timestamp and a nonce. The receiver serves only a registered node, only what the
//!   named reader may read at *its own* finalised head, and only from its own disk (a peer read
//!   is never forwarded again). Anything refused gets the uniform not-found.
//! - **Revocation.** When an account that operates this node is revoked from an item, the node
//!   deletes its replicas of the item and refuses new ones while its operators cannot read it.
//!
//! Inventories reveal which addresses a node holds for an item id to other registered storage
//! nodes, which store such objects anyway; they are never served to clients.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use alloy::primitives::Address;
use alloy::sol_types::SolEvent;
use lightstreams_access::acl::{ACCESS_REGISTRY, AccessRegistry};
use lightstreams_access::request::{ObjectRef, RequestKind, SignedRequest};
use lightstreams_network::client::{Inventory, ObjectName, Peer, object_label, placement_key};
use lightstreams_network::peer::{ForReader, Target, Verified};
use lightstreams_network::placement::Extra;
use lightstreams_network::registry::{NODE_REGISTRY, NodeRegistry, valid_entries};
use lightstreams_network::{Entry, NodeId, NodeKey, PeerClient, batch, placement};
use lightstreams_vault::ItemId;
use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::{Value, json};

use super::store::MAX_ENVELOPE;
use super::{ApiError, MAX_MANIFEST_BODY, MAX_POST, Refused, Vault, now_secs};

/// A full repair round (every held item) runs at least once in this many rounds.
const FULL_ROUND_EVERY: u32 = 12;
/// Bytes of stored blobs re-verified per repair interval by the scrubber.
const SCRUB_BYTES_PER_ROUND: u64 = 64 << 20;

/// How the node takes part in the vault network.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// The node's transport key (its consensus key).
    pub key: NodeKey,
    /// Copies of every object (R).
    pub replicas: usize,
    /// How often membership is refreshed and every held item checked.
    pub repair_interval: Duration,
}

/// Who is in the network, as last seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct Membership {
    /// Every registry entry whose proof verifies (this node included, if registered).
    pub(crate) registered: Vec<Entry>,
    /// The other registered nodes that answered the last probe.
    pub(crate) live: Vec<Peer>,
    /// The accounts that operate this node.
    pub(crate) operators: Vec<Address>,
}

/// The node's part in the vault network.
pub(crate) struct PeerNet {
    client: PeerClient,
    me: NodeId,
    replicas: usize,
    interval: Duration,
    membership: RwLock<Membership>,
    wake: (Mutex<bool>, Condvar),
    /// Items whose replicas were deleted because an operator of this node was revoked.
    revoked: Mutex<HashSet<ItemId>>,
    /// Items written here by clients (or whose repair failed) since their last repair.
    dirty: Mutex<HashSet<ItemId>>,
    /// The live set the last full round saw, and rounds since the last full round.
    last_full: Mutex<(Vec<NodeId>, u32)>,
    /// The last block scanned for revocations.
    scanned: Mutex<u64>,
    /// Where the scrubber goes on: the last blob it checked.
    scrubbed: Mutex<Option<(ItemId, lightstreams_vault::Address)>>,
}

impl PeerNet {
    pub(crate) fn new(config: &PeerConfig) -> Self {
        Self {
            client: PeerClient::new(config.key.clone(), Duration::from_secs(30)),
            me: config.key.id(),
            replicas: config.replicas.max(1),
            interval: config.repair_interval,
            membership: RwLock::new(Membership::default()),
            wake: (Mutex::new(false), Condvar::new()),
            revoked: Mutex::new(HashSet::new()),
            dirty: Mutex::new(HashSet::new()),
            last_full: Mutex::new((Vec::new(), 0)),
            scanned: Mutex::new(0),
            scrubbed: Mutex::new(None),
        }
    }

    /// Ask the replicator to check `item` soon (a client wrote to it).
    pub(crate) fn touch(&self, item: ItemId) {
        self.dirty.lock().insert(item);
        self.wake();
    }

    /// Ask the replicator to run a round soon.
    pub(crate) fn wake(&self) {
        let (flag, cvar) = &self.wake;
        *flag.lock() = true;
        cvar.notify_one();
    }

    /// Wait for a wake-up or the interval, whichever is first.
    fn sleep(&self) {
        let (flag, cvar) = &self.wake;
        let mut woken = flag.lock();
        if !*woken {
            cvar.wait_for(&mut woken, self.interval);
        }
        let was_woken = *woken;
        *woken = false;
        drop(woken);
        if was_woken {
            // Let a burst of uploaded chunks land before looking.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub(crate) fn membership(&self) -> Membership {
        self.membership.read().clone()
    }
}

/// (kind, id) of an object as named in a peer path, for the objects that replicate.
fn object_name(object: &ObjectRef) -> Option<ObjectName> {
    match object {
        ObjectRef::Chunk(_)
        | ObjectRef::Manifest(_)
        | ObjectRef::Envelope(_)
        | ObjectRef::Message(_)
        | ObjectRef::Reply(_) => {
            let (kind, id) = object.path_parts();
            Some((kind, id))
        }
        ObjectRef::Info | ObjectRef::Share(_) | ObjectRef::Batch(_) => None,
    }
}

/// Start the replicator's threads, which run until the vault is dropped (the server stopped):
/// one refreshes membership and acts on revocations every interval (cheap, never held up by
/// transfers), one runs repair rounds (on an upload, or every interval), and one scrubs (re-reads
/// and re-hashes stored blobs, a bounded amount every interval).
pub(crate) fn spawn_replicator(vault: &Arc<Vault>) {
    if vault.peers.is_none() {
        return;
    }
    spawn_loop(vault, "vault-membership", |vault, net| {
        vault.refresh_membership(net);
        vault.sweep_revocations(net);
        std::thread::sleep(net.interval);
    });
    spawn_loop(vault, "vault-repair", |vault, net| {
        vault.repair_round(net);
        net.sleep();
    });
    spawn_loop(vault, "vault-scrub", |vault, net| {
        vault.scrub_round(net, SCRUB_BYTES_PER_ROUND);
        std::thread::sleep(net.interval);
    });
}

/// Run `round` on a thread of its own until the vault is dropped. The thread holds the vault
/// for one round only: once the server is gone, the next upgrade fails and the thread ends. A
/// round that panics is logged and the loop goes on after a pause: a replicator thread that
/// died quietly would leave the node serving but never repairing again.
fn spawn_loop(vault: &Arc<Vault>, name: &str, round: fn(&Vault, &PeerNet)) {
    let weak: Weak<Vault> = Arc::downgrade(vault);
    let thread = name.to_string();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            loop {
                let Some(vault) = weak.upgrade() else { return };
                let Some(net) = vault.peers.as_ref() else {
                    return;
                };
                if let Err(panic) = guarded(|| round(&vault, net)) {
                    tracing::error!(thread = %thread, panic = %panic, "a vault replicator round panicked; going on after a pause");
                    std::thread::sleep(net.interval);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, thread = name, "cannot start a vault replicator thread");
    }
}

/// Run `round`, catching a panic: `Err` with its message (empty if it carried none).
fn guarded(round: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(round)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

/// The peer header's verified content, if it is signed for `target` by a node in the registry
/// (freshness and replays are the caller's to check).
fn registered_sender(net: &PeerNet, target: &Target<'_>, header: Option<&str>) -> Option<Verified> {
    let verified = lightstreams_network::peer::verify(header?, target)?;
    net.membership
        .read()
        .registered
        .iter()
        .any(|e| e.id == verified.from)
        .then_some(verified)
}

impl Vault {
    /// Re-read the registry at the finalised head and probe every other node.
    pub(crate) fn refresh_membership(&self, net: &PeerNet) {
        let Some(nodes) = self.view(NODE_REGISTRY, NodeRegistry::allCall {}) else {
            return;
        };
        let registered = valid_entries(self.chain.chain_id(), &nodes);
        let operators: Vec<Address> = registered
            .iter()
            .filter(|e| e.id == net.me)
            .map(|e| e.operator)
            .collect();
        let others: Vec<Peer> = registered
            .iter()
            .filter(|e| e.id != net.me)
            .map(|e| Peer {
                id: e.id,
                url: e.url.clone(),
                stream: None,
            })
            .collect();
        let live: Vec<Peer> = std::thread::scope(|s| {
            let probes: Vec<_> = others
                .iter()
                .map(|p| s.spawn(|| net.client.probe(p)))
                .collect();
            others
                .iter()
                .zip(probes)
                .filter_map(|(p, probe)| {
                    let stream = probe.join().ok().flatten()?;
                    Some(Peer {
                        stream,
                        ..p.clone()
                    })
                })
                .collect()
        });
        *net.membership.write() = Membership {
            registered,
            live,
            operators,
        };
    }

    /// The live peers in the order they should be asked for an object.
    fn ranked_peers(&self, net: &PeerNet, item: &ItemId, kind: &str, id: &str) -> Vec<Peer> {
        let membership = net.membership.read();
        let ids: Vec<NodeId> = membership.live.iter().map(|p| p.id).collect();
        let key = placement_key(&item.0, kind, id);
        placement::rank(&ids, &key)
            .into_iter()
            .filter_map(|id| membership.live.iter().find(|p| p.id == id).cloned())
            .collect()
    }

    /// Fetch an object this node lacks (or holds damaged) from its replicas, for `reader`,
    /// who was already checked here. A blob fetched to replace a damaged copy is kept.
    pub(crate) fn fetch_from_peers(
        &self,
        item: &ItemId,
        object: &ObjectRef,
        reader: &ForReader,
        heal: bool,
    ) -> Option<Vec<u8>> {
        let net = self.peers.as_ref()?;
        let (kind, id) = object_name(object)?;
        let peers = self.ranked_peers(net, item, kind, &id);
        let bytes = net.client.get_any(&peers, &item.0, kind, &id, reader)?;
        if heal && let ObjectRef::Chunk(a) | ObjectRef::Manifest(a) = object {
            // get_any verified the bytes against the address.
            self.keep_healed(item, a, &bytes);
        }
        Some(bytes)
    }

    /// Store a verified copy fetched from a replica in place of this node's damaged one.
    pub(crate) fn keep_healed(&self, item: &ItemId, address: &[u8; 32], bytes: &[u8]) {
        if let Err(e) = self
            .stores
            .put_blob(item, &lightstreams_vault::Address(*address), bytes)
        {
            tracing::warn!(item = %item, error = %e, "cannot store the healed copy");
        }
    }

    /// Fill the `None`s of `out` (blobs at `addresses`) from replicas: one batch request per
    /// peer to each object's best-ranked live replica, then one object at a time from the other
    /// replicas for whatever is still missing. Every blob is verified against its address.
    pub(crate) fn blobs_from_peers(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: &ForReader,
        out: &mut [Option<Vec<u8>>],
    ) {
        let Some(net) = self.peers.as_ref() else {
            return;
        };
        let mut groups: HashMap<String, (Peer, Vec<(usize, ObjectName)>)> = HashMap::new();
        for (i, a) in addresses.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let id = format!("0x{}", hex::encode(a));
            if let Some(peer) = self
                .ranked_peers(net, item, "chunks", &id)
                .into_iter()
                .next()
            {
                groups
                    .entry(peer.url.clone())
                    .or_insert_with(|| (peer, Vec::new()))
                    .1
                    .push((i, ("chunks", id)));
            }
        }
        for (peer, wanted) in groups.into_values() {
            let names: Vec<ObjectName> = wanted.iter().map(|(_, n)| n.clone()).collect();
            let fetched = net
                .client
                .get_batch(&peer, &item.0, &names, reader, |k, bytes| {
                    if let (Some(bytes), Some((i, _))) = (bytes, wanted.get(k)) {
                        out[*i] = Some(bytes.to_vec());
                    }
                });
            if let Err(e) = fetched {
                tracing::warn!(peer = %peer.id, error = %e, "batch fetch from a replica failed; trying the others");
            }
        }
        for (i, a) in addresses.iter().enumerate() {
            if out[i].is_none() {
                out[i] = self.fetch_from_peers(item, &ObjectRef::Chunk(*a), reader, false);
            }
        }
    }

    /// Whether a peer's `PUT` signed with `header` may go ahead, decided before its body is
    /// read: signed by a registered node, fresh, for an item that exists here. The nonce is not
    /// spent: [`Vault::serve_peer_put`] checks everything again once the body is in.
    pub(crate) fn may_peer_put(
        &self,
        item: &ItemId,
        kind: &str,
        id: &str,
        header: Option<&str>,
    ) -> bool {
        let Some(net) = self.peers.as_ref() else {
            return false;
        };
        let target = self.target("PUT", item, kind, id);
        let Some(verified) = registered_sender(net, &target, header) else {
            return false;
        };
        now_secs().abs_diff(verified.ts) <= lightstreams_access::request::MAX_SKEW
            && self
                .acl(AccessRegistry::existsCall {
                    item: item.0.into(),
                })
                .unwrap_or(false)
            && !self.declines(item)
    }

    /// Check a peer request: signed by a registered node, for this node, fresh, not replayed.
    fn authenticate_peer(&self, target: &Target<'_>, header: Option<&str>) -> Option<Verified> {
        let verified = registered_sender(self.peers.as_ref()?, target, header)?;
        self.guard
            .check(now_secs(), verified.ts, verified.nonce, verified.from.0)
            .ok()?;
        Some(verified)
    }

    fn target<'a>(&self, method: &'a str, item: &ItemId, kind: &'a str, id: &'a str) -> Target<'a> {
        Target {
            method,
            item: item.0,
            kind,
            id,
            node: self.peers.as_ref().map_or(NodeId([0; 32]), |n| n.me),
        }
    }

    /// A peer's read of one object, from this node's disk only: `Ok(None)` is the uniform
    /// not-found; `Err` says this node's copy is damaged (the peer then asks another).
    pub(crate) fn serve_peer_get(
        &self,
        item: &ItemId,
        kind: &str,
        id: &str,
        object: &ObjectRef,
        header: Option<&str>,
    ) -> Result<Option<Vec<u8>>, String> {
        let target = self.target("GET", item, kind, id);
        let Some(verified) = self.authenticate_peer(&target, header) else {
            return Ok(None);
        };
        if !self.vouched(item, &verified) || !self.peer_may_fetch(item, verified.reader, object) {
            return Ok(None);
        }
        self.copy_for_peer(item, object)
    }

    /// Whether a peer's read carries its named reader's own request to that peer: signed by
    /// the reader, for this item, naming the sending node, fresh. A node can then fetch only
    /// for a reader who really asked it, never by naming any reader it likes. (The request's
    /// nonce was spent by the node it was sent to; the peer's own nonce guards this read.)
    fn vouched(&self, item: &ItemId, verified: &Verified) -> bool {
        let Some((label, header)) = verified.vouch.as_deref().and_then(|v| v.split_once('|'))
        else {
            return false;
        };
        let Some((kind, id)) = label.split_once('/') else {
            return false;
        };
        let object = if kind == "batch" {
            blob_address(id).map(|hash| ObjectRef::Batch(hash.0))
        } else {
            super::object_of(kind, id).ok()
        };
        let Some(object) = object else {
            return false;
        };
        let Ok((ts, nonce, signature)) = SignedRequest::parse_header(header) else {
            return false;
        };
        let request = SignedRequest {
            method: RequestKind::Get,
            item: item.0,
            object,
            node: verified.from.to_string(),
            ts,
            nonce,
            signature,
        };
        now_secs().abs_diff(ts) <= lightstreams_access::request::MAX_SKEW
            && request.recover().ok() == Some(verified.reader)
    }

    /// Whether a peer may be sent `object` for `reader`: a replicated kind the reader may fetch.
    fn peer_may_fetch(&self, item: &ItemId, reader: Address, object: &ObjectRef) -> bool {
        object_name(object).is_some() && self.may_fetch(item, reader, object)
    }

    /// This node's copy of `object` as sent to a peer. Blobs are not re-hashed: the asking node
    /// verifies them against their address and fails over if this copy is damaged.
    fn copy_for_peer(&self, item: &ItemId, object: &ObjectRef) -> Result<Option<Vec<u8>>, String> {
        match object {
            ObjectRef::Chunk(a) | ObjectRef::Manifest(a) => self
                .stores
                .get_blob_unverified(item, &lightstreams_vault::Address(*a))
                .map_err(|e| e.to_string()),
            _ => self.local_object(item, object),
        }
    }

    /// Open a peer's batch read: for each object named, in order, the object if the named
    /// reader may fetch it (else `None`, sent as absent). The whole request gets the uniform
    /// not-found unless it is signed by a registered node for this node and this exact list,
    /// fresh and unseen, for a reader holding READ here.
    pub(crate) fn open_peer_batch(
        &self,
        item: &ItemId,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<Option<ObjectRef>>, Refused> {
        let id = batch::request_id(body);
        let target = self.target("POST", item, batch::KIND, &id);
        let verified = self
            .authenticate_peer(&target, header)
            .ok_or(Refused::NotFound)?;
        if !self.vouched(item, &verified) || !self.can_read(item, verified.reader) {
            return Err(Refused::NotFound);
        }
        let names = batch::decode_request(body).map_err(ApiError::bad_request)?;
        names
            .iter()
            .map(|(kind, id)| {
                let object = super::object_of(kind, id)?;
                Ok(self
                    .peer_may_fetch(item, verified.reader, &object)
                    .then_some(object))
            })
            .collect()
    }

    /// One object of an opened batch from this node's disk (blobs unverified: the asking node
    /// verifies them); `None` if it is not here or cannot be read.
    pub(crate) fn batch_object(&self, item: &ItemId, object: &ObjectRef) -> Option<Vec<u8>> {
        self.copy_for_peer(item, object).unwrap_or_else(|e| {
            tracing::warn!(item = %item, error = %e, "a batched object is unreadable here");
            None
        })
    }

    /// This node's own copy of a replicated object.
    pub(crate) fn local_object(
        &self,
        item: &ItemId,
        object: &ObjectRef,
    ) -> Result<Option<Vec<u8>>, String> {
        match object {
            ObjectRef::Chunk(a) | ObjectRef::Manifest(a) => self
                .stores
                .get_blob(item, &lightstreams_vault::Address(*a))
                .map_err(|e| e.to_string()),
            ObjectRef::Envelope(l) => self.stores.get_envelope(item, l).map_err(|e| e.to_string()),
            ObjectRef::Message(n) => self.get_post(item, "messages", *n),
            ObjectRef::Reply(n) => self.get_post(item, "replies", *n),
            ObjectRef::Info | ObjectRef::Share(_) | ObjectRef::Batch(_) => Ok(None),
        }
    }

    /// A peer's push of one object (replication).
    pub(crate) fn serve_peer_put(
        &self,
        item: &ItemId,
        kind: &str,
        id: &str,
        object: &ObjectRef,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(), Refused> {
        let target = self.target("PUT", item, kind, id);
        self.authenticate_peer(&target, header)
            .ok_or(Refused::NotFound)?;
        // Only items that exist on chain, and none this node declines.
        let exists = self
            .acl(AccessRegistry::existsCall {
                item: item.0.into(),
            })
            .unwrap_or(false);
        if !exists || self.declines(item) {
            return Err(Refused::NotFound);
        }
        let stored = match object {
            ObjectRef::Chunk(a) | ObjectRef::Manifest(a) => {
                // Chunks and manifests share one store and travel under one kind.
                if body.len() > MAX_MANIFEST_BODY || blake3::hash(body).as_bytes() != a {
                    return Err(ApiError::bad_request(
                        "a replicated object must hash to its address and fit its size limit",
                    )
                    .into());
                }
                self.stores
                    .put_blob(item, &lightstreams_vault::Address(*a), body)
                    .map_err(|e| e.to_string())
            }
            ObjectRef::Envelope(l) => {
                if body.is_empty() || body.len() > MAX_ENVELOPE {
                    return Err(ApiError::bad_request("an envelope is 1 to 16 KiB").into());
                }
                self.stores
                    .put_envelope_once(item, l, body)
                    .map_err(|e| e.to_string())
            }
            ObjectRef::Message(n) | ObjectRef::Reply(n) => {
                if body.is_empty() || body.len() > MAX_POST {
                    return Err(ApiError::bad_request("a post is 1 to 64 KiB").into());
                }
                self.stores
                    .put_post_once(item, object.path_parts().0, *n, body)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            ObjectRef::Info | ObjectRef::Share(_) | ObjectRef::Batch(_) => {
                return Err(Refused::NotFound);
            }
        };
        stored.map_err(|e| ApiError::internal(format!("cannot store: {e}")))?;
        // A revocation swept while this was being written: it must not survive the sweep.
        if self.declines(item) {
            let _ = self.stores.delete_item(item);
            return Err(Refused::NotFound);
        }
        Ok(())
    }

    /// A peer's request for what this node holds of `item`.
    pub(crate) fn serve_inventory(&self, item: &ItemId, header: Option<&str>) -> Option<Inventory> {
        let target = self.target("GET", item, "inventory", "");
        self.authenticate_peer(&target, header)?;
        let mut inventory = self.stores.inventory(item).ok()?;
        inventory.declined = self.declines(item);
        Some(inventory)
    }

    /// A peer's challenge to prove this node holds a blob of `item` (`id`: address and
    /// challenge, see [`lightstreams_network::possession`]): the keyed hash of this node's
    /// intact copy, or `None` (the uniform not-found) when it has none, has a damaged one, or
    /// declines the item.
    pub(crate) fn serve_proof(
        &self,
        item: &ItemId,
        id: &str,
        header: Option<&str>,
    ) -> Option<[u8; 32]> {
        let target = self.target("GET", item, "proof", id);
        self.authenticate_peer(&target, header)?;
        let (address, challenge) = lightstreams_network::possession::parse_request_id(id)?;
        if self.declines(item) {
            return None;
        }
        let blob = self
            .stores
            .get_blob(item, &lightstreams_vault::Address(address))
            .ok()??;
        Some(lightstreams_network::possession::proof(&challenge, &blob))
    }

    /// Whether this node refuses replicas of `item`: an operator of it was revoked and none
    /// of its operators can read the item now.
    fn declines(&self, item: &ItemId) -> bool {
        let Some(net) = self.peers.as_ref() else {
            return false;
        };
        if !net.revoked.lock().contains(item) {
            return false;
        }
        let operators = net.membership.read().operators.clone();
        !operators.iter().any(|op| self.can_read(item, *op))
    }

    /// Delete the replicas of items an operator of this node was revoked from, scanning the
    /// blocks finalised since the last scan.
    pub(crate) fn sweep_revocations(&self, net: &PeerNet) {
        let operators = net.membership.read().operators.clone();
        let head = self.chain.head_number();
        let mut scanned = net.scanned.lock();
        if *scanned == 0 {
            // Resume where the last run stopped, so a revocation finalised while this node was
            // down is still acted on after a restart.
            *scanned = self.stores.read_height("revocations-scanned").unwrap_or(0);
        }
        if operators.is_empty() {
            // Nothing to act on: an account that operates no node yet was revoked from nothing
            // this node holds for it.
            if head > *scanned {
                *scanned = head;
                let _ = self.stores.write_height("revocations-scanned", head);
            }
            return;
        }
        let from = *scanned;
        while *scanned < head {
            let number = *scanned + 1;
            let Ok(Some(receipts)) = self.chain.receipts(number) else {
                break;
            };
            for log in receipts.iter().flat_map(|r| r.logs.iter()) {
                let topics = log.data.topics();
                if log.address != ACCESS_REGISTRY
                    || topics.len() < 3
                    || topics[0] != AccessRegistry::Revoked::SIGNATURE_HASH
                {
                    continue;
                }
                let who = Address::from_word(topics[2]);
                if !operators.contains(&who) {
                    continue;
                }
                let item = ItemId(topics[1].0);
                if operators.iter().any(|op| self.can_read(&item, *op)) {
                    continue;
                }
                net.revoked.lock().insert(item);
                match self.stores.delete_item(&item) {
                    Ok(()) => {
                        tracing::info!(item = %item, operator = %who, "operator revoked: replicas deleted")
                    }
                    Err(e) => {
                        tracing::error!(item = %item, error = %e, "cannot delete revoked replicas")
                    }
                }
            }
            *scanned = number;
        }
        if *scanned != from
            && let Err(e) = self.stores.write_height("revocations-scanned", *scanned)
        {
            tracing::warn!(error = %e, "cannot record the revocation scan height");
        }
    }

    /// One repair round over every item this node holds.
    ///
    /// Every item is checked when the live set changed (a node left or joined) and every
    /// [`FULL_ROUND_EVERY`] rounds; in between only the items clients wrote to, or whose last
    /// repair failed, are — so an idle node does not ask its peers about every item it holds
    /// every few seconds.
    pub(crate) fn repair_round(&self, net: &PeerNet) {
        let membership = net.membership();
        if membership.live.is_empty() {
            return;
        }
        let mut live: Vec<NodeId> = membership.live.iter().map(|p| p.id).collect();
        live.sort();
        let full = {
            let mut last = net.last_full.lock();
            let full = last.0 != live || last.1 + 1 >= FULL_ROUND_EVERY;
            *last = if full { (live, 0) } else { (live, last.1 + 1) };
            full
        };
        let dirty: Vec<ItemId> = net.dirty.lock().drain().collect();
        let items = if full {
            match self.stores.items() {
                Ok(items) => items,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list items to repair");
                    net.dirty.lock().extend(dirty);
                    return;
                }
            }
        } else {
            dirty
        };
        for item in items {
            if let Err(e) = self.repair_item(net, &membership, &item) {
                tracing::warn!(item = %item, error = %e, "repair failed; retrying next round");
                net.dirty.lock().insert(item);
            }
        }
    }

    fn repair_item(&self, net: &PeerNet, m: &Membership, item: &ItemId) -> Result<(), String> {
        let mine = self.stores.inventory(item).map_err(|e| e.to_string())?;
        let objects = mine.objects();
        if objects.is_empty() {
            return Ok(());
        }
        let theirs = inventories(net, &m.live, item);
        let known = placeable(net.me, &theirs);
        // R copies, or one per node where there are fewer nodes than R.
        let wanted = net.replicas.min(known.len());
        // Per object short of copies: how many more it needs and the nodes to try, best first.
        let mut jobs: Vec<(ObjectName, usize, Vec<Peer>)> = Vec::new();
        // Extra copies: blobs this node holds outside their placement whose placement is
        // complete (a node that joined took them over, or this node took an upload for others).
        // Each with the live peers of its placement, which must prove they hold it first.
        let mut extra: Vec<(lightstreams_vault::Address, Vec<Peer>)> = Vec::new();
        let mut placement_incomplete = false;
        // Objects short of copies as this node sees them (whoever is to push them).
        let mut short_here = 0usize;
        for (kind, id) in objects {
            let name = object_label(kind, &id);
            let holders: HashSet<NodeId> = std::iter::once(net.me)
                .chain(
                    theirs
                        .iter()
                        .filter(|(_, set)| set.contains(&name))
                        .map(|(id, _)| *id),
                )
                .collect();
            let ranked = placement::rank(&known, &placement_key(&item.0, kind, &id));
            // Its placement: the first R of the ranking. Missing there, or too few copies
            // anywhere, means pushes.
            let missing = ranked
                .iter()
                .take(wanted)
                .filter(|n| !holders.contains(n))
                .count();
            // Only chunks and manifests are collected: content-addressed and immutable, they are
            // nearly all of the bytes; envelopes and fan posts are small and may be rewritten.
            if kind == "chunks" {
                match placement::extra_copy(&ranked, net.me, net.replicas, |n| holders.contains(n))
                {
                    Extra::Drop => {
                        let placed: Vec<Peer> = ranked
                            .iter()
                            .take(net.replicas)
                            .filter_map(|n| m.live.iter().find(|p| p.id == *n).cloned())
                            .collect();
                        extra.extend(blob_address(&id).map(|a| (a, placed)));
                    }
                    Extra::Wait => placement_incomplete = true,
                    Extra::Keep => {}
                }
            }
            let need = missing.max(wanted.saturating_sub(holders.len()));
            if need == 0 {
                continue;
            }
            short_here += 1;
            // The best-ranked holder pushes; the others leave it to it.
            if ranked.iter().find(|n| holders.contains(n)) != Some(&net.me) {
                continue;
            }
            let candidates: Vec<Peer> = ranked
                .iter()
                .filter(|n| !holders.contains(n))
                .filter_map(|n| m.live.iter().find(|p| p.id == *n).cloned())
                .collect();
            if !candidates.is_empty() {
                jobs.push(((kind, id), need, candidates));
            }
        }
        tracing::debug!(item = %item, known = known.len(), wanted, short = short_here, pushing = jobs.len(), extra = extra.len(), "repair check");
        self.drop_extra_copies(net, item, &extra, placement_incomplete);
        if jobs.is_empty() {
            return Ok(());
        }
        tracing::debug!(item = %item, objects = jobs.len(), "replicating");
        let next = std::sync::atomic::AtomicUsize::new(0);
        let short = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(((kind, id), need, candidates)) = jobs.get(i) else {
                            return;
                        };
                        // A candidate that refuses (or is down) is passed over for the next.
                        let mut placed = 0;
                        for peer in candidates {
                            if placed == *need {
                                break;
                            }
                            match self.push(net, item, kind, id, peer) {
                                Ok(()) => placed += 1,
                                Err(e) => tracing::debug!(item = %item, peer = %peer.id, error = %e, "push failed"),
                            }
                        }
                        if placed < *need {
                            short.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let short = short.into_inner();
        if short > 0 {
            return Err(format!(
                "{short} of {} objects are still short of {wanted} copies",
                jobs.len(),
            ));
        }
        Ok(())
    }

    /// Re-verify up to `budget` bytes of stored chunks and manifests, going on from where the
    /// last round stopped (and over again from the start after the last). A damaged copy is
    /// deleted when a live peer holds the blob ([`Self::drop_damaged`]): the node no longer
    /// claims it, so the repair rounds of the nodes that hold one push it back where the
    /// placement wants it. Reads heal a damaged copy they meet too; this finds the ones nobody
    /// reads.
    pub(crate) fn scrub_round(&self, net: &PeerNet, budget: u64) {
        let mut items = match self.stores.items() {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list items to scrub");
                return;
            }
        };
        items.sort_by_key(|i| i.0);
        let mut at = *net.scrubbed.lock();
        let mut spent = 0u64;
        let start = at.map_or(0, |(item, _)| items.partition_point(|i| i.0 < item.0));
        for item in &items[start..] {
            let after = at.filter(|(i, _)| i == item).map(|(_, a)| a.0);
            let addresses = match self.stores.blob_addresses(item) {
                Ok(addresses) => addresses,
                Err(e) => {
                    tracing::warn!(item = %item, error = %e, "cannot list blobs to scrub");
                    continue;
                }
            };
            for address in addresses.iter().filter(|a| after.is_none_or(|b| a.0 > b)) {
                match self.stores.get_blob(item, address) {
                    Ok(bytes) => spent += bytes.map_or(0, |b| b.len() as u64),
                    Err(lightstreams_vault::Error::Corrupt { .. }) => {
                        self.drop_damaged(net, item, address);
                    }
                    Err(e) => {
                        tracing::warn!(item = %item, error = %e, "cannot read a stored blob to scrub")
                    }
                }
                at = Some((*item, *address));
                if spent >= budget {
                    *net.scrubbed.lock() = at;
                    return;
                }
            }
        }
        // The end: start over next round.
        *net.scrubbed.lock() = None;
    }

    /// Delete a damaged copy found by the scrubber if a live peer holds the blob (which then
    /// pushes it back); with no copy elsewhere it is kept, so that reads report it as damaged
    /// rather than missing.
    fn drop_damaged(&self, net: &PeerNet, item: &ItemId, address: &lightstreams_vault::Address) {
        let blob = hex::encode(address.0);
        let name = object_label("chunks", &format!("0x{blob}"));
        let live = net.membership().live;
        let elsewhere = inventories(net, &live, item)
            .values()
            .any(|held| !held.declined && held.contains(&name));
        if !elsewhere {
            tracing::error!(item = %item, blob = %blob, "a stored copy is damaged and no live node holds another; keeping it so reads report it");
            return;
        }
        tracing::warn!(item = %item, blob = %blob, "a stored copy is damaged; deleting it so an intact one is pushed back");
        if let Err(e) = self.stores.delete_blob(item, address) {
            tracing::warn!(item = %item, error = %e, "cannot delete a damaged copy");
        }
    }

    /// Delete this node's copies of `extra` (blobs every node of their placement holds, as
    /// their inventories said this round), each once every node of its placement (given beside
    /// it) has proved it holds the blob ([`lightstreams_network::possession`]): a node whose
    /// inventory names a blob it does not hold cannot make this node drop its copy. Safe against
    /// other nodes doing the same at once ([`placement::extra_copy`]): R copies remain. A blob
    /// not proved, or (with `incomplete`) outside this node's placement and not yet on every
    /// node of it, has the item checked again next round rather than at the next full round.
    fn drop_extra_copies(
        &self,
        net: &PeerNet,
        item: &ItemId,
        extra: &[(lightstreams_vault::Address, Vec<Peer>)],
        mut incomplete: bool,
    ) {
        let mut dropped = 0;
        for (address, placed) in extra {
            // Only an intact copy of our own can check the proofs (a damaged one is the
            // scrubber's).
            let Ok(Some(blob)) = self.stores.get_blob(item, address) else {
                continue;
            };
            let proved =
                lightstreams_network::possession::all_prove(&blob, placed, |peer, challenge| {
                    net.client.prove(peer, &item.0, &address.0, challenge).ok()
                });
            if placed.len() < net.replicas || !proved {
                tracing::warn!(item = %item, blob = %hex::encode(address.0), "the placement did not prove it holds a blob its inventories list; keeping this copy");
                incomplete = true;
                continue;
            }
            match self.stores.delete_blob(item, address) {
                Ok(()) => dropped += 1,
                Err(e) => {
                    tracing::warn!(item = %item, error = %e, "cannot delete an extra copy")
                }
            }
        }
        if dropped > 0 {
            tracing::debug!(item = %item, blobs = dropped, "deleted copies outside the placement");
        }
        if incomplete {
            net.dirty.lock().insert(*item);
        }
    }

    fn push(
        &self,
        net: &PeerNet,
        item: &ItemId,
        kind: &str,
        id: &str,
        peer: &Peer,
    ) -> Result<(), String> {
        let object = super::object_of(kind, id).map_err(|e| e.message)?;
        let bytes = match self.local_object(item, &object) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(()),
            Err(e) => {
                // A damaged local copy is dropped; a peer's intact copy replaces it on a read.
                if let ObjectRef::Chunk(a) | ObjectRef::Manifest(a) = object {
                    let _ = self
                        .stores
                        .delete_blob(item, &lightstreams_vault::Address(a));
                }
                return Err(format!("local copy damaged: {e}"));
            }
        };
        net.client
            .put(peer, &item.0, kind, id, &bytes)
            .map_err(|e| e.to_string())
    }

    /// Wait until every object of `item` has the live copies the network wants (R, or one on
    /// every live node where fewer are up) or `limit` passes; returns the fewest copies any
    /// object has and the copies wanted.
    pub(crate) fn wait_replicated(&self, item: &ItemId, limit: Duration) -> (u64, u64) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let health = self.health(item);
            let wanted = health["wanted_live"].as_u64().unwrap_or(1);
            let copies = health["min_copies"].as_u64().unwrap_or(0);
            if copies >= wanted || std::time::Instant::now() >= deadline {
                return (copies, wanted);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many live copies each object of `item` has, as this node sees the network.
    pub(crate) fn health(&self, item: &ItemId) -> Value {
        let Some(net) = self.peers.as_ref() else {
            let held = self
                .stores
                .inventory(item)
                .map(|i| i.objects().len())
                .unwrap_or(0);
            return json!({
                "item": item.to_string(), "replicas": 1, "wanted": 1, "wanted_live": 1, "objects": held,
                "min_copies": if held > 0 { 1 } else { 0 }, "max_blob_copies": if held > 0 { 1 } else { 0 },
                "under_replicated": 0, "misplaced": 0,
                "nodes": [{"id": self.node_id, "live": true, "objects": held}],
            });
        };
        let m = net.membership();
        let theirs = inventories(net, &m.live, item);
        let mine: HashSet<String> = self
            .stores
            .inventory(item)
            .map(|i| i.labels())
            .unwrap_or_default();
        let mut copies: HashMap<&String, usize> = HashMap::new();
        for name in mine
            .iter()
            .chain(theirs.values().flat_map(|h| h.names.iter()))
        {
            *copies.entry(name).or_default() += 1;
        }
        let min = copies.values().copied().min().unwrap_or(0);
        // Objects not yet on every node of their placement, as the repair rounds compute it.
        let known = placeable(net.me, &theirs);
        let misplaced = misplaced(
            item,
            &known,
            net.replicas,
            copies.keys().copied(),
            |node, name| {
                if *node == net.me {
                    mine.contains(name)
                } else {
                    theirs.get(node).is_some_and(|h| h.contains(name))
                }
            },
        );
        // Extra copies of blobs are collected (envelopes and posts are kept everywhere).
        let max_blob = copies
            .iter()
            .filter(|(name, _)| name.starts_with("chunks/"))
            .map(|(_, c)| *c)
            .max()
            .unwrap_or(0);
        // R copies are wanted, or one per registered node where there are fewer (a lone node
        // wants one).
        let wanted = net.replicas.min(m.registered.len().max(1));
        let under = copies.values().filter(|c| **c < wanted).count();
        let mut nodes = vec![
            json!({"id": net.me.to_string(), "live": true, "objects": mine.len(), "this": true}),
        ];
        for entry in m.registered.iter().filter(|e| e.id != net.me) {
            let held = theirs.get(&entry.id).map(|h| h.names.len());
            nodes.push(json!({
                "id": entry.id.to_string(), "url": entry.url, "operator": entry.operator,
                "live": held.is_some(), "objects": held.unwrap_or(0),
            }));
        }
        // What replication can reach now: R, or one copy per live node where fewer are up.
        let live = nodes.iter().filter(|n| n["live"] == true).count();
        json!({
            "item": item.to_string(),
            "replicas": net.replicas,
            "wanted": wanted,
            "wanted_live": wanted.min(live),
            "objects": copies.len(),
            "min_copies": min,
            "max_blob_copies": max_blob,
            "under_replicated": under,
            "misplaced": misplaced,
            "nodes": nodes,
        })
    }
}

/// The nodes an item's objects are placed on: this one (`me`) and the peers whose inventories
/// answered and that take the item (a node whose operator lost READ declines it).
fn placeable(me: NodeId, theirs: &HashMap<NodeId, Held>) -> Vec<NodeId> {
    std::iter::once(me)
        .chain(
            theirs
                .iter()
                .filter(|(_, held)| !held.declined)
                .map(|(id, _)| *id),
        )
        .collect()
}

/// How many of the objects `names` (labels `kind/id`) some node of their placement lacks: the
/// best `replicas` of `known` by rendezvous rank, as the repair rounds place them. Copies
/// elsewhere are moved there and then collected, so until this is 0 a copy may sit on a node
/// that is about to drop it.
fn misplaced<'a>(
    item: &ItemId,
    known: &[NodeId],
    replicas: usize,
    names: impl IntoIterator<Item = &'a String>,
    holds: impl Fn(&NodeId, &String) -> bool,
) -> usize {
    let placed = replicas.min(known.len());
    names
        .into_iter()
        .filter(|name| {
            let Some((kind, id)) = name.split_once('/') else {
                return false;
            };
            placement::rank(known, &placement_key(&item.0, kind, id))
                .iter()
                .take(placed)
                .any(|n| !holds(n, name))
        })
        .count()
}

/// The address of a blob named `0x<hex>` in a peer path.
fn blob_address(id: &str) -> Option<lightstreams_vault::Address> {
    let mut a = [0u8; 32];
    hex::decode_to_slice(id.trim_start_matches("0x"), &mut a).ok()?;
    Some(lightstreams_vault::Address(a))
}

/// What one peer holds of an item: object names, and whether it declines the item.
struct Held {
    names: HashSet<String>,
    declined: bool,
}

impl Held {
    fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// The inventories of `item` on `peers`, fetched in parallel; peers that fail are left out.
fn inventories(net: &PeerNet, peers: &[Peer], item: &ItemId) -> HashMap<NodeId, Held> {
    std::thread::scope(|s| {
        let asks: Vec<_> = peers
            .iter()
            .map(|p| s.spawn(|| net.client.inventory(p, &item.0)))
            .collect();
        peers
            .iter()
            .zip(asks)
            .filter_map(|(p, ask)| {
                let inventory = ask.join().ok()?.ok()?;
                Some((
                    p.id,
                    Held {
                        names: inventory.labels(),
                        declined: inventory.declined,
                    },
                ))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object counts as misplaced while any node of its placement lacks it, whatever other
    /// copies exist; once the placement holds it, copies elsewhere do not matter.
    #[test]
    fn an_object_off_its_placement_is_misplaced_until_the_placement_holds_it() {
        let item = ItemId([7; 32]);
        let nodes: Vec<NodeId> = (1..=5).map(|i| NodeId([i; 32])).collect();
        let name = object_label("chunks", &format!("0x{}", hex::encode([9u8; 32])));
        let ranked = placement::rank(&nodes, &placement_key(&item.0, "chunks", &name[7..]));
        let count =
            |holders: &[NodeId]| misplaced(&item, &nodes, 3, [&name], |n, _| holders.contains(n));
        // Three copies, one of them outside the placement: misplaced.
        assert_eq!(count(&[ranked[0], ranked[1], ranked[3]]), 1);
        assert_eq!(count(&[ranked[2], ranked[3], ranked[4]]), 1);
        // The placement holds it (with or without an extra copy): in place.
        assert_eq!(count(&[ranked[0], ranked[1], ranked[2]]), 0);
        assert_eq!(count(&ranked), 0);
        // Fewer nodes than R: every node is the placement.
        let two = &nodes[..2];
        assert_eq!(misplaced(&item, two, 3, [&name], |n, _| n == &two[0]), 1);
        assert_eq!(misplaced(&item, two, 3, [&name], |_, _| true), 0);
    }

    /// A round that panics is reported with its message, and the next round still runs.
    #[test]
    fn a_panicking_round_is_caught_and_the_next_one_runs() {
        let mut rounds = 0;
        let outcomes: Vec<Result<(), String>> = (0..3)
            .map(|i| {
                super::guarded(|| {
                    rounds += 1;
                    assert!(i != 1, "round {i} failed");
                })
            })
            .collect();
        assert_eq!(rounds, 3);
        assert_eq!(outcomes[0], Ok(()));
        assert_eq!(outcomes[1], Err("round 1 failed".to_string()));
        assert_eq!(outcomes[2], Ok(()));
        assert_eq!(
            super::guarded(|| std::panic::panic_any(7u8)),
            Err(String::new())
        );
    }
}
