//! The transaction pool: validated transactions waiting for a block, ordered by sender nonce.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::primitives::{Address, B256};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::TxError;

/// How far ahead of an account's nonce a transaction may be queued.
pub const MAX_NONCE_GAP: u64 = 1024;
/// How many transactions the pool holds at most.
pub const MAX_POOL_SIZE: usize = 200_000;

/// A validated transaction with its recovered sender.
#[derive(Debug)]
pub struct PoolTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Recovered sender.
    pub sender: Address,
    /// Transaction hash.
    pub hash: B256,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_sender: HashMap<Address, BTreeMap<u64, Arc<PoolTx>>>,
    by_hash: HashMap<B256, Arc<PoolTx>>,
    next_seq: u64,
}

/// The pool. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug, Default)]
pub struct Mempool {
    inner: Mutex<Inner>,
    arrived: Notify,
}

impl Mempool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a validated transaction; `state_nonce` is the sender's nonce at the head.
    pub fn insert(
        &self,
        tx: TxEnvelope,
        sender: Address,
        state_nonce: u64,
    ) -> Result<B256, TxError> {
        let hash = *tx.tx_hash();
        let nonce = tx.nonce();
        {
            let mut inner = self.inner.lock();
            if inner.by_hash.contains_key(&hash) {
                return Err(TxError::AlreadyKnown);
            }
            if nonce < state_nonce {
                return Err(TxError::NonceTooLow {
                    address: sender,
                    tx: nonce,
                    state: state_nonce,
                });
            }
            if nonce > state_nonce + MAX_NONCE_GAP {
                return Err(TxError::NonceTooHigh {
                    address: sender,
                    tx: nonce,
                    state: state_nonce,
                });
            }
            if inner.by_hash.len() >= MAX_POOL_SIZE {
                return Err(TxError::PoolFull);
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            let entry = Arc::new(PoolTx {
                tx,
                sender,
                hash,
                seq,
            });
            let replaced = {
                let queue = inner.by_sender.entry(sender).or_default();
                if let Some(existing) = queue.get(&nonce) {
                    // Replacement needs a 10% higher fee cap and tip, as in geth.
                    let old_fee = existing.tx.max_fee_per_gas();
                    let old_tip = existing.tx.max_priority_fee_per_gas().unwrap_or(old_fee);
                    let new_fee = entry.tx.max_fee_per_gas();
                    let new_tip = entry.tx.max_priority_fee_per_gas().unwrap_or(new_fee);
                    if !bumped(new_fee, old_fee) || !bumped(new_tip, old_tip) {
                        return Err(TxError::ReplacementUnderpriced);
                    }
                }
                queue.insert(nonce, entry.clone())
            };
            if let Some(old) = replaced {
                inner.by_hash.remove(&old.hash);
            }
            inner.by_hash.insert(hash, entry);
        }
        self.arrived.notify_waiters();
        Ok(hash)
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &B256) -> Option<Arc<PoolTx>> {
        self.inner.lock().by_hash.get(hash).cloned()
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().by_hash.len()
    }

    /// True when the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next nonce `sender` should use, counting its queued transactions.
    pub fn pending_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let inner = self.inner.lock();
        let mut next = state_nonce;
        if let Some(queue) = inner.by_sender.get(sender) {
            while queue.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// Transactions executable on a state where each sender's nonce is `nonce_of(sender)`:
    /// for each sender the run of consecutive nonces, senders in order of arrival, at most
    /// `max` in all.
    pub fn candidates<E>(
        &self,
        max: usize,
        mut nonce_of: impl FnMut(&Address) -> Result<u64, E>,
    ) -> Result<Vec<(TxEnvelope, Address)>, E> {
        let inner = self.inner.lock();
        let mut runs: Vec<(u64, Vec<Arc<PoolTx>>)> = Vec::new();
        for (sender, queue) in &inner.by_sender {
            let mut next = nonce_of(sender)?;
            let mut run = Vec::new();
            while let Some(tx) = queue.get(&next) {
                run.push(tx.clone());
                next += 1;
            }
            if let Some(first) = run.first() {
                runs.push((first.seq, run));
            }
        }
        runs.sort_by_key(|(seq, _)| *seq);
        Ok(runs
            .into_iter()
            .flat_map(|(_, run)| run)
            .take(max)
            .map(|p| (p.tx.clone(), p.sender))
            .collect())
    }

    /// Drop transactions that can never execute any more: those whose nonce is below the
    /// sender's nonce after the newest finalized block, and those named in `invalid`.
    pub fn prune(&self, nonces: &HashMap<Address, u64>, invalid: &[B256]) {
        let mut inner = self.inner.lock();
        let mut dropped = Vec::new();
        for (sender, nonce) in nonces {
            if let Some(queue) = inner.by_sender.get_mut(sender) {
                let keep = queue.split_off(nonce);
                dropped.extend(std::mem::replace(queue, keep).into_values().map(|p| p.hash));
                if queue.is_empty() {
                    inner.by_sender.remove(sender);
                }
            }
        }
        for hash in dropped.iter().chain(invalid) {
            if let Some(p) = inner.by_hash.remove(hash)
                && let Some(queue) = inner.by_sender.get_mut(&p.sender)
            {
                queue.remove(&p.tx.nonce());
                if queue.is_empty() {
                    inner.by_sender.remove(&p.sender);
                }
            }
        }
    }

    /// Wait until the pool holds a transaction or `timeout` passes.
    pub async fn wait_for_transactions(&self, timeout: Duration) {
        let notified = self.arrived.notified();
        if !self.is_empty() {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }
}

/// Whether `new` is at least 10% above `old` (fee caps are `u128`s anyone can sign, so the
/// products are taken in 256 bits).
fn bumped(new: u128, old: u128) -> bool {
    use alloy::primitives::U256;
    U256::from(new) * U256::from(10) >= U256::from(old) * U256::from(11)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::{SignableTransaction, TxLegacy};
    use alloy::network::TxSignerSync;
    use alloy::primitives::{TxKind, U256};
    use alloy::signers::local::PrivateKeySigner;

    fn tx(signer: &PrivateKeySigner, nonce: u64, gas_price: u128) -> TxEnvelope {
        let mut t = TxLegacy {
            chain_id: Some(161),
            nonce,
            gas_price,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(1),
            input: Default::default(),
        };
        let sig = signer.sign_transaction_sync(&mut t).expect("sign");
        t.into_signed(sig).into()
    }

    #[test]
    fn orders_by_nonce_and_stops_at_gaps() {
        let pool = Mempool::new();
        let a = PrivateKeySigner::random();
        for n in [0u64, 1, 3] {
            pool.insert(tx(&a, n, 10), a.address(), 0).expect("insert");
        }
        assert_eq!(pool.pending_nonce(&a.address(), 0), 2);
        let c = pool.candidates::<()>(100, |_| Ok(0)).expect("candidates");
        assert_eq!(
            c.iter().map(|(t, _)| t.nonce()).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    #[test]
    fn rejects_duplicates_low_nonces_and_cheap_replacements() {
        let pool = Mempool::new();
        let a = PrivateKeySigner::random();
        let t = tx(&a, 5, 100);
        pool.insert(t.clone(), a.address(), 5).expect("insert");
        assert!(matches!(
            pool.insert(t, a.address(), 5),
            Err(TxError::AlreadyKnown)
        ));
        assert!(matches!(
            pool.insert(tx(&a, 4, 100), a.address(), 5),
            Err(TxError::NonceTooLow { .. })
        ));
        assert!(matches!(
            pool.insert(tx(&a, 5, 105), a.address(), 5),
            Err(TxError::ReplacementUnderpriced)
        ));
        pool.insert(tx(&a, 5, 111), a.address(), 5)
            .expect("replacement");
        assert_eq!(pool.len(), 1);
    }

    /// Fee caps near `u128::MAX` (anyone can sign one) are compared without overflow: a
    /// replacement is judged, never a panic.
    #[test]
    fn replacements_of_huge_fee_caps_are_judged_without_overflow() {
        let pool = Mempool::new();
        let a = PrivateKeySigner::random();
        pool.insert(tx(&a, 0, u128::MAX / 5), a.address(), 0)
            .expect("insert");
        pool.insert(tx(&a, 0, u128::MAX), a.address(), 0)
            .expect("a fee cap five times higher replaces it");
        assert!(matches!(
            pool.insert(tx(&a, 0, u128::MAX - 1), a.address(), 0),
            Err(TxError::ReplacementUnderpriced)
        ));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn prune_drops_mined_nonces() {
        let pool = Mempool::new();
        let a = PrivateKeySigner::random();
        for n in 0..4 {
            pool.insert(tx(&a, n, 10), a.address(), 0).expect("insert");
        }
        pool.prune(&HashMap::from([(a.address(), 3)]), &[]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.pending_nonce(&a.address(), 3), 4);
    }
}
