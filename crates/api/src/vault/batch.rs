//! Batch reads: many sealed objects of one item in one request, streamed back in order.
//!
//! Two routes share the framing of [`lightstreams_network::batch`] (a status byte, a `u32`
//! length, the bytes, per object named):
//! - `POST /v1/raw/{item}/batch`: a client's read of many chunks or manifests, signed by the
//!   account like any raw `GET` (the object is `batch:` + the BLAKE3 hash of the body). The
//!   node sends its own copies (verified) and fetches the rest from the replicas, many per peer
//!   request, for this reader.
//! - `POST /v1/peer/{item}/batch`: a peer's read, from this node's disk only (see
//!   [`super::peers`]).
//!
//! A request per object costs about 0.4 ms of fixed work (signature, replay and ACL checks,
//! headers); a batch pays it once for up to 1024 objects. Frames are produced on a blocking
//! thread and handed to the response a few at a time: memory stays at a few objects per stream
//! (at most [`WINDOW`] while objects are being fetched from replicas).

use std::collections::HashSet;
use std::sync::Arc;

use alloy::primitives::Address;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use lightstreams_access::request::{ObjectRef, RequestKind};
use lightstreams_network::batch;
use lightstreams_vault::ItemId;
use tokio::sync::mpsc::Sender;

use super::custodial::blocking;
use super::{ApiError, Refused, Vault, object_of, signed_item, stream_body};

/// Most objects held at once while a client's batch is completed from replicas.
const WINDOW: usize = 16;

type Frames = Sender<Result<Bytes, std::io::Error>>;

/// Send one object's frame; `false` once the receiver has gone.
fn send_frame(tx: &Frames, bytes: Option<Vec<u8>>) -> bool {
    let head = batch::frame_header(bytes.as_ref().map(Vec::len));
    if tx.blocking_send(Ok(Bytes::copy_from_slice(&head))).is_err() {
        return false;
    }
    match bytes {
        Some(bytes) => tx.blocking_send(Ok(bytes.into())).is_ok(),
        None => true,
    }
}

/// A streamed response whose frames `produce` sends from a blocking thread.
fn framed(produce: impl FnOnce(&Frames) + Send + 'static) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || produce(&tx));
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        stream_body(rx),
    )
        .into_response()
}

impl Vault {
    /// Open a client's batch read: the signer and the blob addresses named, if the signer may
    /// read the item (else the uniform not-found).
    fn open_batch(
        &self,
        item: &ItemId,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(Address, Vec<[u8; 32]>), Refused> {
        let signed = ObjectRef::Batch(*blake3::hash(body).as_bytes());
        let who = self
            .authenticate(RequestKind::Get, item, &signed, header)
            .ok_or(Refused::NotFound)?;
        if !self.can_read(item, who) {
            return Err(Refused::NotFound);
        }
        let names = batch::decode_request(body).map_err(ApiError::bad_request)?;
        let addresses = names
            .iter()
            .map(|(kind, id)| match object_of(kind, id)? {
                ObjectRef::Chunk(a) | ObjectRef::Manifest(a) => Ok(a),
                _ => Err(ApiError::bad_request(format!(
                    "a batch names chunks or manifests only; got {kind:?}"
                ))
                .into()),
            })
            .collect::<Result<Vec<_>, Refused>>()?;
        Ok((who, addresses))
    }

    /// Stream a client's batch: each blob from this node's disk (verified), else from the
    /// replicas; absent when no intact copy is anywhere.
    fn stream_batch(&self, item: &ItemId, addresses: &[[u8; 32]], reader: Address, tx: &Frames) {
        let mut i = 0;
        while i < addresses.len() {
            if let Ok(Some(bytes)) = self
                .stores
                .get_blob(item, &lightstreams_vault::Address(addresses[i]))
            {
                if !send_frame(tx, Some(bytes)) {
                    return;
                }
                i += 1;
                continue;
            }
            // Not here (or damaged): complete the next window from replicas in one go.
            let end = (i + WINDOW).min(addresses.len());
            for bytes in self.blob_window(item, &addresses[i..end], reader) {
                if !send_frame(tx, bytes) {
                    return;
                }
            }
            i = end;
        }
    }

    /// Blobs of `item` from this node's disk, the rest fetched from replicas for `reader`;
    /// damaged local copies are replaced by the verified ones fetched.
    fn blob_window(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: Address,
    ) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(addresses.len());
        let mut damaged = HashSet::new();
        for (i, a) in addresses.iter().enumerate() {
            let address = lightstreams_vault::Address(*a);
            match self.stores.get_blob(item, &address) {
                Ok(found) => out.push(found),
                Err(e) => {
                    tracing::error!(item = %item, error = %e, "vault object unreadable; asking replicas");
                    let _ = self.stores.delete_blob(item, &address);
                    damaged.insert(i);
                    out.push(None);
                }
            }
        }
        self.blobs_from_peers(item, addresses, reader, &mut out);
        for i in damaged {
            if let Some(bytes) = &out[i] {
                self.keep_healed(item, &addresses[i], bytes);
            }
        }
        out
    }
}

/// `POST /v1/raw/{item}/batch`: a client's batch read.
pub(super) async fn raw_batch(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let opener = vault.clone();
    let (who, addresses) =
        blocking(move || opener.open_batch(&item, header.as_deref(), &body)).await?;
    Ok(framed(move |tx| {
        vault.stream_batch(&item, &addresses, who, tx)
    }))
}

/// `POST /v1/peer/{item}/batch`: a peer's batch read, from this node's disk only.
pub(super) async fn peer_batch(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let opener = vault.clone();
    let objects = blocking(move || opener.open_peer_batch(&item, header.as_deref(), &body)).await?;
    Ok(framed(move |tx| {
        for object in objects {
            if !send_frame(tx, object.and_then(|o| vault.batch_object(&item, &o))) {
                return;
            }
        }
    }))
}
