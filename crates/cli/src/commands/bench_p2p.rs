//! `lightstreams bench p2p`: how fast a node's sealed objects move to a peer over loopback,
//! beside a raw TCP transfer of the same bytes measured in the same run.
//!
//! A `lightstreams dev` node holds a `--size-mib` item (uploaded with client-side encryption).
//! This process then joins the node registry as a vault node of its own (a fresh ed25519 key,
//! announced by dev account 0) and pulls every object of the item through the node's `/v1/peer`
//! API exactly as a reader's node does when it fetches from a replica: `--lanes` parallel
//! requests, each signed by the peer key, naming the reader (who holds READ) and carrying the
//! reader's own signed request to this stand-in node, each checked by
//! the node (signature, freshness, replay, registry membership, ACL at its finalised head) and
//! read from its disk, and verified here against its BLAKE3 address. Three ways: batches over
//! the node's vault stream (plain TCP, no HTTP layer; what nodes use), the same
//! batches over HTTP, and one object per HTTP request.
//! The baseline reads the same files from the node's data directory and streams them over
//! `--lanes` plain TCP connections on loopback, unverified; a second baseline also hashes each
//! object at the receiver, as a verified transfer (iroh-blobs) must; a third is a plain
//! iroh-blobs transfer of the same files over QUIC ([`super::bench_iroh`]), the baseline issue
//! #4 names first (its rounds run after the others, once peak RSS is read, since its runtime
//! and store live in this process). The headline ratio is against the unverified TCP one, the
//! strictest. The TCP baselines and the stream fetch run in `--rounds`
//! back-to-back rounds and each ratio is the median of the rounds' own ratios: on two shared,
//! noisy cores a single pass of the same transfer varies by tens of percent, and a slow spell
//! then lands on one side of a ratio only. Peak RSS of the node and of this process is
//! reported (both stream: nothing holds more than a few objects per lane).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::{anyhow, bail};
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Content, Identity};
use lightstreams_access::request::{ObjectRef, RequestKind, SignedRequest};
use lightstreams_network::batch;
use lightstreams_network::client::{ObjectName, Peer};
use lightstreams_network::peer::ForReader;
use lightstreams_network::{NodeKey, PeerClient};
use lightstreams_primitives::dev::dev_accounts;
use serde_json::json;

use super::bench::{
    CpuClock, Spread, cpu_cell, dev_item_blobs, mean_cpu, peak_rss_mb, start_network,
};
#[cfg(feature = "iroh-baseline")]
use super::bench_iroh::IrohBaseline;
use crate::args::BenchP2pArgs;

/// An endless-looking reader of `left` bytes cycling over a random buffer.
struct Cycle {
    buf: Vec<u8>,
    pos: usize,
    left: u64,
}

impl Read for Cycle {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out
            .len()
            .min(self.buf.len() - self.pos)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % self.buf.len();
        self.left -= n as u64;
        Ok(n)
    }
}

/// Stream `files` over `lanes` loopback TCP connections (file `i` on lane `i mod lanes`, each
/// framed by its length); with `verify`, the receiver BLAKE3-hashes every file as a verified
/// transfer (iroh-blobs' kind) must. Bytes received and bytes per second.
fn raw_tcp(files: &[PathBuf], lanes: usize, verify: bool) -> anyhow::Result<(u64, f64)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let received = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let server = s.spawn(|| -> anyhow::Result<()> {
            std::thread::scope(|s| -> anyhow::Result<()> {
                let mut senders = Vec::new();
                for lane in 0..lanes {
                    let (mut socket, _) = listener.accept()?;
                    senders.push(s.spawn(move || -> anyhow::Result<()> {
                        let mut buf = Vec::new();
                        for file in files.iter().skip(lane).step_by(lanes) {
                            buf.clear();
                            std::fs::File::open(file)?.read_to_end(&mut buf)?;
                            socket.write_all(&(buf.len() as u64).to_le_bytes())?;
                            socket.write_all(&buf)?;
                        }
                        Ok(())
                    }));
                }
                for sender in senders {
                    sender.join().map_err(|_| anyhow!("a sender panicked"))??;
                }
                Ok(())
            })
        });
        let mut readers = Vec::new();
        for _ in 0..lanes {
            let mut socket = TcpStream::connect(addr)?;
            let received = &received;
            readers.push(s.spawn(move || -> anyhow::Result<()> {
                let mut buf = Vec::new();
                let mut len = [0u8; 8];
                loop {
                    match socket.read_exact(&mut len) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                        Err(e) => return Err(e.into()),
                    }
                    let n = u64::from_le_bytes(len) as usize;
                    buf.resize(n, 0);
                    socket.read_exact(&mut buf)?;
                    if verify {
                        std::hint::black_box(blake3::hash(&buf));
                    }
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            }));
        }
        server
            .join()
            .map_err(|_| anyhow!("the server panicked"))??;
        for reader in readers {
            reader.join().map_err(|_| anyhow!("a reader panicked"))??;
        }
        Ok(())
    })?;
    let bytes = received.into_inner();
    Ok((bytes, bytes as f64 / started.elapsed().as_secs_f64()))
}

