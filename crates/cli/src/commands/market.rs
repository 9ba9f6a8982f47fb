//! `lightstreams market ...`: list, browse, buy, offers.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256};
use anyhow::anyhow;
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Identity};
use lightstreams_market::offer::{Offer, SignedOffer, sign_offer};
use lightstreams_market::{ListingRequest, Market, Split};
use serde_json::json;

use super::vault::{client, expiry_after, parse_address, parse_item, signer_of};
use crate::args::MarketCommand;
use crate::units::{format_pht, parse_amount};

fn parse_split(text: &str) -> anyhow::Result<Split> {
    let (address, bps) = text
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--split {text:?}: write ADDRESS:BPS, e.g. 0xabc...:2500"))?;
    let bps: u16 = bps
        .parse()
        .ok()
        .filter(|b| *b <= 10_000)
        .ok_or_else(|| anyhow!("--split {text:?}: BPS is a whole number from 0 to 10000"))?;
    Ok(Split {
        to: parse_address(address)?,
        bps,
    })
}

/// `25` (percent) or `2500bps`.
fn parse_discount(text: &str) -> anyhow::Result<u16> {
    let t = text.trim().to_ascii_lowercase();
    let bps = if let Some(n) = t.strip_suffix("bps") {
        n.trim().parse::<u32>().ok()
    } else {
        t.trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(|p| (p * 100.0).round() as u32)
    };
    bps.filter(|b| *b <= 10_000)
        .map(|b| b as u16)
        .ok_or_else(|| anyhow!("--discount {text:?}: a percentage 0-100 (e.g. 25) or 0-10000bps"))
}

/// The validators as the node at `rpc` knows them (`/v1/keepers`): itself if it is one, and
/// the other validators' API URLs; just `rpc` if that gives nobody.
fn default_keepers(rpc: &str) -> anyhow::Result<Vec<String>> {
    let url = format!("{}/v1/keepers", rpc.trim_end_matches('/'));
    let answer: serde_json::Value = ureq::get(&url)
        .call()
        .map_err(|e| {
            anyhow!("cannot ask {url} for the key keepers: {e} (or name them with --keeper URL)")
        })?
        .body_mut()
        .read_json()
        .map_err(|e| anyhow!("{url} did not answer JSON: {e}"))?;
    let mut keepers = Vec::new();
    if answer["validator"].as_bool().unwrap_or(false) {
        keepers.push(rpc.trim_end_matches('/').to_string());
    }
    for peer in answer["peers"].as_array().into_iter().flatten() {
        if let Some(peer) = peer.as_str() {
            keepers.push(peer.to_string());
        }
    }
    if keepers.is_empty() {
        keepers.push(rpc.trim_end_matches('/').to_string());
    }
    Ok(keepers)
}

fn chain_id(rpc: &str) -> anyhow::Result<u64> {
    let response: serde_json::Value = ureq::post(rpc)
        .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
        .map_err(|e| anyhow!("cannot reach {rpc}: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| anyhow!("{rpc} did not answer JSON: {e}"))?;
    let text = response["result"]
        .as_str()
        .ok_or_else(|| anyhow!("{rpc} gave no chain id"))?;
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .map_err(|e| anyhow!("{rpc} gave chain id {text:?}: {e}"))
}

fn listing_json(l: &lightstreams_market::Listing) -> serde_json::Value {
    json!({
        "item": l.item, "creator": l.creator, "price_wei": l.price.to_string(),
        "price": format_pht(l.price), "supply": l.supply, "sold": l.sold, "active": l.active,
        "splits": l.splits,
    })
}

/// Read an offer file written by `market offer`.
pub(crate) fn read_offer(path: &std::path::Path) -> anyhow::Result<SignedOffer> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read the offer {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{} is not an offer written by `market offer`: {e}",
            path.display()
        )
    })
}

