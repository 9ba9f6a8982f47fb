//! The protocol's transports over the network: [`RpcLedger`] (Ethereum JSON-RPC) and
//! [`HttpRemote`] (a node's `/v1/raw` API with signed requests). Blocking (ureq).

use std::io::Read;
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use alloy::rpc::types::Log;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};

use crate::acl::describe_revert;
use crate::protocol::{Ledger, ProtocolError, Remote};
use crate::request::SignedRequest;
use lightstreams_vault::{ItemId, Spares};

/// Parse a JSON hex quantity (`"0x1a"`).
fn parse_quantity(value: &Value) -> Result<u128, String> {
    let text = value.as_str().ok_or("not a string")?;
    let digits = text.strip_prefix("0x").ok_or("not hex")?;
    u128::from_str_radix(digits, 16).map_err(|e| e.to_string())
}

/// JSON-RPC, with revert data kept so custom errors can be named.
pub struct RpcLedger {
    url: String,
    agent: ureq::Agent,
}

impl RpcLedger {
    /// A ledger at `url`.
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: url.to_string(),
            agent,
        }
    }

    fn rpc(&self, method: &str, params: Value) -> Result<Value, ProtocolError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut response = self.agent.post(&self.url).send_json(&body).map_err(|e| {
            ProtocolError::Chain(format!(
                "cannot reach the node at {} (is it running?): {e}",
                self.url
            ))
        })?;
        let reply: Value = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_json()
            .map_err(|e| {
                ProtocolError::Chain(format!("{} did not answer JSON-RPC: {e}", self.url))
            })?;
        if let Some(error) = reply.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            if let Some(data) = error.get("data").and_then(Value::as_str)
                && let Ok(bytes) = hex::decode(data.trim_start_matches("0x"))
                && !bytes.is_empty()
            {
                return Err(ProtocolError::Chain(describe_revert(&bytes)));
            }
            return Err(ProtocolError::Chain(format!("{method}: {message}")));
        }
        reply
            .get("result")
            .cloned()
            .ok_or_else(|| ProtocolError::Chain(format!("{method}: no result")))
    }

    fn quantity(&self, method: &str, params: Value) -> Result<u128, ProtocolError> {
        let value = self.rpc(method, params)?;
        parse_quantity(&value)
            .map_err(|e| ProtocolError::Chain(format!("{method} returned {value}: {e}")))
    }

    /// [`RpcLedger::quantity`] for a quantity of at most 64 bits (a chain id, nonce, gas or
    /// block number): a larger answer is an error, not a number cut short.
    fn quantity64(&self, method: &str, params: Value) -> Result<u64, ProtocolError> {
        let value = self.quantity(method, params)?;
        u64::try_from(value).map_err(|_| {
            ProtocolError::Chain(format!(
                "{method} returned {value:#x}, which does not fit in 64 bits"
            ))
        })
    }
}

impl Ledger for RpcLedger {
    fn call(&self, to: Address, data: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
        let out = self.rpc(
            "eth_call",
            json!([{"to": to, "data": Bytes::from(data)}, "latest"]),
        )?;
        let text = out.as_str().unwrap_or_default();
        hex::decode(text.trim_start_matches("0x"))
            .map_err(|e| ProtocolError::Chain(format!("eth_call returned {text}: {e}")))
    }

