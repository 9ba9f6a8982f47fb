//! `lightstreams dev`.

use std::time::Duration;

use anyhow::Context;
use lightstreams_node::dev::{DevOptions, dev_config};
use lightstreams_primitives::dev::{DEV_MNEMONIC, dev_accounts};
use serde_json::json;

use crate::args::DevArgs;

pub(crate) fn run(args: DevArgs, json: bool) -> anyhow::Result<()> {
    // A temporary directory lives as long as this function: the chain is gone on exit.
    let (data_dir, temp) = match args.data_dir {
        Some(dir) => (dir, None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("lightstreams-dev-")
                .tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let config = dev_config(&DevOptions {
        data_dir: data_dir.clone(),
        rpc: args.rpc_addr,
        accounts: args.accounts,
        empty_block_interval: Duration::from_millis(args.block_interval_ms),
    })?;
    let accounts = dev_accounts(args.accounts);
    let balance = "10000 PHT";
    lightstreams_node::run(config, move |node| {
        let rpc = node
            .rpc_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let chain_id = node.chain().chain_id();
        if json {
            let list: Vec<_> = accounts
                .iter()
                .map(|a| {
                    json!({
                        "address": a.address(),
                        "private_key": format!("0x{}", hex::encode(a.to_bytes())),
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "rpc": rpc,
                    "chain_id": chain_id,
                    "data_dir": data_dir,
                    "mnemonic": DEV_MNEMONIC,
                    "accounts": list,
                })
            );
        } else {
            println!(
                "Lightstreams dev chain — chain id {chain_id}, one validator, instant finality\n"
            );
            println!("Available accounts ({balance} each)\n==================");
            for (i, a) in accounts.iter().enumerate() {
                println!("({i}) {}", a.address());
            }
            println!("\nPrivate keys\n==================");
            for (i, a) in accounts.iter().enumerate() {
                println!("({i}) 0x{}", hex::encode(a.to_bytes()));
            }
            println!("\nMnemonic: {DEV_MNEMONIC}");
            println!("Data directory: {}", data_dir.display());
            println!("\nListening on {rpc} (JSON-RPC over HTTP and WebSocket). Ctrl-C stops.");
        }
    })
    .context("dev chain stopped")?;
    drop(temp);
    Ok(())
}
