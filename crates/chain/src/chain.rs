//! The execution layer: build, verify and finalize blocks; answer reads.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::{Header, Transaction as _, TxEnvelope, transaction::SignerRecoverable};
use alloy::eips::{Decodable2718, Encodable2718};
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::rpc::types::TransactionRequest;
use lightstreams_primitives::constants::MAX_TX_SIZE;
use lightstreams_primitives::{Block, Genesis};
use parking_lot::RwLock;
use revm::context::TxEnv;
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use revm::context_interface::result::{EVMError, ExecutionResult, Output};
use revm::primitives::KECCAK_EMPTY;
use revm::{ExecuteEvm, MainBuilder};
use tokio::sync::broadcast;

use crate::TxError;
use crate::error::{Error, Result};
use crate::execute::{self, BlockInputs, Executed, Mode, SPEC};
use crate::mempool::Mempool;
use crate::state::StateView;
use crate::store::Store;
use crate::types::{AccountState, Receipt, StateDiff};

/// How far ahead of a validator's clock a proposed block's timestamp may be.
pub const MAX_FUTURE_DRIFT_SECS: u64 = 15;

/// Configuration of the execution layer.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Directory of the store (`chain.redb` is created inside).
    pub data_dir: PathBuf,
    /// The genesis; must be the same on every node.
    pub genesis: Genesis,
    /// Most transactions per block.
    pub max_block_transactions: usize,
    /// How long a proposer waits for transactions before proposing an empty block.
    pub empty_block_interval: Duration,
}

impl ChainConfig {
    /// Defaults for `genesis` stored under `data_dir`.
    pub fn new(data_dir: PathBuf, genesis: Genesis) -> Self {
        Self {
            data_dir,
            genesis,
            max_block_transactions: 20_000,
            empty_block_interval: Duration::from_millis(1000),
        }
    }
}

/// A finalized block and its receipts, as announced to subscribers.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The block.
    pub block: Block,
    /// Its receipts.
    pub receipts: Vec<Receipt>,
}

#[derive(Debug)]
struct PendingBlock {
    block: Block,
    receipts: Vec<Receipt>,
    diff: Arc<StateDiff>,
}

/// Why `eth_call` or `eth_estimateGas` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call reverted; `data` is the revert payload.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Raw revert data.
        data: Bytes,
        /// Decoded `Error(string)` reason, if any.
        reason: Option<String>,
    },
    /// The call halted (out of gas, invalid opcode, ...).
    #[error("{0}")]
    Halted(String),
    /// The request cannot execute (insufficient funds, bad fields, ...).
    #[error("{0}")]
    Invalid(String),
    /// The block asked for does not exist.
    #[error("header not found")]
    UnknownBlock,
    /// Storage failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        CallError::Internal(e.to_string())
    }
}

/// The execution layer of a node. Share it as `Arc<Chain>`.
#[derive(Debug)]
pub struct Chain {
    config: ChainConfig,
    store: Store,
    genesis_block: Block,
    mempool: Mempool,
    pending: RwLock<HashMap<B256, Arc<PendingBlock>>>,
    head: RwLock<Block>,
    events: broadcast::Sender<Arc<Finalized>>,
    /// Transactions this node's clients submitted (EIP-2718 bytes), for relaying to peers.
    submitted: broadcast::Sender<Bytes>,
}

/// Submitted transactions kept for a lagging relay.
const SUBMITTED_BACKLOG: usize = 16_384;

/// Decode a raw (EIP-2718) transaction, refusing oversized input and trailing bytes.
fn decode_raw(raw: &[u8]) -> Result<TxEnvelope, TxError> {
    if raw.len() > MAX_TX_SIZE {
        return Err(TxError::TooLarge {
            size: raw.len(),
            limit: MAX_TX_SIZE,
        });
    }
    let mut buf = raw;
    let tx = TxEnvelope::decode_2718(&mut buf).map_err(|e| TxError::Decode(e.to_string()))?;
    if !buf.is_empty() {
        return Err(TxError::Decode("trailing bytes after transaction".into()));
    }
    Ok(tx)
}

