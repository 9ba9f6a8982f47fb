//! Batch reads: many sealed objects of one item in one request, streamed back in order.
//!
//! Two routes share the framing of [`lightstreams_network::batch`] (a status byte, a `u32`
//! length, the bytes, per object named):
//! - `POST /v1/raw/{item}/batch`: a client's read of many chunks or manifests, signed by the
//!   account like any raw `GET` (the object is `batch:` + the BLAKE3 hash of the body). The
//!   node sends its own copies (unverified: the client verifies each) and fetches the rest from
//!   the replicas, many per peer request, for this reader.
//! - `POST /v1/peer/{item}/batch`: a peer's read, from this node's disk only (see
//!   [`super::peers`]).
//!
//! - `PUT /v1/raw/{item}/batch`: a client's upload of many chunks or manifests, signed by the
//!   account for the list at the start of the body (see [`lightstreams_network::batch`]); the
//!   node needs WRITE, then hashes and writes each object as its pieces arrive, so an upload is
//!   one stream instead of a request and a round trip per chunk, and nothing is buffered.
//!
//! A request per object costs about 0.4 ms of fixed work (signature, replay and ACL checks,
//! headers); a batch pays it once for up to 1024 objects. Frames are produced on a blocking
//! thread and handed to the response a few at a time: memory stays at a few objects per stream
//! (at most [`WINDOW`] while objects are being fetched from replicas).

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lightstreams_access::request::{ObjectRef, RequestKind};
use lightstreams_network::batch;
use lightstreams_network::peer::ForReader;
use lightstreams_vault::ItemId;
use tokio::sync::mpsc::Sender;

use super::custodial::blocking;
use super::{
    ApiError, MAX_CHUNK_BODY, MAX_MANIFEST_BODY, Refused, Vault, object_of, signed_item,
    stream_body,
};

/// Most objects held at once while a client's batch is completed from replicas.
const WINDOW: usize = 16;

type Frames = Sender<Result<Bytes, std::io::Error>>;

/// Send one object's frame; `false` once the receiver has gone or stopped reading.
fn send_frame(tx: &Frames, bytes: Option<Vec<u8>>) -> bool {
    let head = batch::frame_header(bytes.as_ref().map(Vec::len));
    if !send_within(tx, Bytes::copy_from_slice(&head)) {
        return false;
    }
    match bytes {
        Some(bytes) => send_within(tx, bytes.into()),
        None => true,
    }
}

