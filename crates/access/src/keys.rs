//! Encryption key pairs (X25519), used to open envelopes and to compute locators.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, Serializable};

use crate::Error;

/// An account's X25519 encryption key pair. The public half is published in the key registry.
#[derive(Clone)]
pub struct EncryptionKeyPair {
    secret: [u8; 32],
    public: [u8; 32],
}

impl std::fmt::Debug for EncryptionKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptionKeyPair(public 0x{})",
            hex::encode(self.public)
        )
    }
}

impl EncryptionKeyPair {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        Self::from_secret_bytes(rand::random())
    }

    /// The key pair of a 32-byte secret (clamped as X25519 requires).
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
        Self {
            secret,
            public: public.to_bytes(),
        }
    }

    /// The public key, as published in the key registry.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }

    /// The X25519 shared secret with `their_public`.
    pub(crate) fn diffie_hellman(&self, their_public: &[u8; 32]) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(self.secret);
        secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their_public))
            .to_bytes()
    }

    /// The secret as HPKE's private key type.
    pub(crate) fn hpke_private(&self) -> Result<<X25519HkdfSha256 as Kem>::PrivateKey, Error> {
        <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&self.secret)
            .map_err(|e| Error::Crypto(format!("bad X25519 secret: {e}")))
    }

    /// Check that HPKE derives the same public key (a self-test of the two libraries' agreement).
    pub fn check(&self) -> Result<(), Error> {
        let private = self.hpke_private()?;
        let public = <X25519HkdfSha256 as Kem>::sk_to_pk(&private);
        if public.to_bytes().as_slice() != self.public {
            return Err(Error::Crypto(
                "HPKE and X25519 disagree on the public key".into(),
            ));
        }
        Ok(())
    }
}
