//! `/v1/market/...` and `/v1/fans/...`.
//!
//! - Listings are read from the node's finalised state; no account needed.
//! - For accounts whose keystore the node holds (a `/v1/session` bearer token), the node buys
//!   and runs the fan channel on their behalf with the same client code as the CLI. A wallet
//!   buys without a session by sending `buy(item, recipient)` to the marketplace contract over
//!   JSON-RPC; the key then comes from the keepers (`/v1/raw/{item}/shares/{epoch}`).

use std::sync::Arc;

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lightstreams_market::fans::Fans;
use lightstreams_market::offer::SignedOffer;
use lightstreams_market::{Listing, Market, MarketError};
use lightstreams_vault::ItemId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::custodial::{blocking, client, protocol_error, session};
use super::{ApiError, Query, Refused, Vault, parse_id};

fn market_error(e: MarketError) -> Refused {
    match e {
        MarketError::Protocol(e) => protocol_error(e),
        MarketError::Input(m) => Refused::Api(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "refused",
            m,
        )),
        other => Refused::Api(ApiError::internal(other.to_string())),
    }
}

#[derive(Deserialize)]
struct BuyRequest {
    /// A gift's recipient (default: the session's account).
    recipient: Option<String>,
    /// A discount offer as `market offer` writes it.
    offer: Option<SignedOffer>,
}

/// Buy for the session's account (or as a gift): pays and grants READ in one transaction.
async fn buy(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let body: BuyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        BuyRequest {
            recipient: None,
            offer: None,
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "expected JSON {{\"recipient\"?, \"offer\"?}} or no body: {e}"
            ))
        })?
    };
    let recipient = body
        .recipient
        .as_deref()
        .map(|r| {
            r.parse::<Address>().map_err(|e| {
                ApiError::bad_request(format!("recipient {r:?} is not an address: {e}"))
            })
        })
        .transpose()?;
    let chain_id = vault.chain.chain_id();
    let bought = blocking(move || {
        let buyer = client(&vault, signer);
        Market::new(&buyer)
            .buy(item, recipient, body.offer.as_ref(), chain_id)
            .map_err(market_error)
    })
    .await?;
    Ok(axum::Json(json!({
        "item": bought.item, "recipient": bought.recipient,
        "paid_wei": bought.paid.to_string(), "transaction": bought.tx,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct PostRequest {
    text: String,
    offer: Option<SignedOffer>,
}

fn post_body(
    body: Result<axum::Json<PostRequest>, JsonRejection>,
) -> Result<PostRequest, ApiError> {
    body.map(|b| b.0)
        .map_err(|e| ApiError::bad_request(format!("expected JSON {{\"text\", \"offer\"?}}: {e}")))
}

/// The session's account (the item's owner) messages the item's readers.
async fn send_message(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<PostRequest>, JsonRejection>,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let body = post_body(body)?;
    let n = blocking(move || {
        let owner = client(&vault, signer);
        Fans::new(&owner)
            .send(item, &body.text, body.offer)
            .map_err(market_error)
    })
    .await?;
    Ok(axum::Json(json!({"item": item.to_string(), "message": n})).into_response())
}

/// The session's account (a reader) replies privately to the item's owner.
async fn send_reply(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<PostRequest>, JsonRejection>,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let body = post_body(body)?;
    let n = blocking(move || {
        let reader = client(&vault, signer);
        Fans::new(&reader)
            .reply(item, &body.text)
            .map_err(market_error)
    })
    .await?;
    Ok(axum::Json(json!({"item": item.to_string(), "reply": n})).into_response())
}

#[derive(Deserialize)]
struct InboxQuery {
    item: Option<String>,
}

/// Messages on the item (or every item the session's account may read), replies on its own.
async fn inbox(
    State(vault): State<Arc<Vault>>,
    Query(query): Query<InboxQuery>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let only = query
        .item
        .as_deref()
        .map(|i| parse_id("item id", i).map(ItemId))
        .transpose()?;
    let signer = session(&vault, &headers, None)?;
    let posts = blocking(move || {
        let me = client(&vault, signer);
        Fans::new(&me).inbox(only).map_err(market_error)
    })
    .await?;
    Ok(axum::Json(json!(posts)).into_response())
}

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
        .route("/v1/market/listings/{item}/buy", post(buy))
        .route("/v1/fans/inbox", get(inbox))
        .route("/v1/fans/{item}/messages", post(send_message))
        .route("/v1/fans/{item}/replies", post(send_reply))
}
