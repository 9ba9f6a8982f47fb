//! `eth_getLogs` and the polling filters (`eth_newFilter` and friends).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{B256, U128};
use alloy::rpc::types::{Filter, FilterBlockOption, Log};
use lightstreams_chain::Chain;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::convert::{first_log_index, rpc_log};
use crate::error::{RpcError, RpcResult};

/// Most blocks one `eth_getLogs` may scan.
pub(crate) const MAX_BLOCK_RANGE: u64 = 10_000;
/// Most logs one `eth_getLogs` may return.
pub(crate) const MAX_LOGS: usize = 10_000;
/// A polling filter not polled for this long is removed, as in geth.
pub(crate) const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Most polling filters installed at once.
pub(crate) const MAX_FILTERS: usize = 10_000;

/// Resolve a block tag against the chain: every tag but `earliest` means the head.
pub(crate) fn tag_number(chain: &Chain, tag: BlockNumberOrTag) -> u64 {
    match tag {
        BlockNumberOrTag::Earliest => 0,
        BlockNumberOrTag::Number(n) => n,
        _ => chain.head_number(),
    }
}

/// Logs of finalized blocks matching `filter`.
pub(crate) fn get_logs(chain: &Chain, filter: &Filter) -> RpcResult<Vec<Log>> {
    match filter.block_option {
        FilterBlockOption::AtBlockHash(hash) => {
            let number = chain
                .block_number_of(&hash)?
                .ok_or_else(|| RpcError::Server("unknown block".into()))?;
            logs_in_range(chain, filter, number, number)
        }
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => {
            let head = chain.head_number();
            let from = from_block.map_or(head, |t| tag_number(chain, t));
            let to = to_block.map_or(head, |t| tag_number(chain, t));
            if from > to {
                return Err(RpcError::Server("invalid block range params".into()));
            }
            check_range(from, to)?;
            if from > head {
                return Ok(Vec::new());
            }
            logs_in_range(chain, filter, from, to.min(head))
        }
    }
}

fn check_range(from: u64, to: u64) -> RpcResult<()> {
    if to.saturating_sub(from) >= MAX_BLOCK_RANGE {
        return Err(RpcError::LimitExceeded(format!(
            "query exceeds max block range {MAX_BLOCK_RANGE}"
        )));
    }
    Ok(())
}

/// Logs of blocks `from..=to` (all finalized) matching `filter`'s address and topics.
pub(crate) fn logs_in_range(
    chain: &Chain,
    filter: &Filter,
    from: u64,
    to: u64,
) -> RpcResult<Vec<Log>> {
    check_range(from, to)?;
    let mut out = Vec::new();
    for number in from..=to {
        let Some(block) = chain.block_by_number(number)? else {
            break;
        };
        if !filter.matches_bloom(block.header().logs_bloom) {
            continue;
        }
        let receipts = chain.receipts(number)?.unwrap_or_default();
        let mut index = 0u64;
        for receipt in &receipts {
            for log in &receipt.logs {
                if filter.matches(log) {
                    out.push(rpc_log(log, receipt, &block, index));
                    if out.len() > MAX_LOGS {
                        return Err(RpcError::LimitExceeded(format!(
                            "query returned more than {MAX_LOGS} results"
                        )));
                    }
                }
                index += 1;
            }
        }
        debug_assert_eq!(index, first_log_index(&receipts, receipts.len()));
    }
    Ok(out)
}

/// A fresh random identifier: `0x` and 32 hex digits, like geth's.
pub(crate) fn random_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::hash::RandomState::new();
    let mut a = state.build_hasher();
    a.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut b = state.build_hasher();
    b.write_u64(a.finish());
    let id = (u128::from(a.finish()) << 64) | u128::from(b.finish());
    format!("{:#x}", U128::from(id))
}

#[derive(Debug)]
enum Kind {
    Blocks,
    Logs(Box<Filter>),
    PendingTransactions,
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    /// Last block whose changes were returned.
    last_block: u64,
    last_poll: Instant,
}

/// The installed polling filters.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    installed: Mutex<HashMap<String, Installed>>,
}

