// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {AccessRegistry} from "../src/AccessRegistry.sol";

contract ReadIfTrue {
    bool public answer;

    function set(bool a) external {
        answer = a;
    }

    function canRead(bytes32, address) external view returns (bool) {
        return answer;
    }
}

contract Reverts {
    function canRead(bytes32, address) external pure returns (bool) {
        revert("no");
    }
}

/// @dev Burns `target` gas, then says yes: under the 100k cap only a modest policy gets to answer.
contract Burner {
    uint256 public target;

    function set(uint256 t) external {
        target = t;
    }

    function canRead(bytes32, address) external view returns (bool) {
        uint256 t = target;
        uint256 start = gasleft();
        while (start - gasleft() < t) {}
        return true;
    }
}

/// @dev Says yes only for one (item, account): proves the arguments reach the policy in order.
contract OnlyFor {
    bytes32 internal immutable item;
    address internal immutable who;

    constructor(bytes32 item_, address who_) {
        item = item_;
        who = who_;
    }

    function canRead(bytes32 i, address w) external view returns (bool) {
        return i == item && w == who;
    }
}

/// @dev Answers with 64 bytes, the first word true: malformed, so no.
contract LongAnswer {
    fallback() external {
        assembly {
            mstore(0, 1)
            mstore(32, 1)
            return(0, 64)
        }
    }
}

contract ShortAnswer {
    fallback() external {
        assembly {
            mstore(0, 1)
            return(0, 1)
        }
    }
}

