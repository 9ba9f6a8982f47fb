//! A 4-validator network plus a late full node, from `lightstreams init`: transfers finalize
//! on every node, 3 of 4 validators keep finalizing, a killed validator catches up after a
//! restart, a full node syncs from genesis, and every node agrees on every block.

mod util;

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use serde_json::json;
use util::*;

const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Send `per_sender` transfers from each of `senders` (sender i to endpoint i % nodes) to the
/// recipients, round-robin; returns the hashes and adds the values to `expected`.
fn send_round(
    senders: &[alloy::signers::local::PrivateKeySigner],
    nodes: &[&Node],
    recipients: &[Address],
    per_sender: u64,
    expected: &mut [U256],
) -> Vec<B256> {
    let mut hashes = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let node = nodes[i % nodes.len()];
        let nonce = node.rpc.nonce(sender.address(), "pending");
        for k in 0..per_sender {
            let r = (i + k as usize) % recipients.len();
            let value = 1_000 + (i as u64) * 10 + k;
            let tx = transfer(sender, nonce + k, recipients[r], value, CHAIN_ID);
            let hash = node
                .rpc
                .send_raw(&tx.raw)
                .unwrap_or_else(|e| panic!("{} refused {}: {e}", node.name, tx.hash));
            assert_eq!(hash, tx.hash);
            expected[r] += U256::from(value);
            hashes.push(hash);
        }
    }
    hashes
}

/// Every node in `nodes` has a successful receipt for every hash, in the same block.
fn assert_everywhere(nodes: &[&Node], hashes: &[B256]) {
    let reference = wait_receipts(&nodes[0].rpc, hashes, RECEIPT_TIMEOUT);
    for node in &nodes[1..] {
        let receipts = wait_receipts(&node.rpc, hashes, RECEIPT_TIMEOUT);
        for (a, b) in reference.iter().zip(&receipts) {
            assert_eq!(
                a["blockHash"], b["blockHash"],
                "{} vs {}",
                nodes[0].name, node.name
            );
            assert_eq!(a["blockNumber"], b["blockNumber"]);
        }
    }
}

#[test]
fn four_validators_crash_restart_and_late_full_node() {
    let started = Instant::now();
    let dir = tempdir("testnet");
    let layout = init(&dir.path().join("net"), 4, 1);
    for entry in &layout {
        set_timing(&entry.config, FAST_TIMING);
    }
    let entry = |name: &str| {
        layout
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("init wrote no {name}"))
            .clone()
    };
    let mut validators: Vec<Node> = (0..4)
        .map(|i| {
            let e = entry(&format!("validator-{i}"));
            assert!(e.validator);
            Node::from_config(&e.name, &e.config, &e.rpc)
        })
        .collect();
    for v in &mut validators {
        v.wait_ready(Duration::from_secs(30));
    }
    let senders = dev_accounts(5)[1..].to_vec();
    let recipients: Vec<Address> = (0..4).map(|_| random_address()).collect();
    let mut expected = vec![U256::ZERO; recipients.len()];
    let mut all_hashes = Vec::new();

    // 1. Transfers to all four endpoints finalize on every validator.
    let refs: Vec<&Node> = validators.iter().collect();
    let hashes = send_round(&senders, &refs, &recipients, 3, &mut expected);
    assert_everywhere(&refs, &hashes);
    all_hashes.extend(hashes);
    eprintln!(
        "[{:?}] phase 1: 12 transfers final on 4 validators",
        started.elapsed()
    );

    // 2. SIGKILL validator-3; the other three keep finalizing.
    let status = validators[3].kill9().expect("validator-3 was running");
    assert!(!status.success());
    let live: Vec<&Node> = validators[..3].iter().collect();
    let head_at_kill = live[0].head();
    let hashes = send_round(&senders, &live, &recipients, 2, &mut expected);
    assert_everywhere(&live, &hashes);
    all_hashes.extend(hashes);
    // Let the chain move well past validator-3 so the restart has to catch up.
    wait_until(
        "3 validators to finalize 15 blocks past the kill",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || (live[0].rpc.head().ok()? >= head_at_kill + 15).then_some(()),
    );
    eprintln!(
        "[{:?}] phase 2: 8 transfers final with 3 of 4 validators",
        started.elapsed()
    );

    // 3. Restart validator-3 with the same config: it catches up to the others' head.
    validators[3].start();
    validators[3].wait_ready(Duration::from_secs(30));
    let target = validators[0].head();
    let restarted_at = validators[3].head();
    wait_until(
        &format!("validator-3 to reach height {target}"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || (validators[3].rpc.head().ok()? >= target).then_some(()),
    );
    let refs: Vec<&Node> = validators.iter().collect();
    assert_everywhere(&refs, &all_hashes);
    eprintln!(
        "[{:?}] phase 3: validator-3 caught up from {restarted_at} to {target}",
        started.elapsed()
    );

    // 4. Start the full node late: it syncs from genesis and follows new blocks.
    let full = entry("full-0");
    assert!(!full.validator);
    let mut full = Node::from_config(&full.name, &full.config, &full.rpc);
    full.wait_ready(Duration::from_secs(30));
    let target = validators[0].head();
    wait_until(
        &format!("full-0 to reach height {target}"),
        Duration::from_secs(30),
        Duration::from_millis(200),
        || (full.rpc.head().ok()? >= target).then_some(()),
    );
    let mut refs: Vec<&Node> = validators.iter().collect();
    refs.push(&full);
    let hashes = send_round(&senders, &refs[..4], &recipients, 1, &mut expected);
    all_hashes.extend(hashes);
    assert_everywhere(&refs, &all_hashes);
    eprintln!(
        "[{:?}] phase 4: full-0 synced and follows",
        started.elapsed()
    );

    // 5. Safety: identical blocks and state roots at every height on every node, and the same
    //    balances at a common height.
    let common = refs.iter().map(|n| n.head()).min().expect("nodes");
    let reference = refs[0].rpc.block_hashes(0, common);
    for node in &refs[1..] {
        let blocks = node.rpc.block_hashes(0, common);
        for (h, (a, b)) in reference.iter().zip(&blocks).enumerate() {
            assert_eq!(
                a, b,
                "block {h}: {} and {} disagree",
                refs[0].name, node.name
            );
        }
    }
    let at = format!("0x{common:x}");
    for node in &refs {
        for (r, want) in recipients.iter().zip(&expected) {
            assert_eq!(
                node.rpc.balance(*r, &at),
                *want,
                "{} balance of {r}",
                node.name
            );
        }
        assert_eq!(
            node.rpc.ok("eth_chainId", json!([])),
            json!(format!("0x{CHAIN_ID:x}"))
        );
    }
    eprintln!(
        "[{:?}] {} transfers; blocks 0..={common} identical on 5 nodes",
        started.elapsed(),
        all_hashes.len()
    );
}

