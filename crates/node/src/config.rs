//! The node's TOML configuration file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lightstreams_consensus::keys;
use lightstreams_consensus::{PrivateKey, PublicKey};
use lightstreams_primitives::Genesis;
use serde::{Deserialize, Serialize};

/// Why a configuration cannot be used. Messages name the file and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a node configuration.
    #[error("{path} is not a valid node configuration: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said (with line and column).
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{0}")]
    Invalid(String),
}

/// A peer: its consensus public key and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// ed25519 public key, hex.
    pub public_key: String,
    /// p2p address.
    pub address: SocketAddr,
    /// The peer's JSON-RPC / vault API URL, if known: a validator's is where clients find it
    /// as a key keeper (`/v1/keepers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<String>,
}

/// p2p settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Validators to dial, and full nodes allowed to connect.
    pub peers: Vec<PeerConfig>,
    /// Allow loopback and private addresses (local networks and tests).
    pub allow_private_ips: bool,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 30400)),
            peers: Vec::new(),
            allow_private_ips: true,
        }
    }
}

/// JSON-RPC settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcSection {
    /// Serve JSON-RPC at all.
    pub enabled: bool,
    /// Address of the HTTP + WebSocket JSON-RPC server.
    pub addr: SocketAddr,
    /// Most HTTP connections one client address may hold open (0: no limit). The node's own
    /// machine (127.0.0.1, ::1) is never limited. Behind a reverse proxy on another address,
    /// every client shares the proxy's: raise this (or set 0) and limit at the proxy.
    pub connections_per_address: usize,
    /// Most vault (`/v1`) requests one client address may have in progress (0: no limit); more
    /// are answered 429 with `Retry-After`.
    pub vault_requests_per_address: usize,
}

impl Default for RpcSection {
    fn default() -> Self {
        Self {
            enabled: true,
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            connections_per_address: lightstreams_api::DEFAULT_CONNECTIONS_PER_ADDRESS,
            vault_requests_per_address: lightstreams_api::DEFAULT_VAULT_REQUESTS_PER_ADDRESS,
        }
    }
}

/// Timing of consensus and block production, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingConfig {
    /// How long a proposer waits for transactions before proposing an empty block.
    pub empty_block_interval_ms: u64,
    /// How long validators wait for a proposal before skipping the leader.
    pub leader_timeout_ms: u64,
    /// How long validators wait for a view to be notarized before skipping it.
    pub notarization_timeout_ms: u64,
}

impl Default for TimingConfig {
    fn default() -> Self {
        Self {
            empty_block_interval_ms: 1000,
            leader_timeout_ms: 2000,
            notarization_timeout_ms: 3000,
        }
    }
}

/// Vault settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSection {
    /// Copies of every object across the registered vault nodes (R).
    pub replicas: usize,
    /// How often the node refreshes its view of the node registry and checks every item it
    /// holds for missing copies, in milliseconds (an upload triggers a check at once).
    pub repair_interval_ms: u64,
    /// TCP port of the vault stream (peers' bulk reads), on the RPC address's host; 0 (the
    /// default) takes any free port. Announced at `/v1` as `stream_port`.
    pub stream_port: u16,
}

impl Default for VaultSection {
    fn default() -> Self {
        Self {
            replicas: 3,
            repair_interval_ms: 5000,
            stream_port: 0,
        }
    }
}

/// The node configuration file (`lightstreams node --config FILE`).
///
/// Relative paths are resolved against the file's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Where the chain and consensus data live.
    pub data_dir: PathBuf,
    /// The genesis file; identical on every node of the network.
    pub genesis: PathBuf,
    /// The node's ed25519 key file (consensus and p2p identity). Never leaves the node.
    pub key: PathBuf,
    /// p2p settings.
    #[serde(default)]
    pub p2p: P2pConfig,
    /// JSON-RPC settings.
    #[serde(default)]
    pub rpc: RpcSection,
    /// Timing.
    #[serde(default)]
    pub timing: TimingConfig,
    /// Vault replication.
    #[serde(default)]
    pub vault: VaultSection,
    /// Runtime worker threads (0 = one per core).
    #[serde(default)]
    pub worker_threads: usize,
}

