//! The embedded store (redb): finalized blocks, certificates, receipts and the state history.
//!
//! # Design
//! Everything a finalized block changes is written in one redb write transaction with
//! immediate durability, so a crash (even `kill -9`) leaves either the whole block or none of
//! it. State is kept as a history: each account and storage slot value is stored under
//! `key ‖ block_number`, so the state at any finalized block is the last entry at or below it.
//! That makes `eth_call`, `eth_getBalance` and friends work against any finalized block
//! without replaying anything.

use std::path::Path;

use alloy::primitives::{Address, B256, Bytes, U256};
use lightstreams_primitives::Block;
use redb::{Database, ReadTransaction, ReadableDatabase, TableDefinition};

use crate::error::{Error, Result};
use crate::types::{AccountState, Receipt, StateDiff};

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const CERTIFICATES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("certificates");
const BLOCK_NUMBERS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("block_numbers");
const TX_LOCATIONS: TableDefinition<'_, &[u8], (u64, u32)> = TableDefinition::new("tx_locations");
const RECEIPTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("receipts");
/// `address ‖ block` → encoded [`AccountState`] (empty for destroyed).
const ACCOUNTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("account_history");
/// `address ‖ slot ‖ block` → 32-byte value.
const STORAGE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("storage_history");
const CODE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("code");

const META_GENESIS: &str = "genesis_hash";
const META_FINALIZED: &str = "finalized_number";

fn account_key(address: &Address, block: u64) -> [u8; 28] {
    let mut key = [0u8; 28];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&block.to_be_bytes());
    key
}

fn storage_key(address: &Address, slot: &U256, block: u64) -> [u8; 60] {
    let mut key = [0u8; 60];
    key[..20].copy_from_slice(address.as_slice());
    key[20..52].copy_from_slice(&slot.to_be_bytes::<32>());
    key[52..].copy_from_slice(&block.to_be_bytes());
    key
}

/// The durable store of finalized blocks and state.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

