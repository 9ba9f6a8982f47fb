//! Envelopes (a content key sealed to one reader with HPKE) and their locators.
//!
//! # Design
//! An envelope is HPKE base mode (RFC 9180: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305) sealing `K(item, epoch)` to the reader's registered key, with
//! `info = "lightstreams envelope v1" || item || epoch_le`: an envelope moved to another item or
//! epoch does not open. Bytes: the 32-byte encapsulated key, then ciphertext and tag.
//!
//! A locator is a BLAKE3 keyed hash of `item || epoch_le` under a key derived from the X25519
//! secret shared by the wrapper and the reader. Only those two can compute it, so the node
//! storing envelopes cannot tell whose they are.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

use crate::Error;
use crate::keys::EncryptionKeyPair;

const INFO: &[u8] = b"lightstreams envelope v1";
const LOCATOR_CONTEXT: &str = "lightstreams envelope locator v1";
/// Encapsulated key + 32-byte content key + tag.
pub const ENVELOPE_LEN: usize = 32 + 32 + 16;

fn info(item: &[u8; 32], epoch: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(INFO.len() + 40);
    out.extend_from_slice(INFO);
    out.extend_from_slice(item);
    out.extend_from_slice(&epoch.to_le_bytes());
    out
}

/// Seal `content_key` to `reader_public`, for `item` at `epoch`.
pub fn seal_envelope(
    reader_public: &[u8; 32],
    item: &[u8; 32],
    epoch: u64,
    content_key: &[u8; 32],
) -> Result<Vec<u8>, Error> {
    let public = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(reader_public)
        .map_err(|e| Error::Crypto(format!("the reader's encryption key is invalid: {e}")))?;
    let (encapped, ciphertext) =
        hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
            &OpModeS::Base,
            &public,
            &info(item, epoch),
            content_key,
            &[],
        )
        .map_err(|e| Error::Crypto(format!("cannot seal envelope: {e}")))?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Open an envelope sealed to `reader` for `item` at `epoch`.
pub fn open_envelope(
    reader: &EncryptionKeyPair,
    item: &[u8; 32],
    epoch: u64,
    envelope: &[u8],
) -> Result<[u8; 32], Error> {
    if envelope.len() != ENVELOPE_LEN {
        return Err(Error::Crypto(format!(
            "an envelope is {ENVELOPE_LEN} bytes, got {}",
            envelope.len()
        )));
    }
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&envelope[..32])
        .map_err(|e| Error::Crypto(format!("malformed envelope: {e}")))?;
    let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &reader.hpke_private()?,
        &encapped,
        &info(item, epoch),
        &envelope[32..],
        &[],
    )
    .map_err(|_| {
        Error::Crypto("the envelope does not open with this key (not ours, or tampered)".into())
    })?;
    <[u8; 32]>::try_from(plain.as_slice())
        .map_err(|_| Error::Crypto("the envelope does not hold a 32-byte key".into()))
}

/// The locator of the envelope between `mine` and `their_public` for `item` at `epoch`. The
/// wrapper computes it with its key and the reader's public key; the reader with its key and
/// the wrapper's public key; both get the same value.
pub fn locator(
    mine: &EncryptionKeyPair,
    their_public: &[u8; 32],
    item: &[u8; 32],
    epoch: u64,
) -> [u8; 32] {
    let shared = mine.diffie_hellman(their_public);
    let key = blake3::derive_key(LOCATOR_CONTEXT, &shared);
    let mut hasher = blake3::Hasher::new_keyed(&key);
    hasher.update(item);
    hasher.update(&epoch.to_le_bytes());
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envelope_round_trip_and_refusals() {
        let reader = EncryptionKeyPair::generate();
        reader.check().unwrap();
        let other = EncryptionKeyPair::generate();
        let item = [7u8; 32];
        let key = [9u8; 32];
        let env = seal_envelope(&reader.public_bytes(), &item, 3, &key).unwrap();
        assert_eq!(env.len(), ENVELOPE_LEN);
        assert_eq!(open_envelope(&reader, &item, 3, &env).unwrap(), key);
        assert!(open_envelope(&other, &item, 3, &env).is_err());
        assert!(open_envelope(&reader, &item, 4, &env).is_err());
        assert!(open_envelope(&reader, &[8u8; 32], 3, &env).is_err());
        let mut bad = env.clone();
        bad[50] ^= 1;
        assert!(open_envelope(&reader, &item, 3, &bad).is_err());
        for len in [0, 1, 31, 32, 79, 81, 500] {
            assert!(open_envelope(&reader, &item, 3, &vec![0u8; len]).is_err());
        }
        assert!(open_envelope(&reader, &item, 3, &[0u8; ENVELOPE_LEN]).is_err());
    }

    #[test]
    fn locators_agree_only_between_the_pair() {
        let wrapper = EncryptionKeyPair::generate();
        let reader = EncryptionKeyPair::generate();
        let stranger = EncryptionKeyPair::generate();
        let item = [1u8; 32];
        let a = locator(&wrapper, &reader.public_bytes(), &item, 0);
        assert_eq!(a, locator(&reader, &wrapper.public_bytes(), &item, 0));
        assert_ne!(a, locator(&stranger, &wrapper.public_bytes(), &item, 0));
        assert_ne!(a, locator(&wrapper, &reader.public_bytes(), &item, 1));
        assert_ne!(a, locator(&wrapper, &reader.public_bytes(), &[2u8; 32], 0));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any key sealed for any item and epoch opens to itself for its reader, and only for
        /// that item and epoch.
        #[test]
        fn any_key_round_trips_for_its_item_and_epoch(
            key: [u8; 32],
            item: [u8; 32],
            epoch: u64,
            other_epoch: u64,
        ) {
            let reader = EncryptionKeyPair::from_secret_bytes([7; 32]);
            let env = seal_envelope(&reader.public_bytes(), &item, epoch, &key).unwrap();
            proptest::prop_assert_eq!(open_envelope(&reader, &item, epoch, &env).unwrap(), key);
            if other_epoch != epoch {
                proptest::prop_assert!(open_envelope(&reader, &item, other_epoch, &env).is_err());
            }
        }

        /// Bytes that are not an envelope sealed to this reader never open (never a panic), and
        /// an envelope with any byte changed does not open either.
        #[test]
        fn anything_else_is_refused(
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            at in 0..ENVELOPE_LEN,
            flip in 1u8..=255,
        ) {
            let reader = EncryptionKeyPair::from_secret_bytes([7; 32]);
            let item = [1u8; 32];
            proptest::prop_assert!(open_envelope(&reader, &item, 0, &garbage).is_err());
            let mut env = seal_envelope(&reader.public_bytes(), &item, 0, &[3; 32]).unwrap();
            env[at] ^= flip;
            proptest::prop_assert!(open_envelope(&reader, &item, 0, &env).is_err(), "byte {} changed", at);
        }
    }
}
