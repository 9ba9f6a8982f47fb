//! Threshold key custody: a content key made recoverable by any `t` of `n` key keepers, so that
//! a creator can sell while offline.
//!
//! # Design
//! To put `K(item, epoch)` in custody, the creator:
//! 1. draws a uniformly random scalar `s` of the Curve25519 scalar field;
//! 2. splits `s` with Shamir's scheme (`vsss-rs`), `t` of `n`, keeper `i` (0-based) getting the
//!    point at `x = i + 1`;
//! 3. derives `k = BLAKE3-derive_key("lightstreams custody v1 key", s || item || epoch_le)` and
//!    seals `K` under `k` with ChaCha20-Poly1305 (`ring`), `AAD = item || epoch_le`, giving the
//!    public `sealed_key` (a fresh `k` per record, so the zero nonce is used once);
//! 4. HPKE-seals each share value to its keeper (the suite of [`crate::envelope`]) with
//!    `info = "lightstreams custody share v1" || item || epoch_le || index_le || record_id`,
//!    where `record_id` is a digest of the record's item, epoch, threshold and `sealed_key`.
//!
//! A keeper re-wraps its share to a buyer with
//! `info = "lightstreams custody release v1" || item || epoch_le || index_le || record_id ||
//! buyer_public`. Any `t` distinct shares interpolate `s` back; the AEAD on `sealed_key` makes
//! sure a wrong `s` (shares of another record, corrupt shares) is an error, never a wrong key.
//!
//! With `t = 1` the polynomial is the constant `s` (every keeper holds `s` itself); `vsss-rs`
//! refuses thresholds below 2, so that case is handled here directly.

use curve25519_dalek::scalar::Scalar;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use lightstreams_vault::ContentKey;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use vsss_rs::{DefaultShare, IdentifierPrimeField, ReadableShareSet};

use crate::Error;
use crate::keys::EncryptionKeyPair;

const KEY_CONTEXT: &str = "lightstreams custody v1 key";
const RECORD_CONTEXT: &str = "lightstreams custody v1 record";
const SHARE_INFO: &[u8] = b"lightstreams custody share v1";
const RELEASE_INFO: &[u8] = b"lightstreams custody release v1";
/// Length of a sealed key: the 32-byte content key and the 16-byte tag.
pub const SEALED_KEY_LEN: usize = 32 + 16;
/// Length of a wrapped or released share: encapsulated key, 32-byte share value, tag.
pub const WRAPPED_SHARE_LEN: usize = 32 + 32 + 16;

type VsssShare = DefaultShare<IdentifierPrimeField<Scalar>, IdentifierPrimeField<Scalar>>;

/// ⌊2n/3⌋ + 1, the default threshold for n keepers (n >= 1).
pub fn default_threshold(n: usize) -> usize {
    2 * n / 3 + 1
}

/// One keeper as a creator knows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Keeper {
    /// The keeper node's identifier.
    pub node_id: String,
    /// Where the keeper's API is reached.
    pub url: String,
    /// The keeper's X25519 encryption key, to which its share is wrapped (`0x`-hex in JSON).
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
}

/// The public part of one item-epoch's custody: anyone may see it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CustodyRecord {
    /// The item (`0x`-hex in JSON).
    #[serde(with = "hex32")]
    pub item: [u8; 32],
    /// The key epoch.
    pub epoch: u64,
    /// How many distinct shares rebuild the key.
    pub threshold: u32,
    /// The keepers, in share order: keeper `i` holds the share at `x = i + 1`.
    pub keepers: Vec<Keeper>,
    /// The content key sealed under the key derived from the shared secret (`0x`-hex in JSON).
    #[serde(with = "hex_vec")]
    pub sealed_key: Vec<u8>,
}

