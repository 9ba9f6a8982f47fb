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
///      never blocks the real one.
///
///      Only approved operators may announce. Registered nodes are trusted by their peers: they
///      receive replicas, fetch objects on behalf of the readers they name, and take part in
///      placement, so an open registry would let anyone read ciphertext, squat envelopes and,
///      with many made-up nodes, draw every replica to itself and then drop them. The registry's
///      admin (an account named in genesis, the network's authority, as validators are) approves
///      and disapproves operators; the admin may always announce. `all()` lists only entries of
///      operators that may announce now, so a disapproved operator's nodes drop out at once.
///      Placed in genesis as runtime code; genesis writes the admin into storage slot 2.
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
    /// Who approves operators (storage slot 2, written by genesis; zero: nobody can).
    address public admin;
    /// Operators the admin approved.
    mapping(address => bool) public approved;

    event Announced(bytes32 indexed id, address indexed operator, string url);
    event Withdrawn(bytes32 indexed id, address indexed operator);
    event Approved(address indexed operator);
    event Disapproved(address indexed operator);
    event AdminChanged(address indexed admin);

    error ZeroId();
    error BadUrl();
    error BadProof();
    error NotAnnounced();
    error NotAdmin();
    error NotApproved();

    modifier onlyAdmin() {
        if (msg.sender != admin || admin == address(0)) revert NotAdmin();
        _;
    }

    /// @notice Whether `operator` may run vault nodes: the admin, or an operator it approved.
    function mayOperate(address operator) public view returns (bool) {
        return operator != address(0) && (operator == admin || approved[operator]);
    }

    /// @notice Let `operator` announce nodes (admin only).
    function approve(address operator) external onlyAdmin {
        approved[operator] = true;
        emit Approved(operator);
    }

    /// @notice Stop `operator` running nodes: its entries leave `all()` at once (admin only).
    function disapprove(address operator) external onlyAdmin {
        approved[operator] = false;
        emit Disapproved(operator);
    }

    /// @notice Hand the admin role to `next` (admin only).
    function setAdmin(address next) external onlyAdmin {
        admin = next;
        emit AdminChanged(next);
    }

    /// @notice Announce (or update) node `id`, operated by the caller, at `url`. The caller must
    ///         be approved ([`mayOperate`]).
    function announce(bytes32 id, string calldata url, bytes calldata proof) external {
        if (!mayOperate(msg.sender)) revert NotApproved();
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

    /// @notice How many entries the registry holds (including those of operators no longer
    ///         approved, which `all()` leaves out).
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

    /// @notice Every entry whose operator may run nodes now, in one call.
    function all() external view returns (Node[] memory out) {
        uint256 n = 0;
        for (uint256 i = 0; i < nodes.length; i++) {
            if (mayOperate(nodes[i].operator)) n++;
        }
        out = new Node[](n);
        uint256 j = 0;
        for (uint256 i = 0; i < nodes.length; i++) {
            if (mayOperate(nodes[i].operator)) out[j++] = nodes[i];
        }
    }
}
