//! Listing, browsing and buying, over a protocol client.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolEvent;
use lightstreams_access::acl::{ACCESS_REGISTRY, AccessRegistry, Level};
use lightstreams_access::custody::CustodyRecord;
use lightstreams_access::protocol::{Client, Ledger, ProtocolError, Remote};
use lightstreams_primitives::system::MARKETPLACE;
use lightstreams_vault::ItemId;
use serde::Serialize;

use crate::contract::Marketplace;
use crate::offer::{SignedOffer, recover_offer_signer};

/// Errors of marketplace operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// The chain, the vault or a keeper refused or failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The request itself is wrong (the message says how).
    #[error("{0}")]
    Input(String),
}

/// A collaborator's cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    /// Who is paid.
    pub to: Address,
    /// Basis points of the price (10,000 = all of it).
    pub bps: u16,
}

/// What a creator asks for when listing.
#[derive(Clone, Debug)]
pub struct ListingRequest {
    /// Price in wei.
    pub price: U256,
    /// Most copies to sell (0: unlimited).
    pub supply: u64,
    /// Collaborators' cuts; the creator gets the rest, rounding dust included.
    pub splits: Vec<Split>,
    /// Key keepers' URLs.
    pub keepers: Vec<String>,
    /// Shares needed to rebuild the key (default ⌊2n/3⌋+1).
    pub threshold: Option<usize>,
}

/// A listing as the contract holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// The item.
    pub item: B256,
    /// Who sells it (and receives what the splits leave).
    pub creator: Address,
    /// Price in wei.
    pub price: U256,
    /// Most copies (0: unlimited).
    pub supply: u64,
    /// Copies sold.
    pub sold: u64,
    /// For sale now.
    pub active: bool,
    /// Collaborators' cuts.
    pub splits: Vec<Split>,
}

/// What listing did.
#[derive(Clone, Debug, Serialize)]
pub struct Listed {
    /// The listing on chain.
    pub listing: Listing,
    /// The custody record: which keepers hold the key, and how many are needed.
    pub custody: CustodyRecord,
}

/// What a purchase did.
#[derive(Clone, Debug, Serialize)]
pub struct Bought {
    /// The item.
    pub item: B256,
    /// Who now holds READ.
    pub recipient: Address,
    /// Wei paid.
    pub paid: U256,
    /// The purchase transaction.
    pub tx: B256,
}

/// The marketplace, as one account uses it.
pub struct Market<'a, L, R> {
    client: &'a Client<L, R>,
}

impl<L, R> std::fmt::Debug for Market<'_, L, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Market").finish_non_exhaustive()
    }
}

impl<'a, L: Ledger + Sync, R: Remote + Sync> Market<'a, L, R> {
    /// The marketplace for `client`'s account.
    pub fn new(client: &'a Client<L, R>) -> Self {
        Self { client }
    }

    /// List `item` (which this account owns): give the marketplace ADMIN on it (so a purchase
    /// can grant READ), deposit the content key with the keepers (so it sells while this
    /// account is offline), then put the listing on chain.
    pub fn list(&self, item: ItemId, request: &ListingRequest) -> Result<Listed, MarketError> {
        let total: u32 = request.splits.iter().map(|s| u32::from(s.bps)).sum();
        if total > 10_000 {
            return Err(MarketError::Input(format!(
                "the collaborators' splits add up to {total} basis points; at most 10000 (the creator gets the rest)"
            )));
        }
        if request.splits.iter().any(|s| s.to == Address::ZERO) {
            return Err(MarketError::Input(
                "a split pays the zero address: name the collaborator".into(),
            ));
        }
        let info = self.client.info(item)?;
        if info.owner != self.client.address() {
            return Err(MarketError::Input(format!(
                "{} owns item {item}, not {}: only the owner lists it",
                info.owner,
                self.client.address()
            )));
        }
        let id = B256::from(item.0);
        let level: u8 = self
            .client
            .call(
                ACCESS_REGISTRY,
                AccessRegistry::levelOfCall {
                    item: id,
                    who: MARKETPLACE,
                },
            )?
            .into();
        if level < u8::from(Level::ADMIN) {
            self.client.send(
                ACCESS_REGISTRY,
                AccessRegistry::grantCall {
                    item: id,
                    who: MARKETPLACE,
                    level: Level::ADMIN,
                    expiry: 0,
                },
                U256::ZERO,
            )?;
        }
        let custody = self
            .client
            .deposit_custody(item, &request.keepers, request.threshold)?;
        self.client.send(
            MARKETPLACE,
            Marketplace::listCall {
                item: id,
                price: request.price,
                supply: request.supply,
                collaborators: request.splits.iter().map(|s| s.to).collect(),
                bps: request.splits.iter().map(|s| s.bps).collect(),
            },
            U256::ZERO,
        )?;
        let listing = self
            .listing(item)?
            .ok_or_else(|| MarketError::Input("the listing did not appear on chain".into()))?;
        Ok(Listed { listing, custody })
    }

