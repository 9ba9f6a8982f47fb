//! Run the marketplace's client side: list an item for sale (so that it sells while its
//! creator is offline), browse listings, buy (one transaction pays the creator and the
//! collaborators and grants READ), sign discount offers, and talk to buyers through the
//! encrypted fan channel ([`fans`]).
//!
//! The rules live in the marketplace contract (`contracts/src/Marketplace.sol`, bound in
//! [`contract`]); the keys are released by key keepers (`lightstreams_access::custody`); this
//! crate composes them over a [`lightstreams_access::protocol::Client`].
//!
//! # Example
//! ```
//! use lightstreams_market::offer::{Offer, sign_offer, recover_offer_signer};
//! use alloy::signers::local::PrivateKeySigner;
//! use alloy::primitives::{Address, B256};
//!
//! let creator = PrivateKeySigner::random();
//! let offer = Offer { item: B256::repeat_byte(1), discountBps: 2500, buyer: Address::ZERO,
//!                     expiry: 2_000_000_000, nonce: B256::repeat_byte(7) };
//! let signed = sign_offer(&creator, offer, 1337).unwrap();
//! assert_eq!(recover_offer_signer(&signed, 1337).unwrap(), creator.address());
//! ```

pub mod contract;
pub mod fans;
pub mod market;
pub mod offer;

pub use market::{Listing, ListingRequest, Market, MarketError, Split};