/// Hand `bytes` to a streamed response from a blocking thread: `false` if the client has gone,
/// or has read nothing for [`STALL`] (a client that opens a response and never reads it must
/// not hold the thread forever).
pub(super) fn send_within(tx: &Frames, bytes: Bytes) -> bool {
    match tx.try_send(Ok(bytes)) {
        Ok(()) => true,
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        Err(tokio::sync::mpsc::error::TrySendError::Full(item)) => {
            tokio::runtime::Handle::current()
                .block_on(tx.send_timeout(item, STALL))
                .is_ok()
        }
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

/// A blocking thread waits at most this long for the next piece of an upload.
const STALL: std::time::Duration = std::time::Duration::from_secs(60);
/// An upload's list (read before the uploader is known) must arrive within this long.
const LIST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Where an upload's objects come from: an HTTP request body or the vault stream. Frame
/// headers are read through `Read`; objects a piece at a time.
pub(super) trait UploadSource: std::io::Read {
    /// The next 1 to `max` bytes, or `None` where the input ends.
    fn piece(&mut self, max: usize) -> std::io::Result<Option<&[u8]>>;

    /// After the last object: an error if the input carries more bytes.
    fn end(&mut self) -> Result<(), Refused>;
}

/// A request body read on a blocking thread as it arrives, a piece at a time (the pieces
/// hyper hands over are passed on without a copy).
struct BlockingBody {
    handle: tokio::runtime::Handle,
    stream: axum::body::BodyDataStream,
    current: Bytes,
    /// The piece last handed out.
    last: Bytes,
}

impl BlockingBody {
    fn new(body: axum::body::Body) -> Self {
        Self {
            handle: tokio::runtime::Handle::current(),
            stream: body.into_data_stream(),
            current: Bytes::new(),
            last: Bytes::new(),
        }
    }
}

impl BlockingBody {
    /// Read an upload's list (its length, then the list) on the async side, before any
    /// blocking thread is taken: the sender is anonymous until its signature is checked, so the
    /// list must arrive within [`LIST_DEADLINE`], and a sender that stalls holds only a task.
    async fn read_list(&mut self) -> Result<Vec<u8>, String> {
        let deadline = tokio::time::Instant::now() + LIST_DEADLINE;
        let mut prefix = [0u8; 4];
        self.fill(&mut prefix, deadline)
            .await
            .map_err(|e| format!("an upload has no list length: {e}"))?;
        let mut list = vec![0u8; batch::list_len(prefix, "an upload")?];
        self.fill(&mut list, deadline)
            .await
            .map_err(|e| format!("an upload is cut short in its list: {e}"))?;
        Ok(list)
    }

    /// Fill `out` from the body by `deadline`.
    async fn fill(&mut self, out: &mut [u8], deadline: tokio::time::Instant) -> Result<(), String> {
        use futures::StreamExt;
        let mut at = 0;
        while at < out.len() {
            if self.current.is_empty() {
                match tokio::time::timeout_at(deadline, self.stream.next()).await {
                    Err(_) => {
                        return Err(format!(
                            "it did not arrive within {} s",
                            LIST_DEADLINE.as_secs()
                        ));
                    }
                    Ok(Some(Ok(bytes))) => self.current = bytes,
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(None) => return Err("the body ended".into()),
                }
                continue;
            }
            let n = (out.len() - at).min(self.current.len());
            out[at..at + n].copy_from_slice(&self.current.split_to(n));
            at += n;
        }
        Ok(())
    }
}

impl UploadSource for BlockingBody {
    /// A sender that stalls for [`STALL`] gets an error, so it cannot hold a blocking thread
    /// forever.
    fn piece(&mut self, max: usize) -> std::io::Result<Option<&[u8]>> {
        use futures::StreamExt;
        while self.current.is_empty() {
            let until = tokio::time::Instant::now() + STALL;
            let next = self
                .handle
                .block_on(tokio::time::timeout_at(until, self.stream.next()))
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "the upload stalled")
                })?;
            match next {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(None),
            }
        }
        let n = max.max(1).min(self.current.len());
        self.last = self.current.split_to(n);
        Ok(Some(&self.last))
    }

    fn end(&mut self) -> Result<(), Refused> {
        match self.piece(1) {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(ApiError::bad_request(
                "bytes follow the last object the list names: send exactly one frame per object",
            )
            .into()),
            Err(e) => Err(ApiError::bad_request(format!("the upload broke: {e}")).into()),
        }
    }
}

impl std::io::Read for BlockingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(piece) = self.piece(buf.len())? else {
            return Ok(0);
        };
        let n = piece.len();
        buf[..n].copy_from_slice(piece);
        Ok(n)
    }
}

/// An upload's objects as [`Vault::open_upload`] accepted them: each one's name (kind, id) and
/// its address with the largest size its kind may have.
pub(super) struct Upload {
    names: Vec<(String, String)>,
    objects: Vec<([u8; 32], usize)>,
    /// The account that signed it.
    who: alloy::primitives::Address,
}

impl Vault {
    /// Store a client's batch upload as it arrives over HTTP, once its list (read by the
    /// caller) passed its checks (see [`Vault::open_upload`] and [`Vault::store_upload`]).
    fn receive_batch(
        &self,
        item: &ItemId,
        header: Option<&str>,
        list: &[u8],
        body: &mut BlockingBody,
    ) -> Result<(), Refused> {
        let upload = self.open_upload(item, header, list)?;
        self.store_upload(item, &upload, body)
    }

