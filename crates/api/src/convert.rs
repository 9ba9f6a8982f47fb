//! Ethereum JSON shapes of blocks, transactions, receipts and logs.
//!
//! Blocks, headers and receipts are built by hand so every field matches geth exactly;
//! transactions and logs use alloy's RPC types, whose serialisation already does.

use alloy::consensus::transaction::{Recovered, SignerRecoverable};
use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::primitives::Address;
use alloy::rpc::types::{Log, Transaction};
use lightstreams_chain::Receipt;
use lightstreams_chain::mempool::PoolTx;
use lightstreams_primitives::Block;
use serde_json::{Map, Value, json};

/// A `u64` as a JSON-RPC quantity.
pub(crate) fn quantity(n: u64) -> Value {
    Value::String(format!("{n:#x}"))
}

/// A `u128` as a JSON-RPC quantity.
pub(crate) fn quantity128(n: u128) -> Value {
    Value::String(format!("{n:#x}"))
}

/// The header fields of a block, as in a `newHeads` notification.
pub(crate) fn header_json(block: &Block) -> Map<String, Value> {
    let h = block.header();
    let mut m = Map::new();
    m.insert("hash".into(), json!(block.hash()));
    m.insert("parentHash".into(), json!(h.parent_hash));
    m.insert("sha3Uncles".into(), json!(h.ommers_hash));
    m.insert("miner".into(), json!(h.beneficiary));
    m.insert("stateRoot".into(), json!(h.state_root));
    m.insert("transactionsRoot".into(), json!(h.transactions_root));
    m.insert("receiptsRoot".into(), json!(h.receipts_root));
    m.insert("logsBloom".into(), json!(h.logs_bloom));
    m.insert("difficulty".into(), json!(h.difficulty));
    m.insert("number".into(), quantity(h.number));
    m.insert("gasLimit".into(), quantity(h.gas_limit));
    m.insert("gasUsed".into(), quantity(h.gas_used));
    m.insert("timestamp".into(), quantity(h.timestamp));
    m.insert("extraData".into(), json!(h.extra_data));
    m.insert("mixHash".into(), json!(h.mix_hash));
    m.insert("nonce".into(), json!(h.nonce));
    if let Some(base_fee) = h.base_fee_per_gas {
        m.insert("baseFeePerGas".into(), quantity(base_fee));
    }
    if let Some(root) = h.withdrawals_root {
        m.insert("withdrawalsRoot".into(), json!(root));
    }
    if let Some(gas) = h.blob_gas_used {
        m.insert("blobGasUsed".into(), quantity(gas));
    }
    if let Some(gas) = h.excess_blob_gas {
        m.insert("excessBlobGas".into(), quantity(gas));
    }
    if let Some(root) = h.parent_beacon_block_root {
        m.insert("parentBeaconBlockRoot".into(), json!(root));
    }
    if let Some(hash) = h.requests_hash {
        m.insert("requestsHash".into(), json!(hash));
    }
    m
}

/// A block as `eth_getBlockBy*` returns it; `receipts` supply senders for full transactions.
pub(crate) fn block_json(block: &Block, full: bool, receipts: Option<&[Receipt]>) -> Value {
    let mut m = header_json(block);
    m.insert("totalDifficulty".into(), quantity(0));
    m.insert("size".into(), quantity(block.encoded_len() as u64));
    m.insert("uncles".into(), Value::Array(Vec::new()));
    let txs = block
        .transactions()
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            if full {
                let sender = receipts
                    .and_then(|r| r.get(i))
                    .filter(|r| r.tx_hash == *tx.tx_hash())
                    .map(|r| r.from);
                mined_tx_json(tx, sender, block, i as u64)
            } else {
                json!(tx.tx_hash())
            }
        })
        .collect();
    m.insert("transactions".into(), Value::Array(txs));
    if block.header().withdrawals_root.is_some() {
        m.insert("withdrawals".into(), Value::Array(Vec::new()));
    }
    Value::Object(m)
}

fn sender_of(tx: &TxEnvelope, known: Option<Address>) -> Address {
    known.unwrap_or_else(|| tx.recover_signer().unwrap_or_default())
}

/// A finalized transaction.
pub(crate) fn mined_tx_json(
    tx: &TxEnvelope,
    sender: Option<Address>,
    block: &Block,
    index: u64,
) -> Value {
    let base_fee = block.header().base_fee_per_gas;
    let rpc = Transaction {
        inner: Recovered::new_unchecked(tx.clone(), sender_of(tx, sender)),
        block_hash: Some(block.hash()),
        block_number: Some(block.number()),
        transaction_index: Some(index),
        effective_gas_price: Some(tx.effective_gas_price(base_fee)),
        block_timestamp: None,
    };
    serde_json::to_value(rpc).unwrap_or(Value::Null)
}

/// A transaction still in the pool: block fields are `null`, `gasPrice` is the fee cap.
pub(crate) fn pending_tx_json(pooled: &PoolTx) -> Value {
    let rpc = Transaction {
        inner: Recovered::new_unchecked(pooled.tx.clone(), pooled.sender),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: Some(pooled.tx.max_fee_per_gas()),
        block_timestamp: None,
    };
    serde_json::to_value(rpc).unwrap_or(Value::Null)
}

/// The logs of one receipt as RPC logs; `first_index` is the block-wide index of its first.
pub(crate) fn receipt_logs(receipt: &Receipt, block: &Block, first_index: u64) -> Vec<Log> {
    receipt
        .logs
        .iter()
        .enumerate()
        .map(|(i, log)| rpc_log(log, receipt, block, first_index + i as u64))
        .collect()
}

/// One log with its position.
pub(crate) fn rpc_log(
    log: &alloy::primitives::Log,
    receipt: &Receipt,
    block: &Block,
    log_index: u64,
) -> Log {
    Log {
        inner: log.clone(),
        block_hash: Some(block.hash()),
        block_number: Some(block.number()),
        block_timestamp: Some(block.header().timestamp),
        transaction_hash: Some(receipt.tx_hash),
        transaction_index: Some(receipt.tx_index),
        log_index: Some(log_index),
        removed: false,
    }
}

/// Block-wide index of the first log of receipt `index`.
pub(crate) fn first_log_index(receipts: &[Receipt], index: usize) -> u64 {
    receipts
        .iter()
        .take(index)
        .map(|r| r.logs.len() as u64)
        .sum()
}

/// A receipt as `eth_getTransactionReceipt` returns it.
pub(crate) fn receipt_json(receipt: &Receipt, block: &Block, first_index: u64) -> Value {
    json!({
        "transactionHash": receipt.tx_hash,
        "transactionIndex": quantity(receipt.tx_index),
        "blockHash": block.hash(),
        "blockNumber": quantity(block.number()),
        "from": receipt.from,
        "to": receipt.to,
        "cumulativeGasUsed": quantity(receipt.cumulative_gas_used),
        "gasUsed": quantity(receipt.gas_used),
        "contractAddress": receipt.contract_address,
        "logs": receipt_logs(receipt, block, first_index),
        "logsBloom": receipt.logs_bloom,
        "type": quantity(u64::from(receipt.tx_type)),
        "status": quantity(u64::from(receipt.success)),
        "effectiveGasPrice": quantity128(receipt.effective_gas_price),
    })
}
