//! Command-line arguments, one struct per command.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A count of nodes for `init` and `testnet`: from `min` to the most one network layout holds.
fn node_count(min: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new()
        .range(min..=lightstreams_node::testnet::MAX_NODES as u64)
}

/// Lightstreams: a peer-to-peer publishing network on a fast BFT EVM chain.
#[derive(Debug, Parser)]
#[command(name = "lightstreams", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Log filter (e.g. `info`, `lightstreams=debug`); also read from RUST_LOG.
    #[arg(
        long,
        global = true,
        env = "RUST_LOG",
        default_value = "info,commonware_consensus=warn,commonware_p2p=warn,commonware_storage=warn,commonware_runtime=warn,commonware_broadcast=warn,commonware_resolver=warn"
    )]
    pub(crate) log: String,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a one-validator development chain with prefunded accounts (like anvil).
    Dev(DevArgs),
    /// Write genesis, keys and node configurations for a new network.
    Init(InitArgs),
    /// Run a node (validator or full node) from a configuration file.
    Node(NodeArgs),
    /// Write (if needed) and run a local multi-validator network; Ctrl-C stops it.
    Testnet(TestnetArgs),
    /// Manage the encrypted keystore (Ethereum v3 JSON).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Send PHT to an address.
    Send(SendArgs),
    /// Show a node's chain id, head and peers.
    Status(RpcArgs),
    /// Encrypted items: add, get, update, grant, revoke, list (encryption happens here, never on the node).
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// The marketplace: list items for sale, browse, buy (payment grants read access), offers.
    Market {
        #[command(subcommand)]
        command: MarketCommand,
    },
    /// The fan channel: creators message their buyers, buyers reply privately.
    Fans {
        #[command(subcommand)]
        command: FansCommand,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Keep the chain in this directory (default: a temporary directory removed on exit).
    #[arg(long = "data-dir")]
    pub(crate) data_dir: Option<PathBuf>,
    /// JSON-RPC address (HTTP and WebSocket).
    #[arg(long = "rpc.addr", default_value = "127.0.0.1:8545")]
    pub(crate) rpc_addr: SocketAddr,
    /// Number of prefunded accounts (10,000 PHT each, anvil's mnemonic).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=i64::from(lightstreams_primitives::dev::MAX_DEV_ACCOUNTS)))]
    pub(crate) accounts: u32,
    /// Milliseconds a validator waits for transactions before producing an empty block.
    #[arg(long = "block-interval-ms", default_value_t = 1000)]
    pub(crate) block_interval_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Directory to write into.
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 1, value_parser = node_count(1))]
    pub(crate) validators: usize,
    /// Number of full (non-voting) nodes to pre-register.
    #[arg(long = "full-nodes", default_value_t = 0, value_parser = node_count(0))]
    pub(crate) full_nodes: usize,
    /// Prefunded dev accounts in the genesis (anvil's mnemonic: their keys are public). A network
    /// others rely on uses `--accounts 0` with `--fund` and `--registry-admin`.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=i64::from(lightstreams_primitives::dev::MAX_DEV_ACCOUNTS)))]
    pub(crate) accounts: u32,
    /// Give an account a genesis balance, as ADDR=AMOUNT (e.g. 0xabc…=1000000pht); repeatable.
    #[arg(long, value_name = "ADDR=AMOUNT")]
    pub(crate) fund: Vec<String>,
    /// The account that approves vault node operators in the node registry (default: dev
    /// account 0, whose key is public; required with `--accounts 0`).
    #[arg(long = "registry-admin", value_name = "ADDR")]
    pub(crate) registry_admin: Option<alloy::primitives::Address>,
    /// The account every validator's block fees go to (default: an address derived from the
    /// validator's key, which nobody can spend from).
    #[arg(long = "fee-recipient", value_name = "ADDR")]
    pub(crate) fee_recipient: Option<alloy::primitives::Address>,
    /// Chain id.
    #[arg(long = "chain-id", default_value_t = 161)]
    pub(crate) chain_id: u64,
    /// Host the nodes listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// First p2p port (node i uses port + i); default: free ports.
    #[arg(long = "p2p.port")]
    pub(crate) p2p_port: Option<u16>,
    /// First JSON-RPC port (node i uses port + i); default: free ports.
    #[arg(long = "rpc.port")]
    pub(crate) rpc_port: Option<u16>,
}

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's configuration file (written by `lightstreams init`).
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Extra peer to connect to, as PUBLIC_KEY@HOST:PORT (repeatable); added to the config's
    /// `p2p.peers`. A full node joins a network this way (the validators must list its key).
    #[arg(long, value_name = "PUBLIC_KEY@HOST:PORT")]
    pub(crate) join: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TestnetArgs {
    /// Directory of the network (written on first use).
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Number of validators.
    #[arg(long, default_value_t = 4, value_parser = node_count(1))]
    pub(crate) validators: usize,
    /// Number of full nodes.
    #[arg(long = "full-nodes", default_value_t = 0, value_parser = node_count(0))]
    pub(crate) full_nodes: usize,
    /// First p2p port; default: free ports.
    #[arg(long = "p2p.port")]
    pub(crate) p2p_port: Option<u16>,
    /// First JSON-RPC port; default: free ports.
    #[arg(long = "rpc.port")]
    pub(crate) rpc_port: Option<u16>,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct KeystoreArgs {
    /// Keystore directory (default: $LIGHTSTREAMS_HOME/keystore or ~/.lightstreams/keystore).
    #[arg(long, env = "LIGHTSTREAMS_KEYSTORE")]
    pub(crate) keystore: Option<PathBuf>,
    /// File holding the keystore password (default: $LIGHTSTREAMS_PASSWORD, else a prompt).
    #[arg(long = "password-file")]
    pub(crate) password_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountCommand {
    /// Create a new account in the keystore.
    New(KeystoreArgs),
    /// List the keystore's accounts.
    List(KeystoreArgs),
    /// Import a private key (hex) into the keystore.
    Import {
        #[command(flatten)]
        keystore: KeystoreArgs,
        /// File holding the private key in hex (default: read from standard input).
        #[arg(long = "key-file")]
        key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RpcArgs {
    /// JSON-RPC endpoint of a node.
    #[arg(
        long,
        env = "LIGHTSTREAMS_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    pub(crate) rpc: String,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Recipient address.
    #[arg(long)]
    pub(crate) to: String,
    /// Amount, e.g. `1.5pht`, `2gwei`, `100wei` (plain numbers are PHT).
    #[arg(long)]
    pub(crate) value: String,
    /// Sender: an address in the keystore.
    #[arg(long, conflicts_with = "private_key")]
    pub(crate) from: Option<String>,
    /// Sender: a raw private key in hex (or LIGHTSTREAMS_PRIVATE_KEY).
    #[arg(
        long = "private-key",
        env = "LIGHTSTREAMS_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub(crate) private_key: Option<String>,
    #[command(flatten)]
    pub(crate) keystore: KeystoreArgs,
    #[command(flatten)]
    pub(crate) rpc: RpcArgs,
    /// Return after submission instead of waiting for finality.
    #[arg(long = "no-wait")]
    pub(crate) no_wait: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Transfers per second and submission-to-finality latency over JSON-RPC.
    Chain(BenchChainArgs),
    /// Vault add/get MB/s beside the single-core AEAD+BLAKE3 bound, peak RSS, grant latency.
    Vault(BenchVaultArgs),
    /// Purchases/s on 1 and 4 validators beside plain transfers, and buy → first decrypted byte.
    Market(BenchMarketArgs),
    /// Fetch an item from a peer over loopback beside a raw TCP transfer of the same bytes.
    P2p(BenchP2pArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BenchP2pArgs {
    /// Item size in MiB.
    #[arg(long = "size-mib", default_value_t = 1024)]
    pub(crate) size_mib: u64,
    /// Parallel requests (and, for the baseline, parallel TCP connections).
    #[arg(long, default_value_t = 8)]
    pub(crate) lanes: usize,
    /// Objects per batch request (the fetch also runs with one request per object).
    #[arg(long, default_value_t = 32)]
    pub(crate) batch: usize,
    /// Rounds of (raw TCP, raw TCP + BLAKE3, vault stream), run back to back: the ratio is the
    /// median of each round's own, so a slow spell of the machine hits both sides alike.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
}

#[derive(Debug, Args)]
pub(crate) struct BenchMarketArgs {
    /// Purchases per network.
    #[arg(long, default_value_t = 200)]
    pub(crate) purchases: usize,
    /// Concurrent buyers (each waits for its purchase to be final before the next).
    #[arg(long, default_value_t = 8)]
    pub(crate) buyers: usize,
    /// Buy → first byte samples per network.
    #[arg(long, default_value_t = 5)]
    pub(crate) samples: usize,
    /// Validator counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 4])]
    pub(crate) validators: Vec<usize>,
}

#[derive(Debug, Args)]
pub(crate) struct BenchVaultArgs {
    /// File size in MiB.
    #[arg(long = "size-mib", default_value_t = 1024)]
    pub(crate) size_mib: u64,
    /// Grant → first decrypted byte samples.
    #[arg(long, default_value_t = 5)]
    pub(crate) grants: usize,
    /// Rounds of (bound, disk, node add, node get), back to back: each ratio is the median of the
    /// rounds' own, so a slow spell of the machine hits both sides alike.
    #[arg(long, default_value_t = 3)]
    pub(crate) rounds: usize,
}

#[derive(Debug, Args)]
pub(crate) struct BenchChainArgs {
    /// Validators of the network to start (1 = `lightstreams dev`, more = a local testnet).
    #[arg(long, default_value_t = 1)]
    pub(crate) validators: usize,
    /// Number of transfers.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) transfers: usize,
    /// Number of sending accounts (funded from the first dev account).
    #[arg(long, default_value_t = 200)]
    pub(crate) senders: usize,
    /// Concurrent submitting connections.
    #[arg(long, default_value_t = 8)]
    pub(crate) connections: usize,
    /// Offered load in transfers per second (0 = submit as fast as possible). Latency is only
    /// meaningful below saturation: at full speed it measures the queue.
    #[arg(long, default_value_t = 0)]
    pub(crate) rate: u64,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, default_value_t = 100)]
    pub(crate) batch: usize,
    /// Run the same load against anvil (path to its binary) in the same run and print the ratio.
    #[arg(long)]
    pub(crate) anvil: Option<PathBuf>,
    /// Run anvil with interval mining (`--block-time`, seconds) instead of one block per
    /// transaction.
    #[arg(long = "anvil-block-time")]
    pub(crate) anvil_block_time: Option<u64>,
}

/// Who acts, and which node: shared by every `vault` command.
#[derive(Debug, Args, Clone)]
pub(crate) struct IdentityArgs {
    /// Account to act as (its key is read from the keystore).
    #[arg(long, env = "LIGHTSTREAMS_ACCOUNT", conflicts_with = "private_key")]
    pub(crate) from: Option<String>,
    /// Private key to act as (hex), instead of a keystore account.
    #[arg(
        long = "private-key",
        env = "LIGHTSTREAMS_PRIVATE_KEY",
        hide_env_values = true
    )]
    pub(crate) private_key: Option<String>,
    #[command(flatten)]
    pub(crate) keystore: KeystoreArgs,
    /// Node URL: JSON-RPC and the vault API share it.
    #[arg(
        long,
        env = "LIGHTSTREAMS_RPC",
        default_value = "http://127.0.0.1:8545"
    )]
    pub(crate) rpc: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Announce a vault node in the on-chain node registry, run by this account: the node's
    /// key file signs the announcement, the account sends it. Peers find the node from it.
    Announce {
        /// The node's configuration file (its `key` signs the announcement).
        #[arg(long)]
        config: PathBuf,
        /// The URL peers and clients reach the node at (default: http:// + its rpc.addr).
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Let an account run vault nodes (announce them in the node registry), or stop it with
    /// `--off`: only the registry's admin may (dev account 0 on `dev`, `init` and `testnet`
    /// networks). A disapproved operator's nodes drop out of the registry at once.
    Approve {
        /// The operator account.
        operator: String,
        /// Withdraw the approval instead.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// The vault nodes in the node registry whose proofs check, and whether they answer.
    Nodes {
        /// Node URL (JSON-RPC).
        #[arg(
            long,
            env = "LIGHTSTREAMS_RPC",
            default_value = "http://127.0.0.1:8545"
        )]
        rpc: String,
    },
    /// How many live copies each object of an item has across the vault nodes.
    Health {
        /// Item id.
        id: String,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Encrypt a file and publish it as a new item.
    Add {
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Anyone may read it.
        #[arg(long)]
        public: bool,
        /// Media type (default: guessed from the name).
        #[arg(long = "media-type")]
        media_type: Option<String>,
        /// The name readers see (default: the file's name; `stdin` for `-`).
        #[arg(long)]
        name: Option<String>,
        /// Return once the node has stored it, without waiting for its copies on the other
        /// nodes (they follow within a repair round).
        #[arg(long = "no-wait")]
        no_wait: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Download and decrypt an item.
    #[command(disable_version_flag = true)]
    Get {
        /// Item id.
        id: String,
        /// Output file (default: the item's name in the current directory; a directory: the
        /// item's name in it; `-` for stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Version (default: the latest).
        #[arg(long)]
        version: Option<u64>,
        /// Only bytes START-END (inclusive).
        #[arg(long)]
        range: Option<String>,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Publish a new version of an item.
    Update {
        /// Item id.
        id: String,
        /// The new content (`-` for stdin).
        file: PathBuf,
        /// Media type (default: guessed from the name).
        #[arg(long = "media-type")]
        media_type: Option<String>,
        /// The name readers see (default: the file's name; for `-`, the latest version's).
        #[arg(long)]
        name: Option<String>,
        /// Return once the node has stored it, without waiting for its copies on the other
        /// nodes (they follow within a repair round).
        #[arg(long = "no-wait")]
        no_wait: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Grant an account read, write or admin on an item, and give it the key.
    Grant {
        /// Item id.
        id: String,
        /// The account.
        address: String,
        /// Read access.
        #[arg(long, group = "level")]
        read: bool,
        /// Read and publish new versions.
        #[arg(long, group = "level")]
        write: bool,
        /// Write, and grant or revoke read and write.
        #[arg(long, group = "level")]
        admin: bool,
        /// Expire after this long (e.g. 30s, 10m, 2h, 7d).
        #[arg(long)]
        expires: Option<String>,
        /// Return once the node has stored the grantee's key envelope, without waiting for its
        /// copies on the other nodes (they follow within a repair round).
        #[arg(long = "no-wait")]
        no_wait: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Revoke an account and re-key the item (later versions are sealed under a new key).
    Revoke {
        /// Item id.
        id: String,
        /// The account.
        address: String,
        /// Return once the node has stored the re-keyed version and envelopes, without waiting
        /// for their copies on the other nodes (they follow within a repair round).
        #[arg(long = "no-wait")]
        no_wait: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Make an item public (`--off`: private again, re-keyed).
    Public {
        /// Item id.
        id: String,
        /// Make it private again.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// List the items you own or were granted.
    Ls {
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Show an item's owner, epoch, flags and latest version.
    Info {
        /// Item id.
        id: String,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// List an item's versions.
    Versions {
        /// Item id.
        id: String,
        #[command(flatten)]
        who: IdentityArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MarketCommand {
    /// Put an item you own up for sale: the marketplace gets ADMIN on it (to grant buyers READ),
    /// the content key is split among the key keepers (so it sells while you are offline), and
    /// the listing goes on chain.
    List {
        /// Item id.
        id: String,
        /// Price, e.g. `3pht`, `0.5pht`, `1000wei`.
        #[arg(long)]
        price: String,
        /// A collaborator's cut, `ADDRESS:BPS` (basis points of the price; repeat for each).
        #[arg(long = "split", value_name = "ADDR:BPS")]
        splits: Vec<String>,
        /// Most copies to sell (default: unlimited).
        #[arg(long)]
        supply: Option<u64>,
        /// A key keeper's URL (repeat; default: the validators, as the node of --rpc knows them
        /// from `/v1/keepers`).
        #[arg(long = "keeper", value_name = "URL")]
        keepers: Vec<String>,
        /// Shares needed to rebuild the key (default: floor(2n/3)+1 of n keepers).
        #[arg(long)]
        threshold: Option<usize>,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Change the price of a listing.
    Price {
        /// Item id.
        id: String,
        /// The new price.
        price: String,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Stop selling an item (`--on`: sell it again).
    Delist {
        /// Item id.
        id: String,
        /// Reactivate the listing instead.
        #[arg(long)]
        on: bool,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Show what is for sale.
    Browse {
        /// Node URL.
        #[arg(
            long,
            env = "LIGHTSTREAMS_RPC",
            default_value = "http://127.0.0.1:8545"
        )]
        rpc: String,
    },
    /// Buy an item: pays the creator and collaborators and grants READ in one transaction.
    Buy {
        /// Item id.
        id: String,
        /// Buy it for someone else (a gift).
        #[arg(long = "for", value_name = "ADDRESS")]
        recipient: Option<String>,
        /// A discount offer file written by `market offer`.
        #[arg(long)]
        offer: Option<PathBuf>,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Sign a discount offer for an item you sell (the buyer redeems it with `buy --offer`).
    Offer {
        /// Item id.
        id: String,
        /// Discount, in percent (e.g. 25) or basis points with `bps` (e.g. 2500bps).
        #[arg(long)]
        discount: String,
        /// Only this buyer may redeem it (default: anyone).
        #[arg(long)]
        buyer: Option<String>,
        /// Valid for this long (e.g. 7d; default 30d).
        #[arg(long, default_value = "30d")]
        expires: String,
        /// Write the offer here (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        who: IdentityArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FansCommand {
    /// Send a message to everyone who may read an item you own (its buyers).
    Send {
        /// Item id.
        id: String,
        /// The message.
        text: String,
        /// Attach a discount offer written by `market offer`.
        #[arg(long)]
        offer: Option<PathBuf>,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Reply privately to the creator of an item you may read.
    Reply {
        /// Item id.
        id: String,
        /// The reply.
        text: String,
        #[command(flatten)]
        who: IdentityArgs,
    },
    /// Read the channel: creators' messages on items you may read, and replies on items you own.
    Inbox {
        /// Only this item.
        #[arg(long)]
        item: Option<String>,
        #[command(flatten)]
        who: IdentityArgs,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// Counts no machine could run are refused when the command line is read, with the range
    /// allowed, never a panic or a hang later.
    #[test]
    fn absurd_counts_are_refused_with_the_range() {
        for args in [
            &[
                "init",
                "--dir",
                "net",
                "--validators",
                "18446744073709551615",
            ][..],
            &["init", "--dir", "net", "--validators", "0"],
            &["init", "--dir", "net", "--full-nodes", "1001"],
            &["testnet", "--dir", "net", "--validators", "5000"],
            &["init", "--dir", "net", "--accounts", "4294967295"],
            &["dev", "--accounts", "1001"],
        ] {
            let err =
                Cli::try_parse_from(std::iter::once("lightstreams").chain(args.iter().copied()))
                    .expect_err("refused");
            assert!(err.to_string().contains("not in"), "{args:?}: {err}");
        }
        for args in [
            &["init", "--dir", "net", "--validators", "1000"][..],
            &["dev", "--accounts", "1000"],
            &["testnet", "--dir", "net", "--full-nodes", "0"],
        ] {
            Cli::try_parse_from(std::iter::once("lightstreams").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}