impl NodeConfig {
    /// Read a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Write this configuration as TOML.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        std::fs::write(path, text).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Load the files this configuration names and check everything fits together.
    /// `base` is the directory relative paths are resolved against.
    pub fn resolve(&self, base: &Path) -> Result<ResolvedConfig, ConfigError> {
        let at = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let genesis_path = at(&self.genesis);
        let genesis =
            Genesis::load(&genesis_path).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let key_path = at(&self.key);
        let signer = keys::read_key_file(&key_path).map_err(|e| {
            ConfigError::Invalid(format!(
                "{e} (generate one with `lightstreams init`, or point `key` at an existing key file)"
            ))
        })?;
        let validators = genesis
            .validators
            .iter()
            .map(|v| {
                keys::public_key_from_hex(&v.public_key).map_err(|e| {
                    ConfigError::Invalid(format!("genesis validator {}: {e}", v.public_key))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if validators.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "genesis {} has no validators",
                genesis_path.display()
            )));
        }
        let peers = self
            .p2p
            .peers
            .iter()
            .map(|p| {
                keys::public_key_from_hex(&p.public_key)
                    .map(|k| (k, p.address))
                    .map_err(|e| ConfigError::Invalid(format!("peer {}: {e}", p.public_key)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validator_apis = self
            .p2p
            .peers
            .iter()
            .zip(&peers)
            .filter(|(_, (key, _))| validators.contains(key))
            .filter_map(|(p, _)| p.rpc.clone())
            .collect();
        let t = &self.timing;
        if t.empty_block_interval_ms >= t.leader_timeout_ms {
            return Err(ConfigError::Invalid(format!(
                "timing.empty_block_interval_ms ({}) must be below timing.leader_timeout_ms ({}), or leaders time out while waiting for transactions",
                t.empty_block_interval_ms, t.leader_timeout_ms
            )));
        }
        if self.vault.replicas == 0 || self.vault.replicas > 16 {
            return Err(ConfigError::Invalid(format!(
                "vault.replicas is {}: keep 1 to 16 copies of every object",
                self.vault.replicas
            )));
        }
        if self.vault.repair_interval_ms < 100 {
            return Err(ConfigError::Invalid(format!(
                "vault.repair_interval_ms is {}: use at least 100",
                self.vault.repair_interval_ms
            )));
        }
        Ok(ResolvedConfig {
            data_dir: at(&self.data_dir),
            genesis,
            signer,
            validators,
            listen: self.p2p.listen,
            peers,
            validator_apis,
            allow_private_ips: self.p2p.allow_private_ips,
            rpc: self.rpc.enabled.then_some(self.rpc.addr),
            connections_per_address: self.rpc.connections_per_address,
            vault_requests_per_address: self.rpc.vault_requests_per_address,
            empty_block_interval: Duration::from_millis(t.empty_block_interval_ms),
            leader_timeout: Duration::from_millis(t.leader_timeout_ms),
            notarization_timeout: Duration::from_millis(t.notarization_timeout_ms),
            worker_threads: self.worker_threads,
            replicas: self.vault.replicas,
            repair_interval: Duration::from_millis(self.vault.repair_interval_ms),
            stream_port: self.vault.stream_port,
        })
    }
}

/// A configuration with every file loaded and checked: what [`crate::run`] needs.
#[derive(Clone, Debug)]
pub struct ResolvedConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// The genesis.
    pub genesis: Genesis,
    /// Our key.
    pub signer: PrivateKey,
    /// The validator set.
    pub validators: Vec<PublicKey>,
    /// p2p listen address.
    pub listen: SocketAddr,
    /// Known peers.
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// API URLs of the other validators (from `peers[].rpc`): the default key keepers.
    pub validator_apis: Vec<String>,
    /// Allow private IPs.
    pub allow_private_ips: bool,
    /// JSON-RPC address, if enabled.
    pub rpc: Option<SocketAddr>,
    /// Most HTTP connections per client address (0: no limit).
    pub connections_per_address: usize,
    /// Most vault requests in progress per client address (0: no limit).
    pub vault_requests_per_address: usize,
    /// Empty-block interval.
    pub empty_block_interval: Duration,
    /// Leader timeout.
    pub leader_timeout: Duration,
    /// Notarization timeout.
    pub notarization_timeout: Duration,
    /// Runtime worker threads (0 = one per core).
    pub worker_threads: usize,
    /// Copies of every vault object (R).
    pub replicas: usize,
    /// Vault membership refresh and repair interval.
    pub repair_interval: Duration,
    /// Port of the vault stream (0: any free port).
    pub stream_port: u16,
}
