//! The ethers.js conformance suite (tests/e2e-js/chain.test.mjs) against `dev` and against
//! validator-0 of a 4-validator network from `init`.

mod util;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::*;

/// Longest the JS suite may run.
const JS_TIMEOUT: Duration = Duration::from_secs(85);

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e-js")
}

/// Run the suite against `rpc_url`; panics with its output unless it exits 0.
fn run_suite(rpc_url: &str, work: &std::path::Path) {
    let dir = js_dir();
    assert!(
        dir.join("node_modules").join("ethers").is_dir(),
        "run `npm ci` in tests/e2e-js first ({} has no node_modules/ethers)",
        dir.display()
    );
    let out_path = work.join("js-output.log");
    let out = std::fs::File::create(&out_path).expect("output file");
    let started = Instant::now();
    let mut child = Command::new("node")
        .args(["--test", "--test-concurrency=1", "chain.test.mjs"])
        .current_dir(&dir)
        .env("RPC_URL", rpc_url)
        .env("CHAIN_ID", CHAIN_ID.to_string())
        .env_remove("PRIVATE_KEY")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("cannot run `node` (Node.js >= 20 must be on PATH)");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait node") {
            break Some(status);
        }
        if started.elapsed() > JS_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => {
            let summary: Vec<&str> = output
                .lines()
                .filter(|l| {
                    ["# pass", "# fail", "# duration_ms"]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .collect();
            eprintln!(
                "JS suite passed in {:?}: {}",
                started.elapsed(),
                summary.join(", ")
            );
        }
        Some(s) => panic!("the JS suite failed ({s}) against {rpc_url}:\n{output}"),
        None => {
            panic!("the JS suite did not finish within {JS_TIMEOUT:?} against {rpc_url}:\n{output}")
        }
    }
}

#[test]
fn ethers_js_against_dev() {
    let _serial = serial();
    let dir = tempdir("js-dev");
    let mut node = Node::dev(dir.path(), "dev", &["--block-interval-ms", "200"]);
    node.wait_ready(Duration::from_secs(30));
    run_suite(&node.rpc.url.clone(), dir.path());
    assert!(node.exited().is_none(), "dev exited during the JS suite");
}

#[test]
fn ethers_js_against_a_4_validator_network() {
    let _serial = serial();
    let dir = tempdir("js-net");
    let mut nodes = start_validators(dir.path(), 4);
    // Wait for the network to finalize before handing it to the suite.
    wait_until(
        "the network to finalize block 2",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || (nodes[0].rpc.head().ok()? >= 2).then_some(()),
    );
    let url = nodes[0].rpc.url.clone();
    run_suite(&url, dir.path());
    for n in &mut nodes {
        assert!(
            n.exited().is_none(),
            "{} exited during the JS suite",
            n.name
        );
    }
}