contract AccessRegistryTest is Test {
    AccessRegistry internal reg;
    address internal constant OWNER = address(0xA11CE);
    address internal constant ADMIN = address(0xAD);
    address internal constant ADMIN2 = address(0xAD2);
    address internal constant WRITER = address(0xB0B);
    address internal constant READER = address(0xCA201);
    address internal constant STRANGER = address(0x5);
    bytes32 internal constant ITEM = keccak256("item");

    event Granted(bytes32 indexed item, address indexed who, AccessRegistry.Level level, uint64 expiry, address indexed by);
    event Revoked(bytes32 indexed item, address indexed who, address indexed by);
    event EpochStarted(bytes32 indexed item, uint64 epoch, address indexed by);
    event ItemCreated(bytes32 indexed item, address indexed owner, bool isPublic);
    event VersionPublished(bytes32 indexed item, uint64 index, bytes32 manifest, uint64 epoch, address indexed author);
    event OwnershipTransferred(bytes32 indexed item, address indexed from, address indexed to);
    event PublicSet(bytes32 indexed item, bool isPublic, address indexed by);
    event PolicySet(bytes32 indexed item, address policy, address indexed by);

    function setUp() public {
        vm.warp(1_000_000);
        reg = new AccessRegistry();
        vm.expectEmit(true, true, false, true);
        emit ItemCreated(ITEM, OWNER, false);
        vm.prank(OWNER);
        reg.create(ITEM, false);
        vm.startPrank(OWNER);
        reg.grant(ITEM, ADMIN, AccessRegistry.Level.ADMIN, 0);
        reg.grant(ITEM, ADMIN2, AccessRegistry.Level.ADMIN, 0);
        reg.grant(ITEM, WRITER, AccessRegistry.Level.WRITE, 0);
        reg.grant(ITEM, READER, AccessRegistry.Level.READ, 0);
        vm.stopPrank();
    }

    function level(address who) internal view returns (uint256) {
        return uint256(reg.levelOf(ITEM, who));
    }

    // ---- creation

    function testCreateSetsOwnerAndEpochZero() public view {
        (address owner, bool isPublic, uint64 epoch, address policy, uint64 versions) = reg.info(ITEM);
        assertEq(owner, OWNER, "owner");
        assertFalse(isPublic, "private");
        assertEq(epoch, 0, "epoch");
        assertEq(policy, address(0), "policy");
        assertEq(versions, 0, "versions");
        assertEq(level(OWNER), uint256(AccessRegistry.Level.ADMIN), "owner is admin");
        assertTrue(reg.exists(ITEM), "exists");
    }

    function testCreateTwiceFails() public {
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.ItemExists.selector);
        reg.create(ITEM, true);
    }

    function testUnknownItemFails() public {
        vm.expectRevert(AccessRegistry.NoSuchItem.selector);
        reg.info(keccak256("nope"));
        vm.prank(OWNER);
        vm.expectRevert(AccessRegistry.NoSuchItem.selector);
        reg.grant(keccak256("nope"), READER, AccessRegistry.Level.READ, 0);
        assertFalse(reg.canRead(keccak256("nope"), OWNER), "unknown is unreadable");
        assertEq(uint256(reg.levelOf(keccak256("nope"), OWNER)), 0, "no level");
    }

    // ---- publishing

    function testWriterPublishesInCurrentEpoch() public {
        vm.expectEmit(true, true, false, true);
        emit VersionPublished(ITEM, 0, bytes32(uint256(7)), 0, WRITER);
        vm.prank(WRITER);
        uint64 index = reg.publish(ITEM, bytes32(uint256(7)));
        assertEq(index, 0, "index");
        (bytes32 manifest, uint64 epoch, address author, uint64 ts) = reg.version(ITEM, 0);
        assertEq(manifest, bytes32(uint256(7)), "manifest");
        assertEq(epoch, 0, "epoch");
        assertEq(author, WRITER, "author");
        assertEq(ts, 1_000_000, "timestamp");
    }

    function testReaderAndStrangerCannotPublish() public {
        vm.prank(READER);
        vm.expectRevert(AccessRegistry.NotWriter.selector);
        reg.publish(ITEM, bytes32(uint256(1)));
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.NotWriter.selector);
        reg.publish(ITEM, bytes32(uint256(1)));
    }

    // ---- grants and the owner's protection

    function testAdminCannotDemoteOrRevokeOwner() public {
        vm.startPrank(ADMIN);
        vm.expectRevert(AccessRegistry.OwnerIsUntouchable.selector);
        reg.grant(ITEM, OWNER, AccessRegistry.Level.READ, 0);
        vm.expectRevert(AccessRegistry.OwnerIsUntouchable.selector);
        reg.revoke(ITEM, OWNER);
        vm.stopPrank();
        assertEq(level(OWNER), uint256(AccessRegistry.Level.ADMIN), "owner keeps admin");
        assertEq(reg.ownerOf(ITEM), OWNER, "owner stays");
    }

    function testOwnerCannotDemoteItself() public {
        vm.prank(OWNER);
        vm.expectRevert(AccessRegistry.OwnerIsUntouchable.selector);
        reg.revoke(ITEM, OWNER);
    }

    function testAdminCannotGrantAdmin() public {
        vm.prank(ADMIN);
        vm.expectRevert(AccessRegistry.AdminCannotGrantAdmin.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.ADMIN, 0);
    }

    function testAdminCannotTouchAnotherAdmin() public {
        vm.startPrank(ADMIN);
        vm.expectRevert(AccessRegistry.AdminCannotGrantAdmin.selector);
        reg.revoke(ITEM, ADMIN2);
        vm.expectRevert(AccessRegistry.AdminCannotGrantAdmin.selector);
        reg.grant(ITEM, ADMIN2, AccessRegistry.Level.READ, 0);
        vm.stopPrank();
        assertEq(level(ADMIN2), uint256(AccessRegistry.Level.ADMIN), "admin2 intact");
    }

    function testAdminGrantsAndRevokesReadAndWrite() public {
        vm.startPrank(ADMIN);
        vm.expectEmit(true, true, true, true);
        emit Granted(ITEM, STRANGER, AccessRegistry.Level.WRITE, 0, ADMIN);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.WRITE, 0);
        assertTrue(reg.canWrite(ITEM, STRANGER), "granted write");
        reg.revoke(ITEM, STRANGER);
        vm.stopPrank();
        assertFalse(reg.canRead(ITEM, STRANGER), "revoked");
    }

    function testNonAdminsCannotGrantOrRevoke() public {
        vm.startPrank(WRITER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 0);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.revoke(ITEM, READER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.setPublic(ITEM, true);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.rotateEpoch(ITEM);
        vm.stopPrank();
    }

    function testBadGrantsFail() public {
        vm.startPrank(OWNER);
        vm.expectRevert(AccessRegistry.BadLevel.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.NONE, 0);
        vm.expectRevert(AccessRegistry.ZeroAddress.selector);
        reg.grant(ITEM, address(0), AccessRegistry.Level.READ, 0);
        vm.expectRevert(AccessRegistry.ExpiryInPast.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 1_000_000);
        vm.stopPrank();
    }

    function testExpiredGrantIsNone() public {
        vm.prank(OWNER);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.WRITE, 1_000_100);
        assertTrue(reg.canRead(ITEM, STRANGER), "before expiry");
        vm.warp(1_000_100);
        assertEq(level(STRANGER), 0, "expired level");
        assertFalse(reg.canRead(ITEM, STRANGER), "expired read");
        assertFalse(reg.canWrite(ITEM, STRANGER), "expired write");
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.NotWriter.selector);
        reg.publish(ITEM, bytes32(uint256(1)));
        (AccessRegistry.Level stored, uint64 expiry) = reg.grantOf(ITEM, STRANGER);
        assertEq(uint256(stored), uint256(AccessRegistry.Level.WRITE), "stored level kept");
        assertEq(expiry, 1_000_100, "stored expiry");
    }

    function testExpiredAdminCannotGrant() public {
        vm.prank(OWNER);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.ADMIN, 1_000_010);
        vm.warp(1_000_011);
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.grant(ITEM, address(0x77), AccessRegistry.Level.READ, 0);
    }

    // ---- epochs

    function testRevokeStartsNewEpoch() public {
        vm.expectEmit(true, true, true, false);
        emit Revoked(ITEM, READER, OWNER);
        vm.expectEmit(true, true, false, true);
        emit EpochStarted(ITEM, 1, OWNER);
        vm.prank(OWNER);
        reg.revoke(ITEM, READER);
        (,, uint64 epoch,,) = reg.info(ITEM);
        assertEq(epoch, 1, "epoch bumped");
        assertFalse(reg.canRead(ITEM, READER), "reader gone");
        vm.prank(WRITER);
        reg.publish(ITEM, bytes32(uint256(9)));
        (, uint64 vEpoch,,) = reg.version(ITEM, 0);
        assertEq(vEpoch, 1, "new versions in the new epoch");
    }

    function testRotateEpoch() public {
        vm.prank(ADMIN);
        reg.rotateEpoch(ITEM);
        (,, uint64 epoch,,) = reg.info(ITEM);
        assertEq(epoch, 1, "rotated");
    }

    // ---- public flag and policy

    function testPublicReadAndGoingPrivateBumpsEpoch() public {
        assertFalse(reg.canRead(ITEM, STRANGER), "private");
        vm.expectEmit(true, false, true, true);
        emit PublicSet(ITEM, true, OWNER);
        vm.prank(OWNER);
        reg.setPublic(ITEM, true);
        assertTrue(reg.canRead(ITEM, STRANGER), "public");
        assertFalse(reg.canWrite(ITEM, STRANGER), "public is read only");
        (,, uint64 epoch,,) = reg.info(ITEM);
        assertEq(epoch, 0, "going public keeps the epoch");
        vm.prank(ADMIN);
        reg.setPublic(ITEM, false);
        (,, epoch,,) = reg.info(ITEM);
        assertEq(epoch, 1, "going private starts an epoch");
        assertFalse(reg.canRead(ITEM, STRANGER), "private again");
    }

    function testPolicyGrantsRead() public {
        ReadIfTrue policy = new ReadIfTrue();
        vm.expectEmit(true, false, true, true);
        emit PolicySet(ITEM, address(policy), OWNER);
        vm.prank(OWNER);
        reg.setPolicy(ITEM, address(policy));
        assertFalse(reg.canRead(ITEM, STRANGER), "policy says no");
        policy.set(true);
        assertTrue(reg.canRead(ITEM, STRANGER), "policy says yes");
        assertFalse(reg.canWrite(ITEM, STRANGER), "policy grants only read");
    }

    function testBrokenPoliciesMeanNo() public {
        Burner endless = new Burner();
        endless.set(type(uint256).max);
        address[4] memory policies =
            [address(new Reverts()), address(endless), address(new ShortAnswer()), address(new LongAnswer())];
        for (uint256 i = 0; i < policies.length; i++) {
            vm.prank(OWNER);
            reg.setPolicy(ITEM, policies[i]);
            assertFalse(reg.canRead(ITEM, STRANGER), "broken policy is no");
        }
        vm.prank(OWNER);
        reg.setPolicy(ITEM, address(0xdead));
        assertFalse(reg.canRead(ITEM, STRANGER), "codeless policy is no");
    }

    // ---- ownership

    function testOnlyOwnerTransfers() public {
        vm.prank(ADMIN);
        vm.expectRevert(AccessRegistry.NotOwner.selector);
        reg.transferOwnership(ITEM, ADMIN);
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.NotOwner.selector);
        reg.transferOwnership(ITEM, STRANGER);
        vm.prank(OWNER);
        vm.expectRevert(AccessRegistry.ZeroAddress.selector);
        reg.transferOwnership(ITEM, address(0));
    }

    function testTransferMovesEverything() public {
        vm.expectEmit(true, true, true, false);
        emit OwnershipTransferred(ITEM, OWNER, READER);
        vm.prank(OWNER);
        reg.transferOwnership(ITEM, READER);
        assertEq(reg.ownerOf(ITEM), READER, "new owner");
        assertEq(level(OWNER), 0, "old owner keeps nothing");
        assertEq(level(READER), uint256(AccessRegistry.Level.ADMIN), "new owner is admin");
        (AccessRegistry.Level stored,) = reg.grantOf(ITEM, READER);
        assertEq(uint256(stored), 0, "stale grant cleared");
        vm.prank(ADMIN);
        vm.expectRevert(AccessRegistry.OwnerIsUntouchable.selector);
        reg.revoke(ITEM, READER);
    }

    // ---- more: policy details

    function testPolicyGetsItemAndAccount() public {
        OnlyFor policy = new OnlyFor(ITEM, STRANGER);
        vm.prank(OWNER);
        reg.setPolicy(ITEM, address(policy));
        assertTrue(reg.canRead(ITEM, STRANGER), "the named account");
        assertFalse(reg.canRead(ITEM, address(0x77)), "another account");
    }

    function testPolicyGasIsCapped() public {
        Burner burner = new Burner();
        vm.prank(OWNER);
        reg.setPolicy(ITEM, address(burner));
        burner.set(50_000);
        assertTrue(reg.canRead(ITEM, STRANGER), "a policy within the cap answers");
        burner.set(150_000);
        assertFalse(reg.canRead(ITEM, STRANGER), "a policy over the cap is no (it would say yes uncapped)");
        burner.set(type(uint256).max);
        uint256 before = gasleft();
        assertFalse(reg.canRead(ITEM, STRANGER), "an endless policy is no");
        assertLt(before - gasleft(), 130_000, "canRead costs at most the cap plus overhead");
    }

    function testPolicyOnlyByAdminAndRemovable() public {
        ReadIfTrue policy = new ReadIfTrue();
        policy.set(true);
        vm.prank(WRITER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.setPolicy(ITEM, address(policy));
        vm.prank(ADMIN);
        reg.setPolicy(ITEM, address(policy));
        assertTrue(reg.canRead(ITEM, STRANGER), "policy yes");
        vm.expectEmit(true, false, true, true);
        emit PolicySet(ITEM, address(0), OWNER);
        vm.prank(OWNER);
        reg.setPolicy(ITEM, address(0));
        (,,, address stored,) = reg.info(ITEM);
        assertEq(stored, address(0), "policy removed");
        assertFalse(reg.canRead(ITEM, STRANGER), "no policy, no read");
    }

    // ---- more: epochs and the public flag

    function testRotateEpochEmits() public {
        vm.expectEmit(true, false, true, true);
        emit EpochStarted(ITEM, 1, ADMIN);
        vm.prank(ADMIN);
        reg.rotateEpoch(ITEM);
        vm.prank(STRANGER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.rotateEpoch(ITEM);
    }

    function testGoingPrivateEmitsEpochOnlyFromPublic() public {
        vm.prank(OWNER);
        reg.setPublic(ITEM, false); // already private: no new epoch
        (,, uint64 epoch,,) = reg.info(ITEM);
        assertEq(epoch, 0, "private to private keeps the epoch");
        vm.prank(OWNER);
        reg.setPublic(ITEM, true);
        vm.expectEmit(true, false, true, true);
        emit PublicSet(ITEM, false, OWNER);
        vm.expectEmit(true, false, true, true);
        emit EpochStarted(ITEM, 1, OWNER);
        vm.prank(OWNER);
        reg.setPublic(ITEM, false);
    }

    // ---- more: who manages whom

    function testOwnerManagesAdmins() public {
        vm.startPrank(OWNER);
        reg.grant(ITEM, ADMIN, AccessRegistry.Level.READ, 0); // demote
        reg.revoke(ITEM, ADMIN2);
        vm.stopPrank();
        assertEq(level(ADMIN), uint256(AccessRegistry.Level.READ), "demoted");
        assertEq(level(ADMIN2), 0, "revoked");
        vm.prank(ADMIN);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 0);
    }

    function testOwnerCannotGrantItself() public {
        vm.prank(OWNER);
        vm.expectRevert(AccessRegistry.OwnerIsUntouchable.selector);
        reg.grant(ITEM, OWNER, AccessRegistry.Level.ADMIN, 0);
    }

    function testAdminMayReplaceAnExpiredAdminGrant() public {
        vm.prank(OWNER);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.ADMIN, 1_000_010);
        vm.prank(ADMIN);
        vm.expectRevert(AccessRegistry.AdminCannotGrantAdmin.selector);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 0);
        vm.warp(1_000_010);
        vm.startPrank(ADMIN);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 0); // expired ADMIN counts as NONE
        reg.revoke(ITEM, STRANGER);
        vm.stopPrank();
        assertEq(level(STRANGER), 0, "gone");
    }

    function testAdminGrantsWithExpiry() public {
        vm.expectEmit(true, true, true, true);
        emit Granted(ITEM, STRANGER, AccessRegistry.Level.READ, 1_000_050, ADMIN);
        vm.prank(ADMIN);
        reg.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 1_000_050);
        assertTrue(reg.canRead(ITEM, STRANGER), "until expiry");
        vm.warp(1_000_049);
        assertTrue(reg.canRead(ITEM, STRANGER), "just before expiry");
        vm.warp(1_000_050);
        assertFalse(reg.canRead(ITEM, STRANGER), "at expiry");
    }

    function testLevelsReadAndWrite() public view {
        assertTrue(reg.canRead(ITEM, OWNER), "owner reads a private item");
        assertTrue(reg.canWrite(ITEM, OWNER), "owner writes");
        assertTrue(reg.canRead(ITEM, WRITER), "writer reads");
        assertTrue(reg.canWrite(ITEM, ADMIN), "admin writes");
        assertTrue(reg.canRead(ITEM, READER), "reader reads");
        assertFalse(reg.canWrite(ITEM, READER), "reader does not write");
        assertFalse(reg.canRead(ITEM, STRANGER), "stranger does not read");
        assertFalse(reg.canRead(ITEM, address(0)), "zero address does not read");
    }

    // ---- more: versions and ownership

    function testVersionsAppend() public {
        vm.prank(WRITER);
        reg.publish(ITEM, bytes32(uint256(1)));
        vm.warp(1_000_500);
        vm.prank(ADMIN);
        uint64 index = reg.publish(ITEM, bytes32(uint256(2)));
        assertEq(index, 1, "second index");
        (,,,, uint64 versions) = reg.info(ITEM);
        assertEq(versions, 2, "two versions");
        (bytes32 manifest,, address author, uint64 ts) = reg.version(ITEM, 1);
        assertEq(manifest, bytes32(uint256(2)), "manifest");
        assertEq(author, ADMIN, "author");
        assertEq(ts, 1_000_500, "timestamp");
        vm.expectRevert();
        reg.version(ITEM, 2);
        vm.prank(OWNER);
        vm.expectRevert(AccessRegistry.NoSuchItem.selector);
        reg.publish(keccak256("nope"), bytes32(uint256(1)));
    }

    function testOldOwnerLosesEverything() public {
        vm.prank(OWNER);
        reg.transferOwnership(ITEM, STRANGER);
        vm.startPrank(OWNER);
        vm.expectRevert(AccessRegistry.NotAdmin.selector);
        reg.grant(ITEM, READER, AccessRegistry.Level.WRITE, 0);
        vm.expectRevert(AccessRegistry.NotOwner.selector);
        reg.transferOwnership(ITEM, OWNER);
        vm.expectRevert(AccessRegistry.NotWriter.selector);
        reg.publish(ITEM, bytes32(uint256(1)));
        vm.stopPrank();
        assertFalse(reg.canRead(ITEM, OWNER), "old owner cannot read");
        vm.prank(STRANGER);
        reg.grant(ITEM, OWNER, AccessRegistry.Level.READ, 0);
        assertTrue(reg.canRead(ITEM, OWNER), "new owner may grant the old one");
    }
}