/// Whether a process with this pid exists (and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// `lightstreams testnet` runs every node; one of them stopping (here: killed) is reported with
/// the command that restarts it while the others keep finalizing; restarted by hand it catches
/// up; Ctrl-C (SIGTERM) stops the rest and leaves no process behind.
#[test]
fn the_testnet_command_outlives_one_node_and_stops_the_rest_on_ctrl_c() {
    use std::process::{Command, Stdio};

    let dir = tempdir("testnet-cmd");
    let net = dir.path().join("net");
    // Written first with fast timing; `testnet` runs an existing directory as it is.
    let layout = init_fast(&net, 4, 0);
    let stderr_path = dir.path().join("testnet.stderr");
    let mut testnet = Command::new(exe())
        .args(["testnet", "--dir"])
        .arg(&net)
        .env("RUST_LOG", LOG)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn lightstreams testnet");
    // Its stdout, line by line, until it closes.
    let stdout = testnet.stdout.take().expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            let _ = lines_tx.send(line);
        }
    });
    // Up once it says so (it has started every node and announced them in the registry).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("all 4 nodes are up") => break,
            Ok(_) => {}
            Err(e) => panic!(
                "testnet never said it was up ({e}): {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ),
        }
    }
    let rpc = |i: usize| Rpc::new(&format!("http://{}", layout[i].rpc));
    // The testnet's children, by the config they run.
    let children: Vec<(u32, String)> =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", testnet.id()))
            .expect("children of the testnet")
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                (pid, String::from_utf8_lossy(&cmdline).replace('\0', " "))
            })
            .collect();
    assert_eq!(children.len(), 4, "{children:?}");
    let victim = children
        .iter()
        .find(|(_, cmd)| cmd.contains("validator-0"))
        .map(|(pid, _)| *pid)
        .expect("validator-0 among the children");
    // SAFETY: kill(2) on a pid this test just read as the testnet's child.
    unsafe {
        libc::kill(victim as i32, libc::SIGKILL);
    }
    let report = wait_until(
        "the testnet to report the stopped node",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            text.contains("validator-0 exited").then_some(text)
        },
    );
    assert!(report.contains("3 of 4 nodes keep running"), "{report}");
    assert!(
        report.contains("restart it with: lightstreams node --config"),
        "{report}"
    );
    assert!(
        testnet.try_wait().expect("try_wait").is_none(),
        "the testnet stopped with one node down: {report}"
    );
    // The other three keep finalizing, and a transfer sent to one of them lands.
    let before = rpc(1).head().expect("head");
    wait_until(
        "the three running validators to keep finalizing",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || (rpc(1).head().ok()? >= before + 3).then_some(()),
    );
    let alice = &dev_accounts(1)[0];
    let tx = transfer(
        alice,
        rpc(2).nonce(alice.address(), "pending"),
        random_address(),
        777,
        CHAIN_ID,
    );
    rpc(2).send_raw(&tx.raw).expect("send");
    wait_receipts(&rpc(1), &[tx.hash], Duration::from_secs(30));
    // Restarted by hand, the node catches up with the rest.
    let mut restarted = Node::from_config(&layout[0].name, &layout[0].config, &layout[0].rpc);
    restarted.wait_ready(Duration::from_secs(60));
    let target = rpc(1).head().expect("head");
    wait_until(
        "the restarted validator to catch up",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || (restarted.rpc.head().ok()? >= target).then_some(()),
    );
    // Ctrl-C stops the testnet's nodes and leaves none behind.
    // SAFETY: kill(2) on the child this test spawned.
    unsafe {
        libc::kill(testnet.id() as i32, libc::SIGTERM);
    }
    let status = wait_until(
        "the testnet to stop",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || testnet.try_wait().expect("try_wait"),
    );
    assert!(status.success(), "testnet exited with {status}");
    for (pid, cmd) in &children {
        assert!(!alive(*pid), "{cmd} ({pid}) still runs after Ctrl-C");
    }
    let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(text.contains("stopping 3 nodes"), "{text}");
    // Node logs are files: plain text, no terminal color codes.
    let log = std::fs::read_to_string(layout[1].config.with_file_name("node.log")).expect("log");
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\x1b'), "color codes in a log file");
    reader.join().expect("stdout reader");
}