    fn transact_with_value(
        &self,
        signer: &PrivateKeySigner,
        to: Address,
        data: Vec<u8>,
        value: U256,
    ) -> Result<B256, ProtocolError> {
        let from = signer.address();
        let input = Bytes::from(data);
        let chain_id = self.quantity64("eth_chainId", json!([]))?;
        let nonce = self.quantity64("eth_getTransactionCount", json!([from, "pending"]))?;
        let gas = self.quantity64(
            "eth_estimateGas",
            json!([{"from": from, "to": to, "data": input, "value": value}]),
        )?;
        let latest = self.rpc("eth_getBlockByNumber", json!(["latest", false]))?;
        let base_fee = latest
            .get("baseFeePerGas")
            .and_then(|v| parse_quantity(v).ok())
            .unwrap_or(0);
        let mut tx = TxEip1559 {
            chain_id,
            nonce,
            // The node's figures are its own: a margin past the top stops there (and the node
            // then refuses the transaction by name) rather than overflowing.
            gas_limit: gas.saturating_add(gas / 5),
            max_fee_per_gas: base_fee.saturating_mul(2),
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(to),
            value,
            input,
            ..Default::default()
        };
        let signature = signer
            .sign_transaction_sync(&mut tx)
            .map_err(|e| ProtocolError::Crypto(e.to_string()))?;
        let raw = tx.into_signed(signature).encoded_2718();
        let hash = self
            .rpc(
                "eth_sendRawTransaction",
                json!([format!("0x{}", hex::encode(raw))]),
            )
            .map_err(|e| match e {
                ProtocolError::Chain(m) => crate::protocol::send_refused(from, m),
                other => other,
            })?;
        let hash: B256 = serde_json::from_value(hash.clone()).map_err(|e| {
            ProtocolError::Chain(format!("eth_sendRawTransaction returned {hash}: {e}"))
        })?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut pause = Duration::from_millis(5);
        loop {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash]))?;
            if !receipt.is_null() {
                if receipt.get("status").and_then(Value::as_str) != Some("0x1") {
                    return Err(ProtocolError::Chain(format!("transaction {hash} reverted")));
                }
                return Ok(hash);
            }
            if Instant::now() > deadline {
                return Err(ProtocolError::Chain(format!(
                    "transaction {hash} was not finalised within 60 s"
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    fn logs(&self, address: Address, topics: [Option<B256>; 4]) -> Result<Vec<Log>, ProtocolError> {
        let head = self.quantity64("eth_blockNumber", json!([]))?;
        let mut out = Vec::new();
        let mut from = 0u64;
        while from <= head {
            let to = (from + 9_999).min(head);
            let logs = self.rpc(
                "eth_getLogs",
                json!([{
                    "address": address,
                    "topics": topics,
                    "fromBlock": format!("{from:#x}"),
                    "toBlock": format!("{to:#x}"),
                }]),
            )?;
            let logs: Vec<Log> = serde_json::from_value(logs)
                .map_err(|e| ProtocolError::Chain(format!("eth_getLogs: {e}")))?;
            out.extend(logs);
            from = to + 1;
        }
        Ok(out)
    }
}

/// The vault API of a node, over HTTP with signed requests (batch reads and uploads over the
/// node's vault stream where it announces one and it can be reached).
pub struct HttpRemote {
    base: String,
    node_id: String,
    keeper_key: Option<[u8; 32]>,
    agent: ureq::Agent,
    /// The node's vault stream port (`stream_port` at `/v1`), if any.
    stream_port: Option<u16>,
    /// Connects to the stream; one it could not reach (say, a firewall drops it) is passed
    /// over for a while and requests go over HTTP, instead of each batch waiting for a connect
    /// to time out.
    dialer: lightstreams_network::stream::Dialer,
    /// The node's local stream (`local_stream` at `/v1`, told only to clients on its machine),
    /// used where the node's URL is on this machine: blobs come as files, not over TCP.
    local_stream: Option<std::path::PathBuf>,
    /// Set once the local stream could not be connected to: the TCP stream is used from then.
    local_failed: std::sync::atomic::AtomicBool,
}

/// Whether clients may use a node's local stream: yes, unless `LIGHTSTREAMS_LOCAL_STREAM` is
/// `off` (then the TCP stream is used, as from another machine).
fn local_stream_wanted() -> bool {
    std::env::var("LIGHTSTREAMS_LOCAL_STREAM").map_or(true, |v| !v.eq_ignore_ascii_case("off"))
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn on_this_machine(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// A connection to a node's vault stream: over TCP, or the local stream on the node's own
/// machine, whose frames may carry files ([`lightstreams_network::local`]).
enum StreamConn {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Local(std::os::unix::net::UnixStream),
}

impl StreamConn {
    /// Read the next frame into `buf` (see [`lightstreams_network::batch::read_frame`]).
    fn read_frame(&mut self, max: u64, buf: &mut Vec<u8>) -> Result<bool, String> {
        match self {
            Self::Tcp(conn) => lightstreams_network::batch::read_frame(conn, max, buf, |_| {}),
            #[cfg(unix)]
            Self::Local(conn) => lightstreams_network::local::read_frame(conn, max, buf),
        }
    }
}

impl Read for StreamConn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(conn) => conn.read(buf),
            #[cfg(unix)]
            Self::Local(conn) => conn.read(buf),
        }
    }
}

impl std::io::Write for StreamConn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(conn) => conn.write(buf),
            #[cfg(unix)]
            Self::Local(conn) => conn.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(conn) => conn.write_vectored(bufs),
            #[cfg(unix)]
            Self::Local(conn) => conn.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl HttpRemote {
    /// Connect to the node at `url` and learn its vault id.
    pub fn connect(url: &str) -> Result<Self, ProtocolError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        let base = url.trim_end_matches('/').to_string();
        let mut response = agent.get(format!("{base}/v1")).call().map_err(|e| {
            ProtocolError::Remote(format!(
                "cannot reach the node at {base} (is it running?): {e}"
            ))
        })?;
        if !response.status().is_success() {
            return Err(ProtocolError::Remote(format!(
                "{base}/v1 answered {}: is this a Lightstreams node with the vault API?",
                response.status()
            )));
        }
        let facts: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| ProtocolError::Remote(format!("{base}/v1 did not answer JSON: {e}")))?;
        let node_id = facts["node_id"]
            .as_str()
            .ok_or_else(|| ProtocolError::Remote(format!("{base}/v1 has no node_id")))?
            .to_string();
        let keeper_key = facts["keeper_key"].as_str().and_then(|text| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(text.trim_start_matches("0x"), &mut out).ok()?;
            Some(out)
        });
        let stream_port = facts["stream_port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        let local_stream = facts["local_stream"]
            .as_str()
            .map(std::path::PathBuf::from)
            .filter(|path| path.is_absolute() && on_this_machine(&base))
            .filter(|_| local_stream_wanted());
        Ok(Self {
            base,
            node_id,
            keeper_key,
            agent,
            stream_port,
            dialer: Default::default(),
            local_stream,
            local_failed: Default::default(),
        })
    }

    /// How many live copies each object of `item` has across the vault nodes, as this node
    /// sees them (`GET /v1/raw/{item}/health`, signed by a reader of the item).
    pub fn health(&self, signer: &PrivateKeySigner, item: ItemId) -> Result<Value, ProtocolError> {
        let request = SignedRequest::sign(
            signer,
            crate::request::RequestKind::Get,
            item.0,
            crate::request::ObjectRef::Info,
            self.node_id.clone(),
        );
        let mut response = self
            .agent
            .get(format!(
                "{}/v1/raw/0x{}/health",
                self.base,
                hex::encode(item.0)
            ))
            .header("Authorization", request.to_header())
            .call()
            .map_err(|e| ProtocolError::Remote(e.to_string()))?;
        match response.status().as_u16() {
            200 => response
                .body_mut()
                .read_json()
                .map_err(|e| ProtocolError::Remote(format!("health is not JSON: {e}"))),
            404 => Err(ProtocolError::NotFound(item.to_string())),
            _ => Err(ProtocolError::Remote(error_message(&mut response))),
        }
    }

    /// Send a signed request on a new connection to the node's vault stream and read its
    /// status: `None` when the node has no stream or it could not be reached or did not answer
    /// (use HTTP); else the connection when the node goes on (frames follow, or it takes an
    /// upload's objects), `Err(None)` for the uniform not-found, `Err(Some(message))` for a
    /// refusal naming what is malformed.
    fn stream_request(
        &self,
        request: &SignedRequest,
        write: bool,
        list: &[u8],
    ) -> Option<Result<StreamConn, Option<String>>> {
        use lightstreams_network::stream;
        let mut conn = match self.connect_local() {
            Some(conn) => conn,
            None => StreamConn::Tcp(
                self.dialer
                    .connect(&self.base, self.stream_port?, Duration::from_secs(120))
                    .ok()?,
            ),
        };
        let wire = stream::Request {
            write,
            item: request.item,
            header: request.to_header(),
            list: list.to_vec(),
        };
        stream::write_request(&mut conn, &wire).ok()?;
        match stream::read_status(&mut conn) {
            Ok(true) => Some(Ok(conn)),
            Ok(false) => Some(Err(None)),
            Err(e) if e.starts_with("refused: ") => {
                Some(Err(Some(e.trim_start_matches("refused: ").to_string())))
            }
            // Say, the node is at its connection limit.
            Err(_) => None,
        }
    }

    /// This remote without the node's local stream: batches go over the TCP stream, as from
    /// another machine.
    pub fn over_tcp(mut self) -> Self {
        self.local_stream = None;
        self
    }

    /// The node's local stream this remote reads and uploads through, if the node told of one
    /// (it does to clients on its machine) and `LIGHTSTREAMS_LOCAL_STREAM` is not `off`.
    pub fn local_stream(&self) -> Option<&std::path::Path> {
        self.local_stream.as_deref()
    }

    /// A connection to the node's local stream, if it told of one and it can be connected to
    /// (once it could not, it is not tried again).
    fn connect_local(&self) -> Option<StreamConn> {
        #[cfg(unix)]
        {
            use std::sync::atomic::Ordering;
            let path = self.local_stream.as_ref()?;
            if self.local_failed.load(Ordering::Relaxed) {
                return None;
            }
            match lightstreams_network::local::connect(path, Duration::from_secs(120)) {
                Ok(conn) => return Some(StreamConn::Local(conn)),
                Err(_) => self.local_failed.store(true, Ordering::Relaxed),
            }
        }
        None
    }

    /// Read the blobs a signed batch names over the node's vault stream, if it has one and it
    /// can be reached (`None`: use HTTP).
    fn stream_batch(
        &self,
        request: &SignedRequest,
        body: &[u8],
        count: usize,
        spares: &Spares,
        each: &mut dyn FnMut(usize, Option<Vec<u8>>),
    ) -> Option<Result<(), ProtocolError>> {
        Some(match self.stream_request(request, false, body)? {
            Ok(mut conn) => read_owned_frames(
                &mut |buf: &mut Vec<u8>| conn.read_frame(MAX_OBJECT, buf),
                count,
                spares,
                each,
            ),
            Err(None) => Err(ProtocolError::NotFound(ItemId(request.item).to_string())),
            Err(Some(refused)) => Err(batch_broke(format!("refused: {refused}"))),
        })
    }

    /// Upload a signed batch over the node's vault stream, if it has one and accepts the
    /// list there (`None`: use HTTP). The objects go out from their buffers as they are.
    fn stream_put_batch(
        &self,
        request: &SignedRequest,
        list: &[u8],
        objects: &[&[u8]],
    ) -> Option<Result<(), ProtocolError>> {
        use lightstreams_network::stream;
        // A list the node refuses as malformed is sent again over HTTP, which answers alike
        // (none of its checks spent the nonce); the uniform not-found is final.
        let mut conn = match self.stream_request(request, true, list)? {
            Ok(conn) => conn,
            Err(None) => {
                return Some(Err(ProtocolError::NotFound(
                    ItemId(request.item).to_string(),
                )));
            }
            Err(Some(_)) => return None,
        };
        let sent = stream::write_objects(&mut conn, objects);
        // The node's answer names what was wrong even when it stopped reading part-way.
        Some(match stream::read_status(&mut conn) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProtocolError::NotFound(ItemId(request.item).to_string())),
            Err(e) if e.starts_with("refused: ") => Err(ProtocolError::Remote(
                e.trim_start_matches("refused: ").to_string(),
            )),
            Err(e) => Err(ProtocolError::Remote(format!(
                "the upload stream broke: {}",
                sent.err().map_or(e, |sent| sent.to_string())
            ))),
        })
    }

    /// Where a batch of `request`'s item is read or uploaded over HTTP.
    fn batch_url(&self, request: &SignedRequest) -> String {
        format!("{}/v1/raw/0x{}/batch", self.base, hex::encode(request.item))
    }

    fn url(&self, request: &SignedRequest) -> String {
        let (kind, id) = request.object.path_parts();
        format!(
            "{}/v1/raw/0x{}/{kind}/{id}",
            self.base,
            hex::encode(request.item)
        )
    }
}

