//! Harness for end-to-end tests of the `lightstreams` binary: real processes on 127.0.0.1.
//!
//! - [`Node`] runs one `lightstreams` process with stdout/stderr appended to a log file; it is
//!   stopped (SIGTERM, then SIGKILL) on drop, so nothing leaks when a test panics, and the tail
//!   of its log is printed when the drop happens during a panic.
//! - [`Rpc`] is a blocking JSON-RPC client (ureq) that keeps the node's error objects.
//! - [`wait_until`] polls with a deadline; [`transfer`] signs EIP-1559 transfers with alloy.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, TxKind, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use lightstreams_access::request::ObjectRef;
use serde_json::{Value, json};

/// Chain id of `dev` and of `init` networks.
pub const CHAIN_ID: u64 = 161;
/// Default log filter for spawned nodes (quiet dependencies, our crates at info).
pub const LOG: &str = "info,lightstreams_api::vault::peers=debug,commonware_consensus=warn,commonware_p2p=warn,commonware_storage=warn,commonware_runtime=warn,commonware_broadcast=warn,commonware_resolver=warn";

/// The binary under test.
pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lightstreams"))
}

/// Serializes the heavy tests of one test binary (each starts its own network; 2 cores).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A temporary directory for one test.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("ls-e2e-{prefix}-"))
        .tempdir()
        .expect("tempdir")
}

/// The anvil dev accounts (prefunded in `dev` and `init` genesis files).
pub fn dev_accounts(n: u32) -> Vec<PrivateKeySigner> {
    lightstreams_primitives::dev::dev_accounts(n)
}

/// Poll `f` every `every` until it returns `Some` or `timeout` passes; then panic naming `what`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        if let Some(v) = f() {
            // Shown with a failing test's output: how close each earlier wait came to its limit.
            eprintln!("waited {:.1?} of {timeout:?} for {what}", start.elapsed());
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(every);
    }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// One `lightstreams` process. Restartable with the same arguments; stopped on drop.
pub struct Node {
    pub name: String,
    pub args: Vec<OsString>,
    pub log: PathBuf,
    pub rpc: Rpc,
    child: Option<Child>,
}

impl Node {
    /// Spawn `lightstreams ARGS` (`--log LOG` is added), output appended to `log`.
    pub fn spawn(name: &str, args: Vec<OsString>, log: &Path, rpc_url: &str) -> Node {
        let mut node = Node {
            name: name.to_string(),
            args,
            log: log.to_path_buf(),
            rpc: Rpc::new(rpc_url),
            child: None,
        };
        node.start();
        node
    }

    /// `lightstreams dev` on a free port with `extra` arguments.
    pub fn dev(dir: &Path, name: &str, extra: &[&str]) -> Node {
        let port = free_port();
        let mut args: Vec<OsString> = vec![
            "dev".into(),
            "--rpc.addr".into(),
            format!("127.0.0.1:{port}").into(),
        ];
        args.extend(extra.iter().map(OsString::from));
        Node::spawn(
            name,
            args,
            &dir.join(format!("{name}.log")),
            &format!("http://127.0.0.1:{port}"),
        )
    }

    /// `lightstreams node --config CONFIG`, log next to the config.
    pub fn from_config(name: &str, config: &Path, rpc: &str) -> Node {
        let log = config.parent().expect("config dir").join("node.log");
        Node::spawn(
            name,
            vec!["node".into(), "--config".into(), config.into()],
            &log,
            &format!("http://{rpc}"),
        )
    }

