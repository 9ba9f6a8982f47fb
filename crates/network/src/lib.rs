//! Peer-to-peer transport of vault data between nodes.
//!
//! One job: let vault nodes find each other, decide who stores what, and move sealed objects
//! between them. It knows nothing about keys or plaintext: everything it carries is ciphertext
//! addressed by its BLAKE3 hash (or an HPKE envelope), and a receiver re-verifies what it can.
//!
//! - [`identity`]: a node's transport id is its ed25519 public key (the same key as its consensus
//!   identity); [`identity::NodeKey`] signs peer requests and registry proofs.
//! - [`registry`]: the on-chain node registry's bindings, and the off-chain check of each
//!   entry's proof (the EVM cannot verify ed25519).
//! - [`placement`]: rendezvous (highest random weight) hashing: every node computes the same
//!   ranked list of nodes for an object, and the first R are its replicas.
//! - [`possession`]: a peer's proof that it holds a blob (a keyed hash over a fresh challenge),
//!   asked before a node deletes an extra copy on the strength of that peer's copy.
//! - [`peer`]: the signed header of a node-to-node request (who asks, for which reader, which
//!   object, which target node, when, with which nonce).
//! - [`client`]: a blocking HTTP client for peers' `/v1/peer` API: get with failover, batch
//!   gets streamed and verified as they arrive, put, inventories, liveness probes.
//! - [`batch`]: the framing of a batch request (many objects of one item in one request).
//! - [`stream`]: the same batch reads and uploads over a plain TCP connection, no HTTP layer.
//! - [`local`]: the stream over a Unix-domain socket for clients on the node's machine, blobs
//!   handed over as open files.
//!
//! # Why HTTP over TCP and not iroh
//! The design named iroh (QUIC). A plain `iroh-blobs` transfer on loopback moved 263 MB/s when
//! the dependency was probed (`../shared/design/DEPENDENCIES.md`), while the node's existing
//! HTTP server (axum/hyper) already served sealed chunks to a client at about 1 GB/s including
//! the client's decryption. `lightstreams bench p2p` (with the CLI's `iroh-baseline` feature) runs a plain iroh-blobs transfer of
//! the same files in the same run: the vault stream moves them about 4.8-5x as fast, at about
//! a fifth of the CPU per byte (`BENCHMARKS.md`). Peers therefore speak the same HTTP API as clients,
//! under their own signed header; node identities are ed25519 keys as iroh's would be, and the
//! registry gives explicit addresses, so nothing needs relays or DNS. Bulk reads between nodes
//! (batches) go over the [`stream`] instead, a plain TCP connection with no HTTP layer: same
//! request, same checks, each object one frame. `lightstreams bench p2p` measures peer fetches
//! beside raw TCP (unverified and verified) and plain iroh-blobs transfers of the same bytes.

pub mod batch;
pub mod client;
pub mod identity;
#[cfg(unix)]
pub mod local;
pub mod peer;
pub mod placement;
pub mod possession;
pub mod registry;
pub mod stream;

pub use client::{PeerClient, PeerError};
pub use identity::{NodeId, NodeKey};
pub use registry::{Entry, NODE_REGISTRY};
