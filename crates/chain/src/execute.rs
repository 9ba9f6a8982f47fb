//! Block execution with revm: transactions in, receipts, state diff and header out.

use alloy::consensus::{
    Eip658Value, Header, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope,
    constants::EMPTY_OMMER_ROOT_HASH, proofs,
};
use alloy::primitives::{Address, B256, Bytes, U256, logs_bloom};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::context_interface::result::{EVMError, ExecutionResult, InvalidTransaction, Output};
use revm::database_interface::WrapDatabaseRef;
use revm::primitives::hardfork::SpecId;
use revm::state::EvmState;
use revm::{Context, ExecuteEvm, Journal, MainBuilder};

use crate::state::{StateError, StateView};
use crate::types::{AccountState, Receipt, StateDiff};

/// The EVM rules Lightstreams runs (Prague: PUSH0, MCOPY, transient storage, ...).
pub const SPEC: SpecId = SpecId::PRAGUE;

/// The block-level inputs of execution.
#[derive(Clone, Debug)]
pub struct BlockInputs {
    /// Chain id.
    pub chain_id: u64,
    /// Parent block hash.
    pub parent_hash: B256,
    /// Parent's state root.
    pub parent_state_root: B256,
    /// Height of the block.
    pub number: u64,
    /// Timestamp in seconds.
    pub timestamp: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee per gas.
    pub base_fee: u64,
    /// Opaque consensus data for the header's `extra_data`.
    pub extra_data: Bytes,
}

/// Whether invalid transactions are skipped (building) or make the block invalid (verifying).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Proposer: drop transactions that cannot execute and keep going.
    Build,
    /// Validator: any transaction that cannot execute invalidates the block.
    Verify,
}

/// Everything a block's execution produced.
#[derive(Clone, Debug)]
pub struct Executed {
    /// The header, with roots, bloom and gas filled in.
    pub header: Header,
    /// The transactions that were included, in order.
    pub transactions: Vec<TxEnvelope>,
    /// Their senders.
    pub senders: Vec<Address>,
    /// One receipt per included transaction.
    pub receipts: Vec<Receipt>,
    /// The state the block changed.
    pub diff: StateDiff,
    /// Transactions rejected while building, with the reason (never set in [`Mode::Verify`]).
    pub rejected: Vec<(B256, String)>,
}

/// revm's context over a [`StateView`].
pub type EvmContext<'a> = Context<
    BlockEnv,
    TxEnv,
    CfgEnv,
    WrapDatabaseRef<&'a StateView>,
    Journal<WrapDatabaseRef<&'a StateView>>,
    (),
>;

/// A fresh EVM context on `view` with our spec and chain id.
pub fn evm_context(view: &StateView, chain_id: u64) -> EvmContext<'_> {
    EvmContext::new(WrapDatabaseRef(view), SPEC).modify_cfg_chained(|cfg| cfg.chain_id = chain_id)
}

/// Translate a signed transaction into revm's transaction environment.
pub fn tx_env(tx: &TxEnvelope, caller: Address) -> TxEnv {
    TxEnv {
        tx_type: tx.tx_type() as u8,
        caller,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        ..Default::default()
    }
}

/// The revm block environment for `inputs`.
pub fn block_env(inputs: &BlockInputs) -> BlockEnv {
    BlockEnv {
        number: U256::from(inputs.number),
        beneficiary: inputs.beneficiary,
        timestamp: U256::from(inputs.timestamp),
        gas_limit: inputs.gas_limit,
        basefee: inputs.base_fee,
        difficulty: U256::ZERO,
        prevrandao: Some(B256::ZERO),
        blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new_with_spec(0, SPEC)),
        ..Default::default()
    }
}

/// Price per gas a transaction pays under `base_fee`.
pub fn effective_gas_price(tx: &TxEnvelope, base_fee: u64) -> u128 {
    tx.effective_gas_price(Some(base_fee))
}

