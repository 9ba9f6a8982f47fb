//! `lightstreams bench chain`: sustained transfers/s and submission-to-finality latency,
//! measured over JSON-RPC against a network this command starts, beside the same load on anvil
//! in the same run.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use lightstreams_node::testnet::{TestnetSpec, write_testnet};
use lightstreams_primitives::constants::DEV_CHAIN_ID;
use lightstreams_primitives::dev::dev_accounts;
use serde_json::{Value, json};

use super::network::{Children, spawn, start_nodes, wait_for_rpc};
use crate::args::{BenchChainArgs, BenchCommand};
use crate::rpc::Rpc;

pub(crate) fn run(command: BenchCommand, json: bool) -> anyhow::Result<()> {
    match command {
        BenchCommand::Chain(args) => chain(args, json),
        BenchCommand::Vault(args) => super::bench_vault::run(args, json),
        BenchCommand::Market(args) => super::bench_market::run(args, json),
        BenchCommand::P2p(args) => super::bench_p2p::run(args, json),
    }
}

/// What one load run measured.
#[derive(Debug, serde::Serialize)]
struct Report {
    target: String,
    transfers: usize,
    rejected: usize,
    seconds: f64,
    transfers_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_mb: Option<f64>,
}

/// Start `lightstreams dev` (1 validator) or a local testnet of `validators` validators in
/// `dir`, with `accounts` prefunded dev accounts: the processes and their RPC URLs.
pub(crate) fn start_network(
    dir: &std::path::Path,
    validators: usize,
    accounts: u32,
) -> anyhow::Result<(Children, Vec<String>)> {
    let exe = std::env::current_exe()?;
    if validators <= 1 {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let child = spawn(
            &exe,
            &[
                "dev".into(),
                "--data-dir".into(),
                dir.join("dev").into_os_string(),
                "--rpc.addr".into(),
                format!("127.0.0.1:{port}").into(),
                "--accounts".into(),
                accounts.to_string().into(),
                "--log".into(),
                "warn".into(),
            ],
            &dir.join("dev.log"),
        )?;
        let mut children = Children(vec![("dev".into(), child)]);
        wait_for_rpc(&url, &mut children, "dev")?;
        Ok((children, vec![url]))
    } else {
        let mut spec = TestnetSpec::local(dir.join("net"), validators);
        spec.accounts = accounts;
        let layout = write_testnet(&spec)?;
        let children = start_nodes(&layout)?;
        let rpcs = layout
            .nodes
            .iter()
            .map(|n| format!("http://{}", n.rpc))
            .collect();
        Ok((children, rpcs))
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn chain(args: BenchChainArgs, json: bool) -> anyhow::Result<()> {
    if args.senders == 0 || args.transfers == 0 || args.connections == 0 || args.batch == 0 {
        bail!("--senders, --transfers, --connections and --batch must be positive");
    }
    let dir = tempfile::Builder::new()
        .prefix("lightstreams-bench-")
        .tempdir()?;
    let mut reports = Vec::new();
    {
        let (children, rpcs) = start_network(dir.path(), args.validators, 10)?;
        let pids: Vec<u32> = children.0.iter().map(|(_, c)| c.id()).collect();
        let name = if args.validators <= 1 {
            "lightstreams (1 validator)".to_string()
        } else {
            format!("lightstreams ({} validators)", args.validators)
        };
        let report = load(&name, &rpcs, &args, &pids, json)?;
        reports.push(report);
        // Stop the network before loading anvil, so the two runs don't share the cores.
        drop(children);
    }
    if let Some(anvil) = &args.anvil {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let mut anvil_args: Vec<std::ffi::OsString> = vec![
            "--port".into(),
            port.to_string().into(),
            "--chain-id".into(),
            DEV_CHAIN_ID.to_string().into(),
            "--silent".into(),
        ];
        if let Some(seconds) = args.anvil_block_time {
            anvil_args.push("--block-time".into());
            anvil_args.push(seconds.to_string().into());
        }
        let child = spawn(anvil, &anvil_args, &dir.path().join("anvil.log"))
            .with_context(|| format!("cannot start anvil at {}", anvil.display()))?;
        let mut children = Children(vec![("anvil".into(), child)]);
        wait_for_rpc(&url, &mut children, "anvil")?;
        let pids = vec![children.0[0].1.id()];
        let name = match args.anvil_block_time {
            Some(s) => format!("anvil (--block-time {s})"),
            None => "anvil (automine)".to_string(),
        };
        reports.push(load(&name, &[url], &args, &pids, json)?);
    }
    let ratio = (reports.len() == 2)
        .then(|| reports[0].transfers_per_second / reports[1].transfers_per_second);
    if json {
        println!("{}", json!({"reports": reports, "ratio_vs_anvil": ratio}));
    } else {
        println!(
            "{:<30} {:>9} {:>8} {:>12} {:>9} {:>9} {:>10}",
            "target", "transfers", "rejected", "transfers/s", "p50 ms", "p99 ms", "peak RSS"
        );
        for r in &reports {
            println!(
                "{:<30} {:>9} {:>8} {:>12.0} {:>9.1} {:>9.1} {:>10}",
                r.target,
                r.transfers,
                r.rejected,
                r.transfers_per_second,
                r.p50_ms,
                r.p99_ms,
                r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0} MB"))
            );
        }
        if let Some(ratio) = ratio {
            println!("throughput ratio lightstreams / anvil: {ratio:.2}");
        }
    }
    Ok(())
}

/// CPU time `pid` has used so far (user + system, every thread, living or exited), in
/// seconds: fields 14 and 15 of `/proc/PID/stat`, counted in the kernel's user-visible ticks
/// (`USER_HZ`, 100 per second on every Linux architecture).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// The CPU time a set of processes uses over one phase of a benchmark: on a machine with few
/// cores shared by client and node, CPU seconds per GiB are a steadier measure of the work done
/// than the throughput, which varies with whatever else runs.
pub(crate) struct CpuClock(Vec<(u32, Option<f64>)>);

impl CpuClock {
    /// Start counting for `pids`.
    pub(crate) fn start(pids: &[u32]) -> Self {
        Self(pids.iter().map(|&pid| (pid, cpu_seconds(pid))).collect())
    }

    /// CPU seconds each process used since [`CpuClock::start`], per GiB of `bytes`, in the
    /// order given (`None` where `/proc` could not be read).
    pub(crate) fn per_gib(&self, bytes: u64) -> Vec<Option<f64>> {
        let gib = bytes as f64 / (1u64 << 30) as f64;
        self.0
            .iter()
            .map(|&(pid, start)| Some((cpu_seconds(pid)? - start?) / gib.max(1e-9)))
            .collect()
    }
}

/// Median, least and greatest of some measurements.
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.collect();
        values.sort_by(f64::total_cmp);
        let at = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
        let n = values.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            at(n / 2)
        } else {
            (at(n / 2 - 1) + at(n / 2)) / 2.0
        };
        Self {
            median,
            min: at(0),
            max: at(n.saturating_sub(1)),
        }
    }
}

