//! Signed vault requests and the replay guard.
//!
//! # Design
//! A request names one object of one item on one node, at a time, with a random nonce, and is
//! signed by the account with EIP-191 `personal_sign` over a fixed text (below), so any
//! Ethereum wallet can sign it. The node recovers the signer, refuses timestamps more than
//! [`MAX_SKEW`] seconds away and any nonce seen within the replay window, then checks the
//! account's permission on chain.
//!
//! ```text
//! lightstreams vault request v1
//! method:GET
//! item:0x<64 hex>
//! object:chunk:0x<64 hex>
//! node:0x<node id>
//! ts:<unix seconds>
//! nonce:<32 hex>
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, Signature};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use parking_lot::Mutex;

use crate::Error;

/// Largest accepted clock difference, in seconds.
pub const MAX_SKEW: u64 = 60;
/// How long a nonce is remembered (covers every timestamp still accepted).
pub const REPLAY_WINDOW: u64 = 2 * MAX_SKEW;
/// Most nonces remembered; beyond this the guard forgets the oldest of the heaviest signer.
pub const MAX_REMEMBERED: usize = 1_000_000;
/// Longest accepted `Authorization` header.
pub const MAX_HEADER: usize = 512;
const SCHEME: &str = "Lightstreams-Sig v1 ";

/// The HTTP method of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// Read.
    Get,
    /// Write.
    Put,
    /// Delete.
    Delete,
}

impl RequestKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// The object a request is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectRef {
    /// A sealed chunk, by address.
    Chunk([u8; 32]),
    /// A sealed manifest, by address.
    Manifest([u8; 32]),
    /// An envelope, by locator.
    Envelope([u8; 32]),
    /// The item's on-chain facts.
    Info,
    /// A key keeper's share of the item's content key for an epoch (threshold custody): a
    /// `PUT` deposits it (owner or admin), a `GET` has it released to the reader.
    Share(u64),
    /// Fan-channel message `n` of the item, from its owner or an admin to its readers:
    /// written once by an admin, read by readers.
    Message(u64),
    /// Reply `n` to the item's fan channel, from a reader to the owner: written once by a
    /// reader, read by admins.
    Reply(u64),
    /// Many chunks or manifests in one read, named in the request body (one `kind/id` per
    /// line); signed by the BLAKE3 hash of that body, so the signature covers the exact list.
    Batch([u8; 32]),
}

impl ObjectRef {
    /// The text signed for this object.
    pub fn text(&self) -> String {
        match self {
            Self::Chunk(a) => format!("chunk:0x{}", hex::encode(a)),
            Self::Manifest(a) => format!("manifest:0x{}", hex::encode(a)),
            Self::Envelope(l) => format!("envelope:0x{}", hex::encode(l)),
            Self::Info => "info:".to_string(),
            Self::Share(epoch) => format!("share:{epoch}"),
            Self::Message(n) => format!("message:{n}"),
            Self::Reply(n) => format!("reply:{n}"),
            Self::Batch(h) => format!("batch:0x{}", hex::encode(h)),
        }
    }

    /// The `(kind, id)` path segments of the raw API (`/v1/raw/ITEM/KIND/ID`).
    pub fn path_parts(&self) -> (&'static str, String) {
        match self {
            Self::Chunk(a) => ("chunks", format!("0x{}", hex::encode(a))),
            Self::Manifest(a) => ("manifests", format!("0x{}", hex::encode(a))),
            Self::Envelope(l) => ("envelopes", format!("0x{}", hex::encode(l))),
            Self::Info => ("info", String::new()),
            Self::Share(epoch) => ("shares", epoch.to_string()),
            Self::Message(n) => ("messages", n.to_string()),
            Self::Reply(n) => ("replies", n.to_string()),
            Self::Batch(h) => ("batch", format!("0x{}", hex::encode(h))),
        }
    }
}

