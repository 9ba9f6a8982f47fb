// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {KeyRegistry} from "../src/KeyRegistry.sol";

contract KeyRegistryTest is Test {
    KeyRegistry internal reg;

    event KeySet(address indexed who, bytes32 key);

    function setUp() public {
        reg = new KeyRegistry();
    }

    function testEachAccountSetsItsOwnKey() public {
        assertEq(reg.keyOf(address(0xA)), bytes32(0), "unset is zero");
        vm.expectEmit(true, false, false, true);
        emit KeySet(address(0xA), bytes32(uint256(1)));
        vm.prank(address(0xA));
        reg.setKey(bytes32(uint256(1)));
        vm.prank(address(0xB));
        reg.setKey(bytes32(uint256(2)));
        assertEq(reg.keyOf(address(0xA)), bytes32(uint256(1)), "a");
        assertEq(reg.keyOf(address(0xB)), bytes32(uint256(2)), "b");
        vm.prank(address(0xA));
        reg.setKey(bytes32(uint256(3)));
        assertEq(reg.keyOf(address(0xA)), bytes32(uint256(3)), "replaced");
    }

    function testZeroKeyRefused() public {
        vm.expectRevert(KeyRegistry.ZeroKey.selector);
        reg.setKey(bytes32(0));
    }
}
