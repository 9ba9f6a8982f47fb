//! Run the client side of the authorisation protocol: encryption keys, HPKE envelopes and their
//! locators, signed vault requests, and the protocol's operations (add, grant, revoke with
//! re-keying, read).
//!
//! The ACL itself lives on chain, in the access registry (`contracts/`, bound in [`acl`]); the
//! content is sealed by `lightstreams-vault`. [`keys::EncryptionKeyPair`] is an account's X25519
//! key; [`envelope`] wraps content keys to readers; [`request::SignedRequest`] is how every read
//! and write is authorised at a vault node; [`protocol::Client`] runs the operations over a
//! [`protocol::Ledger`] (the chain) and a [`protocol::Remote`] (a vault node); [`http`] provides
//! both over JSON-RPC and the node's HTTP API.
//! [`custody`] makes a content key recoverable by any `t` of `n` key keepers (Shamir over
//! HPKE), so a creator can sell while offline; [`keeper`] is how shares are deposited with
//! keepers and released to readers.
//!
//! # Example
//! ```
//! use lightstreams_access::envelope::{locator, open_envelope, seal_envelope};
//! use lightstreams_access::keys::EncryptionKeyPair;
//!
//! let (owner, reader) = (EncryptionKeyPair::generate(), EncryptionKeyPair::generate());
//! let (item, key) = ([1u8; 32], [2u8; 32]);
//! let envelope = seal_envelope(&reader.public_bytes(), &item, 0, &key).unwrap();
//! assert_eq!(open_envelope(&reader, &item, 0, &envelope).unwrap(), key);
//! // Only the two of them can compute where it is stored.
//! assert_eq!(
//!     locator(&owner, &reader.public_bytes(), &item, 0),
//!     locator(&reader, &owner.public_bytes(), &item, 0)
//! );
//! ```

pub mod acl;
pub mod custody;
pub mod envelope;
pub mod http;
pub mod keeper;
pub mod keys;
pub mod protocol;
pub mod request;

/// Errors of keys, envelopes and requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic operation failed.
    #[error("{0}")]
    Crypto(String),
    /// A request is malformed or its signature invalid.
    #[error("{0}")]
    Request(String),
}
