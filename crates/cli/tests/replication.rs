//! The vault across nodes, end to end on real processes over loopback: four validators announce
//! themselves in the node registry; an upload on one node reaches R = 3 nodes; a reader reads
//! through a node that holds nothing; a damaged replica is detected and served from another;
//! with one node stopped every item still reads and repair restores three live copies; a fifth
//! node that joins takes its share; a stranger gets the uniform not-found from every node (and
//! from the peer API); no node's disk holds plaintext; and when the account that operates a
//! node is revoked, that node deletes its replicas.

mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use lightstreams_access::request::{ObjectRef, RequestKind, SignedRequest};
use serde_json::Value;
use util::*;

const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"not found"}}"#;

fn vault_dir(config: &Path) -> PathBuf {
    config
        .parent()
        .expect("config dir")
        .join("data")
        .join("vault")
}

fn item_dir(config: &Path, item: &str) -> PathBuf {
    vault_dir(config)
        .join("items")
        .join(item.trim_start_matches("0x"))
}

fn health(rpc: &str, who: &PrivateKeySigner, item: &str) -> Value {
    ok_json(&cli("vault", rpc, Some(who), &["health", item]))
}

/// Wait (up to `secs`) until the health `rpc` reports for `item` satisfies `ok`; that report.
fn wait_health(
    rpc: &str,
    who: &PrivateKeySigner,
    item: &str,
    what: &str,
    secs: u64,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(
        &format!("{what} of {item} (via {rpc})"),
        Duration::from_secs(secs),
        Duration::from_millis(250),
        || Some(health(rpc, who, item)).filter(|h| ok(h)),
    )
}

/// Wait until `rpc` reports every object of `item` with at least `copies` live copies.
fn wait_replicated(rpc: &str, who: &PrivateKeySigner, item: &str, copies: u64) -> Value {
    let what = format!("{copies} live copies of every object");
    wait_health(rpc, who, item, &what, 90, |h| {
        h["objects"].as_u64() > Some(0) && h["min_copies"].as_u64() >= Some(copies)
    })
}

/// Wait until `rpc` reports every object of `item` on every node of its placement, at most
/// three copies of every chunk and manifest (the extra copies collected) and at least three of
/// every object. Three copies alone are not enough: while objects move to a node that joined,
/// one can still sit on a node outside its placement, which drops its copy once the node that
/// joined holds one (a test that damaged that copy would wait for a repair that never comes:
/// the placement does not want it back).
fn wait_collected(rpc: &str, who: &PrivateKeySigner, item: &str) -> Value {
    wait_health(rpc, who, item, "extra copies collected", 60, |h| {
        h["min_copies"].as_u64() >= Some(3)
            && h["max_blob_copies"].as_u64() == Some(3)
            && h["misplaced"].as_u64() == Some(0)
    })
}

/// Wait until the blob file at `file` (named by its address) holds intact bytes again.
fn wait_intact(file: &Path, what: &str) {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("name");
    let intact = || {
        std::fs::read(file)
            .ok()
            .is_some_and(|b| blake3::hash(&b).to_hex().as_str() == name)
    };
    let limit = Duration::from_secs(60);
    let started = std::time::Instant::now();
    while !intact() {
        if started.elapsed() > limit {
            // Before failing, what every node said about damaged copies and repairs (the
            // logs sit next to each node's config, under the network directory).
            let net = file
                .ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "net"))
                .expect("the network directory");
            for entry in std::fs::read_dir(net).into_iter().flatten().flatten() {
                let log =
                    std::fs::read_to_string(entry.path().join("node.log")).unwrap_or_default();
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|l| {
                        ["damaged", "repair", "replicat", "prove", "panic", "scrub"]
                            .iter()
                            .any(|w| l.contains(w))
                    })
                    .collect();
                eprintln!(
                    "----- {}: {} relevant log lines, the last 30 -----\n{}",
                    entry.path().display(),
                    lines.len(),
                    lines[lines.len().saturating_sub(30)..].join("\n")
                );
            }
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("waited {:.1?} of {limit:?} for {what}", started.elapsed());
}

/// How many of the nodes (by config path) hold each blob of `item` on disk, by file name.
fn blob_copies(configs: &[&Path], item: &str) -> std::collections::HashMap<String, usize> {
    let mut copies = std::collections::HashMap::new();
    for config in configs {
        for file in walk(&item_dir(config, item).join("blobs")) {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !name.starts_with('.') {
                *copies.entry(name.to_string()).or_insert(0) += 1;
            }
        }
    }
    copies
}