    /// Check an upload's list before any object is read: only chunks and manifests, and the
    /// request signed for exactly this list by an account holding WRITE (else the uniform
    /// not-found).
    pub(super) fn open_upload(
        &self,
        item: &ItemId,
        header: Option<&str>,
        list: &[u8],
    ) -> Result<Upload, Refused> {
        let names = batch::decode_request(list).map_err(ApiError::bad_request)?;
        let objects = names
            .iter()
            .map(|(kind, id)| match object_of(kind, id)? {
                ObjectRef::Chunk(a) => Ok((a, MAX_CHUNK_BODY)),
                ObjectRef::Manifest(a) => Ok((a, MAX_MANIFEST_BODY)),
                _ => Err(ApiError::bad_request(format!(
                    "a batch upload carries chunks or manifests only; got {kind:?}: put other objects one at a time"
                ))
                .into()),
            })
            .collect::<Result<Vec<_>, Refused>>()?;
        let signed = ObjectRef::Batch(*blake3::hash(list).as_bytes());
        let who = self
            .authenticate(RequestKind::Put, item, &signed, header, |who| {
                self.level(item, who) >= 2
            })
            .ok_or(Refused::NotFound)?;
        Ok(Upload {
            names,
            objects,
            who,
        })
    }

    /// Read, check and store each object of an accepted upload as it arrives, hashed and
    /// written piece by piece. On any error the objects this call stored are removed again,
    /// unless another upload relied on one meanwhile (found it here, as a retry on another
    /// connection does): nothing half-written remains, and nothing another upload published
    /// is lost.
    pub(super) fn store_upload(
        &self,
        item: &ItemId,
        upload: &Upload,
        source: &mut impl UploadSource,
    ) -> Result<(), Refused> {
        let mut claimed = Vec::new();
        let received = self
            .receive_objects(item, upload, source, &mut claimed)
            .and_then(|()| source.end());
        for (address, stored) in claimed {
            let ended = match received {
                Ok(()) => super::Ended::Kept {
                    who: upload.who,
                    stored,
                },
                Err(_) => super::Ended::Failed { stored },
            };
            self.release_blob(item, address, ended);
        }
        if received.is_ok()
            && let Some(net) = &self.peers
        {
            net.touch(*item);
        }
        received
    }

