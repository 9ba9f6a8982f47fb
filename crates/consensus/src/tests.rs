//! End-to-end tests over the real tokio runtime and loopback TCP.

use std::{
    net::{SocketAddr, TcpListener},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use commonware_runtime::{Clock as _, Runner as _, Supervisor as _};
use lightstreams_primitives::{B256, Bytes, Header};

use crate::{
    Block, Config, Executor, Handle, PrivateKey, PublicKeyBytes,
    keys::{generate_private_key, public_key},
    runtime_config, start,
};

/// Toy executor: empty blocks numbered from genesis; records finalized blocks.
#[derive(Clone)]
struct Toy {
    genesis: Block,
    finalized: Arc<Mutex<Vec<(Block, bool)>>>,
    /// "Client" transactions to relay.
    submit: tokio::sync::broadcast::Sender<Bytes>,
    /// What other nodes relayed to this one.
    relayed: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Toy {
    fn new() -> Self {
        Self {
            genesis: Block::new(Header::default(), vec![]),
            finalized: Arc::default(),
            submit: tokio::sync::broadcast::channel(64).0,
            relayed: Arc::default(),
        }
    }

    fn got(&self, raw: &[u8]) -> bool {
        self.relayed.lock().expect("lock").iter().any(|r| r == raw)
    }

    fn blocks(&self) -> Vec<Block> {
        self.finalized
            .lock()
            .expect("lock")
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }

    fn linked(ancestry: &[Block], parent: &Block) -> bool {
        ancestry.last().is_none_or(|last| last == parent)
            && ancestry
                .windows(2)
                .all(|w| w[1].parent_hash() == w[0].hash() && w[1].number() == w[0].number() + 1)
    }
}

impl Executor for Toy {
    fn genesis(&self) -> Block {
        self.genesis.clone()
    }

    fn submitted(&self) -> Option<tokio::sync::broadcast::Receiver<Bytes>> {
        Some(self.submit.subscribe())
    }

    fn relayed(&self, raw: &[u8]) {
        self.relayed.lock().expect("lock").push(raw.to_vec());
    }

    fn last_finalized(&self) -> u64 {
        self.finalized
            .lock()
            .expect("lock")
            .last()
            .map_or(0, |(b, _)| b.number())
    }

    async fn build(
        &self,
        ancestry: Vec<Block>,
        parent: Block,
        timestamp_ms: u64,
        proposer: PublicKeyBytes,
    ) -> Option<Block> {
        assert!(
            Self::linked(&ancestry, &parent),
            "ancestry must end with the parent"
        );
        let header = Header {
            number: parent.number() + 1,
            parent_hash: parent.hash(),
            timestamp: timestamp_ms / 1000,
            extra_data: Bytes::copy_from_slice(&proposer),
            ..Default::default()
        };
        Some(Block::new(header, vec![]))
    }

    async fn verify(&self, ancestry: Vec<Block>, parent: Block, block: Block) -> bool {
        Self::linked(&ancestry, &parent)
            && block.parent_hash() == parent.hash()
            && block.number() == parent.number() + 1
            && block.header().extra_data.len() == 32
    }

    async fn finalized(&self, block: Block, certificate: Option<Vec<u8>>) {
        let mut finalized = self.finalized.lock().expect("lock");
        let last = finalized.last().map_or(0, |(b, _)| b.number());
        if block.number() <= last {
            return; // Redelivery.
        }
        assert_eq!(block.number(), last + 1, "finalized out of order");
        let parent = finalized
            .last()
            .map_or(self.genesis.hash(), |(b, _)| b.hash());
        assert_eq!(block.parent_hash(), parent, "finalized chain must link");
        finalized.push((block, certificate.is_some()));
    }
}

fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

fn test_config(
    signer: &PrivateKey,
    validators: &[PrivateKey],
    listen: SocketAddr,
    peers: Vec<(crate::PublicKey, SocketAddr)>,
    prefix: &str,
) -> Config {
    let mut config = Config::new(
        signer.clone(),
        validators.iter().map(public_key).collect(),
        listen,
    );
    config.peers = peers;
    config.partition_prefix = prefix.into();
    config.allow_private_ips = true;
    config.leader_timeout = Duration::from_millis(500);
    config.notarization_timeout = Duration::from_millis(1000);
    config.nullify_retry = Duration::from_millis(500);
    config.skip_inactive_leader_after = Some(Duration::from_millis(1500));
    config.fetch_timeout = Duration::from_millis(500);
    config
}

/// Wait (polling the runtime clock) until `cond` holds, or panic after `limit`.
async fn wait_for(context: &crate::Context, limit: Duration, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        context.sleep(Duration::from_millis(50)).await;
    }
}

fn assert_contiguous(blocks: &[Block], genesis: &Block) {
    let mut parent = genesis.hash();
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(block.number(), i as u64 + 1);
        assert_eq!(block.parent_hash(), parent);
        parent = block.hash();
    }
}

