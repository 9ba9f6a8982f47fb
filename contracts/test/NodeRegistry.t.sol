// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";

contract NodeRegistryTest is Test {
    NodeRegistry internal reg;

    bytes32 internal constant ID1 = bytes32(uint256(0x11));
    bytes32 internal constant ID2 = bytes32(uint256(0x22));
    address internal constant ALICE = address(0xA);
    address internal constant BOB = address(0xB);
    address internal constant ADMIN = address(0xAD);
    address internal constant MALLORY = address(0x666);

    function setUp() public {
        reg = new NodeRegistry();
        // As genesis does: the admin in storage slot 2 (this also pins the storage layout).
        vm.store(address(reg), bytes32(uint256(2)), bytes32(uint256(uint160(ADMIN))));
        assertEq(reg.admin(), ADMIN, "admin read from slot 2");
        vm.startPrank(ADMIN);
        reg.approve(ALICE);
        reg.approve(BOB);
        vm.stopPrank();
    }

    function testOnlyApprovedOperatorsAnnounce() public {
        vm.prank(MALLORY);
        vm.expectRevert(NodeRegistry.NotApproved.selector);
        reg.announce(ID1, "http://evil", proof(1));
        // Mallory cannot approve herself, hand herself the admin role, or disapprove others.
        vm.startPrank(MALLORY);
        vm.expectRevert(NodeRegistry.NotAdmin.selector);
        reg.approve(MALLORY);
        vm.expectRevert(NodeRegistry.NotAdmin.selector);
        reg.setAdmin(MALLORY);
        vm.expectRevert(NodeRegistry.NotAdmin.selector);
        reg.disapprove(ALICE);
        vm.stopPrank();
        // The admin may announce without approving itself.
        vm.prank(ADMIN);
        reg.announce(ID2, "http://authority", proof(2));
        assertEq(reg.all().length, 1, "the admin's node");
    }

    function testADisapprovedOperatorsNodesLeaveTheList() public {
        vm.prank(ALICE);
        reg.announce(ID1, "http://a", proof(1));
        vm.prank(BOB);
        reg.announce(ID2, "http://b", proof(2));
        assertEq(reg.all().length, 2, "both listed");
        vm.prank(ADMIN);
        reg.disapprove(ALICE);
        NodeRegistry.Node[] memory all = reg.all();
        assertEq(all.length, 1, "alice's node left");
        assertEq(all[0].operator, BOB, "bob's remains");
        vm.prank(ALICE);
        vm.expectRevert(NodeRegistry.NotApproved.selector);
        reg.announce(ID1, "http://a2", proof(3));
        // Approved again: her entry is back, unchanged.
        vm.prank(ADMIN);
        reg.approve(ALICE);
        assertEq(reg.all().length, 2, "back");
    }

    function testTheAdminRoleMovesOnlyByTheAdmin() public {
        vm.prank(ADMIN);
        reg.setAdmin(BOB);
        assertEq(reg.admin(), BOB, "bob is admin");
        vm.prank(ADMIN);
        vm.expectRevert(NodeRegistry.NotAdmin.selector);
        reg.approve(MALLORY);
        vm.prank(BOB);
        reg.approve(MALLORY);
        assertTrue(reg.mayOperate(MALLORY), "approved by the new admin");
        assertFalse(reg.mayOperate(address(0)), "the zero address never operates");
    }

    function testWithoutAnAdminNobodyAnnounces() public {
        NodeRegistry open = new NodeRegistry();
        vm.prank(ALICE);
        vm.expectRevert(NodeRegistry.NotApproved.selector);
        open.announce(ID1, "http://a", proof(1));
        vm.prank(address(0));
        vm.expectRevert(NodeRegistry.NotAdmin.selector);
        open.approve(ALICE);
    }

    function proof(uint8 fill) internal pure returns (bytes memory p) {
        p = new bytes(64);
        for (uint256 i = 0; i < 64; i++) p[i] = bytes1(fill);
    }

    function testAnnounceListsTheNode() public {
        vm.warp(1000);
        vm.prank(ALICE);
        reg.announce(ID1, "http://127.0.0.1:8545", proof(1));
        assertEq(reg.count(), 1, "one entry");
        (bytes32 id, address op, string memory url, bytes memory p, uint64 since) = reg.nodeAt(0);
        assertEq(id, ID1, "id");
        assertEq(op, ALICE, "operator is the sender");
        assertEq(url, "http://127.0.0.1:8545", "url");
        assertEq(p, proof(1), "proof");
        assertEq(since, 1000, "since");
    }

    function testReannounceUpdatesInPlace() public {
        vm.startPrank(ALICE);
        reg.announce(ID1, "http://a", proof(1));
        reg.announce(ID1, "http://b", proof(2));
        vm.stopPrank();
        assertEq(reg.count(), 1, "still one entry");
        NodeRegistry.Node[] memory all = reg.all();
        assertEq(all[0].url, "http://b", "url updated");
        assertEq(all[0].proof, proof(2), "proof updated");
    }

    function testSquatterCannotOverwriteAnotherOperatorsEntry() public {
        vm.prank(ALICE);
        reg.announce(ID1, "http://real", proof(1));
        vm.prank(BOB);
        reg.announce(ID1, "http://evil", proof(9));
        assertEq(reg.count(), 2, "a separate entry: readers reject it by its proof");
        NodeRegistry.Node[] memory all = reg.all();
        assertEq(all[0].url, "http://real", "alice's entry untouched");
        assertEq(all[0].operator, ALICE, "alice still operates it");
        vm.prank(BOB);
        vm.expectRevert(NodeRegistry.NotAnnounced.selector);
        reg.withdraw(ID2);
    }

    function testOnlyTheOperatorWithdraws() public {
        vm.prank(ALICE);
        reg.announce(ID1, "http://a", proof(1));
        vm.prank(BOB);
        vm.expectRevert(NodeRegistry.NotAnnounced.selector);
        reg.withdraw(ID1);
        vm.prank(ALICE);
        reg.withdraw(ID1);
        assertEq(reg.count(), 0, "gone");
    }

    function testWithdrawKeepsTheOthersReachable() public {
        vm.prank(ALICE);
        reg.announce(ID1, "http://a", proof(1));
        vm.prank(BOB);
        reg.announce(ID2, "http://b", proof(2));
        vm.prank(ALICE);
        reg.withdraw(ID1);
        assertEq(reg.count(), 1, "one left");
        (bytes32 id,, string memory url,,) = reg.nodeAt(0);
        assertEq(id, ID2, "bob's moved into the gap");
        assertEq(url, "http://b", "url");
        // The moved entry is still updatable and withdrawable by its operator.
        vm.prank(BOB);
        reg.announce(ID2, "http://b2", proof(3));
        assertEq(reg.count(), 1, "updated in place");
        vm.prank(BOB);
        reg.withdraw(ID2);
        assertEq(reg.count(), 0, "empty");
    }

    function testBadInputRefused() public {
        vm.prank(ADMIN);
        reg.approve(address(this));
        vm.expectRevert(NodeRegistry.ZeroId.selector);
        reg.announce(bytes32(0), "http://a", proof(1));
        vm.expectRevert(NodeRegistry.BadUrl.selector);
        reg.announce(ID1, "", proof(1));
        vm.expectRevert(NodeRegistry.BadProof.selector);
        reg.announce(ID1, "http://a", new bytes(10));
        bytes memory long = new bytes(257);
        vm.expectRevert(NodeRegistry.BadUrl.selector);
        reg.announce(ID1, string(long), proof(1));
    }
}
