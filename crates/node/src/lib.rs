//! Wire a Lightstreams node: configuration, chain, consensus, JSON-RPC and lifecycle.
//!
//! [`NodeConfig`] is the TOML file `lightstreams node --config FILE` reads; [`testnet`]
//! writes a whole local network of them; [`run`] starts a node from one and runs it until
//! Ctrl-C. The execution layer is `lightstreams-chain`, ordering is `lightstreams-consensus`
//! (commonware simplex), and the JSON-RPC server is `lightstreams-api`; [`ChainExecutor`] is
//! the glue that lets consensus drive the chain.

mod config;
pub mod dev;
mod executor;
mod run;
pub mod testnet;

pub use config::{
    ConfigError, NodeConfig, P2pConfig, PeerConfig, ResolvedConfig, RpcSection, TimingConfig,
    VaultSection,
};
pub use executor::ChainExecutor;
pub use run::{Error, NodeHandle, launch, run};