impl Chain {
    /// Open the store, writing the genesis block on first use.
    pub fn open(config: ChainConfig) -> Result<Arc<Self>> {
        config.genesis.validate().map_err(|e| Error::InvalidBlock {
            hash: B256::ZERO,
            reason: e.to_string(),
        })?;
        let store = Store::open(&config.data_dir)?;
        let (genesis_block, genesis_diff) = genesis_block(&config.genesis);
        match store.genesis_hash()? {
            Some(stored) if stored != genesis_block.hash() => {
                return Err(Error::GenesisMismatch {
                    stored,
                    given: genesis_block.hash(),
                });
            }
            Some(_) => {}
            None => store.commit_block(&genesis_block, &[], &genesis_diff, &[])?,
        }
        let reader = store.reader()?;
        let finalized = reader.finalized_number()?.unwrap_or(0);
        let head = reader.block(finalized)?.ok_or(Error::Corrupt {
            what: "head block",
            detail: format!("block {finalized} missing"),
        })?;
        drop(reader);
        let (events, _) = broadcast::channel(1024);
        let (submitted, _) = broadcast::channel(SUBMITTED_BACKLOG);
        Ok(Arc::new(Self {
            config,
            store,
            genesis_block,
            mempool: Mempool::new(),
            pending: RwLock::new(HashMap::new()),
            head: RwLock::new(head),
            events,
            submitted,
        }))
    }

    /// The genesis block.
    pub fn genesis_block(&self) -> &Block {
        &self.genesis_block
    }

    /// The genesis this chain was opened with.
    pub fn genesis(&self) -> &Genesis {
        &self.config.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.config.genesis.chain_id
    }

    /// The last finalized block.
    pub fn head(&self) -> Block {
        self.head.read().clone()
    }

    /// Number of the last finalized block.
    pub fn head_number(&self) -> u64 {
        self.head.read().number()
    }

