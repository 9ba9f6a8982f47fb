//! Define the data every Lightstreams crate shares: blocks, transactions, genesis and chain constants.
//!
//! The main types are [`Block`] (an Ethereum-style header plus signed transactions, with a
//! canonical RLP encoding and a cached Keccak hash), [`Genesis`] (the chain's initial state and
//! validator set, read from a JSON file) and the constants in [`constants`]. Transactions are
//! alloy's [`TxEnvelope`] (legacy, EIP-2930, EIP-1559, EIP-4844-less): nothing here is
//! hand-rolled. Execution lives in `lightstreams-chain`; ordering in `lightstreams-consensus`.
//!
//! # Example
//! ```
//! use lightstreams_primitives::{Genesis, constants::DEV_CHAIN_ID};
//! let genesis = Genesis::dev(3, vec![]);
//! assert_eq!(genesis.chain_id, DEV_CHAIN_ID);
//! assert_eq!(genesis.alloc.len(), 3 + 4); // three accounts, four system contracts
//! ```

pub mod block;
pub mod constants;
pub mod dev;
pub mod genesis;
pub mod system;

pub use alloy::consensus::{Header, TxEnvelope};
pub use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
pub use block::{Block, BlockError};
pub use genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator};
