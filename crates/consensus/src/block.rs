//! The block as commonware sees it: a [`lightstreams_primitives::Block`] with a codec and digest.

use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write, varint::UInt,
};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::Digestible;
use lightstreams_primitives::{B256, Block, constants::MAX_BLOCK_SIZE};

/// The 32-byte digest consensus votes on: the block hash (Keccak-256 of the RLP header).
pub type Digest = commonware_cryptography::sha256::Digest;

/// Largest encoded block consensus accepts (the chain-wide [`MAX_BLOCK_SIZE`]).
pub const MAX_CONSENSUS_BLOCK_SIZE: usize = MAX_BLOCK_SIZE;

/// Convert a block hash into the consensus digest (same bytes).
pub fn digest_of(hash: B256) -> Digest {
    commonware_cryptography::sha256::Digest(hash.0)
}

/// Convert a consensus digest back into a block hash (same bytes).
pub fn hash_of(digest: &Digest) -> B256 {
    B256::from(digest.0)
}

/// A Lightstreams block wrapped for commonware.
///
/// The wire/storage encoding is `varint(len) || Block::encode()`, so it is self-delimiting inside
/// larger commonware messages, and canonical (the RLP is canonical, the varint is minimal). The
/// digest is the block hash, which covers the whole header (including `transactions_root`), so
/// it commits to the transactions too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock(Block);

impl ConsensusBlock {
    /// Wrap a block.
    pub fn new(block: Block) -> Self {
        Self(block)
    }

    /// The wrapped block.
    pub fn inner(&self) -> &Block {
        &self.0
    }

    /// Unwrap.
    pub fn into_inner(self) -> Block {
        self.0
    }
}

impl From<Block> for ConsensusBlock {
    fn from(block: Block) -> Self {
        Self(block)
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        let bytes = self.0.encode();
        // Blocks over u32::MAX bytes cannot exist: `Block::decode` caps them at MAX_BLOCK_SIZE.
        UInt(bytes.len() as u32).write(buf);
        buf.put_slice(&bytes);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        let len = self.0.encoded_len();
        UInt(len as u32).encode_size() + len
    }
}

impl Read for ConsensusBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len = UInt::<u32>::read(buf)?.0 as usize;
        if len > MAX_CONSENSUS_BLOCK_SIZE {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut bytes = vec![0u8; len];
        buf.copy_to_slice(&mut bytes);
        Block::decode(&bytes)
            .map(Self)
            .map_err(|e| CodecError::Wrapped("ConsensusBlock", Box::new(e)))
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        digest_of(self.0.hash())
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.0.number())
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        digest_of(self.0.parent_hash())
    }
}

impl commonware_consensus::BoundedBlock for ConsensusBlock {
    fn max_encode_size(_: &()) -> usize {
        UInt(MAX_CONSENSUS_BLOCK_SIZE as u32).encode_size() + MAX_CONSENSUS_BLOCK_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use lightstreams_primitives::Header;

    #[test]
    fn codec_roundtrip_and_digest() {
        let header = Header {
            number: 7,
            parent_hash: B256::repeat_byte(1),
            ..Default::default()
        };
        let block = ConsensusBlock::new(Block::new(header, vec![]));
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let back = ConsensusBlock::decode(bytes.clone()).expect("decodes");
        assert_eq!(back, block);
        assert_eq!(back.digest().0, block.inner().hash().0);
        assert_eq!(back.height(), Height::new(7));
        // Trailing bytes and truncation are rejected.
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(ConsensusBlock::decode(long).is_err());
        assert!(ConsensusBlock::decode(bytes[..bytes.len() - 1].to_vec()).is_err());
        // A length prefix over the limit is rejected before allocating.
        let huge = UInt((MAX_CONSENSUS_BLOCK_SIZE + 1) as u32).encode();
        assert!(ConsensusBlock::decode(huge).is_err());
    }
}