/// The largest object a node sends (a sealed manifest of a very large file).
const MAX_OBJECT: u64 = 64 * 1024 * 1024;

fn batch_broke(e: String) -> ProtocolError {
    ProtocolError::Remote(format!("the batch stream broke: {e}"))
}

/// Read `count` frames, handing each object over owned (the reader decrypts in place), in a
/// buffer taken from `spares`.
fn read_owned_frames(
    next: &mut dyn FnMut(&mut Vec<u8>) -> Result<bool, String>,
    count: usize,
    spares: &Spares,
    each: &mut dyn FnMut(usize, Option<Vec<u8>>),
) -> Result<(), ProtocolError> {
    for i in 0..count {
        let mut bytes = spares.take();
        let here = next(&mut bytes).map_err(batch_broke)?;
        if here {
            each(i, Some(bytes));
        } else {
            spares.give(bytes);
            each(i, None);
        }
    }
    Ok(())
}

/// A `Read` over byte slices in order (a request body sent without gathering it first).
struct Parts<'a>(Vec<&'a [u8]>);

impl Read for Parts<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(first) = self.0.first_mut() {
            if first.is_empty() {
                self.0.remove(0);
                continue;
            }
            let n = buf.len().min(first.len());
            buf[..n].copy_from_slice(&first[..n]);
            *first = &first[n..];
            return Ok(n);
        }
        Ok(0)
    }
}

