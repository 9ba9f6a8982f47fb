//! `lightstreams vault announce | nodes | health`: the vault across nodes.

use std::path::Path;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use anyhow::{Context, anyhow};
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::Ledger;
use lightstreams_network::client::Peer;
use lightstreams_network::registry::{self, NODE_REGISTRY, NodeRegistry};
use lightstreams_network::{NodeKey, PeerClient};
use lightstreams_node::NodeConfig;
use serde_json::{Value, json};

use super::vault::{parse_item, signer_of};
use crate::args::IdentityArgs;
use crate::rpc::Rpc;

/// Sign the node's announcement with its key file and send it from the operator account.
pub(crate) fn announce(
    config_path: &Path,
    url: Option<String>,
    who: &IdentityArgs,
    json: bool,
) -> anyhow::Result<()> {
    let operator = signer_of(who)?;
    let value = announce_node(config_path, url, &operator, &who.rpc)?;
    super::print(json, &value, || {
        format!(
            "announced node {} at {}, run by {} (tx {})",
            value["node"].as_str().unwrap_or_default(),
            value["url"].as_str().unwrap_or_default(),
            operator.address(),
            value["tx"].as_str().unwrap_or_default(),
        )
    });
    Ok(())
}

/// Announce the node of `config_path` at `url` (default: http:// + its rpc.addr), run by
/// `operator`, through the node at `rpc`: {node, operator, url, tx}.
pub(crate) fn announce_node(
    config_path: &Path,
    url: Option<String>,
    operator: &PrivateKeySigner,
    rpc: &str,
) -> anyhow::Result<Value> {
    let config = NodeConfig::load(config_path)?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    let resolved = config
        .resolve(base)
        .with_context(|| format!("reading the node configuration {}", config_path.display()))?;
    let url = url
        .unwrap_or_else(|| format!("http://{}", config.rpc.addr))
        .trim_end_matches('/')
        .to_string();
    registry::check_url(&url).map_err(|e| anyhow!("--url: {e}"))?;
    let key = NodeKey::from_private(resolved.signer.clone());
    let tx = send_announcement(&key, resolved.genesis.chain_id, &url, operator, rpc)?;
    Ok(json!({
        "node": key.id().to_string(),
        "operator": operator.address(),
        "url": url,
        "tx": tx,
    }))
}

/// Announce the node of `key` at `url`, run by `operator`, on chain `chain_id`, through the node
/// at `rpc`; the transaction hash once final.
pub(crate) fn send_announcement(
    key: &NodeKey,
    chain_id: u64,
    url: &str,
    operator: &PrivateKeySigner,
    rpc: &str,
) -> anyhow::Result<B256> {
    // A network whose genesis predates the registry has no code there, and a transaction to
    // it would "succeed" doing nothing.
    let code = Rpc::new(rpc).call("eth_getCode", json!([NODE_REGISTRY, "latest"]))?;
    if code
        .as_str()
        .is_none_or(|c| c.trim_start_matches("0x").is_empty())
    {
        anyhow::bail!(
            "the network at {rpc} has no node registry at {NODE_REGISTRY} (its genesis predates it): start a new network with `lightstreams init` or `testnet`"
        );
    }
    let ledger = RpcLedger::new(rpc);
    if !may_operate(&ledger, operator.address())? {
        let admin = registry_admin(&ledger)?;
        anyhow::bail!(
            "{} may not run vault nodes on this network: the node registry's admin ({admin}) approves operators, with `lightstreams vault approve {}`",
            operator.address(),
            operator.address()
        );
    }
    let proof = registry::prove(key, chain_id, operator.address(), url);
    let call = NodeRegistry::announceCall {
        id: B256::from(key.id().0),
        url: url.to_string(),
        proof: Bytes::from(proof.to_vec()),
    };
    ledger
        .transact_with_value(operator, NODE_REGISTRY, call.abi_encode(), U256::ZERO)
        .map_err(|e| anyhow!("announcing the node: {e}"))
}

/// Whether `operator` may announce vault nodes.
fn may_operate(ledger: &RpcLedger, operator: Address) -> anyhow::Result<bool> {
    let out = ledger
        .call(
            NODE_REGISTRY,
            NodeRegistry::mayOperateCall { operator }.abi_encode(),
        )
        .map_err(|e| anyhow!("reading the node registry: {e}"))?;
    NodeRegistry::mayOperateCall::abi_decode_returns(&out)
        .map_err(|e| anyhow!("the node registry answered something unexpected: {e}"))
}

/// The node registry's admin.
fn registry_admin(ledger: &RpcLedger) -> anyhow::Result<Address> {
    let out = ledger
        .call(NODE_REGISTRY, NodeRegistry::adminCall {}.abi_encode())
        .map_err(|e| anyhow!("reading the node registry: {e}"))?;
    NodeRegistry::adminCall::abi_decode_returns(&out)
        .map_err(|e| anyhow!("the node registry answered something unexpected: {e}"))
}

/// Approve `operator` to run vault nodes (or withdraw the approval), as the registry's admin.
pub(crate) fn approve(
    operator: &str,
    allow: bool,
    who: &IdentityArgs,
    json: bool,
) -> anyhow::Result<()> {
    let operator: Address = operator
        .parse()
        .map_err(|e| anyhow!("{operator:?} is not an account address (0x + 40 hex digits): {e}"))?;
    let admin_signer = signer_of(who)?;
    let ledger = RpcLedger::new(&who.rpc);
    let admin = registry_admin(&ledger)?;
    if admin != admin_signer.address() {
        anyhow::bail!(
            "only the node registry's admin ({admin}) approves operators; this account is {}",
            admin_signer.address()
        );
    }
    let data = if allow {
        NodeRegistry::approveCall { operator }.abi_encode()
    } else {
        NodeRegistry::disapproveCall { operator }.abi_encode()
    };
    let tx = ledger
        .transact_with_value(&admin_signer, NODE_REGISTRY, data, U256::ZERO)
        .map_err(|e| anyhow!("{}: {e}", if allow { "approving" } else { "disapproving" }))?;
    let value = json!({"operator": operator, "approved": allow, "tx": tx});
    super::print(json, &value, || {
        if allow {
            format!("{operator} may now run vault nodes (tx {tx})")
        } else {
            format!(
                "{operator} may no longer run vault nodes; its nodes left the registry (tx {tx})"
            )
        }
    });
    Ok(())
}

