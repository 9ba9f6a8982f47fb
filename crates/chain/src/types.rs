//! Data the chain stores beside blocks: receipts and state changes.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, Bloom, Bytes, Log, U256};
use serde::{Deserialize, Serialize};

/// The outcome of one transaction, as stored and served by `eth_getTransactionReceipt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: B256,
    /// Position of the transaction in its block.
    pub tx_index: u64,
    /// EIP-2718 type of the transaction (0 legacy, 1 access list, 2 dynamic fee).
    pub tx_type: u8,
    /// Sender.
    pub from: Address,
    /// Recipient; `None` for contract creation.
    pub to: Option<Address>,
    /// Address of the created contract, if any.
    pub contract_address: Option<Address>,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Gas used by this and all earlier transactions of the block.
    pub cumulative_gas_used: u64,
    /// Price per gas actually paid, in wei.
    pub effective_gas_price: u128,
    /// True when execution succeeded (status 1).
    pub success: bool,
    /// Logs emitted, in order.
    pub logs: Vec<Log>,
    /// Bloom of the logs.
    pub logs_bloom: Bloom,
    /// Revert data or halt reason, when execution failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The state an account has after a block, as stored in the history.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AccountState {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Keccak of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
}

impl AccountState {
    /// Fixed-size encoding: balance (32) ‖ nonce (8) ‖ code hash (32).
    pub fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..32].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[32..40].copy_from_slice(&self.nonce.to_be_bytes());
        out[40..].copy_from_slice(self.code_hash.as_slice());
        out
    }

    /// Inverse of [`AccountState::encode`].
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 72 {
            return None;
        }
        Some(Self {
            balance: U256::from_be_slice(&bytes[..32]),
            nonce: u64::from_be_bytes(bytes[32..40].try_into().ok()?),
            code_hash: B256::from_slice(&bytes[40..]),
        })
    }
}

/// Absolute post-state of everything a block changed.
///
/// Values are absolute (not deltas), so applying a diff twice, or on a state that already
/// includes it, is harmless. `BTreeMap`s keep iteration deterministic, which the state
/// commitment relies on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDiff {
    /// Accounts changed; `None` means the account was destroyed.
    pub accounts: BTreeMap<Address, Option<AccountState>>,
    /// Storage slots changed, with their new values.
    pub storage: BTreeMap<(Address, U256), U256>,
    /// Code deployed, by hash.
    pub code: BTreeMap<B256, Bytes>,
}

impl StateDiff {
    /// Fold a later diff into this one.
    pub fn extend(&mut self, later: StateDiff) {
        self.accounts.extend(later.accounts);
        self.storage.extend(later.storage);
        self.code.extend(later.code);
    }

    /// A deterministic digest of the diff, chained onto the parent's state root.
    ///
    /// This is the chain's state commitment: `root(n) = keccak(root(n-1) ‖ keccak(diff(n)))`.
    /// It is not Ethereum's Merkle-Patricia root (no account proofs), but every validator
    /// computes it while re-executing, so a validator whose state diverges by one bit
    /// rejects the block.
    pub fn commitment(&self, parent_root: B256) -> B256 {
        let mut buf = Vec::with_capacity(
            self.accounts.len() * 93 + self.storage.len() * 84 + self.code.len() * 32,
        );
        for (address, state) in &self.accounts {
            buf.extend_from_slice(address.as_slice());
            match state {
                Some(state) => {
                    buf.push(1);
                    buf.extend_from_slice(&state.encode());
                }
                None => buf.push(0),
            }
        }
        for ((address, slot), value) in &self.storage {
            buf.extend_from_slice(address.as_slice());
            buf.extend_from_slice(&slot.to_be_bytes::<32>());
            buf.extend_from_slice(&value.to_be_bytes::<32>());
        }
        for hash in self.code.keys() {
            buf.extend_from_slice(hash.as_slice());
        }
        let diff_hash = alloy::primitives::keccak256(&buf);
        let mut chained = [0u8; 64];
        chained[..32].copy_from_slice(parent_root.as_slice());
        chained[32..].copy_from_slice(diff_hash.as_slice());
        alloy::primitives::keccak256(chained)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_state_round_trips() {
        let state = AccountState {
            balance: U256::from(123456789u64),
            nonce: 42,
            code_hash: B256::repeat_byte(9),
        };
        assert_eq!(AccountState::decode(&state.encode()), Some(state));
        assert_eq!(AccountState::decode(&[0u8; 3]), None);
    }

    #[test]
    fn commitment_depends_on_every_part() {
        let mut diff = StateDiff::default();
        diff.accounts
            .insert(Address::repeat_byte(1), Some(AccountState::default()));
        let base = diff.commitment(B256::ZERO);
        assert_ne!(base, diff.commitment(B256::repeat_byte(1)));
        let mut other = diff.clone();
        other
            .storage
            .insert((Address::repeat_byte(1), U256::from(1)), U256::from(2));
        assert_ne!(base, other.commitment(B256::ZERO));
        let mut destroyed = diff.clone();
        destroyed.accounts.insert(Address::repeat_byte(1), None);
        assert_ne!(base, destroyed.commitment(B256::ZERO));
    }
}
