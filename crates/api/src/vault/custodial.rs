//! The custodial API: the node encrypts and decrypts for an account whose keystore it holds.
//!
//! `POST /v1/session` unlocks the account once (scrypt is slow by design) and returns a bearer
//! token; every other route takes `Authorization: Bearer TOKEN` (or `?token=` for media
//! elements that cannot set headers). The work itself is `lightstreams_access::protocol::Client`
//! over [`LocalLedger`] (this node's chain) and [`LocalRemote`] (this node's store, reached
//! through the same signed-request checks as the raw API).

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use lightstreams_access::acl::Level;
use lightstreams_access::protocol::{Client, Content, Identity, Ledger, ProtocolError, Remote};
use lightstreams_access::request::SignedRequest;
use lightstreams_chain::{CallError, Chain};
use lightstreams_vault::ItemId;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, Query, Refused, SESSION_TTL, Vault, parse_id, prune_sessions};

/// An unlocked account.
pub(crate) struct Session {
    signer: PrivateKeySigner,
    pub(crate) expires: Instant,
}

/// This node's chain as a [`Ledger`].
pub(crate) struct LocalLedger {
    chain: Arc<Chain>,
}

impl Ledger for LocalLedger {
    fn call(&self, to: Address, data: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
        let request = TransactionRequest::default()
            .to(to)
            .input(Bytes::from(data).into());
        self.chain
            .call(&request, self.chain.head_number())
            .map(|b| b.to_vec())
            .map_err(|e| ProtocolError::Chain(call_error(&e)))
    }