    /// Read, check and store each object of an upload in order; `claimed` collects each
    /// address claimed (before looking whether it is here) and whether this call stored it.
    fn receive_objects(
        &self,
        item: &ItemId,
        upload: &Upload,
        source: &mut impl UploadSource,
        claimed: &mut Vec<([u8; 32], bool)>,
    ) -> Result<(), Refused> {
        let names = &upload.names;
        let cut = |i: usize, e: std::io::Error| {
            ApiError::bad_request(format!(
                "the upload ends inside object {i} ({}/{}): {e}",
                names[i].0, names[i].1
            ))
        };
        for (i, (address, limit)) in upload.objects.iter().enumerate() {
            let mut head = [0u8; 5];
            source.read_exact(&mut head).map_err(|e| cut(i, e))?;
            let len = batch::parse_frame_header(head)
                .map_err(ApiError::bad_request)?
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "object {i} is sent as absent: an upload carries every object its list names"
                    ))
                })? as usize;
            if len > *limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "object {i} is {len} bytes; a sealed object of its kind is at most {limit}"
                    ),
                )
                .into());
            }
            let address = lightstreams_vault::Address(*address);
            self.claim_blob(item, address.0);
            claimed.push((address.0, false));
            let mut writer = self
                .stores
                .blob_writer(item, &address)
                .map_err(|e| ApiError::internal(format!("cannot store: {e}")))?;
            let mut left = len;
            while left > 0 {
                let piece = source
                    .piece(left)
                    .map_err(|e| cut(i, e))?
                    .ok_or_else(|| cut(i, std::io::ErrorKind::UnexpectedEof.into()))?;
                left -= piece.len();
                writer
                    .write(piece)
                    .map_err(|e| ApiError::internal(format!("cannot store: {e}")))?;
            }
            match writer.finish() {
                Ok(true) => {
                    if let Some(last) = claimed.last_mut() {
                        last.1 = true;
                    }
                }
                Ok(false) => {}
                Err(lightstreams_vault::Error::Corrupt { actual, .. }) => {
                    return Err(ApiError::bad_request(format!(
                        "object {i} hashes to {actual}, not to {}/{} named in the list: an object's address is the BLAKE3 hash of its bytes",
                        names[i].0, names[i].1
                    ))
                    .into());
                }
                Err(e) => return Err(ApiError::internal(format!("cannot store: {e}")).into()),
            }
        }
        Ok(())
    }

    /// Open a client's batch read: the signer and the blob addresses named, if the signer may
    /// read the item (else the uniform not-found).
    pub(super) fn open_batch(
        &self,
        item: &ItemId,
        header: Option<&str>,
        body: &[u8],
    ) -> Result<(ForReader, Vec<[u8; 32]>), Refused> {
        let signed = ObjectRef::Batch(*blake3::hash(body).as_bytes());
        let who = self
            .authenticate(RequestKind::Get, item, &signed, header, |who| {
                self.can_read(item, who)
            })
            .ok_or(Refused::NotFound)?;
        let (kind, id) = signed.path_parts();
        let reader = ForReader::new(who, kind, &id, header.unwrap_or_default());
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
        Ok((reader, addresses))
    }

    /// Stream a client's batch: each blob from this node's disk, else from the replicas;
    /// absent when no copy is anywhere. Local copies are sent unverified, like a peer's: the
    /// client checks every object against its address and asks for a damaged one on its own
    /// (a single `GET` verifies this node's copy and replaces it from a replica), so the
    /// common case is not hashed twice.
    fn stream_batch(&self, item: &ItemId, addresses: &[[u8; 32]], reader: &ForReader, tx: &Frames) {
        let sent = |sent: bool| if sent { Ok(()) } else { Err(()) };
        let _ = self.walk_client_batch(
            item,
            addresses,
            reader,
            tx,
            |tx, address| match self.stores.get_blob_unverified(item, address) {
                Ok(Some(bytes)) => sent(send_frame(tx, Some(bytes))).map(|()| true),
                _ => Ok(false),
            },
            |tx, bytes| sent(send_frame(tx, bytes)),
        );
    }

    /// Walk a client's batch in order into `sink`: `local` sends an object from this node's
    /// disk and says whether it was there; each run of objects that are not is completed from
    /// the replicas for `reader`, [`WINDOW`] at a time, and handed to `fetched`. An error from
    /// either (the receiver has gone) ends the walk.
    pub(super) fn walk_client_batch<S, E>(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: &ForReader,
        mut sink: S,
        mut local: impl FnMut(&mut S, &lightstreams_vault::Address) -> Result<bool, E>,
        mut fetched: impl FnMut(&mut S, Option<Vec<u8>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while i < addresses.len() {
            if local(&mut sink, &lightstreams_vault::Address(addresses[i]))? {
                i += 1;
                continue;
            }
            // Not here (or damaged): complete the next window from replicas in one go.
            let end = (i + WINDOW).min(addresses.len());
            for bytes in self.blob_window(item, &addresses[i..end], reader) {
                fetched(&mut sink, bytes)?;
            }
            i = end;
        }
        Ok(())
    }

    /// Blobs of `item` from this node's disk, the rest fetched from replicas for `reader`;
    /// damaged local copies are replaced by the verified ones fetched.
    fn blob_window(
        &self,
        item: &ItemId,
        addresses: &[[u8; 32]],
        reader: &ForReader,
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
        vault.stream_batch(&item, &addresses, &who, tx)
    }))
}

