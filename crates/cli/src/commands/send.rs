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
use crate::rpc::{Rpc, parse_quantity, parse_quantity64};
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
    // The node's quantities are checked against what they stand for: one that does not fit is
    // an error naming it, never a number cut short or an arithmetic overflow.
    let chain_id = rpc.quantity64("eth_chainId", json!([]))?;
    let nonce = rpc.quantity64("eth_getTransactionCount", json!([from, "pending"]))?;
    let tip = rpc.quantity("eth_maxPriorityFeePerGas", json!([]))?;
    let latest = rpc.call("eth_getBlockByNumber", json!(["latest", false]))?;
    let base_fee = latest
        .get("baseFeePerGas")
        .map(parse_quantity)
        .transpose()?
        .unwrap_or(0);
    let gas = rpc.quantity64(
        "eth_estimateGas",
        json!([{"from": from, "to": to, "value": format!("{value:#x}")}]),
    )?;
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        // A margin past the top stops there (the node then refuses the transaction by name).
        max_fee_per_gas: base_fee.saturating_mul(2).saturating_add(tip),
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
            let block = parse_quantity64(&receipt["blockNumber"]).context("receipt blockNumber")?;
            let gas_used = parse_quantity64(&receipt["gasUsed"]).context("receipt gasUsed")?;
            let status = parse_quantity(&receipt["status"]).unwrap_or(0);
            if status != 1 {
                bail!("transaction {hash} failed in block {block}");
            }
            return Ok(json!({
                "hash": hash, "from": from, "to": to, "value": value.to_string(),
                "block": block, "gas_used": gas_used,
            }));
        }
        if Instant::now() > deadline {
            bail!("transaction {hash} was not finalized within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::tests::fake_rpc;

    /// Quantities a JSON-RPC node answers that do not fit what they stand for (a chain id,
    /// nonce, gas estimate or receipt figure past 64 bits; a base fee whose margin would
    /// overflow) are an error naming them or a bounded fee, never a panic or a number cut short.
    #[test]
    fn a_nodes_outsized_quantities_are_refused_not_wrapped() {
        let signer = PrivateKeySigner::random();
        let send = |url: &str, wait: bool| {
            transfer(&Rpc::new(url), &signer, Address::ZERO, U256::from(1), wait)
        };
        let refused = |url: &str, wait: bool, what: &str| {
            let err = send(url, wait).expect_err(what);
            assert!(format!("{err:#}").contains(what), "{what}: {err:#}");
        };
        refused(
            &fake_rpc(|method| match method {
                "eth_chainId" => Ok(json!("0x10000000000000001")),
                _ => Ok(json!("0x1")),
            }),
            false,
            "eth_chainId",
        );
        refused(
            &fake_rpc(|method| match method {
                "eth_getTransactionCount" => Ok(json!("0x10000000000000000")),
                _ => Ok(json!("0x1")),
            }),
            false,
            "eth_getTransactionCount",
        );
        refused(
            &fake_rpc(|method| match method {
                "eth_estimateGas" => Ok(json!("0x10000000000005208")),
                "eth_getBlockByNumber" => Ok(json!({"baseFeePerGas": "0x1"})),
                _ => Ok(json!("0x1")),
            }),
            false,
            "eth_estimateGas",
        );

        // A base fee and tip at the top of 128 bits: the fee stops at the top.
        let hash = format!("0x{}", "ab".repeat(32));
        let sent = send(
            &fake_rpc(|method| match method {
                "eth_maxPriorityFeePerGas" => Ok(json!(format!("{:#x}", u128::MAX))),
                "eth_getBlockByNumber" => {
                    Ok(json!({"baseFeePerGas": format!("{:#x}", u128::MAX / 2 + 1)}))
                }
                "eth_sendRawTransaction" => Ok(json!(format!("0x{}", "ab".repeat(32)))),
                _ => Ok(json!("0x5208")),
            }),
            false,
        )
        .expect("sent");
        assert_eq!(sent["hash"], json!(hash));

        // A receipt whose block number does not fit.
        refused(
            &fake_rpc(|method| match method {
                "eth_getBlockByNumber" => Ok(json!({"baseFeePerGas": "0x1"})),
                "eth_sendRawTransaction" => Ok(json!(format!("0x{}", "ab".repeat(32)))),
                "eth_getTransactionReceipt" => Ok(json!({
                    "blockNumber": "0x10000000000000007",
                    "gasUsed": "0x5208",
                    "status": "0x1",
                })),
                _ => Ok(json!("0x5208")),
            }),
            true,
            "blockNumber",
        );
    }
}
