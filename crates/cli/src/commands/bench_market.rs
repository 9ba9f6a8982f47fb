//! `lightstreams bench market`: sustained purchases/s on 1 and on 4 validators beside plain
//! transfers measured the same way in the same run, and the time from `buy` submitted to the
//! buyer's first decrypted byte with the key released by the keepers.
//!
//! For each network: the creator (dev account 0) adds a 64 KiB item through the first node
//! and lists it with every validator as a key keeper. Then `--buyers` threads, each a dev
//! account, each sending through node `i mod n` and waiting for finality before its next
//! transaction, run (1) `--purchases` plain 1000-wei transfers to fresh addresses (the
//! baseline: the same signing, submission and finality path) and (2) `--purchases` purchases
//! as gifts to fresh addresses (each a new READ grant). Last, `--samples` buyers with
//! registered keys each buy and read byte 0: the clock runs from submitting the purchase to
//! the decrypted byte (finality, the keepers' shares, the manifest and the first chunk).

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{anyhow, bail};
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Content, Identity, Ledger};
use lightstreams_market::{ListingRequest, Market};
use lightstreams_primitives::dev::dev_accounts;
use lightstreams_vault::ItemId;
use serde_json::json;

use super::bench::start_network;
use crate::args::BenchMarketArgs;

type Http = Client<RpcLedger, HttpRemote>;

fn client(ledger_url: &str, vault_url: &str, signer: &PrivateKeySigner) -> anyhow::Result<Http> {
    Ok(Client::new(
        RpcLedger::new(ledger_url),
        HttpRemote::connect(vault_url).map_err(|e| anyhow!("{e}"))?,
        Identity::from_signer(signer.clone()),
    ))
}

/// Run `per_buyer` operations on each of `buyers` threads; operations per second.
fn sustained(
    buyers: &[PrivateKeySigner],
    per_buyer: usize,
    op: impl Fn(usize, &PrivateKeySigner) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = buyers
            .iter()
            .enumerate()
            .map(|(i, signer)| {
                let op = &op;
                scope.spawn(move || -> anyhow::Result<()> {
                    for _ in 0..per_buyer {
                        op(i, signer)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow!("a buyer thread panicked"))??;
        }
        Ok(())
    })?;
    Ok((buyers.len() * per_buyer) as f64 / started.elapsed().as_secs_f64())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO)
}

