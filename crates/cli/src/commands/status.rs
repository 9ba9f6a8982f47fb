//! `lightstreams status`.

use serde_json::json;

use crate::args::RpcArgs;
use crate::rpc::{Rpc, parse_quantity};

pub(crate) fn run(args: RpcArgs, json: bool) -> anyhow::Result<()> {
    let rpc = Rpc::new(&args.rpc);
    let client = rpc.call("web3_clientVersion", json!([]))?;
    let chain_id = rpc.quantity("eth_chainId", json!([]))?;
    let head = rpc.call("eth_getBlockByNumber", json!(["latest", false]))?;
    let number = parse_quantity(&head["number"])?;
    let timestamp = parse_quantity(&head["timestamp"])?;
    let peers = rpc.quantity("net_peerCount", json!([])).unwrap_or(0);
    let syncing = rpc.call("eth_syncing", json!([]))?;
    let value = json!({
        "rpc": args.rpc,
        "client": client,
        "chain_id": chain_id as u64,
        "head": { "number": number as u64, "hash": head["hash"], "timestamp": timestamp as u64,
                  "transactions": head["transactions"].as_array().map_or(0, Vec::len) },
        "peers": peers as u64,
        "syncing": syncing,
    });
    super::print(json, &value, || {
        format!(
            "node      {}\nclient    {}\nchain id  {}\nhead      #{} {} ({} txs, {})\npeers     {}\nsyncing   {}",
            args.rpc,
            client.as_str().unwrap_or_default(),
            chain_id,
            number,
            head["hash"].as_str().unwrap_or_default(),
            value["head"]["transactions"],
            super::when(timestamp as u64),
            peers,
            syncing
        )
    });
    Ok(())
}
