//! The block: an Ethereum header and the signed transactions it orders.

use alloy::consensus::{Header, TxEnvelope};
use alloy::primitives::B256;
use alloy_rlp::{Decodable, Encodable};

use crate::constants::MAX_BLOCK_SIZE;

/// Why a byte string is not a valid encoded [`Block`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockError {
    /// The encoding is larger than [`MAX_BLOCK_SIZE`].
    #[error("block of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not valid RLP for a block.
    #[error("malformed block encoding: {0}")]
    Rlp(String),
    /// The bytes decode, but are not the canonical encoding of what they decode to.
    #[error("non-canonical block encoding")]
    NonCanonical,
}

/// A block: the header (with the usual Ethereum fields) and its transactions, in order.
///
/// The block hash is the Keccak-256 of the RLP header, as on Ethereum, and is computed once at
/// construction. The encoding is `rlp([header, [tx, ...]])`, with each transaction in its
/// network (EIP-2718) form; [`Block::decode`] accepts only that canonical form, so
/// `encode(decode(b)) == b` for every accepted `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    header: Header,
    transactions: Vec<TxEnvelope>,
    hash: B256,
}

impl Block {
    /// Seal a header and its transactions into a block.
    pub fn new(header: Header, transactions: Vec<TxEnvelope>) -> Self {
        let hash = header.hash_slow();
        Self {
            header,
            transactions,
            hash,
        }
    }

    /// The block hash (Keccak-256 of the RLP header).
    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The transactions, in execution order.
    pub fn transactions(&self) -> &[TxEnvelope] {
        &self.transactions
    }

    /// The height of this block (genesis is 0).
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The parent block's hash.
    pub fn parent_hash(&self) -> B256 {
        self.header.parent_hash
    }

    /// Split into header and transactions.
    pub fn into_parts(self) -> (Header, Vec<TxEnvelope>) {
        (self.header, self.transactions)
    }

    /// The canonical encoding: `rlp([header, [tx, ...]])`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        alloy_rlp::Header {
            list: true,
            payload_length: self.payload_len(),
        }
        .encode(&mut out);
        self.header.encode(&mut out);
        alloy_rlp::encode_list::<_, TxEnvelope>(&self.transactions, &mut out);
        out
    }

    /// Length of [`Block::encode`]'s output, without encoding.
    pub fn encoded_len(&self) -> usize {
        let payload = self.payload_len();
        alloy_rlp::length_of_length(payload) + payload
    }

    fn payload_len(&self) -> usize {
        self.header.length() + alloy_rlp::list_length(&self.transactions)
    }

    /// Decode a canonical encoding; rejects trailing bytes, oversized and non-canonical input.
    pub fn decode(bytes: &[u8]) -> Result<Self, BlockError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(BlockError::TooLarge {
                size: bytes.len(),
                limit: MAX_BLOCK_SIZE,
            });
        }
        let mut buf = bytes;
        let outer =
            alloy_rlp::Header::decode(&mut buf).map_err(|e| BlockError::Rlp(e.to_string()))?;
        if !outer.list || outer.payload_length != buf.len() {
            return Err(BlockError::Rlp(
                "expected a single list spanning the input".into(),
            ));
        }
        let header = Header::decode(&mut buf).map_err(|e| BlockError::Rlp(e.to_string()))?;
        let transactions =
            Vec::<TxEnvelope>::decode(&mut buf).map_err(|e| BlockError::Rlp(e.to_string()))?;
        if !buf.is_empty() {
            return Err(BlockError::Rlp("trailing bytes after transactions".into()));
        }
        let block = Self::new(header, transactions);
        if block.encoded_len() != bytes.len() || block.encode() != bytes {
            return Err(BlockError::NonCanonical);
        }
        Ok(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy::network::TxSignerSync;
    use alloy::primitives::{Address, TxKind, U256};
    use alloy::signers::local::PrivateKeySigner;

    fn signed_txs() -> Vec<TxEnvelope> {
        let signer = PrivateKeySigner::random();
        let mut legacy = TxLegacy {
            chain_id: Some(161),
            nonce: 0,
            gas_price: 1_000_000_000,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(7)),
            value: U256::from(5),
            input: Default::default(),
        };
        let sig = signer.sign_transaction_sync(&mut legacy).expect("sign");
        let mut eip1559 = TxEip1559 {
            chain_id: 161,
            nonce: 1,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::repeat_byte(8)),
            value: U256::from(9),
            ..Default::default()
        };
        let sig2 = signer.sign_transaction_sync(&mut eip1559).expect("sign");
        vec![
            legacy.into_signed(sig).into(),
            eip1559.into_signed(sig2).into(),
        ]
    }

    #[test]
    fn round_trip_is_canonical() {
        let header = Header {
            number: 7,
            gas_limit: 1000,
            base_fee_per_gas: Some(1),
            ..Default::default()
        };
        let block = Block::new(header.clone(), signed_txs());
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encoded_len());
        let decoded = Block::decode(&bytes).expect("decode");
        assert_eq!(decoded, block);
        assert_eq!(decoded.hash(), header.hash_slow());
        assert_eq!(decoded.number(), 7);
    }

    #[test]
    fn rejects_garbage_trailing_and_truncated() {
        let block = Block::new(Header::default(), signed_txs());
        let bytes = block.encode();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Block::decode(&trailing).is_err());
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(Block::decode(&[0xde, 0xad, 0xbe, 0xef]).is_err());
        assert!(Block::decode(&[]).is_err());
    }
}
