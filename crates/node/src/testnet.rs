//! Write the files of a network: genesis, keys and one configuration per node.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, U256};
use lightstreams_consensus::keys;
use lightstreams_primitives::{Genesis, GenesisValidator};
use serde::Serialize;

use crate::config::{ConfigError, NodeConfig, P2pConfig, PeerConfig, RpcSection, TimingConfig};

/// What network to write.
#[derive(Clone, Debug)]
pub struct TestnetSpec {
    /// Directory to write into (created if missing).
    pub dir: PathBuf,
    /// Number of validators.
    pub validators: usize,
    /// Number of full (non-voting) nodes to pre-register with the validators.
    pub full_nodes: usize,
    /// Prefunded dev accounts in the genesis.
    pub accounts: u32,
    /// Chain id.
    pub chain_id: u64,
    /// Host the nodes listen on.
    pub host: IpAddr,
    /// First p2p port (node i uses base + i); `None` picks free ports.
    pub p2p_base_port: Option<u16>,
    /// First JSON-RPC port (node i uses base + i); `None` picks free ports.
    pub rpc_base_port: Option<u16>,
    /// Balances (in wei) the genesis gives these accounts, beside the dev accounts.
    pub fund: Vec<(Address, U256)>,
    /// The node registry's admin, who approves vault node operators; `None`: dev account 0,
    /// whose key is public (so `accounts` must then be at least 1).
    pub registry_admin: Option<Address>,
    /// The account every validator's fees go to; `None`: an address derived from the
    /// validator's consensus key, which nobody holds the key of.
    pub fee_recipient: Option<Address>,
}

impl TestnetSpec {
    /// `validators` validators on loopback with free ports and 10 dev accounts.
    pub fn local(dir: PathBuf, validators: usize) -> Self {
        Self {
            dir,
            validators,
            full_nodes: 0,
            accounts: 10,
            chain_id: lightstreams_primitives::constants::DEV_CHAIN_ID,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_base_port: None,
            rpc_base_port: None,
            fund: Vec::new(),
            registry_admin: None,
            fee_recipient: None,
        }
    }
}

/// One node of a written network.
#[derive(Clone, Debug, Serialize)]
pub struct NodeEntry {
    /// Directory name, e.g. `validator-0` or `full-0`.
    pub name: String,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its consensus public key, hex.
    pub public_key: String,
    /// p2p address.
    pub p2p: SocketAddr,
    /// JSON-RPC address.
    pub rpc: SocketAddr,
    /// Whether it is a validator.
    pub validator: bool,
}

/// The files of a written network.
#[derive(Clone, Debug, Serialize)]
pub struct TestnetLayout {
    /// The shared genesis file.
    pub genesis: PathBuf,
    /// Every node.
    pub nodes: Vec<NodeEntry>,
}

/// The hex public key of a consensus key.
pub fn public_key_hex(key: &lightstreams_consensus::PrivateKey) -> String {
    keys::public_key_to_hex(&keys::public_key(key))
}

/// A free port on `host`. Its listener goes into `held`, which the caller keeps until every
/// port of the network is chosen: a port released at once could be handed out again to the
/// next node of the same network (seen as two nodes sharing an RPC port).
///
/// The port comes from below the system's ephemeral range (where the kernel picks the local
/// ports of outgoing connections) when there is room: the nodes bind their ports only when
/// they start, maybe much later, and meanwhile any outgoing connection on the machine (a
/// kept-alive HTTP connection, say) could hold an ephemeral one. Seen in the end-to-end tests
/// as a node that started late failing with "Address already in use".
fn free_port(host: IpAddr, held: &mut Vec<TcpListener>) -> Result<u16, ConfigError> {
    let listener = match below_ephemeral(host) {
        Some(listener) => listener,
        None => TcpListener::bind((host, 0))
            .map_err(|e| ConfigError::Invalid(format!("no free port on {host}: {e}")))?,
    };
    let port = listener
        .local_addr()
        .map_err(|e| ConfigError::Invalid(format!("no free port on {host}: {e}")))?
        .port();
    held.push(listener);
    Ok(port)
}

/// Lowest port [`below_ephemeral`] hands out (clear of the well-known and most registered
/// service ports).
const LOW_PORT: u16 = 20_000;

/// The most nodes (validators and full nodes) one `init` or `testnet` writes: each needs two
/// ports of its own.
pub const MAX_NODES: usize = 1_000;

/// A listener on a free port between [`LOW_PORT`] and the start of the system's ephemeral
/// range (Linux: `/proc/sys/net/ipv4/ip_local_port_range`), tried from a random point; `None`
/// where the range is unknown, too small, or full.
fn below_ephemeral(host: IpAddr) -> Option<TcpListener> {
    let span = first_ephemeral_port()?
        .checked_sub(LOW_PORT)
        .filter(|s| *s >= 1000)?;
    let start = rand::random::<u16>() % span;
    (0..256u16).find_map(|k| {
        let port = LOW_PORT + (start + k.wrapping_mul(97)) % span;
        TcpListener::bind((host, port)).ok()
    })
}