impl CustodyRecord {
    /// The digest every share of this record is bound to.
    fn id(&self) -> [u8; 32] {
        let mut material = Vec::with_capacity(44 + self.sealed_key.len());
        material.extend_from_slice(&self.item);
        material.extend_from_slice(&self.epoch.to_le_bytes());
        material.extend_from_slice(&self.threshold.to_le_bytes());
        material.extend_from_slice(&self.sealed_key);
        blake3::derive_key(RECORD_CONTEXT, &material)
    }

    /// The keeper at `index`, or an error naming the bounds.
    fn keeper(&self, index: u32) -> Result<&Keeper, Error> {
        self.keepers.get(index as usize).ok_or_else(|| {
            Error::Crypto(format!(
                "keeper index {index} is outside the record's {} keepers",
                self.keepers.len()
            ))
        })
    }
}

/// A keeper's plaintext share (x-coordinate and value) of one custody record. It leaves this
/// module only HPKE-wrapped ([`split`], [`release`]); its `Debug` does not print the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    index: u32,
    value: Scalar,
    record: [u8; 32],
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Share(keeper {}, record 0x{}, ..)",
            self.index,
            hex::encode(self.record)
        )
    }
}

impl Share {
    /// The keeper index (0-based position in the record's keepers); the share's
    /// x-coordinate is `index + 1`.
    pub fn index(&self) -> u32 {
        self.index
    }
}

fn share_info(record: &CustodyRecord, index: u32, buyer: Option<&[u8; 32]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(RELEASE_INFO.len() + 108);
    out.extend_from_slice(if buyer.is_some() {
        RELEASE_INFO
    } else {
        SHARE_INFO
    });
    out.extend_from_slice(&record.item);
    out.extend_from_slice(&record.epoch.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&record.id());
    if let Some(buyer) = buyer {
        out.extend_from_slice(buyer);
    }
    out
}

fn aead_key(secret: &Scalar, item: &[u8; 32], epoch: u64) -> Result<LessSafeKey, Error> {
    let mut material = Vec::with_capacity(72);
    material.extend_from_slice(&secret.to_bytes());
    material.extend_from_slice(item);
    material.extend_from_slice(&epoch.to_le_bytes());
    let key = blake3::derive_key(KEY_CONTEXT, &material);
    let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key)
        .map_err(|_| Error::Crypto("cannot build the custody AEAD key".into()))?;
    Ok(LessSafeKey::new(unbound))
}

fn aad(item: &[u8; 32], epoch: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(item);
    out[32..].copy_from_slice(&epoch.to_le_bytes());
    out
}

/// HPKE-seal a share value to `recipient` under `info`.
fn wrap(recipient: &[u8; 32], info: &[u8], value: &Scalar, whom: &str) -> Result<Vec<u8>, Error> {
    let public = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient)
        .map_err(|e| Error::Crypto(format!("the {whom}'s encryption key is invalid: {e}")))?;
    let (encapped, ciphertext) = hpke::single_shot_seal::<
        ChaCha20Poly1305,
        HkdfSha256,
        X25519HkdfSha256,
    >(&OpModeS::Base, &public, info, &value.to_bytes(), &[])
    .map_err(|e| Error::Crypto(format!("cannot wrap the share to the {whom}: {e}")))?;
    let mut out = encapped.to_bytes().to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Open a share value HPKE-sealed to `me` under `info`.
fn unwrap(
    me: &EncryptionKeyPair,
    info: &[u8],
    wrapped: &[u8],
    what: &str,
) -> Result<Scalar, Error> {
    if wrapped.len() != WRAPPED_SHARE_LEN {
        return Err(Error::Crypto(format!(
            "a {what} is {WRAPPED_SHARE_LEN} bytes, got {}",
            wrapped.len()
        )));
    }
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&wrapped[..32])
        .map_err(|e| Error::Crypto(format!("malformed {what}: {e}")))?;
    let plain = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &me.hpke_private()?,
        &encapped,
        info,
        &wrapped[32..],
        &[],
    )
    .map_err(|_| {
        Error::Crypto(format!(
            "the {what} does not open with this key for this record and keeper index \
             (not ours, for another record, or tampered)"
        ))
    })?;
    let bytes = <[u8; 32]>::try_from(plain.as_slice())
        .map_err(|_| Error::Crypto(format!("the {what} does not hold a 32-byte share")))?;
    Option::from(Scalar::from_canonical_bytes(bytes))
        .ok_or_else(|| Error::Crypto(format!("the {what} holds a non-canonical scalar")))
}

