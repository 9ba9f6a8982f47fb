//! The vault's errors.

/// Why a vault operation failed. Messages name what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Stored or received bytes do not hash to the address they were asked for by.
    #[error(
        "object {expected} is corrupt: its bytes hash to {actual} (tampered or damaged; fetch it again from another replica)"
    )]
    Corrupt {
        /// The address asked for.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// Authenticated decryption failed: wrong key, wrong position, or tampered ciphertext.
    #[error("cannot decrypt {what}: wrong key, wrong position, or tampered data")]
    Decrypt {
        /// What was being decrypted.
        what: String,
    },
    /// Bytes that decrypted correctly but do not form a valid object.
    #[error("malformed {0}")]
    Format(String),
    /// A size limit was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
