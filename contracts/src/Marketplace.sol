// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// @notice The part of the access registry the marketplace uses (levels as uint8: NONE 0,
///         READ 1, WRITE 2, ADMIN 3).
interface IAccessRegistry {
    function ownerOf(bytes32 item) external view returns (address);
    function levelOf(bytes32 item, address who) external view returns (uint8);
    function grant(bytes32 item, address who, uint8 level, uint64 expiry) external;
}

/// @notice A creator-signed discount (EIP-712 typed data), redeemable once.
struct Offer {
    bytes32 item;
    uint16 discountBps; // off the price; 10,000 = free
    address buyer; // who may redeem it; address(0) = anyone
    uint64 expiry; // unix seconds, inclusive
    bytes32 nonce; // makes the offer unique
}

/// @title Marketplace
/// @notice Creators sell vault items directly. A purchase pays the creator and collaborators in
///         the same transaction that grants the buyer (or a gift's recipient) READ in the access
///         registry: no payment without access, no access without payment.
/// @dev Placed in genesis as runtime code with empty storage: no constructor, no immutables.
///      To list an item, its owner first makes the marketplace an ADMIN of it
///      (`AccessRegistry.grant(item, MARKETPLACE, ADMIN, 0)`), so purchases can grant READ.
contract Marketplace {
    IAccessRegistry internal constant ACL = IAccessRegistry(0x4C53000000000000000000000000000000000001);
    uint8 internal constant READ = 1;
    uint8 internal constant WRITE = 2;
    uint8 internal constant ADMIN = 3;
    uint256 internal constant MAX_COLLABORATORS = 16;
    /// @dev Gas forwarded with each payout: plenty for a wallet, too little to grief a sale.
    uint256 internal constant PAYOUT_GAS = 50_000;
    /// @dev Largest valid `s` of a signature (EIP-2): higher values are malleable twins.
    uint256 internal constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant OFFER_TYPEHASH =
        keccak256("Offer(bytes32 item,uint16 discountBps,address buyer,uint64 expiry,bytes32 nonce)");

    struct Listing {
        address creator;
        uint64 supply; // 0 = unlimited
        uint64 sold;
        bool active;
        uint256 price; // wei
        address[] collaborators;
        uint16[] bps;
    }

    mapping(bytes32 => Listing) internal listings;
    /// @notice Offer digests already redeemed.
    mapping(bytes32 => bool) public offerUsed;
    /// @notice Payouts a recipient's contract refused, to collect with `withdraw`.
    mapping(address => uint256) public withdrawable;
    uint256 internal locked;

    event Listed(bytes32 indexed item, address indexed creator, uint256 price, uint64 supply);
    event PriceChanged(bytes32 indexed item, uint256 price);
    event ActiveSet(bytes32 indexed item, bool active);
    event Purchased(
        bytes32 indexed item, address indexed buyer, address indexed recipient, uint256 paid, bytes32 offerNonce
    );
    event Payout(bytes32 indexed item, address indexed to, uint256 amount);
    event PayoutDeferred(bytes32 indexed item, address indexed to, uint256 amount);
    event Withdrawn(address indexed to, uint256 amount);

    modifier nonReentrant() {
        require(locked == 0, "Marketplace: reentrant call");
        locked = 1;
        _;
        locked = 0;
    }

    // ---------------------------------------------------------------- creators

    /// @notice List (or re-list, replacing price, supply and splits) an item the caller owns.
    /// @param collaborators Who else is paid; `bps[i]` basis points of each sale go to
    ///        `collaborators[i]`, the creator gets the rest (rounding dust included).
    function list(bytes32 item, uint256 price, uint64 supply, address[] calldata collaborators, uint16[] calldata bps)
        external
    {
        require(ACL.ownerOf(item) == msg.sender, "Marketplace: only the item's owner can list it");
        require(
            ACL.levelOf(item, address(this)) == ADMIN,
            "Marketplace: make the marketplace an ADMIN of the item first (AccessRegistry.grant(item, marketplace, ADMIN, 0)) so purchases can grant READ"
        );
        require(collaborators.length == bps.length, "Marketplace: give one basis-point share per collaborator");
        require(collaborators.length <= MAX_COLLABORATORS, "Marketplace: at most 16 collaborators");
        uint256 total;
        for (uint256 i; i < collaborators.length; ++i) {
            require(collaborators[i] != address(0), "Marketplace: a collaborator is the zero address");
            total += bps[i];
        }
        require(total <= 10_000, "Marketplace: the collaborators' shares exceed 10000 basis points");
        Listing storage l = listings[item];
        require(supply == 0 || supply >= l.sold, "Marketplace: supply is below the copies already sold");
        l.creator = msg.sender;
        l.price = price;
        l.supply = supply;
        l.active = true;
        l.collaborators = collaborators;
        l.bps = bps;
        emit Listed(item, msg.sender, price, supply);
    }

    /// @notice Change the price (the listing's creator only).
    function setPrice(bytes32 item, uint256 price) external {
        _own(item).price = price;
        emit PriceChanged(item, price);
    }

    /// @notice Stop (false) or resume (true) selling (the listing's creator only).
    function setActive(bytes32 item, bool active) external {
        _own(item).active = active;
        emit ActiveSet(item, active);
    }

    // ---------------------------------------------------------------- buyers

    /// @notice Buy `item` for `recipient` (yourself, or a gift), paying exactly the price.
    function buy(bytes32 item, address recipient) external payable nonReentrant {
        _buy(item, recipient, 0, bytes32(0));
    }

    /// @notice Buy with a discount offer signed by the listing's creator.
    function buyWithOffer(bytes32 item, address recipient, Offer calldata offer, bytes calldata signature)
        external
        payable
        nonReentrant
    {
        require(offer.item == item, "Marketplace: the offer is for another item");
        require(offer.discountBps <= 10_000, "Marketplace: the offer's discount exceeds 10000 basis points");
        require(block.timestamp <= offer.expiry, "Marketplace: the offer has expired");
        require(offer.buyer == address(0) || offer.buyer == msg.sender, "Marketplace: the offer is for another buyer");
        bytes32 digest = offerDigest(offer);
        require(!offerUsed[digest], "Marketplace: the offer was already used");
        address signer = _recover(digest, signature);
        require(
            signer != address(0) && signer == listings[item].creator,
            "Marketplace: the offer is not signed by the item's creator"
        );
        offerUsed[digest] = true;
        _buy(item, recipient, offer.discountBps, offer.nonce);
    }

    /// @notice Collect payouts that could not be pushed to the caller.
    function withdraw() external nonReentrant {
        uint256 amount = withdrawable[msg.sender];
        require(amount > 0, "Marketplace: nothing to withdraw");
        withdrawable[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "Marketplace: the transfer failed");
        emit Withdrawn(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice A listing (creator zero: never listed).
    function listing(bytes32 item)
        external
        view
        returns (
            address creator,
            uint256 price,
            uint64 supply,
            uint64 sold,
            bool active,
            address[] memory collaborators,
            uint16[] memory bps
        )
    {
        Listing storage l = listings[item];
        return (l.creator, l.price, l.supply, l.sold, l.active, l.collaborators, l.bps);
    }

    /// @notice What a buyer pays with a discount of `discountBps`.
    function priceFor(bytes32 item, uint16 discountBps) public view returns (uint256) {
        uint256 price = listings[item].price;
        return price - (price * discountBps) / 10_000;
    }

    /// @notice The EIP-712 domain separator (name "Lightstreams Marketplace", version "1").
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("Lightstreams Marketplace"), keccak256("1"), block.chainid, address(this)
            )
        );
    }

    /// @notice The digest a creator signs for `offer`.
    function offerDigest(Offer calldata offer) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(OFFER_TYPEHASH, offer.item, offer.discountBps, offer.buyer, offer.expiry, offer.nonce)
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    // ---------------------------------------------------------------- internals

    function _own(bytes32 item) internal view returns (Listing storage l) {
        l = listings[item];
        require(l.creator != address(0), "Marketplace: the item is not listed");
        require(l.creator == msg.sender, "Marketplace: only the listing's creator can change it");
    }

    function _buy(bytes32 item, address recipient, uint16 discountBps, bytes32 nonce) internal {
        Listing storage l = listings[item];
        require(l.creator != address(0), "Marketplace: the item is not for sale");
        require(l.active, "Marketplace: the item is not for sale now (delisted)");
        require(ACL.ownerOf(item) == l.creator, "Marketplace: the listing is stale (the item changed owner)");
        require(l.supply == 0 || l.sold < l.supply, "Marketplace: sold out");
        require(recipient != address(0), "Marketplace: the recipient is the zero address");
        uint256 due = l.price - (l.price * discountBps) / 10_000;
        require(msg.value == due, "Marketplace: send exactly the price due (overpayment is refused)");
        l.sold += 1;
        // Never demote: WRITE, ADMIN and the owner already read. READ with an expiry becomes
        // permanent READ.
        if (ACL.levelOf(item, recipient) < WRITE) {
            ACL.grant(item, recipient, READ, 0);
        }
        emit Purchased(item, msg.sender, recipient, due, nonce);
        if (due == 0) return;
        uint256 rest = due;
        for (uint256 i; i < l.collaborators.length; ++i) {
            uint256 cut = (due * l.bps[i]) / 10_000;
            if (cut == 0) continue;
            rest -= cut;
            _pay(item, l.collaborators[i], cut);
        }
        _pay(item, l.creator, rest);
    }

    /// @dev Push `amount` with bounded gas and no return data copied; a recipient that refuses
    ///      (or runs out of gas, or tries to re-enter) is credited instead, so it cannot block a sale.
    function _pay(bytes32 item, address to, uint256 amount) internal {
        if (amount == 0) return;
        bool ok;
        uint256 gasLimit = PAYOUT_GAS;
        assembly {
            ok := call(gasLimit, to, amount, 0, 0, 0, 0)
        }
        if (ok) {
            emit Payout(item, to, amount);
        } else {
            withdrawable[to] += amount;
            emit PayoutDeferred(item, to, amount);
        }
    }

    function _recover(bytes32 digest, bytes calldata signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (uint256(s) > MAX_S) return address(0);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