    fn transact_with_value(
        &self,
        signer: &PrivateKeySigner,
        to: Address,
        data: Vec<u8>,
        value: U256,
    ) -> Result<B256, ProtocolError> {
        let from = signer.address();
        let head = self.chain.head();
        let number = head.header().number;
        let request = TransactionRequest::default()
            .from(from)
            .to(to)
            .value(value)
            .input(Bytes::from(data.clone()).into());
        let gas = self
            .chain
            .estimate_gas(&request, number)
            .map_err(|e| ProtocolError::Chain(call_error(&e)))?;
        let (_, state_nonce, _) = self
            .chain
            .account(&from, number)
            .map_err(|e| ProtocolError::Chain(e.to_string()))?;
        let nonce = self.chain.mempool().pending_nonce(&from, state_nonce);
        let base_fee = u128::from(head.header().base_fee_per_gas.unwrap_or(0));
        let mut tx = TxEip1559 {
            chain_id: self.chain.chain_id(),
            nonce,
            gas_limit: gas + gas / 5,
            max_fee_per_gas: base_fee * 2,
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(to),
            value,
            input: data.into(),
            ..Default::default()
        };
        let signature = signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| ProtocolError::Crypto(e.to_string()))?;
        let raw = tx.into_signed(signature).encoded_2718();
        let hash = self
            .chain
            .submit_raw(&raw)
            .map_err(|e| lightstreams_access::protocol::send_refused(from, e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((receipt, _)) = self
                .chain
                .receipt(&hash)
                .map_err(|e| ProtocolError::Chain(e.to_string()))?
            {
                if !receipt.success {
                    return Err(ProtocolError::Chain(format!("transaction {hash} reverted")));
                }
                return Ok(hash);
            }
            if Instant::now() > deadline {
                return Err(ProtocolError::Chain(format!(
                    "transaction {hash} was not finalised within 60 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn logs(&self, address: Address, topics: [Option<B256>; 4]) -> Result<Vec<Log>, ProtocolError> {
        let mut filter = Filter::new().address(address);
        for (i, topic) in topics.iter().enumerate() {
            if let Some(t) = topic {
                filter.topics[i] = (*t).into();
            }
        }
        let head = self.chain.head_number();
        let mut out = Vec::new();
        let mut from = 0u64;
        while from <= head {
            let to = (from + crate::filters::MAX_BLOCK_RANGE - 1).min(head);
            out.extend(
                crate::filters::logs_in_range(&self.chain, &filter, from, to)
                    .map_err(|e| ProtocolError::Chain(format!("{e:?}")))?,
            );
            from = to + 1;
        }
        Ok(out)
    }
}

/// A revert's custom error, named, or the chain's message.
fn call_error(e: &CallError) -> String {
    if let CallError::Reverted { data, .. } = e {
        return lightstreams_access::acl::describe_revert(data);
    }
    e.to_string()
}

/// This node's store as a [`Remote`], through the same checks as the raw API.
pub(crate) struct LocalRemote {
    vault: Arc<Vault>,
}

impl Remote for LocalRemote {
    fn node_id(&self) -> String {
        self.vault.node_id.clone()
    }

    fn keeper_key(&self) -> Option<[u8; 32]> {
        self.vault.keeper.as_ref().map(|k| k.public_bytes())
    }

    fn connect_peer(&self, url: &str) -> Result<Box<dyn Remote + Send + Sync>, ProtocolError> {
        Ok(Box::new(lightstreams_access::http::HttpRemote::connect(
            url,
        )?))
    }

    fn put(&self, request: &SignedRequest, body: &[u8]) -> Result<(), ProtocolError> {
        let header = request.to_header();
        self.vault
            .serve_put(&ItemId(request.item), &request.object, Some(&header), body)
            .map_err(|e| match e {
                Refused::NotFound => ProtocolError::NotFound(ItemId(request.item).to_string()),
                Refused::Api(e) => ProtocolError::Remote(e.message),
            })
    }

    fn get(&self, request: &SignedRequest) -> Result<Option<Vec<u8>>, ProtocolError> {
        let header = request.to_header();
        self.vault
            .serve_get(&ItemId(request.item), &request.object, Some(&header))
            .map_err(ProtocolError::Remote)
    }

    fn delete(&self, request: &SignedRequest) -> Result<(), ProtocolError> {
        let header = request.to_header();
        self.vault
            .serve_delete(&ItemId(request.item), &request.object, Some(&header))
            .map_err(|_| ProtocolError::NotFound(ItemId(request.item).to_string()))
    }
}

pub(crate) type LocalClient = Client<LocalLedger, LocalRemote>;

pub(crate) fn client(vault: &Arc<Vault>, signer: PrivateKeySigner) -> LocalClient {
    Client::new(
        LocalLedger {
            chain: vault.chain.clone(),
        },
        LocalRemote {
            vault: vault.clone(),
        },
        Identity::from_signer(signer),
    )
}

/// The session's signer, from `Authorization: Bearer` or `?token=`.
pub(crate) fn session(
    vault: &Vault,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<PrivateKeySigner, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or(query_token)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "no_session",
                "this route needs a session: POST /v1/session {\"account\", \"password\"}, then send Authorization: Bearer TOKEN",
            )
        })?;
    prune_sessions(vault);
    let mut sessions = vault.sessions.lock();
    let session = sessions.get_mut(token.trim()).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_session",
            "unknown or expired session token: POST /v1/session again",
        )
    })?;
    session.expires = Instant::now() + SESSION_TTL;
    Ok(session.signer.clone())
}

