//! `lightstreams bench vault`: add and get throughput beside the single-core bound measured in
//! the same run, peak memory, and the latency from `grant` to the grantee's first byte.
//!
//! Three measurements over the same generated content (never held in memory whole):
//! 1. **bound**: AES-256-GCM sealing + BLAKE3 hashing of the same bytes on one core;
//! 2. **local**: the vault library alone, encrypting into and decrypting from a chunk store on
//!    disk (what "add and get locally" costs without any network);
//! 3. **node**: the full protocol through a `lightstreams dev` node this command starts:
//!    chain transactions, signed requests (batches over the node's local stream, a Unix-domain
//!    socket that hands blobs over as files, as every client on the node's machine uses; and
//!    again over the TCP stream, as from another machine), the node's checks and store. It runs in `--rounds` rounds of (bound, disk, add, get) back to back and
//!    reports the median of the rounds' own ratios with their range: on two shared, noisy
//!    cores a single pass varies by tens of percent (the bound alone 2,650–3,460 MB/s in one
//!    sitting), and a slow spell would otherwise land on one side of a ratio only.
//!
//! Beside each rate, the CPU seconds per GiB the client (this process) and the node used in
//! that phase: on a machine with few cores shared by both, the rate depends on what else runs,
//! the CPU time much less; the bound line shows what one core of the crypto alone costs.
//! Each round also measures the floor of an add and a get through a node (see `Floor`): the
//! work neither can drop, each part timed alone, and so the most any code could reach here.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use anyhow::anyhow;
use lightstreams_access::acl::Level;
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Content, Identity};
use lightstreams_primitives::dev::dev_accounts;
use lightstreams_vault::{
    ChunkStore, ContentKey, Encryptor, ItemId, measure_bound, open_manifest, read_ahead,
};
use serde_json::json;

use super::bench::{CpuClock, Spread, cpu_cell, dev_item_blobs, free_port, mean_cpu, peak_rss_mb};
use super::network::{Children, spawn, wait_for_rpc};
use crate::args::BenchVaultArgs;

/// Content of `left` bytes cut from a 1 MiB random block at shifting offsets: cheap to
/// produce (a memcpy), never repeating a chunk exactly, and never held in memory whole.
struct Generated {
    left: u64,
    block: Vec<u8>,
    pos: usize,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.left as usize)
            .min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos = (self.pos + n) % (self.block.len() - 4096);
        self.left -= n as u64;
        Ok(n)
    }
}

fn generated(size: u64) -> Generated {
    let mut block = vec![0u8; 1 << 20];
    for b in block.iter_mut() {
        *b = rand::random();
    }
    Generated {
        left: size,
        block,
        pos: 0,
    }
}

/// A `Write` that counts and drops.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Fill `buf` from `input` as far as it goes; the count read (less than `buf` only at the end).
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The store's own write rate: `size` bytes written as 1 MiB files into a fresh directory under
/// `dir` (the page cache and file system costs every store pays too), MB/s. The files are
/// removed again, so each later phase writes into memory the system just released rather than
/// the first into released memory and the later ones into memory a virtual machine's host must
/// first provide (on this project's CI VM: ~3 GB/s against ~0.3 GB/s once ~2 GiB are in use).
fn disk_rate(dir: &std::path::Path, size: u64) -> anyhow::Result<f64> {
    Ok(disk_costs(dir, size)?.write_mb_s)
}

/// What the store's file system costs by itself: [`disk_rate`]'s write rate, and the CPU
/// seconds per GiB this process spent writing the files and then reading them back.
struct Disk {
    write_mb_s: f64,
    write_cpu: Option<f64>,
    read_cpu: Option<f64>,
}

