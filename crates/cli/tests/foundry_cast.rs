//! Foundry's `cast` (npm `@foundry-rs/cast-linux-amd64`, installed by `npm ci` in tests/e2e-js)
//! against `lightstreams dev`: chain id, balances, EIP-1559 and legacy sends, blocks, receipts.

mod util;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use util::{Node, serial, tempdir};

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEAD: &str = "0x000000000000000000000000000000000000dEaD";

fn cast_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/e2e-js/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        path.exists(),
        "run `npm ci` in tests/e2e-js first ({} is missing)",
        path.display()
    );
    path
}

fn cast(args: &[&str]) -> String {
    let out = Command::new(cast_path())
        .args(args)
        .output()
        .expect("run cast");
    assert!(
        out.status.success(),
        "cast {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn cast_reads_and_sends() {
    let _serial = serial();
    let dir = tempdir("cast");
    let mut node = Node::dev(dir.path(), "dev", &["--block-interval-ms", "200"]);
    node.wait_ready(Duration::from_secs(60));
    let rpc = node.rpc.url.clone();
    let r = rpc.as_str();

    assert_eq!(cast(&["chain-id", "-r", r]), "161");
    assert_eq!(
        cast(&[
            "balance",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "-r",
            r
        ]),
        "10000000000000000000000"
    );
    let sent = cast(&[
        "send",
        "--private-key",
        KEY,
        DEAD,
        "--value",
        "1ether",
        "-r",
        r,
    ]);
    assert!(sent.contains("1 (success)"), "{sent}");
    let legacy = cast(&[
        "send",
        "--legacy",
        "--private-key",
        KEY,
        DEAD,
        "--value",
        "1ether",
        "-r",
        r,
    ]);
    assert!(legacy.contains("1 (success)"), "{legacy}");
    assert_eq!(
        cast(&["balance", DEAD, "--ether", "-r", r]),
        "2.000000000000000000"
    );
    assert_eq!(
        cast(&[
            "nonce",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "-r",
            r
        ]),
        "2"
    );
    let block = cast(&["block", "latest", "--json", "-r", r]);
    let block: serde_json::Value = serde_json::from_str(&block).expect("block JSON");
    assert_eq!(block["baseFeePerGas"], "0x3b9aca00");
    let head = cast(&["block-number", "-r", r]);
    assert!(head.parse::<u64>().expect("number") >= 2, "{head}");
}