pub(crate) fn protocol_error(e: ProtocolError) -> Refused {
    match e {
        ProtocolError::NotFound(_) | ProtocolError::NoKey { .. } => Refused::NotFound,
        ProtocolError::Io(e) | ProtocolError::Vault(lightstreams_vault::Error::Io(e)) => {
            Refused::Api(ApiError::bad_request(format!(
                "the upload could not be read to its end ({e}); nothing was published"
            )))
        }
        ProtocolError::Chain(m) => Refused::Api(ApiError::new(StatusCode::CONFLICT, "refused", m)),
        ProtocolError::NoEncryptionKey(_) => Refused::Api(ApiError::new(
            StatusCode::CONFLICT,
            "no_encryption_key",
            e.to_string(),
        )),
        ProtocolError::Input(m) => Refused::Api(ApiError::bad_request(m)),
        ProtocolError::Integrity(m) => {
            Refused::Api(ApiError::new(StatusCode::BAD_GATEWAY, "integrity", m))
        }
        other => Refused::Api(ApiError::internal(other.to_string())),
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

#[derive(Deserialize)]
struct SessionRequest {
    account: String,
    password: String,
}

async fn open_session(
    State(vault): State<Arc<Vault>>,
    body: Result<axum::Json<SessionRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Refused> {
    let axum::Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!("expected JSON {{\"account\", \"password\"}}: {e}"))
    })?;
    let account: Address = body.account.parse().map_err(|e| {
        ApiError::bad_request(format!("account {:?} is not an address: {e}", body.account))
    })?;
    let dir = vault.keystore.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_keystore",
            "this node holds no keystore; encrypt on the client (`lightstreams vault`) instead",
        )
    })?;
    // One attempt at a time per account, and a growing wait after each wrong password.
    if let Err(wait) = vault.logins.begin(account, Instant::now()) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let body = json!({"error": {"code": "too_many_attempts", "message": format!(
            "too many wrong passwords for {account:#x} (or an attempt is still being checked): try again in {secs} s"
        )}});
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            axum::Json(body),
        )
            .into_response());
    }
    // Ok(Ok(signer)), Ok(Err(whether the keystore holds the account)), or Err: unreadable.
    let unlocked = tokio::task::spawn_blocking(move || {
        let wanted = hex::encode(account);
        // No keystore directory yet (no account was ever added to it) holds no account.
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => Some(entries),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read keystore: {e}")),
        };
        let mut known = false;
        for entry in entries.into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_lowercase();
            if name.ends_with(&wanted) {
                known = true;
                if let Ok(signer) = PrivateKeySigner::decrypt_keystore(entry.path(), &body.password)
                    && signer.address() == account
                {
                    return Ok(Ok(signer));
                }
            }
        }
        Ok(Err(known))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let signer = match unlocked {
        Ok(Ok(signer)) => {
            vault.logins.succeeded(account);
            signer
        }
        Ok(Err(known)) => {
            vault.logins.failed(account, known, Instant::now());
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "no such account in this node's keystore, or the wrong password",
            )
            .into());
        }
        Err(e) => {
            vault.logins.abandoned(account, Instant::now());
            return Err(ApiError::internal(e).into());
        }
    };
    let token = hex::encode(rand::random::<[u8; 32]>());
    vault.sessions.lock().insert(
        token.clone(),
        Session {
            signer,
            expires: Instant::now() + SESSION_TTL,
        },
    );
    Ok(
        axum::Json(
            json!({"token": token, "account": account, "expires_in": SESSION_TTL.as_secs()}),
        )
        .into_response(),
    )
}

#[derive(Deserialize, Default)]
struct UploadQuery {
    name: Option<String>,
    media_type: Option<String>,
    #[serde(default)]
    public: bool,
    /// Answer only once the item's objects have their copies on the other nodes (default).
    wait: Option<bool>,
    token: Option<String>,
}

/// How long an upload's answer waits for the item's copies on the other nodes.
const REPLICATION_WAIT: Duration = Duration::from_secs(120);

/// `published` as JSON, with how far the item is replicated once every object has its live
/// copies (or [`REPLICATION_WAIT`] passed) unless the query said `wait=false`.
fn published_json(
    vault: &Vault,
    query: &UploadQuery,
    published: &lightstreams_access::protocol::Published,
) -> Result<serde_json::Value, Refused> {
    let mut value =
        serde_json::to_value(published).map_err(|e| ApiError::internal(e.to_string()))?;
    if query.wait != Some(false) {
        let (copies, wanted) = vault.wait_replicated(&published.item, REPLICATION_WAIT);
        value["copies"] = copies.into();
        value["copies_wanted"] = wanted.into();
    }
    Ok(value)
}

/// A blocking `Read` over chunks sent from the async side.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Where an upload's bytes come from: a raw body or the `file` field of a multipart form.
enum Upload {
    Raw(Body),
    Multipart(Multipart),
}