fn disk_costs(dir: &std::path::Path, size: u64) -> anyhow::Result<Disk> {
    let raw = dir.join("raw");
    std::fs::create_dir_all(&raw)?;
    let mut input = generated(size);
    let mut buf = vec![0u8; lightstreams_vault::CHUNK_SIZE];
    let me = [std::process::id()];
    let clock = CpuClock::start(&me);
    let started = Instant::now();
    let mut index = 0u64;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        std::fs::write(raw.join(index.to_string()), &buf[..n])?;
        index += 1;
    }
    let write_mb_s = mb_s(size, started.elapsed().as_secs_f64());
    let write_cpu = clock.per_gib(size).first().copied().flatten();
    let clock = CpuClock::start(&me);
    for i in 0..index {
        let mut file = std::fs::File::open(raw.join(i.to_string()))?;
        read_full(&mut file, &mut buf)?;
    }
    let read_cpu = clock.per_gib(size).first().copied().flatten();
    std::fs::remove_dir_all(&raw)?;
    Ok(Disk {
        write_mb_s,
        write_cpu,
        read_cpu,
    })
}

/// CPU seconds per GiB this process spends moving `size` bytes over one loopback TCP
/// connection, sender and receiver both here, in 1 MiB writes of one buffer (no input to
/// produce): what carrying an upload to the node, or a download back, costs the machine at
/// least.
fn loopback_cpu(size: u64) -> anyhow::Result<Option<f64>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let clock = CpuClock::start(&[std::process::id()]);
    let received = std::thread::scope(|s| -> anyhow::Result<u64> {
        let sender = s.spawn(move || -> std::io::Result<()> {
            let mut socket = std::net::TcpStream::connect(addr)?;
            let buf = vec![0x5au8; lightstreams_vault::CHUNK_SIZE];
            let mut left = size;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                socket.write_all(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        });
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; lightstreams_vault::CHUNK_SIZE];
        let mut received = 0u64;
        loop {
            match socket.read(&mut buf)? {
                0 => break,
                n => received += n as u64,
            }
        }
        sender
            .join()
            .map_err(|_| anyhow!("the loopback sender panicked"))??;
        Ok(received)
    })?;
    if received != size {
        return Err(anyhow!("loopback TCP moved {received} of {size} bytes"));
    }
    Ok(clock.per_gib(size).first().copied().flatten())
}

/// CPU seconds per GiB this process spends moving `size` bytes over a Unix-domain socket pair,
/// as [`loopback_cpu`] does over TCP: what an upload over the local stream costs at least.
fn unix_cpu(size: u64) -> anyhow::Result<Option<f64>> {
    let (mut sender, mut receiver) = std::os::unix::net::UnixStream::pair()?;
    let clock = CpuClock::start(&[std::process::id()]);
    let received = std::thread::scope(|s| -> anyhow::Result<u64> {
        let sending = s.spawn(move || -> std::io::Result<()> {
            let buf = vec![0x5au8; lightstreams_vault::CHUNK_SIZE];
            let mut left = size;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                sender.write_all(&buf[..n])?;
                left -= n as u64;
            }
            Ok(())
        });
        let mut buf = vec![0u8; lightstreams_vault::CHUNK_SIZE];
        let mut received = 0u64;
        loop {
            match receiver.read(&mut buf)? {
                0 => break,
                n => received += n as u64,
            }
        }
        sending
            .join()
            .map_err(|_| anyhow!("the socket-pair sender panicked"))??;
        Ok(received)
    })?;
    if received != size {
        return Err(anyhow!("the socket pair moved {received} of {size} bytes"));
    }
    Ok(clock.per_gib(size).first().copied().flatten())
}

/// The least CPU per GiB an add and a get through a node must spend on this machine (each part
/// measured alone, in the same round), and the rate that allows on every core.
///
/// - add: seal and hash on the client (the bound's own CPU), carry the bytes to the node over
///   a Unix-domain socket (the local stream; `tcp_add`: over loopback TCP), hash them again
///   there (the node checks every address) and write them into the store; reading the input
///   file is left out.
/// - get: read the blob files and hash and decrypt (taken as the bound's CPU: opening costs
///   what sealing does); the local stream hands the files over, so nothing is carried
///   (`tcp_get`: the node reads them and they cross loopback TCP).
///
/// Nothing else an add or get does (requests, signatures, framing, threads) is counted, so these
/// are floors: no code could reach more than `cores / floor` here.
#[derive(Clone, Copy)]
struct Floor {
    add: f64,
    get: f64,
    tcp_add: f64,
    tcp_get: f64,
}

