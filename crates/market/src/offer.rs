//! Creator-signed discount offers (EIP-712), redeemable once at purchase.
//!
//! The typed data is `Offer(bytes32 item,uint16 discountBps,address buyer,uint64 expiry,bytes32
//! nonce)` in the domain `{name: "Lightstreams Marketplace", version: "1", chainId,
//! verifyingContract: MARKETPLACE}`, so any EIP-712 wallet can sign one too.

use alloy::primitives::{Address, B256, Bytes, Signature};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{Eip712Domain, SolStruct, eip712_domain};
use serde::{Deserialize, Serialize};

pub use crate::contract::Offer;
use crate::market::MarketError;
use lightstreams_primitives::system::MARKETPLACE;

/// The EIP-712 domain of the marketplace on chain `chain_id`.
pub fn domain(chain_id: u64) -> Eip712Domain {
    eip712_domain! {
        name: "Lightstreams Marketplace",
        version: "1",
        chain_id: chain_id,
        verifying_contract: MARKETPLACE,
    }
}

/// An offer and the creator's signature, as a file the buyer passes to `market buy --offer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOffer {
    /// The item.
    pub item: B256,
    /// Discount in basis points of the price (10,000 = free).
    pub discount_bps: u16,
    /// Who may redeem it (the zero address: anyone).
    pub buyer: Address,
    /// Unix time after which it is void.
    pub expiry: u64,
    /// Makes it unique; the contract marks it used.
    pub nonce: B256,
    /// The creator's 65-byte signature (r, s, v).
    pub signature: Bytes,
}

impl SignedOffer {
    /// The offer as the contract takes it.
    pub fn offer(&self) -> Offer {
        Offer {
            item: self.item,
            discountBps: self.discount_bps,
            buyer: self.buyer,
            expiry: self.expiry,
            nonce: self.nonce,
        }
    }
}

/// Sign `offer` as `creator` for the marketplace on chain `chain_id`.
pub fn sign_offer(
    creator: &PrivateKeySigner,
    offer: Offer,
    chain_id: u64,
) -> Result<SignedOffer, MarketError> {
    if offer.discountBps > 10_000 {
        return Err(MarketError::Input(format!(
            "a discount is at most 10000 basis points (100 %), not {}",
            offer.discountBps
        )));
    }
    let hash = offer.eip712_signing_hash(&domain(chain_id));
    let signature = creator
        .sign_hash_sync(&hash)
        .map_err(|e| MarketError::Input(format!("cannot sign the offer: {e}")))?;
    Ok(SignedOffer {
        item: offer.item,
        discount_bps: offer.discountBps,
        buyer: offer.buyer,
        expiry: offer.expiry,
        nonce: offer.nonce,
        signature: Bytes::from(signature.as_bytes().to_vec()),
    })
}

/// Who signed `signed` (for a check before sending a purchase that would revert).
pub fn recover_offer_signer(signed: &SignedOffer, chain_id: u64) -> Result<Address, MarketError> {
    let signature = Signature::try_from(signed.signature.as_ref())
        .map_err(|e| MarketError::Input(format!("the offer's signature is malformed: {e}")))?;
    let hash: B256 = signed.offer().eip712_signing_hash(&domain(chain_id));
    signature
        .recover_address_from_prehash(&hash)
        .map_err(|e| MarketError::Input(format!("the offer's signature does not recover: {e}")))
}
