//! The signed header of a node-to-node request.
//!
//! `Authorization: LS-Peer from=0x…;reader=0x…;ts=…;nonce=…;sig=…[;vouch=…]` where `sig` is the
//! sending node's ed25519 signature over the method, item, object kind and id, the reader's
//! request it carries (if any), the *target* node's id, the reader the request is made for, the
//! timestamp and the nonce. Naming the target stops a request to one node from being replayed
//! to another; the receiver also refuses stale timestamps and nonces it has seen, like any
//! signed client request.
//!
//! A read made for a reader also carries the reader's own signed request to the sending node
//! (`;vouch=` + hex of `kind/id|<its Lightstreams-Sig header>`), which the receiver checks: a
//! node can fetch from its peers only for a reader who really asked it, recently, for something
//! of that very item, never by naming any reader it likes.

use alloy::primitives::Address;
use rand::RngCore as _;

use crate::identity::{NodeId, NodeKey};

/// Namespace of peer request signatures.
const NAMESPACE: &[u8] = b"lightstreams-peer-request-v1";
/// The header's scheme word.
pub const SCHEME: &str = "LS-Peer";

/// What a peer request is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// `GET` or `PUT`.
    pub method: &'a str,
    /// The item.
    pub item: [u8; 32],
    /// The object kind as in the path (`chunks`, `envelopes`, `inventory`, ...).
    pub kind: &'a str,
    /// The object's id as in the path (empty for an inventory).
    pub id: &'a str,
    /// The node the request is sent to.
    pub node: NodeId,
}

/// A verified peer header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The node that sent it.
    pub from: NodeId,
    /// The account it was sent for (zero for replication, which reads nothing).
    pub reader: Address,
    /// Its timestamp (unix seconds).
    pub ts: u64,
    /// Its nonce.
    pub nonce: [u8; 16],
    /// The reader's own signed request, as `kind/id|header`, if the request carries one.
    pub vouch: Option<String>,
}

/// The reader a read is made for, with the request it signed for the fetching node
/// (`kind/id|<Lightstreams-Sig header>`, the object or batch it named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForReader {
    /// The reader's account.
    pub address: Address,
    /// The reader's signed request to the fetching node.
    pub vouch: String,
}

impl ForReader {
    /// `address`'s request `header`, signed for object `kind`/`id` (as in a path).
    pub fn new(address: Address, kind: &str, id: &str, header: &str) -> Self {
        Self {
            address,
            vouch: format!("{kind}/{id}|{header}"),
        }
    }
}

fn message(
    target: &Target<'_>,
    reader: Address,
    ts: u64,
    nonce: &[u8; 16],
    vouch: Option<&str>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(160);
    for part in [
        target.method.as_bytes(),
        target.kind.as_bytes(),
        target.id.as_bytes(),
        vouch.unwrap_or_default().as_bytes(),
    ] {
        m.extend_from_slice(&(part.len() as u32).to_le_bytes());
        m.extend_from_slice(part);
    }
    m.extend_from_slice(&target.item);
    m.extend_from_slice(&target.node.0);
    m.extend_from_slice(reader.as_slice());
    m.extend_from_slice(&ts.to_le_bytes());
    m.extend_from_slice(nonce);
    m
}

/// The `Authorization` header value for `target`, sent for `reader`, at `ts`; `vouch` is the
/// reader's own signed request (see [`ForReader`]) for a read made on its behalf.
pub fn sign(
    key: &NodeKey,
    target: &Target<'_>,
    reader: Address,
    ts: u64,
    vouch: Option<&str>,
) -> String {
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sig = key.sign(NAMESPACE, &message(target, reader, ts, &nonce, vouch));
    let mut header = format!(
        "{SCHEME} from={};reader={reader:#x};ts={ts};nonce={};sig={}",
        key.id(),
        hex::encode(nonce),
        hex::encode(sig)
    );
    if let Some(vouch) = vouch {
        header.push_str(";vouch=");
        header.push_str(&hex::encode(vouch));
    }
    header
}

