//! `lightstreams dev`: a one-validator chain with prefunded accounts, like anvil.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, keccak256};
use lightstreams_consensus::keys;
use lightstreams_primitives::{Genesis, GenesisValidator};

use crate::config::{ConfigError, ResolvedConfig};

/// Options of a dev chain.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Data directory; reused (same genesis, same key) if it already holds a dev chain.
    pub data_dir: PathBuf,
    /// JSON-RPC address.
    pub rpc: SocketAddr,
    /// Number of prefunded accounts.
    pub accounts: u32,
    /// How long to wait for transactions before producing an empty block.
    pub empty_block_interval: Duration,
}

/// The fee recipient of a validator: the last 20 bytes of the Keccak hash of its public key,
/// so fees never land in (and confuse) a prefunded account.
pub fn beneficiary_of(public_key_hex: &str) -> Address {
    let bytes = hex::decode(public_key_hex.trim_start_matches("0x")).unwrap_or_default();
    Address::from_slice(&keccak256(bytes)[12..])
}

/// Create (or reopen) the dev chain in `options.data_dir` and return its configuration.
pub fn dev_config(options: &DevOptions) -> Result<ResolvedConfig, ConfigError> {
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| ConfigError::Io { path, source }
    };
    std::fs::create_dir_all(&options.data_dir).map_err(io(&options.data_dir))?;
    let key_path = options.data_dir.join("consensus.key");
    let genesis_path = options.data_dir.join("genesis.json");
    let signer = if key_path.exists() {
        keys::read_key_file(&key_path).map_err(|e| ConfigError::Invalid(e.to_string()))?
    } else {
        let key = keys::generate_private_key();
        keys::write_key_file(&key_path, &key).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        key
    };
    let public_key = keys::public_key(&signer);
    let genesis = if genesis_path.exists() {
        Genesis::load(&genesis_path).map_err(|e| ConfigError::Invalid(e.to_string()))?
    } else {
        let hex_key = keys::public_key_to_hex(&public_key);
        let genesis = Genesis::dev(
            options.accounts,
            vec![GenesisValidator {
                beneficiary: beneficiary_of(&hex_key),
                public_key: hex_key,
            }],
        );
        genesis.save(&genesis_path).map_err(io(&genesis_path))?;
        genesis
    };
    Ok(ResolvedConfig {
        data_dir: options.data_dir.clone(),
        genesis,
        signer,
        validators: vec![public_key],
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        peers: Vec::new(),
        validator_apis: Vec::new(),
        allow_private_ips: true,
        rpc: Some(options.rpc),
        connections_per_address: lightstreams_api::DEFAULT_CONNECTIONS_PER_ADDRESS,
        vault_requests_per_address: lightstreams_api::DEFAULT_VAULT_REQUESTS_PER_ADDRESS,
        empty_block_interval: options.empty_block_interval,
        leader_timeout: Duration::from_secs(2),
        notarization_timeout: Duration::from_secs(3),
        worker_threads: 0,
        replicas: 3,
        repair_interval: Duration::from_secs(5),
        stream_port: 0,
    })
}