    /// The listing of `item`, if it was ever listed.
    pub fn listing(&self, item: ItemId) -> Result<Option<Listing>, MarketError> {
        let id = B256::from(item.0);
        let l = self
            .client
            .call(MARKETPLACE, Marketplace::listingCall { item: id })?;
        if l.creator == Address::ZERO {
            return Ok(None);
        }
        Ok(Some(Listing {
            item: id,
            creator: l.creator,
            price: l.price,
            supply: l.supply,
            sold: l.sold,
            active: l.active,
            splits: l
                .collaborators
                .iter()
                .zip(l.bps.iter())
                .map(|(to, bps)| Split { to: *to, bps: *bps })
                .collect(),
        }))
    }

    /// Every item ever listed, with its listing now (newest first).
    pub fn browse(&self) -> Result<Vec<Listing>, MarketError> {
        let logs = self.client.ledger().logs(
            MARKETPLACE,
            [Some(Marketplace::Listed::SIGNATURE_HASH), None, None, None],
        )?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for log in logs.iter().rev() {
            let Some(item) = log.topics().get(1) else {
                continue;
            };
            if !seen.insert(*item) {
                continue;
            }
            if let Some(listing) = self.listing(ItemId(item.0))? {
                out.push(listing);
            }
        }
        Ok(out)
    }

    /// What `offer` (if any) makes the price of `listing`.
    pub fn price_due(listing: &Listing, offer: Option<&SignedOffer>) -> U256 {
        match offer {
            None => listing.price,
            Some(o) => {
                listing.price - listing.price * U256::from(o.discount_bps) / U256::from(10_000u32)
            }
        }
    }

    /// Buy `item` for `recipient` (default: this account), paying exactly the price due (with
    /// `offer`'s discount): the creator and collaborators are paid and `recipient` holds READ
    /// when this returns, in the same final transaction.
    pub fn buy(
        &self,
        item: ItemId,
        recipient: Option<Address>,
        offer: Option<&SignedOffer>,
        chain_id: u64,
    ) -> Result<Bought, MarketError> {
        let listing = self
            .listing(item)?
            .ok_or_else(|| MarketError::Input(format!("item {item} is not for sale")))?;
        if !listing.active {
            return Err(MarketError::Input(format!(
                "item {item} is not for sale now (the creator delisted it)"
            )));
        }
        if listing.supply != 0 && listing.sold >= listing.supply {
            return Err(MarketError::Input(format!(
                "item {item} is sold out ({} of {})",
                listing.sold, listing.supply
            )));
        }
        let recipient = recipient.unwrap_or_else(|| self.client.address());
        if recipient == self.client.address() {
            // Keepers release shares only to a registered encryption key: make sure there is
            // one before paying, or the purchase could not be read.
            self.client.ensure_key_registered()?;
        }
        let paid = Self::price_due(&listing, offer);
        let id = B256::from(item.0);
        let tx = match offer {
            None => self.client.send(
                MARKETPLACE,
                Marketplace::buyCall {
                    item: id,
                    recipient,
                },
                paid,
            )?,
            Some(o) => {
                if o.item != id {
                    return Err(MarketError::Input(format!(
                        "the offer is for item {}, not {item}",
                        o.item
                    )));
                }
                let signer = recover_offer_signer(o, chain_id)?;
                if signer != listing.creator {
                    return Err(MarketError::Input(format!(
                        "the offer was signed by {signer}, not by the creator {}",
                        listing.creator
                    )));
                }
                self.client.send(
                    MARKETPLACE,
                    Marketplace::buyWithOfferCall {
                        item: id,
                        recipient,
                        offer: o.offer(),
                        signature: o.signature.clone(),
                    },
                    paid,
                )?
            }
        };
        Ok(Bought {
            item: id,
            recipient,
            paid,
            tx,
        })
    }

    /// Change the price of this account's listing.
    pub fn set_price(&self, item: ItemId, price: U256) -> Result<B256, MarketError> {
        Ok(self.client.send(
            MARKETPLACE,
            Marketplace::setPriceCall {
                item: B256::from(item.0),
                price,
            },
            U256::ZERO,
        )?)
    }

    /// Stop (or resume) selling.
    pub fn set_active(&self, item: ItemId, active: bool) -> Result<B256, MarketError> {
        Ok(self.client.send(
            MARKETPLACE,
            Marketplace::setActiveCall {
                item: B256::from(item.0),
                active,
            },
            U256::ZERO,
        )?)
    }
}
