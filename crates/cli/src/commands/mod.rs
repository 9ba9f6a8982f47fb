//! One module per command.

mod account;
mod bench;
mod bench_market;
mod bench_p2p;
mod bench_vault;
mod dev;
mod fans;
mod market;
mod network;
mod send;
mod status;
mod vault;
mod vault_nodes;

use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};

/// Send logs to stderr, filtered by `--log` / RUST_LOG.
pub(crate) fn init_logging(cli: &Cli) {
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Run the chosen command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Dev(args) => dev::run(args, json),
        Command::Init(args) => network::init(args, json),
        Command::Node(args) => network::node(args),
        Command::Testnet(args) => network::testnet(args, json),
        Command::Account { command } => account::run(command, json),
        Command::Send(args) => send::run(args, json),
        Command::Status(args) => status::run(args, json),
        Command::Vault { command } => vault::run(command, json),
        Command::Market { command } => market::run(command, json),
        Command::Fans { command } => fans::run(command, json),
        Command::Bench { command } => bench::run(command, json),
    }
}

/// Print `value` as JSON, or `text` for humans.
pub(crate) fn print(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}