impl Store {
    /// Open (or create) the store in `dir/chain.redb`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Db(format!("{}: {e}", dir.display())))?;
        let db = Database::create(dir.join("chain.redb"))?;
        let tx = db.begin_write()?;
        {
            tx.open_table(META)?;
            tx.open_table(BLOCKS)?;
            tx.open_table(CERTIFICATES)?;
            tx.open_table(BLOCK_NUMBERS)?;
            tx.open_table(TX_LOCATIONS)?;
            tx.open_table(RECEIPTS)?;
            tx.open_table(ACCOUNTS)?;
            tx.open_table(STORAGE)?;
            tx.open_table(CODE)?;
        }
        tx.commit()?;
        Ok(Self { db })
    }

    /// Hash of the genesis block this store was created with, if any.
    pub fn genesis_hash(&self) -> Result<Option<B256>> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        Ok(meta.get(META_GENESIS)?.map(|v| B256::from_slice(v.value())))
    }

    /// Number of the last finalized block, if any block (even genesis) is stored.
    pub fn finalized_number(&self) -> Result<Option<u64>> {
        self.reader()?.finalized_number()
    }

    /// Durably store a finalized block with everything it produced, atomically.
    ///
    /// Storing a block at or below the finalized height again is a no-op, so callers may
    /// deliver finalized blocks at least once.
    pub fn commit_block(
        &self,
        block: &Block,
        receipts: &[Receipt],
        diff: &StateDiff,
        certificate: &[u8],
    ) -> Result<()> {
        let number = block.number();
        if let Some(finalized) = self.finalized_number()?
            && number <= finalized
        {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            if number == 0 {
                meta.insert(META_GENESIS, block.hash().as_slice())?;
            }
            meta.insert(META_FINALIZED, number.to_be_bytes().as_slice())?;
            tx.open_table(BLOCKS)?
                .insert(number, block.encode().as_slice())?;
            tx.open_table(CERTIFICATES)?.insert(number, certificate)?;
            tx.open_table(BLOCK_NUMBERS)?
                .insert(block.hash().as_slice(), number)?;
            let mut locations = tx.open_table(TX_LOCATIONS)?;
            for (index, receipt) in receipts.iter().enumerate() {
                locations.insert(receipt.tx_hash.as_slice(), (number, index as u32))?;
            }
            let encoded = serde_json::to_vec(receipts).map_err(|e| Error::Db(e.to_string()))?;
            tx.open_table(RECEIPTS)?
                .insert(number, encoded.as_slice())?;
            let mut accounts = tx.open_table(ACCOUNTS)?;
            for (address, state) in &diff.accounts {
                let value = state
                    .as_ref()
                    .map(|s| s.encode().to_vec())
                    .unwrap_or_default();
                accounts.insert(account_key(address, number).as_slice(), value.as_slice())?;
            }
            let mut storage = tx.open_table(STORAGE)?;
            for ((address, slot), value) in &diff.storage {
                storage.insert(
                    storage_key(address, slot, number).as_slice(),
                    value.to_be_bytes::<32>().as_slice(),
                )?;
            }
            let mut code = tx.open_table(CODE)?;
            for (hash, bytes) in &diff.code {
                code.insert(hash.as_slice(), bytes.as_ref())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A consistent read-only snapshot of the store.
    pub fn reader(&self) -> Result<StoreReader> {
        Ok(StoreReader {
            tx: self.db.begin_read()?,
        })
    }
}

/// A consistent snapshot of the store for reads (blocks, receipts, historical state).
pub struct StoreReader {
    tx: ReadTransaction,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreReader")
    }
}

impl StoreReader {
    /// Number of the last finalized block in this snapshot.
    pub fn finalized_number(&self) -> Result<Option<u64>> {
        let meta = self.tx.open_table(META)?;
        match meta.get(META_FINALIZED)? {
            Some(v) => {
                let bytes: [u8; 8] = v.value().try_into().map_err(|_| Error::Corrupt {
                    what: "finalized number",
                    detail: "not 8 bytes".into(),
                })?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
            None => Ok(None),
        }
    }

    /// The finalized block at `number`.
    pub fn block(&self, number: u64) -> Result<Option<Block>> {
        let table = self.tx.open_table(BLOCKS)?;
        let Some(bytes) = table.get(number)? else {
            return Ok(None);
        };
        Block::decode(bytes.value())
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: "block",
                detail: e.to_string(),
            })
    }

    /// The number of the finalized block with this hash.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>> {
        let table = self.tx.open_table(BLOCK_NUMBERS)?;
        Ok(table.get(hash.as_slice())?.map(|v| v.value()))
    }

    /// The encoded finalization certificate stored with block `number`.
    pub fn certificate(&self, number: u64) -> Result<Option<Vec<u8>>> {
        let table = self.tx.open_table(CERTIFICATES)?;
        Ok(table.get(number)?.map(|v| v.value().to_vec()))
    }

    /// Receipts of block `number`, in transaction order.
    pub fn receipts(&self, number: u64) -> Result<Option<Vec<Receipt>>> {
        let table = self.tx.open_table(RECEIPTS)?;
        let Some(bytes) = table.get(number)? else {
            return Ok(None);
        };
        serde_json::from_slice(bytes.value())
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: "receipts",
                detail: e.to_string(),
            })
    }

    /// Block number and index of a finalized transaction.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<(u64, u32)>> {
        let table = self.tx.open_table(TX_LOCATIONS)?;
        Ok(table.get(hash.as_slice())?.map(|v| v.value()))
    }

    /// The state of `address` after block `at` (`None` if it never existed or was destroyed).
    pub fn account(&self, address: &Address, at: u64) -> Result<Option<AccountState>> {
        let table = self.tx.open_table(ACCOUNTS)?;
        let low = account_key(address, 0);
        let high = account_key(address, at);
        let mut range = table.range(low.as_slice()..=high.as_slice())?;
        match range.next_back() {
            Some(entry) => {
                let (_, value) = entry?;
                let value = value.value();
                if value.is_empty() {
                    return Ok(None);
                }
                AccountState::decode(value).map(Some).ok_or(Error::Corrupt {
                    what: "account",
                    detail: format!("{} bytes", value.len()),
                })
            }
            None => Ok(None),
        }
    }

    /// The value of a storage slot after block `at` (zero if never written).
    pub fn storage(&self, address: &Address, slot: &U256, at: u64) -> Result<U256> {
        let table = self.tx.open_table(STORAGE)?;
        let low = storage_key(address, slot, 0);
        let high = storage_key(address, slot, at);
        let mut range = table.range(low.as_slice()..=high.as_slice())?;
        match range.next_back() {
            Some(entry) => {
                let (_, value) = entry?;
                Ok(U256::from_be_slice(value.value()))
            }
            None => Ok(U256::ZERO),
        }
    }

    /// Contract code by its hash.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>> {
        let table = self.tx.open_table(CODE)?;
        Ok(table
            .get(hash.as_slice())?
            .map(|v| Bytes::copy_from_slice(v.value())))
    }
}