/// Pump the upload into a channel; returns the reader and the file name a form gave.
async fn pump(upload: Upload) -> Result<(ChannelReader, Option<String>, Option<String>), ApiError> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut name = None;
    let mut media_type = None;
    match upload {
        Upload::Raw(body) => {
            let mut stream = body.into_data_stream();
            tokio::spawn(async move {
                while let Some(next) = stream.next().await {
                    let item = next.map_err(std::io::Error::other);
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        break;
                    }
                }
            });
        }
        Upload::Multipart(mut form) => {
            // The field borrows the form, so one task owns both: it finds the `file` field,
            // reports its name and type, then streams its bytes.
            let (meta_tx, meta_rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let mut field = loop {
                    match form.next_field().await {
                        Ok(Some(field)) if field.name() == Some("file") => break field,
                        Ok(Some(_)) => continue,
                        Ok(None) => {
                            let _ = meta_tx.send(Err(ApiError::bad_request(
                                "the multipart form has no field named \"file\"",
                            )));
                            return;
                        }
                        Err(e) => {
                            let _ = meta_tx.send(Err(ApiError::bad_request(format!(
                                "malformed multipart body: {e}"
                            ))));
                            return;
                        }
                    }
                };
                let meta = (
                    field.file_name().map(str::to_owned),
                    field.content_type().map(str::to_owned),
                );
                if meta_tx.send(Ok(meta)).is_err() {
                    return;
                }
                loop {
                    let (send, stop) = match field.chunk().await {
                        Ok(Some(bytes)) => (Ok(bytes), false),
                        Ok(None) => break,
                        Err(e) => (Err(std::io::Error::other(e.to_string())), true),
                    };
                    if tx.send(send).await.is_err() || stop {
                        break;
                    }
                }
            });
            let (n, t) = meta_rx
                .await
                .map_err(|_| ApiError::bad_request("the multipart upload ended early"))??;
            name = n;
            media_type = t;
        }
    }
    Ok((
        ChannelReader {
            rx,
            current: bytes::Bytes::new(),
        },
        name,
        media_type,
    ))
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

async fn upload_source(
    headers: &HeaderMap,
    request: axum::extract::Request,
) -> Result<Upload, ApiError> {
    if is_multipart(headers) {
        let form = <Multipart as axum::extract::FromRequest<()>>::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request(format!("malformed multipart body: {e}")))?;
        Ok(Upload::Multipart(form))
    } else {
        Ok(Upload::Raw(request.into_body()))
    }
}

async fn add_file(
    State(vault): State<Arc<Vault>>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, Refused> {
    let signer = session(&vault, &headers, query.token.as_deref())?;
    let upload = upload_source(&headers, request).await?;
    let (reader, form_name, form_type) = pump(upload).await?;
    let content = content_of(&query, form_name, form_type, &headers);
    let public = query.public;
    let published = blocking(move || {
        let published = client(&vault, signer)
            .add(reader, &content, public, |_| {})
            .map_err(protocol_error)?;
        published_json(&vault, &query, &published)
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(published)).into_response())
}

fn content_of(
    query: &UploadQuery,
    form_name: Option<String>,
    form_type: Option<String>,
    headers: &HeaderMap,
) -> Content {
    let name = query.name.clone().or(form_name).unwrap_or_default();
    // A body's or form field's type that says nothing about the file (curl's default for
    // `--data-binary`, a browser's for an unknown file) gives way to a guess from the name.
    let specific = |t: &String| {
        let essence = lightstreams_vault::media_essence(t);
        essence != "application/x-www-form-urlencoded"
            && essence != "application/octet-stream"
            && !essence.starts_with("multipart/")
    };
    let media_type = query
        .media_type
        .clone()
        .or(form_type.filter(specific))
        .or_else(|| {
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .filter(specific)
        })
        .unwrap_or_else(|| {
            mime_guess::from_path(&name)
                .first_or_octet_stream()
                .to_string()
        });
    Content { name, media_type }
}

async fn update_file(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, query.token.as_deref())?;
    let upload = upload_source(&headers, request).await?;
    let (reader, form_name, form_type) = pump(upload).await?;
    let content = content_of(&query, form_name, form_type, &headers);
    let published = blocking(move || {
        let published = client(&vault, signer)
            .update(item, reader, &content, |_| {})
            .map_err(protocol_error)?;
        published_json(&vault, &query, &published)
    })
    .await?;
    Ok(axum::Json(published).into_response())
}