/// One round's rates (bytes per second) and CPU seconds per GiB (fetcher, node).
struct Round {
    raw: Phase,
    verified: Phase,
    stream: Phase,
}

/// A phase's rate (bytes per second) and CPU seconds per GiB.
type Phase = (f64, Vec<Option<f64>>);

/// `rounds` plain iroh-blobs transfers of `files` on `lanes` connections (see
/// [`super::bench_iroh`]), each checked to move `bytes`; the store goes under `dir`.
#[cfg(feature = "iroh-baseline")]
fn iroh_rounds(
    files: &[PathBuf],
    dir: &std::path::Path,
    lanes: usize,
    rounds: usize,
    bytes: u64,
    say: impl Fn(String),
) -> anyhow::Result<Option<Vec<Phase>>> {
    say("importing the same files into an iroh-blobs store".into());
    let iroh = IrohBaseline::start(files, dir)?;
    let mut phases = Vec::with_capacity(rounds);
    for round in 0..rounds {
        say(format!("iroh-blobs, round {} of {rounds}", round + 1));
        let clock = CpuClock::start(&[std::process::id()]);
        let (moved, rate) = iroh.fetch(lanes)?;
        if moved != bytes {
            bail!("iroh-blobs moved {moved} bytes, the peer fetches {bytes}");
        }
        phases.push((rate, clock.per_gib(moved)));
    }
    iroh.stop();
    Ok(Some(phases))
}

/// Without the `iroh-baseline` feature there is no iroh-blobs baseline.
#[cfg(not(feature = "iroh-baseline"))]
fn iroh_rounds(
    _: &[PathBuf],
    _: &std::path::Path,
    _: usize,
    _: usize,
    _: u64,
    _: impl Fn(String),
) -> anyhow::Result<Option<Vec<Phase>>> {
    Ok(None)
}

/// One phase over all rounds: the spread of its rate and its mean CPU per GiB.
struct Summary {
    rate: Spread,
    cpu: Vec<Option<f64>>,
}

impl Summary {
    fn of<'a>(phases: impl Iterator<Item = &'a Phase> + Clone) -> Self {
        Self {
            rate: Spread::of(phases.clone().map(|p| p.0)),
            cpu: mean_cpu(phases.map(|p| &p.1)),
        }
    }
}

/// The reader's own signed request to this stand-in node (a batch read of the item's first
/// objects), which every fetch it makes from the node carries, as a reader's node forwards the
/// request its reader sent it. Signed afresh for each phase: it is good for 60 s.
fn reader_request(
    reader: &PrivateKeySigner,
    client: &PeerClient,
    item: &[u8; 32],
    blobs: &[String],
) -> ForReader {
    let names: Vec<ObjectName> = blobs
        .iter()
        .take(batch::MAX_BATCH)
        .map(|a| ("chunks", format!("0x{a}")))
        .collect();
    let list = batch::encode_request(&names);
    let hash = *blake3::hash(&list).as_bytes();
    let request = SignedRequest::sign(
        reader,
        RequestKind::Get,
        *item,
        ObjectRef::Batch(hash),
        client.id().to_string(),
    );
    ForReader::new(
        reader.address(),
        "batch",
        &format!("0x{}", hex::encode(hash)),
        &request.to_header(),
    )
}

