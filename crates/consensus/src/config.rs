//! Consensus configuration and its defaults.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::keys::{PrivateKey, PublicKey};

/// Default namespace: domain-separates signatures and p2p handshakes of this chain.
pub const DEFAULT_NAMESPACE: &[u8] = b"_LIGHTSTREAMS_CONSENSUS";

/// Configuration of one consensus node (validator or full node).
///
/// A node is a validator iff its key is in [`Config::validators`]; otherwise it is a full node
/// that follows (and backfills) the finalized chain without voting.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our identity key (p2p identity and, for validators, the vote-signing key).
    pub signer: PrivateKey,
    /// The validator set (from genesis). Order does not matter; must be identical on all nodes.
    pub validators: Vec<PublicKey>,
    /// Address to listen on for p2p connections.
    pub listen: SocketAddr,
    /// Known peers with their dialable addresses: validators and full nodes.
    ///
    /// Validators in this list are dialed (primary peers). Non-validators in this list are
    /// *secondary* peers: we accept their inbound connections (from the IP of the given address
    /// unless [`Config::bypass_ip_check`]) and gossip to them, but never dial them. Hence a
    /// validator must list every full node allowed to connect to it, and a full node must list
    /// (some of) the validators. Our own entry, if present, is ignored.
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// Prefix of every storage partition (simplex journal, marshal archives); lets several nodes
    /// share one runtime storage directory.
    pub partition_prefix: String,
    /// Signature and handshake namespace (default [`DEFAULT_NAMESPACE`]).
    pub namespace: Vec<u8>,
    /// Dev/test network profile: allow private/loopback IPs and use short dial/handshake
    /// cooldowns (commonware's `local` p2p profile). `false` uses the `recommended` profile.
    pub allow_private_ips: bool,
    /// Accept inbound connections from known keys regardless of their source IP (for full nodes
    /// behind NAT whose egress IP is unknown).
    pub bypass_ip_check: bool,
    /// How long to wait for the leader's proposal before voting to skip the view. The executor's
    /// `build` must return well within this.
    pub leader_timeout: Duration,
    /// How long to wait for a view to be notarized and certified before voting to skip it
    /// (must exceed `leader_timeout`).
    pub notarization_timeout: Duration,
    /// Interval at which a stuck node re-broadcasts its skip vote.
    pub nullify_retry: Duration,
    /// After this long without hearing from a leader (while a quorum is active), skip its
    /// views immediately. `None` disables. Must exceed `notarization_timeout` and `nullify_retry`.
    pub skip_inactive_leader_after: Option<Duration>,
    /// Timeout of a request to a peer (missing certificates, blocks).
    pub fetch_timeout: Duration,
    /// Capacity of internal actor mailboxes.
    pub mailbox_size: usize,
    /// Views kept in memory/journal behind the finalized tip.
    pub view_retention: u64,
    /// Finalized blocks handed to the executor whose `finalized` call has not returned yet.
    pub max_pending_acks: usize,
    /// Missing finalized heights fetched from peers in parallel during backfill.
    pub max_repair: usize,
    /// Messages per second accepted from (and sent to) each peer on each channel.
    pub messages_per_second: u32,
}

impl Config {
    /// A configuration with the defaults below; `validators` is the genesis validator set.
    ///
    /// Defaults: no peers, partition prefix `"lightstreams"`, namespace [`DEFAULT_NAMESPACE`],
    /// recommended (public-IP) p2p profile, leader timeout 2 s, notarization timeout 3 s,
    /// nullify retry 1 s, skip inactive leaders after 6 s, fetch timeout 2 s, mailbox 1024,
    /// view retention 256, 16 pending acks, 32 parallel repairs, 1024 msgs/s/peer/channel.
    pub fn new(signer: PrivateKey, validators: Vec<PublicKey>, listen: SocketAddr) -> Self {
        Self {
            signer,
            validators,
            listen,
            peers: Vec::new(),
            partition_prefix: "lightstreams".into(),
            namespace: DEFAULT_NAMESPACE.to_vec(),
            allow_private_ips: false,
            bypass_ip_check: false,
            leader_timeout: Duration::from_secs(2),
            notarization_timeout: Duration::from_secs(3),
            nullify_retry: Duration::from_secs(1),
            skip_inactive_leader_after: Some(Duration::from_secs(6)),
            fetch_timeout: Duration::from_secs(2),
            mailbox_size: 1024,
            view_retention: 256,
            max_pending_acks: 16,
            max_repair: 32,
            messages_per_second: 1024,
        }
    }
}

/// A `commonware_runtime::tokio` configuration storing consensus data under `storage_dir`
/// (created if missing), with `worker_threads` worker threads and panics propagated.
pub fn runtime_config(
    storage_dir: impl Into<PathBuf>,
    worker_threads: usize,
) -> commonware_runtime::tokio::Config {
    commonware_runtime::tokio::Config::new()
        .with_storage_directory(storage_dir)
        .with_worker_threads(worker_threads.max(1))
}