fn measure(
    validators: usize,
    args: &BenchMarketArgs,
    say: &dyn Fn(String),
) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::Builder::new()
        .prefix("lightstreams-bench-market-")
        .tempdir()?;
    let accounts = (1 + args.buyers + args.samples) as u32;
    let (children, urls) = start_network(dir.path(), validators, accounts)?;
    let signers = dev_accounts(accounts);
    let creator = client(&urls[0], &urls[0], &signers[0])?;
    creator
        .ensure_key_registered()
        .map_err(|e| anyhow!("{e}"))?;
    let content: Vec<u8> = (0..64 * 1024).map(|_| rand::random::<u8>()).collect();
    let published = creator
        .add(
            content.as_slice(),
            &Content {
                name: "track.bin".into(),
                media_type: "application/octet-stream".into(),
            },
            false,
            |_| {},
        )
        .map_err(|e| anyhow!("{e}"))?;
    let item: ItemId = published.item;
    let price = U256::from(1000u64);
    let listed = Market::new(&creator)
        .list(
            item,
            &ListingRequest {
                price,
                supply: 0,
                splits: Vec::new(),
                keepers: urls.clone(),
                threshold: None,
            },
        )
        .map_err(|e| anyhow!("{e}"))?;
    say(format!(
        "{validators} validator(s): listed {item}, key with {} keepers (any {})",
        listed.custody.keepers.len(),
        listed.custody.threshold
    ));

    let buyers = &signers[1..=args.buyers];
    let per_buyer = (args.purchases / args.buyers).max(1);
    let transfers_per_s = sustained(buyers, per_buyer, |i, signer| {
        RpcLedger::new(&urls[i % urls.len()])
            .transact_with_value(
                signer,
                Address::from(rand::random::<[u8; 20]>()),
                Vec::new(),
                price,
            )
            .map(|_| ())
            .map_err(|e| anyhow!("transfer: {e}"))
    })?;
    let buyer_clients: Vec<Http> = buyers
        .iter()
        .enumerate()
        .map(|(i, s)| client(&urls[i % urls.len()], &urls[0], s))
        .collect::<anyhow::Result<_>>()?;
    let purchases_per_s = sustained(buyers, per_buyer, |i, _| {
        Market::new(&buyer_clients[i])
            .buy(
                item,
                Some(Address::from(rand::random::<[u8; 20]>())),
                None,
                0,
            )
            .map(|_| ())
            .map_err(|e| anyhow!("purchase: {e}"))
    })?;
    say(format!(
        "{validators} validator(s): {purchases_per_s:.1} purchases/s, {transfers_per_s:.1} transfers/s ({} buyers)",
        args.buyers
    ));

    let mut latencies = Vec::new();
    for (s, signer) in signers[1 + args.buyers..].iter().enumerate() {
        let buyer = client(&urls[s % urls.len()], &urls[0], signer)?;
        buyer.ensure_key_registered().map_err(|e| anyhow!("{e}"))?;
        let started = Instant::now();
        Market::new(&buyer)
            .buy(item, None, None, 0)
            .map_err(|e| anyhow!("{e}"))?;
        let opened = buyer.open(item, None).map_err(|e| anyhow!("{e}"))?;
        let mut first = Vec::new();
        buyer
            .read_range(&opened, 0, 0, &mut first, |_| {})
            .map_err(|e| anyhow!("{e}"))?;
        latencies.push(started.elapsed());
        if first.first() != content.first() {
            bail!("the buyer decrypted the wrong first byte");
        }
    }
    let ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let med = median(latencies).as_secs_f64() * 1e3;
    say(format!(
        "{validators} validator(s): buy -> first byte median {med:.0} ms ({} samples)",
        ms.len()
    ));
    drop(children);
    Ok(json!({
        "validators": validators,
        "keepers": listed.custody.keepers.len(),
        "threshold": listed.custody.threshold,
        "buyers": args.buyers,
        "purchases": per_buyer * args.buyers,
        "purchases_per_s": purchases_per_s,
        "transfers_per_s": transfers_per_s,
        "purchases_vs_transfers": purchases_per_s / transfers_per_s,
        "buy_to_first_byte_ms": {"median": med, "samples": ms},
    }))
}

pub(crate) fn run(args: BenchMarketArgs, json: bool) -> anyhow::Result<()> {
    if args.buyers == 0 || args.purchases == 0 || args.samples == 0 || args.validators.is_empty() {
        bail!("--buyers, --purchases, --samples and --validators must be positive");
    }
    let say = |text: String| {
        if !json {
            eprintln!("{text}");
        }
    };
    let mut reports = Vec::new();
    for &validators in &args.validators {
        reports.push(measure(validators, &args, &say)?);
    }
    if json {
        println!("{}", json!(reports));
        return Ok(());
    }
    println!(
        "{:<12} {:>12} {:>12} {:>8} {:>22}",
        "validators", "purchases/s", "transfers/s", "ratio", "buy -> 1st byte (p50)"
    );
    for r in &reports {
        println!(
            "{:<12} {:>12.1} {:>12.1} {:>8.2} {:>19.0} ms",
            r["validators"],
            r["purchases_per_s"].as_f64().unwrap_or(0.0),
            r["transfers_per_s"].as_f64().unwrap_or(0.0),
            r["purchases_vs_transfers"].as_f64().unwrap_or(0.0),
            r["buy_to_first_byte_ms"]["median"].as_f64().unwrap_or(0.0),
        );
    }
    Ok(())
}
