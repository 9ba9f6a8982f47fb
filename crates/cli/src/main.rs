//! The `lightstreams` command: run a node, a dev chain or a local testnet; manage accounts;
//! send PHT; inspect a node; benchmark.

mod args;
mod commands;
mod rpc;
mod units;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    commands::init_logging(&cli);
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
