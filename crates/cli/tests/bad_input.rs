//! Malformed and hostile input to `dev`'s JSON-RPC: each gets a JSON-RPC error (or HTTP 413 for
//! an oversized body) with a clear message, and the node stays alive and keeps finalizing.

mod util;

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Signature, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use util::*;

/// JSON-RPC codes (geth's, see crates/api/src/error.rs and jsonrpsee).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const SERVER_ERROR: i64 = -32000;

/// The node is alive, and a fresh transfer finalizes.
fn assert_healthy(node: &mut Node, signer: &PrivateKeySigner, after: &str) {
    if let Some(status) = node.exited() {
        panic!("the node exited with {status} after {after}");
    }
    let nonce = node.rpc.nonce(signer.address(), "pending");
    let tx = transfer(signer, nonce, random_address(), 1, CHAIN_ID);
    node.rpc
        .send_raw(&tx.raw)
        .unwrap_or_else(|e| panic!("after {after}: a valid transfer was refused: {e}"));
    wait_receipts(&node.rpc, &[tx.hash], Duration::from_secs(20));
}

/// `eth_sendRawTransaction(raw_hex)` fails with `code` and a message containing `needle`.
fn expect_send_error(node: &Node, raw_hex: &str, code: i64, needle: &str, what: &str) {
    let err = node
        .rpc
        .call("eth_sendRawTransaction", json!([raw_hex]))
        .map(|v| panic!("{what}: accepted, returned {v}"))
        .unwrap_err();
    eprintln!("{what}: {err}");
    assert_eq!(err.code, code, "{what}: {err}");
    assert!(
        err.message.contains(needle),
        "{what}: message {:?} lacks {needle:?}",
        err.message
    );
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// A transfer from `signer` with its signature replaced by `f(signature)`.
fn resigned(
    signer: &PrivateKeySigner,
    nonce: u64,
    f: impl FnOnce(Signature) -> Signature,
) -> Vec<u8> {
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(random_address()),
        value: U256::from(1),
        ..Default::default()
    };
    let signature = signer.sign_transaction_sync(&mut tx).expect("sign");
    tx.into_signed(f(signature)).encoded_2718()
}