/// `lightstreams init` for a network others rely on: no dev account (their keys are public) is
/// funded or in charge; the genesis funds the accounts named with `--fund`, the registry admin
/// named with `--registry-admin` approves vault operators, and fees go to `--fee-recipient`.
#[test]
fn init_without_the_public_dev_keys() {
    let dir = tempdir("init-own-keys");
    let alice = alloy::signers::local::PrivateKeySigner::random();
    let admin = alloy::signers::local::PrivateKeySigner::random();
    let fees = random_address();
    let init = |net: &str, extra: &[String]| {
        std::process::Command::new(exe())
            .args([
                "init",
                "--json",
                "--validators",
                "1",
                "--accounts",
                "0",
                "--dir",
            ])
            .arg(dir.path().join(net))
            .args(extra)
            .env_remove("RUST_LOG")
            .output()
            .expect("run lightstreams init")
    };
    // Refusals name the flag, and leave nothing behind.
    failed_with(&init("refused", &[]), "--registry-admin ADDR");
    failed_with(
        &init(
            "refused",
            &[
                "--fund".into(),
                "0x1234=5pht".into(),
                "--registry-admin".into(),
                format!("{:#x}", admin.address()),
            ],
        ),
        "is not an address",
    );
    failed_with(
        &init(
            "refused",
            &[
                "--fund".into(),
                format!("{:#x}", alice.address()),
                "--registry-admin".into(),
                format!("{:#x}", admin.address()),
            ],
        ),
        "expected ADDR=AMOUNT",
    );
    assert!(
        !dir.path().join("refused").exists(),
        "a refused init wrote files"
    );

    let layout = ok_json(&init(
        "net",
        &[
            "--fund".into(),
            format!("{:#x}=5pht", alice.address()),
            "--fund".into(),
            format!("{:#x}=1.5pht", admin.address()),
            "--registry-admin".into(),
            format!("{:#x}", admin.address()),
            "--fee-recipient".into(),
            format!("{:#x}", fees),
        ],
    ));
    let entry = &layout["nodes"][0];
    let config = std::path::PathBuf::from(entry["config"].as_str().expect("config"));
    set_timing(&config, FAST_TIMING);
    let mut node = Node::from_config("validator-0", &config, entry["rpc"].as_str().expect("rpc"));
    node.wait_ready(Duration::from_secs(60));

    let pht = U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(
        node.rpc.balance(alice.address(), "latest"),
        U256::from(5u64) * pht
    );
    assert_eq!(
        node.rpc.balance(admin.address(), "latest"),
        pht * U256::from(15u64) / U256::from(10u64)
    );
    let dev = dev_accounts(1);
    assert_eq!(node.rpc.balance(dev[0].address(), "latest"), U256::ZERO);

    // Alice pays Bob; the block's fees reach the named recipient.
    let bob = random_address();
    let tx = transfer(&alice, 0, bob, 1_000, CHAIN_ID);
    node.rpc.send_raw(&tx.raw).expect("send");
    wait_receipts(&node.rpc, &[tx.hash], RECEIPT_TIMEOUT);
    assert_eq!(node.rpc.balance(bob, "latest"), U256::from(1_000u64));
    assert!(
        node.rpc.balance(fees, "latest") > U256::ZERO,
        "no fees reached the recipient"
    );

    // Dev account 0 is nobody here; the named admin approves vault operators.
    let rpc = format!("http://{}", entry["rpc"].as_str().expect("rpc"));
    let operator = format!("{:#x}", random_address());
    failed_with(
        &cli("vault", &rpc, Some(&dev[0]), &["approve", &operator]),
        "only the node registry's admin",
    );
    let approved = ok_json(&cli("vault", &rpc, Some(&admin), &["approve", &operator]));
    assert_eq!(approved["approved"], true, "{approved}");
}
