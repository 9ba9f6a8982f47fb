//! Bindings of the marketplace contract (`contracts/src/Marketplace.sol`), at its genesis
//! address [`MARKETPLACE`].

use alloy::sol;

pub use lightstreams_primitives::system::MARKETPLACE;

sol! {
    /// A creator-signed discount (EIP-712 typed data).
    #[derive(Debug, PartialEq, Eq)]
    struct Offer {
        bytes32 item;
        uint16 discountBps;
        address buyer;
        uint64 expiry;
        bytes32 nonce;
    }

    /// The marketplace (contracts/src/Marketplace.sol).
    #[derive(Debug, PartialEq, Eq)]
    interface Marketplace {
        event Listed(bytes32 indexed item, address indexed creator, uint256 price, uint64 supply);
        event Purchased(bytes32 indexed item, address indexed buyer, address indexed recipient, uint256 paid, bytes32 offerNonce);

        function list(bytes32 item, uint256 price, uint64 supply, address[] collaborators, uint16[] bps) external;
        function setPrice(bytes32 item, uint256 price) external;
        function setActive(bytes32 item, bool active) external;
        function buy(bytes32 item, address recipient) external payable;
        function buyWithOffer(bytes32 item, address recipient, Offer offer, bytes signature) external payable;
        function listing(bytes32 item) external view returns (address creator, uint256 price, uint64 supply, uint64 sold, bool active, address[] collaborators, uint16[] bps);
    }
}
