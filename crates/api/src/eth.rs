//! The methods: `web3_*`, `net_*`, `eth_*` and `lightstreams_*`.

use std::sync::Arc;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy::rpc::types::{Filter, TransactionRequest};
use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use lightstreams_chain::Chain;
use lightstreams_primitives::Block;
use lightstreams_primitives::constants::{CLIENT_NAME, GWEI};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::convert::{
    block_json, first_log_index, mined_tx_json, pending_tx_json, quantity, quantity128,
    receipt_json,
};
use crate::error::{RpcError, RpcResult};
use crate::filters::{self, Filters, tag_number};

/// The priority fee the node suggests: 1 gwei, as geth's default.
pub(crate) const SUGGESTED_TIP: u128 = GWEI;
/// Most blocks one `eth_feeHistory` covers.
const MAX_FEE_HISTORY: u64 = 1024;

/// What every method reads.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) chain: Arc<Chain>,
    pub(crate) filters: Filters,
}

type Out = Result<Value, ErrorObjectOwned>;

// ---- parameters -------------------------------------------------------------------------

/// The positional parameters; absent or `null` params are an empty list.
pub(crate) fn args(params: &Params<'_>) -> RpcResult<Vec<Value>> {
    if params.as_str().is_none() {
        return Ok(Vec::new());
    }
    match params.parse::<Value>() {
        Ok(Value::Array(values)) => Ok(values),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(_) => Err(RpcError::InvalidParams(
            "non-array args (positional parameters are required)".into(),
        )),
        Err(e) => Err(RpcError::InvalidParams(e.message().to_string())),
    }
}

/// Optional argument `i`: missing or `null` is `None`.
pub(crate) fn opt<T: DeserializeOwned>(args: &[Value], i: usize) -> RpcResult<Option<T>> {
    match args.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::deserialize(v)
            .map(Some)
            .map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}"))),
    }
}

/// Required argument `i`.
fn req<T: DeserializeOwned>(args: &[Value], i: usize) -> RpcResult<T> {
    opt(args, i)?
        .ok_or_else(|| RpcError::InvalidParams(format!("missing value for required argument {i}")))
}

/// A quantity given as a hex string or a JSON number (geth accepts both for counts).
fn count(args: &[Value], i: usize) -> RpcResult<u64> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| RpcError::InvalidParams(format!("invalid argument {i}: not a count"))),
        _ => Ok(req::<U64>(args, i)?.to()),
    }
}

// ---- blocks -----------------------------------------------------------------------------

/// The finalized block number `id` names, or `None` when there is no such block.
fn resolve(chain: &Chain, id: Option<BlockId>) -> RpcResult<Option<u64>> {
    let number = match id {
        None => chain.head_number(),
        Some(BlockId::Hash(hash)) => match chain.block_number_of(&hash.block_hash)? {
            Some(n) => n,
            None => return Ok(None),
        },
        Some(BlockId::Number(tag)) => tag_number(chain, tag),
    };
    Ok((number <= chain.head_number()).then_some(number))
}

/// The block number a state query runs against; unknown blocks are "header not found".
fn state_block(chain: &Chain, args: &[Value], i: usize) -> RpcResult<u64> {
    resolve(chain, opt(args, i)?)?.ok_or(RpcError::HeaderNotFound)
}

fn block_by_tag(chain: &Chain, tag: BlockNumberOrTag) -> RpcResult<Option<Block>> {
    let number = tag_number(chain, tag);
    if number > chain.head_number() {
        return Ok(None);
    }
    Ok(chain.block_by_number(number)?)
}

fn block_out(chain: &Chain, block: Option<Block>, full: bool) -> RpcResult<Value> {
    let Some(block) = block else {
        return Ok(Value::Null);
    };
    let receipts = if full {
        chain.receipts(block.number())?
    } else {
        None
    };
    Ok(block_json(&block, full, receipts.as_deref()))
}

fn tx_at(chain: &Chain, block: Option<Block>, index: U64) -> RpcResult<Value> {
    let Some(block) = block else {
        return Ok(Value::Null);
    };
    let index: u64 = index.to();
    let Some(tx) = block.transactions().get(index as usize) else {
        return Ok(Value::Null);
    };
    let sender = chain
        .receipts(block.number())?
        .and_then(|r| r.get(index as usize).map(|r| r.from));
    Ok(mined_tx_json(tx, sender, &block, index))
}