    /// Start the process (again), appending to the same log.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let mut args = self.args.clone();
        args.push("--log".into());
        args.push(
            std::env::var("E2E_LOG")
                .unwrap_or_else(|_| LOG.into())
                .into(),
        );
        let child = Command::new(exe())
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .spawn()
            .expect("spawn lightstreams");
        self.child = Some(child);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait (up to `timeout`) until JSON-RPC answers; panics if the process exits first.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.rpc.call("eth_blockNumber", json!([])).is_ok() {
                return;
            }
            if let Some(status) = self.exited() {
                panic!("{} exited with {status} before serving JSON-RPC", self.name);
            }
            if Instant::now() >= deadline {
                panic!("{} did not serve JSON-RPC within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// Reap a process someone else killed (e.g. a killer thread holding its pid).
    pub fn reap(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        child.wait().ok()
    }

    /// SIGTERM, wait up to 5 s, then SIGKILL.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on a pid we spawned and have not reaped: no memory effects.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    pub fn head(&self) -> u64 {
        self.rpc
            .head()
            .unwrap_or_else(|e| panic!("{}: eth_blockNumber: {e}", self.name))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of {} ({}) -----\n{}\n----- end of {} -----",
                self.name,
                self.log.display(),
                self.log_tail(40),
                self.name
            );
        }
    }
}

/// The last `lines` lines of a file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<cannot read: {e}>"));
    let all: Vec<&str> = text.lines().collect();
    strip_ansi(&all[all.len().saturating_sub(lines)..].join("\n"))
}

/// `text` without ANSI colour escapes (ESC [ ... letter).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// `lightstreams init`
// ---------------------------------------------------------------------------------------------

/// One node of `init --json` output.
#[derive(Clone, Debug)]
pub struct NodeEntry {
    pub name: String,
    pub config: PathBuf,
    pub rpc: String,
    pub p2p: String,
    pub validator: bool,
}

/// Run `lightstreams init --dir DIR --validators V --full-nodes F --json`.
pub fn init(dir: &Path, validators: usize, full_nodes: usize) -> Vec<NodeEntry> {
    let out = Command::new(exe())
        .args(["init", "--json", "--dir"])
        .arg(dir)
        .args(["--validators", &validators.to_string()])
        .args(["--full-nodes", &full_nodes.to_string()])
        .env_remove("RUST_LOG")
        .output()
        .expect("run lightstreams init");
    assert!(
        out.status.success(),
        "init failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let layout: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "init --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let nodes = layout["nodes"].as_array().expect("nodes array");
    let entries: Vec<NodeEntry> = nodes
        .iter()
        .map(|n| NodeEntry {
            name: n["name"].as_str().expect("name").to_string(),
            config: PathBuf::from(n["config"].as_str().expect("config")),
            rpc: n["rpc"].as_str().expect("rpc").to_string(),
            p2p: n["p2p"].as_str().expect("p2p").to_string(),
            validator: n["validator"].as_bool().expect("validator"),
        })
        .collect();
    assert_eq!(entries.len(), validators + full_nodes, "{layout}");
    assert_eq!(entries.iter().filter(|e| e.validator).count(), validators);
    entries
}

/// Set keys of the `[timing]` table of a node's config.toml.
pub fn set_timing(config: &Path, values: &[(&str, u64)]) {
    let text = std::fs::read_to_string(config).expect("read config");
    let mut table: toml::Table = text.parse().expect("config is TOML");
    let timing = table
        .entry("timing")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("[timing] is a table");
    for (k, v) in values {
        timing.insert((*k).to_string(), toml::Value::Integer(*v as i64));
    }
    std::fs::write(config, toml::to_string(&table).expect("toml")).expect("write config");
}

/// Timings that make a local 4-validator network quick without being flaky on 2 cores.
pub const FAST_TIMING: &[(&str, u64)] = &[
    ("empty_block_interval_ms", 200),
    ("leader_timeout_ms", 1000),
    ("notarization_timeout_ms", 1500),
];

// ---------------------------------------------------------------------------------------------
// JSON-RPC
// ---------------------------------------------------------------------------------------------

/// A JSON-RPC error object (or a transport failure, with `code` = 0).
#[derive(Clone, Debug)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)
    }
}

impl RpcError {
    fn transport(message: String) -> Self {
        RpcError {
            code: 0,
            message,
            data: None,
        }
    }

    pub fn is_transport(&self) -> bool {
        self.code == 0
    }
}

