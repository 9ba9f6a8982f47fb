//! Why a submitted transaction was refused, in geth's words.

use alloy::primitives::{Address, U256};

/// A transaction refused by `eth_sendRawTransaction`. Messages follow geth's wording so that
/// wallets and libraries that match on them (ethers.js, viem, Foundry) behave as on Ethereum.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxError {
    /// The bytes are not a transaction.
    #[error("invalid transaction encoding: {0}")]
    Decode(String),
    /// Larger than [`lightstreams_primitives::constants::MAX_TX_SIZE`].
    #[error("oversized data: transaction size {size}, limit {limit}")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An EIP-4844 or EIP-7702 transaction.
    #[error("transaction type not supported")]
    UnsupportedType,
    /// Signed for another chain.
    #[error("invalid chain id for signer: have {have} want {want}")]
    InvalidChainId {
        /// The transaction's chain id.
        have: u64,
        /// This chain's id.
        want: u64,
    },
    /// A legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    Unprotected,
    /// The signature does not recover to an address.
    #[error("invalid sender: {0}")]
    InvalidSignature(String),
    /// Nonce already used.
    #[error("nonce too low: address {address}, tx: {tx} state: {state}")]
    NonceTooLow {
        /// Sender.
        address: Address,
        /// Transaction nonce.
        tx: u64,
        /// Sender's next nonce.
        state: u64,
    },
    /// Nonce too far ahead of the account's.
    #[error("nonce too high: address {address}, tx: {tx} state: {state}")]
    NonceTooHigh {
        /// Sender.
        address: Address,
        /// Transaction nonce.
        tx: u64,
        /// Sender's next nonce.
        state: u64,
    },
    /// The sender cannot pay gas × price + value.
    #[error(
        "insufficient funds for gas * price + value: address {address} have {have} want {want}"
    )]
    InsufficientFunds {
        /// Sender.
        address: Address,
        /// Balance.
        have: U256,
        /// Cost.
        want: U256,
    },
    /// Gas limit below the intrinsic cost.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGasTooLow {
        /// Gas limit.
        gas: u64,
        /// Intrinsic cost.
        needed: u64,
    },
    /// Gas limit above the block gas limit.
    #[error("exceeds block gas limit")]
    GasLimitExceeded,
    /// Fee cap below the base fee.
    #[error(
        "max fee per gas less than block base fee: address {address}, maxFeePerGas: {fee_cap}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// Sender.
        address: Address,
        /// The fee cap.
        fee_cap: u128,
        /// The base fee.
        base_fee: u64,
    },
    /// Tip above fee cap.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// Already in the pool.
    #[error("already known")]
    AlreadyKnown,
    /// Same nonce as a pooled transaction without a 10% higher fee.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
    /// The pool is full.
    #[error("txpool is full")]
    PoolFull,
    /// The sender already has as many transactions queued behind a nonce gap as it may.
    #[error(
        "account limit exceeded: {address} has {queued} transactions waiting behind a nonce gap; send nonce {missing} first"
    )]
    AccountLimitExceeded {
        /// Sender.
        address: Address,
        /// Its transactions that cannot execute until the gap is filled.
        queued: usize,
        /// The first nonce missing.
        missing: u64,
    },
    /// Storage failed while validating.
    #[error("internal error: {0}")]
    Internal(String),
}
