//! Chain-wide constants: the dev chain id, the native token's units and the fee floor.

/// Chain id of the development network (`lightstreams dev`, `lightstreams testnet`).
pub const DEV_CHAIN_ID: u64 = 161;

/// One PHT in wei: the native token has 18 decimals, like ether.
pub const PHT: u128 = 1_000_000_000_000_000_000;

/// One gwei in wei.
pub const GWEI: u128 = 1_000_000_000;

/// The fixed base fee per gas, in wei, that every block carries.
///
/// Lightstreams does not adjust the base fee with load (blocks are never full for long on a
/// PoA chain); a constant floor keeps fee estimation trivial for wallets while still pricing gas.
pub const BASE_FEE_PER_GAS: u64 = 1_000_000_000;

/// Default block gas limit: room for about 9,500 plain transfers per block.
pub const DEFAULT_BLOCK_GAS_LIMIT: u64 = 200_000_000;

/// Largest accepted encoded transaction, in bytes (as geth's `txMaxSize`).
pub const MAX_TX_SIZE: usize = 128 * 1024;

/// Largest accepted encoded block, in bytes.
pub const MAX_BLOCK_SIZE: usize = 32 * 1024 * 1024;

/// Client name reported by `web3_clientVersion`.
pub const CLIENT_NAME: &str = "lightstreams";
