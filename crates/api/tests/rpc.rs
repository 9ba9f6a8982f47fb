//! End-to-end tests of the JSON-RPC server over real HTTP and WebSocket connections.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::signers::local::PrivateKeySigner;
use futures::{SinkExt, StreamExt};
use lightstreams_api::{RpcConfig, RpcHandle, serve};
use lightstreams_chain::{Chain, ChainConfig};
use lightstreams_primitives::Genesis;
use lightstreams_primitives::dev::dev_accounts;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message;

const CHAIN_ID: u64 = 161;
const GWEI: u128 = 1_000_000_000;

struct Node {
    _dir: TempDir,
    chain: Arc<Chain>,
    rpc: RpcHandle,
    http: reqwest::Client,
    url: String,
    keys: Vec<PrivateKeySigner>,
}

impl Node {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ChainConfig::new(dir.path().to_path_buf(), Genesis::dev(10, vec![]));
        config.empty_block_interval = Duration::from_millis(1);
        let chain = Chain::open(config).expect("open chain");
        let mut rpc_config = RpcConfig::new("127.0.0.1:0".parse().expect("addr"));
        rpc_config.max_request_body = 256 * 1024;
        let rpc = serve(chain.clone(), rpc_config).await.expect("serve");
        let url = format!("http://{}", rpc.local_addr());
        Self {
            _dir: dir,
            chain,
            rpc,
            http: reqwest::Client::new(),
            url,
            keys: dev_accounts(3),
        }
    }

    /// Build a block from the pool and finalize it.
    async fn mine(&self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let block = self
            .chain
            .build(
                &[],
                &self.chain.head(),
                now_ms,
                Address::repeat_byte(0xbe),
                Bytes::new(),
            )
            .await
            .expect("build");
        self.chain.finalize(&block, b"cert").expect("finalize");
        block.number()
    }

    /// POST a raw body; the HTTP status and parsed JSON response.
    async fn post(&self, body: String) -> (u16, Value) {
        let res = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The full JSON-RPC response object.
    async fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let (status, response) = self.post(body.to_string()).await;
        assert_eq!(status, 200, "{method}: {response}");
        response
    }

    /// The result; panics on an error response.
    async fn ok(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The error object; panics on success.
    async fn err(&self, method: &str, params: Value) -> Value {
        let response = self.call(method, params).await;
        assert!(response.get("error").is_some(), "{method}: {response}");
        response["error"].clone()
    }

    async fn send(&self, raw: &[u8]) -> B256 {
        let hash = self
            .ok(
                "eth_sendRawTransaction",
                json!([Bytes::copy_from_slice(raw)]),
            )
            .await;
        serde_json::from_value(hash).expect("hash")
    }
}

fn sign_1559(key: &PrivateKeySigner, nonce: u64, to: TxKind, value: U256, input: Bytes) -> Vec<u8> {
    sign_1559_on(key, CHAIN_ID, nonce, to, value, input, 1_000_000)
}

fn sign_1559_on(
    key: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        input,
        ..Default::default()
    };
    let sig = key.sign_transaction_sync(&mut tx).expect("sign");
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

fn hex_u256(v: &Value) -> U256 {
    serde_json::from_value(v.clone()).expect("U256")
}

/// Topic of the test contract's event.
fn event_topic() -> B256 {
    keccak256("Stored(address,uint256)")
}

