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
/// How many *queued* transactions (behind a nonce gap, so they cannot execute yet) one account
/// may hold, as geth's `AccountQueue`.
pub const MAX_QUEUED_PER_SENDER: usize = 64;
/// How many queued transactions the pool holds in all. Executable ones may fill the rest: a
/// queued transaction is never mined or dropped until its gap is filled, so without this cap
/// a few hundred barely funded accounts could fill the pool for good.
pub const MAX_QUEUED: usize = 8_192;

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
    /// Each sender with transactions here: its nonce as last seen (at an insert or a
    /// finalized block) and how many of its transactions were queued behind a gap then.
    queued_by_sender: HashMap<Address, (u64, usize)>,
    /// The sum of those counts.
    queued: usize,
}

/// The first nonce from `base` that `queue` lacks.
fn first_missing(queue: &BTreeMap<u64, Arc<PoolTx>>, base: u64) -> u64 {
    let mut next = base;
    while queue.contains_key(&next) {
        next += 1;
    }
    next
}

impl Inner {
    /// Count `sender`'s queued transactions again against its nonce `base` (default: the one
    /// last seen) and keep the total in step.
    fn recount(&mut self, sender: &Address, base: Option<u64>) {
        let (seen, before) = self.queued_by_sender.get(sender).copied().unwrap_or((0, 0));
        let base = base.unwrap_or(seen);
        let now = self.by_sender.get(sender).map_or(0, |queue| {
            let run = first_missing(queue, base) - base;
            queue.range(base..).count() - run as usize
        });
        self.queued = self.queued.saturating_sub(before) + now;
        if self.by_sender.contains_key(sender) {
            self.queued_by_sender.insert(*sender, (base, now));
        } else {
            self.queued_by_sender.remove(sender);
        }
    }
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
            // A new transaction behind a nonce gap waits for it: only so many may.
            let (missing, queued) =
                inner
                    .by_sender
                    .get(&sender)
                    .map_or((state_nonce, 0), |queue| {
                        let missing = first_missing(queue, state_nonce);
                        let run = (missing - state_nonce) as usize;
                        (missing, queue.range(state_nonce..).count() - run)
                    });
            let new = !inner
                .by_sender
                .get(&sender)
                .is_some_and(|queue| queue.contains_key(&nonce));
            if new && nonce > missing {
                if queued >= MAX_QUEUED_PER_SENDER {
                    return Err(TxError::AccountLimitExceeded {
                        address: sender,
                        queued,
                        missing,
                    });
                }
                if inner.queued >= MAX_QUEUED {
                    return Err(TxError::PoolFull);
                }
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
            inner.recount(&sender, Some(state_nonce));
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
        let mut touched: Vec<Address> = Vec::new();
        for hash in dropped.iter().chain(invalid) {
            if let Some(p) = inner.by_hash.remove(hash) {
                touched.push(p.sender);
                if let Some(queue) = inner.by_sender.get_mut(&p.sender) {
                    queue.remove(&p.tx.nonce());
                    if queue.is_empty() {
                        inner.by_sender.remove(&p.sender);
                    }
                }
            }
        }
        // A dropped transaction may open a gap (an invalid one in a run) or close an account's
        // entry; a newer nonce changes nothing queued but is the base from now on.
        for (sender, nonce) in nonces {
            inner.recount(sender, Some(*nonce));
        }
        for sender in touched {
            if !nonces.contains_key(&sender) {
                inner.recount(&sender, None);
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

    /// A transfer with a stand-in signature: the pool trusts the sender it is given, so bulk
    /// tests need not sign thousands of transactions.
    fn unsigned(nonce: u64, to: u8) -> TxEnvelope {
        let t = TxLegacy {
            chain_id: Some(161),
            nonce,
            gas_price: 10,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(to)),
            value: U256::from(1),
            input: Default::default(),
        };
        t.into_signed(alloy::primitives::Signature::test_signature())
            .into()
    }

    /// An account may queue only so many transactions behind a nonce gap; once the gap is
    /// filled they are executable and no longer count.
    #[test]
    fn queued_transactions_are_capped_per_sender() {
        let pool = Mempool::new();
        let a = Address::repeat_byte(0xaa);
        for n in 1..=MAX_QUEUED_PER_SENDER as u64 {
            pool.insert(unsigned(n, 1), a, 0).expect("queued");
        }
        let err = pool
            .insert(unsigned(MAX_QUEUED_PER_SENDER as u64 + 1, 1), a, 0)
            .expect_err("over the account's queue");
        assert!(
            matches!(err, TxError::AccountLimitExceeded { missing: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("send nonce 0 first"), "{err}");
        // Replacing a queued transaction is not a new one.
        pool.insert(unsigned(3, 2), a, 0)
            .expect_err("underpriced, not over the limit")
            .to_string()
            .contains("underpriced")
            .then_some(())
            .expect("underpriced");
        // The gap filled: the run is executable and the account may queue again.
        pool.insert(unsigned(0, 1), a, 0)
            .expect("the missing nonce");
        pool.insert(unsigned(MAX_QUEUED_PER_SENDER as u64 + 2, 1), a, 0)
            .expect("queued behind a new gap");
        assert_eq!(pool.inner.lock().queued, 1);
    }

    /// Queued transactions from many accounts cannot fill the pool: past the global cap a new
    /// one is refused, while an executable transaction still gets in.
    #[test]
    fn queued_transactions_cannot_fill_the_pool() {
        let pool = Mempool::new();
        let mut refused = 0;
        for sender in 0..(MAX_QUEUED / MAX_QUEUED_PER_SENDER + 1) as u64 {
            let who = Address::from_word(alloy::primitives::B256::from(U256::from(sender + 1)));
            for n in 1..=MAX_QUEUED_PER_SENDER as u64 {
                // A recipient of its own per account: equal bodies would be one hash.
                match pool.insert(unsigned(n, sender as u8 + 1), who, 0) {
                    Ok(_) => {}
                    Err(TxError::PoolFull) => refused += 1,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(refused, MAX_QUEUED_PER_SENDER);
        assert_eq!(pool.len(), MAX_QUEUED);
        let honest = Address::repeat_byte(0x0b);
        pool.insert(unsigned(0, 0xff), honest, 0)
            .expect("an executable transaction gets in");
        pool.insert(unsigned(1, 0xff), honest, 0)
            .expect("and the next one");
    }

    /// A transaction dropped from the middle of a run (found invalid) leaves the ones after it
    /// queued, and they count until the gap is filled again.
    #[test]
    fn dropping_a_transaction_from_a_run_queues_the_rest() {
        let pool = Mempool::new();
        let a = Address::repeat_byte(0xaa);
        let hashes: Vec<B256> = (0..4)
            .map(|n| pool.insert(unsigned(n, 1), a, 0).expect("insert"))
            .collect();
        assert_eq!(pool.inner.lock().queued, 0);
        pool.prune(&HashMap::new(), &hashes[1..2]);
        assert_eq!(pool.inner.lock().queued, 2, "nonces 2 and 3 wait for 1");
        pool.insert(unsigned(1, 1), a, 0).expect("the gap filled");
        assert_eq!(pool.inner.lock().queued, 0);
        // Mined: the account's entry and its count go.
        pool.prune(&HashMap::from([(a, 4)]), &[]);
        assert!(pool.is_empty());
        let inner = pool.inner.lock();
        assert_eq!((inner.queued, inner.queued_by_sender.len()), (0, 0));
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