#[derive(Deserialize, Default)]
struct DownloadQuery {
    version: Option<u64>,
    token: Option<String>,
}

/// Parse a single `bytes=` range against a size; `Err` is unsatisfiable.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multiple ranges: answer with the whole file, as many servers do.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 || size == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end: u64 = end.parse().map_err(|_| ())?;
            (start, end.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn download_file(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    Query(query): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, query.token.as_deref())?;
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let version = query.version;
    let client = Arc::new(client(&vault, signer));
    let opened = {
        let client = client.clone();
        blocking(move || client.open(item, version).map_err(protocol_error)).await?
    };
    let size = opened.manifest.size;
    let range = match range_header.as_deref().map(|r| parse_range(r, size)) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(range))) => Some(range),
        Some(Err(())) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                axum::Json(json!({"error": {"code": "bad_range", "message": format!("the range is outside the file's {size} bytes")}})),
            )
                .into_response());
        }
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end - start + 1 };
    let served = Served::new(&opened.manifest.name, &opened.manifest.media_type);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    if length > 0 {
        tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter { tx: tx.clone() };
            if let Err(e) = client.read_range(&opened, start, end, &mut writer, |_| {}) {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
    }
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, served.content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_DISPOSITION, served.disposition)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        // Decrypted for one account: no shared cache keeps it, and the URL (which may carry
        // the session token) is not sent on as a referrer.
        .header(header::CACHE_CONTROL, "private")
        .header(header::REFERRER_POLICY, "no-referrer");
    if served.sandbox {
        response = response.header(header::CONTENT_SECURITY_POLICY, "sandbox");
    }
    response = if range.is_some() {
        response
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
    } else {
        response.status(StatusCode::OK)
    };
    response
        .body(super::stream_body(rx))
        .map_err(|e| ApiError::internal(e.to_string()).into())
}

/// How a downloaded file is labelled. The name and media type come from the manifest, which
/// whoever published the version wrote, and the response comes from this node's origin, where
/// session tokens live (`?token=` in the very URL). So a file is shown inline only if browsers
/// display its type passively (audio, video, raster images, plain text, PDF); anything else
/// (HTML, SVG, XML, scripts, unknown types) is offered as an attachment, every answer forbids
/// type sniffing, and all but PDFs (which Chromium will not render in a sandbox) run in a CSP
/// sandbox: an opaque origin with no scripts, so a hostile file cannot read the token.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    content_type: String,
    disposition: String,
    sandbox: bool,
}

impl Served {
    fn new(name: &str, media_type: &str) -> Self {
        let content_type = if lightstreams_vault::check_media_type(media_type).is_ok() {
            media_type.to_string()
        } else {
            "application/octet-stream".to_string()
        };
        let essence = lightstreams_vault::media_essence(&content_type);
        let passive = matches!(essence.split_once('/'), Some(("audio" | "video", _)))
            || (essence.starts_with("image/") && essence != "image/svg+xml")
            || essence == "text/plain"
            || essence == "application/pdf";
        // An ASCII fallback, and the exact name as RFC 8187 UTF-8 for clients that read it.
        let ascii: String = name
            .chars()
            .map(|c| match c {
                ' '..='~' if c != '"' && c != '\\' => c,
                _ => '_',
            })
            .collect();
        let mut encoded = String::new();
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        Self {
            content_type,
            disposition: format!(
                "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
                if passive { "inline" } else { "attachment" }
            ),
            sandbox: essence != "application/pdf",
        }
    }
}