/// Runtime: with no calldata, revert with `Error("nope")`; otherwise store the first word in
/// slot 0, emit `Stored` (topic1 = caller, data = word) and return the word.
fn runtime_code() -> Vec<u8> {
    let mut c = vec![0x36, 0x15, 0x60, 0x00, 0x57]; // CALLDATASIZE ISZERO PUSH1 <label> JUMPI
    c.extend([0x60, 0x00, 0x35]); // PUSH1 0 CALLDATALOAD
    c.extend([0x80, 0x60, 0x00, 0x55]); // DUP1 PUSH1 0 SSTORE
    c.extend([0x60, 0x00, 0x52]); // PUSH1 0 MSTORE
    c.push(0x33); // CALLER
    c.push(0x7f); // PUSH32 topic0
    c.extend_from_slice(event_topic().as_slice());
    c.extend([0x60, 0x20, 0x60, 0x00, 0xa2]); // PUSH1 32 PUSH1 0 LOG2
    c.extend([0x60, 0x20, 0x60, 0x00, 0xf3]); // PUSH1 32 PUSH1 0 RETURN
    let label = c.len() as u8;
    c[3] = label;
    c.push(0x5b); // JUMPDEST
    c.push(0x7f); // PUSH32 selector of Error(string)
    let mut word = [0u8; 32];
    word[..4].copy_from_slice(&[0x08, 0xc3, 0x79, 0xa0]);
    c.extend_from_slice(&word);
    c.extend([0x60, 0x00, 0x52]); // PUSH1 0 MSTORE
    c.extend([0x60, 0x20, 0x60, 0x04, 0x52]); // MSTORE(4, 32)
    c.extend([0x60, 0x04, 0x60, 0x24, 0x52]); // MSTORE(36, 4)
    c.push(0x7f); // PUSH32 "nope"
    let mut word = [0u8; 32];
    word[..4].copy_from_slice(b"nope");
    c.extend_from_slice(&word);
    c.extend([0x60, 0x44, 0x52]); // MSTORE(68, "nope")
    c.extend([0x60, 0x64, 0x60, 0x00, 0xfd]); // REVERT(0, 100)
    c
}

fn init_code() -> Bytes {
    let runtime = runtime_code();
    let len = runtime.len() as u8;
    let mut c = vec![
        0x60, len, 0x60, 12, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3,
    ];
    c.extend(runtime);
    c.into()
}

fn word(n: u64) -> Bytes {
    Bytes::copy_from_slice(&B256::from(U256::from(n)).0)
}