/// Fetch every blob of `item` from `node` as a peer on `args.lanes` lanes, `args.batch` objects
/// per request (1: the single-object request), each verified. Bytes fetched and bytes per second.
fn peer_fetch(
    client: &PeerClient,
    node: &Peer,
    item: &[u8; 32],
    blobs: &[String],
    args: &BenchP2pArgs,
    reader: &PrivateKeySigner,
) -> anyhow::Result<(u64, f64)> {
    let reader = &reader_request(reader, client, item, blobs);
    let names: Vec<ObjectName> = blobs.iter().map(|a| ("chunks", format!("0x{a}"))).collect();
    let batches: Vec<&[ObjectName]> = names.chunks(args.batch).collect();
    let next = AtomicUsize::new(0);
    let fetched = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let lanes: Vec<_> = (0..args.lanes)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let [(kind, id)] = batch {
                            let bytes = client
                                .get(node, item, kind, id, reader)
                                .map_err(|e| anyhow!("peer fetch of {id}: {e}"))?;
                            fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            continue;
                        }
                        let mut missing = None;
                        client
                            .get_batch(node, item, batch, reader, |i, bytes| match bytes {
                                Some(bytes) => {
                                    fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                                }
                                None => missing = Some(i),
                            })
                            .map_err(|e| anyhow!("peer batch fetch: {e}"))?;
                        if let Some(i) = missing {
                            bail!("the node did not send {} in a batch", batch[i].1);
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for lane in lanes {
            lane.join().map_err(|_| anyhow!("a lane panicked"))??;
        }
        Ok(())
    })?;
    let bytes = fetched.into_inner();
    Ok((bytes, bytes as f64 / started.elapsed().as_secs_f64()))
}