/// The Shamir x-coordinate of keeper `index`.
fn x_of(index: u32) -> IdentifierPrimeField<Scalar> {
    IdentifierPrimeField(Scalar::from(u64::from(index) + 1))
}

/// Split K among `keepers` (n >= 1, 1 <= threshold <= n, else Err naming the bounds): returns
/// the record and one HPKE-wrapped share per keeper, in keeper order.
pub fn split(
    key: &ContentKey,
    item: [u8; 32],
    epoch: u64,
    keepers: Vec<Keeper>,
    threshold: usize,
) -> Result<(CustodyRecord, Vec<Vec<u8>>), Error> {
    let n = keepers.len();
    if n == 0 {
        return Err(Error::Crypto(
            "custody needs at least 1 keeper, got 0".into(),
        ));
    }
    if threshold < 1 || threshold > n {
        return Err(Error::Crypto(format!(
            "the threshold must be between 1 and the number of keepers ({n}), got {threshold}"
        )));
    }
    let n32 = u32::try_from(n)
        .map_err(|_| Error::Crypto(format!("too many keepers ({n}); at most {}", u32::MAX)))?;
    // `threshold <= n <= u32::MAX` here.
    let threshold32 = u32::try_from(threshold)
        .map_err(|_| Error::Crypto(format!("threshold {threshold} does not fit in 32 bits")))?;

    let mut rng = hpke::rand_core::UnwrapErr(getrandom::SysRng);
    let secret = Scalar::random(&mut rng);

    let values: Vec<Scalar> = if threshold == 1 {
        vec![secret; n]
    } else {
        let shares = vsss_rs::shamir::split_secret_with_ids::<VsssShare>(
            threshold,
            n,
            &IdentifierPrimeField(secret),
            &mut rng,
            (0..n32).map(x_of),
        )
        .map_err(|e| Error::Crypto(format!("cannot split the custody secret: {e:?}")))?;
        if shares.len() != n {
            return Err(Error::Crypto(format!(
                "the secret split gave {} shares for {n} keepers",
                shares.len()
            )));
        }
        let mut values = Vec::with_capacity(n);
        for (index, share) in (0..n32).zip(&shares) {
            if share.identifier != x_of(index) {
                return Err(Error::Crypto(format!(
                    "the secret split put keeper {index}'s share at the wrong x-coordinate"
                )));
            }
            values.push(share.value.0);
        }
        values
    };

    let mut sealed_key = key.as_bytes().to_vec();
    aead_key(&secret, &item, epoch)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(aad(&item, epoch)),
            &mut sealed_key,
        )
        .map_err(|_| Error::Crypto("cannot seal the content key for custody".into()))?;

    let record = CustodyRecord {
        item,
        epoch,
        threshold: threshold32,
        keepers,
        sealed_key,
    };
    let mut wrapped = Vec::with_capacity(n);
    for ((index, keeper), value) in (0..n32).zip(&record.keepers).zip(&values) {
        wrapped.push(wrap(
            &keeper.public_key,
            &share_info(&record, index, None),
            value,
            &format!("keeper {index} ({})", keeper.node_id),
        )?);
    }
    Ok((record, wrapped))
}