fn hashes(blocks: &[Block], upto: usize) -> Vec<B256> {
    blocks.iter().take(upto).map(Block::hash).collect()
}

#[test]
fn single_validator_finalizes_over_tcp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = crate::Runner::new(runtime_config(dir.path(), 2));
    runner.start(|context| async move {
        let key = generate_private_key();
        let toy = Toy::new();
        let config = test_config(
            &key,
            std::slice::from_ref(&key),
            free_addr(),
            vec![],
            "solo",
        );
        let handle: Handle = start(context.child("node"), config, toy.clone())
            .await
            .expect("start");
        assert!(handle.is_validator());
        wait_for(
            &context,
            Duration::from_secs(20),
            "5 finalized blocks",
            || toy.blocks().len() >= 5,
        )
        .await;
        let blocks = toy.blocks();
        assert_contiguous(&blocks, &toy.genesis);
        assert!(handle.finalized_height() >= 5);
        // With a single validator every block carries its own finalization.
        assert!(
            toy.finalized
                .lock()
                .expect("lock")
                .iter()
                .all(|(_, cert)| *cert)
        );
        handle.stop();
    });
}

#[test]
fn validator_restarts_from_its_storage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = crate::Runner::new(runtime_config(dir.path(), 2));
    runner.start(|context| async move {
        let key = generate_private_key();
        let first = Toy::new();
        let config = test_config(
            &key,
            std::slice::from_ref(&key),
            free_addr(),
            vec![],
            "node",
        );
        let handle = start(context.child("first"), config.clone(), first.clone())
            .await
            .expect("start");
        wait_for(&context, Duration::from_secs(20), "3 blocks", || {
            first.blocks().len() >= 3
        })
        .await;
        let stopper = handle.stopper();
        stopper.stop();
        handle.wait().await.expect("stopped on request");
        context.sleep(Duration::from_millis(300)).await;
        let old = first.blocks();

        // Restart on the same storage with an executor that lost its state: marshal replays the
        // finalized chain from its archive, then consensus continues on top of it.
        let second = Toy::new();
        let mut config = config;
        config.listen = free_addr();
        let handle = start(context.child("second"), config, second.clone())
            .await
            .expect("restart");
        let target = old.len() + 3;
        wait_for(
            &context,
            Duration::from_secs(20),
            "progress after restart",
            || second.blocks().len() >= target,
        )
        .await;
        let new = second.blocks();
        assert_contiguous(&new, &second.genesis);
        assert_eq!(hashes(&new, old.len()), hashes(&old, old.len()));
        // The first instance is really gone.
        assert_eq!(first.blocks().len(), old.len());
        handle.stop();
    });
}

struct Net {
    keys: Vec<PrivateKey>,
    addrs: Vec<SocketAddr>,
    toys: Vec<Toy>,
    handles: Vec<Option<Handle>>,
}

/// Start `n` validators (plus knowledge of `full_nodes` as secondary peers) in one runtime.
async fn start_validators(
    context: &crate::Context,
    n: usize,
    full_nodes: &[(crate::PublicKey, SocketAddr)],
) -> Net {
    let keys: Vec<PrivateKey> = (0..n).map(|_| generate_private_key()).collect();
    let addrs: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect();
    let mut peers: Vec<_> = keys
        .iter()
        .zip(&addrs)
        .map(|(k, a)| (public_key(k), *a))
        .collect();
    peers.extend(full_nodes.iter().cloned());
    let mut toys = Vec::new();
    let mut handles = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let toy = Toy::new();
        let config = test_config(
            key,
            &keys,
            addrs[i],
            peers.clone(),
            &format!("validator{i}"),
        );
        let handle = start(context.child("validator"), config, toy.clone())
            .await
            .expect("start validator");
        assert!(handle.is_validator());
        toys.push(toy);
        handles.push(Some(handle));
    }
    Net {
        keys,
        addrs,
        toys,
        handles,
    }
}

/// All toys agree on every height they have all finalized; returns that common height.
fn assert_agree(toys: &[&Toy]) -> usize {
    let chains: Vec<Vec<Block>> = toys.iter().map(|t| t.blocks()).collect();
    let common = chains.iter().map(Vec::len).min().unwrap_or(0);
    for chain in &chains {
        assert_contiguous(chain, &toys[0].genesis);
        assert_eq!(hashes(chain, common), hashes(&chains[0], common));
    }
    common
}

