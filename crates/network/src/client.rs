//! A blocking HTTP client for peers' `/v1/peer` API.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::batch;
use crate::identity::{NodeId, NodeKey};
use crate::peer::{self, ForReader, Target};
use crate::stream;

/// The largest object a peer sends (a sealed manifest of about 250,000 chunks).
pub const MAX_OBJECT: u64 = 33 * 1024 * 1024;

/// A peer: its id and API URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Transport id.
    pub id: NodeId,
    /// API URL (`http://host:port`, no trailing slash).
    pub url: String,
    /// The port of its vault stream ([`crate::stream`]) on the URL's host, if it announced one
    /// (learned by [`PeerClient::probe`]); batch reads then skip HTTP.
    pub stream: Option<u16>,
}

/// Why a peer request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer did not answer.
    #[error("{0} is unreachable: {1}")]
    Unreachable(String, String),
    /// The peer does not have it, or will not say (the uniform not-found).
    #[error("not found")]
    NotFound,
    /// The peer answered with another status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The peer.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// The peer sent bytes that do not hash to the object's address.
    #[error("{0} sent a damaged copy")]
    Corrupt(String),
}

/// Which objects of one item a node holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Sealed chunks and manifests, by address (hex, no `0x`).
    #[serde(default)]
    pub blobs: Vec<String>,
    /// Envelopes, by locator (hex, no `0x`).
    #[serde(default)]
    pub envelopes: Vec<String>,
    /// Fan-channel messages, by number.
    #[serde(default)]
    pub messages: Vec<u64>,
    /// Fan-channel replies, by number.
    #[serde(default)]
    pub replies: Vec<u64>,
    /// The node takes no replicas of this item (its operator was revoked from it).
    #[serde(default)]
    pub declined: bool,
}

/// One object as named in a peer path: (kind, id).
pub type ObjectName = (&'static str, String);

impl Inventory {
    /// Every object's label ([`object_label`]), to compare holdings between nodes.
    pub fn labels(&self) -> std::collections::HashSet<String> {
        self.objects()
            .into_iter()
            .map(|(kind, id)| object_label(kind, &id))
            .collect()
    }

    /// Every object, as (path kind, path id).
    pub fn objects(&self) -> Vec<ObjectName> {
        let mut out = Vec::with_capacity(self.blobs.len() + self.envelopes.len());
        out.extend(self.blobs.iter().map(|a| ("chunks", format!("0x{a}"))));
        out.extend(
            self.envelopes
                .iter()
                .map(|l| ("envelopes", format!("0x{l}"))),
        );
        out.extend(self.messages.iter().map(|n| ("messages", n.to_string())));
        out.extend(self.replies.iter().map(|n| ("replies", n.to_string())));
        out
    }
}

/// One object's label, `kind/id` as in a peer path.
pub fn object_label(kind: &str, id: &str) -> String {
    format!("{kind}/{id}")
}

/// The placement key of an object named as in a peer path.
pub fn placement_key(item: &[u8; 32], kind: &str, id: &str) -> [u8; 32] {
    // Chunks and manifests share one content-addressed store: place them alike.
    let kind = if kind == "manifests" { "chunks" } else { kind };
    crate::placement::object_key(item, kind, id.as_bytes())
}

/// A node's client for its peers.
#[derive(Clone)]
pub struct PeerClient {
    key: NodeKey,
    /// For objects (up to a large manifest).
    agent: ureq::Agent,
    /// For inventories: small answers, so a slow peer is passed over quickly.
    control: ureq::Agent,
    /// For liveness probes.
    probe: ureq::Agent,
    /// How long a vault stream may stall.
    timeout: Duration,
    /// Connects to peers' vault streams, passing over for a while those it could not reach.
    dialer: stream::Dialer,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("id", &self.key.id())
            .finish()
    }
}

/// Most times a request is sent again after `429 Too Many Requests`.
const RETRIES_WHEN_BUSY: u32 = 6;
/// The longest wait between two of those, whatever `Retry-After` says.
const LONGEST_RETRY_WAIT: Duration = Duration::from_secs(5);