/// Execute `txs` (with their recovered senders) on `view` and assemble the block header.
pub fn execute(
    view: &StateView,
    inputs: &BlockInputs,
    txs: Vec<(TxEnvelope, Address)>,
    mode: Mode,
) -> Result<Executed, ExecuteError> {
    let mut evm = evm_context(view, inputs.chain_id)
        .with_block(block_env(inputs))
        .build_mainnet();

    let mut included = Vec::with_capacity(txs.len());
    let mut senders = Vec::with_capacity(txs.len());
    let mut receipts: Vec<Receipt> = Vec::with_capacity(txs.len());
    let mut rejected = Vec::new();
    let mut cumulative = 0u64;

    for (tx, sender) in txs {
        let hash = *tx.tx_hash();
        if tx.gas_limit() > inputs.gas_limit - cumulative {
            match mode {
                Mode::Build => {
                    // No room in this block; the transaction stays in the pool for the next.
                    continue;
                }
                Mode::Verify => {
                    return Err(ExecuteError::Invalid {
                        tx: hash,
                        reason: "block gas limit exceeded".into(),
                    });
                }
            }
        }
        match evm.transact_one(tx_env(&tx, sender)) {
            Ok(result) => {
                let gas_used = result.tx_gas_used();
                cumulative += gas_used;
                receipts.push(receipt(
                    &tx,
                    sender,
                    receipts.len() as u64,
                    result,
                    gas_used,
                    cumulative,
                    inputs.base_fee,
                ));
                included.push(tx);
                senders.push(sender);
            }
            Err(EVMError::Transaction(invalid)) => match mode {
                Mode::Build => rejected.push((hash, describe_invalid(&invalid))),
                Mode::Verify => {
                    return Err(ExecuteError::Invalid {
                        tx: hash,
                        reason: describe_invalid(&invalid),
                    });
                }
            },
            Err(EVMError::Database(e)) => return Err(ExecuteError::State(e)),
            Err(other) => return Err(ExecuteError::Evm(other.to_string())),
        }
    }
    let state = evm.finalize();
    let diff = state_diff(state);

    let envelopes: Vec<ReceiptEnvelope> = included
        .iter()
        .zip(&receipts)
        .map(|(tx, r)| receipt_envelope(tx, r))
        .collect();
    let bloom = logs_bloom(receipts.iter().flat_map(|r| r.logs.iter()));
    let header = Header {
        parent_hash: inputs.parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: inputs.beneficiary,
        state_root: diff.commitment(inputs.parent_state_root),
        transactions_root: proofs::calculate_transaction_root(&included),
        receipts_root: proofs::calculate_receipt_root(&envelopes),
        logs_bloom: bloom,
        difficulty: U256::ZERO,
        number: inputs.number,
        gas_limit: inputs.gas_limit,
        gas_used: cumulative,
        timestamp: inputs.timestamp,
        extra_data: inputs.extra_data.clone(),
        base_fee_per_gas: Some(inputs.base_fee),
        ..Default::default()
    };
    Ok(Executed {
        header,
        transactions: included,
        senders,
        receipts,
        diff,
        rejected,
    })
}

/// Why a block could not be executed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// A transaction in a block being verified cannot execute.
    #[error("transaction {tx} is invalid: {reason}")]
    Invalid {
        /// The transaction.
        tx: B256,
        /// Why.
        reason: String,
    },
    /// State could not be read.
    #[error(transparent)]
    State(#[from] StateError),
    /// revm failed.
    #[error("evm: {0}")]
    Evm(String),
}