/// POST a JSON-RPC request of `size` bytes over a raw socket; returns the HTTP status and body.
/// Write errors are ignored (a server may answer and close before reading everything).
fn post_oversized(addr: &str, size: usize, chunked: bool) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = br#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x"#;
    let tail = br#""]}"#;
    let filler = size - head.len() - tail.len();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {size}")
    };
    let headers = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(headers.as_bytes()).expect("send headers");
    let mut write = |bytes: &[u8]| -> std::io::Result<()> {
        if chunked {
            stream.write_all(format!("{:x}\r\n", bytes.len()).as_bytes())?;
            stream.write_all(bytes)?;
            stream.write_all(b"\r\n")
        } else {
            stream.write_all(bytes)
        }
    };
    let mut send = || -> std::io::Result<()> {
        write(head)?;
        let chunk = vec![b'a'; 64 * 1024];
        let mut left = filler;
        while left > 0 {
            let n = left.min(chunk.len());
            write(&chunk[..n])?;
            left -= n;
        }
        write(tail)?;
        Ok(())
    };
    let _ = send();
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in reply to an oversized body: {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn bad_input_gets_clear_errors_and_the_node_survives() {
    let started = Instant::now();
    let dir = tempdir("bad-input");
    let mut node = Node::dev(dir.path(), "dev", &["--block-interval-ms", "200"]);
    node.wait_ready(Duration::from_secs(30));
    let accounts = dev_accounts(2);
    let signer = &accounts[1];

    // Malformed raw transactions.
    expect_send_error(
        &node,
        "0x",
        SERVER_ERROR,
        "invalid transaction encoding",
        "empty tx",
    );
    expect_send_error(
        &node,
        "0x1234",
        SERVER_ERROR,
        "invalid transaction encoding",
        "0x1234",
    );
    let err = node
        .rpc
        .call("eth_sendRawTransaction", json!(["not-hex"]))
        .expect_err("not-hex accepted");
    eprintln!("not-hex: {err}");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
    assert!(err.message.contains("invalid argument 0"), "{err}");
    let err = node
        .rpc
        .call("eth_sendRawTransaction", json!([]))
        .expect_err("missing param accepted");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
    // A valid transaction, truncated.
    let nonce = node.rpc.nonce(signer.address(), "pending");
    let valid = transfer(signer, nonce, random_address(), 1, CHAIN_ID).raw;
    expect_send_error(
        &node,
        &hex0x(&valid[..valid.len() - 5]),
        SERVER_ERROR,
        "invalid transaction encoding",
        "truncated tx",
    );

    // Signed for another chain.
    let other_chain = transfer(signer, nonce, random_address(), 1, 1);
    expect_send_error(
        &node,
        &hex0x(&other_chain.raw),
        SERVER_ERROR,
        "invalid chain id for signer: have 1 want 161",
        "wrong chain id",
    );

    // Bad signatures: r = 0 does not recover; a flipped byte of r recovers someone else (an
    // empty account), never the signer.
    let zero_r = resigned(signer, nonce, |s| Signature::new(U256::ZERO, s.s(), s.v()));
    expect_send_error(
        &node,
        &hex0x(&zero_r),
        SERVER_ERROR,
        "invalid sender",
        "r = 0",
    );
    let flipped = resigned(signer, nonce, |s| {
        Signature::new(s.r() ^ U256::from(0xff), s.s(), s.v())
    });
    let err = node
        .rpc
        .call("eth_sendRawTransaction", json!([hex0x(&flipped)]))
        .expect_err("flipped signature accepted");
    eprintln!("flipped r: {err}");
    assert_eq!(err.code, SERVER_ERROR, "{err}");
    assert!(
        err.message.contains("invalid sender") || err.message.contains("insufficient funds"),
        "{err}"
    );
    let signer_hex = format!("{:x}", signer.address());
    assert!(
        !err.message.to_lowercase().contains(&signer_hex),
        "attributed to the signer: {err}"
    );
    // High s (EIP-2) is refused.
    let high_s = resigned(signer, nonce, |s| {
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .expect("n");
        Signature::new(s.r(), n - s.s(), !s.v())
    });
    let err = node
        .rpc
        .call("eth_sendRawTransaction", json!([hex0x(&high_s)]))
        .expect_err("high-s signature accepted");
    eprintln!("high s: {err}");
    assert_eq!(err.code, SERVER_ERROR, "{err}");
    assert!(err.message.contains("invalid sender"), "{err}");

    // Nonce too low: reuse the nonce of a finalized transfer.
    let first = transfer(signer, nonce, random_address(), 1, CHAIN_ID);
    node.rpc.send_raw(&first.raw).expect("valid transfer");
    wait_receipts(&node.rpc, &[first.hash], Duration::from_secs(20));
    let again = transfer(signer, nonce, random_address(), 2, CHAIN_ID);
    expect_send_error(
        &node,
        &hex0x(&again.raw),
        SERVER_ERROR,
        "nonce too low",
        "nonce too low",
    );

    // Insufficient funds: an empty account.
    let pauper = PrivateKeySigner::random();
    let broke = transfer(&pauper, 0, random_address(), 1, CHAIN_ID);
    expect_send_error(
        &node,
        &hex0x(&broke.raw),
        SERVER_ERROR,
        "insufficient funds for gas * price + value",
        "insufficient funds",
    );
    // More value than the dev account holds.
    let rich = &accounts[0];
    let n = node.rpc.nonce(rich.address(), "pending");
    let mut tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: n,
        gas_limit: 21_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(random_address()),
        value: U256::from(10u128.pow(30)),
        ..Default::default()
    };
    let sig = rich.sign_transaction_sync(&mut tx).expect("sign");
    expect_send_error(
        &node,
        &hex0x(&tx.into_signed(sig).encoded_2718()),
        SERVER_ERROR,
        "insufficient funds",
        "value above balance",
    );
    assert_healthy(&mut node, signer, "bad transactions");
    eprintln!("[{:?}] bad transactions done", started.elapsed());

    // Oversized body (> 10 MiB), with a Content-Length and chunked: HTTP 413.
    let url = node.rpc.url.clone();
    let addr = url.trim_start_matches("http://");
    let (status, text) = post_oversized(addr, 11 * 1024 * 1024, false);
    eprintln!("oversized body: HTTP {status}: {}", text.trim());
    assert_eq!(status, 413, "oversized body: HTTP {status}: {text}");
    assert!(text.contains("Request is too big"), "{text}");
    // Without a Content-Length (chunked) the limit is enforced while reading; jsonrpsee 0.26
    // then answers HTTP 500 "Internal error" (-32603) instead of 413 (known issue, see the
    // e2e report). Require the refusal, tolerate the status.
    let (status, text) = post_oversized(addr, 11 * 1024 * 1024, true);
    eprintln!("oversized chunked body: HTTP {status}: {}", text.trim());
    assert!(
        status == 413 || status == 500,
        "oversized chunked body: HTTP {status}: {text}"
    );
    let reply: Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(reply["error"]["code"].is_i64(), "{reply}");
    assert_healthy(&mut node, signer, "an oversized body");

    // Garbage JSON.
    for garbage in [
        &b"{not json"[..],
        b"",
        b"\xff\xfe\x00",
        b"[1, 2",
        b"null",
        b"42",
    ] {
        let (status, text) = node.rpc.post_raw(garbage).expect("garbage answered");
        let reply: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("garbage {garbage:?}: HTTP {status}, not JSON ({e}): {text}")
        });
        eprintln!(
            "garbage {:?}: HTTP {status}: {reply}",
            String::from_utf8_lossy(garbage)
        );
        let code = reply["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no error for {garbage:?}: {reply}"));
        assert!(
            code == PARSE_ERROR || code == INVALID_REQUEST,
            "{garbage:?}: {reply}"
        );
        assert!(
            !reply["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{reply}"
        );
    }
    // A request that is JSON but not JSON-RPC.
    let reply = node
        .rpc
        .post_json(&json!({"hello": "world"}))
        .expect("answered");
    let code = reply["error"]["code"].as_i64();
    assert!(
        code == Some(INVALID_REQUEST) || code == Some(PARSE_ERROR),
        "{reply}"
    );

    // Unknown method, alone and inside a batch.
    let err = node
        .rpc
        .call("eth_doesNotExist", json!([]))
        .expect_err("unknown method served");
    eprintln!("unknown method: {err}");
    assert_eq!(err.code, METHOD_NOT_FOUND, "{err}");
    assert_eq!(
        err.message,
        "the method eth_doesNotExist does not exist/is not available"
    );
    let replies = node
        .rpc
        .batch(&[("eth_chainId", json!([])), ("nope_nope", json!([]))])
        .expect("batch");
    assert_eq!(replies[0].as_ref().expect("chainId"), &json!("0xa1"));
    assert_eq!(
        replies[1].as_ref().expect_err("nope").code,
        METHOD_NOT_FOUND
    );
    // Bad parameters to a good method.
    let err = node
        .rpc
        .call("eth_getBalance", json!(["nope", "latest"]))
        .expect_err("bad address accepted");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");
    let err = node
        .rpc
        .call("eth_getBlockByNumber", json!(["0xnothex", false]))
        .expect_err("bad block accepted");
    assert_eq!(err.code, INVALID_PARAMS, "{err}");

    // Batches: empty, at the limit (1,000), above it.
    let (_, text) = node.rpc.post_raw(b"[]").expect("empty batch answered");
    let reply: Value = serde_json::from_str(&text).expect("JSON");
    eprintln!("empty batch: {reply}");
    assert_eq!(reply["error"]["code"], json!(INVALID_REQUEST), "{reply}");
    let calls: Vec<(&str, Value)> = (0..1000).map(|_| ("eth_blockNumber", json!([]))).collect();
    let replies = node.rpc.batch(&calls).expect("batch of 1000");
    assert!(replies.iter().all(Result::is_ok));
    let huge: Vec<Value> = (0..5000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBalance", "params": [random_address(), "latest"]}))
        .collect();
    let reply = node
        .rpc
        .post_json(&Value::Array(huge))
        .expect("huge batch answered");
    let error = if reply.is_array() {
        reply[0]["error"].clone()
    } else {
        reply["error"].clone()
    };
    eprintln!("batch of 5000: {}", error);
    assert!(
        error["code"].is_i64(),
        "a 5,000-request batch was served: {}",
        &reply.to_string()[..200]
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("batch"),
        "{error}"
    );
    assert_healthy(&mut node, signer, "malformed requests");
    eprintln!(
        "[{:?}] all bad input refused; node alive and finalizing",
        started.elapsed()
    );
}