fn floor_of(
    bound: &lightstreams_vault::Bound,
    disk: &Disk,
    loopback: Option<f64>,
    unix: Option<f64>,
) -> Option<Floor> {
    let gib_mb = (1u64 << 30) as f64 / 1e6;
    let seal_and_hash = gib_mb / bound.combined_mb_s;
    let hash = gib_mb / bound.blake3_mb_s;
    let (tcp, unix, write, read) = (loopback?, unix?, disk.write_cpu?, disk.read_cpu?);
    Some(Floor {
        add: seal_and_hash + unix + hash + write,
        get: read + seal_and_hash,
        tcp_add: seal_and_hash + tcp + hash + write,
        tcp_get: read + tcp + seal_and_hash,
    })
}

/// One round through the node: the bound and the disk measured just before, add and get (MB/s,
/// CPU).
struct NodeRound {
    bound: f64,
    disk: f64,
    floor: Option<Floor>,
    add: (f64, Vec<Option<f64>>),
    get: (f64, Vec<Option<f64>>),
    /// The same over the TCP stream.
    tcp_add: (f64, Vec<Option<f64>>),
    tcp_get: (f64, Vec<Option<f64>>),
}

fn mb_s(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds.max(1e-9)
}

fn client(url: &str, signer: &PrivateKeySigner) -> anyhow::Result<Client<RpcLedger, HttpRemote>> {
    client_via(url, signer, false)
}

/// A client of the node at `url`, over its TCP stream if `tcp` (else the local stream, where
/// the node has one).
fn client_via(
    url: &str,
    signer: &PrivateKeySigner,
    tcp: bool,
) -> anyhow::Result<Client<RpcLedger, HttpRemote>> {
    let remote = HttpRemote::connect(url).map_err(|e| anyhow!("{e}"))?;
    let client = Client::new(
        RpcLedger::new(url),
        if tcp { remote.over_tcp() } else { remote },
        Identity::from_signer(signer.clone()),
    );
    client.ensure_key_registered().map_err(|e| anyhow!("{e}"))?;
    Ok(client)
}

