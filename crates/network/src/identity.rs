//! Node identities: an ed25519 key pair whose public half is the node's transport id.

use std::fmt;
use std::str::FromStr;

use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};
use commonware_cryptography::{Signer as _, Verifier as _};

/// A node's transport id: its ed25519 public key. Written `0x` + 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.trim().strip_prefix("0x").unwrap_or(s.trim());
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out)
            .map_err(|_| format!("a node id is 0x followed by 64 hex digits, got {s:?}"))?;
        Ok(Self(out))
    }
}

impl NodeId {
    /// Whether `signature` is this node's signature over `message` in `namespace`.
    pub fn verify(&self, namespace: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let Ok(key) = PublicKey::decode(self.0.to_vec()) else {
            return false;
        };
        let Ok(signature) = Signature::decode(signature.to_vec()) else {
            return false;
        };
        key.verify(namespace, message, &signature)
    }
}

/// A node's signing key.
#[derive(Clone)]
pub struct NodeKey {
    key: PrivateKey,
    id: NodeId,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey").field("id", &self.id).finish()
    }
}

impl NodeKey {
    /// The key with this ed25519 seed (a node's key file holds it).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // Any 32 bytes are a valid ed25519 seed.
        let key = PrivateKey::decode(seed.to_vec())
            .unwrap_or_else(|_| unreachable!("a 32-byte seed always decodes"));
        Self::from_private(key)
    }

    /// The key wrapping a consensus private key.
    pub fn from_private(key: PrivateKey) -> Self {
        let mut id = [0u8; 32];
        id.copy_from_slice(key.public_key().as_ref());
        Self {
            key,
            id: NodeId(id),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Sign `message` in `namespace` (64 bytes).
    pub fn sign(&self, namespace: &[u8], message: &[u8]) -> [u8; 64] {
        let signature = self.key.sign(namespace, message);
        let mut out = [0u8; 64];
        out.copy_from_slice(signature.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_namespace_and_message() {
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        let sig = a.sign(b"ns", b"hello");
        assert!(a.id().verify(b"ns", b"hello", &sig));
        assert!(!b.id().verify(b"ns", b"hello", &sig));
        assert!(!a.id().verify(b"other", b"hello", &sig));
        assert!(!a.id().verify(b"ns", b"hellO", &sig));
        assert!(!a.id().verify(b"ns", b"hello", &sig[..63]));
    }

    #[test]
    fn ids_round_trip_through_text() {
        let id = NodeKey::from_seed([7; 32]).id();
        assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        assert!("0x12".parse::<NodeId>().is_err());
    }
}