// ---- methods ----------------------------------------------------------------------------

fn client_version() -> String {
    format!("{CLIENT_NAME}/v{}", env!("CARGO_PKG_VERSION"))
}

fn get_transaction(chain: &Chain, hash: B256) -> RpcResult<Value> {
    if let Some((tx, block, index)) = chain.transaction(&hash)? {
        let sender = chain.receipt(&hash)?.map(|(r, _)| r.from);
        return Ok(mined_tx_json(&tx, sender, &block, index));
    }
    Ok(chain
        .mempool()
        .get(&hash)
        .map_or(Value::Null, |p| pending_tx_json(&p)))
}

fn get_receipt(chain: &Chain, hash: B256) -> RpcResult<Value> {
    let Some((receipt, block)) = chain.receipt(&hash)? else {
        return Ok(Value::Null);
    };
    let receipts = chain.receipts(block.number())?.unwrap_or_default();
    let first = first_log_index(&receipts, receipt.tx_index as usize);
    Ok(receipt_json(&receipt, &block, first))
}

fn block_receipts(chain: &Chain, block: Option<Block>) -> RpcResult<Value> {
    let Some(block) = block else {
        return Ok(Value::Null);
    };
    let receipts = chain.receipts(block.number())?.unwrap_or_default();
    let mut first = 0;
    let mut out = Vec::with_capacity(receipts.len());
    for receipt in &receipts {
        out.push(receipt_json(receipt, &block, first));
        first += receipt.logs.len() as u64;
    }
    Ok(Value::Array(out))
}

fn fee_history(chain: &Chain, args: &[Value]) -> RpcResult<Value> {
    let requested = count(args, 0)?.min(MAX_FEE_HISTORY);
    let newest = match opt::<BlockNumberOrTag>(args, 1)? {
        Some(tag) => tag_number(chain, tag),
        None => chain.head_number(),
    };
    let percentiles: Option<Vec<f64>> = opt(args, 2)?;
    if let Some(p) = &percentiles
        && (p.len() > 100 || p.iter().any(|x| !(0.0..=100.0).contains(x)) || !p.is_sorted())
    {
        return Err(RpcError::InvalidParams("invalid reward percentiles".into()));
    }
    let head = chain.head_number();
    if newest > head {
        return Err(RpcError::Server(format!(
            "request beyond head block: requested {newest}, head {head}"
        )));
    }
    let base_fee = u128::from(chain.genesis().base_fee_per_gas);
    if requested == 0 {
        return Ok(json!({ "oldestBlock": quantity(0), "baseFeePerGas": [], "gasUsedRatio": [] }));
    }
    let oldest = (newest + 1).saturating_sub(requested);
    let mut ratios = Vec::new();
    let mut base_fees = Vec::new();
    for n in oldest..=newest {
        let Some(block) = chain.block_by_number(n)? else {
            return Err(RpcError::HeaderNotFound);
        };
        let h = block.header();
        let ratio = if h.gas_limit == 0 {
            0.0
        } else {
            h.gas_used as f64 / h.gas_limit as f64
        };
        ratios.push(json!(ratio));
        base_fees.push(quantity128(h.base_fee_per_gas.map_or(base_fee, u128::from)));
    }
    base_fees.push(quantity128(base_fee));
    let blocks = ratios.len();
    let mut out = json!({
        "oldestBlock": quantity(oldest),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
    });
    if let Some(p) = percentiles {
        let row: Vec<Value> = p.iter().map(|_| quantity128(SUGGESTED_TIP)).collect();
        out["reward"] = Value::Array(vec![Value::Array(row); blocks]);
    }
    Ok(out)
}

fn call_request(args: &[Value]) -> RpcResult<TransactionRequest> {
    let request: TransactionRequest = req(args, 0)?;
    if let (Some(input), Some(data)) = (&request.input.input, &request.input.data)
        && input != data
    {
        return Err(RpcError::InvalidParams(
            "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction call data".into(),
        ));
    }
    Ok(request)
}