/// The registry's entries whose proofs check, read through the node at `rpc_url`.
pub(crate) fn registered(rpc_url: &str) -> anyhow::Result<(Vec<registry::Entry>, usize)> {
    let rpc = Rpc::new(rpc_url);
    let chain_id = rpc.quantity64("eth_chainId", json!([]))?;
    let out = RpcLedger::new(rpc_url)
        .call(NODE_REGISTRY, NodeRegistry::allCall {}.abi_encode())
        .map_err(|e| anyhow!("reading the node registry: {e}"))?;
    let all = NodeRegistry::allCall::abi_decode_returns(&out)
        .map_err(|e| anyhow!("the node registry answered something unexpected: {e}"))?;
    let entries = registry::valid_entries(chain_id, &all);
    let ignored = all.len() - entries.len();
    Ok((entries, ignored))
}

/// The registry's valid entries and whether each answers.
pub(crate) fn nodes(rpc_url: &str, json: bool) -> anyhow::Result<()> {
    let (entries, ignored) = registered(rpc_url)?;
    // Probing needs no identity: a throwaway key signs nothing here.
    let prober = PeerClient::new(
        NodeKey::from_seed(rand::random()),
        std::time::Duration::from_secs(2),
    );
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let live = prober.alive(&Peer {
                id: e.id,
                url: e.url.clone(),
                stream: None,
            });
            json!({"id": e.id.to_string(), "url": e.url, "operator": e.operator, "live": live})
        })
        .collect();
    let value = json!({"nodes": rows, "ignored": ignored});
    super::print(json, &value, || {
        let mut lines: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{}  {}  {}  {}",
                    r["id"].as_str().unwrap_or_default(),
                    r["url"].as_str().unwrap_or_default(),
                    r["operator"].as_str().unwrap_or_default(),
                    if r["live"].as_bool() == Some(true) {
                        "live"
                    } else {
                        "down"
                    }
                )
            })
            .collect();
        if lines.is_empty() {
            lines.push(
                "no vault nodes registered (announce one with `lightstreams vault announce`)"
                    .into(),
            );
        }
        if ignored > 0 {
            lines.push(format!(
                "{ignored} entr(ies) ignored: their proofs do not check"
            ));
        }
        lines.join("\n")
    });
    Ok(())
}

/// How many live copies each object of an item has.
pub(crate) fn health(id: &str, who: &IdentityArgs, json: bool) -> anyhow::Result<()> {
    let item = parse_item(id)?;
    let signer = signer_of(who)?;
    let remote = HttpRemote::connect(&who.rpc).map_err(|e| anyhow!("{e}"))?;
    let value = remote.health(&signer, item).map_err(|e| anyhow!("{e}"))?;
    super::print(json, &value, || {
        let mut text = format!(
            "item {}\n{} object(s), {} wanted copies each, fewest copies {}, most copies of a chunk {}, {} under-replicated, {} not yet on their placement",
            value["item"].as_str().unwrap_or_default(),
            value["objects"],
            value["wanted"],
            value["min_copies"],
            value["max_blob_copies"],
            value["under_replicated"],
            value["misplaced"],
        );
        for node in value["nodes"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n  {}  {:<4}  {} object(s)",
                node["id"].as_str().unwrap_or_default(),
                if node["live"].as_bool() == Some(true) {
                    "live"
                } else {
                    "down"
                },
                node["objects"]
            ));
        }
        text
    });
    Ok(())
}

/// How far an item's replication got when `vault add`, `update`, `grant` or `revoke` stopped
/// waiting for it.
pub(crate) struct Replicated {
    /// The fewest live copies any object of the item has.
    pub(crate) copies: u64,
    /// Copies wanted of each: R, or one per live node where fewer are up (health's
    /// `wanted_live`).
    pub(crate) wanted: u64,
}

impl Replicated {
    pub(crate) fn done(&self) -> bool {
        self.copies >= self.wanted
    }
}

/// Wait until every object of `item` has as many live copies as the network wants (R, or one
/// on every live node where fewer are up), showing progress unless `quiet`; after `limit` (or
/// if the node cannot say), return what there is: the nodes go on replicating by themselves.
pub(crate) fn wait_replicated(
    who: &IdentityArgs,
    item: lightstreams_vault::ItemId,
    quiet: bool,
    limit: std::time::Duration,
) -> anyhow::Result<Replicated> {
    let signer = signer_of(who)?;
    let remote = HttpRemote::connect(&who.rpc).map_err(|e| anyhow!("{e}"))?;
    let spinner = if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new_spinner()
    };
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let deadline = std::time::Instant::now() + limit;
    loop {
        let health = remote.health(&signer, item).map_err(|e| anyhow!("{e}"))?;
        let last = Replicated {
            copies: health["min_copies"].as_u64().unwrap_or(0),
            wanted: health["wanted_live"].as_u64().unwrap_or(1),
        };
        if last.done() || std::time::Instant::now() >= deadline {
            spinner.finish_and_clear();
            return Ok(last);
        }
        spinner.set_message(format!(
            "replicating: every object on {} of {} nodes so far",
            last.copies, last.wanted
        ));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