/// A blocking JSON-RPC client.
#[derive(Clone, Debug)]
pub struct Rpc {
    pub url: String,
    agent: ureq::Agent,
}

impl Rpc {
    pub fn new(url: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .build()
            .into();
        Rpc {
            url: url.to_string(),
            agent,
        }
    }

    /// POST raw bytes; returns the HTTP status and the body text.
    pub fn post_raw(&self, body: &[u8]) -> Result<(u16, String), String> {
        let mut response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| format!("POST {}: {e}", self.url))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| format!("reading reply of {}: {e}", self.url))?;
        Ok((status, text))
    }

    /// POST a JSON value; returns the parsed JSON reply.
    pub fn post_json(&self, body: &Value) -> Result<Value, RpcError> {
        let (status, text) = self
            .post_raw(body.to_string().as_bytes())
            .map_err(RpcError::transport)?;
        serde_json::from_str(&text).map_err(|e| {
            RpcError::transport(format!(
                "HTTP {status}, not JSON ({e}): {}",
                truncate(&text)
            ))
        })
    }

    /// Call `method`; the result, or the node's error object.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let reply = self
            .post_json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))?;
        split_reply(&reply)
    }

    /// Call `method`, panicking on any error.
    pub fn ok(&self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .unwrap_or_else(|e| panic!("{method} on {}: {e}", self.url))
    }

    /// Send a batch of `(method, params)`; replies in request order.
    pub fn batch(&self, calls: &[(&str, Value)]) -> Result<Vec<Result<Value, RpcError>>, RpcError> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc": "2.0", "id": i, "method": m, "params": p}))
            .collect();
        let reply = self.post_json(&Value::Array(body))?;
        let Value::Array(items) = reply else {
            return Err(RpcError::transport(format!(
                "batch answered with {}",
                truncate(&reply.to_string())
            )));
        };
        let mut by_id: BTreeMap<u64, Value> = BTreeMap::new();
        for item in items {
            let id = item["id"].as_u64().ok_or_else(|| {
                RpcError::transport(format!("batch reply without numeric id: {item}"))
            })?;
            by_id.insert(id, item);
        }
        (0..calls.len() as u64)
            .map(|i| {
                by_id
                    .get(&i)
                    .map(split_reply)
                    .ok_or_else(|| RpcError::transport(format!("batch reply lacks id {i}")))
            })
            .collect()
    }

    /// The finalized head number.
    pub fn head(&self) -> Result<u64, RpcError> {
        let v = self.call("eth_blockNumber", json!([]))?;
        quantity(&v).ok_or_else(|| RpcError::transport(format!("eth_blockNumber returned {v}")))
    }

    pub fn send_raw(&self, raw: &[u8]) -> Result<B256, RpcError> {
        let v = self.call(
            "eth_sendRawTransaction",
            json!([format!("0x{}", hex::encode(raw))]),
        )?;
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RpcError::transport(format!("eth_sendRawTransaction returned {v}")))
    }

    /// The receipt, if the transaction is finalized.
    pub fn receipt(&self, hash: B256) -> Result<Option<Value>, RpcError> {
        let v = self.call("eth_getTransactionReceipt", json!([hash]))?;
        Ok((!v.is_null()).then_some(v))
    }

    pub fn balance(&self, who: Address, block: &str) -> U256 {
        let v = self.ok("eth_getBalance", json!([who, block]));
        v.as_str()
            .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .unwrap_or_else(|| panic!("eth_getBalance returned {v}"))
    }

    pub fn nonce(&self, who: Address, block: &str) -> u64 {
        let v = self.ok("eth_getTransactionCount", json!([who, block]));
        quantity(&v).unwrap_or_else(|| panic!("eth_getTransactionCount returned {v}"))
    }

    /// `(hash, stateRoot)` of blocks `from..=to`, fetched in batches.
    pub fn block_hashes(&self, from: u64, to: u64) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut n = from;
        while n <= to {
            let end = (n + 199).min(to);
            let calls: Vec<(&str, Value)> = (n..=end)
                .map(|h| ("eth_getBlockByNumber", json!([format!("0x{h:x}"), false])))
                .collect();
            let replies = self
                .batch(&calls)
                .unwrap_or_else(|e| panic!("eth_getBlockByNumber batch on {}: {e}", self.url));
            for (h, r) in (n..=end).zip(replies) {
                let block = r.unwrap_or_else(|e| panic!("block {h} on {}: {e}", self.url));
                assert!(!block.is_null(), "{} has no block {h}", self.url);
                assert_eq!(quantity(&block["number"]), Some(h), "{block}");
                out.push((
                    block["hash"].as_str().expect("hash").to_string(),
                    block["stateRoot"].as_str().expect("stateRoot").to_string(),
                ));
            }
            n = end + 1;
        }
        out
    }
}

