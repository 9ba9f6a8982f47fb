//! The fan channel: a creator's messages to everyone who may read an item (its buyers), and
//! readers' private replies to the creator.
//!
//! # Design
//! - A **message** is sealed (ChaCha20-Poly1305, random nonce) under the channel key of the
//!   item's current epoch, `BLAKE3-derive_key("lightstreams fan channel v1", K || item ||
//!   epoch)`, derived from that epoch's content key `K`: every reader of the epoch has `K`
//!   (by envelope, or from the keepers), and a reader revoked before a re-key never gets a later
//!   one. The node stores it as `messages/N` (written once, by an admin) and serves it only to
//!   readers; readers keep only messages signed by the item's owner.
//! - A **reply** is sealed to the item owner's registered encryption key (an HPKE envelope of a
//!   fresh key, then ChaCha20-Poly1305), stored as `replies/N` (written once, by any reader)
//!   and served only to admins: other buyers cannot even fetch it.
//! - Both carry their author's signature (EIP-191) over item, kind, text, time and offer;
//!   readers check it, and that a message comes from the item's owner.
//! - Posts are numbered from 0; readers walk the numbers until the first gap.

use alloy::primitives::{Address, B256, Bytes, Signature, keccak256};
use alloy::signers::SignerSync;
use lightstreams_access::envelope::{open_envelope, seal_envelope};
use lightstreams_access::protocol::{Client, Ledger, ProtocolError, Remote};
use lightstreams_access::request::ObjectRef;
use lightstreams_vault::{ContentKey, ItemId};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use crate::market::MarketError;
use crate::offer::SignedOffer;

/// Longest message or reply text, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;
/// Most posts read per item and kind in one pass.
const MAX_POSTS: u64 = 10_000;
/// The envelope "epoch" replies' keys are wrapped under (never a real epoch).
const REPLY_EPOCH: u64 = u64::MAX;

/// Which way a post goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// From the creator to readers.
    Message,
    /// From a reader to the creator.
    Reply,
}

impl Kind {
    fn object(self, n: u64) -> ObjectRef {
        match self {
            Kind::Message => ObjectRef::Message(n),
            Kind::Reply => ObjectRef::Reply(n),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Reply => "reply",
        }
    }
}

/// What a post says, signed by its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// The author.
    pub from: Address,
    /// The text.
    pub text: String,
    /// Unix seconds when written.
    pub sent: u64,
    /// A discount offer attached by the creator.
    pub offer: Option<SignedOffer>,
    /// The author's EIP-191 signature over [`signed_digest`].
    pub signature: Bytes,
}

/// A post as read: where it is, and what it says.
#[derive(Clone, Debug, Serialize)]
pub struct Received {
    /// The item.
    pub item: String,
    /// Message or reply.
    pub kind: Kind,
    /// Its number.
    pub n: u64,
    /// What it says.
    #[serde(flatten)]
    pub post: Post,
}

/// The digest an author signs.
pub fn signed_digest(
    item: ItemId,
    kind: Kind,
    text: &str,
    sent: u64,
    offer: Option<&SignedOffer>,
) -> B256 {
    let mut material = Vec::new();
    material.extend_from_slice(b"lightstreams fan post v1\n");
    material.extend_from_slice(&item.0);
    material.extend_from_slice(kind.name().as_bytes());
    material.extend_from_slice(&sent.to_le_bytes());
    material.extend_from_slice(&keccak256(text.as_bytes()).0);
    let offer_json = offer
        .map(|o| serde_json::to_vec(o).unwrap_or_default())
        .unwrap_or_default();
    material.extend_from_slice(&keccak256(&offer_json).0);
    keccak256(&material)
}

fn channel_key(key: &ContentKey, item: ItemId, epoch: u64) -> [u8; 32] {
    let mut material = Vec::with_capacity(72);
    material.extend_from_slice(key.as_bytes());
    material.extend_from_slice(&item.0);
    material.extend_from_slice(&epoch.to_le_bytes());
    blake3::derive_key("lightstreams fan channel v1", &material)
}

