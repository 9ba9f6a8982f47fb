//! `/v1/market/...`: what is for sale, read from the node's finalised state. Buying is a
//! transaction any wallet sends to the marketplace contract over JSON-RPC (`buy`), and the key
//! then comes from the keepers (`/v1/raw/{item}/shares/{epoch}`); nothing here needs a session.

use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lightstreams_market::{Listing, Market};
use lightstreams_vault::ItemId;
use serde_json::{Value, json};

use super::custodial::client;
use super::{ApiError, Refused, Vault, parse_id};

fn listing_json(l: &Listing) -> Value {
    json!({
        "item": l.item, "creator": l.creator, "price_wei": l.price.to_string(),
        "supply": l.supply, "sold": l.sold, "active": l.active, "splits": l.splits,
    })
}

/// Every listing, newest first.
async fn listings(State(vault): State<Arc<Vault>>) -> Result<Response, Refused> {
    let found = tokio::task::spawn_blocking(move || {
        // Reading needs no account: a throwaway identity runs the views.
        let reader = client(&vault, PrivateKeySigner::random());
        Market::new(&reader).browse()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(json!(found.iter().map(listing_json).collect::<Vec<_>>())).into_response())
}

/// One listing; 404 (the uniform body) if the item was never listed.
async fn listing(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let found = tokio::task::spawn_blocking(move || {
        let reader = client(&vault, PrivateKeySigner::random());
        Market::new(&reader).listing(item)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let listing = found.ok_or(Refused::NotFound)?;
    Ok(axum::Json(listing_json(&listing)).into_response())
}

pub(super) fn router() -> Router<Arc<Vault>> {
    Router::new()
        .route("/v1/market/listings", get(listings))
        .route("/v1/market/listings/{item}", get(listing))
}