/// Download `item` via `rpc` as `who`. Retried for a while: a node may be a block or two behind
/// the node a grant was sent through.
fn read_back(rpc: &str, who: &PrivateKeySigner, item: &str, out: &Path) -> Vec<u8> {
    let mut last = String::new();
    for _ in 0..100 {
        let _ = std::fs::remove_file(out);
        let got = cli(
            "vault",
            rpc,
            Some(who),
            &["get", item, "-o", out.to_str().expect("utf-8")],
        );
        if got.status.success() {
            return std::fs::read(out).expect("read output");
        }
        last = String::from_utf8_lossy(&got.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("get via {rpc} kept failing: {last}");
}

fn node_id(rpc: &str) -> String {
    lightstreams_access::http::HttpRemote::connect(rpc)
        .map(|r| lightstreams_access::protocol::Remote::node_id(&r))
        .expect("connect")
}

#[test]
fn items_replicate_survive_a_node_down_heal_and_follow_revocation() {
    let _serial = serial();
    let dir = tempdir("replication");
    let layout = init_fast(&dir.path().join("net"), 4, 1);
    for entry in &layout {
        set_table(&entry.config, "vault", &[("replicas", 3)]);
    }
    let (validators, fifth): (Vec<_>, Vec<_>) = layout.iter().cloned().partition(|e| e.validator);
    let mut nodes = start_nodes(&validators);
    let rpcs: Vec<String> = validators
        .iter()
        .map(|e| format!("http://{}", e.rpc))
        .collect();
    let accounts = dev_accounts(6);
    let (alice, bob, stranger, operator) = (&accounts[0], &accounts[1], &accounts[2], &accounts[3]);

    // Only operators the registry's admin (dev account 0, Alice here) approved may announce
    // nodes: a stranger is refused by name before sending anything, and cannot approve itself.
    failed_with(
        &cli(
            "vault",
            &rpcs[0],
            Some(stranger),
            &[
                "announce",
                "--config",
                validators[0].config.to_str().expect("utf-8"),
            ],
        ),
        "may not run vault nodes on this network",
    );
    let stranger_address = format!("{:#x}", stranger.address());
    failed_with(
        &cli(
            "vault",
            &rpcs[0],
            Some(stranger),
            &["approve", &stranger_address],
        ),
        "only the node registry's admin",
    );
    for who in [operator, bob] {
        let address = format!("{:#x}", who.address());
        let approved = ok_json(&cli("vault", &rpcs[0], Some(alice), &["approve", &address]));
        assert_eq!(approved["approved"], true, "{approved}");
    }
    // Each node announces itself; node D is run by Bob, who will be a reader.
    for (i, entry) in validators.iter().enumerate() {
        let who = if i == 3 { bob } else { operator };
        let announced = ok_json(&cli(
            "vault",
            &rpcs[0],
            Some(who),
            &[
                "announce",
                "--config",
                entry.config.to_str().expect("utf-8"),
            ],
        ));
        assert_eq!(
            announced["url"],
            format!("http://{}", entry.rpc),
            "{announced}"
        );
    }
    // Bad input to announce: a clear error, nothing sent.
    failed_with(
        &cli(
            "vault",
            &rpcs[0],
            Some(operator),
            &["announce", "--config", "/nonexistent/config.toml"],
        ),
        "cannot access /nonexistent/config.toml",
    );
    failed_with(
        &cli(
            "vault",
            &rpcs[0],
            Some(operator),
            &[
                "announce",
                "--config",
                validators[0].config.to_str().expect("utf-8"),
                "--url",
                "ftp://x",
            ],
        ),
        "starts with http:// or https://",
    );
    let listed = ok_json(&cli("vault", &rpcs[0], None, &["nodes"]));
    assert_eq!(
        listed["nodes"].as_array().map(Vec::len),
        Some(4),
        "{listed}"
    );
    wait_until(
        "every node to see the others live",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let listed = ok_json(&cli("vault", &rpcs[2], None, &["nodes"]));
            listed["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == 4 && n.iter().all(|n| n["live"] == true))
                .then_some(())
        },
    );

    // Alice uploads on node A; every object reaches three nodes.
    let input = dir.path().join("track.bin");
    let (marker, data) = marked_file(&input, 3 * 1024 * 1024 + 777);
    let added = ok_json(&cli(
        "vault",
        &rpcs[0],
        Some(alice),
        &["add", input.to_str().expect("utf-8")],
    ));
    let item = added["item"].as_str().expect("item id").to_string();
    // The add returned once every object had its three live copies.
    assert_eq!(
        (added["copies"].as_u64(), added["copies_wanted"].as_u64()),
        (Some(3), Some(3)),
        "{added}"
    );
    let h = health(&rpcs[0], alice, &item);
    assert!(h["min_copies"].as_u64() >= Some(3), "{h}");
    assert_eq!(h["under_replicated"], 0, "{h}");
    // Node A, which took the upload, deletes what falls outside its placement: every chunk
    // and manifest ends up on exactly three nodes' disks.
    let configs: Vec<&Path> = validators.iter().map(|e| e.config.as_path()).collect();
    wait_collected(&rpcs[0], alice, &item);
    let copies = blob_copies(&configs, &item);
    assert!(
        copies.len() >= 5 && copies.values().all(|c| *c == 3),
        "every blob on exactly three disks: {copies:?}"
    );

    // The custodial API answers an upload once it is replicated too: an account in node B's
    // keystore uploads through node B, and every blob is on three disks when the answer comes.
    let keystore = validators[1]
        .config
        .parent()
        .expect("dir")
        .join("data/keystore");
    let password = dir.path().join("custodial-password");
    std::fs::write(&password, "pw\n").expect("write password");
    let created = std::process::Command::new(exe())
        .args(["account", "new", "--json", "--keystore"])
        .arg(&keystore)
        .arg("--password-file")
        .arg(&password)
        .output()
        .expect("account new");
    let account = ok_json(&created)["address"]
        .as_str()
        .expect("address")
        .to_string();
    ok_json(&cli(
        "send",
        &rpcs[1],
        Some(alice),
        &["--to", &account, "--value", "10pht"],
    ));
    let agent = http_agent();
    let mut r = agent
        .post(format!("{}/v1/session", rpcs[1]))
        .send_json(serde_json::json!({"account": account, "password": "pw"}))
        .expect("session");
    assert_eq!(r.status().as_u16(), 200);
    let token = r.body_mut().read_json::<Value>().expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let mut r = agent
        .post(format!("{}/v1/files?name=custodial.bin", rpcs[1]))
        .header("Authorization", &format!("Bearer {token}"))
        .send(&vec![7u8; 3 * 1024 * 1024 + 5][..])
        .expect("upload");
    let body = r.body_mut().read_to_string().expect("body");
    assert_eq!(r.status().as_u16(), 201, "{body}");
    let published: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (
            published["copies"].as_u64(),
            published["copies_wanted"].as_u64()
        ),
        (Some(3), Some(3)),
        "{published}"
    );
    let custodial = published["item"].as_str().expect("item");
    let on_disk = blob_copies(&configs, custodial);
    assert!(
        on_disk.len() >= 4 && on_disk.values().all(|c| *c >= 3),
        "every blob of the custodial upload on three disks when answered: {on_disk:?}"
    );

    let holding: Vec<usize> = (0..4)
        .filter(|i| !walk(&item_dir(&validators[*i].config, &item).join("blobs")).is_empty())
        .collect();
    assert!(
        holding.len() >= 3,
        "at least three nodes hold the item: {holding:?}"
    );

    // Bob is granted read and reads through every node, holding the item or not. (Any vault
    // command registers his encryption key first.)
    ok_json(&cli("vault", &rpcs[0], Some(bob), &["ls"]));
    let granted = ok_json(&cli(
        "vault",
        &rpcs[0],
        Some(alice),
        &["grant", &item, &format!("{:#x}", bob.address()), "--read"],
    ));
    // The grant returned once Bob's key envelope, like every object, had three live copies.
    assert_eq!(granted["copies"].as_u64(), Some(3), "{granted}");
    let out = dir.path().join("out.bin");
    for rpc in &rpcs {
        assert!(
            read_back(rpc, bob, &item, &out) == data,
            "bob reads the item via {rpc}"
        );
    }

    // A stranger asking any node directly, or a forged peer request, gets the uniform answer.
    let manifest = lightstreams_access::protocol::Client::new(
        lightstreams_access::http::RpcLedger::new(&rpcs[0]),
        lightstreams_access::http::HttpRemote::connect(&rpcs[0]).expect("connect"),
        lightstreams_access::protocol::Identity::from_signer(alice.clone()),
    )
    .info(lightstreams_vault::ItemId(parse32(&item)))
    .expect("info")
    .versions[0]
        .manifest;
    for rpc in &rpcs {
        let request = SignedRequest::sign(
            stranger,
            RequestKind::Get,
            parse32(&item),
            ObjectRef::Manifest(manifest.0),
            node_id(rpc),
        );
        let (status, body) = raw_get(
            rpc,
            &parse32(&item),
            &ObjectRef::Manifest(manifest.0),
            Some(&request.to_header()),
        );
        assert_eq!(
            (status, body.as_str()),
            (404, NOT_FOUND),
            "stranger via {rpc}"
        );
        let (status, body) = peer_get(
            rpc,
            &item,
            &format!("manifests/0x{}", hex::encode(manifest.0)),
            "LS-Peer from=0x00;sig=00",
        );
        assert_eq!(
            (status, body.as_str()),
            (404, NOT_FOUND),
            "forged peer request via {rpc}"
        );
    }

    // A real peer request (signed with node A's key from its key file) is served once, for a
    // reader who holds READ; replayed, naming a stranger as reader, or sent by a key that is
    // not in the registry, it gets the uniform answer.
    let key_of = |config: &Path| {
        let text = std::fs::read_to_string(config.parent().expect("dir").join("consensus.key"))
            .expect("key file");
        lightstreams_network::NodeKey::from_seed(parse32(text.trim()))
    };
    let manifest_hex = hex::encode(manifest.0);
    let holder = (0..4)
        .find(|i| {
            item_dir(&validators[*i].config, &item)
                .join("blobs")
                .join(&manifest_hex[..2])
                .join(&manifest_hex)
                .exists()
        })
        .expect("a node holds the manifest");
    let node_a = key_of(&validators[(holder + 1) % 4].config);
    let b_id: lightstreams_network::NodeId = node_id(&rpcs[holder]).parse().expect("node id");
    let path_id = format!("0x{manifest_hex}");
    let target = lightstreams_network::peer::Target {
        method: "GET",
        item: parse32(&item),
        kind: "manifests",
        id: &path_id,
        node: b_id,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let path = format!("manifests/{path_id}");
    // A read for a reader carries the reader's own request to the asking node (any object of
    // the item it asked that node for), which the serving node checks.
    let asked = |who: &PrivateKeySigner, node: &str| {
        let object = ObjectRef::Manifest(manifest.0);
        let (kind, id) = object.path_parts();
        let header = SignedRequest::sign(
            who,
            RequestKind::Get,
            parse32(&item),
            object,
            node.to_string(),
        )
        .to_header();
        lightstreams_network::peer::ForReader::new(who.address(), kind, &id, &header)
    };
    let a_id = node_a.id().to_string();
    let alice_asked = asked(alice, &a_id);
    let stranger_asked = asked(stranger, &a_id);
    // Node A's header for `target`, for the reader who asked it, at `ts`.
    let from_a = |target: &lightstreams_network::peer::Target<'_>,
                  reader: &lightstreams_network::peer::ForReader,
                  ts: u64| {
        lightstreams_network::peer::sign(&node_a, target, reader.address, ts, Some(&reader.vouch))
    };
    let signed = from_a(&target, &alice_asked, now);
    let (status, _) = peer_get(&rpcs[holder], &item, &path, &signed);
    assert_eq!(
        status, 200,
        "a registered node asking for a reader who may read, and asked it"
    );
    // A registered node naming a reader who did not ask it: no request of the reader's, the
    // reader's request to another node, or a request the reader did not sign.
    for (what, vouch) in [
        ("no request from the reader", None),
        (
            "the reader's request to another node",
            Some(asked(alice, &b_id.to_string()).vouch),
        ),
        ("someone else's request", Some(stranger_asked.vouch.clone())),
    ] {
        let signed = lightstreams_network::peer::sign(
            &node_a,
            &target,
            alice.address(),
            now,
            vouch.as_deref(),
        );
        let (status, body) = peer_get(&rpcs[holder], &item, &path, &signed);
        assert_eq!((status, body.as_str()), (404, NOT_FOUND), "{what}");
    }
    let (status, body) = peer_get(&rpcs[holder], &item, &path, &signed);
    assert_eq!(
        (status, body.as_str()),
        (404, NOT_FOUND),
        "replayed peer request"
    );
    let for_stranger = from_a(&target, &stranger_asked, now);
    let (status, body) = peer_get(&rpcs[holder], &item, &path, &for_stranger);
    assert_eq!(
        (status, body.as_str()),
        (404, NOT_FOUND),
        "peer request for a stranger"
    );
    let outsider = lightstreams_network::NodeKey::from_seed(rand::random());
    let from_outsider = lightstreams_network::peer::sign(
        &outsider,
        &target,
        alice.address(),
        now,
        Some(&alice_asked.vouch),
    );
    let (status, body) = peer_get(&rpcs[holder], &item, &path, &from_outsider);
    assert_eq!(
        (status, body.as_str()),
        (404, NOT_FOUND),
        "unregistered node"
    );
    let stale = from_a(&target, &alice_asked, now - 3600);
    let (status, body) = peer_get(&rpcs[holder], &item, &path, &stale);
    assert_eq!(
        (status, body.as_str()),
        (404, NOT_FOUND),
        "stale peer request"
    );

    // A batch peer request: the manifest arrives verified, an object the node does not hold is
    // marked absent; replayed, or naming a stranger as reader, it gets the uniform answer.
    let b_peer = lightstreams_network::client::Peer {
        id: b_id,
        url: rpcs[holder].clone(),
        stream: None,
    };
    let peers = lightstreams_network::PeerClient::new(node_a.clone(), Duration::from_secs(30));
    let names: Vec<lightstreams_network::client::ObjectName> = vec![
        ("manifests", path_id.clone()),
        ("chunks", format!("0x{}", "ab".repeat(32))),
    ];
    let mut got = Vec::new();
    peers
        .get_batch(
            &b_peer,
            &parse32(&item),
            &names,
            &alice_asked,
            |i, bytes| got.push((i, bytes.map(|b| blake3::hash(b).to_hex().to_string()))),
        )
        .expect("batch served");
    assert_eq!(
        got,
        vec![(0, Some(manifest_hex.clone())), (1, None)],
        "batch: the manifest verified, the unknown chunk absent"
    );
    assert!(
        matches!(
            peers.get_batch(&b_peer, &parse32(&item), &names, &stranger_asked, |_, _| {}),
            Err(lightstreams_network::PeerError::NotFound)
        ),
        "batch for a stranger"
    );
    // A proof of possession (asked before a node drops an extra copy): the keyed hash of the
    // holder's copy under a fresh challenge; for a blob it lacks, or asked by a node outside the
    // registry, the uniform not-found.
    let manifest_bytes = std::fs::read(
        item_dir(&validators[holder].config, &item)
            .join("blobs")
            .join(&manifest_hex[..2])
            .join(&manifest_hex),
    )
    .expect("the holder's manifest");
    let challenge: [u8; 32] = rand::random();
    assert_eq!(
        peers
            .prove(&b_peer, &parse32(&item), &manifest.0, &challenge)
            .expect("proof"),
        lightstreams_network::possession::proof(&challenge, &manifest_bytes),
        "the holder proves it holds the manifest"
    );
    assert!(
        matches!(
            peers.prove(&b_peer, &parse32(&item), &[0xab; 32], &challenge),
            Err(lightstreams_network::PeerError::NotFound)
        ),
        "proof for a blob the node lacks"
    );
    assert!(
        matches!(
            lightstreams_network::PeerClient::new(outsider.clone(), Duration::from_secs(30)).prove(
                &b_peer,
                &parse32(&item),
                &manifest.0,
                &challenge
            ),
            Err(lightstreams_network::PeerError::NotFound)
        ),
        "proof asked by an unregistered node"
    );
    let body = lightstreams_network::batch::encode_request(&names);
    let batch_id = lightstreams_network::batch::request_id(&body);
    let batch_target = lightstreams_network::peer::Target {
        method: "POST",
        item: parse32(&item),
        kind: "batch",
        id: &batch_id,
        node: b_id,
    };
    let signed = from_a(&batch_target, &alice_asked, now);
    assert_eq!(peer_post(&rpcs[holder], &item, &signed, &body).0, 200);
    assert_eq!(
        peer_post(&rpcs[holder], &item, &signed, &body),
        (404, NOT_FOUND.to_string()),
        "replayed batch"
    );
    let other_body = lightstreams_network::batch::encode_request(&names[..1]);
    let signed = from_a(&batch_target, &alice_asked, now);
    assert_eq!(
        peer_post(&rpcs[holder], &item, &signed, &other_body),
        (404, NOT_FOUND.to_string()),
        "batch whose list is not the one signed"
    );

    // The same batch over the holder's vault stream (plain TCP): served alike; a stranger, a
    // replay and a list other than the one signed get the one not-found status; a malformed
    // request is named, and the node keeps serving.
    let port = peers
        .probe(&b_peer)
        .flatten()
        .expect("the node announces its vault stream");
    let b_stream = lightstreams_network::client::Peer {
        stream: Some(port),
        ..b_peer.clone()
    };
    let mut got = Vec::new();
    peers
        .get_batch(
            &b_stream,
            &parse32(&item),
            &names,
            &alice_asked,
            |i, bytes| got.push((i, bytes.map(|b| blake3::hash(b).to_hex().to_string()))),
        )
        .expect("streamed batch served");
    assert_eq!(
        got,
        vec![(0, Some(manifest_hex.clone())), (1, None)],
        "streamed batch: the manifest verified, the unknown chunk absent"
    );
    assert!(
        matches!(
            peers.get_batch(
                &b_stream,
                &parse32(&item),
                &names,
                &stranger_asked,
                |_, _| {}
            ),
            Err(lightstreams_network::PeerError::NotFound)
        ),
        "streamed batch for a stranger"
    );
    let ask = |header: &str, list: &[u8]| {
        let mut wire = Vec::new();
        lightstreams_network::stream::write_request(
            &mut wire,
            &lightstreams_network::stream::Request {
                write: false,
                item: parse32(&item),
                header: header.to_string(),
                list: list.to_vec(),
            },
        )
        .expect("encode");
        util::stream_ask(port, &wire)
    };
    let body = lightstreams_network::batch::encode_request(&names);
    let signed = from_a(&batch_target, &alice_asked, now);
    let answer = ask(&signed, &body);
    assert_eq!(answer.first(), Some(&lightstreams_network::stream::OK));
    assert_eq!(answer.get(1), Some(&lightstreams_network::batch::HERE));
    let refused = vec![lightstreams_network::stream::NOT_FOUND];
    assert_eq!(ask(&signed, &body), refused, "replayed streamed batch");
    let signed = from_a(&batch_target, &alice_asked, now);
    assert_eq!(
        ask(&signed, &other_body),
        refused,
        "streamed list not the one signed"
    );
    let signed = from_a(&batch_target, &stranger_asked, now);
    assert_eq!(
        ask(&signed, &body),
        refused,
        "streamed batch naming a stranger"
    );
    let garbage = util::stream_ask(port, b"GET /v1 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(garbage.first(), Some(&lightstreams_network::stream::BAD));
    assert!(String::from_utf8_lossy(&garbage).contains("LSV1"));
    assert!(
        peers
            .get_batch(&b_stream, &parse32(&item), &names, &alice_asked, |_, _| {})
            .is_ok(),
        "the stream still serves"
    );

    // A client's batch read through a node that may not hold the manifest: served to Alice
    // (from the node's disk or its replicas); a stranger, a replay, or a list other than the
    // one signed get the uniform answer; a batch naming something other than blobs is a 400.
    let body = lightstreams_network::batch::encode_request(&names[..1]);
    let signed_batch = |who: &PrivateKeySigner, rpc: &str, body: &[u8]| {
        SignedRequest::sign(
            who,
            RequestKind::Get,
            parse32(&item),
            ObjectRef::Batch(*blake3::hash(body).as_bytes()),
            node_id(rpc),
        )
        .to_header()
    };
    let reader_node = (holder + 1) % 4;
    let auth = signed_batch(alice, &rpcs[reader_node], &body);
    let (status, frames) = raw_batch(&rpcs[reader_node], &item, &auth, &body);
    assert_eq!(status, 200, "alice's batch read");
    assert_eq!(frames.first(), Some(&1u8), "the manifest follows");
    assert_eq!(
        blake3::hash(&frames[5..]).to_hex().to_string(),
        manifest_hex,
        "the manifest arrives intact"
    );
    assert_eq!(
        raw_batch(&rpcs[reader_node], &item, &auth, &body),
        (404, NOT_FOUND.as_bytes().to_vec()),
        "replayed batch read"
    );
    let auth = signed_batch(stranger, &rpcs[reader_node], &body);
    assert_eq!(
        raw_batch(&rpcs[reader_node], &item, &auth, &body),
        (404, NOT_FOUND.as_bytes().to_vec()),
        "a stranger's batch read"
    );
    let auth = signed_batch(alice, &rpcs[reader_node], &body);
    assert_eq!(
        raw_batch(
            &rpcs[reader_node],
            &item,
            &auth,
            &other_body[..other_body.len() - 1]
        ),
        (404, NOT_FOUND.as_bytes().to_vec()),
        "a batch whose list is not the one signed"
    );
    let odd = lightstreams_network::batch::encode_request(&[("envelopes", path_id.clone())]);
    let auth = signed_batch(alice, &rpcs[reader_node], &odd);
    assert_eq!(
        raw_batch(&rpcs[reader_node], &item, &auth, &odd).0,
        400,
        "a batch of envelopes"
    );

    // No node's disk holds plaintext.
    for entry in &validators {
        for file in walk(&entry.config.parent().expect("dir").join("data")) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(32).any(|w| w == marker),
                "plaintext in {}",
                file.display()
            );
        }
    }

    // Damage every chunk on one holder: reads through it still succeed (from other replicas),
    // and its copies are healed.
    let victim = holding[0];
    let blobs = item_dir(&validators[victim].config, &item).join("blobs");
    let damaged = walk(&blobs);
    assert!(!damaged.is_empty());
    for file in &damaged {
        let mut bytes = std::fs::read(file).expect("read blob");
        bytes[10] ^= 0xff;
        std::fs::write(file, &bytes).expect("damage blob");
    }
    assert!(
        read_back(&rpcs[victim], bob, &item, &out) == data,
        "read through the damaged node"
    );
    // Healed by the read, or (if its scrubber deleted it first) pushed back by a holder.
    for file in &damaged {
        wait_intact(file, &format!("{} healed", file.display()));
    }

    // Stop any one node: the item reads completely through each of the others at the first
    // attempt (a reader's node fails over from the stopped replica by itself); then it is
    // started again.
    for (stopped, node) in nodes.iter_mut().enumerate() {
        node.stop();
        for (i, rpc) in rpcs.iter().enumerate().filter(|(i, _)| *i != stopped) {
            let _ = std::fs::remove_file(&out);
            let got = cli(
                "vault",
                rpc,
                Some(bob),
                &["get", &item, "-o", out.to_str().expect("utf-8")],
            );
            assert!(
                got.status.success(),
                "get via node {i} with node {stopped} stopped: {}",
                String::from_utf8_lossy(&got.stderr)
            );
            assert!(
                std::fs::read(&out).ok() == Some(data.clone()),
                "read via node {i} with node {stopped} stopped"
            );
        }
        node.start();
        node.wait_ready(Duration::from_secs(60));
    }

    // Stop node C for good: the item reads completely through the others; repair restores
    // three live copies among the three nodes left.
    let down = if victim == 2 { 1 } else { 2 };
    nodes[down].stop();
    for (i, rpc) in rpcs.iter().enumerate().filter(|(i, _)| *i != down) {
        assert!(
            read_back(rpc, bob, &item, &out) == data,
            "read via node {i} with node {down} down"
        );
    }
    let up = (0..4).find(|i| *i != down).expect("a live node");
    let h = wait_replicated(&rpcs[up], alice, &item, 3);
    assert_eq!(h["under_replicated"], 0, "{h}");

    // A fifth node joins (a full node), announces itself and receives its share.
    let fifth = &fifth[0];
    let mut fifth_node = Node::from_config(&fifth.name, &fifth.config, &fifth.rpc);
    fifth_node.wait_ready(Duration::from_secs(60));
    let fifth_rpc = format!("http://{}", fifth.rpc);
    ok_json(&cli(
        "vault",
        &rpcs[up],
        Some(operator),
        &[
            "announce",
            "--config",
            fifth.config.to_str().expect("utf-8"),
        ],
    ));
    let h = wait_until(
        "the fifth node to hold part of the item",
        Duration::from_secs(90),
        Duration::from_millis(300),
        || {
            let h = health(&rpcs[up], alice, &item);
            let fifth_holds = h["nodes"].as_array().into_iter().flatten().any(|n| {
                n["url"] == fifth_rpc.as_str()
                    && n["live"] == true
                    && n["objects"].as_u64() > Some(0)
            });
            (fifth_holds && h["min_copies"].as_u64() >= Some(3)).then_some(h)
        },
    );
    assert_eq!(h["under_replicated"], 0, "{h}");
    // The fifth node's share moved to it: the live nodes still hold three copies of each
    // blob, not four.
    wait_collected(&rpcs[up], alice, &item);
    let live: Vec<&Path> = validators
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != down)
        .map(|(_, e)| e.config.as_path())
        .chain([fifth.config.as_path()])
        .collect();
    let copies = blob_copies(&live, &item);
    assert!(
        copies.values().all(|c| *c == 3),
        "every blob on exactly three live disks after the fifth node joined: {copies:?}"
    );
    // A damaged copy that nobody reads is found by its node's scrubber, deleted, and pushed
    // back intact by a node that holds one (every copy is on its placement now, so the copy
    // damaged is one the placement wants back).
    let rotten = live
        .iter()
        .flat_map(|config| walk(&item_dir(config, &item).join("blobs")))
        .find(|f| {
            f.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .expect("a blob on a live node");
    let mut bytes = std::fs::read(&rotten).expect("read blob");
    bytes[20] ^= 0x55;
    std::fs::write(&rotten, &bytes).expect("damage blob");
    wait_intact(&rotten, "the damaged copy to be found and replaced");
    assert!(
        read_back(&fifth_rpc, bob, &item, &out) == data,
        "read via the fifth node"
    );
    // A byte range (what a player's seek asks for) through a node that holds only part of it.
    let _ = std::fs::remove_file(&out);
    let ranged = cli(
        "vault",
        &fifth_rpc,
        Some(bob),
        &[
            "get",
            &item,
            "--range",
            "1000000-2500000",
            "-o",
            out.to_str().expect("utf-8"),
        ],
    );
    assert!(
        ranged.status.success(),
        "{}",
        String::from_utf8_lossy(&ranged.stderr)
    );
    assert!(
        std::fs::read(&out).expect("range") == data[1_000_000..=2_500_000],
        "range via the fifth node"
    );

    // Alice revokes Bob, who runs node D: node D deletes its replicas of the item and takes no
    // new ones, and the others keep three copies.
    ok_json(&cli(
        "vault",
        &rpcs[0],
        Some(alice),
        &["revoke", &item, &format!("{:#x}", bob.address())],
    ));
    wait_until(
        "node D to delete its replicas",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || (!item_dir(&validators[3].config, &item).exists()).then_some(()),
    );
    let h = wait_replicated(&rpcs[0], alice, &item, 3);
    assert_eq!(h["under_replicated"], 0, "{h}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !item_dir(&validators[3].config, &item).exists(),
        "node D took no new replicas"
    );
    assert!(
        read_back(&rpcs[0], alice, &item, &out) == data,
        "alice still reads"
    );
    drop(fifth_node);
    drop(nodes);
}

fn parse32(hex_id: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_id.trim_start_matches("0x"), &mut out).expect("32-byte hex");
    out
}

/// GET `/v1/peer/{item}/{path}` with `auth`: (status, body).
fn peer_get(rpc: &str, item: &str, path: &str, auth: &str) -> (u16, String) {
    let agent = http_agent();
    let mut response = agent
        .get(format!("{rpc}/v1/peer/{item}/{path}"))
        .header("Authorization", auth)
        .call()
        .expect("http");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// POST a batch request `body` to `/v1/peer/{item}/batch` with `auth`: (status, body).
fn peer_post(rpc: &str, item: &str, auth: &str, body: &[u8]) -> (u16, String) {
    let agent = http_agent();
    let mut response = agent
        .post(format!("{rpc}/v1/peer/{item}/batch"))
        .header("Authorization", auth)
        .send(body)
        .expect("http");
    let status = response.status().as_u16();
    let text = if status == 200 {
        String::new()
    } else {
        response.body_mut().read_to_string().unwrap_or_default()
    };
    (status, text)
}

/// POST a client batch read `body` to `/v1/raw/{item}/batch` with `auth`: (status, body bytes).
fn raw_batch(rpc: &str, item: &str, auth: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let agent = http_agent();
    let mut response = agent
        .post(format!("{rpc}/v1/raw/{item}/batch"))
        .header("Authorization", auth)
        .send(body)
        .expect("http");
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap_or_default();
    (status, bytes)
}