fn aead(key: &[u8; 32]) -> Result<LessSafeKey, MarketError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| MarketError::Input("bad channel key".into()))
}

/// `nonce12 || ciphertext+tag` of `plain` under `key`, bound to `aad`.
fn seal(key: &[u8; 32], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, MarketError> {
    let nonce: [u8; 12] = rand::random();
    let mut buf = plain.to_vec();
    aead(key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| MarketError::Input("cannot seal the post".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[..12]).ok()?;
    let mut buf = sealed[12..].to_vec();
    let plain = aead(key)
        .ok()?
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .ok()?;
    Some(plain.to_vec())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The fan channel of items, as one account uses it.
pub struct Fans<'a, L, R> {
    client: &'a Client<L, R>,
}

impl<L, R> std::fmt::Debug for Fans<'_, L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fans").finish_non_exhaustive()
    }
}

impl<'a, L: Ledger + Sync, R: Remote + Sync> Fans<'a, L, R> {
    /// The channel for `client`'s account.
    pub fn new(client: &'a Client<L, R>) -> Self {
        Self { client }
    }

    fn post(
        &self,
        item: ItemId,
        kind: Kind,
        text: &str,
        offer: Option<SignedOffer>,
    ) -> Result<Post, MarketError> {
        if text.is_empty() || text.len() > MAX_TEXT {
            return Err(MarketError::Input(format!(
                "a post is 1 to {MAX_TEXT} bytes of text; this one is {}",
                text.len()
            )));
        }
        let sent = now();
        let digest = signed_digest(item, kind, text, sent, offer.as_ref());
        let signature = self
            .client
            .identity()
            .signer
            .sign_message_sync(digest.as_slice())
            .map_err(|e| MarketError::Input(format!("cannot sign the post: {e}")))?;
        Ok(Post {
            from: self.client.address(),
            text: text.to_string(),
            sent,
            offer,
            signature: Bytes::from(signature.as_bytes().to_vec()),
        })
    }