/// Send a request (built afresh by `send` each time), again while the node answers `429`
/// ([`lightstreams_network::client::send_patiently`]).
fn patiently(
    send: impl FnMut() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, ProtocolError> {
    lightstreams_network::client::send_patiently(send)
        .map_err(|e| ProtocolError::Remote(e.to_string()))
}

fn error_message(response: &mut ureq::http::Response<ureq::Body>) -> String {
    let status = response.status();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or("no message");
    format!("{status}: {message}")
}

impl Remote for HttpRemote {
    fn node_id(&self) -> String {
        self.node_id.clone()
    }

    fn keeper_key(&self) -> Option<[u8; 32]> {
        self.keeper_key
    }

    fn connect_peer(&self, url: &str) -> Result<Box<dyn Remote + Send + Sync>, ProtocolError> {
        Ok(Box::new(HttpRemote::connect(url)?))
    }

    fn put(&self, request: &SignedRequest, body: &[u8]) -> Result<(), ProtocolError> {
        let mut response = patiently(|| {
            self.agent
                .put(self.url(request))
                .header("Authorization", request.to_header())
                .header("Content-Type", "application/octet-stream")
                .send(body)
        })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(ProtocolError::NotFound(ItemId(request.item).to_string())),
            _ => Err(ProtocolError::Remote(error_message(&mut response))),
        }
    }

    fn delete(&self, request: &SignedRequest) -> Result<(), ProtocolError> {
        let mut response = patiently(|| {
            self.agent
                .delete(self.url(request))
                .header("Authorization", request.to_header())
                .call()
        })?;
        match response.status().as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(ProtocolError::Remote(error_message(&mut response))),
        }
    }

    fn batch_reads(&self) -> bool {
        true
    }

    fn get_batch(
        &self,
        request: &SignedRequest,
        body: &[u8],
        spares: &Spares,
        each: &mut dyn FnMut(usize, Option<Vec<u8>>),
    ) -> Result<(), ProtocolError> {
        use lightstreams_network::batch;
        let count = batch::decode_request(body)
            .map_err(ProtocolError::Remote)?
            .len();
        if let Some(result) = self.stream_batch(request, body, count, spares, each) {
            return result;
        }
        let mut response = patiently(|| {
            self.agent
                .post(self.batch_url(request))
                .header("Authorization", request.to_header())
                .header("Content-Type", "text/plain")
                .send(body)
        })?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(ProtocolError::NotFound(ItemId(request.item).to_string())),
            _ => return Err(ProtocolError::Remote(error_message(&mut response))),
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        read_owned_frames(
            &mut |buf: &mut Vec<u8>| {
                lightstreams_network::batch::read_frame(&mut reader, MAX_OBJECT, buf, |_| {})
            },
            count,
            spares,
            each,
        )
    }

    fn batch_writes(&self) -> bool {
        true
    }

    fn put_batch(
        &self,
        request: &SignedRequest,
        list: &[u8],
        objects: &[&[u8]],
    ) -> Result<(), ProtocolError> {
        if let Some(done) = self.stream_put_batch(request, list, objects) {
            return done;
        }
        use lightstreams_network::batch;
        // The body is sent straight from the objects: list, then one frame per object.
        let prefix = batch::upload_prefix(list);
        let heads: Vec<[u8; 5]> = objects
            .iter()
            .map(|o| batch::frame_header(Some(o.len())))
            .collect();
        let mut parts: Vec<&[u8]> = vec![&prefix];
        for (head, object) in heads.iter().zip(objects) {
            parts.push(head);
            parts.push(object);
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut response = patiently(|| {
            let mut body = Parts(parts.clone());
            self.agent
                .put(self.batch_url(request))
                .header("Authorization", request.to_header())
                .header("Content-Type", "application/octet-stream")
                .header("Content-Length", len.to_string())
                .send(ureq::SendBody::from_reader(&mut body))
        })?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(ProtocolError::NotFound(ItemId(request.item).to_string())),
            _ => Err(ProtocolError::Remote(error_message(&mut response))),
        }
    }

    fn get(&self, request: &SignedRequest) -> Result<Option<Vec<u8>>, ProtocolError> {
        let mut response = patiently(|| {
            self.agent
                .get(self.url(request))
                .header("Authorization", request.to_header())
                .call()
        })?;
        match response.status().as_u16() {
            200 => {
                // Sized once from Content-Length: a 1 MiB chunk is not grown by doubling.
                const LIMIT: u64 = MAX_OBJECT;
                let len = response.body().content_length().unwrap_or(0).min(LIMIT);
                let mut bytes = Vec::with_capacity(len as usize);
                response
                    .body_mut()
                    .with_config()
                    .limit(LIMIT)
                    .reader()
                    .read_to_end(&mut bytes)
                    .map_err(|e| ProtocolError::Remote(e.to_string()))?;
                Ok(Some(bytes))
            }
            404 => Ok(None),
            _ => Err(ProtocolError::Remote(error_message(&mut response))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{ObjectRef, RequestKind};

    /// A node that answers 429 (this address has its share of requests in progress) is asked
    /// again, with the same signed request, after the `Retry-After` it gives.
    #[test]
    fn a_busy_answer_is_retried_with_the_same_request() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in [
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsealed",
            ] {
                let (conn, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(conn);
                let mut auth = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("read");
                    if line.trim().is_empty() {
                        break;
                    }
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        auth = line;
                    }
                }
                seen.push(auth);
                reader
                    .get_mut()
                    .write_all(answer.as_bytes())
                    .expect("answer");
            }
            seen
        });
        let remote = HttpRemote {
            base: format!("http://127.0.0.1:{port}"),
            node_id: "node".into(),
            keeper_key: None,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            stream_port: None,
            dialer: Default::default(),
            local_stream: None,
            local_failed: Default::default(),
        };
        let request = SignedRequest::sign(
            &PrivateKeySigner::random(),
            RequestKind::Get,
            [1; 32],
            ObjectRef::Chunk([2; 32]),
            "node".into(),
        );
        let got = remote.get(&request).expect("answered");
        assert_eq!(got.as_deref(), Some(&b"sealed"[..]));
        let seen = server.join().expect("server");
        assert!(!seen[0].is_empty() && seen[0] == seen[1], "{seen:?}");
    }

    /// A node whose vault stream cannot be connected to is asked over HTTP for a while: the
    /// connect is not tried again for every batch.
    #[test]
    fn an_unreachable_stream_is_passed_over() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let remote = HttpRemote {
            base: format!("http://127.0.0.1:{port}"),
            node_id: "node".into(),
            keeper_key: None,
            agent: ureq::Agent::new_with_defaults(),
            stream_port: Some(port),
            dialer: Default::default(),
            local_stream: None,
            local_failed: Default::default(),
        };
        let signer = PrivateKeySigner::random();
        let request = SignedRequest::sign(
            &signer,
            RequestKind::Get,
            [1; 32],
            ObjectRef::Batch([2; 32]),
            "node".into(),
        );
        assert!(remote.stream_request(&request, false, b"x").is_none());
        assert!(remote.dialer.passes_over(&remote.base, port));
        // Something listens there now, yet the remote does not try again.
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind");
        listener.set_nonblocking(true).expect("nonblocking");
        assert!(remote.stream_request(&request, true, b"x").is_none());
        let err = listener.accept().expect_err("no connection was made");
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }

    /// A JSON-RPC node on a local port answering each method with `answer(method)` (a
    /// `result` value, or an `error` message); it serves until the test ends.
    fn fake_rpc(answer: fn(&str) -> Result<Value, String>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut reader = BufReader::new(conn);
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let reply = match answer(request["method"].as_str().unwrap_or_default()) {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": 1, "result": result}),
                    Err(message) => json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": message}}),
                }
                .to_string();
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    /// Quantities a JSON-RPC node answers that do not fit what they stand for (a chain id or
    /// nonce past 64 bits, a gas estimate or base fee whose margin would overflow) are an
    /// error or a bounded value, never a panic or a silently cut number.
    #[test]
    fn a_nodes_outsized_quantities_are_refused_not_wrapped() {
        let send = |url: &str| {
            RpcLedger::new(url).transact(&PrivateKeySigner::random(), Address::ZERO, Vec::new())
        };
        let url = fake_rpc(|method| match method {
            "eth_chainId" => Ok(json!("0x10000000000000001")),
            "eth_getTransactionCount" => Ok(json!("0x0")),
            "eth_estimateGas" => Ok(json!("0x5208")),
            "eth_getBlockByNumber" => Ok(json!({"baseFeePerGas": "0x1"})),
            _ => Err("refused".into()),
        });
        let err = send(&url).expect_err("chain id past 64 bits");
        assert!(err.to_string().contains("eth_chainId"), "{err}");

        let url = fake_rpc(|method| match method {
            "eth_chainId" => Ok(json!("0x1")),
            "eth_getTransactionCount" => Ok(json!("0x0")),
            "eth_estimateGas" => Ok(json!("0xffffffffffffffff")),
            "eth_getBlockByNumber" => {
                Ok(json!({"baseFeePerGas": "0xffffffffffffffffffffffffffffffff"}))
            }
            _ => Err("refused by the node".into()),
        });
        let err = send(&url).expect_err("refused by the node");
        assert!(err.to_string().contains("refused by the node"), "{err}");
    }
}