#[tokio::test]
async fn transfer_receipt_blocks_and_state() {
    let node = Node::start().await;
    let sender = node.keys[0].address();
    let to = Address::repeat_byte(0x42);
    let value = U256::from(12345u64);

    assert_eq!(node.ok("eth_chainId", json!([])).await, json!("0xa1"));
    assert_eq!(node.ok("net_version", json!([])).await, json!("161"));
    let version = node.ok("web3_clientVersion", json!([])).await;
    assert_eq!(
        version,
        json!(format!("lightstreams/v{}", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(node.ok("eth_blockNumber", json!([])).await, json!("0x0"));
    assert_eq!(node.ok("eth_syncing", json!([])).await, json!(false));
    assert_eq!(node.ok("eth_accounts", json!([])).await, json!([]));
    assert_eq!(
        node.ok("eth_gasPrice", json!([])).await,
        json!("0x77359400")
    );
    assert_eq!(
        node.ok("eth_maxPriorityFeePerGas", json!([])).await,
        json!("0x3b9aca00")
    );
    assert_eq!(
        node.ok("web3_sha3", json!(["0x"])).await,
        json!(keccak256([]))
    );
    let balance_before = hex_u256(&node.ok("eth_getBalance", json!([sender, "latest"])).await);

    let hash = node
        .send(&sign_1559(
            &node.keys[0],
            0,
            TxKind::Call(to),
            value,
            Bytes::new(),
        ))
        .await;

    // Pending: in the pool, not yet mined.
    let pending = node.ok("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(pending["blockHash"], Value::Null);
    assert_eq!(pending["blockNumber"], Value::Null);
    assert_eq!(pending["from"], json!(sender));
    assert_eq!(
        node.ok("eth_getTransactionReceipt", json!([hash])).await,
        Value::Null
    );
    assert_eq!(
        node.ok("eth_getTransactionCount", json!([sender, "pending"]))
            .await,
        json!("0x1")
    );
    assert_eq!(
        node.ok("eth_getTransactionCount", json!([sender, "latest"]))
            .await,
        json!("0x0")
    );

    let number = node.mine().await;
    assert_eq!(number, 1);
    assert_eq!(node.ok("eth_blockNumber", json!([])).await, json!("0x1"));

    let receipt = node.ok("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["type"], json!("0x2"));
    assert_eq!(receipt["gasUsed"], json!("0x5208"));
    assert_eq!(receipt["cumulativeGasUsed"], json!("0x5208"));
    assert_eq!(receipt["effectiveGasPrice"], json!("0x77359400"));
    assert_eq!(receipt["from"], json!(sender));
    assert_eq!(receipt["to"], json!(to));
    assert_eq!(receipt["contractAddress"], Value::Null);
    assert_eq!(receipt["transactionIndex"], json!("0x0"));
    assert_eq!(receipt["blockNumber"], json!("0x1"));
    assert_eq!(receipt["logs"], json!([]));
    assert_eq!(receipt["logsBloom"].as_str().map(str::len), Some(514));

    let tx = node.ok("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["blockHash"], receipt["blockHash"]);
    assert_eq!(tx["blockNumber"], json!("0x1"));
    assert_eq!(tx["transactionIndex"], json!("0x0"));
    assert_eq!(tx["type"], json!("0x2"));
    assert_eq!(tx["chainId"], json!("0xa1"));
    assert_eq!(tx["from"], json!(sender));
    assert_eq!(tx["to"], json!(to));
    assert_eq!(tx["value"], json!("0x3039"));
    assert_eq!(tx["gasPrice"], json!("0x77359400"));
    assert_eq!(tx["maxFeePerGas"], json!("0x2540be400"));
    assert_eq!(tx["accessList"], json!([]));
    for field in ["v", "r", "s", "yParity", "hash", "input", "nonce", "gas"] {
        assert!(tx.get(field).is_some(), "tx lacks {field}: {tx}");
    }

    // Balances, now and at the previous block (by number and by EIP-1898 hash).
    assert_eq!(
        hex_u256(&node.ok("eth_getBalance", json!([to, "latest"])).await),
        value
    );
    assert_eq!(
        hex_u256(&node.ok("eth_getBalance", json!([to, "0x0"])).await),
        U256::ZERO
    );
    let genesis = node
        .ok("eth_getBlockByNumber", json!(["earliest", false]))
        .await;
    assert_eq!(
        hex_u256(
            &node
                .ok(
                    "eth_getBalance",
                    json!([sender, { "blockHash": genesis["hash"] }])
                )
                .await
        ),
        balance_before
    );
    let fee = U256::from(21_000u64 * 2 * GWEI as u64);
    assert_eq!(
        hex_u256(
            &node
                .ok("eth_getBalance", json!([sender, { "blockNumber": "0x1" }]))
                .await
        ),
        balance_before - value - fee
    );
    let err = node.err("eth_getBalance", json!([sender, "0x99"])).await;
    assert_eq!(err["message"], json!("header not found"));

    // Blocks.
    let block = node
        .ok("eth_getBlockByNumber", json!(["latest", false]))
        .await;
    assert_eq!(block["hash"], receipt["blockHash"]);
    assert_eq!(block["number"], json!("0x1"));
    assert_eq!(block["parentHash"], genesis["hash"]);
    assert_eq!(block["transactions"], json!([hash]));
    assert_eq!(block["difficulty"], json!("0x0"));
    assert_eq!(block["totalDifficulty"], json!("0x0"));
    assert_eq!(block["uncles"], json!([]));
    assert_eq!(block["baseFeePerGas"], json!("0x3b9aca00"));
    assert_eq!(block["gasUsed"], json!("0x5208"));
    for field in [
        "sha3Uncles",
        "miner",
        "stateRoot",
        "transactionsRoot",
        "receiptsRoot",
        "logsBloom",
        "gasLimit",
        "timestamp",
        "extraData",
        "mixHash",
        "nonce",
        "size",
    ] {
        assert!(block.get(field).is_some(), "block lacks {field}");
    }
    let full = node
        .ok("eth_getBlockByHash", json!([block["hash"], true]))
        .await;
    assert_eq!(full["transactions"][0], tx);
    assert_eq!(
        node.ok(
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["0x1", "0x0"])
        )
        .await,
        tx
    );
    assert_eq!(
        node.ok(
            "eth_getTransactionByBlockHashAndIndex",
            json!([block["hash"], "0x0"])
        )
        .await,
        tx
    );
    assert_eq!(
        node.ok(
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["0x1", "0x5"])
        )
        .await,
        Value::Null
    );
    assert_eq!(
        node.ok("eth_getBlockTransactionCountByNumber", json!(["0x1"]))
            .await,
        json!("0x1")
    );
    assert_eq!(
        node.ok("eth_getBlockTransactionCountByHash", json!([block["hash"]]))
            .await,
        json!("0x1")
    );
    assert_eq!(
        node.ok("eth_getUncleCountByBlockNumber", json!(["0x1"]))
            .await,
        json!("0x0")
    );
    assert_eq!(
        node.ok("eth_getBlockByNumber", json!(["0x64", false]))
            .await,
        Value::Null
    );
    assert_eq!(
        node.ok("eth_getBlockByHash", json!([B256::repeat_byte(1), false]))
            .await,
        Value::Null
    );
    assert_eq!(
        node.ok("eth_getTransactionByHash", json!([B256::repeat_byte(1)]))
            .await,
        Value::Null
    );
    let receipts = node.ok("eth_getBlockReceipts", json!(["0x1"])).await;
    assert_eq!(receipts, json!([receipt]));

    let history = node
        .ok("eth_feeHistory", json!(["0x2", "latest", [10.0, 50.0]]))
        .await;
    assert_eq!(history["oldestBlock"], json!("0x0"));
    assert_eq!(history["baseFeePerGas"].as_array().map(Vec::len), Some(3));
    assert_eq!(history["gasUsedRatio"].as_array().map(Vec::len), Some(2));
    assert_eq!(history["reward"][1], json!(["0x3b9aca00", "0x3b9aca00"]));

    assert_eq!(
        node.ok("lightstreams_certificate", json!(["0x1"])).await,
        json!(Bytes::from_static(b"cert"))
    );
    assert_eq!(
        node.ok("lightstreams_certificate", json!(["0x9"])).await,
        Value::Null
    );

    node.rpc.stop();
}

#[tokio::test]
async fn legacy_transaction_object() {
    let node = Node::start().await;
    let mut tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce: 0,
        gas_price: 3 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(7)),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = node.keys[1].sign_transaction_sync(&mut tx).expect("sign");
    let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
    let hash = node.send(&raw).await;
    node.mine().await;
    let got = node.ok("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(got["type"], json!("0x0"));
    assert_eq!(got["gasPrice"], json!("0xb2d05e00"));
    assert_eq!(got["chainId"], json!("0xa1"));
    assert_eq!(got["from"], json!(node.keys[1].address()));
    let receipt = node.ok("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["effectiveGasPrice"], json!("0xb2d05e00"));
    assert_eq!(receipt["type"], json!("0x0"));
}

#[tokio::test]
async fn contract_call_estimate_and_logs() {
    let node = Node::start().await;
    let key = &node.keys[0];
    let sender = key.address();
    let deploy = node
        .send(&sign_1559(key, 0, TxKind::Create, U256::ZERO, init_code()))
        .await;
    node.mine().await;
    let receipt = node.ok("eth_getTransactionReceipt", json!([deploy])).await;
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["to"], Value::Null);
    let contract: Address =
        serde_json::from_value(receipt["contractAddress"].clone()).expect("contract address");
    assert_eq!(contract, sender.create(0));
    let code = node.ok("eth_getCode", json!([contract, "latest"])).await;
    assert_eq!(code, json!(Bytes::from(runtime_code())));
    assert_eq!(
        node.ok("eth_getCode", json!([contract, "0x0"])).await,
        json!("0x")
    );

    // eth_call returns the word; a revert is code 3 with the reason and data.
    let out = node
        .ok(
            "eth_call",
            json!([{ "to": contract, "data": word(7) }, "latest"]),
        )
        .await;
    assert_eq!(out, json!(word(7)));
    let out = node
        .ok("eth_call", json!([{ "to": contract, "input": word(8) }]))
        .await;
    assert_eq!(out, json!(word(8)));
    let err = node
        .err(
            "eth_call",
            json!([{ "to": contract, "from": sender }, "latest"]),
        )
        .await;
    assert_eq!(err["code"], json!(3));
    assert_eq!(err["message"], json!("execution reverted: nope"));
    assert!(
        err["data"]
            .as_str()
            .is_some_and(|d| d.starts_with("0x08c379a0")),
        "{err}"
    );
    let err = node
        .err(
            "eth_estimateGas",
            json!([{ "to": contract, "from": sender }]),
        )
        .await;
    assert_eq!(err["code"], json!(3));
    assert_eq!(err["message"], json!("execution reverted: nope"));
    let err = node
        .err(
            "eth_call",
            json!([{ "to": contract, "data": word(7) }, "0x50"]),
        )
        .await;
    assert_eq!(err["message"], json!("header not found"));

    let estimate = hex_u64(
        &node
            .ok(
                "eth_estimateGas",
                json!([{ "to": contract, "from": sender, "data": word(5) }]),
            )
            .await,
    );
    assert!(estimate > 21_000 && estimate < 100_000, "{estimate}");
    let transfer = node
        .ok(
            "eth_estimateGas",
            json!([{ "to": Address::repeat_byte(3), "from": sender, "value": "0x1" }]),
        )
        .await;
    assert_eq!(transfer, json!("0x5208"));

    // Two calls from two senders in two blocks: logs, topics and filters.
    let filter_id = node
        .ok("eth_newFilter", json!([{ "address": contract }]))
        .await;
    let block_filter = node.ok("eth_newBlockFilter", json!([])).await;
    let first = node
        .send(&sign_1559(
            key,
            1,
            TxKind::Call(contract),
            U256::ZERO,
            word(5),
        ))
        .await;
    node.mine().await;
    let other = &node.keys[1];
    let second = node
        .send(&sign_1559(
            other,
            0,
            TxKind::Call(contract),
            U256::ZERO,
            word(6),
        ))
        .await;
    let last = node.mine().await;
    assert_eq!(last, 3);

    let r1 = node.ok("eth_getTransactionReceipt", json!([first])).await;
    assert_eq!(r1["logs"].as_array().map(Vec::len), Some(1));
    let log = &r1["logs"][0];
    assert_eq!(log["address"], json!(contract));
    assert_eq!(
        log["topics"],
        json!([event_topic(), B256::left_padding_from(sender.as_slice())])
    );
    assert_eq!(log["data"], json!(word(5)));
    assert_eq!(log["logIndex"], json!("0x0"));
    assert_eq!(log["transactionHash"], json!(first));
    assert_eq!(log["removed"], json!(false));
    assert_eq!(
        hex_u256(
            &node
                .ok("eth_getStorageAt", json!([contract, "0x0", "latest"]))
                .await
        ),
        U256::from(6)
    );
    assert_eq!(
        hex_u256(
            &node
                .ok("eth_getStorageAt", json!([contract, "0x0", "0x2"]))
                .await
        ),
        U256::from(5)
    );

    let all = node
        .ok(
            "eth_getLogs",
            json!([{ "fromBlock": "earliest", "toBlock": "latest", "address": contract }]),
        )
        .await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(all[0], *log);
    assert_eq!(all[1]["transactionHash"], json!(second));

    let by_sender = |who: Address| json!([{ "fromBlock": "0x0", "topics": [event_topic(), B256::left_padding_from(who.as_slice())] }]);
    let mine = node.ok("eth_getLogs", by_sender(sender)).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["data"], json!(word(5)));
    let none = node
        .ok("eth_getLogs", by_sender(Address::repeat_byte(9)))
        .await;
    assert_eq!(none, json!([]));
    let either = node
        .ok(
            "eth_getLogs",
            json!([{ "fromBlock": "0x0", "address": [contract, Address::repeat_byte(1)], "topics": [null, [
                B256::left_padding_from(sender.as_slice()),
                B256::left_padding_from(other.address().as_slice()),
            ]] }]),
        )
        .await;
    assert_eq!(either.as_array().map(Vec::len), Some(2));
    let wrong_topic = node
        .ok(
            "eth_getLogs",
            json!([{ "fromBlock": "0x0", "topics": [B256::repeat_byte(5)] }]),
        )
        .await;
    assert_eq!(wrong_topic, json!([]));
    let by_hash = node
        .ok("eth_getLogs", json!([{ "blockHash": r1["blockHash"] }]))
        .await;
    assert_eq!(by_hash, json!([log]));
    let latest_only = node.ok("eth_getLogs", json!([{}])).await;
    assert_eq!(latest_only.as_array().map(Vec::len), Some(1));
    let err = node
        .err(
            "eth_getLogs",
            json!([{ "fromBlock": "0x0", "toBlock": "0x4e20" }]),
        )
        .await;
    assert_eq!(err["message"], json!("query exceeds max block range 10000"));

    // Polling filters saw both blocks, then nothing new.
    let changes = node.ok("eth_getFilterChanges", json!([filter_id])).await;
    assert_eq!(changes, all);
    assert_eq!(
        node.ok("eth_getFilterChanges", json!([filter_id])).await,
        json!([])
    );
    assert_eq!(
        node.ok("eth_getFilterLogs", json!([filter_id])).await,
        json!([all[1]])
    );
    let blocks = node.ok("eth_getFilterChanges", json!([block_filter])).await;
    assert_eq!(blocks.as_array().map(Vec::len), Some(2));
    assert_eq!(
        node.ok("eth_uninstallFilter", json!([filter_id])).await,
        json!(true)
    );
    assert_eq!(
        node.ok("eth_uninstallFilter", json!([filter_id])).await,
        json!(false)
    );
    let err = node.err("eth_getFilterChanges", json!([filter_id])).await;
    assert_eq!(err["message"], json!("filter not found"));
}

#[tokio::test]
async fn refused_transactions_and_bad_requests() {
    let node = Node::start().await;
    let key = &node.keys[0];
    let to = TxKind::Call(Address::repeat_byte(1));
    node.send(&sign_1559(key, 0, to, U256::from(1), Bytes::new()))
        .await;
    node.mine().await;

    let raw = |bytes: Vec<u8>| json!([Bytes::from(bytes)]);
    let err = node
        .err(
            "eth_sendRawTransaction",
            raw(sign_1559(key, 0, to, U256::from(2), Bytes::new())),
        )
        .await;
    assert_eq!(err["code"], json!(-32000));
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("nonce too low")),
        "{err}"
    );

    let poor = PrivateKeySigner::random();
    let err = node
        .err(
            "eth_sendRawTransaction",
            raw(sign_1559(&poor, 0, to, U256::from(1), Bytes::new())),
        )
        .await;
    assert_eq!(err["code"], json!(-32000));
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("insufficient funds for gas * price + value")),
        "{err}"
    );

    let wrong_chain = sign_1559_on(
        key,
        CHAIN_ID + 1,
        1,
        to,
        U256::from(1),
        Bytes::new(),
        21_000,
    );
    let err = node.err("eth_sendRawTransaction", raw(wrong_chain)).await;
    assert_eq!(err["code"], json!(-32000));
    assert_eq!(
        err["message"],
        json!("invalid chain id for signer: have 162 want 161")
    );
    assert_eq!(
        node.ok("eth_getTransactionCount", json!([key.address(), "pending"]))
            .await,
        json!("0x1")
    );

    let err = node.err("eth_sendRawTransaction", json!(["0x1234"])).await;
    assert_eq!(err["code"], json!(-32000));
    let err = node.err("eth_sendRawTransaction", json!(["0xzz"])).await;
    assert_eq!(err["code"], json!(-32602));
    let err = node.err("eth_sendRawTransaction", json!([])).await;
    assert_eq!(err["code"], json!(-32602));
    let err = node.err("eth_getBalance", json!(["not an address"])).await;
    assert_eq!(err["code"], json!(-32602));
    let err = node
        .err("eth_getBalance", json!({ "address": "0x00" }))
        .await;
    assert_eq!(err["code"], json!(-32602));
    let err = node
        .err("eth_getBlockByNumber", json!([{ "weird": [1, 2] }, 7]))
        .await;
    assert_eq!(err["code"], json!(-32602));
    let err = node
        .err("eth_feeHistory", json!(["0x5", "latest", [90.0, 10.0]]))
        .await;
    assert_eq!(err["code"], json!(-32602));

    let err = node.err("eth_noSuchMethod", json!([])).await;
    assert_eq!(err["code"], json!(-32601));
    assert_eq!(
        err["message"],
        json!("the method eth_noSuchMethod does not exist/is not available")
    );

    // Malformed JSON.
    let (status, body) = node.post("{ not json".into()).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"]["code"], json!(-32700));

    // Oversized body (the test server's limit is 256 KiB).
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
        "00".repeat(300 * 1024)
    );
    let (status, body) = node.post(big).await;
    assert!(
        status == 413 || body["error"]["code"] == json!(-32007),
        "{status} {body}"
    );

    // Batch: results in order, each with its id; an unknown method fails alone.
    let batch = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": [] },
        { "jsonrpc": "2.0", "id": "two", "method": "nope_nope", "params": [] },
        { "jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber" },
    ]);
    let (status, body) = node.post(batch.to_string()).await;
    assert_eq!(status, 200);
    let responses = body.as_array().expect("batch response");
    assert_eq!(responses.len(), 3);
    let by_id = |id: Value| {
        responses
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no response with id {id}"))
    };
    assert_eq!(by_id(json!(1))["result"], json!("0xa1"));
    assert_eq!(by_id(json!("two"))["error"]["code"], json!(-32601));
    assert_eq!(by_id(json!(3))["result"], json!("0x1"));

    // CORS preflight from a browser dapp.
    let res = node
        .http
        .request(reqwest::Method::OPTIONS, &node.url)
        .header("origin", "https://dapp.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    // The page may read every response header (a player needs Content-Range, a client
    // told to wait needs Retry-After).
    let res = node
        .http
        .post(&node.url)
        .header("origin", "https://dapp.example")
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
        .send()
        .await
        .expect("cross-origin call");
    assert_eq!(
        res.headers()
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );

    // Still serving.
    assert_eq!(node.ok("eth_blockNumber", json!([])).await, json!("0x1"));
}