/// A signed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// Method.
    pub method: RequestKind,
    /// Item id.
    pub item: [u8; 32],
    /// Object.
    pub object: ObjectRef,
    /// The node it is addressed to (`0x` + hex id).
    pub node: String,
    /// Unix seconds.
    pub ts: u64,
    /// Random nonce.
    pub nonce: [u8; 16],
    /// EIP-191 signature of [`SignedRequest::message`].
    pub signature: Signature,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl SignedRequest {
    /// The exact text that is signed.
    pub fn message(
        method: RequestKind,
        item: &[u8; 32],
        object: &ObjectRef,
        node: &str,
        ts: u64,
        nonce: &[u8; 16],
    ) -> String {
        format!(
            "lightstreams vault request v1\nmethod:{}\nitem:0x{}\nobject:{}\nnode:{}\nts:{}\nnonce:{}",
            method.as_str(),
            hex::encode(item),
            object.text(),
            node,
            ts,
            hex::encode(nonce)
        )
    }

    /// Sign a request now, with a fresh nonce.
    pub fn sign(
        signer: &PrivateKeySigner,
        method: RequestKind,
        item: [u8; 32],
        object: ObjectRef,
        node: String,
    ) -> Self {
        Self::sign_at(signer, method, item, object, node, now(), rand::random())
    }

    /// Sign a request with a given time and nonce (tests, replays).
    pub fn sign_at(
        signer: &PrivateKeySigner,
        method: RequestKind,
        item: [u8; 32],
        object: ObjectRef,
        node: String,
        ts: u64,
        nonce: [u8; 16],
    ) -> Self {
        let message = Self::message(method, &item, &object, &node, ts, &nonce);
        // Signing with an in-memory secp256k1 key cannot fail for a 32-byte message hash.
        let signature = signer
            .sign_message_sync(message.as_bytes())
            .unwrap_or_else(|e| unreachable!("local signing failed: {e}"));
        Self {
            method,
            item,
            object,
            node,
            ts,
            nonce,
            signature,
        }
    }

    /// The signer's address.
    pub fn recover(&self) -> Result<Address, Error> {
        let message = Self::message(
            self.method,
            &self.item,
            &self.object,
            &self.node,
            self.ts,
            &self.nonce,
        );
        self.signature
            .recover_address_from_msg(message.as_bytes())
            .map_err(|e| Error::Request(format!("bad signature: {e}")))
    }

    /// The `Authorization` header value.
    pub fn to_header(&self) -> String {
        format!(
            "{SCHEME}ts={},nonce={},sig=0x{}",
            self.ts,
            hex::encode(self.nonce),
            hex::encode(self.signature.as_bytes())
        )
    }

    /// Parse an `Authorization` header value into (ts, nonce, signature). Strict: exactly the
    /// three fields, in order, of exact lengths.
    pub fn parse_header(header: &str) -> Result<(u64, [u8; 16], Signature), Error> {
        let bad = |what: &str| Error::Request(format!("malformed Authorization header: {what}"));
        if header.len() > MAX_HEADER {
            return Err(bad("too long"));
        }
        let rest = header.strip_prefix(SCHEME).ok_or_else(|| bad("scheme"))?;
        let mut parts = rest.split(',');
        let ts = parts
            .next()
            .and_then(|p| p.strip_prefix("ts="))
            .filter(|d| !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| bad("ts"))?;
        let mut nonce = [0u8; 16];
        parts
            .next()
            .and_then(|p| p.strip_prefix("nonce="))
            .filter(|h| h.len() == 32)
            .and_then(|h| hex::decode_to_slice(h, &mut nonce).ok())
            .ok_or_else(|| bad("nonce"))?;
        let mut sig = [0u8; 65];
        parts
            .next()
            .and_then(|p| p.strip_prefix("sig=0x"))
            .filter(|h| h.len() == 130)
            .and_then(|h| hex::decode_to_slice(h, &mut sig).ok())
            .ok_or_else(|| bad("sig"))?;
        if parts.next().is_some() {
            return Err(bad("trailing fields"));
        }
        let signature = Signature::from_raw(&sig).map_err(|_| bad("sig"))?;
        Ok((ts, nonce, signature))
    }
}

/// Why the replay guard refused (for logs only: callers answer every refusal the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The timestamp is too far from the node's clock.
    Stale,
    /// The nonce was already used.
    Replayed,
}

/// Whoever signed a request, as the guard tells signers apart: an account's address or a
/// node's id, zero-padded to 32 bytes.
pub type Signer = [u8; 32];

/// The guard's key for an account.
pub fn account_signer(account: Address) -> Signer {
    let mut out = [0u8; 32];
    out[12..].copy_from_slice(account.as_slice());
    out
}

/// Remembers recent nonces to refuse replays.
///
/// Memory is bounded by the window and a cap. When the cap is reached the guard does not refuse
/// everyone (one signer flooding it would lock every client out); it forgets the oldest nonce of
/// the signer that holds the most, so a flood only ever costs the flooder, and a signer holding
/// no more than the heaviest keeps every nonce it sent within the window.
#[derive(Debug)]
pub struct ReplayGuard {
    inner: Mutex<Seen>,
    capacity: usize,
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self::with_capacity(MAX_REMEMBERED)
    }
}

#[derive(Debug, Default)]
struct Seen {
    /// Each remembered nonce: when it was seen, and by whom.
    by_nonce: HashMap<[u8; 16], (u64, Signer)>,
    /// Every nonce in the order seen (entries the cap made the guard forget are skipped).
    order: VecDeque<(u64, [u8; 16])>,
    /// Each signer's remembered nonces, oldest first.
    by_signer: HashMap<Signer, VecDeque<(u64, [u8; 16])>>,
    /// Signers by how many nonces they hold.
    sizes: BTreeSet<(usize, Signer)>,
}