#[test]
fn four_validators_agree_and_survive_one_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = crate::Runner::new(runtime_config(dir.path(), 2));
    runner.start(|context| async move {
        let mut net = start_validators(&context, 4, &[]).await;
        let toys = net.toys.clone();
        wait_for(
            &context,
            Duration::from_secs(30),
            "4 validators at height 5",
            || toys.iter().all(|t| t.blocks().len() >= 5),
        )
        .await;
        assert!(assert_agree(&toys.iter().collect::<Vec<_>>()) >= 5);

        // Stop one validator: the other three (a 2f+1 quorum) keep finalizing.
        net.handles[3].take().expect("running").stop();
        context.sleep(Duration::from_millis(200)).await;
        let stopped_at = toys[3].blocks().len();
        let alive: Vec<&Toy> = toys[..3].iter().collect();
        let target = alive.iter().map(|t| t.blocks().len()).max().unwrap_or(0) + 8;
        wait_for(
            &context,
            Duration::from_secs(40),
            "progress with one down",
            || alive.iter().all(|t| t.blocks().len() >= target),
        )
        .await;
        assert!(assert_agree(&alive) >= target);
        // The stopped validator really stopped, and its prefix agrees with the survivors.
        assert_eq!(toys[3].blocks().len(), stopped_at);
        assert_agree(&toys.iter().collect::<Vec<_>>());
        for handle in net.handles.iter_mut().filter_map(Option::take) {
            handle.stop();
        }
    });
}

#[test]
fn full_node_backfills_from_genesis_and_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = crate::Runner::new(runtime_config(dir.path(), 2));
    runner.start(|context| async move {
        let full_key = generate_private_key();
        let full_addr = free_addr();
        let mut net = start_validators(&context, 4, &[(public_key(&full_key), full_addr)]).await;
        let toys = net.toys.clone();
        wait_for(
            &context,
            Duration::from_secs(30),
            "validators at height 8",
            || toys.iter().all(|t| t.blocks().len() >= 8),
        )
        .await;

        // A full node joins late, knowing only the validators.
        let validator_peers: Vec<_> = net
            .keys
            .iter()
            .zip(&net.addrs)
            .map(|(k, a)| (public_key(k), *a))
            .collect();
        let full = Toy::new();
        let config = test_config(&full_key, &net.keys, full_addr, validator_peers, "full");
        let handle = start(context.child("full"), config, full.clone())
            .await
            .expect("start full node");
        assert!(!handle.is_validator());
        let target = toys.iter().map(|t| t.blocks().len()).max().unwrap_or(0) + 5;
        wait_for(
            &context,
            Duration::from_secs(40),
            "full node to sync and follow",
            || full.blocks().len() >= target,
        )
        .await;
        let mut all: Vec<&Toy> = toys.iter().collect();
        all.push(&full);
        assert!(assert_agree(&all) >= 8);
        // Every finalized block the full node stores came with a verified certificate or was
        // implied by one; most carry their own.
        assert!(
            full.finalized
                .lock()
                .expect("lock")
                .iter()
                .any(|(_, cert)| *cert)
        );
        handle.stop();
        for handle in net.handles.iter_mut().filter_map(Option::take) {
            handle.stop();
        }
    });
}

#[test]
fn clients_transactions_are_relayed_to_every_other_validator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = crate::Runner::new(runtime_config(dir.path(), 2));
    runner.start(|context| async move {
        let mut net = start_validators(&context, 4, &[]).await;
        let toys = net.toys.clone();
        // A client submits to validator 1. Relaying is best effort (a peer not yet connected
        // misses it), so the "client" resubmits until every other validator has it.
        let raw = b"a transaction".to_vec();
        let deadline = Instant::now() + Duration::from_secs(30);
        while ![0, 2, 3].iter().all(|&i| toys[i].got(&raw)) {
            assert!(
                Instant::now() < deadline,
                "the transaction was not relayed to every validator"
            );
            let _ = toys[1].submit.send(Bytes::from(raw.clone()));
            context.sleep(Duration::from_millis(200)).await;
        }
        // Relayed once, never echoed back to its sender.
        assert!(
            !toys[1].got(&raw),
            "a node relayed its own transaction to itself"
        );
        for handle in net.handles.iter_mut().filter_map(Option::take) {
            handle.stop();
        }
    });
}