    /// Write `body` as the first free post number of `kind`; returns the number.
    fn append(&self, item: ItemId, kind: Kind, body: &[u8]) -> Result<u64, MarketError> {
        let mut n = self.count(item, kind)?;
        loop {
            match self.client.put_object(item, kind.object(n), body) {
                Ok(()) => return Ok(n),
                // Someone took this number meanwhile: take the next.
                Err(ProtocolError::Remote(m)) if m.contains("is taken") => n += 1,
                Err(ProtocolError::NotFound(_)) => {
                    return Err(MarketError::Input(match kind {
                        Kind::Message => format!(
                            "cannot post to {item}: only its owner or an admin sends messages"
                        ),
                        Kind::Reply => format!(
                            "cannot reply on {item}: only accounts that may read it (its buyers) reply"
                        ),
                    }));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// How many posts of `kind` `item` has (the first free number), as far as this account
    /// may see.
    fn count(&self, item: ItemId, kind: Kind) -> Result<u64, MarketError> {
        let mut n = 0;
        while n < MAX_POSTS && self.client.get_object(item, kind.object(n))?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Send `text` (and an offer) to every current reader of `item` (its owner only).
    pub fn send(
        &self,
        item: ItemId,
        text: &str,
        offer: Option<SignedOffer>,
    ) -> Result<u64, MarketError> {
        let info = self.client.info(item)?;
        if info.owner != self.client.address() {
            return Err(MarketError::Input(format!(
                "only the owner of {item} ({}) sends messages to its readers",
                info.owner
            )));
        }
        let key = self.client.content_key(item, info.epoch)?;
        let post = self.post(item, Kind::Message, text, offer)?;
        let plain = serde_json::to_vec(&post)
            .map_err(|e| MarketError::Input(format!("cannot encode the post: {e}")))?;
        let mut body = info.epoch.to_le_bytes().to_vec();
        body.extend(seal(&channel_key(&key, item, info.epoch), &item.0, &plain)?);
        self.append(item, Kind::Message, &body)
    }

    /// Reply privately to the owner of `item` (any reader).
    pub fn reply(&self, item: ItemId, text: &str) -> Result<u64, MarketError> {
        let info = self.client.info(item)?;
        let owner_key = self
            .client
            .encryption_key_of(info.owner)?
            .ok_or(ProtocolError::NoEncryptionKey(info.owner))?;
        let post = self.post(item, Kind::Reply, text, None)?;
        let plain = serde_json::to_vec(&post)
            .map_err(|e| MarketError::Input(format!("cannot encode the post: {e}")))?;
        let key: [u8; 32] = rand::random();
        let mut body = seal_envelope(&owner_key.0, &item.0, REPLY_EPOCH, &key)
            .map_err(|e| MarketError::Input(e.to_string()))?;
        body.extend(seal(&key, &item.0, &plain)?);
        self.append(item, Kind::Reply, &body)
    }

    /// The channel as this account sees it, for `only` one item or every item it owns or was
    /// granted: replies on the items it owns, the owners' messages on the others.
    pub fn inbox(&self, only: Option<ItemId>) -> Result<Vec<Received>, MarketError> {
        let items = match only {
            Some(item) => vec![item],
            None => self.client.list()?.into_iter().map(|l| l.item).collect(),
        };
        let mut posts = Vec::new();
        for item in items {
            let owner = self.client.info(item)?.owner;
            let kind = if owner == self.client.address() {
                Kind::Reply
            } else {
                Kind::Message
            };
            posts.extend(self.read(item, kind)?);
        }
        Ok(posts)
    }

    /// Every post of `kind` on `item` this account may read, oldest first. Posts that do not
    /// open or whose signature does not check are skipped (and counted in the error if all fail).
    pub fn read(&self, item: ItemId, kind: Kind) -> Result<Vec<Received>, MarketError> {
        let info = self.client.info(item)?;
        let mut keys: std::collections::HashMap<u64, Option<[u8; 32]>> = Default::default();
        let mut out = Vec::new();
        for n in 0..MAX_POSTS {
            let Some(body) = self.client.get_object(item, kind.object(n))? else {
                break;
            };
            let plain = match kind {
                Kind::Message => {
                    let Some(epoch) = body.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())
                    else {
                        continue;
                    };
                    let epoch = u64::from_le_bytes(epoch);
                    let key = *keys.entry(epoch).or_insert_with(|| {
                        self.client
                            .content_key(item, epoch)
                            .ok()
                            .map(|k| channel_key(&k, item, epoch))
                    });
                    key.and_then(|k| open(&k, &item.0, &body[8..]))
                }
                Kind::Reply => {
                    let envelope_len = lightstreams_access::envelope::ENVELOPE_LEN;
                    body.get(..envelope_len)
                        .and_then(|env| {
                            open_envelope(
                                &self.client.identity().encryption,
                                &item.0,
                                REPLY_EPOCH,
                                env,
                            )
                            .ok()
                        })
                        .and_then(|k| open(&k, &item.0, &body[envelope_len..]))
                }
            };
            let Some(post) = plain.and_then(|p| serde_json::from_slice::<Post>(&p).ok()) else {
                continue;
            };
            let digest = signed_digest(item, kind, &post.text, post.sent, post.offer.as_ref());
            let signer = Signature::try_from(post.signature.as_ref())
                .ok()
                .and_then(|s| s.recover_address_from_msg(digest.as_slice()).ok());
            if signer != Some(post.from) {
                continue;
            }
            if kind == Kind::Message && post.from != info.owner {
                continue;
            }
            out.push(Received {
                item: item.to_string(),
                kind,
                n,
                post,
            });
        }
        Ok(out)
    }
}