/// The first port of the system's ephemeral range, where it can be read (Linux).
fn first_ephemeral_port() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

fn port(
    base: Option<u16>,
    i: usize,
    host: IpAddr,
    held: &mut Vec<TcpListener>,
) -> Result<u16, ConfigError> {
    match base {
        Some(b) => u16::try_from(usize::from(b) + i)
            .map_err(|_| ConfigError::Invalid(format!("port {b}+{i} is out of range"))),
        None => free_port(host, held),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The genesis of `spec`: its dev accounts and `fund` balances, and the node registry's admin
/// (the validators are added once their keys exist).
fn genesis_for(spec: &TestnetSpec) -> Result<Genesis, ConfigError> {
    let mut genesis = Genesis::dev(spec.accounts, Vec::new());
    genesis.chain_id = spec.chain_id;
    match spec.registry_admin {
        Some(admin) => genesis.add_system_contracts(admin),
        None if spec.accounts == 0 => {
            return Err(ConfigError::Invalid(
                "with no dev accounts (--accounts 0) nobody could approve vault nodes; name the \
                 account that will, with --registry-admin ADDR"
                    .into(),
            ));
        }
        None => {}
    }
    for (address, wei) in &spec.fund {
        let account = genesis.alloc.entry(*address).or_default();
        account.balance = account.balance.checked_add(*wei).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "the genesis balance of {address} overflows 2^256 wei; fund it less"
            ))
        })?;
    }
    Ok(genesis)
}