impl std::fmt::Display for Spread {
    /// `median (min-max)`, two decimals each: a ratio cell.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2}-{:.2})", self.median, self.min, self.max)
    }
}

/// Where a `lightstreams dev` node started with `--data-dir DATA` keeps the sealed blobs of
/// `item` (the benches read or free them behind the node's back).
pub(crate) fn dev_item_blobs(data_dir: &std::path::Path, item: &[u8; 32]) -> std::path::PathBuf {
    data_dir
        .join("vault")
        .join("items")
        .join(hex::encode(item))
        .join("blobs")
}

/// The mean of each process's CPU seconds per GiB over the rounds.
pub(crate) fn mean_cpu<'a>(
    rounds: impl Iterator<Item = &'a Vec<Option<f64>>> + Clone,
) -> Vec<Option<f64>> {
    let width = rounds.clone().map(Vec::len).max().unwrap_or(0);
    (0..width)
        .map(|i| {
            let seen: Vec<f64> = rounds
                .clone()
                .filter_map(|r| r.get(i).copied().flatten())
                .collect();
            (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
        })
        .collect()
}

/// A CPU figure for a table: seconds with two decimals, or "-".
pub(crate) fn cpu_cell(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

/// Largest resident set (VmHWM) of `pid`, in MB.
pub(crate) fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn sign(signer: &PrivateKeySigner, nonce: u64, to: Address, value: U256, chain_id: u64) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        ..Default::default()
    };
    // Signing a well-formed transaction with a valid in-memory key cannot fail.
    let signature = signer
        .sign_transaction_sync(&mut tx)
        .expect("in-memory signing succeeds");
    tx.into_signed(signature).encoded_2718()
}

/// Submit `raw` transactions in JSON-RPC batches; returns (hash, submitted at) of accepted ones
/// and the number rejected.
fn submit(
    rpc: &Rpc,
    raw: &[Vec<u8>],
    batch: usize,
    pace: Option<Duration>,
) -> anyhow::Result<(Vec<(B256, Instant)>, usize)> {
    let mut accepted = Vec::with_capacity(raw.len());
    let mut rejected = 0;
    let began = Instant::now();
    for (k, chunk) in raw.chunks(batch).enumerate() {
        if let Some(interval) = pace {
            let due = began + interval * k as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let body: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                       "params": [format!("0x{}", hex::encode(tx))]})
            })
            .collect();
        let sent = Instant::now();
        let replies = rpc.batch(&Value::Array(body))?;
        for reply in replies {
            match reply
                .get("result")
                .and_then(Value::as_str)
                .and_then(|h| h.parse().ok())
            {
                Some(hash) => accepted.push((hash, sent)),
                None => {
                    if rejected == 0 {
                        tracing::warn!(reply = %reply, "transaction rejected");
                    }
                    rejected += 1;
                }
            }
        }
    }
    Ok((accepted, rejected))
}