/// `PUT /v1/raw/{item}/batch`: a client's batch upload, stored as it streams in.
pub(super) async fn raw_batch_put(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Refused> {
    let (item, header) = signed_item(&item, &headers)?;
    let mut body = BlockingBody::new(body);
    let list = body.read_list().await.map_err(ApiError::bad_request)?;
    blocking(move || vault.receive_batch(&item, header.as_deref(), &list, &mut body)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::mpsc;

    use super::*;
    use crate::vault::VaultConfig;

    /// A step of a scripted upload.
    enum Step<'a> {
        /// These bytes arrive.
        Bytes(Vec<u8>),
        /// Run this before reading on (another upload's turn).
        Run(Box<dyn FnOnce() + Send + 'a>),
        /// The connection breaks.
        Break,
    }

    /// An upload's input played from a script, so that two uploads interleave exactly as a
    /// test says (no timing involved).
    struct Scripted<'a> {
        steps: VecDeque<Step<'a>>,
        current: Vec<u8>,
        at: usize,
    }

    impl<'a> Scripted<'a> {
        fn new(steps: Vec<Step<'a>>) -> Self {
            Self {
                steps: steps.into(),
                current: Vec::new(),
                at: 0,
            }
        }

        /// Whether bytes are ready to read (`false`: the input ended).
        fn fill(&mut self) -> std::io::Result<bool> {
            while self.at == self.current.len() {
                match self.steps.pop_front() {
                    None => return Ok(false),
                    Some(Step::Bytes(bytes)) => (self.current, self.at) = (bytes, 0),
                    Some(Step::Run(run)) => run(),
                    Some(Step::Break) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "the connection broke",
                        ));
                    }
                }
            }
            Ok(true)
        }
    }

    impl std::io::Read for Scripted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if buf.is_empty() || !self.fill()? {
                return Ok(0);
            }
            let n = buf.len().min(self.current.len() - self.at);
            buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    impl UploadSource for Scripted<'_> {
        fn piece(&mut self, max: usize) -> std::io::Result<Option<&[u8]>> {
            if !self.fill()? {
                return Ok(None);
            }
            let start = self.at;
            self.at += max.max(1).min(self.current.len() - start);
            Ok(Some(&self.current[start..self.at]))
        }

        fn end(&mut self) -> Result<(), Refused> {
            match self.fill() {
                Ok(false) => Ok(()),
                _ => Err(ApiError::bad_request("more after the last object").into()),
            }
        }
    }

    fn vault(dir: &std::path::Path) -> Vault {
        let chain = lightstreams_chain::Chain::open(lightstreams_chain::ChainConfig::new(
            dir.join("chain"),
            lightstreams_primitives::Genesis::dev(1, vec![]),
        ))
        .expect("chain");
        Vault::open(chain, &VaultConfig::alone(dir.join("vault"))).expect("vault")
    }

    fn address(blob: &[u8]) -> [u8; 32] {
        *blake3::hash(blob).as_bytes()
    }

    /// An upload of these chunks, signed by one account.
    fn upload(blobs: &[&[u8]]) -> Upload {
        Upload {
            names: blobs
                .iter()
                .map(|b| ("chunks".into(), format!("0x{}", hex::encode(address(b)))))
                .collect(),
            objects: blobs.iter().map(|b| (address(b), MAX_CHUNK_BODY)).collect(),
            who: alloy::primitives::Address::repeat_byte(1),
        }
    }

    fn frame(blob: &[u8]) -> Step<'static> {
        let mut bytes = batch::frame_header(Some(blob.len())).to_vec();
        bytes.extend_from_slice(blob);
        Step::Bytes(bytes)
    }

    /// The first `n` bytes of `blob`'s frame: the connection breaks inside it.
    fn cut(blob: &[u8], n: usize) -> Step<'static> {
        let mut bytes = batch::frame_header(Some(blob.len())).to_vec();
        bytes.extend_from_slice(&blob[..n]);
        Step::Bytes(bytes)
    }

    fn here(vault: &Vault, item: &ItemId, blob: &[u8]) -> bool {
        matches!(
            vault
                .stores
                .get_blob(item, &lightstreams_vault::Address(address(blob))),
            Ok(Some(_))
        )
    }

    /// An upload stores a chunk, then breaks; meanwhile a retry on another connection finds
    /// that chunk here, stores the rest and completes. The broken upload's cleanup removes its
    /// other objects, not the chunk the retry (and its published version) relies on.
    #[test]
    fn a_failed_upload_keeps_a_blob_a_completed_retry_relied_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let vault = vault(dir.path());
        let item = ItemId([3; 32]);
        let (x, y, z) = (vec![1u8; 100], vec![2u8; 100], vec![3u8; 100]);
        let mut retry = Scripted::new(vec![frame(&x), frame(&z)]);
        let retried = std::sync::atomic::AtomicBool::new(false);
        let mut broken = Scripted::new(vec![
            frame(&x),
            Step::Run(Box::new(|| {
                let done = vault.store_upload(&item, &upload(&[&x, &z]), &mut retry);
                retried.store(done.is_ok(), std::sync::atomic::Ordering::Relaxed);
            })),
            cut(&y, 50),
            Step::Break,
        ]);
        let failed = vault.store_upload(&item, &upload(&[&x, &y]), &mut broken);
        assert!(failed.is_err(), "the broken upload succeeded");
        assert!(
            retried.load(std::sync::atomic::Ordering::Relaxed),
            "the retry failed"
        );
        assert!(here(&vault, &item, &x), "the retry's chunk was removed");
        assert!(here(&vault, &item, &z));
        assert!(!here(&vault, &item, &y), "half an object remains");
    }

    /// The other order: the retry has found the chunk here but not completed when the first
    /// upload breaks; the chunk stays for it. When no upload relies on a chunk, a broken
    /// upload removes what it stored.
    #[test]
    fn a_failed_upload_keeps_a_blob_an_upload_in_progress_relies_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let vault = vault(dir.path());
        let item = ItemId([4; 32]);
        let (x, y, z) = (vec![1u8; 100], vec![2u8; 100], vec![3u8; 100]);
        let (stored_tx, stored_rx) = mpsc::channel::<()>();
        let (fail_tx, fail_rx) = mpsc::channel::<()>();
        let (found_tx, found_rx) = mpsc::channel::<()>();
        let (finish_tx, finish_rx) = mpsc::channel::<()>();
        // Asserted once both uploads ended (a failed assertion inside would leave the second
        // one waiting).
        let kept_for_second = std::thread::scope(|s| {
            let first = s.spawn(|| {
                let mut source = Scripted::new(vec![
                    frame(&x),
                    Step::Run(Box::new(move || {
                        let _ = stored_tx.send(());
                        let _ = fail_rx.recv();
                    })),
                    Step::Break,
                ]);
                vault
                    .store_upload(&item, &upload(&[&x, &y]), &mut source)
                    .is_ok()
            });
            let second = s.spawn(|| {
                let mut source = Scripted::new(vec![
                    Step::Run(Box::new(move || {
                        let _ = stored_rx.recv();
                    })),
                    frame(&x),
                    Step::Run(Box::new(move || {
                        let _ = found_tx.send(());
                        let _ = finish_rx.recv();
                    })),
                    frame(&z),
                ]);
                vault
                    .store_upload(&item, &upload(&[&x, &z]), &mut source)
                    .is_ok()
            });
            found_rx.recv().expect("the second upload found the chunk");
            fail_tx.send(()).expect("first");
            assert!(!first.join().expect("first"), "the broken upload succeeded");
            let kept = here(&vault, &item, &x);
            finish_tx.send(()).expect("second");
            assert!(second.join().expect("second"), "the second upload failed");
            kept
        });
        assert!(kept_for_second, "removed under an upload that relies on it");
        assert!(here(&vault, &item, &x) && here(&vault, &item, &z));

        // Alone, a broken upload leaves nothing it stored.
        let w = vec![4u8; 100];
        let mut alone = Scripted::new(vec![frame(&w), cut(&y, 10), Step::Break]);
        assert!(
            vault
                .store_upload(&item, &upload(&[&w, &y]), &mut alone)
                .is_err()
        );
        assert!(!here(&vault, &item, &w) && !here(&vault, &item, &y));
        assert!(here(&vault, &item, &x), "a chunk it found here");
    }
}
