// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./lib/Test.sol";
import {AccessRegistry} from "../src/AccessRegistry.sol";
import {Marketplace, Offer} from "../src/Marketplace.sol";

/// @dev A collaborator whose wallet refuses payments.
contract Refuses {
    receive() external payable {
        revert("no thanks");
    }
}

/// @dev A collaborator that tries to re-enter the marketplace when paid.
contract Reenters {
    Marketplace internal immutable market;
    bytes32 internal immutable item;
    bool public reentered;

    constructor(Marketplace m, bytes32 i) {
        market = m;
        item = i;
    }

    receive() external payable {
        // Buy again with the money just received; this must fail.
        market.buy{value: msg.value}(item, address(this));
        reentered = true;
    }

    function collect() external {
        market.withdraw();
    }
}

/// @dev Burns all the gas it is given when paid.
contract Burns {
    receive() external payable {
        while (true) {}
    }
}

contract MarketplaceTest is Test {
    AccessRegistry internal constant REG = AccessRegistry(0x4C53000000000000000000000000000000000001);
    Marketplace internal constant MARKET = Marketplace(payable(0x4C53000000000000000000000000000000000003));
    uint256 internal constant CREATOR_KEY = 0xC0FFEE;
    address internal creator;
    address internal constant COLLAB_A = address(0xA0001);
    address internal constant COLLAB_B = address(0xB0001);
    address internal constant BUYER = address(0xB11);
    address internal constant FRIEND = address(0xF1);
    address internal constant STRANGER = address(0x50001);
    bytes32 internal constant ITEM = keccak256("track");
    uint256 internal constant PRICE = 1 ether + 7; // 7 wei of rounding dust under two splits

    event Purchased(
        bytes32 indexed item, address indexed buyer, address indexed recipient, uint256 paid, bytes32 offerNonce
    );

    function setUp() public {
        vm.warp(1_000_000);
        vm.etch(address(REG), address(new AccessRegistry()).code);
        vm.etch(address(MARKET), address(new Marketplace()).code);
        creator = vm.addr(CREATOR_KEY);
        vm.startPrank(creator);
        REG.create(ITEM, false);
        REG.grant(ITEM, address(MARKET), AccessRegistry.Level.ADMIN, 0);
        vm.stopPrank();
        vm.deal(BUYER, 100 ether);
        vm.deal(STRANGER, 100 ether);
    }

    function splits(address a, uint16 aBps, address b, uint16 bBps)
        internal
        pure
        returns (address[] memory who, uint16[] memory bps)
    {
        who = new address[](2);
        bps = new uint16[](2);
        (who[0], bps[0], who[1], bps[1]) = (a, aBps, b, bBps);
    }

    function none() internal pure returns (address[] memory who, uint16[] memory bps) {
        return (new address[](0), new uint16[](0));
    }

    function listPlain(uint64 supply) internal {
        (address[] memory who, uint16[] memory bps) = none();
        vm.prank(creator);
        MARKET.list(ITEM, PRICE, supply, who, bps);
    }

    function canRead(address who) internal view returns (bool) {
        return REG.canRead(ITEM, who);
    }

    function offer(uint16 discountBps, address buyer, uint64 expiry, bytes32 nonce) internal pure returns (Offer memory) {
        return Offer({item: ITEM, discountBps: discountBps, buyer: buyer, expiry: expiry, nonce: nonce});
    }

    function signed(uint256 key, Offer memory o) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, MARKET.offerDigest(o));
        return abi.encodePacked(r, s, v);
    }

    // ---- listing

    function testOnlyTheOwnerLists() public {
        (address[] memory who, uint16[] memory bps) = none();
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: only the item's owner can list it"));
        MARKET.list(ITEM, PRICE, 0, who, bps);
    }

    function testListingNeedsTheMarketplaceAsAdmin() public {
        vm.prank(creator);
        REG.revoke(ITEM, address(MARKET));
        (address[] memory who, uint16[] memory bps) = none();
        vm.prank(creator);
        vm.expectRevert(
            bytes(
                "Marketplace: make the marketplace an ADMIN of the item first (AccessRegistry.grant(item, marketplace, ADMIN, 0)) so purchases can grant READ"
            )
        );
        MARKET.list(ITEM, PRICE, 0, who, bps);
    }

    function testSplitsOverTheWholeAreRefused() public {
        (address[] memory who, uint16[] memory bps) = splits(COLLAB_A, 6000, COLLAB_B, 4001);
        vm.prank(creator);
        vm.expectRevert(bytes("Marketplace: the collaborators' shares exceed 10000 basis points"));
        MARKET.list(ITEM, PRICE, 0, who, bps);
        (who, bps) = splits(COLLAB_A, 100, address(0), 100);
        vm.prank(creator);
        vm.expectRevert(bytes("Marketplace: a collaborator is the zero address"));
        MARKET.list(ITEM, PRICE, 0, who, bps);
    }

    // ---- buying

    function testBuyPaysSplitsExactlyWithDustToTheCreatorAndGrantsRead() public {
        (address[] memory who, uint16[] memory bps) = splits(COLLAB_A, 2500, COLLAB_B, 3333);
        vm.prank(creator);
        MARKET.list(ITEM, PRICE, 0, who, bps);
        uint256 creatorBefore = creator.balance;
        assertFalse(canRead(BUYER), "no access before paying");
        vm.expectEmit(true, true, true, true);
        emit Purchased(ITEM, BUYER, BUYER, PRICE, bytes32(0));
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        uint256 a = (PRICE * 2500) / 10_000;
        uint256 b = (PRICE * 3333) / 10_000;
        assertEq(COLLAB_A.balance, a, "collaborator A's cut");
        assertEq(COLLAB_B.balance, b, "collaborator B's cut");
        assertEq(creator.balance - creatorBefore, PRICE - a - b, "creator gets the rest, dust included");
        assertEq(address(MARKET).balance, 0, "the marketplace keeps nothing");
        assertTrue(canRead(BUYER), "buyer can read");
        assertEq(uint256(REG.levelOf(ITEM, BUYER)), uint256(AccessRegistry.Level.READ), "READ exactly");
        (,,, uint64 sold,,,) = MARKET.listing(ITEM);
        assertEq(sold, 1, "one sold");
    }

    function testUnderpayingOrOverpayingRevertsAndGrantsNothing() public {
        listPlain(0);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: send exactly the price due (overpayment is refused)"));
        MARKET.buy{value: PRICE - 1}(ITEM, BUYER);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: send exactly the price due (overpayment is refused)"));
        MARKET.buy{value: PRICE + 1}(ITEM, BUYER);
        assertFalse(canRead(BUYER), "no access without full payment");
        assertEq(BUYER.balance, 100 ether, "nothing taken");
    }

    function testGiftGrantsTheRecipientNotThePayer() public {
        listPlain(0);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, FRIEND);
        assertTrue(canRead(FRIEND), "recipient reads");
        assertFalse(canRead(BUYER), "payer does not");
    }

    function testSupplyCap() public {
        listPlain(2);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, FRIEND);
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: sold out"));
        MARKET.buy{value: PRICE}(ITEM, STRANGER);
        assertFalse(canRead(STRANGER), "no access past the cap");
        // Supply can grow but not shrink below what was sold.
        (address[] memory who, uint16[] memory bps) = none();
        vm.prank(creator);
        vm.expectRevert(bytes("Marketplace: supply is below the copies already sold"));
        MARKET.list(ITEM, PRICE, 1, who, bps);
    }

    function testDelistedCannotBeBoughtAndRelistedCan() public {
        listPlain(0);
        vm.prank(creator);
        MARKET.setActive(ITEM, false);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the item is not for sale now (delisted)"));
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        vm.prank(creator);
        MARKET.setActive(ITEM, true);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        assertTrue(canRead(BUYER), "relisted sells");
    }

    function testOnlyTheCreatorChangesPriceAndStatus() public {
        listPlain(0);
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: only the listing's creator can change it"));
        MARKET.setPrice(ITEM, 1);
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: only the listing's creator can change it"));
        MARKET.setActive(ITEM, false);
        vm.prank(creator);
        MARKET.setPrice(ITEM, 5);
        vm.prank(BUYER);
        MARKET.buy{value: 5}(ITEM, BUYER);
        assertTrue(canRead(BUYER), "new price");
    }

    function testUnlistedItemIsNotForSale() public {
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the item is not for sale"));
        MARKET.buy{value: PRICE}(keccak256("nothing"), BUYER);
    }

    function testStaleListingAfterOwnershipTransfer() public {
        listPlain(0);
        vm.prank(creator);
        REG.transferOwnership(ITEM, STRANGER);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the listing is stale (the item changed owner)"));
        MARKET.buy{value: PRICE}(ITEM, BUYER);
    }

    function testWritersAreNotDemotedAndExpiringReadBecomesPermanent() public {
        listPlain(0);
        vm.startPrank(creator);
        REG.grant(ITEM, FRIEND, AccessRegistry.Level.WRITE, 0);
        REG.grant(ITEM, STRANGER, AccessRegistry.Level.READ, 2_000_000);
        vm.stopPrank();
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, FRIEND);
        assertEq(uint256(REG.levelOf(ITEM, FRIEND)), uint256(AccessRegistry.Level.WRITE), "writer kept");
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, STRANGER);
        (, uint64 expiry) = REG.grantOf(ITEM, STRANGER);
        assertEq(expiry, 0, "permanent");
    }

    // ---- payouts that fail

    function testARefusingCollaboratorDoesNotBlockTheSale() public {
        Refuses refuses = new Refuses();
        (address[] memory who, uint16[] memory bps) = splits(address(refuses), 5000, COLLAB_A, 1000);
        vm.prank(creator);
        MARKET.list(ITEM, PRICE, 0, who, bps);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        assertTrue(canRead(BUYER), "sale completed");
        assertEq(MARKET.withdrawable(address(refuses)), (PRICE * 5000) / 10_000, "credited");
        assertEq(COLLAB_A.balance, (PRICE * 1000) / 10_000, "others paid");
    }

    function testAGasBurningCollaboratorDoesNotBlockTheSale() public {
        Burns burns = new Burns();
        (address[] memory who, uint16[] memory bps) = splits(address(burns), 5000, COLLAB_A, 0);
        vm.prank(creator);
        MARKET.list(ITEM, PRICE, 0, who, bps);
        vm.prank(BUYER);
        MARKET.buy{value: PRICE}(ITEM, BUYER);
        assertTrue(canRead(BUYER), "sale completed");
        assertEq(MARKET.withdrawable(address(burns)), (PRICE * 5000) / 10_000, "credited");
    }

    function testReentryFromAPayoutFails() public {
        Reenters evil = new Reenters(MARKET, ITEM);
        (address[] memory who, uint16[] memory bps) = splits(address(evil), 10_000, COLLAB_A, 0);
        vm.prank(creator);
        MARKET.list(ITEM, 0.5 ether, 0, who, bps);
        vm.prank(BUYER);
        MARKET.buy{value: 0.5 ether}(ITEM, BUYER);
        assertFalse(evil.reentered(), "the re-entrant buy failed");
        assertFalse(canRead(address(evil)), "no access from re-entry");
        (,,, uint64 sold,,,) = MARKET.listing(ITEM);
        assertEq(sold, 1, "one sale only");
        assertEq(MARKET.withdrawable(address(evil)), 0.5 ether, "credited instead");
        // Withdrawing pays it, and its re-entry attempt there fails the withdrawal as a whole.
        vm.expectRevert(bytes("Marketplace: the transfer failed"));
        evil.collect();
        assertEq(MARKET.withdrawable(address(evil)), 0.5 ether, "still owed");
    }

    function testWithdrawPaysOnceAndNothingIsNothing() public {
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: nothing to withdraw"));
        MARKET.withdraw();
    }

    // ---- offers

    function testOfferDiscountsOnceForTheNamedBuyer() public {
        listPlain(0);
        Offer memory o = offer(2500, BUYER, 2_000_000, keccak256("n1"));
        bytes memory sig = signed(CREATOR_KEY, o);
        uint256 due = PRICE - (PRICE * 2500) / 10_000;
        assertEq(MARKET.priceFor(ITEM, 2500), due, "priceFor");
        vm.prank(STRANGER);
        vm.expectRevert(bytes("Marketplace: the offer is for another buyer"));
        MARKET.buyWithOffer{value: due}(ITEM, STRANGER, o, sig);
        uint256 creatorBefore = creator.balance;
        vm.prank(BUYER);
        MARKET.buyWithOffer{value: due}(ITEM, BUYER, o, sig);
        assertEq(creator.balance - creatorBefore, due, "creator paid the discounted price");
        assertTrue(canRead(BUYER), "read granted");
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer was already used"));
        MARKET.buyWithOffer{value: due}(ITEM, FRIEND, o, sig);
    }

    function testExpiredOfferFails() public {
        listPlain(0);
        Offer memory o = offer(5000, address(0), 1_000_100, keccak256("n2"));
        bytes memory sig = signed(CREATOR_KEY, o);
        vm.warp(1_000_101);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer has expired"));
        MARKET.buyWithOffer{value: PRICE / 2 + 1}(ITEM, BUYER, o, sig);
    }

    function testOfferSignedBySomeoneElseFails() public {
        listPlain(0);
        Offer memory o = offer(10_000, address(0), 2_000_000, keccak256("n3"));
        bytes memory sig = signed(0xBAD, o);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer is not signed by the item's creator"));
        MARKET.buyWithOffer{value: 0}(ITEM, BUYER, o, sig);
        assertFalse(canRead(BUYER), "free access refused");
    }

    function testTamperedOrMalleableOfferFails() public {
        listPlain(0);
        Offer memory o = offer(1000, address(0), 2_000_000, keccak256("n4"));
        bytes memory sig = signed(CREATOR_KEY, o);
        // A bigger discount than signed.
        o.discountBps = 9000;
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer is not signed by the item's creator"));
        MARKET.buyWithOffer{value: PRICE - (PRICE * 9000) / 10_000}(ITEM, BUYER, o, sig);
        // The malleable twin of a valid signature (s -> n - s, v flipped).
        o.discountBps = 1000;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(CREATOR_KEY, MARKET.offerDigest(o));
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory twin = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer is not signed by the item's creator"));
        MARKET.buyWithOffer{value: PRICE - (PRICE * 1000) / 10_000}(ITEM, BUYER, o, twin);
    }

    function testOfferForAnotherItemFails() public {
        listPlain(0);
        Offer memory o = offer(1000, address(0), 2_000_000, keccak256("n5"));
        o.item = keccak256("other");
        bytes memory sig = signed(CREATOR_KEY, o);
        vm.prank(BUYER);
        vm.expectRevert(bytes("Marketplace: the offer is for another item"));
        MARKET.buyWithOffer{value: PRICE}(ITEM, BUYER, o, sig);
    }
}