/// geth's wording for a transaction revm refuses to execute.
pub fn describe_invalid(invalid: &InvalidTransaction) -> String {
    match invalid {
        InvalidTransaction::NonceTooLow { tx, state } => {
            format!("nonce too low: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::NonceTooHigh { tx, state } => {
            format!("nonce too high: next nonce {state}, tx nonce {tx}")
        }
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => {
            format!("insufficient funds for gas * price + value: have {balance} want {fee}")
        }
        InvalidTransaction::InvalidChainId | InvalidTransaction::MissingChainId => {
            "invalid chain id for signer".into()
        }
        InvalidTransaction::CallGasCostMoreThanGasLimit { .. } => "intrinsic gas too low".into(),
        InvalidTransaction::GasPriceLessThanBasefee => {
            "max fee per gas less than block base fee".into()
        }
        InvalidTransaction::CallerGasLimitMoreThanBlock => "exceeds block gas limit".into(),
        InvalidTransaction::RejectCallerWithCode => "sender not an eoa".into(),
        other => other.to_string(),
    }
}

fn receipt(
    tx: &TxEnvelope,
    from: Address,
    index: u64,
    result: ExecutionResult,
    gas_used: u64,
    cumulative: u64,
    base_fee: u64,
) -> Receipt {
    let (success, logs, contract_address, failure) = match result {
        ExecutionResult::Success { logs, output, .. } => {
            let created = match output {
                Output::Create(_, address) => address,
                Output::Call(_) => None,
            };
            (true, logs, created, None)
        }
        ExecutionResult::Revert { output, .. } => (
            false,
            vec![],
            None,
            Some(format!("execution reverted: 0x{}", hex(&output))),
        ),
        ExecutionResult::Halt { reason, .. } => (false, vec![], None, Some(format!("{reason:?}"))),
    };
    Receipt {
        tx_hash: *tx.tx_hash(),
        tx_index: index,
        tx_type: tx.tx_type() as u8,
        from,
        to: tx.to(),
        contract_address,
        gas_used,
        cumulative_gas_used: cumulative,
        effective_gas_price: effective_gas_price(tx, base_fee),
        success,
        logs_bloom: logs_bloom(logs.iter()),
        logs,
        failure,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The EIP-2718 receipt committed to by `receipts_root`.
pub fn receipt_envelope(tx: &TxEnvelope, r: &Receipt) -> ReceiptEnvelope {
    let inner = alloy::consensus::Receipt {
        status: Eip658Value::Eip658(r.success),
        cumulative_gas_used: r.cumulative_gas_used,
        logs: r.logs.clone(),
    };
    let with_bloom = ReceiptWithBloom::new(inner, r.logs_bloom);
    match tx {
        TxEnvelope::Legacy(_) => ReceiptEnvelope::Legacy(with_bloom),
        TxEnvelope::Eip2930(_) => ReceiptEnvelope::Eip2930(with_bloom),
        TxEnvelope::Eip1559(_) => ReceiptEnvelope::Eip1559(with_bloom),
        TxEnvelope::Eip4844(_) => ReceiptEnvelope::Eip4844(with_bloom),
        TxEnvelope::Eip7702(_) => ReceiptEnvelope::Eip7702(with_bloom),
    }
}

/// Turn revm's post-execution state into an absolute diff.
///
/// Touched accounts left empty are removed (EIP-161); self-destructed accounts (only
/// possible for accounts created in the same transaction since EIP-6780) lose their storage.
pub fn state_diff(state: EvmState) -> StateDiff {
    let mut diff = StateDiff::default();
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        if account.is_selfdestructed() || account.is_empty() {
            for slot in account.storage.keys() {
                diff.storage.insert((address, *slot), U256::ZERO);
            }
            diff.accounts.insert(address, None);
            continue;
        }
        if let Some(code) = &account.info.code
            && account.is_created()
            && !code.is_empty()
        {
            diff.code
                .insert(account.info.code_hash, code.original_bytes());
        }
        for (slot, value) in account.changed_storage_slots() {
            diff.storage.insert((address, *slot), value.present_value());
        }
        diff.accounts.insert(
            address,
            Some(AccountState {
                balance: account.info.balance,
                nonce: account.info.nonce,
                code_hash: account.info.code_hash,
            }),
        );
    }
    diff
}