/// Send a request (built afresh by `send` each time) and, while the node answers `429` (the
/// sender's address already has its share of requests in progress there), send it again after
/// the `Retry-After` it gives (at most 5 s), up to 6 times; then the last answer is returned.
/// A signed request stays valid across the retries: a node answers 429 before it checks the
/// request or spends its nonce.
pub fn send_patiently(
    mut send: impl FnMut() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let mut attempt = 0;
    loop {
        let response = send()?;
        if response.status().as_u16() != 429 || attempt == RETRIES_WHEN_BUSY {
            return Ok(response);
        }
        attempt += 1;
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(1), Duration::from_secs)
            .min(LONGEST_RETRY_WAIT);
        std::thread::sleep(wait);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

impl PeerClient {
    /// A client signing as `key`; requests time out after `timeout`.
    pub fn new(key: NodeKey, timeout: Duration) -> Self {
        Self {
            key,
            agent: agent(timeout),
            control: agent(timeout.min(Duration::from_secs(10))),
            probe: agent(Duration::from_millis(1500)),
            timeout,
            dialer: stream::Dialer::default(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.key.id()
    }

    fn url(peer: &Peer, item: &[u8; 32], kind: &str, id: &str) -> String {
        if id.is_empty() {
            format!("{}/v1/peer/0x{}/{kind}", peer.url, hex::encode(item))
        } else {
            format!("{}/v1/peer/0x{}/{kind}/{id}", peer.url, hex::encode(item))
        }
    }

    fn header(
        &self,
        method: &str,
        peer: &Peer,
        item: &[u8; 32],
        kind: &str,
        id: &str,
        reader: Option<&ForReader>,
    ) -> String {
        let target = Target {
            method,
            item: *item,
            kind,
            id,
            node: peer.id,
        };
        peer::sign(
            &self.key,
            &target,
            reader.map_or(Address::ZERO, |r| r.address),
            now_secs(),
            reader.map(|r| r.vouch.as_str()),
        )
    }

    fn read(
        peer: &Peer,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, PeerError> {
        let status = response.status().as_u16();
        // Sized once from Content-Length: a 1 MiB chunk is not grown by doubling.
        let len = response
            .body()
            .content_length()
            .unwrap_or(0)
            .min(MAX_OBJECT);
        let mut body = Vec::with_capacity(len as usize);
        response
            .body_mut()
            .with_config()
            .limit(MAX_OBJECT)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| PeerError::Unreachable(peer.url.clone(), e.to_string()))?;
        match status {
            200 => Ok(body),
            404 => Err(PeerError::NotFound),
            _ => Err(PeerError::Status {
                url: peer.url.clone(),
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
        }
    }

    /// One object from `peer`, asked for on behalf of `reader` (who asked this node for it).
    /// Blobs are verified against their address here: a damaged copy is an error, never data.
    pub fn get(
        &self,
        peer: &Peer,
        item: &[u8; 32],
        kind: &str,
        id: &str,
        reader: &ForReader,
    ) -> Result<Vec<u8>, PeerError> {
        let header = self.header("GET", peer, item, kind, id, Some(reader));
        let response = send_patiently(|| {
            self.agent
                .get(Self::url(peer, item, kind, id))
                .header("authorization", &header)
                .call()
        })
        .map_err(|e| PeerError::Unreachable(peer.url.clone(), e.to_string()))?;
        let bytes = Self::read(peer, response)?;
        if matches!(kind, "chunks" | "manifests") {
            let address = id.trim_start_matches("0x");
            if blake3::hash(&bytes).to_hex().as_str() != address {
                return Err(PeerError::Corrupt(peer.url.clone()));
            }
        }
        Ok(bytes)
    }

    /// Many objects of `item` from `peer` in one request (at most [`batch::MAX_BATCH`]), asked
    /// for on behalf of `reader`. `each(i, bytes)` is called for every object in the order
    /// named: `Some` with its bytes (blobs verified against their address as they arrive),
    /// `None` when the peer did not send it or sent a damaged copy. `Err` means the peer refused
    /// the whole request (before any call) or the stream broke after the objects already passed
    /// to `each`. Memory: one object, whatever the number of objects.
    pub fn get_batch(
        &self,
        peer: &Peer,
        item: &[u8; 32],
        objects: &[ObjectName],
        reader: &ForReader,
        mut each: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), PeerError> {
        let body = batch::encode_request(objects);
        let id = batch::request_id(&body);
        let broken =
            |e: &dyn std::fmt::Display| PeerError::Unreachable(peer.url.clone(), e.to_string());
        if let Some(mut conn) = peer.stream.and_then(|port| self.connect_stream(peer, port)) {
            let request = stream::Request {
                write: false,
                item: *item,
                header: self.header("POST", peer, item, batch::KIND, &id, Some(reader)),
                list: body,
            };
            stream::write_request(&mut conn, &request).map_err(|e| broken(&e))?;
            // Read straight from the socket: a buffer in between would copy every byte again
            // (frame pieces are read whole into the object's buffer).
            return match stream::read_status(&mut conn) {
                Ok(true) => Self::read_frames(peer, objects, &mut conn, &mut each),
                Ok(false) => Err(PeerError::NotFound),
                Err(e) => Err(broken(&e)),
            };
        }
        let header = self.header("POST", peer, item, batch::KIND, &id, Some(reader));
        let mut response = send_patiently(|| {
            self.agent
                .post(Self::url(peer, item, batch::KIND, ""))
                .header("authorization", &header)
                .send(&body[..])
        })
        .map_err(|e| broken(&e))?;
        if response.status().as_u16() != 200 {
            return Self::read(peer, response).map(|_| ());
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        Self::read_frames(peer, objects, &mut reader, &mut each)
    }

    /// A TCP connection to `peer`'s vault stream, if it can be made (else the caller uses
    /// HTTP).
    fn connect_stream(&self, peer: &Peer, port: u16) -> Option<std::net::TcpStream> {
        self.dialer
            .connect(&peer.url, port, self.timeout)
            .map_err(|e| tracing::debug!(peer = %peer.id, error = %e, "vault stream unreachable; using HTTP"))
            .ok()
    }

    /// Read one frame per object named, verifying blobs as their pieces arrive, into one
    /// reused buffer.
    fn read_frames(
        peer: &Peer,
        objects: &[ObjectName],
        reader: &mut impl std::io::Read,
        each: &mut impl FnMut(usize, Option<&[u8]>),
    ) -> Result<(), PeerError> {
        let broken =
            |e: &dyn std::fmt::Display| PeerError::Unreachable(peer.url.clone(), e.to_string());
        let mut buf = Vec::new();
        for (i, (kind, id)) in objects.iter().enumerate() {
            let blob = matches!(*kind, "chunks" | "manifests");
            let mut hasher = blake3::Hasher::new();
            let here = batch::read_frame(reader, MAX_OBJECT, &mut buf, |piece| {
                if blob {
                    hasher.update(piece);
                }
            })
            .map_err(|e| broken(&e))?;
            if !here {
                each(i, None);
            } else if blob && hasher.finalize().to_hex().as_str() != id.trim_start_matches("0x") {
                tracing::warn!(peer = %peer.id, object = %object_label(kind, id), "a peer sent a damaged copy in a batch");
                each(i, None);
            } else {
                each(i, Some(&buf));
            }
        }
        Ok(())
    }

    /// One object from the first of `peers` that has an intact copy.
    pub fn get_any(
        &self,
        peers: &[Peer],
        item: &[u8; 32],
        kind: &str,
        id: &str,
        reader: &ForReader,
    ) -> Option<Vec<u8>> {
        for peer in peers {
            match self.get(peer, item, kind, id, reader) {
                Ok(bytes) => return Some(bytes),
                Err(PeerError::NotFound) => {}
                Err(e) => {
                    tracing::warn!(peer = %peer.id, error = %e, "peer fetch failed; trying the next replica")
                }
            }
        }
        None
    }

    /// Store one object on `peer` (replication).
    pub fn put(
        &self,
        peer: &Peer,
        item: &[u8; 32],
        kind: &str,
        id: &str,
        body: &[u8],
    ) -> Result<(), PeerError> {
        let header = self.header("PUT", peer, item, kind, id, None);
        let response = send_patiently(|| {
            self.agent
                .put(Self::url(peer, item, kind, id))
                .header("authorization", &header)
                .send(body)
        })
        .map_err(|e| PeerError::Unreachable(peer.url.clone(), e.to_string()))?;
        match response.status().as_u16() {
            200 | 204 => Ok(()),
            _ => Self::read(peer, response).map(|_| ()),
        }
    }

    /// What `peer` holds of `item`.
    pub fn inventory(&self, peer: &Peer, item: &[u8; 32]) -> Result<Inventory, PeerError> {
        let header = self.header("GET", peer, item, "inventory", "", None);
        let response = send_patiently(|| {
            self.control
                .get(Self::url(peer, item, "inventory", ""))
                .header("authorization", &header)
                .call()
        })
        .map_err(|e| PeerError::Unreachable(peer.url.clone(), e.to_string()))?;
        let bytes = Self::read(peer, response)?;
        serde_json::from_slice(&bytes).map_err(|e| PeerError::Status {
            url: peer.url.clone(),
            status: 200,
            body: format!("not an inventory: {e}"),
        })
    }

    /// Ask `peer` to prove it holds blob `address` of `item` ([`crate::possession`]): its
    /// answer to `challenge`.
    pub fn prove(
        &self,
        peer: &Peer,
        item: &[u8; 32],
        address: &[u8; 32],
        challenge: &[u8; 32],
    ) -> Result<[u8; 32], PeerError> {
        let id = crate::possession::request_id(address, challenge);
        let header = self.header("GET", peer, item, "proof", &id, None);
        let response = send_patiently(|| {
            self.control
                .get(Self::url(peer, item, "proof", &id))
                .header("authorization", &header)
                .call()
        })
        .map_err(|e| PeerError::Unreachable(peer.url.clone(), e.to_string()))?;
        let bytes = Self::read(peer, response)?;
        bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| PeerError::Status {
                url: peer.url.clone(),
                status: 200,
                body: format!("a proof is 32 bytes, not {}", bytes.len()),
            })
    }

    /// Whether the node at `url` answers as `id`.
    pub fn alive(&self, peer: &Peer) -> bool {
        self.probe(peer).is_some()
    }

    /// Probe `peer` (`GET /v1`): `None` unless it answers with its own node id; else the port
    /// of its vault stream, if it announces one.
    pub fn probe(&self, peer: &Peer) -> Option<Option<u16>> {
        let mut response = self.probe.get(format!("{}/v1", peer.url)).call().ok()?;
        if response.status().as_u16() != 200 {
            return None;
        }
        let info = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_json::<BTreeMap<String, serde_json::Value>>()
            .ok()?;
        if info.get("node_id").and_then(|v| v.as_str()) != Some(peer.id.to_string().as_str()) {
            return None;
        }
        Some(
            info.get("stream_port")
                .and_then(|v| v.as_u64())
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0),
        )
    }
}