/// Register every method (subscriptions excluded) on a module around `ctx`.
pub(crate) fn module(
    ctx: Arc<Ctx>,
) -> Result<RpcModule<Ctx>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(ctx);

    // Shared body of `method!` and `blocking!`: decode the params and hand the body the
    // arguments, the chain and the context.
    macro_rules! register {
        ($register:ident, $name:literal, |$args:ident, $chain:ident, $ctx:ident| $body:expr) => {
            m.$register($name, |params, ctx, _| -> Out {
                let run = || -> RpcResult<Value> {
                    #[allow(unused_variables)]
                    let $args = args(&params)?;
                    #[allow(unused_variables)]
                    let $chain: &Chain = &ctx.chain;
                    #[allow(unused_variables)]
                    let $ctx: &Ctx = std::ops::Deref::deref(&ctx);
                    $body
                };
                run().map_err(Into::into)
            })?;
        };
    }
    macro_rules! method {
        ($($rest:tt)*) => { register!(register_method, $($rest)*) };
    }
    // For methods that execute code or scan many blocks: run on a blocking thread.
    macro_rules! blocking {
        ($($rest:tt)*) => { register!(register_blocking_method, $($rest)*) };
    }

    // web3 / net
    method!("web3_clientVersion", |a, c, x| Ok(json!(client_version())));
    method!("web3_sha3", |a, c, x| Ok(json!(keccak256(req::<Bytes>(
        &a, 0
    )?))));
    method!("net_version", |a, c, x| Ok(json!(c.chain_id().to_string())));
    method!("net_listening", |a, c, x| Ok(json!(true)));
    method!("net_peerCount", |a, c, x| Ok(quantity(0)));

    // chain
    method!("eth_chainId", |a, c, x| Ok(quantity(c.chain_id())));
    method!("eth_syncing", |a, c, x| Ok(json!(false)));
    method!("eth_blockNumber", |a, c, x| Ok(quantity(c.head_number())));
    method!("eth_mining", |a, c, x| Ok(json!(false)));
    method!("eth_hashrate", |a, c, x| Ok(quantity(0)));
    method!("eth_coinbase", |a, c, x| Ok(json!(Address::ZERO)));
    method!("eth_accounts", |a, c, x| Ok(json!([])));
    method!("eth_protocolVersion", |a, c, x| Ok(quantity(0x44)));

    // fees
    method!("eth_gasPrice", |a, c, x| Ok(quantity128(
        u128::from(c.genesis().base_fee_per_gas) + SUGGESTED_TIP
    )));
    method!("eth_maxPriorityFeePerGas", |a, c, x| Ok(quantity128(
        SUGGESTED_TIP
    )));
    method!("eth_blobBaseFee", |a, c, x| Ok(quantity(0)));
    method!("eth_feeHistory", |a, c, x| fee_history(c, &a));

    // state
    method!("eth_getBalance", |a, c, x| {
        let address: Address = req(&a, 0)?;
        let n = state_block(c, &a, 1)?;
        Ok(json!(c.account(&address, n)?.0))
    });
    method!("eth_getTransactionCount", |a, c, x| {
        let address: Address = req(&a, 0)?;
        let pending = matches!(
            opt::<BlockId>(&a, 1)?,
            Some(BlockId::Number(BlockNumberOrTag::Pending))
        );
        let n = state_block(c, &a, 1)?;
        let nonce = c.account(&address, n)?.1;
        let nonce = if pending {
            c.mempool().pending_nonce(&address, nonce)
        } else {
            nonce
        };
        Ok(quantity(nonce))
    });
    method!("eth_getCode", |a, c, x| {
        let address: Address = req(&a, 0)?;
        let n = state_block(c, &a, 1)?;
        Ok(json!(c.account(&address, n)?.2))
    });
    method!("eth_getStorageAt", |a, c, x| {
        let address: Address = req(&a, 0)?;
        let slot: U256 = req(&a, 1)?;
        let n = state_block(c, &a, 2)?;
        Ok(json!(B256::from(c.storage(&address, slot, n)?)))
    });
    blocking!("eth_call", |a, c, x| {
        let request = call_request(&a)?;
        let n = state_block(c, &a, 1)?;
        Ok(json!(c.call(&request, n)?))
    });
    blocking!("eth_estimateGas", |a, c, x| {
        let request = call_request(&a)?;
        let n = state_block(c, &a, 1)?;
        Ok(quantity(c.estimate_gas(&request, n)?))
    });

    // transactions
    method!("eth_sendRawTransaction", |a, c, x| {
        let raw: Bytes = req(&a, 0)?;
        Ok(json!(c.submit_raw(&raw)?))
    });
    method!("eth_getTransactionByHash", |a, c, x| get_transaction(
        c,
        req(&a, 0)?
    ));
    method!("eth_getTransactionReceipt", |a, c, x| get_receipt(
        c,
        req(&a, 0)?
    ));
    method!("eth_getTransactionByBlockHashAndIndex", |a, c, x| {
        let block = c.block_by_hash(&req(&a, 0)?)?;
        tx_at(c, block, req(&a, 1)?)
    });
    method!("eth_getTransactionByBlockNumberAndIndex", |a, c, x| {
        let block = block_by_tag(c, req(&a, 0)?)?;
        tx_at(c, block, req(&a, 1)?)
    });

    // blocks
    method!("eth_getBlockByNumber", |a, c, x| {
        let block = block_by_tag(c, req(&a, 0)?)?;
        block_out(c, block, opt(&a, 1)?.unwrap_or(false))
    });
    method!("eth_getBlockByHash", |a, c, x| {
        let block = c.block_by_hash(&req(&a, 0)?)?;
        block_out(c, block, opt(&a, 1)?.unwrap_or(false))
    });
    method!("eth_getBlockTransactionCountByNumber", |a, c, x| Ok(
        block_by_tag(c, req(&a, 0)?)?
            .map_or(Value::Null, |b| quantity(b.transactions().len() as u64))
    ));
    method!("eth_getBlockTransactionCountByHash", |a, c, x| Ok(c
        .block_by_hash(&req(&a, 0)?)?
        .map_or(Value::Null, |b| quantity(
            b.transactions().len() as u64
        ))));
    method!("eth_getUncleCountByBlockNumber", |a, c, x| Ok(
        block_by_tag(c, req(&a, 0)?)?.map_or(Value::Null, |_| quantity(0))
    ));
    method!("eth_getUncleCountByBlockHash", |a, c, x| Ok(c
        .block_by_hash(&req(&a, 0)?)?
        .map_or(Value::Null, |_| quantity(0))));
    method!("eth_getUncleByBlockNumberAndIndex", |a, c, x| Ok(
        Value::Null
    ));
    method!("eth_getUncleByBlockHashAndIndex", |a, c, x| Ok(Value::Null));
    method!("eth_getBlockReceipts", |a, c, x| {
        let block = match req::<BlockId>(&a, 0)? {
            BlockId::Hash(h) => c.block_by_hash(&h.block_hash)?,
            BlockId::Number(tag) => block_by_tag(c, tag)?,
        };
        block_receipts(c, block)
    });

    // logs and polling filters
    blocking!("eth_getLogs", |a, c, x| {
        let filter: Filter = req(&a, 0)?;
        Ok(json!(filters::get_logs(c, &filter)?))
    });
    method!("eth_newFilter", |a, c, x| Ok(json!(
        x.filters.new_log_filter(c, req(&a, 0)?)?
    )));
    method!("eth_newBlockFilter", |a, c, x| Ok(json!(
        x.filters.new_block_filter(c)?
    )));
    method!("eth_newPendingTransactionFilter", |a, c, x| Ok(json!(
        x.filters.new_pending_filter(c)?
    )));
    method!("eth_uninstallFilter", |a, c, x| Ok(json!(
        x.filters.uninstall(&req::<String>(&a, 0)?)
    )));
    blocking!("eth_getFilterChanges", |a, c, x| x
        .filters
        .changes(c, &req::<String>(&a, 0)?));
    blocking!("eth_getFilterLogs", |a, c, x| Ok(json!(
        x.filters.logs(c, &req::<String>(&a, 0)?)?
    )));

    // lightstreams
    method!("lightstreams_certificate", |a, c, x| {
        let number = tag_number(c, req(&a, 0)?);
        if number > c.head_number() {
            return Ok(Value::Null);
        }
        Ok(c.certificate(number)?
            .map_or(Value::Null, |cert| json!(Bytes::from(cert))))
    });

    Ok(m)
}