/// Check `header` for `target`; `None` for anything malformed or not signed by its sender.
/// Freshness and replays are the caller's to check (with the returned `ts` and `nonce`).
pub fn verify(header: &str, target: &Target<'_>) -> Option<Verified> {
    let rest = header.strip_prefix(SCHEME)?.trim_start();
    let (mut from, mut reader, mut ts, mut nonce, mut sig) = (None, None, None, None, None);
    let mut vouch = None;
    for part in rest.split(';') {
        let (name, value) = part.split_once('=')?;
        match name.trim() {
            "from" => from = value.parse::<NodeId>().ok(),
            "reader" => reader = value.parse::<Address>().ok(),
            "ts" => ts = value.parse::<u64>().ok(),
            "nonce" => {
                let mut n = [0u8; 16];
                hex::decode_to_slice(value, &mut n).ok()?;
                nonce = Some(n);
            }
            "sig" => sig = hex::decode(value).ok(),
            "vouch" => vouch = Some(String::from_utf8(hex::decode(value).ok()?).ok()?),
            _ => return None,
        }
    }
    let (from, reader, ts, nonce, sig) = (from?, reader?, ts?, nonce?, sig?);
    from.verify(
        NAMESPACE,
        &message(target, reader, ts, &nonce, vouch.as_deref()),
        &sig,
    )
    .then_some(Verified {
        from,
        reader,
        ts,
        nonce,
        vouch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(node: NodeId) -> Target<'static> {
        Target {
            method: "GET",
            item: [5; 32],
            kind: "chunks",
            id: "0xab",
            node,
        }
    }

    #[test]
    fn a_signed_header_verifies_for_exactly_its_request() {
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        let c = NodeKey::from_seed([3; 32]);
        let reader = Address::repeat_byte(7);
        let header = sign(&a, &target(b.id()), reader, 1000, None);
        let ok = verify(&header, &target(b.id())).expect("verifies");
        assert_eq!((ok.from, ok.reader, ok.ts), (a.id(), reader, 1000));
        // Another target node, object, method or a tampered field: refused.
        assert!(verify(&header, &target(c.id())).is_none());
        let mut other = target(b.id());
        other.id = "0xac";
        assert!(verify(&header, &other).is_none());
        other = target(b.id());
        other.method = "PUT";
        assert!(verify(&header, &other).is_none());
        let tampered = header.replace("ts=1000", "ts=1001");
        assert!(verify(&tampered, &target(b.id())).is_none());
        let reader2 = header.replace(
            &format!("{reader:#x}"),
            &format!("{:#x}", Address::repeat_byte(8)),
        );
        assert!(verify(&reader2, &target(b.id())).is_none());
        assert!(verify("LS-Peer garbage", &target(b.id())).is_none());
        assert!(verify("", &target(b.id())).is_none());
    }

    proptest::proptest! {
        /// A header verifies only for the request it was signed for: any other text, and a
        /// signed header with any one byte changed, is refused (never a panic).
        #[test]
        fn only_the_signed_header_verifies(
            garbage in "\\PC{0,300}",
            at: proptest::sample::Index,
            byte in 0x20u8..0x7f,
        ) {
            let a = NodeKey::from_seed([1; 32]);
            let b = NodeKey::from_seed([2; 32]);
            let t = target(b.id());
            proptest::prop_assert!(verify(&garbage, &t).is_none());
            let with_scheme = format!("{SCHEME} {garbage}");
            proptest::prop_assert!(verify(&with_scheme, &t).is_none());
            let header = sign(&a, &t, Address::repeat_byte(7), 1000, Some("chunks/0xab|x"));
            let mut bytes = header.clone().into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let changed = String::from_utf8(bytes).expect("ASCII");
            // Hex digits are read case-blind: such a change is the same header.
            if !changed.eq_ignore_ascii_case(&header) {
                proptest::prop_assert!(
                    verify(&changed, &t).is_none(),
                    "byte {} changed to {:?} still verifies: {}", i, byte as char, changed
                );
            }
        }
    }
}
