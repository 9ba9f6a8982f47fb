// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @title KeyRegistry
/// @notice Each account's HPKE (X25519) encryption public key, set by the account itself.
///         Envelopes carrying content keys are sealed to these keys.
/// @dev Placed in genesis as runtime code with empty storage.
contract KeyRegistry {
    mapping(address => bytes32) internal keys;

    event KeySet(address indexed who, bytes32 key);

    error ZeroKey();

    /// @notice Publish the caller's X25519 public key (replaces any earlier one).
    function setKey(bytes32 x25519PublicKey) external {
        if (x25519PublicKey == bytes32(0)) revert ZeroKey();
        keys[msg.sender] = x25519PublicKey;
        emit KeySet(msg.sender, x25519PublicKey);
    }

    /// @notice The key of `who`, or zero if unset.
    function keyOf(address who) external view returns (bytes32) {
        return keys[who];
    }
}