pub(crate) fn run(args: BenchP2pArgs, json: bool) -> anyhow::Result<()> {
    if args.size_mib == 0 || args.lanes == 0 || args.batch == 0 || args.rounds == 0 {
        bail!("--size-mib, --lanes, --batch and --rounds must be positive");
    }
    if args.batch > lightstreams_network::batch::MAX_BATCH {
        bail!(
            "--batch is at most {} objects per request",
            lightstreams_network::batch::MAX_BATCH
        );
    }
    let say = |text: String| {
        if !json {
            eprintln!("{text}");
        }
    };
    let dir = tempfile::Builder::new()
        .prefix("lightstreams-bench-p2p-")
        .tempdir()?;
    let (children, urls) = start_network(dir.path(), 1, 2)?;
    let node_pid = children.0.first().map(|(_, c)| c.id()).unwrap_or(0);
    let url = &urls[0];
    let signers = dev_accounts(2);
    let owner = Client::new(
        RpcLedger::new(url),
        HttpRemote::connect(url).map_err(|e| anyhow!("{e}"))?,
        Identity::from_signer(signers[0].clone()),
    );
    let size = args.size_mib * 1024 * 1024;
    say(format!("uploading {} MiB", args.size_mib));
    let published = owner
        .add(
            Cycle {
                buf: (0..1 << 20).map(|_| rand::random::<u8>()).collect(),
                pos: 0,
                left: size,
            },
            &Content {
                name: "bench.bin".into(),
                media_type: "application/octet-stream".into(),
            },
            false,
            |_| {},
        )
        .map_err(|e| anyhow!("{e}"))?;
    let item = published.item;

    // Join the registry as a vault node (its URL answers nothing, so the node pushes nothing
    // to it) and wait until the node counts it as a peer.
    let key = NodeKey::from_seed(rand::random());
    let chain_id = crate::rpc::Rpc::new(url).quantity64("eth_chainId", json!([]))?;
    super::vault_nodes::send_announcement(&key, chain_id, "http://127.0.0.1:9", &signers[0], url)
        .map_err(|e| anyhow!("the bench peer: {e:#}"))?;
    let facts: serde_json::Value = ureq::get(format!("{url}/v1"))
        .call()?
        .body_mut()
        .read_json()?;
    let node = Peer {
        id: facts["node_id"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .map_err(|e: String| anyhow!(e))?,
        url: url.clone(),
        stream: None,
    };
    let client = PeerClient::new(key, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    let inventory = loop {
        match client.inventory(&node, &item.0) {
            Ok(inventory) => break inventory,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(250)),
            Err(e) => bail!("the node never accepted the bench peer: {e}"),
        }
    };
    let blobs = inventory.blobs.clone();
    say(format!(
        "{} objects; fetching from the node as a peer ({} lanes)",
        blobs.len(),
        args.lanes
    ));

    // Peer fetch: every object, verified, in parallel lanes: in batches over the node's vault
    // stream (as nodes fetch from each other), in batches over HTTP, and one per HTTP request.
    let reader = &signers[0];
    let streamed = Peer {
        stream: client.probe(&node).flatten(),
        ..node.clone()
    };
    if streamed.stream.is_none() {
        bail!("the node announces no vault stream (stream_port at /v1)");
    }
    // CPU seconds per GiB for the fetcher (this process) and the node, phase by phase.
    // The HTTP fetches run first: whichever phase comes first pays for fresh memory.
    let me = std::process::id();
    let pids = [me, node_pid];
    let clock = CpuClock::start(&pids);
    let (http_bytes, http_rate) = peer_fetch(&client, &node, &item.0, &blobs, &args, reader)?;
    let http_cpu = clock.per_gib(http_bytes);
    let clock = CpuClock::start(&pids);
    let (single_bytes, single_rate) = peer_fetch(
        &client,
        &node,
        &item.0,
        &blobs,
        &BenchP2pArgs { batch: 1, ..args },
        reader,
    )?;
    let single_cpu = clock.per_gib(single_bytes);

    // The same objects as files in the node's store (for the baseline and their sizes).
    let blob_dir = dev_item_blobs(&dir.path().join("dev"), &item.0);
    let files: Vec<PathBuf> = blobs
        .iter()
        .map(|a| blob_dir.join(&a[..2]).join(a))
        .collect();

    // Round trip of one peer request for the smallest object (the manifest, for a large item),
    // one at a time: the fixed cost every object pays.
    let mut sizes = Vec::new();
    for (address, file) in blobs.iter().zip(&files) {
        sizes.push((std::fs::metadata(file)?.len(), address.clone()));
    }
    sizes.sort();
    let (small_len, small) = sizes.first().cloned().unwrap_or_default();
    let mut round_trips = Vec::new();
    let for_reader = reader_request(reader, &client, &item.0, &blobs);
    for _ in 0..200 {
        let t = Instant::now();
        client
            .get(&node, &item.0, "chunks", &format!("0x{small}"), &for_reader)
            .map_err(|e| anyhow!("peer fetch of {small}: {e}"))?;
        round_trips.push(t.elapsed());
    }
    round_trips.sort();
    let round_trip_us = round_trips[round_trips.len() / 2].as_secs_f64() * 1e6;

    // Rounds of: the baseline (the same files, raw TCP; sender and receiver both run in this
    // process, so its CPU time is the transfer's), the verified baseline, the vault stream.
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        say(format!("round {} of {}", round + 1, args.rounds));
        let clock = CpuClock::start(&[me]);
        let raw = raw_tcp(&files, args.lanes, false)?;
        let raw_cpu = clock.per_gib(raw.0);
        let clock = CpuClock::start(&[me]);
        let verified = raw_tcp(&files, args.lanes, true)?;
        let verified_cpu = clock.per_gib(verified.0);
        let clock = CpuClock::start(&pids);
        let stream = peer_fetch(&client, &streamed, &item.0, &blobs, &args, reader)?;
        let stream_cpu = clock.per_gib(stream.0);
        for (what, bytes) in [
            ("raw TCP", raw.0),
            ("raw TCP + BLAKE3", verified.0),
            ("the HTTP batch fetch", http_bytes),
            ("the one-per-request fetch", single_bytes),
        ] {
            if bytes != stream.0 {
                bail!("{what} moved {bytes} bytes, the stream fetch {}", stream.0);
            }
        }
        rounds.push(Round {
            raw: (raw.1, raw_cpu),
            verified: (verified.1, verified_cpu),
            stream: (stream.1, stream_cpu),
        });
    }
    let client_rss = peak_rss_mb(std::process::id());
    let node_rss = peak_rss_mb(node_pid);

    // A plain iroh-blobs transfer of the same files, as many times, after the peak RSS is read
    // (its runtime and store live in this process). Round i's ratio pairs it with the stream's
    // round i: the gap between them is far wider than the machine's noise.
    let iroh = iroh_rounds(
        &files,
        &dir.path().join("iroh"),
        args.lanes,
        args.rounds,
        http_bytes,
        say,
    )?;
    drop(children);

    let raw = Summary::of(rounds.iter().map(|r| &r.raw));
    let verified = Summary::of(rounds.iter().map(|r| &r.verified));
    let stream = Summary::of(rounds.iter().map(|r| &r.stream));
    let plain_iroh = iroh.as_ref().map(|phases| Summary::of(phases.iter()));
    let iroh_ratio = |f: fn(&Round, &Phase) -> f64| {
        iroh.as_ref()
            .map(|phases| Spread::of(rounds.iter().zip(phases).map(|(r, i)| f(r, i))))
    };
    let ratio_iroh = iroh_ratio(|r, i| r.stream.0 / i.0);
    let iroh_vs_raw = iroh_ratio(|r, i| i.0 / r.raw.0);
    let ratio = Spread::of(rounds.iter().map(|r| r.stream.0 / r.raw.0));
    let ratio_verified = Spread::of(rounds.iter().map(|r| r.stream.0 / r.verified.0));
    let verified_ratio = Spread::of(rounds.iter().map(|r| r.verified.0 / r.raw.0));
    // What any verified transfer could reach here: the verified baseline's CPU per GiB (reading,
    // sending, receiving and hashing, all in this process) spread perfectly over every core,
    // against raw TCP's rate. It is below 1 wherever raw TCP alone keeps the cores busy.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let gib = (1u64 << 30) as f64;
    let ceiling = Spread::of(rounds.iter().filter_map(|r| {
        let cpu = r.verified.1.first().copied().flatten()?;
        Some(cores * gib / (cpu * r.raw.0))
    }));
    let mb = |rate: f64| rate / 1e6;
    let report = json!({
        "size_mib": args.size_mib,
        "objects": blobs.len(),
        "bytes": http_bytes,
        "lanes": args.lanes,
        "batch": args.batch,
        "rounds": args.rounds,
        "peer_fetch_mb_s": mb(stream.rate.median),
        "peer_fetch_http_batch_mb_s": mb(http_rate),
        "peer_fetch_one_per_request_mb_s": mb(single_rate),
        "raw_tcp_mb_s": mb(raw.rate.median),
        "raw_tcp_blake3_mb_s": mb(verified.rate.median),
        "iroh_blobs_mb_s": plain_iroh.as_ref().map(|p| mb(p.rate.median)),
        "ratio": ratio.median,
        "ratio_range": [ratio.min, ratio.max],
        "ratio_vs_verified": ratio_verified.median,
        "ratio_vs_verified_range": [ratio_verified.min, ratio_verified.max],
        "ratio_vs_iroh_blobs": ratio_iroh.as_ref().map(|r| r.median),
        "ratio_vs_iroh_blobs_range": ratio_iroh.as_ref().map(|r| [r.min, r.max]),
        "iroh_blobs_vs_raw": iroh_vs_raw.as_ref().map(|r| r.median),
        "verified_vs_raw": verified_ratio.median,
        "verified_ceiling_vs_raw": ceiling.median,
        "verified_ceiling_vs_raw_range": [ceiling.min, ceiling.max],
        "cores": cores,
        "per_round_mb_s": rounds.iter().enumerate().map(|(i, r)| json!({
            "raw_tcp": mb(r.raw.0), "raw_tcp_blake3": mb(r.verified.0), "stream": mb(r.stream.0),
            "iroh_blobs": iroh.as_ref().and_then(|p| p.get(i)).map(|p| mb(p.0)),
        })).collect::<Vec<_>>(),
        "target_ratio": 0.8,
        "peak_rss_mb": {"node": node_rss, "fetcher": client_rss},
        "round_trip_us": {"median": round_trip_us, "object_bytes": small_len},
        "cpu_s_per_gib": {
            "raw_tcp": raw.cpu[0], "raw_tcp_blake3": verified.cpu[0],
            "iroh_blobs": plain_iroh.as_ref().and_then(|p| p.cpu.first().copied().flatten()),
            "peer_fetch": {"fetcher": stream.cpu[0], "node": stream.cpu[1]},
            "peer_fetch_http_batch": {"fetcher": http_cpu[0], "node": http_cpu[1]},
            "peer_fetch_one_per_request": {"fetcher": single_cpu[0], "node": single_cpu[1]},
        },
    });
    if json {
        println!("{report}");
        return Ok(());
    }
    // CPU: the fetcher's / the node's seconds per GiB (the raw transfers run in this process).
    let pair = |cpu: &[Option<f64>]| {
        cpu.iter()
            .map(|&c| cpu_cell(c))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mark = |r: f64| if r >= 0.8 { "✔" } else { "✘" };
    let target = format!("{} (target ≥ 0.80)", mark(ratio.median));
    println!(
        "{:<34} {:>10} {:>16} {:>16}",
        format!("{} MiB, {} lanes", args.size_mib, args.lanes),
        "MB/s",
        "vs raw TCP",
        "CPU s/GiB (f/n)"
    );
    let once = |rate: f64| Spread {
        median: rate / raw.rate.median,
        min: rate / raw.rate.max,
        max: rate / raw.rate.min,
    };
    let mut rows = vec![
        (
            "raw TCP, same bytes (baseline)".to_string(),
            raw.rate.median,
            "1.00".to_string(),
            pair(&raw.cpu),
            "",
        ),
        (
            "raw TCP + BLAKE3 at the receiver".to_string(),
            verified.rate.median,
            verified_ratio.to_string(),
            pair(&verified.cpu),
            "",
        ),
        (
            "peer fetch, one object per request".to_string(),
            single_rate,
            once(single_rate).to_string(),
            pair(&single_cpu),
            "",
        ),
        (
            format!("peer fetch, {} per batch, HTTP", args.batch),
            http_rate,
            once(http_rate).to_string(),
            pair(&http_cpu),
            "",
        ),
        (
            format!("peer fetch, {} per batch, stream", args.batch),
            stream.rate.median,
            ratio.to_string(),
            pair(&stream.cpu),
            target.as_str(),
        ),
    ];
    if let (Some(plain), Some(vs_raw)) = (&plain_iroh, &iroh_vs_raw) {
        rows.insert(
            2,
            (
                "iroh-blobs, same bytes (QUIC)".to_string(),
                plain.rate.median,
                vs_raw.to_string(),
                pair(&plain.cpu),
                "",
            ),
        );
    }
    for (name, rate, ratio, cpu, note) in rows {
        println!(
            "{:<34} {:>10.0} {:>16} {:>16} {}",
            name,
            mb(rate),
            ratio,
            cpu,
            note
        );
    }
    println!(
        "stream vs the verified baseline: {ratio_verified} (median of {} rounds, min-max); MB/s are medians",
        args.rounds
    );
    match &ratio_iroh {
        Some(vs) => println!(
            "stream vs plain iroh-blobs (the same bytes, verified, over QUIC): {vs} {} (target ≥ 0.80)",
            mark(vs.median)
        ),
        None => println!(
            "no iroh-blobs baseline in this build: `cargo run --release --features iroh-baseline -- bench p2p` adds it"
        ),
    }
    println!(
        "ceiling for any verified transfer on {cores} cores: {ceiling} of raw TCP (the verified baseline's CPU per GiB spread perfectly over every core)"
    );
    println!(
        "one peer request for a {small_len}-byte object: {round_trip_us:.0} µs (median of 200)"
    );
    println!(
        "peak RSS: node {}, fetcher {}",
        node_rss.map_or("-".into(), |m| format!("{m:.0} MB")),
        client_rss.map_or("-".into(), |m| format!("{m:.0} MB"))
    );
    Ok(())
}