fn wait_receipt(rpc: &Rpc, hash: B256) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while rpc
        .call("eth_getTransactionReceipt", json!([hash]))?
        .is_null()
    {
        if Instant::now() > deadline {
            bail!("transaction {hash} not finalized within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn load(
    target: &str,
    rpcs: &[String],
    args: &BenchChainArgs,
    pids: &[u32],
    json: bool,
) -> anyhow::Result<Report> {
    let main = Rpc::new(&rpcs[0]);
    let chain_id = main.quantity64("eth_chainId", json!([]))?;
    let funder = &dev_accounts(1)[0];
    let senders: Vec<PrivateKeySigner> = (0..args.senders)
        .map(|_| PrivateKeySigner::random())
        .collect();
    let per_sender = args.transfers.div_ceil(args.senders);

    // Fund the senders (not measured).
    let start_nonce = main.quantity64(
        "eth_getTransactionCount",
        json!([funder.address(), "pending"]),
    )?;
    let stake =
        U256::from(per_sender as u128 * 21_000 * 20_000_000_000 + 1_000_000_000_000_000_000u128);
    let funding: Vec<Vec<u8>> = senders
        .iter()
        .enumerate()
        .map(|(i, s)| sign(funder, start_nonce + i as u64, s.address(), stake, chain_id))
        .collect();
    let (funded, rejected) = submit(&main, &funding, args.batch, None)?;
    if rejected > 0 {
        bail!("{rejected} funding transactions were rejected by {target}");
    }
    if let Some((last, _)) = funded.last() {
        wait_receipt(&main, *last)?;
    }

    // Pre-sign the load: transfers of 1 wei to fresh addresses, by sender in nonce order.
    let mut by_connection: Vec<Vec<Vec<u8>>> = vec![Vec::new(); args.connections];
    let mut count = 0;
    'outer: for nonce in 0..per_sender as u64 {
        for (i, sender) in senders.iter().enumerate() {
            if count == args.transfers {
                break 'outer;
            }
            let to = Address::from(rand::random::<[u8; 20]>());
            by_connection[i % args.connections].push(sign(
                sender,
                nonce,
                to,
                U256::from(1),
                chain_id,
            ));
            count += 1;
        }
    }

    let progress = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(count as u64)
    };
    progress.set_style(
        ProgressStyle::with_template("{msg:>30} [{bar:40}] {pos}/{len} finalized")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    progress.set_message(target.to_string());

    // Each connection sends one batch per `pace`, so all together offer `rate` transfers/s.
    let pace = (args.rate > 0).then(|| {
        Duration::from_secs_f64((args.batch * args.connections) as f64 / args.rate as f64)
    });
    let submitted: Mutex<HashMap<B256, Instant>> = Mutex::new(HashMap::with_capacity(count));
    let finalized: Mutex<HashMap<B256, Instant>> = Mutex::new(HashMap::with_capacity(count));
    let rejected = Mutex::new(0usize);
    let start_block = main.quantity64("eth_blockNumber", json!([]))?;
    let began = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        for (i, txs) in by_connection.iter().enumerate() {
            let rpc = Rpc::new(&rpcs[i % rpcs.len()]);
            let submitted = &submitted;
            let rejected = &rejected;
            workers.push(scope.spawn(move || -> anyhow::Result<()> {
                let (accepted, refused) = submit(&rpc, txs, args.batch, pace)?;
                *rejected.lock().map_err(|_| anyhow::anyhow!("poisoned"))? += refused;
                submitted
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .extend(accepted);
                Ok(())
            }));
        }
        // Watch finalized blocks until every transaction is in one.
        let mut next = start_block + 1;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let head = main.quantity64("eth_blockNumber", json!([]))?;
            while next <= head {
                let block =
                    main.call("eth_getBlockByNumber", json!([format!("{next:#x}"), false]))?;
                let now = Instant::now();
                let mut done = finalized.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                for hash in block["transactions"].as_array().into_iter().flatten() {
                    if let Some(hash) = hash.as_str().and_then(|h| h.parse::<B256>().ok()) {
                        done.entry(hash).or_insert(now);
                    }
                }
                progress.set_position(done.len() as u64);
                next += 1;
            }
            let all_submitted = workers.iter().all(|w| w.is_finished());
            let refused = *rejected.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let done = finalized
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .len();
            if all_submitted && done + refused >= count {
                break;
            }
            if Instant::now() > deadline {
                bail!("{target}: only {done} of {count} transfers finalized within 300 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("submitter panicked"))??;
        }
        Ok(())
    })?;
    progress.finish_and_clear();
    let submitted = submitted
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let finalized = finalized
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut latencies: Vec<f64> = submitted
        .iter()
        .filter_map(|(hash, at)| {
            finalized
                .get(hash)
                .map(|f| f.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let last = finalized.values().max().copied().unwrap_or(began);
    let seconds = last.duration_since(began).as_secs_f64().max(1e-9);
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() as f64 - 1.0) * p).round() as usize]
    };
    let rss: Vec<f64> = pids.iter().filter_map(|p| peak_rss_mb(*p)).collect();
    Ok(Report {
        target: target.to_string(),
        transfers: latencies.len(),
        rejected: rejected
            .into_inner()
            .map_err(|_| anyhow::anyhow!("poisoned"))?,
        seconds,
        transfers_per_second: latencies.len() as f64 / seconds,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        peak_rss_mb: rss.into_iter().reduce(f64::max),
    })
}
