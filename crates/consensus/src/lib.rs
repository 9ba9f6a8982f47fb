//! Order Lightstreams blocks with commonware's simplex BFT engine.
//!
//! This crate is the adapter between the execution layer (`lightstreams-chain`, reached through
//! the [`Executor`] trait) and commonware's consensus stack. It runs, inside the node's
//! `commonware_runtime::tokio` runtime:
//!
//! * **p2p** — `commonware_p2p::authenticated::lookup` over TCP: peers are known by ed25519 public
//!   key and socket address, connections are mutually authenticated and encrypted. Five
//!   channels: simplex votes, certificates and certificate fetches, marshal's block broadcast
//!   and marshal's backfill. Validators are *primary* peers (dialed); full nodes are *secondary*
//!   peers (accepted inbound, gossiped to, never dialed).
//! * **simplex** — the BFT engine, ed25519 signatures (certificates are lists of `2f+1`
//!   signatures), round-robin leaders, one epoch, validator set fixed by genesis.
//! * **marshal** (standard variant, inline verification) — disseminates full blocks
//!   (`commonware_broadcast::buffered`), fetches missing blocks and certificates from peers,
//!   stores finalized blocks with their finalization certificates, and delivers finalized blocks
//!   in height order, at least once, to the executor.
//!
//! # Message flow
//!
//! 1. The view's leader: simplex asks marshal's `Inline` wrapper to propose; it fetches the parent
//!    (possibly not yet finalized) and its ancestry, and calls [`Executor::build`] with the
//!    unfinalized ancestors. The block is broadcast to all peers (buffered broadcast) and its
//!    digest — the block hash — is what simplex votes on.
//! 2. Other validators receive the block, check parent linkage and height, and call
//!    [`Executor::verify`] (re-execution on top of the same ancestry); a `true` verdict makes
//!    them vote `notarize`. Invalid blocks get no vote and the view times out (`nullify`).
//! 3. With `2f+1` notarize votes the block is notarized; validators persist it and vote
//!    `finalize`; `2f+1` finalize votes form the finalization certificate.
//! 4. Marshal stores the block and certificate, then calls [`Executor::finalized`] for every
//!    finalized height in order and waits for it to return before acknowledging the height.
//!
//! Full nodes run the same stack with a verify-only signing scheme: they never vote or propose,
//! receive certificates and blocks through gossip, and backfill any gap (from genesis on first
//! start) through marshal's resolver, verifying each finalization certificate against the
//! validator set.
//!
//! # Storage
//!
//! Everything lives under the runtime's storage directory (see [`runtime_config`]), in
//! partitions prefixed by [`Config::partition_prefix`]:
//! `<prefix>-simplex*` (simplex's write-ahead journal of own votes and seen certificates, which
//! prevents double-signing after a crash), `<prefix>-marshal*` (marshal's cache of notarized
//! blocks and its delivery cursor), `<prefix>-blocks-*` and `<prefix>-finalizations-*`
//! (immutable archives of finalized blocks and their finalization certificates, by height and by
//! hash). The executor keeps its own state; marshal redelivers from its last acknowledged height
//! after a restart, so [`Executor::finalized`] must be idempotent.
//!
//! # Failure modes
//!
//! * With `f` of `3f+1` validators down, the others keep finalizing; a down leader's view costs
//!   one `leader_timeout` (or less once the skip policy marks the leader inactive).
//! * With more than `f` down, the chain halts (safety over liveness) and resumes when they return.
//! * A validator restarted with its journal replays it and never signs a conflicting vote. Losing
//!   the journal while keeping the key is unsafe (possible equivocation); don't.
//! * An executor that rejects a block every honest validator accepts (non-determinism) makes that
//!   node diverge: it abstains and then follows the finalized chain through [`Executor::finalized`].
//! * Peers sending invalid data (bad signatures, undecodable messages, mismatching blocks) are
//!   blocked by the p2p layer; all network input is decoded with size limits and never panics.
//! * Blocks larger than [`block::MAX_CONSENSUS_BLOCK_SIZE`] (the chain's `MAX_BLOCK_SIZE`) cannot
//!   be carried and are rejected.

mod application;
pub mod block;
mod config;
mod engine;
pub mod keys;

use std::future::Future;

