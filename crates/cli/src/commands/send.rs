//! `lightstreams send`.

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::args::SendArgs;
use crate::rpc::{Rpc, parse_quantity};
use crate::units::{format_pht, parse_amount};

pub(crate) fn run(args: SendArgs, json: bool) -> anyhow::Result<()> {
    let to: Address = args
        .to
        .parse()
        .map_err(|e| anyhow!("--to {:?} is not an address: {e}", args.to))?;
    let value = parse_amount(&args.value)?;
    let signer = match (&args.private_key, &args.from) {
        (Some(key), _) => key
            .trim()
            .parse::<PrivateKeySigner>()
            .map_err(|e| anyhow!("--private-key is not a private key: {e}"))?,
        (None, Some(from)) => {
            let address: Address = from
                .parse()
                .map_err(|e| anyhow!("--from {from:?} is not an address: {e}"))?;
            super::account::unlock(&args.keystore, &address)?
        }
        (None, None) => bail!("say who pays: --from ADDRESS (keystore) or --private-key HEX"),
    };
    let rpc = Rpc::new(&args.rpc.rpc);
    let outcome = transfer(&rpc, &signer, to, value, !args.no_wait)?;
    super::print(json, &outcome, || {
        let mut text = format!(
            "sent {} from {} to {to}\ntransaction {}",
            format_pht(value),
            signer.address(),
            outcome["hash"].as_str().unwrap_or_default()
        );
        if let Some(block) = outcome.get("block") {
            text.push_str(&format!(
                "\nfinalized in block {block} ({} gas)",
                outcome["gas_used"]
            ));
        }
        text
    });
    Ok(())
}

/// Sign and submit a transfer; with `wait`, return once it is finalized.
pub(crate) fn transfer(
    rpc: &Rpc,
    signer: &PrivateKeySigner,
    to: Address,
    value: U256,
    wait: bool,
) -> anyhow::Result<Value> {
    let from = signer.address();
    let chain_id = rpc.quantity("eth_chainId", json!([]))? as u64;
    let nonce = rpc.quantity("eth_getTransactionCount", json!([from, "pending"]))? as u64;
    let tip = rpc.quantity("eth_maxPriorityFeePerGas", json!([]))?;
    let latest = rpc.call("eth_getBlockByNumber", json!(["latest", false]))?;
    let base_fee = latest
        .get("baseFeePerGas")
        .map(parse_quantity)
        .transpose()?
        .unwrap_or(0);
    let gas = rpc.quantity(
        "eth_estimateGas",
        json!([{"from": from, "to": to, "value": format!("{value:#x}")}]),
    )? as u64;
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: base_fee * 2 + tip,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value,
        ..Default::default()
    };
    let signature = signer.sign_transaction_sync(&mut tx)?;
    let raw = tx.into_signed(signature).encoded_2718();
    let hash = rpc.call(
        "eth_sendRawTransaction",
        json!([format!("0x{}", hex::encode(raw))]),
    )?;
    let hash = hash.as_str().unwrap_or_default().to_string();
    if !wait {
        return Ok(json!({"hash": hash, "from": from, "to": to, "value": value.to_string()}));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let receipt = rpc.call("eth_getTransactionReceipt", json!([hash]))?;
        if !receipt.is_null() {
            let block = parse_quantity(&receipt["blockNumber"]).context("receipt blockNumber")?;
            let gas_used = parse_quantity(&receipt["gasUsed"]).context("receipt gasUsed")?;
            let status = parse_quantity(&receipt["status"]).unwrap_or(0);
            if status != 1 {
                bail!("transaction {hash} failed in block {block}");
            }
            return Ok(json!({
                "hash": hash, "from": from, "to": to, "value": value.to_string(),
                "block": block as u64, "gas_used": gas_used as u64,
            }));
        }
        if Instant::now() > deadline {
            bail!("transaction {hash} was not finalized within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