pub(crate) fn run(command: MarketCommand, json: bool) -> anyhow::Result<()> {
    match command {
        MarketCommand::List {
            id,
            price,
            splits,
            supply,
            keepers,
            threshold,
            who,
        } => {
            let item = parse_item(&id)?;
            let request = ListingRequest {
                price: parse_amount(&price)?,
                supply: supply.unwrap_or(0),
                splits: splits
                    .iter()
                    .map(|s| parse_split(s))
                    .collect::<anyhow::Result<_>>()?,
                keepers: if keepers.is_empty() {
                    default_keepers(&who.rpc)?
                } else {
                    keepers
                },
                threshold,
            };
            let client = client(&who)?;
            let listed = Market::new(&client)
                .list(item, &request)
                .map_err(|e| anyhow!("{e}"))?;
            let value = json!({
                "listing": listing_json(&listed.listing),
                "keepers": listed.custody.keepers.iter().map(|k| &k.url).collect::<Vec<_>>(),
                "threshold": listed.custody.threshold,
            });
            super::print(json, &value, || {
                format!(
                    "listed {} at {}{}; key held by {} keepers, any {} release it to buyers",
                    listed.listing.item,
                    format_pht(listed.listing.price),
                    if listed.listing.supply > 0 {
                        format!(" ({} copies)", listed.listing.supply)
                    } else {
                        String::new()
                    },
                    listed.custody.keepers.len(),
                    listed.custody.threshold
                )
            });
        }
        MarketCommand::Price { id, price, who } => {
            let item = parse_item(&id)?;
            let price = parse_amount(&price)?;
            let client = client(&who)?;
            let tx = Market::new(&client)
                .set_price(item, price)
                .map_err(|e| anyhow!("{e}"))?;
            super::print(
                json,
                &json!({"item": item.to_string(), "price_wei": price.to_string(), "tx": tx}),
                || format!("{item} now costs {}", format_pht(price)),
            );
        }
        MarketCommand::Delist { id, on, who } => {
            let item = parse_item(&id)?;
            let client = client(&who)?;
            let tx = Market::new(&client)
                .set_active(item, on)
                .map_err(|e| anyhow!("{e}"))?;
            super::print(
                json,
                &json!({"item": item.to_string(), "active": on, "tx": tx}),
                || {
                    if on {
                        format!("{item} is for sale again")
                    } else {
                        format!("{item} is no longer for sale")
                    }
                },
            );
        }
        MarketCommand::Browse { rpc } => {
            // Browsing needs no account: a throwaway identity reads the chain.
            let client = Client::new(
                RpcLedger::new(&rpc),
                HttpRemote::connect(&rpc).map_err(|e| anyhow!("{e}"))?,
                Identity::from_signer(alloy::signers::local::PrivateKeySigner::random()),
            );
            let listings = Market::new(&client).browse().map_err(|e| anyhow!("{e}"))?;
            let value = json!(listings.iter().map(listing_json).collect::<Vec<_>>());
            super::print(json, &value, || {
                if listings.is_empty() {
                    return "nothing is for sale yet".into();
                }
                listings
                    .iter()
                    .map(|l| {
                        format!(
                            "{}  {:>12}  sold {}{}  by {}{}",
                            l.item,
                            format_pht(l.price),
                            l.sold,
                            if l.supply > 0 {
                                format!("/{}", l.supply)
                            } else {
                                String::new()
                            },
                            l.creator,
                            if l.active { "" } else { "  (not for sale)" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        MarketCommand::Buy {
            id,
            recipient,
            offer,
            who,
        } => {
            let item = parse_item(&id)?;
            let recipient = recipient.as_deref().map(parse_address).transpose()?;
            let offer = offer.as_deref().map(read_offer).transpose()?;
            let chain_id = chain_id(&who.rpc)?;
            let client = client(&who)?;
            let bought = Market::new(&client)
                .buy(item, recipient, offer.as_ref(), chain_id)
                .map_err(|e| anyhow!("{e}"))?;
            let value = json!({
                "item": bought.item, "recipient": bought.recipient,
                "paid_wei": bought.paid.to_string(), "paid": format_pht(bought.paid), "tx": bought.tx,
            });
            super::print(json, &value, || {
                format!(
                    "bought {} for {}; {} can read it now (lightstreams vault get {})",
                    bought.item,
                    format_pht(bought.paid),
                    bought.recipient,
                    bought.item
                )
            });
        }
        MarketCommand::Offer {
            id,
            discount,
            buyer,
            expires,
            output,
            who,
        } => {
            let item = parse_item(&id)?;
            let discount = parse_discount(&discount)?;
            let buyer = buyer
                .as_deref()
                .map(parse_address)
                .transpose()?
                .unwrap_or(Address::ZERO);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let expiry = expiry_after(now, &expires)?;
            let signer = signer_of(&who)?;
            let chain_id = chain_id(&who.rpc)?;
            let offer = Offer {
                item: B256::from(item.0),
                discountBps: discount,
                buyer,
                expiry,
                nonce: B256::from(rand::random::<[u8; 32]>()),
            };
            let signed = sign_offer(&signer, offer, chain_id).map_err(|e| anyhow!("{e}"))?;
            let text = serde_json::to_string_pretty(&signed)?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &text)
                        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
                    super::print(json, &serde_json::to_value(&signed)?, || {
                        format!(
                            "offer of {}% off {item} written to {} (valid until {})",
                            f64::from(discount) / 100.0,
                            path.display(),
                            super::when(expiry)
                        )
                    });
                }
                None => println!("{text}"),
            }
        }
    }
    Ok(())
}
