//! The on-chain node registry (`contracts/src/NodeRegistry.sol`) and the check of its entries.
//!
//! An entry says "node `id` is at `url`, run by `operator`", with the node's ed25519 signature
//! over (chain id, operator, id, url) as proof. The contract cannot verify ed25519, so readers
//! do: [`valid_entries`] keeps only entries whose proof verifies, one per node id (the earliest
//! announced), and nothing that a node did not sign can route traffic to or from it.

use alloy::primitives::Address;
use alloy::sol;

use crate::identity::{NodeId, NodeKey};

pub use lightstreams_primitives::system::NODE_REGISTRY;

sol! {
    /// The node registry (contracts/src/NodeRegistry.sol).
    #[derive(Debug, PartialEq, Eq)]
    interface NodeRegistry {
        /// One announcement.
        struct Node {
            bytes32 id;
            address operator;
            string url;
            bytes proof;
            uint64 since;
        }

        function announce(bytes32 id, string calldata url, bytes calldata proof) external;
        function withdraw(bytes32 id) external;
        function count() external view returns (uint256);
        function all() external view returns (Node[] memory);
        function admin() external view returns (address);
        function approved(address operator) external view returns (bool);
        function mayOperate(address operator) external view returns (bool);
        function approve(address operator) external;
        function disapprove(address operator) external;
        function setAdmin(address next) external;

        error ZeroId();
        error BadUrl();
        error BadProof();
        error NotAnnounced();
        error NotAdmin();
        error NotApproved();
    }
}

/// Namespace of registry proofs.
const PROOF_NAMESPACE: &[u8] = b"lightstreams-node-registry-v1";

/// A verified registry entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The node's transport id.
    pub id: NodeId,
    /// The account that runs it.
    pub operator: Address,
    /// Where peers and clients reach its API (`http://host:port`).
    pub url: String,
}

fn proof_message(chain_id: u64, operator: Address, id: &NodeId, url: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(8 + 20 + 32 + url.len());
    message.extend_from_slice(&chain_id.to_le_bytes());
    message.extend_from_slice(operator.as_slice());
    message.extend_from_slice(&id.0);
    message.extend_from_slice(url.as_bytes());
    message
}

/// The node's proof that `operator` runs it at `url` on chain `chain_id`.
pub fn prove(key: &NodeKey, chain_id: u64, operator: Address, url: &str) -> [u8; 64] {
    key.sign(
        PROOF_NAMESPACE,
        &proof_message(chain_id, operator, &key.id(), url),
    )
}

/// Whether a URL is one peers can use: `http://` or `https://`, a host, nothing else odd.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("a node URL starts with http:// or https://, got {url:?}"))?;
    if rest.is_empty() || rest.len() > 240 || rest.chars().any(|c| c.is_whitespace()) {
        return Err(format!(
            "a node URL is http(s)://host[:port] with no spaces, at most 256 characters; got {url:?}"
        ));
    }
    Ok(())
}

/// The entries whose proof verifies, one per node id (the earliest announcement wins), in
/// registry order.
pub fn valid_entries(chain_id: u64, nodes: &[NodeRegistry::Node]) -> Vec<Entry> {
    let mut order: Vec<&NodeRegistry::Node> = nodes.iter().collect();
    order.sort_by_key(|n| n.since);
    let mut out: Vec<Entry> = Vec::new();
    for node in order {
        let id = NodeId(node.id.0);
        if out.iter().any(|e| e.id == id) || check_url(&node.url).is_err() {
            continue;
        }
        let message = proof_message(chain_id, node.operator, &id, &node.url);
        if id.verify(PROOF_NAMESPACE, &message, &node.proof) {
            out.push(Entry {
                id,
                operator: node.operator,
                url: node.url.trim_end_matches('/').to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{B256, Bytes};

    fn node(
        key: &NodeKey,
        operator: Address,
        url: &str,
        proof: [u8; 64],
        since: u64,
    ) -> NodeRegistry::Node {
        NodeRegistry::Node {
            id: B256::from(key.id().0),
            operator,
            url: url.into(),
            proof: Bytes::from(proof.to_vec()),
            since,
        }
    }

    #[test]
    fn only_entries_the_node_signed_count() {
        let key = NodeKey::from_seed([3; 32]);
        let alice = Address::repeat_byte(0xa);
        let mallory = Address::repeat_byte(0xe);
        let good = node(
            &key,
            alice,
            "http://127.0.0.1:1",
            prove(&key, 161, alice, "http://127.0.0.1:1"),
            2,
        );
        // A squatter copies the proof under its own operator, or points the id elsewhere.
        let squat = node(
            &key,
            mallory,
            "http://127.0.0.1:1",
            prove(&key, 161, alice, "http://127.0.0.1:1"),
            1,
        );
        let moved = node(
            &key,
            alice,
            "http://evil:1",
            prove(&key, 161, alice, "http://127.0.0.1:1"),
            1,
        );
        // A proof for another chain.
        let other_chain = node(
            &key,
            alice,
            "http://127.0.0.1:1",
            prove(&key, 1, alice, "http://127.0.0.1:1"),
            0,
        );
        let entries = valid_entries(161, &[squat, moved, other_chain, good]);
        assert_eq!(
            entries,
            vec![Entry {
                id: key.id(),
                operator: alice,
                url: "http://127.0.0.1:1".into()
            }]
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:8545").is_ok());
        assert!(check_url("https://node.example").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("http://").is_err());
        assert!(check_url("http://a b").is_err());
    }

    proptest::proptest! {
        /// Any announced URL is accepted only if it is http(s) with a host and no spaces.
        #[test]
        fn any_url_is_checked_without_panicking(url in "\\PC{0,300}") {
            if check_url(&url).is_ok() {
                let rest = url
                    .strip_prefix("http://")
                    .or_else(|| url.strip_prefix("https://"));
                proptest::prop_assert!(rest.is_some_and(|r| !r.is_empty() && r.len() <= 240));
                proptest::prop_assert!(!url.chars().any(char::is_whitespace));
            }
        }
    }
}
