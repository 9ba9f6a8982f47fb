//! `dev --data-dir D` survives `kill -9` at random moments: every transaction the node
//! reported finalized keeps its receipt in the same block (same hash) after a restart, balances
//! and nonces match the finalized transactions, and the chain keeps finalizing.

mod util;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use rand::Rng;
use serde_json::{Value, json};
use util::*;

const ROUNDS: usize = 4;

/// Where a finalized transaction landed.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Landed {
    block_number: u64,
    block_hash: String,
}

fn landed(receipt: &Value) -> Landed {
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    Landed {
        block_number: quantity(&receipt["blockNumber"]).expect("blockNumber"),
        block_hash: receipt["blockHash"]
            .as_str()
            .expect("blockHash")
            .to_string(),
    }
}

/// Every finalized transaction still has its receipt in the same block, that block is still
/// at that height, and the recipient's balance and the sender's nonce at the head match the
/// finalized transactions exactly.
fn check_history(
    node: &Node,
    finalized: &BTreeMap<B256, Landed>,
    submitted: &[(B256, U256)],
    sender: Address,
    recipient: Address,
    start_balance: U256,
) {
    for (hash, want) in finalized {
        let receipt = node
            .rpc
            .receipt(*hash)
            .unwrap_or_else(|e| panic!("receipt of {hash}: {e}"))
            .unwrap_or_else(|| {
                panic!(
                    "finalized {hash} (block {}) lost its receipt",
                    want.block_number
                )
            });
        assert_eq!(&landed(&receipt), want, "{hash} moved");
        let block = node.rpc.ok(
            "eth_getBlockByNumber",
            json!([format!("0x{:x}", want.block_number), false]),
        );
        assert_eq!(
            block["hash"].as_str(),
            Some(want.block_hash.as_str()),
            "block {} changed",
            want.block_number
        );
    }
    // Balance and nonce at a fixed height against the transactions included up to it.
    let head = node.head();
    let at = format!("0x{head:x}");
    let mut included = 0u64;
    let mut received = U256::ZERO;
    for (hash, value) in submitted {
        if let Some(r) = node.rpc.receipt(*hash).expect("receipt")
            && landed(&r).block_number <= head
        {
            included += 1;
            received += *value;
        }
    }
    assert!(included as usize >= finalized.len());
    assert_eq!(
        node.rpc.balance(recipient, &at),
        start_balance + received,
        "recipient balance at {head}"
    );
    assert_eq!(
        node.rpc.nonce(sender, &at),
        included,
        "sender nonce at {head}"
    );
}

#[test]
fn kill_9_never_loses_finalized_transactions() {
    let started = Instant::now();
    let dir = tempdir("crash");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");
    let mut node = Node::dev(
        dir.path(),
        "dev",
        &["--data-dir", data_arg, "--block-interval-ms", "200"],
    );
    node.wait_ready(Duration::from_secs(30));

    let sender = dev_accounts(3).remove(2);
    let recipient = random_address();
    let start_balance = node.rpc.balance(recipient, "latest");
    let mut finalized: BTreeMap<B256, Landed> = BTreeMap::new();
    let mut submitted: Vec<(B256, U256)> = Vec::new();
    let mut rng = rand::thread_rng();
    let mut value = 1u64;

    for round in 0..ROUNDS {
        // A killer thread SIGKILLs the node at a random moment while this thread bursts.
        let pid = node.pid().expect("running") as i32;
        let delay = Duration::from_millis(rng.gen_range(300..2500));
        let fired = Arc::new(AtomicBool::new(false));
        let killer = {
            let fired = fired.clone();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                // Flag first: the main thread treats transport errors as the kill only once
                // this is set.
                fired.store(true, Ordering::SeqCst);
                // SAFETY: kill(2) on our unreaped child: no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            })
        };
        let mut nonce = node.rpc.nonce(sender.address(), "pending");
        let mut pending: Vec<B256> = Vec::new();
        let mut sent = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        'burst: loop {
            assert!(
                Instant::now() < deadline,
                "round {round}: node still alive after 20 s"
            );
            // Bursts of 1..8 transfers, then one look at receipts.
            for _ in 0..rng.gen_range(1..8) {
                let tx = transfer(&sender, nonce, recipient, value, CHAIN_ID);
                match node.rpc.send_raw(&tx.raw) {
                    Ok(hash) => {
                        assert_eq!(hash, tx.hash);
                        submitted.push((hash, tx.value));
                        pending.push(hash);
                        nonce += 1;
                        value += 1;
                        sent += 1;
                    }
                    Err(e) if e.is_transport() && fired.load(Ordering::SeqCst) => break 'burst,
                    Err(e) => panic!("round {round}: eth_sendRawTransaction: {e}"),
                }
            }
            let mut still = Vec::new();
            let mut dead = false;
            for hash in std::mem::take(&mut pending) {
                if dead {
                    still.push(hash);
                    continue;
                }
                match node.rpc.receipt(hash) {
                    Ok(Some(r)) => {
                        finalized.insert(hash, landed(&r));
                    }
                    Ok(None) => still.push(hash),
                    Err(e) if e.is_transport() && fired.load(Ordering::SeqCst) => {
                        still.push(hash);
                        dead = true;
                    }
                    Err(e) => panic!("round {round}: receipt: {e}"),
                }
            }
            pending = still;
            if dead {
                break 'burst;
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        }
        killer.join().expect("killer");
        let status = node.reap().expect("reaped");
        assert!(
            !status.success(),
            "round {round}: node exited with {status}"
        );
        eprintln!(
            "[{:?}] round {round}: killed after {delay:?}; {sent} sent, {} unconfirmed, {} finalized so far",
            started.elapsed(),
            pending.len(),
            finalized.len()
        );

        node.start();
        node.wait_ready(Duration::from_secs(30));
        check_history(
            &node,
            &finalized,
            &submitted,
            sender.address(),
            recipient,
            start_balance,
        );

        // The chain keeps finalizing after the restart. First let it finish what it recovered:
        // a block notarized before the kill (holding some of the "unconfirmed" transfers) is
        // finalized after the restart, and a nonce read before that would be taken by it.
        let head = node.head();
        wait_until(
            &format!("round {round}: two blocks past the restart"),
            Duration::from_secs(20),
            Duration::from_millis(50),
            || (node.rpc.head().ok()? >= head + 2).then_some(()),
        );
        let nonce = node.rpc.nonce(sender.address(), "pending");
        let tx = transfer(&sender, nonce, recipient, value, CHAIN_ID);
        value += 1;
        node.rpc
            .send_raw(&tx.raw)
            .unwrap_or_else(|e| panic!("after restart: {e}"));
        submitted.push((tx.hash, tx.value));
        let receipt = wait_receipts(&node.rpc, &[tx.hash], Duration::from_secs(20)).remove(0);
        finalized.insert(tx.hash, landed(&receipt));
    }
    assert!(
        finalized.len() > ROUNDS,
        "only the post-restart transfers were ever finalized before a kill"
    );
    // One last clean restart (SIGTERM) and a final check.
    node.stop().expect("stopped");
    node.start();
    node.wait_ready(Duration::from_secs(30));
    check_history(
        &node,
        &finalized,
        &submitted,
        sender.address(),
        recipient,
        start_balance,
    );
    eprintln!(
        "[{:?}] {} submitted, {} finalized, all intact",
        started.elapsed(),
        submitted.len(),
        finalized.len()
    );
}
