//! Key keeping on the wire: what a creator deposits with each keeper, what a keeper releases
//! to a reader, and where an item's custody record is published.
//!
//! # Design
//! A creator who wants to sell while offline splits the content key of an epoch among key
//! keepers ([`crate::custody`]) and:
//! - `PUT`s each keeper its [`ShareDeposit`] (`/v1/raw/ITEM/shares/EPOCH`, signed by the owner
//!   or an admin; the keeper checks that the share opens with its key before it stores it);
//! - publishes the public [`crate::custody::CustodyRecord`] as an object at
//!   [`record_locator`] on its vault node, readable by whoever may read the item.
//!
//! A reader with no envelope reads the record, asks each keeper for its share with a signed
//! `GET`, and each keeper answers only if the chain shows the reader holds READ at its latest
//! finalised block, with a [`ShareRelease`]: its share re-wrapped to the reader's registered
//! encryption key. Everybody else gets the uniform not-found. Any `threshold` shares rebuild
//! the key.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::custody::{CustodyRecord, Share, open_share, release};
use crate::keys::EncryptionKeyPair;

/// Largest deposit body a keeper accepts.
pub const MAX_DEPOSIT: usize = 64 * 1024;

/// What a creator deposits with keeper `index` of `record`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareDeposit {
    /// The public custody record of the item and epoch.
    pub record: CustodyRecord,
    /// The keeper's position in `record.keepers`.
    pub index: u32,
    /// The share, HPKE-wrapped to that keeper.
    #[serde(with = "hex_bytes")]
    pub wrapped: Vec<u8>,
}

/// What a keeper releases to a reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRelease {
    /// The keeper's position in the record.
    pub index: u32,
    /// The share, HPKE-wrapped to the reader's encryption key.
    #[serde(with = "hex_bytes")]
    pub released: Vec<u8>,
}

/// Where the custody record of `item` at `epoch` is published (an object id that anyone who
/// knows the item can compute; the node serves it only to readers).
pub fn record_locator(item: [u8; 32], epoch: u64) -> [u8; 32] {
    let mut material = Vec::with_capacity(40);
    material.extend_from_slice(&item);
    material.extend_from_slice(&epoch.to_le_bytes());
    blake3::derive_key("lightstreams custody record locator v1", &material)
}

/// The keeper's check of a deposit for `item` at `epoch` before storing it: the record must be
/// for that item and epoch, name this keeper at `index`, and the share must open with the
/// keeper's key. The error says which.
pub fn check_deposit(
    keeper: &EncryptionKeyPair,
    item: [u8; 32],
    epoch: u64,
    deposit: &ShareDeposit,
) -> Result<Share, Error> {
    if deposit.record.item != item || deposit.record.epoch != epoch {
        return Err(Error::Request(format!(
            "the deposit's record is for item 0x{} epoch {}, but the path names item 0x{} epoch {epoch}",
            hex::encode(deposit.record.item),
            deposit.record.epoch,
            hex::encode(item)
        )));
    }
    let named = deposit
        .record
        .keepers
        .get(deposit.index as usize)
        .ok_or_else(|| {
            Error::Request(format!(
                "keeper index {} is outside the record's {} keepers",
                deposit.index,
                deposit.record.keepers.len()
            ))
        })?;
    if named.public_key != keeper.public_bytes() {
        return Err(Error::Request(format!(
            "keeper {} of the record has key 0x{}, not this node's 0x{}: send each keeper its own share",
            deposit.index,
            hex::encode(named.public_key),
            hex::encode(keeper.public_bytes())
        )));
    }
    open_share(keeper, &deposit.record, deposit.index, &deposit.wrapped)
}

/// The keeper's answer to a reader whose encryption key is `reader_public`.
pub fn release_to(
    keeper: &EncryptionKeyPair,
    deposit: &ShareDeposit,
    reader_public: &[u8; 32],
) -> Result<ShareRelease, Error> {
    let share = open_share(keeper, &deposit.record, deposit.index, &deposit.wrapped)?;
    Ok(ShareRelease {
        index: deposit.index,
        released: release(&share, &deposit.record, reader_public)?,
    })
}

/// `0x`-hex serde for byte vectors.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.trim_start_matches("0x")).map_err(serde::de::Error::custom)
    }
}
