// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @notice The few Foundry cheatcodes our tests use (forge-std is not available offline).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    function expectEmit() external;
    function deal(address who, uint256 newBalance) external;
    function etch(address target, bytes calldata code) external;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function store(address target, bytes32 slot, bytes32 value) external;
}

/// @notice A minimal test base: the cheatcode handle and assertions that revert with a message.
abstract contract Test {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function assertTrue(bool ok, string memory why) internal pure {
        require(ok, why);
    }

    function assertFalse(bool ok, string memory why) internal pure {
        require(!ok, why);
    }

    function assertEq(uint256 a, uint256 b, string memory why) internal pure {
        require(a == b, why);
    }

    function assertEq(address a, address b, string memory why) internal pure {
        require(a == b, why);
    }

    function assertEq(bytes32 a, bytes32 b, string memory why) internal pure {
        require(a == b, why);
    }

    function assertEq(bool a, bool b, string memory why) internal pure {
        require(a == b, why);
    }

    function assertEq(bytes memory a, bytes memory b, string memory why) internal pure {
        require(keccak256(a) == keccak256(b), why);
    }

    function assertEq(string memory a, string memory b, string memory why) internal pure {
        require(keccak256(bytes(a)) == keccak256(bytes(b)), why);
    }

    function assertLt(uint256 a, uint256 b, string memory why) internal pure {
        require(a < b, why);
    }
}