/// A blocking `Write` that sends its bytes to the async response body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !super::batch::send_within(&self.tx, bytes::Bytes::copy_from_slice(buf)) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client went away or stopped reading",
            ));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
}

async fn item_info(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, query.token.as_deref())?;
    let info = blocking(move || client(&vault, signer).info(item).map_err(protocol_error)).await?;
    Ok(axum::Json(info).into_response())
}

async fn list_items(
    State(vault): State<Arc<Vault>>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let signer = session(&vault, &headers, query.token.as_deref())?;
    let items = blocking(move || client(&vault, signer).list().map_err(protocol_error)).await?;
    Ok(axum::Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
struct GrantRequest {
    account: String,
    level: String,
    /// Seconds from now; absent = never expires.
    expires_in: Option<u64>,
}

/// Parse a level name.
pub(crate) fn parse_level(text: &str) -> Result<Level, ApiError> {
    match text.to_ascii_lowercase().as_str() {
        "read" => Ok(Level::READ),
        "write" => Ok(Level::WRITE),
        "admin" => Ok(Level::ADMIN),
        other => Err(ApiError::bad_request(format!(
            "level {:?} is not one of read, write, admin",
            super::truncate(other, 20)
        ))),
    }
}

async fn grant(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<GrantRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let axum::Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "expected JSON {{\"account\", \"level\": \"read|write|admin\", \"expires_in\"?}}: {e}"
        ))
    })?;
    let who: Address = body.account.parse().map_err(|e| {
        ApiError::bad_request(format!("account {:?} is not an address: {e}", body.account))
    })?;
    let level = parse_level(&body.level)?;
    let expiry = match body.expires_in {
        None => None,
        Some(s) => Some(super::now_secs().checked_add(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "expires_in {s} s lies past the end of time: give seconds from now, e.g. 86400 for a day"
            ))
        })?),
    };
    let tx = blocking(move || {
        client(&vault, signer)
            .grant(item, who, level, expiry)
            .map_err(protocol_error)
    })
    .await?;
    Ok(axum::Json(
        json!({"transaction": tx, "account": who, "level": body.level, "expiry": expiry}),
    )
    .into_response())
}

async fn revoke(
    State(vault): State<Arc<Vault>>,
    Path((item, account)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let who: Address = account.parse().map_err(|e| {
        ApiError::bad_request(format!("account {account:?} is not an address: {e}"))
    })?;
    let rekeyed = blocking(move || {
        client(&vault, signer)
            .revoke(item, who)
            .map_err(protocol_error)
    })
    .await?;
    Ok(axum::Json(json!({"revoked": who, "rekeyed_version": rekeyed})).into_response())
}

#[derive(Deserialize)]
struct PublicRequest {
    public: bool,
}

async fn set_public(
    State(vault): State<Arc<Vault>>,
    Path(item): Path<String>,
    headers: HeaderMap,
    body: Result<axum::Json<PublicRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Refused> {
    let item = ItemId(parse_id("item id", &item)?);
    let signer = session(&vault, &headers, None)?;
    let axum::Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!("expected JSON {{\"public\": true|false}}: {e}"))
    })?;
    let public = body.public;
    blocking(move || {
        client(&vault, signer)
            .set_public(item, public)
            .map_err(protocol_error)
    })
    .await?;
    Ok(axum::Json(json!({"item": item.to_string(), "public": public})).into_response())
}