impl Seen {
    /// Forget `nonce` if it is remembered as seen at `at`.
    fn forget(&mut self, at: u64, nonce: &[u8; 16]) {
        let Some(&(seen_at, signer)) = self.by_nonce.get(nonce) else {
            return;
        };
        if seen_at != at {
            return;
        }
        self.by_nonce.remove(nonce);
        if let Some(own) = self.by_signer.get_mut(&signer) {
            let before = own.len();
            // Expiry takes each signer's nonces oldest first: almost always the front.
            if own.front() == Some(&(at, *nonce)) {
                own.pop_front();
            } else {
                own.retain(|(a, n)| !(*a == at && n == nonce));
            }
            self.resize(signer, before);
        }
    }

    /// Re-rank `signer`, whose count was `before`.
    fn resize(&mut self, signer: Signer, before: usize) {
        self.sizes.remove(&(before, signer));
        let now = self.by_signer.get(&signer).map_or(0, VecDeque::len);
        if now == 0 {
            self.by_signer.remove(&signer);
        } else {
            self.sizes.insert((now, signer));
        }
    }

    /// Forget the oldest nonce of the signer holding the most.
    fn shed(&mut self) {
        let Some(&(count, heaviest)) = self.sizes.last() else {
            return;
        };
        let oldest = self
            .by_signer
            .get_mut(&heaviest)
            .and_then(VecDeque::pop_front);
        if let Some((_, nonce)) = oldest {
            self.by_nonce.remove(&nonce);
        }
        self.resize(heaviest, count);
    }
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` nonces at once.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Seen::default()),
            capacity: capacity.max(1),
        }
    }

    /// Accept `(ts, nonce)` from `signer` once, if `ts` is within [`MAX_SKEW`] of `now`. `now`
    /// should not go backwards.
    pub fn check(&self, now: u64, ts: u64, nonce: [u8; 16], signer: Signer) -> Result<(), Refusal> {
        if now.abs_diff(ts) > MAX_SKEW {
            return Err(Refusal::Stale);
        }
        let mut seen = self.inner.lock();
        while let Some(&(at, old)) = seen.order.front() {
            if now.saturating_sub(at) <= REPLAY_WINDOW {
                break;
            }
            seen.order.pop_front();
            seen.forget(at, &old);
        }
        if seen.by_nonce.contains_key(&nonce) {
            return Err(Refusal::Replayed);
        }
        while seen.by_nonce.len() >= self.capacity {
            seen.shed();
        }
        seen.by_nonce.insert(nonce, (now, signer));
        seen.order.push_back((now, nonce));
        let before = seen.by_signer.get(&signer).map_or(0, VecDeque::len);
        seen.by_signer
            .entry(signer)
            .or_default()
            .push_back((now, nonce));
        seen.resize(signer, before);
        Ok(())
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().by_nonce.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn signed() -> (PrivateKeySigner, SignedRequest) {
        let signer = PrivateKeySigner::random();
        let req = SignedRequest::sign(
            &signer,
            RequestKind::Get,
            [3u8; 32],
            ObjectRef::Chunk([4u8; 32]),
            "0xabcd".into(),
        );
        (signer, req)
    }

    #[test]
    fn header_round_trip_recovers_the_signer() {
        let (signer, req) = signed();
        let (ts, nonce, signature) = SignedRequest::parse_header(&req.to_header()).unwrap();
        let parsed = SignedRequest {
            ts,
            nonce,
            signature,
            ..req.clone()
        };
        assert_eq!(parsed.recover().unwrap(), signer.address());
    }

    #[test]
    fn any_changed_field_changes_the_signer() {
        let (signer, req) = signed();
        let variants = [
            SignedRequest {
                method: RequestKind::Put,
                ..req.clone()
            },
            SignedRequest {
                item: [5u8; 32],
                ..req.clone()
            },
            SignedRequest {
                object: ObjectRef::Manifest([4u8; 32]),
                ..req.clone()
            },
            SignedRequest {
                node: "0xabce".into(),
                ..req.clone()
            },
            SignedRequest {
                ts: req.ts + 1,
                ..req.clone()
            },
            SignedRequest {
                nonce: [0u8; 16],
                ..req.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.recover().ok(), Some(signer.address()), "{v:?}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        let (_, req) = signed();
        let good = req.to_header();
        for bad in [
            String::new(),
            "Bearer x".into(),
            good.replace("ts=", "t="),
            good.replace(",nonce=", ",nonce=00"),
            format!("{good},x=1"),
            good[..good.len() - 2].to_string(),
            "x".repeat(10_000),
            good.replace("sig=0x", "sig="),
        ] {
            assert!(SignedRequest::parse_header(&bad).is_err(), "{bad:?}");
        }
    }

    const A: Signer = [0xa; 32];

    #[test]
    fn a_flood_costs_only_the_flooder() {
        let guard = ReplayGuard::with_capacity(100);
        let (alice, mallory) = ([1u8; 32], [2u8; 32]);
        let nonce = |who: u8, n: u32| {
            let mut out = [who; 16];
            out[..4].copy_from_slice(&n.to_le_bytes());
            out
        };
        for n in 0..10 {
            assert_eq!(guard.check(1000, 1000, nonce(1, n), alice), Ok(()));
        }
        // Mallory sends ten times the guard's capacity in fresh nonces: all accepted, the
        // guard stays at its cap, and nobody is locked out.
        for n in 0..1000 {
            assert_eq!(guard.check(1001, 1001, nonce(2, n), mallory), Ok(()));
            assert!(guard.len() <= 100);
        }
        assert_eq!(guard.check(1002, 1002, nonce(1, 10), alice), Ok(()));
        // Every one of Alice's nonces is still remembered: her requests cannot be replayed.
        for n in 0..=10 {
            assert_eq!(
                guard.check(1003, 1002, nonce(1, n), alice),
                Err(Refusal::Replayed),
                "alice's nonce {n}"
            );
        }
        // Mallory's latest are remembered too; only her oldest were forgotten.
        assert_eq!(
            guard.check(1003, 1001, nonce(2, 999), mallory),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn replays_and_stale_requests_are_refused() {
        let guard = ReplayGuard::default();
        assert_eq!(guard.check(1000, 1000, [1; 16], A), Ok(()));
        assert_eq!(guard.check(1001, 1000, [1; 16], A), Err(Refusal::Replayed));
        assert_eq!(guard.check(1000, 900, [2; 16], A), Err(Refusal::Stale));
        assert_eq!(guard.check(1000, 1100, [2; 16], A), Err(Refusal::Stale));
        assert_eq!(guard.check(1000, 1050, [2; 16], A), Ok(()));
        // After the window the old nonces are forgotten (their timestamps are stale anyway).
        assert_eq!(
            guard.check(
                1000 + REPLAY_WINDOW + 1,
                1000 + REPLAY_WINDOW + 1,
                [3; 16],
                A
            ),
            Ok(())
        );
        assert_eq!(guard.len(), 1);
    }

    proptest::proptest! {
        /// Any header text parses or is refused by name, never a panic; whatever parses reads
        /// back the same from what `to_header` writes for it. (One request may be written in
        /// more than one way, e.g. `v` as 27 or 0; the replay guard keys on the signed nonce,
        /// so no spelling of a request is accepted twice.)
        #[test]
        fn any_header_parses_or_is_refused(
            header in proptest::prop_oneof![
                "\\PC{0,600}",
                "Lightstreams-Sig v1 ts=[0-9]{1,22},nonce=[0-9a-fA-F]{30,34},sig=0x[0-9a-f]{128,132}",
            ],
        ) {
            match SignedRequest::parse_header(&header) {
                Ok((ts, nonce, signature)) => {
                    let (_, req) = signed();
                    let again = SignedRequest { ts, nonce, signature, ..req }.to_header();
                    proptest::prop_assert_eq!(
                        SignedRequest::parse_header(&again).ok(),
                        Some((ts, nonce, signature))
                    );
                }
                Err(e) => proptest::prop_assert!(e.to_string().contains("malformed Authorization header")),
            }
        }

        /// An exact request is never accepted twice while it is fresh, whatever the order of
        /// requests and timestamps; and a fresh request with a nonce never used is accepted.
        #[test]
        fn no_request_is_accepted_twice(
            steps in proptest::collection::vec((0u64..40, -70i64..=70, 0u8..6), 1..200),
        ) {
            let guard = ReplayGuard::default();
            let mut now = 10_000u64;
            let mut accepted = std::collections::HashSet::new();
            for (advance, offset, nonce) in steps {
                now += advance;
                let ts = now.saturating_add_signed(offset);
                let nonce = [nonce; 16];
                let answer = guard.check(now, ts, nonce, A);
                if now.abs_diff(ts) > MAX_SKEW {
                    proptest::prop_assert_eq!(answer, Err(Refusal::Stale));
                } else if accepted.contains(&(ts, nonce)) {
                    proptest::prop_assert_eq!(answer, Err(Refusal::Replayed), "a replay at {} of ts {}", now, ts);
                } else if !accepted.iter().any(|&(_, n)| n == nonce) {
                    proptest::prop_assert_eq!(answer, Ok(()));
                }
                if answer.is_ok() {
                    accepted.insert((ts, nonce));
                }
            }
        }
    }
}