    /// The transaction pool.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// Finalized blocks as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Finalized>> {
        self.events.subscribe()
    }

    // ---- consensus side -------------------------------------------------------------------

    /// Wait up to [`ChainConfig::empty_block_interval`] for the pool to hold a transaction,
    /// so an idle chain produces about one empty block per interval and a busy one builds at
    /// once.
    pub async fn wait_for_transactions(&self) {
        self.mempool
            .wait_for_transactions(self.config.empty_block_interval)
            .await;
    }

    /// [`Chain::wait_for_transactions`], then [`Chain::build_now`].
    pub async fn build(
        &self,
        ancestry: &[Block],
        parent: &Block,
        timestamp_ms: u64,
        beneficiary: Address,
        extra_data: Bytes,
    ) -> Result<Block> {
        self.wait_for_transactions().await;
        self.build_now(ancestry, parent, timestamp_ms, beneficiary, extra_data)
    }

    /// Build a child of `parent` from the pool, now. `ancestry` holds the unfinalized
    /// ancestors in ascending order ending with `parent` (or is empty when `parent` is
    /// finalized). CPU-bound: call it from a blocking thread.
    pub fn build_now(
        &self,
        ancestry: &[Block],
        parent: &Block,
        timestamp_ms: u64,
        beneficiary: Address,
        extra_data: Bytes,
    ) -> Result<Block> {
        let view = self.view_on(ancestry, parent)?;
        let candidates = self
            .mempool
            .candidates(self.config.max_block_transactions, |sender| {
                view.balance_nonce(sender).map(|(_, nonce)| nonce)
            })
            .map_err(|e| Error::Db(e.to_string()))?;
        let inputs = self.inputs(parent, timestamp_ms / 1000, beneficiary, extra_data);
        let executed = execute::execute(&view, &inputs, candidates, Mode::Build)
            .map_err(|e| Error::Evm(e.to_string()))?;
        if !executed.rejected.is_empty() {
            for (hash, reason) in &executed.rejected {
                tracing::debug!(%hash, %reason, "dropping transaction that cannot execute");
            }
            let invalid: Vec<B256> = executed.rejected.iter().map(|(h, _)| *h).collect();
            self.mempool.prune(&HashMap::new(), &invalid);
        }
        let block = Block::new(executed.header, executed.transactions);
        self.pending.write().insert(
            block.hash(),
            Arc::new(PendingBlock {
                block: block.clone(),
                receipts: executed.receipts,
                diff: Arc::new(executed.diff),
            }),
        );
        Ok(block)
    }

    /// Re-execute `block` on `parent` and check every header field; `Err` means invalid.
    pub fn verify(&self, ancestry: &[Block], parent: &Block, block: &Block) -> Result<()> {
        if self.pending.read().contains_key(&block.hash()) {
            return Ok(());
        }
        let invalid = |reason: String| Error::InvalidBlock {
            hash: block.hash(),
            reason,
        };
        let header = block.header();
        if header.parent_hash != parent.hash() || header.number != parent.number() + 1 {
            return Err(invalid("does not extend its parent".into()));
        }
        if header.timestamp < parent.header().timestamp {
            return Err(invalid("timestamp before parent's".into()));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if header.timestamp > now + MAX_FUTURE_DRIFT_SECS {
            return Err(invalid(format!(
                "timestamp {} is more than {MAX_FUTURE_DRIFT_SECS} s ahead of this node's clock ({now})",
                header.timestamp
            )));
        }
        let view = self.view_on(ancestry, parent)?;
        let pending = self.execute_checked(&view, parent, block)?;
        self.pending.write().insert(block.hash(), Arc::new(pending));
        Ok(())
    }

    /// Durably commit a finalized block with its certificate. Idempotent; blocks must arrive
    /// in height order. A block never seen before (a full node syncing) is executed and
    /// checked first.
    pub fn finalize(&self, block: &Block, certificate: &[u8]) -> Result<()> {
        let head = self.head_number();
        if block.number() <= head {
            return Ok(());
        }
        if block.number() != head + 1 {
            return Err(Error::InvalidBlock {
                hash: block.hash(),
                reason: format!("finalized out of order: head is {head}"),
            });
        }
        let existing = self.pending.read().get(&block.hash()).cloned();
        let pending = match existing {
            Some(p) => p,
            None => {
                let parent = self.head();
                let view = self.view_on(&[], &parent)?;
                Arc::new(self.execute_checked(&view, &parent, block)?)
            }
        };
        self.store
            .commit_block(block, &pending.receipts, &pending.diff, certificate)?;
        *self.head.write() = block.clone();
        self.pending
            .write()
            .retain(|_, p| p.block.number() > block.number());
        let mut nonces = HashMap::new();
        for (address, state) in &pending.diff.accounts {
            nonces.insert(*address, state.as_ref().map(|s| s.nonce).unwrap_or(0));
        }
        self.mempool.prune(&nonces, &[]);
        let _ = self.events.send(Arc::new(Finalized {
            block: block.clone(),
            receipts: pending.receipts.clone(),
        }));
        Ok(())
    }

    fn inputs(
        &self,
        parent: &Block,
        timestamp: u64,
        beneficiary: Address,
        extra_data: Bytes,
    ) -> BlockInputs {
        BlockInputs {
            chain_id: self.chain_id(),
            parent_hash: parent.hash(),
            parent_state_root: parent.header().state_root,
            number: parent.number() + 1,
            timestamp: timestamp.max(parent.header().timestamp),
            beneficiary,
            gas_limit: self.config.genesis.gas_limit,
            base_fee: self.config.genesis.base_fee_per_gas,
            extra_data,
        }
    }

    fn execute_checked(
        &self,
        view: &StateView,
        parent: &Block,
        block: &Block,
    ) -> Result<PendingBlock> {
        let header = block.header();
        let inputs = BlockInputs {
            timestamp: header.timestamp,
            ..self.inputs(
                parent,
                header.timestamp,
                header.beneficiary,
                header.extra_data.clone(),
            )
        };
        let txs = self.recover_senders(block)?;
        let executed: Executed =
            execute::execute(view, &inputs, txs, Mode::Verify).map_err(|e| {
                Error::InvalidBlock {
                    hash: block.hash(),
                    reason: e.to_string(),
                }
            })?;
        if &executed.header != header {
            return Err(Error::InvalidBlock {
                hash: block.hash(),
                reason: header_mismatch(header, &executed.header),
            });
        }
        Ok(PendingBlock {
            block: block.clone(),
            receipts: executed.receipts,
            diff: Arc::new(executed.diff),
        })
    }

    /// Senders of a block's transactions: from the pool when we validated them already,
    /// otherwise recovered from the signatures, spread over all cores for large blocks
    /// (recovery is the most expensive part of verifying a block of transfers).
    fn recover_senders(&self, block: &Block) -> Result<Vec<(TxEnvelope, Address)>> {
        let recover = |txs: &[TxEnvelope]| -> Result<Vec<(TxEnvelope, Address)>> {
            txs.iter()
                .map(|tx| {
                    let sender = match self.mempool.get(tx.tx_hash()) {
                        Some(p) => p.sender,
                        None => tx.recover_signer().map_err(|e| Error::InvalidBlock {
                            hash: block.hash(),
                            reason: format!(
                                "transaction {} has a bad signature: {e}",
                                tx.tx_hash()
                            ),
                        })?,
                    };
                    Ok((tx.clone(), sender))
                })
                .collect()
        };
        let txs = block.transactions();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if txs.len() < 256 || threads == 1 {
            return recover(txs);
        }
        let chunk = txs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = txs
                .chunks(chunk)
                .map(|part| scope.spawn(move || recover(part)))
                .collect();
            let mut out = Vec::with_capacity(txs.len());
            for part in parts {
                let recovered = part.join().map_err(|_| Error::InvalidBlock {
                    hash: block.hash(),
                    reason: "sender recovery panicked".into(),
                })??;
                out.extend(recovered);
            }
            Ok(out)
        })
    }

    /// A state view after `parent`, executing any ancestor not yet executed here.
    fn view_on(&self, ancestry: &[Block], parent: &Block) -> Result<StateView> {
        let reader = self.store.reader()?;
        let finalized = reader.finalized_number()?.unwrap_or(0);
        let mut chain: Vec<Block> = ancestry
            .iter()
            .filter(|b| b.number() > finalized)
            .cloned()
            .collect();
        if parent.number() > finalized && chain.last().map(|b| b.hash()) != Some(parent.hash()) {
            chain.push(parent.clone());
        }
        let mut overlays = Vec::with_capacity(chain.len());
        let mut hashes = BTreeMap::new();
        let mut previous: Option<Block> = None;
        for block in chain {
            let known = self.pending.read().get(&block.hash()).cloned();
            let pending = match known {
                Some(p) => p,
                None => {
                    let parent_block = match &previous {
                        Some(p) => p.clone(),
                        None => reader
                            .block(block.number() - 1)?
                            .filter(|p| p.hash() == block.parent_hash())
                            .ok_or(Error::UnknownParent(block.parent_hash()))?,
                    };
                    let view = StateView::new(
                        self.store.reader()?,
                        finalized,
                        overlays.clone(),
                        hashes.clone(),
                    );
                    let p = Arc::new(self.execute_checked(&view, &parent_block, &block)?);
                    self.pending.write().insert(block.hash(), p.clone());
                    p
                }
            };
            overlays.push(pending.diff.clone());
            hashes.insert(block.number(), block.hash());
            previous = Some(block);
        }
        Ok(StateView::new(reader, finalized, overlays, hashes))
    }

    // ---- transaction submission ------------------------------------------------------------

    /// Validate a raw (EIP-2718) transaction from a client, add it to the pool and pass it on
    /// to [`Chain::subscribe_submitted`] (to be relayed to the other validators).
    pub fn submit_raw(&self, raw: &[u8]) -> Result<B256, TxError> {
        let tx = decode_raw(raw)?;
        let hash = self.admit(tx)?;
        let _ = self.submitted.send(Bytes::copy_from_slice(raw));
        Ok(hash)
    }

    /// A transaction another validator relayed: validated and pooled like a client's, but not
    /// relayed again (validators are fully connected, so one hop reaches every leader).
    pub fn accept_relayed(&self, raw: &[u8]) -> Result<B256, TxError> {
        self.admit(decode_raw(raw)?)
    }

    /// Transactions clients submitted to this node, as they are accepted (a slow subscriber
    /// misses some: relaying is best effort, the submitting node still includes them).
    pub fn subscribe_submitted(&self) -> broadcast::Receiver<Bytes> {
        self.submitted.subscribe()
    }

    /// Validate a decoded transaction from a client, add it to the pool and pass it on.
    pub fn submit(&self, tx: TxEnvelope) -> Result<B256, TxError> {
        let raw = tx.encoded_2718();
        let hash = self.admit(tx)?;
        let _ = self.submitted.send(Bytes::from(raw));
        Ok(hash)
    }

    /// Validate a decoded transaction and add it to the pool.
    fn admit(&self, tx: TxEnvelope) -> Result<B256, TxError> {
        if matches!(tx, TxEnvelope::Eip4844(_) | TxEnvelope::Eip7702(_)) {
            return Err(TxError::UnsupportedType);
        }
        match tx.chain_id() {
            None => return Err(TxError::Unprotected),
            Some(id) if id != self.chain_id() => {
                return Err(TxError::InvalidChainId {
                    have: id,
                    want: self.chain_id(),
                });
            }
            Some(_) => {}
        }
        let sender = tx
            .recover_signer()
            .map_err(|e| TxError::InvalidSignature(e.to_string()))?;
        let gas_limit = self.config.genesis.gas_limit;
        if tx.gas_limit() > gas_limit {
            return Err(TxError::GasLimitExceeded);
        }
        let env = execute::tx_env(&tx, sender);
        let intrinsic = calculate_initial_tx_gas_for_tx(&env, SPEC, None);
        let needed = intrinsic.initial_total_gas().max(intrinsic.floor_gas());
        if tx.gas_limit() < needed {
            return Err(TxError::IntrinsicGasTooLow {
                gas: tx.gas_limit(),
                needed,
            });
        }
        if let Some(tip) = tx.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(TxError::TipAboveFeeCap);
        }
        let base_fee = self.config.genesis.base_fee_per_gas;
        if tx.max_fee_per_gas() < u128::from(base_fee) {
            return Err(TxError::FeeCapTooLow {
                address: sender,
                fee_cap: tx.max_fee_per_gas(),
                base_fee,
            });
        }
        let view = self
            .state_at(self.head_number())
            .map_err(|e| TxError::Internal(e.to_string()))?;
        let (balance, nonce) = view
            .balance_nonce(&sender)
            .map_err(|e| TxError::Internal(e.to_string()))?;
        if tx.nonce() < nonce {
            return Err(TxError::NonceTooLow {
                address: sender,
                tx: tx.nonce(),
                state: nonce,
            });
        }
        // gas * price fits (64 + 128 bits); with the value the sum may pass 2^256, which no
        // balance reaches: saturate rather than wrap to a cost anyone can pay.
        let cost = (U256::from(tx.gas_limit()) * U256::from(tx.max_fee_per_gas()))
            .saturating_add(tx.value());
        if balance < cost {
            return Err(TxError::InsufficientFunds {
                address: sender,
                have: balance,
                want: cost,
            });
        }
        self.mempool.insert(tx, sender, nonce)
    }

    // ---- reads ------------------------------------------------------------------------------

    /// State after finalized block `number`.
    pub fn state_at(&self, number: u64) -> Result<StateView> {
        Ok(StateView::new(
            self.store.reader()?,
            number,
            Vec::new(),
            BTreeMap::new(),
        ))
    }

    /// The finalized block at `number`.
    pub fn block_by_number(&self, number: u64) -> Result<Option<Block>> {
        self.store.reader()?.block(number)
    }

    /// The finalized block with `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<Block>> {
        let reader = self.store.reader()?;
        match reader.block_number(hash)? {
            Some(n) => reader.block(n),
            None => Ok(None),
        }
    }

    /// The number of the finalized block with `hash`.
    pub fn block_number_of(&self, hash: &B256) -> Result<Option<u64>> {
        self.store.reader()?.block_number(hash)
    }

    /// Receipts of finalized block `number`.
    pub fn receipts(&self, number: u64) -> Result<Option<Vec<Receipt>>> {
        self.store.reader()?.receipts(number)
    }

    /// The finalization certificate stored with block `number`.
    pub fn certificate(&self, number: u64) -> Result<Option<Vec<u8>>> {
        self.store.reader()?.certificate(number)
    }

    /// A finalized transaction with its block and index.
    pub fn transaction(&self, hash: &B256) -> Result<Option<(TxEnvelope, Block, u64)>> {
        let reader = self.store.reader()?;
        let Some((number, index)) = reader.tx_location(hash)? else {
            return Ok(None);
        };
        let Some(block) = reader.block(number)? else {
            return Ok(None);
        };
        let tx = block.transactions().get(index as usize).cloned();
        Ok(tx.map(|tx| (tx, block, u64::from(index))))
    }

    /// The receipt of a finalized transaction, with its block.
    pub fn receipt(&self, hash: &B256) -> Result<Option<(Receipt, Block)>> {
        let reader = self.store.reader()?;
        let Some((number, index)) = reader.tx_location(hash)? else {
            return Ok(None);
        };
        // A block is committed to the store a moment before it becomes the head: until then
        // its receipts are not shown, so whoever sees a receipt also sees its block's state at
        // the head (a caller checking a permission right after its transaction would otherwise
        // find the state before it).
        if number > self.head_number() {
            return Ok(None);
        }
        let (Some(block), Some(receipts)) = (reader.block(number)?, reader.receipts(number)?)
        else {
            return Ok(None);
        };
        Ok(receipts.into_iter().nth(index as usize).map(|r| (r, block)))
    }

    /// Balance, nonce and code of `address` after block `number`.
    pub fn account(&self, address: &Address, number: u64) -> Result<(U256, u64, Bytes)> {
        let view = self.state_at(number)?;
        let Some(AccountState {
            balance,
            nonce,
            code_hash,
        }) = view.account(address).map_err(|e| Error::Db(e.0))?
        else {
            return Ok((U256::ZERO, 0, Bytes::new()));
        };
        let code = if code_hash == KECCAK_EMPTY {
            Bytes::new()
        } else {
            view.reader().code(&code_hash)?.unwrap_or_default()
        };
        Ok((balance, nonce, code))
    }

    /// A storage slot of `address` after block `number`.
    pub fn storage(&self, address: &Address, slot: U256, number: u64) -> Result<U256> {
        self.store.reader()?.storage(address, &slot, number)
    }

    /// Execute a call against the state after block `number` without changing anything.
    pub fn call(&self, request: &TransactionRequest, number: u64) -> Result<Bytes, CallError> {
        let result = self.simulate(request, number, None)?;
        match result {
            ExecutionResult::Success { output, .. } => Ok(match output {
                Output::Call(bytes) => bytes,
                Output::Create(bytes, _) => bytes,
            }),
            ExecutionResult::Revert { output, .. } => Err(reverted(output)),
            ExecutionResult::Halt { reason, .. } => Err(CallError::Halted(format!("{reason:?}"))),
        }
    }

    /// The least gas limit with which `request` succeeds against block `number`.
    pub fn estimate_gas(
        &self,
        request: &TransactionRequest,
        number: u64,
    ) -> Result<u64, CallError> {
        let cap = request
            .gas
            .unwrap_or(self.config.genesis.gas_limit)
            .min(self.config.genesis.gas_limit);
        let result = self.simulate(request, number, Some(cap))?;
        let used = match result {
            ExecutionResult::Success { .. } => result.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => return Err(reverted(output)),
            ExecutionResult::Halt { reason, .. } => {
                return Err(CallError::Halted(format!(
                    "gas required exceeds allowance ({cap}): {reason:?}"
                )));
            }
        };
        // Gas used is a lower bound (refunds and the 63/64 rule can require more): it usually
        // suffices; otherwise search between it and the cap for the least limit that succeeds.
        if self.succeeds(request, number, used)? {
            return Ok(used);
        }
        let mut lo = used;
        let mut hi = cap;
        let optimistic = (used + 2_300) * 64 / 63;
        if optimistic < hi && self.succeeds(request, number, optimistic)? {
            hi = optimistic;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.succeeds(request, number, mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    fn succeeds(
        &self,
        request: &TransactionRequest,
        number: u64,
        gas: u64,
    ) -> Result<bool, CallError> {
        match self.simulate(request, number, Some(gas)) {
            Ok(result) => Ok(result.is_success()),
            Err(CallError::Invalid(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn simulate(
        &self,
        request: &TransactionRequest,
        number: u64,
        gas: Option<u64>,
    ) -> Result<ExecutionResult, CallError> {
        let Some(block) = self.block_by_number(number)? else {
            return Err(CallError::UnknownBlock);
        };
        let view = self.state_at(number)?;
        let priced = request.gas_price.is_some() || request.max_fee_per_gas.is_some();
        let mut inputs = self.inputs(
            &block,
            block.header().timestamp,
            block.header().beneficiary,
            Bytes::new(),
        );
        inputs.number = block.number();
        inputs.timestamp = block.header().timestamp;
        if !priced {
            // As geth: an unpriced call pays nothing, so no base fee applies.
            inputs.base_fee = 0;
        }
        let caller = request.from.unwrap_or_default();
        let (_, nonce) = view
            .balance_nonce(&caller)
            .map_err(|e| CallError::Internal(e.0))?;
        let gas_price = request.max_fee_per_gas.or(request.gas_price).unwrap_or(0);
        let env = TxEnv {
            tx_type: match (request.max_fee_per_gas, &request.access_list) {
                (Some(_), _) => 2,
                (None, Some(_)) => 1,
                (None, None) => 0,
            },
            caller,
            gas_limit: gas
                .or(request.gas)
                .unwrap_or(inputs.gas_limit)
                .min(inputs.gas_limit),
            gas_price,
            kind: request.to.unwrap_or(alloy::primitives::TxKind::Create),
            value: request.value.unwrap_or_default(),
            data: request.input.input().cloned().unwrap_or_default(),
            nonce: request.nonce.unwrap_or(nonce),
            chain_id: Some(self.chain_id()),
            access_list: request.access_list.clone().unwrap_or_default(),
            gas_priority_fee: request
                .max_priority_fee_per_gas
                .or(request.max_fee_per_gas.map(|_| 0)),
            ..Default::default()
        };
        let mut evm = execute::evm_context(&view, self.chain_id())
            .modify_cfg_chained(|cfg| cfg.disable_nonce_check = true)
            .with_block(execute::block_env(&inputs))
            .build_mainnet();
        match evm.transact(env) {
            Ok(r) => Ok(r.result),
            Err(EVMError::Transaction(invalid)) => {
                Err(CallError::Invalid(execute::describe_invalid(&invalid)))
            }
            Err(e) => Err(CallError::Internal(e.to_string())),
        }
    }
}

fn reverted(output: Bytes) -> CallError {
    // Error(string) selector 0x08c379a0, then an ABI-encoded string.
    let reason = (output.len() >= 68 && output[..4] == [0x08, 0xc3, 0x79, 0xa0])
        .then(|| {
            let len = U256::from_be_slice(&output[36..68]).saturating_to::<usize>();
            output
                .get(68..68 + len)
                .map(|s| String::from_utf8_lossy(s).into_owned())
        })
        .flatten();
    CallError::Reverted {
        data: output,
        reason,
    }
}

fn header_mismatch(expected: &Header, got: &Header) -> String {
    let mut fields = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => {$(
            if expected.$f != got.$f {
                fields.push(format!("{}: block has {:?}, re-execution gives {:?}", stringify!($f), expected.$f, got.$f));
            }
        )*};
    }
    cmp!(
        state_root,
        transactions_root,
        receipts_root,
        logs_bloom,
        gas_used,
        gas_limit,
        base_fee_per_gas,
        beneficiary,
        timestamp,
        extra_data,
        mix_hash,
        nonce,
        difficulty,
        ommers_hash,
        withdrawals_root,
        blob_gas_used,
        excess_blob_gas,
        parent_beacon_block_root,
        requests_hash
    );
    if fields.is_empty() {
        "header differs".into()
    } else {
        fields.join("; ")
    }
}

/// The genesis block and the state it creates.
fn genesis_block(genesis: &Genesis) -> (Block, StateDiff) {
    let mut diff = StateDiff::default();
    for (address, account) in &genesis.alloc {
        let code_hash = match &account.code {
            Some(code) if !code.is_empty() => {
                let hash = keccak256(code);
                diff.code.insert(hash, code.clone());
                hash
            }
            _ => KECCAK_EMPTY,
        };
        diff.accounts.insert(
            *address,
            Some(AccountState {
                balance: account.balance,
                nonce: account.nonce,
                code_hash,
            }),
        );
        for (slot, value) in &account.storage {
            diff.storage.insert(
                (*address, U256::from_be_bytes(slot.0)),
                U256::from_be_bytes(value.0),
            );
        }
    }
    let header = Header {
        number: 0,
        timestamp: genesis.timestamp,
        gas_limit: genesis.gas_limit,
        base_fee_per_gas: Some(genesis.base_fee_per_gas),
        state_root: diff.commitment(B256::ZERO),
        extra_data: Bytes::copy_from_slice(genesis.digest().as_slice()),
        ommers_hash: alloy::consensus::constants::EMPTY_OMMER_ROOT_HASH,
        transactions_root: alloy::consensus::constants::EMPTY_ROOT_HASH,
        receipts_root: alloy::consensus::constants::EMPTY_ROOT_HASH,
        ..Default::default()
    };
    (Block::new(header, Vec::new()), diff)
}

#[cfg(test)]
mod tests;
