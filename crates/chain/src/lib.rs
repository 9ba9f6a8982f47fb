//! Execute and store the Lightstreams chain: revm execution, state history, receipts, mempool.
//!
//! [`Chain`] is the execution layer: it builds blocks from its [`Mempool`] for the consensus
//! engine, re-executes blocks proposed by others and checks every header field, and durably
//! commits finalized blocks to the [`Store`] (redb). It also answers every read the JSON-RPC
//! server needs, against any finalized block. Ordering and finality come from
//! `lightstreams-consensus`; this crate never decides what is final.
//!
//! # Design
//! - Unfinalized blocks (built or verified, not yet finalized) live in memory as absolute
//!   state diffs; building on one stacks its diff over the store's snapshot.
//! - Finalizing writes the block, receipts, certificate and state diff in one durable redb
//!   transaction: after a crash the store holds exactly the blocks that were finalized.
//! - The header's `state_root` is a chained commitment over state diffs (see
//!   [`StateDiff::commitment`]), not a Merkle-Patricia root: it detects divergence but offers
//!   no account proofs (`eth_getProof` is not served).

mod chain;
mod error;
pub mod execute;
pub mod mempool;
pub mod state;
pub mod store;
mod tx_error;
pub mod types;

pub use chain::{CallError, Chain, ChainConfig, Finalized, MAX_FUTURE_DRIFT_SECS};
pub use error::{Error, Result};
pub use mempool::Mempool;
pub use state::StateView;
pub use store::Store;
pub use tx_error::TxError;
pub use types::{Receipt, StateDiff};