impl Filters {
    fn install(&self, kind: Kind, last_block: u64) -> RpcResult<String> {
        let mut installed = self.installed.lock();
        let now = Instant::now();
        installed.retain(|_, f| now.duration_since(f.last_poll) < FILTER_TIMEOUT);
        if installed.len() >= MAX_FILTERS {
            return Err(RpcError::LimitExceeded("too many installed filters".into()));
        }
        let id = random_id();
        installed.insert(
            id.clone(),
            Installed {
                kind,
                last_block,
                last_poll: now,
            },
        );
        Ok(id)
    }

    /// `eth_newFilter`: changes are matching logs of blocks finalized after installation.
    pub(crate) fn new_log_filter(&self, chain: &Chain, filter: Filter) -> RpcResult<String> {
        self.install(Kind::Logs(Box::new(filter)), chain.head_number())
    }

    /// `eth_newBlockFilter`.
    pub(crate) fn new_block_filter(&self, chain: &Chain) -> RpcResult<String> {
        self.install(Kind::Blocks, chain.head_number())
    }

    /// `eth_newPendingTransactionFilter`: always empty (transactions are final within a block).
    pub(crate) fn new_pending_filter(&self, chain: &Chain) -> RpcResult<String> {
        self.install(Kind::PendingTransactions, chain.head_number())
    }

    /// `eth_uninstallFilter`.
    pub(crate) fn uninstall(&self, id: &str) -> bool {
        self.installed.lock().remove(&normalize(id)).is_some()
    }

    /// `eth_getFilterChanges`.
    pub(crate) fn changes(&self, chain: &Chain, id: &str) -> RpcResult<Value> {
        let id = normalize(id);
        let head = chain.head_number();
        // Take what is needed under the lock, query outside it.
        let (kind_filter, from, to) = {
            let mut installed = self.installed.lock();
            let Some(f) = installed.get_mut(&id) else {
                return Err(RpcError::Server("filter not found".into()));
            };
            f.last_poll = Instant::now();
            let from = f.last_block.saturating_add(1);
            if from > head {
                return Ok(Value::Array(Vec::new()));
            }
            let to = head.min(from.saturating_add(MAX_BLOCK_RANGE - 1));
            f.last_block = to;
            let filter = match &f.kind {
                Kind::Blocks => None,
                Kind::Logs(filter) => Some(filter.clone()),
                Kind::PendingTransactions => return Ok(Value::Array(Vec::new())),
            };
            (filter, from, to)
        };
        match kind_filter {
            None => {
                let mut hashes: Vec<B256> = Vec::new();
                for n in from..=to {
                    if let Some(block) = chain.block_by_number(n)? {
                        hashes.push(block.hash());
                    }
                }
                Ok(json!(hashes))
            }
            Some(filter) => {
                let from = from.max(filter.get_from_block().unwrap_or(0));
                let to = to.min(filter.get_to_block().unwrap_or(u64::MAX));
                if from > to {
                    return Ok(Value::Array(Vec::new()));
                }
                Ok(json!(logs_in_range(chain, &filter, from, to)?))
            }
        }
    }

    /// `eth_getFilterLogs`: every log the filter's query matches.
    pub(crate) fn logs(&self, chain: &Chain, id: &str) -> RpcResult<Vec<Log>> {
        let filter = {
            let mut installed = self.installed.lock();
            let Some(f) = installed.get_mut(&normalize(id)) else {
                return Err(RpcError::Server("filter not found".into()));
            };
            f.last_poll = Instant::now();
            match &f.kind {
                Kind::Logs(filter) => filter.clone(),
                _ => return Err(RpcError::Server("filter not found".into())),
            }
        };
        get_logs(chain, &filter)
    }
}

/// Filter ids are hex quantities; compare them case-insensitively and without leading zeros.
fn normalize(id: &str) -> String {
    let digits = id
        .strip_prefix("0x")
        .or_else(|| id.strip_prefix("0X"))
        .unwrap_or(id)
        .trim_start_matches('0')
        .to_ascii_lowercase();
    if digits.is_empty() {
        "0x0".into()
    } else {
        format!("0x{digits}")
    }
}