#[tokio::test]
async fn websocket_subscriptions() {
    let node = Node::start().await;
    let ws_url = format!("ws://{}", node.rpc.local_addr());
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("connect");

    let request = |id: u64, method: &str, params: Value| {
        Message::text(
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string(),
        )
    };
    ws.send(request(1, "eth_chainId", json!([])))
        .await
        .expect("send");
    let reply = read(&mut ws).await;
    assert_eq!(reply["result"], json!("0xa1"));

    ws.send(request(2, "eth_subscribe", json!(["newHeads"])))
        .await
        .expect("send");
    let heads_id = read(&mut ws).await["result"].clone();
    assert!(
        heads_id.as_str().is_some_and(|s| s.starts_with("0x")),
        "{heads_id}"
    );
    ws.send(request(
        3,
        "eth_subscribe",
        json!(["logs", { "topics": [event_topic()] }]),
    ))
    .await
    .expect("send");
    let logs_id = read(&mut ws).await["result"].clone();
    ws.send(request(4, "eth_subscribe", json!(["bogus"])))
        .await
        .expect("send");
    let bogus = read(&mut ws).await;
    assert!(bogus.get("error").is_some(), "{bogus}");

    // Deploy the contract and call it in one block: one head, one log.
    let key = &node.keys[0];
    node.send(&sign_1559(key, 0, TxKind::Create, U256::ZERO, init_code()))
        .await;
    node.mine().await;
    let head = read(&mut ws).await;
    assert_eq!(head["method"], json!("eth_subscription"));
    assert_eq!(head["params"]["subscription"], heads_id);
    assert_eq!(head["params"]["result"]["number"], json!("0x1"));
    assert!(head["params"]["result"]["hash"].is_string());

    let contract = key.address().create(0);
    node.send(&sign_1559(
        key,
        1,
        TxKind::Call(contract),
        U256::ZERO,
        word(9),
    ))
    .await;
    node.mine().await;
    let mut saw_head = false;
    let mut saw_log = false;
    for _ in 0..2 {
        let note = read(&mut ws).await;
        let sub = &note["params"]["subscription"];
        if *sub == heads_id {
            assert_eq!(note["params"]["result"]["number"], json!("0x2"));
            saw_head = true;
        } else {
            assert_eq!(*sub, logs_id);
            let log = &note["params"]["result"];
            assert_eq!(log["address"], json!(contract));
            assert_eq!(log["data"], json!(word(9)));
            assert_eq!(log["blockNumber"], json!("0x2"));
            saw_log = true;
        }
    }
    assert!(saw_head && saw_log);

    ws.send(request(5, "eth_unsubscribe", json!([heads_id])))
        .await
        .expect("send");
    assert_eq!(read(&mut ws).await["result"], json!(true));
}

async fn read<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("timely message")
            .expect("open")
            .expect("frame");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("json");
        }
    }
}
