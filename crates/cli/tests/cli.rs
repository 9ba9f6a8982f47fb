//! The convenience commands against a running `lightstreams dev`: account, send, status, and
//! clear errors for bad arguments and configs.

mod util;

use std::process::{Command, Output};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use util::{Node, dev_accounts, exe, ok_json, serial, tempdir};

fn run(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env_remove("LIGHTSTREAMS_PASSWORD")
        .env_remove("LIGHTSTREAMS_PRIVATE_KEY")
        .output()
        .expect("run lightstreams")
}

#[test]
fn accounts_send_and_status_through_the_cli() {
    let _serial = serial();
    let dir = tempdir("cli");
    let mut node = Node::dev(dir.path(), "dev", &["--block-interval-ms", "200"]);
    node.wait_ready(Duration::from_secs(60));
    let rpc = node.rpc.url.clone();

    let keystore = dir.path().join("keystore");
    let keystore = keystore.to_str().expect("utf-8 path");
    let password = dir.path().join("password");
    std::fs::write(&password, "correct horse\n").expect("write password");
    let password = password.to_str().expect("utf-8 path");

    // Import the first dev key, create a second account, list both.
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, hex::encode(dev_accounts(1)[0].to_bytes())).expect("write key");
    let imported = ok_json(&run(&[
        "account",
        "import",
        "--json",
        "--keystore",
        keystore,
        "--password-file",
        password,
        "--key-file",
        key_file.to_str().expect("utf-8"),
    ]));
    let funded: Address = imported["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("parse");
    assert_eq!(funded, dev_accounts(1)[0].address());
    let again = run(&[
        "account",
        "import",
        "--keystore",
        keystore,
        "--password-file",
        password,
        "--key-file",
        key_file.to_str().expect("utf-8"),
    ]);
    assert!(
        !again.status.success(),
        "importing the same key twice is refused"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"));
    let created = ok_json(&run(&[
        "account",
        "new",
        "--json",
        "--keystore",
        keystore,
        "--password-file",
        password,
    ]));
    let fresh: Address = created["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("parse");
    let listed = ok_json(&run(&["account", "list", "--json", "--keystore", keystore]));
    let addresses: Vec<Address> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            a["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("parse")
        })
        .collect();
    assert!(
        addresses.contains(&funded) && addresses.contains(&fresh),
        "{listed}"
    );

    // Send from the keystore account and wait for finality.
    let sent = ok_json(&run(&[
        "send",
        "--json",
        "--from",
        &funded.to_string(),
        "--keystore",
        keystore,
        "--password-file",
        password,
        "--to",
        &fresh.to_string(),
        "--value",
        "1.5pht",
        "--rpc",
        &rpc,
    ]));
    assert!(
        sent["block"].as_u64().expect("finalized block") >= 1,
        "{sent}"
    );
    assert_eq!(
        node.rpc.balance(fresh, "latest"),
        U256::from(1_500_000_000_000_000_000u128)
    );

    // A wrong password is refused without touching the chain.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "nope").expect("write");
    let refused = run(&[
        "send",
        "--from",
        &funded.to_string(),
        "--keystore",
        keystore,
        "--password-file",
        wrong.to_str().expect("utf-8"),
        "--to",
        &fresh.to_string(),
        "--value",
        "1",
        "--rpc",
        &rpc,
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("wrong password"));

    // Bad arguments name what is wrong.
    let bad_to = run(&[
        "send",
        "--private-key",
        "0x01",
        "--to",
        "nobody",
        "--value",
        "1",
        "--rpc",
        &rpc,
    ]);
    assert!(String::from_utf8_lossy(&bad_to.stderr).contains("--to"));
    let bad_value = run(&[
        "send",
        "--from",
        &funded.to_string(),
        "--to",
        &fresh.to_string(),
        "--value",
        "lots",
        "--rpc",
        &rpc,
    ]);
    assert!(String::from_utf8_lossy(&bad_value.stderr).contains("cannot read amount"));

    let status = ok_json(&run(&["status", "--json", "--rpc", &rpc]));
    assert_eq!(status["chain_id"], 161);
    assert!(status["head"]["number"].as_u64().expect("number") >= 1);
    let down = run(&["status", "--rpc", "http://127.0.0.1:9"]);
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach the node"));
}

#[test]
fn bad_node_configs_get_clear_errors() {
    let dir = tempdir("config");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "data_dir = [").expect("write");
    let out = run(&["node", "--config", config.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid node configuration"));

    std::fs::write(
        &config,
        "data_dir = \"d\"\ngenesis = \"missing.json\"\nkey = \"k\"\n",
    )
    .expect("write");
    let out = run(&["node", "--config", config.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read genesis file"));

    let out = run(&[
        "node",
        "--config",
        config.to_str().expect("utf-8"),
        "--join",
        "nonsense",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUBLIC_KEY@HOST:PORT"));
}