fn split_reply(reply: &Value) -> Result<Value, RpcError> {
    if let Some(error) = reply.get("error") {
        return Err(RpcError {
            code: error["code"].as_i64().unwrap_or(i64::MIN),
            message: error["message"]
                .as_str()
                .unwrap_or("<no message>")
                .to_string(),
            data: error.get("data").cloned(),
        });
    }
    reply
        .get("result")
        .cloned()
        .ok_or_else(|| RpcError::transport(format!("reply has neither result nor error: {reply}")))
}

fn truncate(s: &str) -> String {
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s.to_string()
    }
}

/// Parse a hex quantity.
pub fn quantity(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.strip_prefix("0x")?, 16).ok()
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// A signed EIP-1559 transfer: raw bytes and hash.
#[derive(Clone, Debug)]
pub struct SignedTx {
    pub raw: Vec<u8>,
    pub hash: B256,
    pub from: Address,
    pub to: Address,
    pub value: U256,
    pub nonce: u64,
}

/// Sign a 21,000-gas transfer of `value` wei.
pub fn transfer(
    signer: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: u64,
    chain_id: u64,
) -> SignedTx {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        ..Default::default()
    };
    let signature = signer.sign_transaction_sync(&mut tx).expect("sign");
    let raw = tx.into_signed(signature).encoded_2718();
    SignedTx {
        hash: keccak256(&raw),
        raw,
        from: signer.address(),
        to,
        value: U256::from(value),
        nonce,
    }
}

/// A fresh random address.
pub fn random_address() -> Address {
    Address::from(rand::random::<[u8; 20]>())
}

/// Wait until `rpc` has a receipt for every hash; returns the receipts in order.
pub fn wait_receipts(rpc: &Rpc, hashes: &[B256], timeout: Duration) -> Vec<Value> {
    let mut receipts: Vec<Option<Value>> = vec![None; hashes.len()];
    wait_until(
        &format!("{} receipts on {}", hashes.len(), rpc.url),
        timeout,
        Duration::from_millis(100),
        || {
            for (h, r) in hashes.iter().zip(receipts.iter_mut()) {
                if r.is_none() {
                    *r = rpc.receipt(*h).ok().flatten();
                }
            }
            receipts.iter().all(Option::is_some).then_some(())
        },
    );
    let receipts: Vec<Value> = receipts.into_iter().map(Option::unwrap).collect();
    for r in &receipts {
        assert_eq!(r["status"], json!("0x1"), "transfer failed: {r}");
    }
    receipts
}

// ---------------------------------------------------------------------------------------------
// CLI output and the raw vault API
// ---------------------------------------------------------------------------------------------

pub fn key_hex(signer: &PrivateKeySigner) -> String {
    format!("0x{}", hex::encode(signer.to_bytes()))
}

pub fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub fn failed_with(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected failure, got success");
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in the error, got: {stderr}"
    );
}

/// GET `/v1/raw/...` with an optional Authorization header: (status, body).
pub fn raw_get(
    rpc: &str,
    item: &[u8; 32],
    object: &ObjectRef,
    auth: Option<&str>,
) -> (u16, String) {
    let (kind, id) = object.path_parts();
    let url = format!("{rpc}/v1/raw/0x{}/{kind}/{id}", hex::encode(item));
    let agent = http_agent();
    let mut request = agent.get(&url);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let mut response = request.call().expect("http");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}