/// The custodial routes.
pub(super) fn router() -> Router<Arc<Vault>> {
    Router::new()
        .route("/v1/session", post(open_session))
        .route(
            "/v1/files",
            post(add_file).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/files/{item}",
            get(download_file)
                .put(update_file)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/items", get(list_items))
        .route("/v1/items/{item}", get(item_info))
        .route("/v1/items/{item}/grants", post(grant))
        .route("/v1/items/{item}/grants/{account}", delete(revoke))
        .route("/v1/items/{item}/public", put(set_public))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media_type(
        query_type: Option<&str>,
        name: &str,
        form_type: Option<&str>,
        header: Option<&str>,
    ) -> String {
        let query = UploadQuery {
            name: Some(name.into()),
            media_type: query_type.map(Into::into),
            ..Default::default()
        };
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(header::CONTENT_TYPE, h.parse().expect("header value"));
        }
        content_of(&query, None, form_type.map(Into::into), &headers).media_type
    }

    #[test]
    fn downloads_are_labelled_so_a_hostile_file_cannot_run_on_this_origin() {
        let song = Served::new("Été.mp3", "audio/mpeg");
        assert_eq!(song.content_type, "audio/mpeg");
        assert_eq!(
            song.disposition,
            "inline; filename=\"_t_.mp3\"; filename*=UTF-8''%C3%89t%C3%A9.mp3"
        );
        assert!(song.sandbox);
        for active in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/javascript",
            "x/unknown",
        ] {
            let served = Served::new("a.html", active);
            assert!(served.disposition.starts_with("attachment;"), "{active}");
            assert!(served.sandbox, "{active}");
        }
        let pdf = Served::new("book.pdf", "application/pdf");
        assert!(pdf.disposition.starts_with("inline;") && !pdf.sandbox);
        // Not a media type (a client-encrypted manifest can say anything): bytes, attached.
        let odd = Served::new("x\r\nSet-Cookie: a=b\"", "text/html\r\nX: y");
        assert_eq!(odd.content_type, "application/octet-stream");
        assert!(
            odd.disposition
                .starts_with("attachment; filename=\"x__Set-Cookie: a=b_\";")
        );
        for value in [&odd.content_type, &odd.disposition] {
            assert!(header::HeaderValue::from_str(value).is_ok(), "{value:?}");
        }
    }

    proptest::proptest! {
        /// Any `Range` header against any size: the whole file, an unsatisfiable range, or
        /// bytes that are all inside the file.
        #[test]
        fn any_range_header_stays_inside_the_file(
            value in "bytes=[0-9]{0,21}-[0-9]{0,21}|\\PC{0,30}",
            size in proptest::prop_oneof![0u64..10, proptest::prelude::any::<u64>()],
        ) {
            if let Ok(Some((start, end))) = parse_range(&value, size) {
                proptest::prop_assert!(start <= end && end < size, "{} of {}: {}-{}", value, size, start, end);
            }
        }

        /// Any name and media type a manifest can hold make valid header values.
        #[test]
        fn any_manifest_labels_make_valid_headers(name in "\\PC{0,80}", media_type in "\\PC{0,40}") {
            let served = Served::new(&name, &media_type);
            proptest::prop_assert!(header::HeaderValue::from_str(&served.content_type).is_ok());
            proptest::prop_assert!(header::HeaderValue::from_str(&served.disposition).is_ok());
        }
    }

    #[test]
    fn a_media_type_that_says_nothing_gives_way_to_the_name() {
        // curl --data-binary's default, a browser's for unknown files, a multipart body.
        for generic in [
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "Application/Octet-Stream; charset=binary",
            "multipart/form-data; boundary=x",
        ] {
            assert_eq!(
                media_type(None, "song.mp3", None, Some(generic)),
                "audio/mpeg"
            );
            assert_eq!(
                media_type(None, "song.mp3", Some(generic), None),
                "audio/mpeg"
            );
        }
        // Anything specific is kept; the query wins over all.
        assert_eq!(
            media_type(None, "clip", None, Some("video/mp4")),
            "video/mp4"
        );
        assert_eq!(
            media_type(None, "x.mp3", Some("image/png"), None),
            "image/png"
        );
        assert_eq!(
            media_type(
                Some("text/plain"),
                "x.mp3",
                Some("image/png"),
                Some("video/mp4")
            ),
            "text/plain"
        );
        // Nothing known: bytes.
        assert_eq!(
            media_type(None, "", None, Some("application/x-www-form-urlencoded")),
            "application/octet-stream"
        );
    }
}
