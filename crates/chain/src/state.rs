//! A read view of state at one block: the store's history plus unfinalized diffs on top.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::primitives::KECCAK_EMPTY;
use revm::state::AccountInfo;

use crate::store::StoreReader;
use crate::types::{AccountState, StateDiff};

/// An error reading state, as revm sees it.
#[derive(Debug, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateError(pub String);

impl DBErrorMarker for StateError {}

impl From<crate::Error> for StateError {
    fn from(e: crate::Error) -> Self {
        StateError(e.to_string())
    }
}

/// The state after block `at` of the store, with `overlays` (diffs of unfinalized blocks,
/// oldest first) applied on top. Implements revm's [`DatabaseRef`].
#[derive(Debug)]
pub struct StateView {
    reader: StoreReader,
    at: u64,
    overlays: Vec<Arc<StateDiff>>,
    /// Hashes of the unfinalized ancestors by number, for `BLOCKHASH`.
    overlay_hashes: BTreeMap<u64, B256>,
}

impl StateView {
    /// A view of the store after block `at`, plus `overlays` (oldest first).
    pub fn new(
        reader: StoreReader,
        at: u64,
        overlays: Vec<Arc<StateDiff>>,
        overlay_hashes: BTreeMap<u64, B256>,
    ) -> Self {
        Self {
            reader,
            at,
            overlays,
            overlay_hashes,
        }
    }

    /// The underlying store snapshot.
    pub fn reader(&self) -> &StoreReader {
        &self.reader
    }

    /// The account's state, or `None` if it does not exist.
    pub fn account(&self, address: &Address) -> Result<Option<AccountState>, StateError> {
        for diff in self.overlays.iter().rev() {
            if let Some(state) = diff.accounts.get(address) {
                return Ok(state.clone());
            }
        }
        Ok(self.reader.account(address, self.at)?)
    }

    /// Balance and nonce (zero for a missing account).
    pub fn balance_nonce(&self, address: &Address) -> Result<(U256, u64), StateError> {
        Ok(self
            .account(address)?
            .map(|a| (a.balance, a.nonce))
            .unwrap_or_default())
    }
}

impl DatabaseRef for StateView {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account(&address)?.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            account_id: None,
            code: None,
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        for diff in self.overlays.iter().rev() {
            if let Some(code) = diff.code.get(&code_hash) {
                return Ok(Bytecode::new_raw(code.clone()));
            }
        }
        match self.reader.code(&code_hash)? {
            Some(code) => Ok(Bytecode::new_raw(code)),
            None => Err(StateError(format!("missing code {code_hash}"))),
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        for diff in self.overlays.iter().rev() {
            if let Some(value) = diff.storage.get(&(address, index)) {
                return Ok(*value);
            }
            if let Some(None) = diff.accounts.get(&address) {
                // Destroyed in that block: its storage is gone.
                return Ok(U256::ZERO);
            }
        }
        Ok(self.reader.storage(&address, &index, self.at)?)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        if let Some(hash) = self.overlay_hashes.get(&number) {
            return Ok(*hash);
        }
        Ok(self
            .reader
            .block(number)?
            .map(|b| b.hash())
            .unwrap_or_default())
    }
}
