//! Start a node from a resolved configuration and run it until it is told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use commonware_runtime::Runner as _;
use lightstreams_api::VaultConfig;
use lightstreams_api::{RpcConfig, RpcHandle};
use lightstreams_chain::{Chain, ChainConfig};
use lightstreams_consensus::{Context, Runner, runtime_config};
use tokio::sync::watch;

use crate::config::ResolvedConfig;
use crate::executor::ChainExecutor;

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain store could not be opened.
    #[error("chain: {0}")]
    Chain(#[from] lightstreams_chain::Error),
    /// Consensus could not start or stopped.
    #[error("consensus: {0}")]
    Consensus(#[from] lightstreams_consensus::Error),
    /// The JSON-RPC server could not start.
    #[error("json-rpc: {0}")]
    Rpc(String),
    /// The node hit an unrecoverable condition.
    #[error("{0}")]
    Fatal(String),
    /// Signal handling failed.
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// A running node.
pub struct NodeHandle {
    chain: Arc<Chain>,
    consensus: lightstreams_consensus::Handle,
    rpc: Option<RpcHandle>,
    fatal: watch::Receiver<Option<String>>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("rpc", &self.rpc_addr())
            .field("validator", &self.is_validator())
            .finish()
    }
}

impl NodeHandle {
    /// The execution layer.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// Address the JSON-RPC server listens on, if enabled.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc.as_ref().map(|r| r.local_addr())
    }

    /// Whether this node votes (validator) or only follows (full node).
    pub fn is_validator(&self) -> bool {
        self.consensus.is_validator()
    }

    /// The node's consensus public key, hex.
    pub fn public_key(&self) -> String {
        lightstreams_consensus::keys::public_key_to_hex(self.consensus.public_key())
    }

    /// Run until Ctrl-C / SIGTERM, a fatal error, or consensus stopping; then stop everything.
    pub async fn wait(mut self) -> Result<(), Error> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(Error::Signal)?;
        let outcome = tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            _ = term.recv() => Ok(()),
            changed = self.fatal.changed() => match changed {
                Ok(()) => Err(Error::Fatal(self.fatal.borrow().clone().unwrap_or_default())),
                Err(_) => Err(Error::Fatal("executor dropped".into())),
            },
        };
        tracing::info!("shutting down");
        self.stop();
        outcome
    }

    /// Stop consensus and the JSON-RPC server.
    pub fn stop(self) {
        if let Some(rpc) = self.rpc {
            rpc.stop();
        }
        self.consensus.stop();
    }
}

/// Start every component of a node on `context` (a commonware tokio runtime).
pub async fn launch(context: Context, config: ResolvedConfig) -> Result<NodeHandle, Error> {
    let mut chain_config = ChainConfig::new(config.data_dir.join("chain"), config.genesis.clone());
    chain_config.empty_block_interval = config.empty_block_interval;
    let chain = Chain::open(chain_config)?;
    tracing::info!(
        genesis = %chain.genesis_block().hash(),
        head = chain.head_number(),
        chain_id = chain.chain_id(),
        "chain opened"
    );

    let (fatal_tx, fatal) = watch::channel(None);
    let executor = ChainExecutor::new(chain.clone(), fatal_tx);
    let mut consensus_config = lightstreams_consensus::Config::new(
        config.signer.clone(),
        config.validators.clone(),
        config.listen,
    );
    consensus_config.peers = config.peers.clone();
    consensus_config.allow_private_ips = config.allow_private_ips;
    consensus_config.leader_timeout = config.leader_timeout;
    consensus_config.notarization_timeout = config.notarization_timeout;
    consensus_config.skip_inactive_leader_after =
        Some((config.notarization_timeout * 2).max(consensus_config.nullify_retry * 2));
    let consensus = lightstreams_consensus::start(context, consensus_config, executor).await?;
    tracing::info!(
        public_key = %lightstreams_consensus::keys::public_key_to_hex(consensus.public_key()),
        validator = consensus.is_validator(),
        p2p = %config.listen,
        "consensus started"
    );

    let rpc = match config.rpc {
        Some(addr) => {
            let mut rpc_config = RpcConfig::new(addr);
            rpc_config.connections_per_address = config.connections_per_address;
            rpc_config.vault_requests_per_address = config.vault_requests_per_address;
            rpc_config.vault = Some(VaultConfig {
                dir: config.data_dir.join("vault"),
                node_id: format!(
                    "0x{}",
                    lightstreams_consensus::keys::public_key_to_hex(consensus.public_key())
                        .trim_start_matches("0x")
                ),
                keystore: Some(config.data_dir.join("keystore")),
                keeper_secret: Some(keeper_secret(&config.signer)),
                validator: config
                    .validators
                    .contains(&lightstreams_consensus::keys::public_key(&config.signer)),
                validator_apis: config.validator_apis.clone(),
                peers: Some(lightstreams_api::PeerConfig {
                    key: lightstreams_network::NodeKey::from_private(config.signer.clone()),
                    replicas: config.replicas,
                    repair_interval: config.repair_interval,
                }),
                stream: Some(std::net::SocketAddr::new(addr.ip(), config.stream_port)),
                // Clients on this machine read blobs straight from the store's files.
                local_stream: Some(config.data_dir.join("vault.sock")),
            });
            let handle = lightstreams_api::serve(chain.clone(), rpc_config)
                .await
                .map_err(|e| Error::Rpc(format!("cannot serve on {addr}: {e}")))?;
            tracing::info!(addr = %handle.local_addr(), "json-rpc listening");
            Some(handle)
        }
        None => None,
    };
    Ok(NodeHandle {
        chain,
        consensus,
        rpc,
        fatal,
    })
}

/// Run a node until Ctrl-C / SIGTERM or a fatal error. `on_ready` is called once every
/// component is up (the CLI prints addresses there).
pub fn run(
    config: ResolvedConfig,
    on_ready: impl FnOnce(&NodeHandle) + Send + 'static,
) -> Result<(), Error> {
    let threads = match config.worker_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let runner = Runner::new(runtime_config(config.data_dir.join("consensus"), threads));
    runner.start(|context| async move {
        let node = launch(context, config).await?;
        on_ready(&node);
        node.wait().await
    })
}

/// The node's key-keeper X25519 secret, derived from its consensus key: stable across restarts,
/// never stored apart from the key it comes from, and useless for signing.
fn keeper_secret(signer: &lightstreams_consensus::keys::PrivateKey) -> [u8; 32] {
    let hex = lightstreams_consensus::keys::private_key_to_hex(signer);
    blake3::derive_key(
        "lightstreams keeper x25519 v1",
        hex.trim_start_matches("0x").as_bytes(),
    )
}