/// A keeper opens the share wrapped to it (keeper `index` in the record).
pub fn open_share(
    keeper: &EncryptionKeyPair,
    record: &CustodyRecord,
    index: u32,
    wrapped: &[u8],
) -> Result<Share, Error> {
    let named = record.keeper(index)?;
    if named.public_key != keeper.public_bytes() {
        return Err(Error::Crypto(format!(
            "keeper {index} of the record has key 0x{}, not this key 0x{}",
            hex::encode(named.public_key),
            hex::encode(keeper.public_bytes())
        )));
    }
    let value = unwrap(
        keeper,
        &share_info(record, index, None),
        wrapped,
        "wrapped share",
    )?;
    Ok(Share {
        index,
        value,
        record: record.id(),
    })
}

/// A keeper re-wraps its share to a buyer's X25519 public key (info binds item, epoch, index,
/// and the buyer key).
pub fn release(
    share: &Share,
    record: &CustodyRecord,
    buyer_public: &[u8; 32],
) -> Result<Vec<u8>, Error> {
    record.keeper(share.index)?;
    if share.record != record.id() {
        return Err(Error::Crypto(format!(
            "keeper {}'s share belongs to another custody record than item 0x{} epoch {}",
            share.index,
            hex::encode(record.item),
            record.epoch
        )));
    }
    wrap(
        buyer_public,
        &share_info(record, share.index, Some(buyer_public)),
        &share.value,
        "buyer",
    )
}

/// The buyer opens a released share from keeper `index`.
pub fn open_released(
    buyer: &EncryptionKeyPair,
    record: &CustodyRecord,
    index: u32,
    released: &[u8],
) -> Result<Share, Error> {
    record.keeper(index)?;
    let value = unwrap(
        buyer,
        &share_info(record, index, Some(&buyer.public_bytes())),
        released,
        "released share",
    )?;
    Ok(Share {
        index,
        value,
        record: record.id(),
    })
}

/// Any `threshold` distinct shares give K back; fewer, duplicates, or shares of another record
/// give a clear Err (never a wrong key silently: the AEAD on sealed_key fails).
pub fn combine(record: &CustodyRecord, shares: &[Share]) -> Result<ContentKey, Error> {
    let threshold = record.threshold as usize;
    if threshold < 1 || threshold > record.keepers.len() {
        return Err(Error::Crypto(format!(
            "the record's threshold {threshold} is not between 1 and its {} keepers",
            record.keepers.len()
        )));
    }
    if record.sealed_key.len() != SEALED_KEY_LEN {
        return Err(Error::Crypto(format!(
            "a sealed key is {SEALED_KEY_LEN} bytes, the record's is {}",
            record.sealed_key.len()
        )));
    }
    let id = record.id();
    let mut seen = vec![false; record.keepers.len()];
    for share in shares {
        record.keeper(share.index)?;
        if share.record != id {
            return Err(Error::Crypto(format!(
                "keeper {}'s share belongs to another custody record than item 0x{} epoch {}",
                share.index,
                hex::encode(record.item),
                record.epoch
            )));
        }
        let slot = &mut seen[share.index as usize];
        if *slot {
            return Err(Error::Crypto(format!(
                "keeper {}'s share is given more than once",
                share.index
            )));
        }
        *slot = true;
    }
    if shares.len() < threshold {
        return Err(Error::Crypto(format!(
            "{threshold} distinct shares are needed to rebuild the key, got {}",
            shares.len()
        )));
    }

    let secret = if threshold == 1 {
        // A constant polynomial: every share is the secret. Using all given shares would
        // interpolate a higher degree, so take the first.
        shares[0].value
    } else {
        let points: Vec<VsssShare> = shares
            .iter()
            .map(|share| VsssShare {
                identifier: x_of(share.index),
                value: IdentifierPrimeField(share.value),
            })
            .collect();
        points
            .combine()
            .map_err(|e| Error::Crypto(format!("cannot interpolate the shares: {e:?}")))?
            .0
    };

    let mut buffer = record.sealed_key.clone();
    let plain = aead_key(&secret, &record.item, record.epoch)?
        .open_in_place(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(aad(&record.item, record.epoch)),
            &mut buffer,
        )
        .map_err(|_| {
            Error::Crypto(
                "the shares do not open the record's sealed key (shares of another record, \
                 corrupt shares, or a tampered record)"
                    .into(),
            )
        })?;
    let bytes = <[u8; 32]>::try_from(&*plain)
        .map_err(|_| Error::Crypto("the sealed key does not hold a 32-byte key".into()))?;
    Ok(ContentKey::from_bytes(bytes))
}