/// `lightstreams init` a network in `dir` tuned for tests: fast consensus timing and a 300 ms
/// vault repair interval.
pub fn init_fast(dir: &Path, validators: usize, full_nodes: usize) -> Vec<NodeEntry> {
    let layout = init(dir, validators, full_nodes);
    for entry in &layout {
        set_timing(&entry.config, FAST_TIMING);
        set_table(&entry.config, "vault", &[("repair_interval_ms", 300)]);
    }
    layout
}

/// `lightstreams init` a network of `validators` validators in `dir/net` with fast timing, start
/// every node and wait until each answers.
pub fn start_validators(dir: &Path, validators: usize) -> Vec<Node> {
    start_nodes(&init_fast(&dir.join("net"), validators, 0))
}

/// Start every node of `layout` (`lightstreams node --config`) and wait until each answers.
pub fn start_nodes(layout: &[NodeEntry]) -> Vec<Node> {
    let mut nodes: Vec<Node> = layout
        .iter()
        .map(|e| Node::from_config(&e.name, &e.config, &e.rpc))
        .collect();
    for node in &mut nodes {
        node.wait_ready(Duration::from_secs(60));
    }
    nodes
}

/// An HTTP client that returns every status as a response (tests check them).
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Set keys of a table (e.g. `[vault]`) of a node's config.toml.
pub fn set_table(config: &Path, name: &str, values: &[(&str, i64)]) {
    let text = std::fs::read_to_string(config).expect("read config");
    let mut table: toml::Table = text.parse().expect("config is TOML");
    let section = table
        .entry(name)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .expect("a table");
    for (k, v) in values {
        section.insert((*k).to_string(), toml::Value::Integer(*v));
    }
    std::fs::write(config, toml::to_string(&table).expect("toml")).expect("write config");
}

/// Announce the node of `config` in the node registry, run by `operator`, through `rpc`.
pub fn announce(config: &Path, rpc: &str, operator: &PrivateKeySigner) {
    let out = Command::new(exe())
        .args(["vault", "announce", "--json", "--config"])
        .arg(config)
        .args(["--rpc", rpc, "--private-key", &key_hex(operator)])
        .env_remove("LIGHTSTREAMS_ACCOUNT")
        .env_remove("LIGHTSTREAMS_PRIVATE_KEY")
        .output()
        .expect("run lightstreams vault announce");
    ok_json(&out);
}

/// Run `lightstreams GROUP ARGS --json --rpc RPC` as `who` (none: no account).
pub fn cli(group: &str, rpc: &str, who: Option<&PrivateKeySigner>, args: &[&str]) -> Output {
    let mut command = Command::new(exe());
    command
        .arg(group)
        .args(args)
        .args(["--json", "--rpc", rpc])
        .env_remove("LIGHTSTREAMS_ACCOUNT")
        .env_remove("LIGHTSTREAMS_PRIVATE_KEY");
    if let Some(who) = who {
        command.args(["--private-key", &key_hex(who)]);
    }
    command.output().expect("run lightstreams")
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Write a file of `len` bytes in which a random 32-byte marker repeats: (marker, bytes).
pub fn marked_file(path: &Path, len: usize) -> ([u8; 32], Vec<u8>) {
    let marker: [u8; 32] = rand::random();
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        data.extend_from_slice(&marker);
        data.extend_from_slice(&rand::random::<[u8; 32]>());
    }
    data.truncate(len);
    std::fs::write(path, &data).expect("write input");
    (marker, data)
}

/// Send `wire` to the vault stream on 127.0.0.1:`port`, close the sending side, and read
/// everything the node answers until it closes.
pub fn stream_ask(port: u16, wire: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    conn.write_all(wire).expect("send");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).expect("answer");
    answer
}
