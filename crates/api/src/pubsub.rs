//! `eth_subscribe` / `eth_unsubscribe` over WebSocket: `newHeads` and `logs`.

use std::sync::Arc;

use alloy::rpc::types::Filter;
use jsonrpsee::RpcModule;
use jsonrpsee::core::server::SubscriptionSink;
use jsonrpsee::server::{IdProvider, RegisterMethodError};
use jsonrpsee::types::{ErrorObjectOwned, SubscriptionId};
use lightstreams_chain::Finalized;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::convert::{header_json, rpc_log};
use crate::error::RpcError;
use crate::eth::{Ctx, args, opt};
use crate::filters::random_id;

/// Subscription ids like geth's: `0x` and 32 random hex digits.
#[derive(Debug)]
pub(crate) struct HexIds;

impl IdProvider for HexIds {
    fn next_id(&self) -> SubscriptionId<'static> {
        SubscriptionId::Str(random_id().into())
    }
}

enum Topic {
    NewHeads,
    Logs(Box<Filter>),
}

/// Register `eth_subscribe` / `eth_unsubscribe`.
pub(crate) fn register(m: &mut RpcModule<Ctx>) -> Result<(), RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params, pending, ctx, _| async move {
            let topic = match parse(&params) {
                Ok(topic) => topic,
                Err(e) => {
                    pending.reject(ErrorObjectOwned::from(e)).await;
                    return;
                }
            };
            // Subscribe before accepting so no block finalized in between is missed.
            let events = ctx.chain.subscribe();
            let Ok(sink) = pending.accept().await else {
                return;
            };
            forward(sink, events, topic).await;
        },
    )?;
    Ok(())
}

fn parse(params: &jsonrpsee::types::Params<'_>) -> Result<Topic, RpcError> {
    let a = args(params)?;
    let kind: String =
        opt(&a, 0)?.ok_or_else(|| RpcError::InvalidParams("missing subscription kind".into()))?;
    match kind.as_str() {
        "newHeads" => Ok(Topic::NewHeads),
        "logs" => Ok(Topic::Logs(Box::new(opt(&a, 1)?.unwrap_or_default()))),
        other => Err(RpcError::Server(format!(
            "no \"{other}\" subscription in eth namespace"
        ))),
    }
}

async fn forward(
    sink: SubscriptionSink,
    mut events: broadcast::Receiver<Arc<Finalized>>,
    topic: Topic,
) {
    loop {
        let finalized = tokio::select! {
            _ = sink.closed() => return,
            event = events.recv() => match event {
                Ok(f) => f,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "subscriber fell behind; skipping blocks");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        for message in messages(&finalized, &topic) {
            if sink.send(message).await.is_err() {
                return;
            }
        }
    }
}

fn raw(value: &impl serde::Serialize) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}

fn messages(finalized: &Finalized, topic: &Topic) -> Vec<Box<RawValue>> {
    let block = &finalized.block;
    match topic {
        Topic::NewHeads => raw(&Value::Object(header_json(block)))
            .into_iter()
            .collect(),
        Topic::Logs(filter) => {
            // As geth: a logs subscription matches on address and topics only.
            if !filter.matches_bloom(block.header().logs_bloom) {
                return Vec::new();
            }
            let mut out = Vec::new();
            let mut index = 0u64;
            for receipt in &finalized.receipts {
                for log in &receipt.logs {
                    if filter.matches(log) {
                        out.extend(raw(&rpc_log(log, receipt, block, index)));
                    }
                    index += 1;
                }
            }
            out
        }
    }
}