/// `0x`-hex serde for 32-byte arrays.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(&text))
            .map_err(serde::de::Error::custom)?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            serde::de::Error::custom(format!("expected 32 bytes of hex, got {}", bytes.len()))
        })
    }
}

/// `0x`-hex serde for byte vectors.
mod hex_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text.strip_prefix("0x").unwrap_or(&text)).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keepers(n: usize) -> (Vec<EncryptionKeyPair>, Vec<Keeper>) {
        let pairs: Vec<_> = (0..n).map(|_| EncryptionKeyPair::generate()).collect();
        let keepers = pairs
            .iter()
            .enumerate()
            .map(|(i, pair)| Keeper {
                node_id: format!("node-{i}"),
                url: format!("http://keeper{i}.example"),
                public_key: pair.public_bytes(),
            })
            .collect();
        (pairs, keepers)
    }

    /// Split, let every keeper open its share and release it to `buyer`, and the buyer open
    /// them all.
    fn setup(
        n: usize,
        t: usize,
        epoch: u64,
        buyer: &EncryptionKeyPair,
    ) -> (ContentKey, CustodyRecord, Vec<Share>) {
        let (pairs, keepers) = keepers(n);
        let key = ContentKey::random();
        let (record, wrapped) = split(&key, [5u8; 32], epoch, keepers, t).unwrap();
        assert_eq!(record.threshold as usize, t);
        assert_eq!(record.sealed_key.len(), SEALED_KEY_LEN);
        assert_eq!(wrapped.len(), n);
        let mut shares = Vec::new();
        for (i, (pair, w)) in pairs.iter().zip(&wrapped).enumerate() {
            assert_eq!(w.len(), WRAPPED_SHARE_LEN);
            let index = i as u32;
            let share = open_share(pair, &record, index, w).unwrap();
            assert_eq!(share.index(), index);
            let released = release(&share, &record, &buyer.public_bytes()).unwrap();
            let got = open_released(buyer, &record, index, &released).unwrap();
            assert_eq!(got, share);
            shares.push(got);
        }
        (key, record, shares)
    }

    #[test]
    fn every_three_of_four_recover_the_key() {
        let buyer = EncryptionKeyPair::generate();
        let (key, record, shares) = setup(4, 3, 0, &buyer);
        for skip in 0..4 {
            let subset: Vec<Share> = (0..4)
                .filter(|&i| i != skip)
                .map(|i| shares[i].clone())
                .collect();
            assert_eq!(combine(&record, &subset).unwrap(), key);
            let mut reversed = subset.clone();
            reversed.reverse();
            assert_eq!(combine(&record, &reversed).unwrap(), key);
        }
        assert_eq!(combine(&record, &shares).unwrap(), key);
    }

    #[test]
    fn too_few_or_duplicate_shares_are_refused() {
        let buyer = EncryptionKeyPair::generate();
        let (_, record, shares) = setup(4, 3, 0, &buyer);
        let err = combine(&record, &shares[..2]).unwrap_err().to_string();
        assert!(err.contains("3 distinct shares"), "{err}");
        assert!(combine(&record, &[]).is_err());
        let dup = [shares[0].clone(), shares[1].clone(), shares[1].clone()];
        let err = combine(&record, &dup).unwrap_err().to_string();
        assert!(err.contains("more than once"), "{err}");
    }

    #[test]
    fn a_released_share_opens_only_for_its_buyer() {
        let (pairs, keepers) = keepers(3);
        let (record, wrapped) = split(&ContentKey::random(), [1u8; 32], 0, keepers, 2).unwrap();
        let share = open_share(&pairs[0], &record, 0, &wrapped[0]).unwrap();
        let (a, b) = (EncryptionKeyPair::generate(), EncryptionKeyPair::generate());
        let released = release(&share, &record, &a.public_bytes()).unwrap();
        assert!(open_released(&a, &record, 0, &released).is_ok());
        assert!(open_released(&b, &record, 0, &released).is_err());
        // Nor as another keeper's share.
        assert!(open_released(&a, &record, 1, &released).is_err());
        let mut bad = released.clone();
        bad[40] ^= 1;
        assert!(open_released(&a, &record, 0, &bad).is_err());
        assert!(open_released(&a, &record, 0, &released[..50]).is_err());
        assert!(open_released(&a, &record, 9, &released).is_err());
    }

    #[test]
    fn shares_of_another_epoch_do_not_combine() {
        let buyer = EncryptionKeyPair::generate();
        let (pairs, keepers) = keepers(4);
        let (r1, w1) = split(&ContentKey::random(), [5u8; 32], 1, keepers.clone(), 3).unwrap();
        let (r2, w2) = split(&ContentKey::random(), [5u8; 32], 2, keepers, 3).unwrap();
        let s1: Vec<Share> = (0..3)
            .map(|i| open_share(&pairs[i], &r1, i as u32, &w1[i]).unwrap())
            .collect();
        let err = combine(&r2, &s1).unwrap_err().to_string();
        assert!(err.contains("another custody record"), "{err}");
        // Mixed with shares of epoch 2.
        let s2 = open_share(&pairs[3], &r2, 3, &w2[3]).unwrap();
        assert!(combine(&r2, &[s1[0].clone(), s1[1].clone(), s2]).is_err());
        // A wrapped share of epoch 1 does not open as one of epoch 2, nor released for it.
        assert!(open_share(&pairs[0], &r2, 0, &w1[0]).is_err());
        assert!(release(&s1[0], &r2, &buyer.public_bytes()).is_err());
    }

    #[test]
    fn a_wrapped_share_opens_only_with_its_keepers_key() {
        let (pairs, keepers) = keepers(3);
        let (record, wrapped) = split(&ContentKey::random(), [1u8; 32], 0, keepers, 2).unwrap();
        let stranger = EncryptionKeyPair::generate();
        assert!(open_share(&pairs[1], &record, 0, &wrapped[0]).is_err());
        assert!(open_share(&stranger, &record, 0, &wrapped[0]).is_err());
        // Keeper 1's own key on keeper 0's wrap under its own index.
        assert!(open_share(&pairs[1], &record, 1, &wrapped[0]).is_err());
        assert!(open_share(&pairs[0], &record, 3, &wrapped[0]).is_err());
        assert!(open_share(&pairs[0], &record, 0, &wrapped[0][..10]).is_err());
        assert!(open_share(&pairs[0], &record, 0, &wrapped[0]).is_ok());
    }

    #[test]
    fn a_tampered_record_fails() {
        let buyer = EncryptionKeyPair::generate();
        let (key, record, shares) = setup(4, 3, 7, &buyer);
        let mut tampered = record.clone();
        tampered.sealed_key[3] ^= 1;
        assert!(combine(&tampered, &shares[..3]).is_err());
        // Shares whose binding is forged to the tampered record still fail on the AEAD.
        let forged: Vec<Share> = shares[..3]
            .iter()
            .map(|s| Share {
                record: tampered.id(),
                ..s.clone()
            })
            .collect();
        let err = combine(&tampered, &forged).unwrap_err().to_string();
        assert!(err.contains("do not open the record's sealed key"), "{err}");
        // A corrupt share value too.
        let mut corrupt = shares[..3].to_vec();
        corrupt[0].value += Scalar::ONE;
        assert!(combine(&record, &corrupt).is_err());
        assert_eq!(combine(&record, &shares[1..]).unwrap(), key);
    }

    #[test]
    fn record_json_round_trips() {
        let (_, keepers) = keepers(2);
        let (record, _) = split(&ContentKey::random(), [0xabu8; 32], 9, keepers, 2).unwrap();
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(&format!("\"0x{}\"", hex::encode([0xabu8; 32]))));
        assert!(json.contains(&format!("\"0x{}\"", hex::encode(&record.sealed_key))));
        assert!(json.contains(&format!(
            "\"0x{}\"",
            hex::encode(record.keepers[0].public_key)
        )));
        let back: CustodyRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.id(), record.id());
        let bad = json.replace(&hex::encode([0xabu8; 32]), "abab");
        assert!(serde_json::from_str::<CustodyRecord>(&bad).is_err());
    }

    #[test]
    fn default_thresholds() {
        assert_eq!(default_threshold(1), 1);
        assert_eq!(default_threshold(2), 2);
        assert_eq!(default_threshold(3), 3);
        assert_eq!(default_threshold(4), 3);
        assert_eq!(default_threshold(7), 5);
        assert_eq!(default_threshold(10), 7);
    }

    #[test]
    fn one_of_one_and_one_of_three_work() {
        let buyer = EncryptionKeyPair::generate();
        let (key, record, shares) = setup(1, 1, 0, &buyer);
        assert_eq!(combine(&record, &shares).unwrap(), key);
        assert!(combine(&record, &[]).is_err());
        let (key, record, shares) = setup(3, 1, 0, &buyer);
        for share in &shares {
            assert_eq!(combine(&record, std::slice::from_ref(share)).unwrap(), key);
        }
        assert_eq!(combine(&record, &shares).unwrap(), key);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let (_, keepers3) = keepers(3);
        let key = ContentKey::random();
        let err = split(&key, [0u8; 32], 0, Vec::new(), 1).unwrap_err();
        assert!(err.to_string().contains("at least 1 keeper"), "{err}");
        for t in [0, 4] {
            let err = split(&key, [0u8; 32], 0, keepers3.clone(), t).unwrap_err();
            assert!(err.to_string().contains("between 1 and"), "{err}");
        }
        let mut bad = keepers3.clone();
        bad[1].public_key = [0u8; 32];
        assert!(split(&key, [0u8; 32], 0, bad, 2).is_err());
    }

    #[test]
    fn share_debug_hides_the_value() {
        let buyer = EncryptionKeyPair::generate();
        let (_, _, shares) = setup(2, 2, 0, &buyer);
        let text = format!("{:?}", shares[0]);
        assert!(
            !text.contains(&hex::encode(shares[0].value.to_bytes())),
            "{text}"
        );
        assert!(text.contains("keeper 0"), "{text}");
    }

    /// Some n keepers and a threshold t of them.
    fn n_and_t() -> impl proptest::strategy::Strategy<Value = (usize, usize)> {
        use proptest::prelude::*;
        (1usize..=6).prop_flat_map(|n| (Just(n), 1..=n))
    }

    /// The keeper indexes 0..6 in any order.
    fn any_order() -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
        use proptest::prelude::*;
        Just((0..6).collect::<Vec<usize>>()).prop_shuffle()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// For any t of n, any t distinct shares in any order rebuild the key, and any t - 1
        /// of them do not.
        #[test]
        fn any_t_distinct_shares_and_no_fewer_rebuild_the_key(
            (n, t) in n_and_t(),
            order in any_order(),
        ) {
            let buyer = EncryptionKeyPair::generate();
            let (key, record, shares) = setup(n, t, 1, &buyer);
            let chosen: Vec<Share> = order
                .iter()
                .filter(|&&i| i < n)
                .take(t)
                .map(|&i| shares[i].clone())
                .collect();
            proptest::prop_assert_eq!(chosen.len(), t);
            proptest::prop_assert_eq!(combine(&record, &chosen).unwrap(), key);
            proptest::prop_assert!(combine(&record, &chosen[..t - 1]).is_err());
        }
    }
}