pub use block::{ConsensusBlock, Digest};
pub use commonware_runtime::tokio::{Config as RuntimeConfig, Context, Runner};
pub use config::{Config, DEFAULT_NAMESPACE, runtime_config};
pub use engine::{
    CHANNEL_BACKFILL, CHANNEL_BLOCKS, CHANNEL_CERTIFICATES, CHANNEL_SIMPLEX_RESOLVER,
    CHANNEL_TRANSACTIONS, CHANNEL_VOTES, Handle, Stopper, start,
};
pub use keys::{PrivateKey, PublicKey, PublicKeyBytes};
pub use lightstreams_primitives::Block;

/// What consensus needs from the execution layer (implemented by `lightstreams-chain` through
/// the node).
///
/// All methods may be called concurrently (verification of competing proposals, building while
/// finalizing); `finalized` calls are sequential and in height order.
pub trait Executor: Clone + Send + Sync + 'static {
    /// The genesis block (height 0); identical on every node.
    fn genesis(&self) -> Block;

    /// Height of the last block this executor has durably finalized (0 at genesis).
    fn last_finalized(&self) -> u64;

    /// Build a child of `parent`.
    ///
    /// `ancestry` holds the not-yet-finalized ancestors in ascending height order ending with
    /// `parent` — i.e. every block with height in `last_finalized()+1 ..= parent.number()` as
    /// observed when the call started (empty when `parent` is at or below the executor's last
    /// finalized height; the executor may have finalized some of them meanwhile, so skip those by
    /// number). `timestamp_ms` is the local clock in milliseconds, already raised to at least the
    /// parent's header timestamp × 1000; header timestamps are in seconds, so use
    /// `timestamp_ms / 1000`. `proposer` is our public key (the leader).
    ///
    /// May wait (e.g. for transactions, up to ~1 s — keep it well under
    /// [`Config::leader_timeout`]) before returning; `None` skips this slot (the view is then
    /// nullified, costing the other validators up to `leader_timeout`; when idle prefer an empty
    /// block). The returned block
    /// must have `number == parent.number() + 1` and `parent_hash == parent.hash()`.
    fn build(
        &self,
        ancestry: Vec<Block>,
        parent: Block,
        timestamp_ms: u64,
        proposer: PublicKeyBytes,
    ) -> impl Future<Output = Option<Block>> + Send;

    /// Re-execute `block` on top of `parent` (same `ancestry` convention as [`Executor::build`])
    /// and check it (state root, receipts, gas, timestamp sanity …).
    ///
    /// Consensus has already checked `block.number() == parent.number() + 1`,
    /// `block.parent_hash() == parent.hash()` and that the header timestamp is not below the
    /// parent's. Return `false` only if the block is permanently invalid; a pending future means
    /// "abstain" and is cancelled by consensus when the view ends.
    fn verify(
        &self,
        ancestry: Vec<Block>,
        parent: Block,
        block: Block,
    ) -> impl Future<Output = bool> + Send;

    /// Transactions this node's clients submitted (EIP-2718 bytes), to relay to the other
    /// nodes so that whoever leads next can include them. Default: nothing to relay.
    fn submitted(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<lightstreams_primitives::Bytes>> {
        None
    }

    /// A transaction another node relayed: validate it and pool it (never relay it again).
    /// Default: ignored.
    fn relayed(&self, _raw: &[u8]) {}

    /// Called for every finalized block (height ≥ 1) in height order, at least once (must be
    /// idempotent: redelivery happens after restarts), with the encoded simplex finalization
    /// certificate (`commonware_consensus::simplex::types::Finalization<ed25519::Scheme,
    /// sha256::Digest>` codec) when this node stores one for that height — `None` when the
    /// block was finalized implicitly by a descendant's certificate. Return only once the block
    /// is durably stored: marshal's acknowledgement waits for it.
    fn finalized(
        &self,
        block: Block,
        certificate: Option<Vec<u8>>,
    ) -> impl Future<Output = ()> + Send;
}

/// Why consensus could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent.
    #[error("invalid consensus configuration: {0}")]
    Config(String),
    /// A key could not be parsed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A key file could not be read or written.
    #[error("key file {0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// Consensus storage could not be opened or recovered.
    #[error("consensus storage: {0}")]
    Storage(String),
    /// Consensus stopped.
    #[error("consensus stopped: {0}")]
    Stopped(String),
}

#[cfg(test)]
mod tests;
