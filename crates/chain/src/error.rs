//! Errors of the chain crate.

use alloy::primitives::B256;

/// A failure of storage or execution (not of a user's transaction: see [`crate::TxError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The embedded database failed.
    #[error("database error: {0}")]
    Db(String),
    /// A stored value could not be decoded: the data directory is corrupt or from another version.
    #[error("corrupt stored {what}: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A block refers to a parent this node has not executed and cannot find.
    #[error("unknown parent block {0}")]
    UnknownParent(B256),
    /// A block failed validation.
    #[error("invalid block {hash}: {reason}")]
    InvalidBlock {
        /// The block's hash.
        hash: B256,
        /// Why it is invalid.
        reason: String,
    },
    /// The data directory was created with a different genesis.
    #[error(
        "data directory holds a chain with genesis {stored}, but the genesis given has {given}; use another --data-dir or the matching genesis"
    )]
    GenesisMismatch {
        /// Genesis hash in the store.
        stored: B256,
        /// Genesis hash of the given genesis file.
        given: B256,
    },
    /// The EVM failed for a reason other than the transaction.
    #[error("evm error: {0}")]
    Evm(String),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Db(e.to_string())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