pub(crate) fn run(args: BenchVaultArgs, json: bool) -> anyhow::Result<()> {
    if args.rounds == 0 {
        return Err(anyhow!("--rounds must be positive"));
    }
    let size = args.size_mib.max(1) * 1024 * 1024;
    let dir = tempfile::Builder::new()
        .prefix("lightstreams-bench-vault-")
        .tempdir()?;
    let say = |text: String| {
        if !json {
            eprintln!("{text}");
        }
    };

    // 1. The bound, on this core.
    let bound = measure_bound(256 * 1024 * 1024);
    say(format!(
        "bound: AES-256-GCM {:.0} MB/s, BLAKE3 {:.0} MB/s, both {:.0} MB/s (one core)",
        bound.aead_mb_s, bound.blake3_mb_s, bound.combined_mb_s
    ));

    // 1b. The disk: the same number of bytes written as 1 MiB files into a fresh directory
    // beside the stores (the page cache and file system costs every store below pays too).
    let disk = disk_rate(dir.path(), size)?;
    say(format!("disk: plain 1 MiB files {disk:.0} MB/s"));

    // 2. The library alone, into a chunk store on disk.
    let store = ChunkStore::open(&dir.path().join("local"))?;
    let key = ContentKey::random();
    let item = ItemId::random();
    let me = std::process::id();
    let clock = CpuClock::start(&[me]);
    let started = Instant::now();
    // Seal on this thread while another writes the previous chunks (as `vault add` overlaps
    // sealing with uploading); the sealer just computed each address, so it is not re-hashed.
    // Written chunks' buffers go back to the sealer.
    let spares = std::sync::Arc::new(lightstreams_vault::Spares::new());
    let mut enc = Encryptor::new(generated(size), &key, item, 0).with_spares(spares.clone());
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<lightstreams_vault::SealedChunk>(4);
        let writer = scope.spawn(|| -> anyhow::Result<()> {
            for chunk in rx {
                store.put_prehashed(&chunk.address, &chunk.bytes)?;
                spares.give(chunk.bytes);
            }
            Ok(())
        });
        for chunk in enc.by_ref() {
            if tx.send(chunk?).is_err() {
                break;
            }
        }
        drop(tx);
        writer
            .join()
            .map_err(|_| anyhow!("the chunk writer panicked"))?
    })?;
    let (_, blob) = enc.finish("bench.bin", "application/octet-stream", 0, None, 0)?;
    let local_add = started.elapsed().as_secs_f64();
    let local_add_cpu = clock.per_gib(size);
    let clock = CpuClock::start(&[me]);
    let started = Instant::now();
    let (manifest, opener) = open_manifest(&key, item, 0, &blob.bytes, Some(blob.address))?;
    // Two lanes read and hash the next chunks while this thread decrypts (as `vault get` does
    // with the node's chunks).
    let mut sink = Sink(0);
    read_ahead(
        &manifest,
        &opener,
        &store.lanes(),
        2,
        0,
        size - 1,
        &mut sink,
        |_| {},
    )?;
    let local_get = started.elapsed().as_secs_f64();
    let local_get_cpu = clock.per_gib(size);
    drop(store);
    std::fs::remove_dir_all(dir.path().join("local"))?;
    say(format!(
        "local: add {:.0} MB/s, get {:.0} MB/s",
        mb_s(size, local_add),
        mb_s(size, local_get)
    ));

    // 3. Through a node.
    let exe = std::env::current_exe()?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let child = spawn(
        &exe,
        &[
            "dev".into(),
            "--data-dir".into(),
            dir.path().join("dev").into_os_string(),
            "--rpc.addr".into(),
            format!("127.0.0.1:{port}").into(),
            "--block-interval-ms".into(),
            "200".into(),
            "--log".into(),
            "warn".into(),
        ],
        &dir.path().join("dev.log"),
    )?;
    let mut children = Children(vec![("dev".into(), child)]);
    wait_for_rpc(&url, &mut children, "dev")?;
    let node_pid = children.0[0].1.id();
    let accounts = dev_accounts(3);
    let alice = client(&url, &accounts[0])?;
    let probe = HttpRemote::connect(&url).map_err(|e| anyhow!("{e}"))?;
    if probe.local_stream().is_none() {
        say("the node has no local stream here: the local-stream rows go over TCP too".into());
    }
    let alice_tcp = client_via(&url, &accounts[0], true)?;
    let content = Content {
        name: "bench.bin".into(),
        media_type: "application/octet-stream".into(),
    };
    // Rounds of (bound, disk, add, get), back to back: each ratio is the median of the rounds' own,
    // so a slow spell of the machine lands on both sides of it. Each round's item is removed
    // from the node's disk after it is read back, so every add writes into released memory.
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let measured = measure_bound(256 * 1024 * 1024);
        let bound = measured.combined_mb_s;
        let costs = disk_costs(dir.path(), size)?;
        let disk = costs.write_mb_s;
        let floor = floor_of(&measured, &costs, loopback_cpu(size)?, unix_cpu(size)?);
        let pids = [me, node_pid];
        let add_one = |client: &Client<RpcLedger, HttpRemote>| -> anyhow::Result<_> {
            let clock = CpuClock::start(&pids);
            let started = Instant::now();
            let published = client
                .add(generated(size), &content, false, |_| {})
                .map_err(|e| anyhow!("{e}"))?;
            let rate = mb_s(size, started.elapsed().as_secs_f64());
            Ok((published.item, (rate, clock.per_gib(size))))
        };
        let get_one = |client: &Client<RpcLedger, HttpRemote>, item| -> anyhow::Result<_> {
            let clock = CpuClock::start(&pids);
            let started = Instant::now();
            let mut sink = Sink(0);
            client
                .get(item, None, None, &mut sink, |_| {})
                .map_err(|e| anyhow!("{e}"))?;
            let rate = mb_s(size, started.elapsed().as_secs_f64());
            if sink.0 != size {
                return Err(anyhow!("got {} bytes back, expected {size}", sink.0));
            }
            Ok((rate, clock.per_gib(size)))
        };
        let remove = |item: ItemId| {
            std::fs::remove_dir_all(dev_item_blobs(&dir.path().join("dev"), &item.0))
        };
        let (item, add) = add_one(&alice)?;
        let get = get_one(&alice, item)?;
        let tcp_get = get_one(&alice_tcp, item)?;
        remove(item)?;
        let (item, tcp_add) = add_one(&alice_tcp)?;
        remove(item)?;
        say(format!(
            "round {} of {}: bound {bound:.0} MB/s, node add {:.0} MB/s, get {:.0} MB/s (over TCP: add {:.0}, get {:.0})",
            round + 1,
            args.rounds,
            add.0,
            get.0,
            tcp_add.0,
            tcp_get.0,
        ));
        rounds.push(NodeRound {
            bound,
            disk,
            floor,
            add,
            get,
            tcp_add,
            tcp_get,
        });
    }
    let node_bound = Spread::of(rounds.iter().map(|r| r.bound));
    let node_add = Spread::of(rounds.iter().map(|r| r.add.0));
    let node_get = Spread::of(rounds.iter().map(|r| r.get.0));
    let add_ratio = Spread::of(rounds.iter().map(|r| r.add.0 / r.bound));
    // An add stores every byte, so it cannot outrun the store: where writing the bytes alone is
    // slower than the bound, disk / bound is the most any add can reach here.
    let node_disk = Spread::of(rounds.iter().map(|r| r.disk));
    let disk_ratio = Spread::of(rounds.iter().map(|r| r.disk / r.bound));
    let add_vs_disk = Spread::of(rounds.iter().map(|r| r.add.0 / r.disk));
    let get_ratio = Spread::of(rounds.iter().map(|r| r.get.0 / r.bound));
    let node_add_cpu = mean_cpu(rounds.iter().map(|r| &r.add.1));
    let node_get_cpu = mean_cpu(rounds.iter().map(|r| &r.get.1));
    let tcp_add = Spread::of(rounds.iter().map(|r| r.tcp_add.0));
    let tcp_get = Spread::of(rounds.iter().map(|r| r.tcp_get.0));
    let tcp_add_ratio = Spread::of(rounds.iter().map(|r| r.tcp_add.0 / r.bound));
    let tcp_get_ratio = Spread::of(rounds.iter().map(|r| r.tcp_get.0 / r.bound));
    let tcp_add_cpu = mean_cpu(rounds.iter().map(|r| &r.tcp_add.1));
    let tcp_get_cpu = mean_cpu(rounds.iter().map(|r| &r.tcp_get.1));
    // The most a phase could reach with the CPU it used (client and node together) spread
    // perfectly over every core of this machine, against each round's bound: a miss with this
    // near the rate is CPU per byte, not idle time.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let cpu_ceiling = |phase: fn(&NodeRound) -> &Vec<Option<f64>>| {
        Spread::of(rounds.iter().filter_map(|r| {
            let used: f64 = phase(r).iter().map(|c| c.unwrap_or(f64::NAN)).sum();
            let rate = (1u64 << 30) as f64 / 1e6 * cores / used;
            rate.is_finite().then_some(rate / r.bound)
        }))
    };
    let add_ceiling = cpu_ceiling(|r| &r.add.1);
    let get_ceiling = cpu_ceiling(|r| &r.get.1);
    // The most any add or get could reach here: its floor (see `Floor`) spread over every core.
    let floor_ceiling = |part: fn(&Floor) -> f64| {
        Spread::of(rounds.iter().filter_map(|r| {
            let rate = (1u64 << 30) as f64 / 1e6 * cores / part(r.floor.as_ref()?);
            rate.is_finite().then_some(rate / r.bound)
        }))
    };
    let add_floor = floor_ceiling(|f| f.add);
    let get_floor = floor_ceiling(|f| f.get);
    let tcp_add_floor = floor_ceiling(|f| f.tcp_add);
    let tcp_get_floor = floor_ceiling(|f| f.tcp_get);
    let floor_cpu = |part: fn(&Floor) -> f64| {
        let parts: Vec<f64> = rounds
            .iter()
            .filter_map(|r| r.floor.map(|f| part(&f)))
            .collect();
        (!parts.is_empty()).then(|| parts.iter().sum::<f64>() / parts.len() as f64)
    };

    // 4. Grant → the grantee's first decrypted byte (finality included).
    let mut latencies = Vec::new();
    for i in 0..args.grants {
        let reader_signer = &accounts[1 + i % 2];
        let reader = client(&url, reader_signer)?;
        let small = alice
            .add(generated(64 * 1024), &content, false, |_| {})
            .map_err(|e| anyhow!("{e}"))?;
        let started = Instant::now();
        alice
            .grant(small.item, reader_signer.address(), Level::READ, None)
            .map_err(|e| anyhow!("{e}"))?;
        let opened = reader.open(small.item, None).map_err(|e| anyhow!("{e}"))?;
        let mut first = Vec::new();
        reader
            .read_range(&opened, 0, 0, &mut first, |_| {})
            .map_err(|e| anyhow!("{e}"))?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let median = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO);
    let node_rss = peak_rss_mb(node_pid);
    let client_rss = peak_rss_mb(std::process::id());
    drop(children);

    let report = json!({
        "size_bytes": size,
        "bound": bound,
        "disk_write_mb_s": disk,
        "local": {"add_mb_s": mb_s(size, local_add), "get_mb_s": mb_s(size, local_get),
                  "add_vs_bound": mb_s(size, local_add) / bound.combined_mb_s,
                  "get_vs_bound": mb_s(size, local_get) / bound.combined_mb_s},
        "node": {"rounds": args.rounds,
                 "bound_mb_s": node_bound.median,
                 "add_mb_s": node_add.median, "get_mb_s": node_get.median,
                 "add_vs_bound": add_ratio.median, "get_vs_bound": get_ratio.median,
                 "add_vs_bound_range": [add_ratio.min, add_ratio.max],
                 "disk_mb_s": node_disk.median, "disk_vs_bound": disk_ratio.median,
                 "add_vs_disk": add_vs_disk.median,
                 "cores": cores,
                 "add_cpu_ceiling_vs_bound": add_ceiling.median,
                 "get_cpu_ceiling_vs_bound": get_ceiling.median,
                 "add_floor_ceiling_vs_bound": add_floor.median,
                 "get_floor_ceiling_vs_bound": get_floor.median,
                 "floor_cpu_s_per_gib": {"add": floor_cpu(|f| f.add), "get": floor_cpu(|f| f.get)},
                 "add_vs_disk_range": [add_vs_disk.min, add_vs_disk.max],
                 "get_vs_bound_range": [get_ratio.min, get_ratio.max],
                 "per_round_mb_s": rounds.iter().map(|r| json!({
                     "bound": r.bound, "disk": r.disk, "add": r.add.0, "get": r.get.0,
                     "tcp_add": r.tcp_add.0, "tcp_get": r.tcp_get.0,
                 })).collect::<Vec<_>>(),
                 "tcp": {"add_mb_s": tcp_add.median, "get_mb_s": tcp_get.median,
                         "add_vs_bound": tcp_add_ratio.median, "get_vs_bound": tcp_get_ratio.median,
                         "add_vs_bound_range": [tcp_add_ratio.min, tcp_add_ratio.max],
                         "get_vs_bound_range": [tcp_get_ratio.min, tcp_get_ratio.max],
                         "add_floor_ceiling_vs_bound": tcp_add_floor.median,
                         "get_floor_ceiling_vs_bound": tcp_get_floor.median,
                         "floor_cpu_s_per_gib": {"add": floor_cpu(|f| f.tcp_add), "get": floor_cpu(|f| f.tcp_get)},
                         "cpu_s_per_gib": {
                             "add": {"client": tcp_add_cpu[0], "node": tcp_add_cpu[1]},
                             "get": {"client": tcp_get_cpu[0], "node": tcp_get_cpu[1]},
                         }}},
        "grant_to_first_byte_ms": {
            "median": median.as_secs_f64() * 1e3,
            "samples": latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>(),
        },
        "peak_rss_mb": {"node": node_rss, "client": client_rss},
        "cpu_s_per_gib": {
            "local_add": local_add_cpu[0], "local_get": local_get_cpu[0],
            "node_add": {"client": node_add_cpu[0], "node": node_add_cpu[1]},
            "node_get": {"client": node_get_cpu[0], "node": node_get_cpu[1]},
        },
    });
    if json {
        println!("{report}");
    } else {
        let b = bound.combined_mb_s;
        println!("file: {} MiB", size / 1024 / 1024);
        println!(
            "{:<26} {:>10} {:>10} {:>16}",
            "", "MB/s", "vs bound", "CPU s/GiB (c/n)"
        );
        println!(
            "{:<26} {:>10.0} {:>10} {:>16.2}",
            "bound (AEAD+BLAKE3, 1 core)",
            b,
            "1.00",
            (1u64 << 30) as f64 / 1e6 / b
        );
        println!(
            "{:<26} {:>10.0} {:>10.2}",
            "disk (plain 1 MiB files)",
            disk,
            disk / b
        );
        for (name, secs, cpu) in [
            ("local add", local_add, &local_add_cpu),
            ("local get", local_get, &local_get_cpu),
        ] {
            let cpu: Vec<String> = cpu.iter().map(|&c| cpu_cell(c)).collect();
            println!(
                "{:<26} {:>10.0} {:>10.2} {:>16}",
                name,
                mb_s(size, secs),
                mb_s(size, secs) / b,
                cpu.join(" / ")
            );
        }
        println!(
            "node, {} rounds (MB/s: medians; vs bound: median of the rounds' ratios, min-max):",
            args.rounds
        );
        println!(
            "{:<26} {:>10.0} {:>10}",
            "  bound (each round's)", node_bound.median, "1.00"
        );
        println!(
            "{:<26} {:>10.0} {:>10}",
            "  disk (each round's)",
            node_disk.median,
            disk_ratio.to_string()
        );
        for (name, rate, ratio, cpu) in [
            (
                "  node add (local stream)",
                &node_add,
                &add_ratio,
                &node_add_cpu,
            ),
            (
                "  node get (local stream)",
                &node_get,
                &get_ratio,
                &node_get_cpu,
            ),
            (
                "  node add (TCP stream)",
                &tcp_add,
                &tcp_add_ratio,
                &tcp_add_cpu,
            ),
            (
                "  node get (TCP stream)",
                &tcp_get,
                &tcp_get_ratio,
                &tcp_get_cpu,
            ),
        ] {
            let cpu: Vec<String> = cpu.iter().map(|&c| cpu_cell(c)).collect();
            println!(
                "{:<26} {:>10.0} {:>10} {:>16}",
                name,
                rate.median,
                ratio.to_string(),
                cpu.join(" / ")
            );
        }
        println!(
            "node add vs the disk row: {add_vs_disk} (an add writes every byte to the store: it cannot pass disk / bound, {:.2} here)",
            disk_ratio.median
        );
        println!(
            "with the CPU they used spread perfectly over {cores} cores: add {add_ceiling}, get {get_ceiling} of the bound at most (local stream)"
        );
        if let (Some(add), Some(get)) = (floor_cpu(|f| f.add), floor_cpu(|f| f.get)) {
            println!(
                "the least any add / get through a node must spend here (each part measured alone): {add:.2} / {get:.2} CPU s/GiB, so on {cores} cores at most add {add_floor}, get {get_floor} of the bound"
            );
        }
        if let (Some(add), Some(get)) = (floor_cpu(|f| f.tcp_add), floor_cpu(|f| f.tcp_get)) {
            println!(
                "the same over loopback TCP (a client on another machine pays the transfer on its own cores): {add:.2} / {get:.2} CPU s/GiB, at most add {tcp_add_floor}, get {tcp_get_floor}"
            );
        }
        println!(
            "grant -> first byte: median {:.0} ms over {} samples",
            median.as_secs_f64() * 1e3,
            latencies.len()
        );
        println!(
            "peak RSS: node {}, client {}",
            node_rss.map_or("-".into(), |m| format!("{m:.0} MB")),
            client_rss.map_or("-".into(), |m| format!("{m:.0} MB"))
        );
    }
    Ok(())
}
