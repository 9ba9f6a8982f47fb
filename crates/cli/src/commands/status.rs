//! `lightstreams status`.

use anyhow::Context;
use serde_json::{Value, json};

use crate::args::RpcArgs;
use crate::rpc::{Rpc, parse_quantity64};

pub(crate) fn run(args: RpcArgs, json: bool) -> anyhow::Result<()> {
    let value = report(&Rpc::new(&args.rpc), &args.rpc)?;
    super::print(json, &value, || {
        format!(
            "node      {}\nclient    {}\nchain id  {}\nhead      #{} {} ({} txs, {})\npeers     {}\nsyncing   {}",
            args.rpc,
            value["client"].as_str().unwrap_or_default(),
            value["chain_id"],
            value["head"]["number"],
            value["head"]["hash"].as_str().unwrap_or_default(),
            value["head"]["transactions"],
            super::when(value["head"]["timestamp"].as_u64().unwrap_or_default()),
            value["peers"],
            value["syncing"]
        )
    });
    Ok(())
}

/// What the node at `url` says of itself. Its quantities are checked against what they stand
/// for: one past 64 bits is an error naming it, not a number cut short.
fn report(rpc: &Rpc, url: &str) -> anyhow::Result<Value> {
    let client = rpc.call("web3_clientVersion", json!([]))?;
    let chain_id = rpc.quantity64("eth_chainId", json!([]))?;
    let head = rpc.call("eth_getBlockByNumber", json!(["latest", false]))?;
    let number = parse_quantity64(&head["number"]).context("the head's number")?;
    let timestamp = parse_quantity64(&head["timestamp"]).context("the head's timestamp")?;
    let peers = rpc.quantity64("net_peerCount", json!([])).unwrap_or(0);
    let syncing = rpc.call("eth_syncing", json!([]))?;
    Ok(json!({
        "rpc": url,
        "client": client,
        "chain_id": chain_id,
        "head": { "number": number, "hash": head["hash"], "timestamp": timestamp,
                  "transactions": head["transactions"].as_array().map_or(0, Vec::len) },
        "peers": peers,
        "syncing": syncing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::tests::fake_rpc;

    /// A node's answers past 64 bits are errors naming them, not numbers cut short; a sane
    /// node's are shown as it said them.
    #[test]
    fn a_nodes_outsized_quantities_are_refused_not_cut() {
        let status = |url: String| report(&Rpc::new(&url), &url);
        let refused = |url: String, what: &str| {
            let err = status(url).expect_err(what);
            assert!(format!("{err:#}").contains(what), "{what}: {err:#}");
        };
        let fine = status(fake_rpc(|method| match method {
            "eth_getBlockByNumber" => Ok(json!({
                "number": "0xffffffffffffffff", "timestamp": "0x1", "hash": "0x01",
                "transactions": [],
            })),
            "eth_syncing" => Ok(json!(false)),
            _ => Ok(json!("0x7")),
        }))
        .expect("status");
        assert_eq!(fine["head"]["number"], json!(u64::MAX));
        assert_eq!(fine["chain_id"], json!(7));

        refused(
            fake_rpc(|method| match method {
                "eth_chainId" => Ok(json!("0x10000000000000007")),
                "eth_getBlockByNumber" => Ok(json!({"number": "0x1", "timestamp": "0x1"})),
                _ => Ok(json!("0x7")),
            }),
            "eth_chainId",
        );
        refused(
            fake_rpc(|method| match method {
                "eth_getBlockByNumber" => {
                    Ok(json!({"number": "0x10000000000000001", "timestamp": "0x1"}))
                }
                _ => Ok(json!("0x7")),
            }),
            "number",
        );
        refused(
            fake_rpc(|method| match method {
                "eth_getBlockByNumber" => {
                    Ok(json!({"number": "0x1", "timestamp": "0x10000000000000001"}))
                }
                _ => Ok(json!("0x7")),
            }),
            "timestamp",
        );
    }
}