/// Write genesis, keys and configurations for `spec`. Refuses to overwrite an existing network.
pub fn write_testnet(spec: &TestnetSpec) -> Result<TestnetLayout, ConfigError> {
    if spec.validators == 0 {
        return Err(ConfigError::Invalid(
            "a network needs at least one validator".into(),
        ));
    }
    let total = spec
        .validators
        .checked_add(spec.full_nodes)
        .filter(|&total| total <= MAX_NODES)
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{} validators and {} full nodes: at most {MAX_NODES} nodes in all (each needs two ports)",
                spec.validators, spec.full_nodes
            ))
        })?;
    if spec.accounts > lightstreams_primitives::dev::MAX_DEV_ACCOUNTS {
        return Err(ConfigError::Invalid(format!(
            "--accounts {}: at most {} dev accounts",
            spec.accounts,
            lightstreams_primitives::dev::MAX_DEV_ACCOUNTS
        )));
    }
    // Built before anything is written, so a refused `init` leaves nothing behind.
    let mut genesis = genesis_for(spec)?;
    let genesis_path = spec.dir.join("genesis.json");
    if genesis_path.exists() {
        return Err(ConfigError::Invalid(format!(
            "{} already exists; choose an empty --dir or start the existing network",
            genesis_path.display()
        )));
    }
    std::fs::create_dir_all(&spec.dir).map_err(io(&spec.dir))?;
    let mut entries = Vec::with_capacity(total);
    let mut signers = Vec::with_capacity(total);
    // Listeners on the chosen free ports, held until every port is chosen.
    let mut held = Vec::new();
    for i in 0..total {
        let validator = i < spec.validators;
        let name = if validator {
            format!("validator-{i}")
        } else {
            format!("full-{}", i - spec.validators)
        };
        let key = keys::generate_private_key();
        let public_key = keys::public_key_to_hex(&keys::public_key(&key));
        let p2p = SocketAddr::new(
            spec.host,
            port(spec.p2p_base_port, i, spec.host, &mut held)?,
        );
        let rpc = SocketAddr::new(
            spec.host,
            port(spec.rpc_base_port, i, spec.host, &mut held)?,
        );
        let dir = spec.dir.join(&name);
        entries.push(NodeEntry {
            config: dir.join("config.toml"),
            name,
            public_key,
            p2p,
            rpc,
            validator,
        });
        signers.push(key);
    }
    genesis.validators = entries
        .iter()
        .filter(|e| e.validator)
        .map(|e| GenesisValidator {
            public_key: e.public_key.clone(),
            beneficiary: spec
                .fee_recipient
                .unwrap_or_else(|| crate::dev::beneficiary_of(&e.public_key)),
        })
        .collect();
    genesis.save(&genesis_path).map_err(io(&genesis_path))?;

    for (entry, key) in entries.iter().zip(&signers) {
        let dir = spec.dir.join(&entry.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let key_path = dir.join("consensus.key");
        keys::write_key_file(&key_path, key).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        // Validators know everyone (full nodes may only connect if listed); full nodes dial
        // the validators.
        let peers = entries
            .iter()
            .filter(|other| other.name != entry.name && (entry.validator || other.validator))
            .map(|other| PeerConfig {
                public_key: other.public_key.clone(),
                address: other.p2p,
                rpc: Some(format!("http://{}", other.rpc)),
            })
            .collect();
        let config = NodeConfig {
            data_dir: PathBuf::from("data"),
            genesis: PathBuf::from("../genesis.json"),
            key: PathBuf::from("consensus.key"),
            p2p: P2pConfig {
                listen: entry.p2p,
                peers,
                allow_private_ips: true,
            },
            rpc: RpcSection {
                enabled: true,
                addr: entry.rpc,
                ..RpcSection::default()
            },
            timing: TimingConfig::default(),
            vault: crate::config::VaultSection::default(),
            worker_threads: 0,
        };
        config.save(&entry.config)?;
    }
    Ok(TestnetLayout {
        genesis: genesis_path,
        nodes: entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ports chosen for nodes that start later sit below the ephemeral range, which outgoing
    /// connections draw from, and are distinct.
    #[test]
    fn free_ports_avoid_the_ephemeral_range() {
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut held = Vec::new();
        let ports: Vec<u16> = (0..20)
            .map(|_| free_port(host, &mut held).expect("a free port"))
            .collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        if let Some(first) = first_ephemeral_port()
            && first >= LOW_PORT + 1000
        {
            assert!(
                ports.iter().all(|p| (LOW_PORT..first).contains(p)),
                "{ports:?} not all in {LOW_PORT}..{first}"
            );
        }
    }

    #[test]
    fn writes_a_consistent_network() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut spec = TestnetSpec::local(dir.path().join("net"), 4);
        spec.full_nodes = 1;
        let layout = write_testnet(&spec).expect("write");
        assert_eq!(layout.nodes.len(), 5);
        for node in &layout.nodes {
            let config = NodeConfig::load(&node.config).expect("load");
            let base = node.config.parent().expect("dir");
            let resolved = config.resolve(base).expect("resolve");
            assert_eq!(resolved.validators.len(), 4);
            assert_eq!(
                (
                    resolved.connections_per_address,
                    resolved.vault_requests_per_address
                ),
                (256, 64),
                "the default shares per client address"
            );
            // A validator knows the 3 other validators and the full node; the full node knows
            // the 4 validators.
            assert_eq!(resolved.peers.len(), 4, "{}", node.name);
        }
        let err = write_testnet(&spec).expect_err("no overwrite").to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn a_network_can_leave_out_the_public_dev_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut spec = TestnetSpec::local(dir.path().join("net"), 1);
        spec.accounts = 0;
        let err = write_testnet(&spec).expect_err("no admin").to_string();
        assert!(err.contains("--registry-admin"), "{err}");
        assert!(!spec.dir.exists(), "a refused network left files behind");

        let (alice, admin, fees) = (
            Address::repeat_byte(0xa1),
            Address::repeat_byte(0xad),
            Address::repeat_byte(0xfe),
        );
        spec.fund = vec![(alice, U256::from(5u8)), (alice, U256::from(2u8))];
        spec.registry_admin = Some(admin);
        spec.fee_recipient = Some(fees);
        let layout = write_testnet(&spec).expect("write");
        let genesis = Genesis::load(&layout.genesis).expect("load");
        assert_eq!(genesis.registry_admin(), admin);
        assert_eq!(genesis.alloc[&alice].balance, U256::from(7u8));
        let dev0 = lightstreams_primitives::dev::dev_accounts(1)[0].address();
        assert!(
            !genesis.alloc.contains_key(&dev0),
            "a dev account was funded"
        );
        assert!(genesis.validators.iter().all(|v| v.beneficiary == fees));
        // The system contracts are still there.
        assert!(
            genesis.alloc[&lightstreams_primitives::system::NODE_REGISTRY]
                .code
                .is_some()
        );

        let mut spec = TestnetSpec::local(dir.path().join("overflow"), 1);
        spec.fund = vec![(alice, U256::MAX), (alice, U256::from(1u8))];
        let err = write_testnet(&spec).expect_err("overflow").to_string();
        assert!(err.contains("overflows"), "{err}");
    }

    /// Node and account counts no machine could run are refused by name before anything is
    /// allocated or written (they once overflowed `validators + full_nodes`, or sized a vector).
    #[test]
    fn absurd_counts_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tmp");
        for (validators, full_nodes) in [(usize::MAX, 1), (1, usize::MAX), (MAX_NODES, 1)] {
            let mut spec = TestnetSpec::local(dir.path().join("net"), validators);
            spec.full_nodes = full_nodes;
            let err = write_testnet(&spec).expect_err("too many").to_string();
            assert!(err.contains("at most 1000 nodes"), "{err}");
        }
        let mut spec = TestnetSpec::local(dir.path().join("net"), 1);
        spec.accounts = u32::MAX;
        let err = write_testnet(&spec).expect_err("too many").to_string();
        assert!(err.contains("at most 1000 dev accounts"), "{err}");
        assert!(
            !dir.path().join("net").exists(),
            "a refused network left files"
        );
    }

    #[test]
    fn bad_configs_get_clear_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "data_dir = 5").expect("write");
        let err = NodeConfig::load(&path).expect_err("bad").to_string();
        assert!(err.contains("not a valid node configuration"), "{err}");
        let err = NodeConfig::load(&dir.path().join("missing.toml"))
            .expect_err("missing")
            .to_string();
        assert!(err.contains("cannot access"), "{err}");
    }
}
