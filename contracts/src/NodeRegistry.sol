// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title NodeRegistry
/// @notice Vault storage nodes announce themselves here: their transport id (the node's ed25519
///         public key), the URL peers and clients reach them at, and a proof — the node's
///         ed25519 signature over (chain id, operator, id, url) — that the node agreed to be
///         run by this operator. Nodes discover each other by reading this registry.
/// @dev The EVM has no ed25519 precompile, so the proof is checked by every reader, off chain:
///      an entry whose proof does not verify is ignored. Entries are keyed by (id, operator), so
///      nobody can squat another operator's node id: a squatter's entry has no valid proof and
///      never blocks the real one. Placed in genesis as runtime code with empty storage.
contract NodeRegistry {
    struct Node {
        bytes32 id;
        address operator;
        string url;
        bytes proof;
        uint64 since;
    }

    Node[] internal nodes;
    /// keccak256(id, operator) => index + 1 (0: absent).
    mapping(bytes32 => uint256) internal slot;

    event Announced(bytes32 indexed id, address indexed operator, string url);
    event Withdrawn(bytes32 indexed id, address indexed operator);

    error ZeroId();
    error BadUrl();
    error BadProof();
    error NotAnnounced();

    /// @notice Announce (or update) node `id`, operated by the caller, at `url`.
    function announce(bytes32 id, string calldata url, bytes calldata proof) external {
        if (id == bytes32(0)) revert ZeroId();
        uint256 n = bytes(url).length;
        if (n == 0 || n > 256) revert BadUrl();
        if (proof.length != 64) revert BadProof();
        bytes32 key = keccak256(abi.encode(id, msg.sender));
        uint256 at = slot[key];
        if (at == 0) {
            nodes.push(Node(id, msg.sender, url, proof, uint64(block.timestamp)));
            slot[key] = nodes.length;
        } else {
            Node storage node = nodes[at - 1];
            node.url = url;
            node.proof = proof;
        }
        emit Announced(id, msg.sender, url);
    }

    /// @notice Withdraw node `id` operated by the caller.
    function withdraw(bytes32 id) external {
        bytes32 key = keccak256(abi.encode(id, msg.sender));
        uint256 at = slot[key];
        if (at == 0) revert NotAnnounced();
        uint256 last = nodes.length;
        if (at != last) {
            Node storage moved = nodes[last - 1];
            nodes[at - 1] = moved;
            slot[keccak256(abi.encode(moved.id, moved.operator))] = at;
        }
        nodes.pop();
        delete slot[key];
        emit Withdrawn(id, msg.sender);
    }

    /// @notice How many entries the registry holds.
    function count() external view returns (uint256) {
        return nodes.length;
    }

    /// @notice Entry `index` (0 ≤ index < count()).
    function nodeAt(uint256 index)
        external
        view
        returns (bytes32 id, address operator, string memory url, bytes memory proof, uint64 since)
    {
        Node storage node = nodes[index];
        return (node.id, node.operator, node.url, node.proof, node.since);
    }

    /// @notice Every entry, in one call.
    function all() external view returns (Node[] memory) {
        return nodes;
    }
}
